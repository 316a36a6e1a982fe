//! The collector's side of [`FileStore`]: pins, collectable files, orphaned objects, shared by
//! every node's collector and every node's uploads.
//!
//! Under READ COMMITTED, a check and a write in two statements can each miss the other side's
//! uncommitted work. So both sides meet on row locks, and check only *after* the lock is theirs
//! (a statement started after the wait sees everything committed before it):
//! - an object's row in `objects`: a pin upserts it (locking it) before it adds its pin; the
//!   collector locks it before it looks for pins and marks it `deleting`; removing a pin locks
//!   it before it decides the object is orphaned. Several objects are locked in hash order.
//! - a file's row in `files`: references are added, and avatars set, under `FOR SHARE` of their
//!   files; the collector deletes a file under `FOR UPDATE`, then re-checks that nothing shows
//!   it and that it is no user's avatar.
//!
//! [`FileStore`]: natter_domain::files::FileStore

use natter_domain::StoreError;
use natter_domain::files::{Collectable, FileId, ObjectHash, Pin};
use natter_domain::ports::StoreResult;
use sqlx::PgConnection;

use crate::PgStore;
use crate::errors::{corrupt, db};

/// The collectable rule for file `f`, `$2`/`$3` the rule's times (`$1` is the query's own). A
/// macro so it can be `concat!`ed into static SQL.
macro_rules! collectable_file {
    () => {
        "f.completed_at_ms IS NOT NULL \
         AND NOT EXISTS (SELECT 1 FROM users AS u WHERE u.avatar_file_id = f.id) \
         AND NOT EXISTS (SELECT 1 FROM file_refs AS r WHERE r.file_id = f.id \
                         AND (r.released_at_ms IS NULL OR r.released_at_ms >= $3)) \
         AND (EXISTS (SELECT 1 FROM file_refs AS r WHERE r.file_id = f.id) \
              OR f.completed_at_ms < $2)"
    };
}

fn hash_of(bytes: Vec<u8>) -> StoreResult<ObjectHash> {
    bytes
        .try_into()
        .map_err(|_| corrupt("object hash of the wrong length"))
}

/// Remove every pin of `file`, marking the objects nothing pins any more as orphaned. Call with
/// the file's row locked.
pub(crate) async fn unpin_all(conn: &mut PgConnection, file: FileId) -> StoreResult<()> {
    let mut pinned: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT sha256 FROM file_objects WHERE file_id = $1")
            .bind(file.0)
            .fetch_all(&mut *conn)
            .await
            .map_err(db)?;
    pinned.sort_unstable();
    for object in pinned {
        sqlx::query("SELECT 1 FROM objects WHERE sha256 = $1 FOR UPDATE")
            .bind(&object)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        sqlx::query("DELETE FROM file_objects WHERE file_id = $1 AND sha256 = $2")
            .bind(file.0)
            .bind(&object)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        sqlx::query(
            "UPDATE objects SET orphaned = true WHERE sha256 = $1 \
             AND NOT EXISTS (SELECT 1 FROM file_objects WHERE sha256 = $1)",
        )
        .bind(&object)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    }
    Ok(())
}

impl PgStore {
    pub(crate) async fn pin(&self, file: FileId, objects: &[ObjectHash]) -> StoreResult<Pin> {
        let mut tx = self.begin().await?;
        let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM files WHERE id = $1 FOR SHARE")
            .bind(file.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        let mut sorted = objects.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        for object in sorted {
            let deleting: bool = sqlx::query_scalar(
                "INSERT INTO objects (sha256) VALUES ($1) \
                 ON CONFLICT (sha256) DO UPDATE SET orphaned = false RETURNING deleting",
            )
            .bind(object.as_slice())
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
            if deleting {
                return Ok(Pin::BeingDeleted);
            }
            sqlx::query(
                "INSERT INTO file_objects (file_id, sha256) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(file.0)
            .bind(object.as_slice())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(Pin::Pinned)
    }

    pub(crate) async fn collectable(
        &self,
        rule: Collectable,
        limit: u32,
    ) -> StoreResult<Vec<FileId>> {
        let ids: Vec<uuid::Uuid> = sqlx::query_scalar(concat!(
            "SELECT f.id FROM files AS f WHERE ",
            collectable_file!(),
            " ORDER BY f.completed_at_ms LIMIT $1"
        ))
        .bind(i64::from(limit))
        .bind(rule.unattached_before_ms)
        .bind(rule.released_before_ms)
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        Ok(ids.into_iter().map(FileId).collect())
    }

    pub(crate) async fn delete_collectable(
        &self,
        id: FileId,
        rule: Collectable,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let exists: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM files WHERE id = $1 FOR UPDATE")
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        if exists.is_none() {
            return Ok(false);
        }
        // A new statement after the lock: it sees every reference committed before.
        let collectable: Option<i32> = sqlx::query_scalar(concat!(
            "SELECT 1 FROM files AS f WHERE f.id = $1 AND ",
            collectable_file!()
        ))
        .bind(id.0)
        .bind(rule.unattached_before_ms)
        .bind(rule.released_before_ms)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        if collectable.is_none() {
            return Ok(false);
        }
        sqlx::query("DELETE FROM file_refs WHERE file_id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        unpin_all(&mut tx, id).await?;
        sqlx::query("DELETE FROM files WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    pub(crate) async fn orphans(&self, limit: u32) -> StoreResult<Vec<ObjectHash>> {
        let hashes: Vec<Vec<u8>> =
            sqlx::query_scalar("SELECT sha256 FROM objects WHERE orphaned OR deleting LIMIT $1")
                .bind(i64::from(limit))
                .fetch_all(self.pool())
                .await
                .map_err(db)?;
        hashes.into_iter().map(hash_of).collect()
    }

    pub(crate) async fn begin_deletion(&self, object: ObjectHash) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let found: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM objects WHERE sha256 = $1 FOR UPDATE")
                .bind(object.as_slice())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        if found.is_none() {
            return Ok(false);
        }
        // A new statement after the lock: it sees every pin committed before.
        let marked = sqlx::query(
            "UPDATE objects SET deleting = true WHERE sha256 = $1 \
             AND (deleting OR NOT EXISTS (SELECT 1 FROM file_objects WHERE sha256 = $1))",
        )
        .bind(object.as_slice())
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected()
            == 1;
        if !marked {
            // Pinned again since it was orphaned: no longer a candidate.
            sqlx::query("UPDATE objects SET orphaned = false WHERE sha256 = $1")
                .bind(object.as_slice())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(marked)
    }

    pub(crate) async fn end_deletion(&self, object: ObjectHash) -> StoreResult<()> {
        sqlx::query("DELETE FROM objects WHERE sha256 = $1 AND deleting")
            .bind(object.as_slice())
            .execute(self.pool())
            .await
            .map_err(db)?;
        Ok(())
    }
}
