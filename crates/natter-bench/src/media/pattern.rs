//! Upload sources for the media scenarios: `size` bytes that are never all in memory, seekable
//! (so the SDK streams each chunk and resumes by seeking, as it would from a file), and
//! different for every seed and every run, so every upload is its own object in the
//! content-addressed store (identical bytes would be stored once and skip the copy this
//! benchmark measures; a store kept from an earlier run, such as a cluster's S3, holds that
//! run's bytes).

use std::io::SeekFrom;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncSeek, ReadBuf};

use crate::sched::SplitMix;

/// Length of the random block every source reads from (a prime, so files of different seeds
/// never line up on a shared period).
const BLOCK: usize = 1_048_573;

/// The random block, made once and shared by every source.
#[derive(Clone)]
pub struct Block(Arc<[u8]>);

impl Block {
    /// The block of run `run` (any number that differs from run to run, e.g. the start time).
    pub fn new(run: u64) -> Self {
        let mut rng = SplitMix::new(0x004D_4544_4941 ^ run);
        let bytes: Vec<u8> = (0..BLOCK.div_ceil(8))
            .flat_map(|_| rng.next_u64().to_le_bytes())
            .take(BLOCK)
            .collect();
        Self(bytes.into())
    }

    /// `size` bytes of this block, read from position `seed * 7919` on, wrapping around.
    pub fn source(&self, seed: u64, size: u64) -> Pattern {
        Pattern {
            block: self.0.clone(),
            start: (seed.wrapping_mul(7919) % BLOCK as u64) as usize,
            size,
            pos: 0,
        }
    }
}

pub struct Pattern {
    block: Arc<[u8]>,
    start: usize,
    size: u64,
    pos: u64,
}

impl AsyncRead for Pattern {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        while buf.remaining() > 0 && self.pos < self.size {
            let at = (self.start + (self.pos % BLOCK as u64) as usize) % BLOCK;
            let left = usize::try_from(self.size - self.pos).unwrap_or(usize::MAX);
            let n = buf.remaining().min(BLOCK - at).min(left);
            buf.put_slice(&self.block[at..at + n]);
            self.pos += n as u64;
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncSeek for Pattern {
    fn start_seek(mut self: Pin<&mut Self>, position: SeekFrom) -> std::io::Result<()> {
        let target = match position {
            SeekFrom::Start(at) => Some(at),
            SeekFrom::Current(delta) => self.pos.checked_add_signed(delta),
            SeekFrom::End(delta) => self.size.checked_add_signed(delta),
        };
        self.pos = target.ok_or_else(|| std::io::Error::other("seek before the start"))?;
        Ok(())
    }

    fn poll_complete(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<u64>> {
        Poll::Ready(Ok(self.pos))
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};

    use super::*;

    #[tokio::test]
    async fn sources_have_their_size_differ_by_seed_and_run_and_seek() {
        let block = Block::new(1);
        let size = 3 * BLOCK as u64 + 17;
        let mut whole = Vec::new();
        block.source(1, size).read_to_end(&mut whole).await.unwrap();
        assert_eq!(whole.len() as u64, size);
        let mut other = Vec::new();
        block.source(2, size).read_to_end(&mut other).await.unwrap();
        assert_ne!(whole, other);
        let mut next_run = Vec::new();
        Block::new(2)
            .source(1, size)
            .read_to_end(&mut next_run)
            .await
            .unwrap();
        assert_ne!(whole, next_run);
        let mut source = block.source(1, size);
        source
            .seek(SeekFrom::Start(BLOCK as u64 + 5))
            .await
            .unwrap();
        let mut tail = Vec::new();
        source.read_to_end(&mut tail).await.unwrap();
        assert_eq!(tail, &whole[BLOCK + 5..]);
    }
}
