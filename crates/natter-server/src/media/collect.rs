//! The collector: uploads never completed are deleted, bytes and row, once they are older than
//! `files.incomplete_max_age_s` (24 h by default), looked for every `files.collect_interval_s`.
//! Each pass removes a bounded batch, so a backlog drains over a few passes without holding the
//! store for long. Then each node clears its own staging directory of bytes untouched as long:
//! scaled out, another node's collector may have removed their upload's row (the bytes of an
//! upload live on the one node NGINX sends it to).

use std::time::Duration;

use natter_domain::DomainError;
use natter_domain::limits::FILE_COLLECT_BATCH;

use super::{FileService, io_error, now_ms};
use crate::error::ApiResult;

/// Runs until aborted at shutdown.
pub async fn collect_forever(files: FileService) {
    let mut every = tokio::time::interval(Duration::from_secs(
        files.config().collect_interval_s.max(1),
    ));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match files.collect().await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "abandoned uploads collected"),
            Err(err) => tracing::warn!(%err, "collecting abandoned uploads failed; will retry"),
        }
    }
}

impl FileService {
    /// One pass of the collector: incomplete uploads older than `files.incomplete_max_age_s`,
    /// at most [`FILE_COLLECT_BATCH`]; the number removed.
    pub async fn collect(&self) -> ApiResult<usize> {
        let age_ms = i64::try_from(self.inner.config.incomplete_max_age_s.saturating_mul(1000))
            .unwrap_or(i64::MAX);
        let stale = self
            .inner
            .store
            .stale_uploads(now_ms().saturating_sub(age_ms), FILE_COLLECT_BATCH)
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

        assert_eq!(files.collect().await.unwrap(), 1);
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
