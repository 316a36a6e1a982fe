//! The upload half of the file service: create, append, finish (hash, type, store), cancel.

use axum::body::Body;
use http_body_util::BodyExt;
use natter_domain::files::{CreateUpload, FileContent, FileId, FileName, FileRecord, NewUpload};
use natter_domain::{DomainError, StoreError, UserId};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, WriteMultipart};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{
    COPY_BUFFER_BYTES, FileService, OBJECT_PART_BYTES, hex, image, io_error, now_ms, object_key,
    probe, sniff,
};
use crate::error::{ApiError, ApiResult};

impl FileService {
    /// Start an upload of `size` bytes.
    pub async fn create(&self, owner: UserId, size: u64, name: FileName) -> ApiResult<FileRecord> {
        if size == 0 {
            return Err(DomainError::invalid("Upload-Length", "a file must not be empty").into());
        }
        let max_bytes = self.inner.config.max_bytes;
        if size > max_bytes {
            return Err(ApiError::FileTooLarge { max_bytes });
        }
        let upload = NewUpload {
            id: FileId::new(),
            owner,
            name,
            size,
            created_at_ms: now_ms(),
        };
        let quota_bytes = self.inner.config.quota_bytes;
        match self
            .inner
            .store
            .create_upload(upload, quota_bytes)
            .await
            .map_err(DomainError::from)?
        {
            CreateUpload::Created(record) => Ok(record),
            CreateUpload::OverQuota { used_bytes } => Err(ApiError::QuotaExceeded {
                quota_bytes,
                used_bytes,
            }),
        }
    }

    /// The upload and its offset. An upload whose bytes all arrived but that a crash left
    /// unfinished is finished now.
    pub async fn status(&self, owner: UserId, id: FileId) -> ApiResult<(FileRecord, u64)> {
        let record = self.owned(owner, id).await?;
        if record.content.is_some() {
            // A crash between recording the file and deleting its staged bytes left them.
            self.inner
                .staging
                .remove(id)
                .await
                .map_err(|e| io_error("remove staged upload", e))?;
            return Ok((record.clone(), record.size));
        }
        let offset = self.staged_len(id).await?;
        if offset == record.size
            && let Ok(_busy) = self.claim(id)
        {
            let done = self.finish(record).await?;
            return Ok((done, offset));
        }
        Ok((record, offset))
    }

    async fn staged_len(&self, id: FileId) -> ApiResult<u64> {
        self.inner
            .staging
            .len(id)
            .await
            .map_err(|e| io_error("read staged upload", e))
    }

    /// Append `body` at `offset` (tus `PATCH`); the new offset. The last byte completes the file.
    /// A body that ends early (dropped connection, idle past the limit) keeps what arrived; one
    /// that would pass the declared size is refused and leaves the upload as it was.
    pub async fn append(
        &self,
        owner: UserId,
        id: FileId,
        offset: u64,
        body: &mut Body,
    ) -> ApiResult<(FileRecord, u64)> {
        let record = self.owned(owner, id).await?;
        let _busy = self.claim(id)?;
        if record.content.is_some() {
            return Err(ApiError::OffsetMismatch {
                current: record.size,
            });
        }
        let current = self.staged_len(id).await?;
        if offset != current {
            return Err(ApiError::OffsetMismatch { current });
        }
        let written = self.write_body(&record, offset, body).await?;
        let offset = offset + written;
        if offset == record.size {
            return Ok((self.finish(record).await?, offset));
        }
        Ok((record, offset))
    }

    /// Streams `body` to the end of the staged file; the bytes written.
    async fn write_body(
        &self,
        record: &FileRecord,
        offset: u64,
        body: &mut Body,
    ) -> ApiResult<u64> {
        let staging = &self.inner.staging;
        let mut file = staging
            .appender(record.id)
            .await
            .map_err(|e| io_error("open staged upload", e))?;
        let room = record.size - offset;
        let mut written = 0u64;
        let mut refused = None;
        loop {
            let frame = match tokio::time::timeout(self.inner.chunk_idle, body.frame()).await {
                Ok(Some(Ok(frame))) => frame,
                Ok(None) => break,
                // The client went away or stalled: keep what arrived, it resumes from there.
                Ok(Some(Err(_))) | Err(_) => {
                    refused = Some(ApiError::BadRequest(
                        "the upload body ended early; resume from Upload-Offset".into(),
                    ));
                    break;
                }
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            if written + data.len() as u64 > room {
                refused = Some(ApiError::FileTooLarge {
                    max_bytes: record.size,
                });
                break;
            }
            file.write_all(&data)
                .await
                .map_err(|e| io_error("write staged upload", e))?;
            written += data.len() as u64;
        }
        file.sync_all()
            .await
            .map_err(|e| io_error("sync staged upload", e))?;
        match refused {
            None => Ok(written),
            Some(err @ ApiError::FileTooLarge { .. }) => {
                staging
                    .truncate(record.id, offset)
                    .await
                    .map_err(|e| io_error("truncate staged upload", e))?;
                Err(err)
            }
            Some(err) => Err(err),
        }
    }

    /// Hash and type the staged bytes, store them as an object (an image: processed first, see
    /// `process.rs`), record the file complete, drop the staged bytes. Call with the upload
    /// claimed. An image refused by processing is forgotten (bytes and row), nothing stored.
    async fn finish(&self, record: FileRecord) -> ApiResult<FileRecord> {
        let id = record.id;
        let (sha256, mime, len) = self.digest(id).await?;
        if len != record.size {
            return Err(ApiError::OffsetMismatch { current: len });
        }
        let content = if image::format_of(&mime).is_some() {
            match self.process_image(id, &mime).await {
                Ok(content) => content,
                Err(err @ (ApiError::MediaTooLarge(_) | ApiError::InvalidMedia(_))) => {
                    self.forget(id).await?;
                    self.inner.refused.remember(id, record.owner, &err);
                    return Err(err);
                }
                Err(err) => return Err(err),
            }
        } else if probe::is_probed(&mime) {
            self.process_av(id, sha256, len, &mime).await?
        } else {
            self.store_as_is(id, sha256, len, &mime).await?
        };
        let done = self
            .inner
            .store
            .complete(id, content)
            .await
            .map_err(DomainError::from)?;
        if let Err(err) = self.inner.staging.remove(id).await {
            tracing::warn!(%err, %id, "staged bytes of a complete file not removed");
        }
        Ok(done)
    }

    /// Copies the staged bytes into the object store unchanged (streaming).
    pub(super) async fn store_as_is(
        &self,
        id: FileId,
        sha256: [u8; 32],
        len: u64,
        mime: &str,
    ) -> ApiResult<FileContent> {
        self.pin(id, &[sha256]).await?;
        let key = object_key(&hex(&sha256));
        if self.inner.objects.head(&key).await.is_err() {
            self.copy_to_object(id, &key).await?;
        }
        Ok(FileContent {
            sha256,
            size: len,
            mime: mime.to_owned(),
            completed_at_ms: now_ms(),
            media: None,
        })
    }

    /// SHA-256, type and length of the staged bytes, in one streaming read.
    async fn digest(&self, id: FileId) -> ApiResult<([u8; 32], String, u64)> {
        let mut file = self
            .inner
            .staging
            .reader(id)
            .await
            .map_err(|e| io_error("open staged upload", e))?;
        let mut hasher = Sha256::new();
        let mut head = Vec::with_capacity(sniff::SNIFF_BYTES);
        let mut buffer = vec![0u8; COPY_BUFFER_BYTES];
        let mut len = 0u64;
        loop {
            let n = file
                .read(&mut buffer)
                .await
                .map_err(|e| io_error("read staged upload", e))?;
            if n == 0 {
                break;
            }
            let chunk = &buffer[..n];
            hasher.update(chunk);
            let wanted = sniff::SNIFF_BYTES.saturating_sub(head.len()).min(n);
            head.extend_from_slice(&chunk[..wanted]);
            len += n as u64;
        }
        Ok((hasher.finalize().into(), sniff::mime_of(&head), len))
    }

    async fn copy_to_object(&self, id: FileId, key: &ObjectPath) -> ApiResult<()> {
        let file = self
            .inner
            .staging
            .reader(id)
            .await
            .map_err(|e| io_error("open staged upload", e))?;
        self.copy_file(file, key).await
    }

    /// Streams `file` into the object `key` (multipart, [`OBJECT_PART_BYTES`] parts, at most
    /// `CONCURRENT_COPIES` copies at once on this node).
    pub(super) async fn copy_file(
        &self,
        mut file: tokio::fs::File,
        key: &ObjectPath,
    ) -> ApiResult<()> {
        let _permit = self
            .inner
            .copies
            .acquire()
            .await
            .map_err(|e| io_error("object copy queue", e))?;
        let upload = self
            .inner
            .objects
            .put_multipart(key)
            .await
            .map_err(|e| io_error("start object", e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, OBJECT_PART_BYTES);
        let mut buffer = vec![0u8; COPY_BUFFER_BYTES];
        loop {
            let n = match file.read(&mut buffer).await {
                Ok(n) => n,
                Err(err) => {
                    let _ = writer.abort().await;
                    return Err(io_error("read the bytes to store", err));
                }
            };
            if n == 0 {
                break;
            }
            if let Err(err) = writer.wait_for_capacity(2).await {
                return Err(io_error("write object", err));
            }
            writer.write(&buffer[..n]);
        }
        writer
            .finish()
            .await
            .map_err(|e| io_error("finish object", e))?;
        Ok(())
    }

    /// Cancel an incomplete upload (tus termination).
    pub async fn cancel(&self, owner: UserId, id: FileId) -> ApiResult<()> {
        let record = self.owned(owner, id).await?;
        let _busy = self.claim(id)?;
        if record.content.is_some() {
            return Err(DomainError::Conflict("the upload is complete".into()).into());
        }
        self.forget(id).await
    }

    /// Staged bytes first, then the row: a crash in between leaves an upload at offset 0
    /// that the collector removes later.
    pub(super) async fn forget(&self, id: FileId) -> ApiResult<()> {
        self.inner
            .staging
            .remove(id)
            .await
            .map_err(|e| io_error("remove staged upload", e))?;
        match self.inner.store.delete_upload(id).await {
            Ok(()) | Err(StoreError::NotFound) => Ok(()),
            Err(err) => Err(DomainError::from(err).into()),
        }
    }
}
