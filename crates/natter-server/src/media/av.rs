//! Sounds and videos at upload completion (MP4, MOV, M4A, WebM/Matroska, Ogg/Opus, WAV, FLAC,
//! MP3). Their container's headers give the duration, a video's coded size and, in an MP4 or
//! MOV, whether it is shown turned a quarter (`probe.rs`, no ffmpeg needed): `width` and
//! `height` are as displayed. With ffmpeg (`ffmpeg.rs`, optional), two more things happen:
//!
//! - **A poster** for a video: one frame (10% in, at most 1 s; the first frame of a clip under
//!   2 s), turned as displayed (ffmpeg applies the rotation matrix) and scaled down by ffmpeg to
//!   fit the large thumbnail, becomes the video's thumbnails and ThumbHash (`thumbnail.rs`, as
//!   for a picture). Its orientation also says whether a video whose container has no matrix
//!   is shown turned.
//! - **Metadata stripped**: the file is remuxed (`-c copy`: no re-encoding, no quality lost) in
//!   its own container without global, stream or chapter metadata and without data, subtitle,
//!   attachment or cover-picture streams, into `<staging>/<id>.stripped`; that copy is hashed
//!   and stored instead of the upload, so, as for a processed picture, the stored size and
//!   SHA-256 differ from the upload's.
//!
//! Neither is a refusal: a sound or video ffmpeg cannot read (or that takes too long) is still a
//! file, stored as it is without a poster, and the reason logged. Crash safety as for pictures
//! (`process.rs`): objects are whole or absent and the record comes last; a crash leaves the
//! stripped copy in staging, overwritten by the next attempt and removed with the upload.

use std::path::Path;

use ::image::ImageFormat;
use bytes::Bytes;
use natter_domain::files::{FileContent, FileId, MediaInfo, Thumbnail, ThumbnailSize};
use object_store::ObjectStoreExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use super::ffmpeg::{Container, Ffmpeg, container_of};
use super::process::{Hashed, Rendered, SIZES};
use super::{COPY_BUFFER_BYTES, FileService, hex, io_error, now_ms, object_key, probe, thumbnail};
use crate::error::ApiResult;

/// Clips shorter than this get their first frame as poster.
const SHORT_CLIP_MS: u64 = 2000;
/// The poster is taken 10% in, but never later than this.
const POSTER_AT_MOST_MS: u64 = 1000;

/// A video's poster, rendered.
struct Poster {
    /// Of the poster as ffmpeg made it: displayed orientation, fits the large thumbnail.
    width: u32,
    height: u32,
    thumbhash: Vec<u8>,
    thumbnails: Vec<Thumbnail>,
}

impl FileService {
    /// Store the staged sound or video of upload `id` (a type `probe::is_probed` knows), of
    /// `len` bytes hashing to `sha256`, stripped of its metadata when ffmpeg can, with what its
    /// headers and poster say.
    pub(super) async fn process_av(
        &self,
        id: FileId,
        sha256: [u8; 32],
        len: u64,
        mime: &str,
    ) -> ApiResult<FileContent> {
        let _permit = self
            .inner
            .processing
            .acquire()
            .await
            .map_err(|e| io_error("media processing queue", e))?;
        let path = self.inner.staging.path(id);
        let container = container_of(mime);
        let probe_path = path.clone();
        let turnable = container.is_some_and(|c| c.has_matrix());
        let probed = tokio::task::spawn_blocking(move || {
            let probed = probe::probe(&probe_path).unwrap_or_default();
            (probed, turnable && probe::quarter_turned(&probe_path))
        })
        .await
        .map_err(|e| io_error("media probing", e))?;
        let (Some(ffmpeg), Some(container)) = (self.inner.ffmpeg.as_ref(), container) else {
            let mut content = self.store_as_is(id, sha256, len, mime).await?;
            content.media = media_info(probed, None);
            return Ok(content);
        };
        let poster = if container.audio_only {
            None
        } else {
            self.poster(ffmpeg, &path, container, probed.0.duration_ms, id)
                .await?
        };
        let stripped = self.inner.staging.stripped_path(id);
        let stored = match ffmpeg.strip(&path, &stripped, container, len).await {
            Ok(()) => {
                self.pause_for_tests().await;
                self.store_file(id, &stripped, mime).await
            }
            Err(failed) => {
                tracing::warn!(%id, %mime, %failed, "metadata not stripped: stored as uploaded");
                self.store_as_is(id, sha256, len, mime).await
            }
        };
        // Whether or not it was stored (a partial copy of a failed run included).
        if let Err(err) = tokio::fs::remove_file(&stripped).await
            && err.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(%err, %id, "stripped copy not removed");
        }
        let mut content = stored?;
        content.media = media_info(probed, poster);
        Ok(content)
    }

    /// The poster of the video at `path`, its thumbnails stored; `None` (logged) when ffmpeg
    /// cannot make one.
    async fn poster(
        &self,
        ffmpeg: &Ffmpeg,
        path: &Path,
        container: Container,
        duration_ms: Option<u64>,
        id: FileId,
    ) -> ApiResult<Option<Poster>> {
        let at_ms = poster_at_ms(duration_ms);
        let max_side = ThumbnailSize::Large.max_side();
        let png = match ffmpeg.poster(path, container, at_ms, max_side).await {
            Ok(png) => png,
            Err(failed) => {
                tracing::info!(%id, %failed, "no video poster");
                return Ok(None);
            }
        };
        let rendered = tokio::task::spawn_blocking(move || render_poster(&png))
            .await
            .map_err(|e| io_error("video poster", e))?;
        let Some((width, height, thumbhash, rendered)) = rendered else {
            tracing::info!(%id, "no video poster: ffmpeg's PNG does not decode");
            return Ok(None);
        };
        Ok(Some(Poster {
            width,
            height,
            thumbhash,
            thumbnails: self.put_thumbnails(id, rendered).await?,
        }))
    }

    /// Hashes the file at `path` and copies it into the object store for upload `id` (pinned
    /// first, streaming: like an upload stored as it is).
    async fn store_file(&self, id: FileId, path: &Path, mime: &str) -> ApiResult<FileContent> {
        let open = || async {
            tokio::fs::File::open(path)
                .await
                .map_err(|e| io_error("open stripped copy", e))
        };
        let mut file = open().await?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; COPY_BUFFER_BYTES];
        let mut len = 0u64;
        loop {
            let n = file
                .read(&mut buffer)
                .await
                .map_err(|e| io_error("read stripped copy", e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            len += n as u64;
        }
        let sha256: [u8; 32] = hasher.finalize().into();
        self.pin(id, &[sha256]).await?;
        let key = object_key(&hex(&sha256));
        if self.inner.objects.head(&key).await.is_err() {
            self.copy_file(open().await?, &key).await?;
        }
        Ok(FileContent {
            sha256,
            size: len,
            mime: mime.to_owned(),
            completed_at_ms: now_ms(),
            media: None,
        })
    }
}

/// Where the poster is taken: 10% in, at most 1 s; the first frame of a short or unknown clip.
fn poster_at_ms(duration_ms: Option<u64>) -> u64 {
    match duration_ms {
        Some(ms) if ms >= SHORT_CLIP_MS => (ms / 10).min(POSTER_AT_MOST_MS),
        _ => 0,
    }
}

/// The poster's size, ThumbHash and thumbnails: the small one always, the large one when the
/// poster is larger than the small one (for a video the poster is all there is to show before
/// playing). `None` if the PNG does not decode.
fn render_poster(png: &[u8]) -> Option<(u32, u32, Vec<u8>, Vec<Rendered>)> {
    let picture = ::image::load_from_memory_with_format(png, ImageFormat::Png).ok()?;
    let pixels = thumbnail::Pixels::of(&picture);
    let longest = picture.width().max(picture.height());
    let rendered = SIZES
        .iter()
        .enumerate()
        .filter(|&(i, _)| i == 0 || longest > SIZES[i - 1].max_side())
        .map(|(_, &size)| {
            let out = thumbnail::render(&pixels, size.max_side());
            let hashed = Hashed::new(Bytes::from(out.bytes));
            (size, hashed, out.mime, out.width, out.height)
        })
        .collect();
    Some((
        picture.width(),
        picture.height(),
        thumbnail::thumbhash(&pixels),
        rendered,
    ))
}

/// Width and height as displayed: the coded size from the headers, swapped when the track
/// header turns it a quarter, or when the poster (turned by ffmpeg) is the other way round (a
/// container without a matrix); the poster's own size when the headers say nothing and the
/// poster was not scaled down.
fn displayed(
    coded: (Option<u32>, Option<u32>),
    quarter_turned: bool,
    poster: Option<(u32, u32)>,
) -> (Option<u32>, Option<u32>) {
    let turned = if quarter_turned {
        (coded.1, coded.0)
    } else {
        coded
    };
    match (turned, poster) {
        ((Some(w), Some(h)), Some((pw, ph))) if (w > h && pw < ph) || (w < h && pw > ph) => {
            (Some(h), Some(w))
        }
        ((None, None), Some((pw, ph))) if pw.max(ph) < ThumbnailSize::Large.max_side() => {
            (Some(pw), Some(ph))
        }
        (turned, _) => turned,
    }
}

/// What the file's record says of the sound or video (`probed`: the headers, and whether the
/// track header turns it a quarter); `None` when nothing is known.
fn media_info(
    (probed, quarter_turned): (probe::Probed, bool),
    poster: Option<Poster>,
) -> Option<MediaInfo> {
    let (width, height) = displayed(
        (probed.width, probed.height),
        quarter_turned,
        poster.as_ref().map(|p| (p.width, p.height)),
    );
    let info = MediaInfo {
        width,
        height,
        duration_ms: probed.duration_ms,
        thumbhash: poster.as_ref().map(|p| p.thumbhash.clone()),
        thumbnails: poster.map(|p| p.thumbnails).unwrap_or_default(),
    };
    (info != MediaInfo::default()).then_some(info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testdata;

    #[test]
    fn the_poster_is_taken_early_and_at_the_start_of_short_clips() {
        assert_eq!(poster_at_ms(None), 0);
        assert_eq!(poster_at_ms(Some(1500)), 0);
        assert_eq!(poster_at_ms(Some(2000)), 200);
        assert_eq!(poster_at_ms(Some(5000)), 500);
        assert_eq!(poster_at_ms(Some(3_600_000)), 1000);
    }

    #[test]
    fn a_quarter_turn_or_a_turned_poster_swaps_the_coded_size() {
        let coded = (Some(1920), Some(1080));
        let portrait = (Some(1080), Some(1920));
        assert_eq!(
            displayed(coded, true, None),
            portrait,
            "the matrix, no ffmpeg"
        );
        assert_eq!(
            displayed(coded, true, Some((720, 1280))),
            portrait,
            "both agree"
        );
        assert_eq!(
            displayed(coded, false, Some((720, 1280))),
            portrait,
            "no matrix"
        );
        assert_eq!(displayed(coded, false, Some((1280, 720))), coded);
        assert_eq!(displayed(coded, false, None), coded);
        let square = (Some(500), Some(500));
        assert_eq!(displayed(square, false, Some((500, 500))), square);
        assert_eq!(
            displayed((None, None), false, Some((240, 320))),
            (Some(240), Some(320))
        );
        assert_eq!(
            displayed((None, None), false, Some((720, 1280))),
            (None, None),
            "scaled"
        );
    }

    #[test]
    fn a_poster_gets_both_thumbnails_when_larger_than_the_small_one() {
        let (width, height, thumbhash, rendered) =
            render_poster(&testdata::png(1280, 720)).expect("PNG");
        assert_eq!((width, height), (1280, 720));
        assert!(!thumbhash.is_empty() && thumbhash.len() <= 25);
        let sizes: Vec<_> = rendered.iter().map(|r| (r.0, r.3, r.4)).collect();
        assert_eq!(
            sizes,
            [
                (ThumbnailSize::Small, 320, 180),
                (ThumbnailSize::Large, 1280, 720)
            ]
        );
        let (_, _, _, rendered) = render_poster(&testdata::png(320, 240)).unwrap();
        assert_eq!(rendered.len(), 1, "the small one is the poster itself");
        assert!(render_poster(b"\x89PNG\r\n\x1a\nnot a png").is_none());
    }

    #[test]
    fn nothing_known_is_no_media_info() {
        assert_eq!(media_info((probe::Probed::default(), false), None), None);
        let probed = probe::Probed {
            duration_ms: Some(1500),
            ..Default::default()
        };
        let info = media_info((probed, false), None).unwrap();
        assert_eq!(info.duration_ms, Some(1500));
    }
}
