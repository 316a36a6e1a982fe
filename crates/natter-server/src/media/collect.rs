//! The collector, and the pins that keep it from deleting what an upload is about to use.
//!
//! Every `files.collect_interval_s`, each node's collector deletes, in bounded batches:
//! - uploads never completed, bytes and row, `files.incomplete_max_age_s` (24 h) after they
//!   were created; then the staging directory's bytes untouched as long (scaled out, another
//!   node's collector may have removed their upload's row: an upload's bytes live on the one
//!   node NGINX sends it to);
//! - complete files no message ever showed, `files.unattached_max_age_s` after completion, and
//!   files whose messages were all deleted, `files.deleted_retention_s` after the last was;
//! - the objects nothing pins any more (the bytes and thumbnails of the files deleted).
//!
//! Objects are content-addressed and shared by every file with the same bytes, so deleting one
//! must not race with an upload that finds it present and skips writing it. The protocol, in
//! the [`FileStore`] port: an upload pins an object *before* it checks whether it exists, and
//! the collector marks an unpinned object as being deleted (after which pinning it fails) before
//! it deletes the bytes. An upload that meets an object being deleted waits for the deletion to
//! end, then pins it again and writes the bytes anew.
//!
//! [`FileStore`]: natter_domain::files::FileStore

use std::time::Duration;

use natter_domain::DomainError;
use natter_domain::files::{Collectable, FileId, ObjectHash, Pin};
use natter_domain::limits::FILE_COLLECT_BATCH;
use object_store::ObjectStoreExt;

use super::{FileService, hex, io_error, now_ms, object_key};
use crate::error::ApiResult;

/// How long an upload waits for the collector to finish deleting an object it needs, in steps
/// of [`PIN_RETRY`]: the deletion is one object store call, so this only runs out when the
/// collector died mid-deletion (the next pass finishes it) or the object store is down.
const PIN_ATTEMPTS: u32 = 50;
const PIN_RETRY: Duration = Duration::from_millis(100);

/// What one pass of the collector removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Collected {
    /// Uploads never completed (and staged bytes whose upload is gone).
    pub uploads: usize,
    /// Complete files no message shows.
    pub files: usize,
    /// Objects (bytes and thumbnails) no file uses.
    pub objects: usize,
}

/// Runs until aborted at shutdown.
pub async fn collect_forever(files: FileService) {
    let mut every = tokio::time::interval(Duration::from_secs(
        files.config().collect_interval_s.max(1),
    ));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match files.collect().await {
            Ok(collected) if collected == Collected::default() => {}
            Ok(Collected {
                uploads,
                files,
                objects,
            }) => tracing::info!(uploads, files, objects, "files collected"),
            Err(err) => tracing::warn!(%err, "collecting files failed; will retry"),
        }
    }
}

fn age_ms(seconds: u64) -> i64 {
    i64::try_from(seconds.saturating_mul(1000)).unwrap_or(i64::MAX)
}

impl FileService {
    /// Pin `objects` for upload `id` before checking whether they exist or writing them.
    pub(super) async fn pin(&self, id: FileId, objects: &[ObjectHash]) -> ApiResult<()> {
        for _ in 0..PIN_ATTEMPTS {
            let pin = self
                .inner
                .store
                .pin_objects(id, objects)
                .await
                .map_err(DomainError::from)?;
            match pin {
                Pin::Pinned => return Ok(()),
                Pin::BeingDeleted => tokio::time::sleep(PIN_RETRY).await,
            }
        }
        Err(io_error(
            "pin an object",
            "the collector has been deleting it for too long",
        ))
    }

    /// One pass of the collector (the module's doc says what goes when).
    pub async fn collect(&self) -> ApiResult<Collected> {
        let config = &self.inner.config;
        let now = now_ms();
        let uploads = self
            .collect_uploads(now, age_ms(config.incomplete_max_age_s))
            .await?;
        let rule = Collectable {
            unattached_before_ms: now.saturating_sub(age_ms(config.unattached_max_age_s)),
            released_before_ms: now.saturating_sub(age_ms(config.deleted_retention_s)),
        };
        let files = self.collect_files(rule).await?;
        let objects = self.collect_objects().await?;
        Ok(Collected {
            uploads,
            files,
            objects,
        })
    }

    /// Incomplete uploads created more than `age_ms` before `now`, then staged bytes untouched
    /// as long.
    async fn collect_uploads(&self, now: i64, age_ms: i64) -> ApiResult<usize> {
        let stale = self
            .inner
            .store
            .stale_uploads(now.saturating_sub(age_ms), FILE_COLLECT_BATCH)
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
        Ok(removed + self.collect_staged(age_ms).await?)
    }

    async fn collect_files(&self, rule: Collectable) -> ApiResult<usize> {
        let store = &self.inner.store;
        let candidates = store
            .collectable_files(rule, FILE_COLLECT_BATCH)
            .await
            .map_err(DomainError::from)?;
        let mut removed = 0;
        for id in candidates {
            // Checked again in the delete itself: attached meanwhile, it stays.
            if store
                .delete_file(id, rule)
                .await
                .map_err(DomainError::from)?
            {
                removed += 1;
            }
        }
        Ok(removed)
    }

    async fn collect_objects(&self) -> ApiResult<usize> {
        let store = &self.inner.store;
        let orphaned = store
            .orphaned_objects(FILE_COLLECT_BATCH)
            .await
            .map_err(DomainError::from)?;
        let mut removed = 0;
        for object in orphaned {
            if !store
                .begin_object_deletion(object)
                .await
                .map_err(DomainError::from)?
            {
                continue;
            }
            match self.inner.objects.delete(&object_key(&hex(&object))).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(err) => return Err(io_error("delete object", err)),
            }
            store
                .end_object_deletion(object)
                .await
                .map_err(DomainError::from)?;
            removed += 1;
        }
        Ok(removed)
    }

    /// Staged bytes on this node untouched for `age_ms`: their upload is collected with them if
    /// it is still incomplete; otherwise (gone, or completed) only the bytes go.
    async fn collect_staged(&self, age_ms: i64) -> ApiResult<usize> {
        let cutoff = std::time::SystemTime::now()
            .checked_sub(Duration::from_millis(u64::try_from(age_ms).unwrap_or(0)))
            .unwrap_or(std::time::UNIX_EPOCH);
        let staging = &self.inner.staging;
        let stale = staging
            .stale(cutoff, FILE_COLLECT_BATCH as usize)
            .await
            .map_err(|e| io_error("list staged uploads", e))?;
        let mut removed = 0;
        for id in stale {
            let Ok(_busy) = self.claim(id) else {
                continue;
            };
            let record = self.inner.store.file(id).await.map_err(DomainError::from)?;
            match record {
                Some(record) if record.content.is_none() => self.forget(id).await?,
                _ => staging
                    .remove(id)
                    .await
                    .map_err(|e| io_error("remove staged upload", e))?,
            }
            removed += 1;
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use natter_domain::UserId;
    use natter_domain::files::{CreateUpload, FileId, FileName, FileStore, NewUpload};
    use natter_store_sqlite::SqliteStore;

    use super::*;
    use crate::config::FilesConfig;

    /// Scaled out, another node's collector removed the row of an upload whose bytes are staged
    /// here: this node's pass removes the bytes, and keeps those still being written.
    #[tokio::test]
    async fn staged_bytes_whose_row_is_gone_are_removed_once_stale() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db/natter.db"))
            .await
            .unwrap();
        let files = FileService::open(
            &dir.path().join("files"),
            Arc::new(store.clone()),
            &[vec![7; 32]],
            FilesConfig {
                incomplete_max_age_s: 60,
                ..FilesConfig::default()
            },
            Duration::from_secs(5),
        )
        .unwrap();
        let mut ids = Vec::new();
        for _ in 0..2 {
            let upload = NewUpload {
                id: FileId::new(),
                owner: UserId::new(),
                name: FileName::parse("a.bin").unwrap(),
                size: 10,
                created_at_ms: now_ms(),
            };
            let id = upload.id;
            let CreateUpload::Created(_) = store.create_upload(upload, 1000).await.unwrap() else {
                panic!("over quota");
            };
            files.inner.staging.appender(id).await.unwrap();
            ids.push(id);
        }
        let (orphan, active) = (ids[0], ids[1]);
        store.delete_upload(orphan).await.unwrap();
        std::fs::File::options()
            .write(true)
            .open(
                dir.path()
                    .join("files/uploads")
                    .join(orphan.0.simple().to_string()),
            )
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(3600))
            .unwrap();

        assert_eq!(files.collect().await.unwrap().uploads, 1);
        assert_eq!(
            files
                .inner
                .staging
                .stale(SystemTime::now(), 10)
                .await
                .unwrap(),
            vec![active],
            "only the upload being written to keeps its bytes"
        );
        assert!(store.file(active).await.unwrap().is_some());
        store.close().await;
    }
}
