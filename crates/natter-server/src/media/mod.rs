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
//! file size; images (`process.rs`) are the exception: they are decoded in memory, a bounded
//! number at a time, under pixel and frame limits.
//!
//! This lives in the server, not the domain: it is I/O (files, object store). The rules that
//! need none (names, ownership) are in `natter_domain::files`.

mod av;
mod collect;
mod download;
mod ffmpeg;
pub mod http;
mod image;
mod objects;
mod probe;
mod process;
mod refused;
mod signing;
pub mod sniff;
mod staging;
mod strip;
#[cfg(test)]
mod testdata;
mod thumbnail;
pub mod tus;
mod upload;
mod view;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use natter_domain::files::{FileId, FileRecord, FileStore};
use natter_domain::{DomainError, UserId};
use object_store::ObjectStore;
use object_store::path::Path as ObjectPath;

pub use collect::collect_forever;
pub use download::Download;
pub use signing::Refusal;

use crate::config::FilesConfig;
use crate::error::{ApiError, ApiResult};
use signing::UrlSigner;
use staging::Staging;

/// Read buffer for hashing and copying a staged upload.
const COPY_BUFFER_BYTES: usize = 64 * 1024;
/// Copies of staged uploads into the object store running at once; later completions wait.
/// Each holds up to three parts in memory (one filling, two in flight): 8 copies bound that to
/// 120 MiB however many uploads complete together (100 at once took 1.5 GiB unbounded).
const CONCURRENT_COPIES: usize = 8;
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
    /// Images, sounds and videos being processed at once (`files.processing_concurrency`).
    processing: tokio::sync::Semaphore,
    /// Makes video posters and strips sounds and videos (`av.rs`); none: stored as they are.
    ffmpeg: Option<ffmpeg::Ffmpeg>,
    /// Copies into the object store at once ([`CONCURRENT_COPIES`]).
    copies: tokio::sync::Semaphore,
    /// Uploads refused at completion lately, and why (answered instead of 404).
    refused: refused::Refused,
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
    /// Files under `root` (`<data_dir>/files`): staging in `uploads/`, objects in `objects/` or
    /// in S3 (`files.store`).
    pub fn open(
        root: &std::path::Path,
        store: Arc<dyn FileStore>,
        keyring: &[Vec<u8>],
        config: FilesConfig,
        chunk_idle: Duration,
    ) -> anyhow::Result<Self> {
        let staging = Staging::open(&root.join("uploads"))?;
        let objects = objects::open(&config, &root.join("objects"))?;
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                objects,
                staging,
                signer: UrlSigner::new(keyring),
                chunk_idle,
                busy: Mutex::new(HashSet::new()),
                processing: tokio::sync::Semaphore::new(config.processing_concurrency as usize),
                ffmpeg: ffmpeg::Ffmpeg::find(&config),
                copies: tokio::sync::Semaphore::new(CONCURRENT_COPIES),
                refused: refused::Refused::default(),
                config,
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

    /// The owner's upload or file; `NotFound` for anyone else's and for none, except the
    /// owner's upload refused at completion lately, which answers that refusal again.
    async fn owned(&self, owner: UserId, id: FileId) -> ApiResult<FileRecord> {
        match self.inner.store.file(id).await.map_err(DomainError::from)? {
            Some(record) if record.owner == owner => Ok(record),
            Some(_) => Err(DomainError::NotFound.into()),
            None => Err(self
                .inner
                .refused
                .recall(id, owner)
                .unwrap_or(DomainError::NotFound.into())),
        }
    }

    /// When an incomplete upload is collected.
    pub fn expires_at_ms(&self, record: &FileRecord) -> i64 {
        let age_ms = i64::try_from(self.inner.config.incomplete_max_age_s.saturating_mul(1000))
            .unwrap_or(i64::MAX);
        record.created_at_ms.saturating_add(age_ms)
    }
}
