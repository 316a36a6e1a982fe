//! Image processing at upload completion, between the staged bytes and the record that makes a
//! file complete (sounds and videos: `av.rs`): decode, strip, thumbnail (`image.rs`) on a
//! blocking thread, at most `files.processing_concurrency` at once; then the thumbnails and the stripped picture go into
//! the object store, each as an object of its own addressed by its hash.
//!
//! Crash-safe by order: objects are written whole or not at all (temporary name, rename), and
//! the file is recorded complete only after all of them exist. A `kill -9` before that leaves
//! an upload whose bytes have all arrived; the next `HEAD` finishes it, processing again (the
//! same bytes give the same objects). An object written by an attempt that never completed is
//! harmless: nothing names it.

use bytes::Bytes;
use natter_domain::files::{FileContent, FileId, MediaInfo, Thumbnail, ThumbnailSize};
use object_store::{ObjectStoreExt, PutPayload};
use sha2::{Digest, Sha256};

use super::image::{ImageLimits, Refused};
use super::{FileService, hex, image, io_error, now_ms, object_key};
use crate::error::{ApiError, ApiResult};

/// The thumbnails made, smallest first.
pub(super) const SIZES: [ThumbnailSize; 2] = [ThumbnailSize::Small, ThumbnailSize::Large];

/// Bytes to store, with their hash.
pub(super) struct Hashed {
    pub(super) sha256: [u8; 32],
    pub(super) bytes: Bytes,
}

impl Hashed {
    pub(super) fn new(bytes: Bytes) -> Self {
        Self {
            sha256: Sha256::digest(&bytes).into(),
            bytes,
        }
    }
}

/// A rendered thumbnail to store: its size, bytes, type and dimensions.
pub(super) type Rendered = (ThumbnailSize, Hashed, &'static str, u32, u32);

/// What the blocking thread hands back.
struct Done {
    stored: Hashed,
    width: u32,
    height: u32,
    thumbhash: Vec<u8>,
    thumbnails: Vec<Rendered>,
}

impl From<Refused> for ApiError {
    fn from(refused: Refused) -> Self {
        match refused {
            Refused::TooLarge(message) => ApiError::MediaTooLarge(message),
            Refused::Invalid(message) => ApiError::InvalidMedia(message),
        }
    }
}

impl FileService {
    /// Process the staged picture of upload `id` (of a type [`image::format_of`] knows), store
    /// its objects, and say what the file's content is. A refused picture is `MediaTooLarge`
    /// or `InvalidMedia`, with nothing stored.
    pub(super) async fn process_image(&self, id: FileId, mime: &str) -> ApiResult<FileContent> {
        let _permit = self
            .inner
            .processing
            .acquire()
            .await
            .map_err(|e| io_error("image processing queue", e))?;
        let bytes = self
            .inner
            .staging
            .read_all(id)
            .await
            .map_err(|e| io_error("read staged upload", e))?;
        let config = &self.inner.config;
        let limits = ImageLimits {
            max_pixels: config.max_image_pixels,
            max_frames: config.max_frames,
        };
        let owned_mime = mime.to_owned();
        let done = tokio::task::spawn_blocking(move || {
            let sides = SIZES.map(ThumbnailSize::max_side);
            let processed = image::process(&owned_mime, Bytes::from(bytes), limits, &sides)?;
            let thumbnails = processed
                .thumbnails
                .into_iter()
                .filter_map(|(side, rendered)| {
                    let size = SIZES.into_iter().find(|s| s.max_side() == side)?;
                    let hashed = Hashed::new(Bytes::from(rendered.bytes));
                    Some((size, hashed, rendered.mime, rendered.width, rendered.height))
                })
                .collect();
            Ok::<_, Refused>(Done {
                stored: Hashed::new(processed.stored),
                width: processed.width,
                height: processed.height,
                thumbhash: processed.thumbhash,
                thumbnails,
            })
        })
        .await
        .map_err(|e| io_error("image processing", e))??;
        let thumbnails = self.put_thumbnails(id, done.thumbnails).await?;
        self.pause_for_tests().await;
        self.put_object(id, &done.stored).await?;
        Ok(FileContent {
            sha256: done.stored.sha256,
            size: done.stored.bytes.len() as u64,
            mime: mime.to_owned(),
            completed_at_ms: now_ms(),
            media: Some(MediaInfo {
                width: Some(done.width),
                height: Some(done.height),
                duration_ms: None,
                thumbhash: Some(done.thumbhash),
                thumbnails,
            }),
        })
    }

    /// Stores each thumbnail of upload `id` as an object; what the file's record says of them.
    pub(super) async fn put_thumbnails(
        &self,
        id: FileId,
        rendered: Vec<Rendered>,
    ) -> ApiResult<Vec<Thumbnail>> {
        let mut thumbnails = Vec::with_capacity(rendered.len());
        for (size, hashed, mime, width, height) in rendered {
            let bytes = hashed.bytes.len() as u64;
            self.put_object(id, &hashed).await?;
            thumbnails.push(Thumbnail {
                size,
                sha256: hashed.sha256,
                mime: mime.to_owned(),
                width,
                height,
                bytes,
            });
        }
        Ok(thumbnails)
    }

    /// Stores `hashed` for upload `id` under its hash unless an object with that hash exists
    /// (pinned first; a single put: whole or absent).
    pub(super) async fn put_object(&self, id: FileId, hashed: &Hashed) -> ApiResult<()> {
        self.pin(id, &[hashed.sha256]).await?;
        let key = object_key(&hex(&hashed.sha256));
        if self.inner.objects.head(&key).await.is_ok() {
            return Ok(());
        }
        self.inner
            .objects
            .put(&key, PutPayload::from_bytes(hashed.bytes.clone()))
            .await
            .map_err(|e| io_error("write object", e))?;
        Ok(())
    }

    /// `files.processing_pause_file` (tests only): says it is waiting, then waits (at most a
    /// minute) for the file to appear, so a test can kill the server mid-processing (of an
    /// image after its thumbnails are written; of a sound or video after ffmpeg ran).
    pub(super) async fn pause_for_tests(&self) {
        let path = &self.inner.config.processing_pause_file;
        if path.is_empty() {
            return;
        }
        let release = std::path::Path::new(path);
        if let Err(err) = tokio::fs::write(format!("{path}.waiting"), b"").await {
            tracing::warn!(%err, "processing_pause_file: cannot say it is waiting");
            return;
        }
        for _ in 0..1200 {
            if tokio::fs::try_exists(release).await.unwrap_or(false) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}
