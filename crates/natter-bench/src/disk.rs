//! The disk's own commit latency: 4 KiB appended to a file and `fdatasync`ed, in a loop, on the
//! filesystem natter keeps its data on. natter acknowledges a send only after its commit is on
//! disk, so its end-to-end p99 cannot beat this one; the latency table prints both and the gap.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::stats::{Summary, new_histogram, summarize};

/// Bytes written before each `fdatasync` (one page, as a small WAL commit writes).
const WRITE_BYTES: usize = 4096;
/// Upper bound on the syncs of one probe (a RAM-backed filesystem syncs in microseconds).
const MAX_SYNCS: u64 = 200_000;

/// Appends 4 KiB and `fdatasync`s, for `duration`, in a file in `dir` (removed after).
pub fn fdatasync_probe(dir: &Path, duration: Duration) -> anyhow::Result<Summary> {
    let path = dir.join(".natter-bench-fdatasync-probe");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    let page = [0x5au8; WRITE_BYTES];
    let mut histogram = new_histogram();
    let started = Instant::now();
    let mut syncs = 0;
    while started.elapsed() < duration && syncs < MAX_SYNCS {
        let t0 = Instant::now();
        file.write_all(&page)?;
        file.sync_data()?;
        histogram.saturating_record((t0.elapsed().as_micros() as u64).max(1));
        syncs += 1;
    }
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(summarize(&histogram))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_counts_every_sync_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let s = fdatasync_probe(dir.path(), Duration::from_millis(50)).unwrap();
        assert!(s.count >= 1, "{s:?}");
        assert!(s.p99_ms >= s.p50_ms, "{s:?}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
