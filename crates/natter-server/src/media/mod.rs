//! The file service: resumable uploads (tus 1.0), signed downloads, and the collection of
//! abandoned uploads. See docs/media.md for the design and why.
//!
//! Bytes flow one way: a `PATCH` streams into the upload's staging file (`staging.rs`, synced
//! before the new offset is acknowledged); when the last byte arrives the service reads the
//! staging file once to hash and type it, again to copy it into the object store under its
//! content hash (`blobs/<2 hex>/<64 hex>`, written to a temporary name and renamed, so an
//! object is whole or absent), and only then records the file as complete. A crash at any point
//! leaves an incomplete upload (never served; resumed or collected) or a complete file (whole).
//! Memory per request is bounded by a read buffer and the object store's part size, whatever the
//! file size.
//!
//! This lives in the server, not the domain: it is I/O (files, object store). The rules that
//! need none (names, ownership) are in `natter_domain::files`.

mod collect;
pub mod http;
mod signing;
pub mod sniff;
mod staging;
pub mod tus;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use http_body_util::BodyExt;
use natter_domain::files::{
    CreateUpload, FileContent, FileId, FileName, FileRecord, FileStore, NewUpload,
};
use natter_domain::{DomainError, StoreError, UserId};
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, WriteMultipart};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub use collect::collect_forever;
pub use signing::Refusal;

use crate::config::FilesConfig;
use crate::error::{ApiError, ApiResult};
use signing::UrlSigner;
use staging::Staging;

/// Read buffer for hashing and copying a staged upload.
const COPY_BUFFER_BYTES: usize = 64 * 1024;
/// Part size of the copy into the object store (S3's smallest multipart part).
const OBJECT_PART_BYTES: usize = 5 * 1024 * 1024;

/// A handle to the file service; cheap to clone.
#[derive(Clone)]
pub struct FileService {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn FileStore>,
    objects: Arc<dyn ObjectStore>,
    staging: Staging,
    signer: UrlSigner,
    config: FilesConfig,
    /// Longest wait for the next piece of a `PATCH` body before the append ends (the bytes so
    /// far are kept).
    chunk_idle: Duration,
    /// Uploads a request is writing, finishing or deleting right now: a second request for the
    /// same upload gets 409 instead of interleaving bytes. A std mutex: held for an insert or a
    /// remove, never across an await.
    busy: Mutex<HashSet<FileId>>,
}

/// Holds an upload's place in [`Inner::busy`] until dropped.
struct Busy<'a> {
    inner: &'a Inner,
    id: FileId,
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.inner.busy.lock().expect("busy set").remove(&self.id);
    }
}

/// A complete file its reader may fetch.
pub struct Readable {
    pub record: FileRecord,
    pub content: FileContent,
}

/// A signed URL and when it stops working.
pub struct SignedUrl {
    pub url: String,
    pub expires_at_ms: i64,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Lower-case hex, as hashes appear in URLs, `ETag`s and object keys.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn io_error(what: &str, err: impl std::fmt::Display) -> ApiError {
    tracing::warn!(%err, "file storage: {what}");
    ApiError::Domain(DomainError::Unavailable)
}

/// The object key of content with this hash: the same bytes are stored once.
fn object_key(sha256_hex: &str) -> ObjectPath {
    ObjectPath::from(format!("blobs/{}/{sha256_hex}", &sha256_hex[..2]))
}

impl FileService {
    /// Files under `root` (`<data_dir>/files`): staging in `uploads/`, objects in `objects/`.
    pub fn open(
        root: &std::path::Path,
        store: Arc<dyn FileStore>,
        keyring: &[Vec<u8>],
        config: FilesConfig,
        chunk_idle: Duration,
    ) -> anyhow::Result<Self> {
        let staging = Staging::open(&root.join("uploads"))?;
        let objects_dir = root.join("objects");
        crate::secrets::create_private_dir(&objects_dir)?;
        let objects = object_store::local::LocalFileSystem::new_with_prefix(&objects_dir)?
            .with_automatic_cleanup(true);
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                objects: Arc::new(objects),
                staging,
                signer: UrlSigner::new(keyring),
                config,
                chunk_idle,
                busy: Mutex::new(HashSet::new()),
            }),
        })
    }

    pub fn config(&self) -> &FilesConfig {
        &self.inner.config
    }

    fn claim(&self, id: FileId) -> ApiResult<Busy<'_>> {
        if !self.inner.busy.lock().expect("busy set").insert(id) {
            return Err(DomainError::Conflict(
                "another request is writing this upload; retry after it ends".into(),
            )
            .into());
        }
        Ok(Busy {
            inner: &self.inner,
            id,
        })
    }

    /// The owner's upload or file; `NotFound` for anyone else's and for none.
    async fn owned(&self, owner: UserId, id: FileId) -> ApiResult<FileRecord> {
        match self.inner.store.file(id).await.map_err(DomainError::from)? {
            Some(record) if record.owner == owner => Ok(record),
            _ => Err(DomainError::NotFound.into()),
        }
    }

    /// When an incomplete upload is collected.
    pub fn expires_at_ms(&self, record: &FileRecord) -> i64 {
        let age_ms = i64::try_from(self.inner.config.incomplete_max_age_s.saturating_mul(1000))
            .unwrap_or(i64::MAX);
        record.created_at_ms.saturating_add(age_ms)
    }

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

    /// Hash and type the staged bytes, store them as an object, record the file complete, drop
    /// the staged bytes. Call with the upload claimed.
    async fn finish(&self, record: FileRecord) -> ApiResult<FileRecord> {
        let id = record.id;
        let (sha256, mime, len) = self.digest(id).await?;
        if len != record.size {
            return Err(ApiError::OffsetMismatch { current: len });
        }
        let sha256_hex = hex(&sha256);
        let key = object_key(&sha256_hex);
        if self.inner.objects.head(&key).await.is_err() {
            self.copy_to_object(id, &key).await?;
        }
        let content = FileContent {
            sha256,
            mime,
            completed_at_ms: now_ms(),
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
        let mut file = self
            .inner
            .staging
            .reader(id)
            .await
            .map_err(|e| io_error("open staged upload", e))?;
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
                    return Err(io_error("read staged upload", err));
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
    async fn forget(&self, id: FileId) -> ApiResult<()> {
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

    /// The owner's complete file.
    pub async fn readable(&self, caller: UserId, id: FileId) -> ApiResult<Readable> {
        let record = self
            .inner
            .store
            .file(id)
            .await
            .map_err(DomainError::from)?
            .ok_or(DomainError::NotFound)?;
        let (record, content) = record.readable_by(caller).ok_or(DomainError::NotFound)?;
        Ok(Readable { record, content })
    }

    /// A download URL for a complete file, valid for `files.url_ttl_s`.
    pub fn signed_url(&self, file: &Readable) -> SignedUrl {
        let now_s = u64::try_from(now_ms() / 1000).unwrap_or(0);
        let expires_s = now_s.saturating_add(self.inner.config.url_ttl_s);
        let sha256_hex = hex(&file.content.sha256);
        let signature = self
            .inner
            .signer
            .sign(file.record.id, &sha256_hex, expires_s);
        SignedUrl {
            url: format!(
                "/api/v1/files/{}/content/{sha256_hex}?expires={expires_s}&signature={signature}",
                file.record.id
            ),
            expires_at_ms: i64::try_from(expires_s.saturating_mul(1000)).unwrap_or(i64::MAX),
        }
    }

    /// The file a download URL names, if its signature holds and it has not expired (403
    /// otherwise, checked first so nothing about the file is revealed without a valid URL).
    pub async fn by_url(
        &self,
        id: FileId,
        sha256_hex: &str,
        expires_s: u64,
        signature: &str,
    ) -> ApiResult<Readable> {
        let now_s = u64::try_from(now_ms() / 1000).unwrap_or(0);
        match self
            .inner
            .signer
            .verify(id, sha256_hex, expires_s, signature, now_s)
        {
            Ok(()) => {}
            Err(Refusal::Expired) => {
                return Err(DomainError::Forbidden("the download URL has expired").into());
            }
            Err(Refusal::Invalid) => {
                return Err(DomainError::Forbidden("the download URL is not valid").into());
            }
        }
        let record = self
            .inner
            .store
            .file(id)
            .await
            .map_err(DomainError::from)?
            .ok_or(DomainError::NotFound)?;
        let content = record.content.clone().ok_or(DomainError::NotFound)?;
        if hex(&content.sha256) != sha256_hex {
            return Err(DomainError::NotFound.into());
        }
        Ok(Readable { record, content })
    }

    /// The bytes of `file`, all or `range`, as a stream.
    pub async fn bytes(
        &self,
        file: &Readable,
        range: Option<std::ops::Range<u64>>,
    ) -> ApiResult<BoxStream<'static, std::io::Result<Bytes>>> {
        let key = object_key(&hex(&file.content.sha256));
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let result = self
            .inner
            .objects
            .get_opts(&key, options)
            .await
            .map_err(|e| io_error("read object", e))?;
        Ok(result
            .into_stream()
            .map(|chunk| chunk.map_err(std::io::Error::other))
            .boxed())
    }

    /// One pass of the collector: incomplete uploads older than `files.incomplete_max_age_s`,
    /// at most [`natter_domain::limits::FILE_COLLECT_BATCH`]; the number removed.
    pub async fn collect(&self) -> ApiResult<usize> {
        let age_ms = i64::try_from(self.inner.config.incomplete_max_age_s.saturating_mul(1000))
            .unwrap_or(i64::MAX);
        let stale = self
            .inner
            .store
            .stale_uploads(
                now_ms().saturating_sub(age_ms),
                natter_domain::limits::FILE_COLLECT_BATCH,
            )
            .await
            .map_err(DomainError::from)?;
        let mut removed = 0;
        for id in stale {
            // One being written to right now is left for the next pass.
            let Ok(_busy) = self.claim(id) else {
                continue;
            };
            self.forget(id).await?;
            removed += 1;
        }
        Ok(removed)
    }
}
