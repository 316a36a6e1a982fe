//! The collector's side of [`FileStore`]: pins, collectable files, orphaned objects. One
//! writer serialises every write transaction here, so the protocol of the port (pin before
//! checking an object exists; mark an unpinned object as being deleted before deleting its
//! bytes) needs no locks of its own: each step is one `BEGIN IMMEDIATE` transaction.
//!
//! [`FileStore`]: natter_domain::files::FileStore

use natter_domain::StoreError;
use natter_domain::files::{Collectable, FileId, ObjectHash, Pin};
use natter_domain::ports::StoreResult;
use sqlx::SqliteConnection;

use crate::errors::{corrupt, db};
use crate::{SqliteStore, commit};

/// The collectable rule for file `f`, `?2`/`?3` the rule's times (`?1` is the query's own). A
/// macro so it can be `concat!`ed into static SQL.
macro_rules! collectable_file {
    () => {
        "f.completed_at_ms IS NOT NULL \
         AND NOT EXISTS (SELECT 1 FROM file_refs AS r WHERE r.file_id = f.id \
                         AND (r.released_at_ms IS NULL OR r.released_at_ms >= ?3)) \
         AND (EXISTS (SELECT 1 FROM file_refs AS r WHERE r.file_id = f.id) \
              OR f.completed_at_ms < ?2)"
    };
}

fn hash_of(bytes: Vec<u8>) -> StoreResult<ObjectHash> {
    bytes
        .try_into()
        .map_err(|_| corrupt("object hash of the wrong length"))
}

/// Remove every pin of `file`, marking the objects nothing pins any more as orphaned.
pub(crate) async fn unpin_all(conn: &mut SqliteConnection, file: FileId) -> StoreResult<()> {
    let pinned: Vec<Vec<u8>> =
        sqlx::query_scalar("DELETE FROM file_objects WHERE file_id = ? RETURNING sha256")
            .bind(file.0.as_bytes().as_slice())
            .fetch_all(&mut *conn)
            .await
            .map_err(db)?;
    for object in pinned {
        sqlx::query(
            "UPDATE objects SET orphaned = 1 WHERE sha256 = ?1 \
             AND NOT EXISTS (SELECT 1 FROM file_objects WHERE sha256 = ?1)",
        )
        .bind(object.as_slice())
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    }
    Ok(())
}

impl SqliteStore {
    pub(crate) async fn pin(&self, file: FileId, objects: &[ObjectHash]) -> StoreResult<Pin> {
        let mut tx = self.sqlx_write().await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM files WHERE id = ?")
            .bind(file.0.as_bytes().as_slice())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        for object in objects {
            let deleting: Option<bool> =
                sqlx::query_scalar("SELECT deleting FROM objects WHERE sha256 = ?")
                    .bind(object.as_slice())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db)?;
            if deleting == Some(true) {
                return Ok(Pin::BeingDeleted);
            }
            sqlx::query(
                "INSERT INTO objects (sha256) VALUES (?) ON CONFLICT DO UPDATE SET orphaned = 0",
            )
            .bind(object.as_slice())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            sqlx::query("INSERT OR IGNORE INTO file_objects (file_id, sha256) VALUES (?, ?)")
                .bind(file.0.as_bytes().as_slice())
                .bind(object.as_slice())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        commit(tx).await?;
        Ok(Pin::Pinned)
    }

    pub(crate) async fn collectable(
        &self,
        rule: Collectable,
        limit: u32,
    ) -> StoreResult<Vec<FileId>> {
        let ids: Vec<Vec<u8>> = sqlx::query_scalar(concat!(
            "SELECT f.id FROM files AS f WHERE ",
            collectable_file!(),
            " ORDER BY f.completed_at_ms LIMIT ?1"
        ))
        .bind(i64::from(limit))
        .bind(rule.unattached_before_ms)
        .bind(rule.released_before_ms)
        .fetch_all(&self.inner.reader)
        .await
        .map_err(db)?;
        ids.iter()
            .map(|id| crate::rows::uuid_of(id).map(FileId))
            .collect()
    }

    pub(crate) async fn delete_collectable(
        &self,
        id: FileId,
        rule: Collectable,
    ) -> StoreResult<bool> {
        let mut tx = self.sqlx_write().await?;
        let collectable: Option<i64> = sqlx::query_scalar(concat!(
            "SELECT 1 FROM files AS f WHERE f.id = ?1 AND ",
            collectable_file!()
        ))
        .bind(id.0.as_bytes().as_slice())
        .bind(rule.unattached_before_ms)
        .bind(rule.released_before_ms)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        if collectable.is_none() {
            return Ok(false);
        }
        sqlx::query("DELETE FROM file_refs WHERE file_id = ?")
            .bind(id.0.as_bytes().as_slice())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        unpin_all(&mut tx, id).await?;
        sqlx::query("DELETE FROM files WHERE id = ?")
            .bind(id.0.as_bytes().as_slice())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        commit(tx).await?;
        Ok(true)
    }

    pub(crate) async fn orphans(&self, limit: u32) -> StoreResult<Vec<ObjectHash>> {
        let hashes: Vec<Vec<u8>> =
            sqlx::query_scalar("SELECT sha256 FROM objects WHERE orphaned OR deleting LIMIT ?")
                .bind(i64::from(limit))
                .fetch_all(&self.inner.reader)
                .await
                .map_err(db)?;
        hashes.into_iter().map(hash_of).collect()
    }

    pub(crate) async fn begin_deletion(&self, object: ObjectHash) -> StoreResult<bool> {
        let mut tx = self.sqlx_write().await?;
        let marked = sqlx::query(
            "UPDATE objects SET deleting = 1 WHERE sha256 = ?1 \
             AND (deleting OR NOT EXISTS (SELECT 1 FROM file_objects WHERE sha256 = ?1))",
        )
        .bind(object.as_slice())
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected()
            == 1;
        if !marked {
            // Pinned again since it was orphaned: no longer a candidate.
            sqlx::query("UPDATE objects SET orphaned = 0 WHERE sha256 = ?")
                .bind(object.as_slice())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        commit(tx).await?;
        Ok(marked)
    }

    pub(crate) async fn end_deletion(&self, object: ObjectHash) -> StoreResult<()> {
        sqlx::query("DELETE FROM objects WHERE sha256 = ? AND deleting")
            .bind(object.as_slice())
            .execute(&self.inner.writer)
            .await
            .map_err(db)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use natter_domain::files::{FileId, FileStore, MediaInfo, Thumbnail, ThumbnailSize};
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

    use crate::SqliteStore;

    /// A database made by the version before pins, holding a complete picture: opening it with
    /// this version pins the picture's bytes and thumbnails, so the collector never deletes them.
    #[tokio::test]
    async fn files_completed_before_pins_existed_are_pinned_by_the_migration() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("natter.db");
        let old = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                SqliteConnectOptions::new()
                    .filename(&path)
                    .create_if_missing(true),
            )
            .await
            .unwrap();
        let mut before_pins = sqlx::migrate!("./migrations");
        let last = before_pins
            .migrations
            .iter()
            .position(|m| m.description.as_ref() == "object pins")
            .expect("the pins migration");
        before_pins.migrations = before_pins.migrations[..last].to_vec().into();
        before_pins.run(&old).await.unwrap();

        let (bytes, small) = ([1u8; 32], [2u8; 32]);
        let media = MediaInfo {
            thumbnails: vec![Thumbnail {
                size: ThumbnailSize::Small,
                sha256: small,
                mime: "image/webp".into(),
                width: 1,
                height: 1,
                bytes: 1,
            }],
            ..MediaInfo::default()
        };
        let id = FileId::new();
        sqlx::query(
            "INSERT INTO files (id, owner_id, name, size, created_at_ms, sha256, mime, \
             completed_at_ms, content_size, media) VALUES (?, ?, 'a.png', 1, 1, ?, 'image/png', \
             2, 1, ?)",
        )
        .bind(id.0.as_bytes().as_slice())
        .bind(FileId::new().0.as_bytes().as_slice())
        .bind(bytes.as_slice())
        .bind(serde_json::to_string(&media).unwrap())
        .execute(&old)
        .await
        .unwrap();
        old.close().await;

        let store = SqliteStore::open(&path).await.unwrap();
        for object in [bytes, small] {
            assert!(
                !store.begin_object_deletion(object).await.unwrap(),
                "{object:?} is pinned"
            );
        }
        // And the pins are the file's: once it goes, both objects are orphaned.
        let everything = natter_domain::files::Collectable {
            unattached_before_ms: 10,
            released_before_ms: 10,
        };
        assert!(store.delete_file(id, everything).await.unwrap());
        let mut orphaned = store.orphaned_objects(10).await.unwrap();
        orphaned.sort_unstable();
        assert_eq!(orphaned, vec![bytes, small]);
        store.close().await;
    }
}
