//! The collector's side of [`FileStore`]: pins, collectable files, orphaned objects. Every write
//! here runs on the one writer thread, so the protocol of the port (pin before checking an object
//! exists; mark an unpinned object as being deleted before deleting its bytes) needs no locks of
//! its own: each step is one write, all or nothing.
//!
//! [`FileStore`]: natter_domain::files::FileStore

use natter_domain::StoreError;
use natter_domain::files::{Collectable, FileId, ObjectHash, Pin};
use natter_domain::ports::StoreResult;
use rusqlite::{Connection, params};

use crate::SqliteStore;
use crate::errors::corrupt;
use crate::query::{all, exec, one};

/// The collectable rule for file `f`, `?2`/`?3` the rule's times (`?1` is the query's own). A
/// macro so it can be `concat!`ed into static SQL.
macro_rules! collectable_file {
    () => {
        "f.completed_at_ms IS NOT NULL \
         AND NOT EXISTS (SELECT 1 FROM users AS u WHERE u.avatar_file_id = f.id) \
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

/// Remove every pin of `file`, marking the objects nothing pins any more as orphaned. Call
/// inside a write.
pub(crate) fn unpin_all(conn: &Connection, file: FileId) -> StoreResult<()> {
    let pinned: Vec<Vec<u8>> = all(
        conn,
        "DELETE FROM file_objects WHERE file_id = ? RETURNING sha256",
        params![file.0.as_bytes().as_slice()],
        |row| row.get(0),
    )?;
    for object in pinned {
        exec(
            conn,
            "UPDATE objects SET orphaned = 1 WHERE sha256 = ?1 \
             AND NOT EXISTS (SELECT 1 FROM file_objects WHERE sha256 = ?1)",
            params![object.as_slice()],
        )?;
    }
    Ok(())
}

/// Pin `objects` to `file` inside a write; writes nothing if one of them is being deleted.
fn pin_in(conn: &Connection, file: FileId, objects: &[ObjectHash]) -> StoreResult<Pin> {
    let exists = one(
        conn,
        "SELECT 1 FROM files WHERE id = ?",
        params![file.0.as_bytes().as_slice()],
        |row| row.get::<_, i64>(0),
    )?;
    if exists.is_none() {
        return Err(StoreError::NotFound);
    }
    // Every object is checked before any is pinned, so a refusal leaves nothing behind.
    for object in objects {
        let deleting: Option<bool> = one(
            conn,
            "SELECT deleting FROM objects WHERE sha256 = ?",
            params![object.as_slice()],
            |row| row.get(0),
        )?;
        if deleting == Some(true) {
            return Ok(Pin::BeingDeleted);
        }
    }
    for object in objects {
        exec(
            conn,
            "INSERT INTO objects (sha256) VALUES (?) ON CONFLICT DO UPDATE SET orphaned = 0",
            params![object.as_slice()],
        )?;
        exec(
            conn,
            "INSERT OR IGNORE INTO file_objects (file_id, sha256) VALUES (?, ?)",
            params![file.0.as_bytes().as_slice(), object.as_slice()],
        )?;
    }
    Ok(Pin::Pinned)
}

/// Delete `id` and its references and pins inside a write, if `rule` makes it collectable.
fn delete_collectable_in(conn: &Connection, id: FileId, rule: Collectable) -> StoreResult<bool> {
    let file = id.0.as_bytes().as_slice();
    let collectable = one(
        conn,
        concat!(
            "SELECT 1 FROM files AS f WHERE f.id = ?1 AND ",
            collectable_file!()
        ),
        params![file, rule.unattached_before_ms, rule.released_before_ms],
        |row| row.get::<_, i64>(0),
    )?;
    if collectable.is_none() {
        return Ok(false);
    }
    exec(
        conn,
        "DELETE FROM file_refs WHERE file_id = ?",
        params![file],
    )?;
    unpin_all(conn, id)?;
    exec(conn, "DELETE FROM files WHERE id = ?", params![file])?;
    Ok(true)
}

impl SqliteStore {
    pub(crate) async fn pin(&self, file: FileId, objects: &[ObjectHash]) -> StoreResult<Pin> {
        let objects = objects.to_vec();
        self.write(move |conn| pin_in(conn, file, &objects)).await
    }

    pub(crate) async fn collectable(
        &self,
        rule: Collectable,
        limit: u32,
    ) -> StoreResult<Vec<FileId>> {
        self.read(move |conn| {
            let ids: Vec<Vec<u8>> = all(
                conn,
                concat!(
                    "SELECT f.id FROM files AS f WHERE ",
                    collectable_file!(),
                    " ORDER BY f.completed_at_ms LIMIT ?1"
                ),
                params![
                    i64::from(limit),
                    rule.unattached_before_ms,
                    rule.released_before_ms
                ],
                |row| row.get(0),
            )?;
            ids.iter()
                .map(|id| crate::rows::uuid_of(id).map(FileId))
                .collect()
        })
        .await
    }

    pub(crate) async fn delete_collectable(
        &self,
        id: FileId,
        rule: Collectable,
    ) -> StoreResult<bool> {
        self.write(move |conn| delete_collectable_in(conn, id, rule))
            .await
    }

    pub(crate) async fn orphans(&self, limit: u32) -> StoreResult<Vec<ObjectHash>> {
        self.read(move |conn| {
            all(
                conn,
                "SELECT sha256 FROM objects WHERE orphaned OR deleting LIMIT ?",
                params![i64::from(limit)],
                |row| row.get(0),
            )?
            .into_iter()
            .map(hash_of)
            .collect()
        })
        .await
    }

    pub(crate) async fn begin_deletion(&self, object: ObjectHash) -> StoreResult<bool> {
        self.write(move |conn| {
            let marked = exec(
                conn,
                "UPDATE objects SET deleting = 1 WHERE sha256 = ?1 \
                 AND (deleting OR NOT EXISTS (SELECT 1 FROM file_objects WHERE sha256 = ?1))",
                params![object.as_slice()],
            )? == 1;
            if !marked {
                // Pinned again since it was orphaned: no longer a candidate.
                exec(
                    conn,
                    "UPDATE objects SET orphaned = 0 WHERE sha256 = ?",
                    params![object.as_slice()],
                )?;
            }
            Ok(marked)
        })
        .await
    }

    pub(crate) async fn end_deletion(&self, object: ObjectHash) -> StoreResult<()> {
        self.write(move |conn| {
            exec(
                conn,
                "DELETE FROM objects WHERE sha256 = ? AND deleting",
                params![object.as_slice()],
            )?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use natter_domain::files::{FileId, FileStore, MediaInfo, Thumbnail, ThumbnailSize};
    use rusqlite::{Connection, params};
    use sha2::{Digest, Sha384};

    use crate::SqliteStore;

    /// The schema as the version before pins left it: the migration files before "object pins"
    /// applied and booked the way the store books them.
    fn schema_before_pins(conn: &Connection) {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        let pins = files
            .iter()
            .position(|f| f.ends_with("_object_pins.sql"))
            .expect("the pins migration");
        conn.execute_batch(
            "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
             installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, success BOOLEAN NOT NULL, \
             checksum BLOB NOT NULL, execution_time BIGINT NOT NULL)",
        )
        .unwrap();
        for file in &files[..pins] {
            let sql = std::fs::read_to_string(format!("{dir}/{file}")).unwrap();
            conn.execute_batch(&sql).unwrap();
            conn.execute(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
                 execution_time) VALUES (?, ?, 1, ?, 0)",
                params![
                    file[..4].parse::<i64>().unwrap(),
                    file.as_str(),
                    Sha384::digest(sql.as_bytes()).to_vec()
                ],
            )
            .unwrap();
        }
    }

    /// A database made by the version before pins, holding a complete picture: opening it with
    /// this version pins the picture's bytes and thumbnails, so the collector never deletes them.
    #[tokio::test]
    async fn files_completed_before_pins_existed_are_pinned_by_the_migration() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("natter.db");
        let old = Connection::open(&path).unwrap();
        schema_before_pins(&old);

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
        old.execute(
            "INSERT INTO files (id, owner_id, name, size, created_at_ms, sha256, mime, \
             completed_at_ms, content_size, media) VALUES (?, ?, 'a.png', 1, 1, ?, 'image/png', \
             2, 1, ?)",
            params![
                id.0.as_bytes().as_slice(),
                FileId::new().0.as_bytes().as_slice(),
                bytes.as_slice(),
                serde_json::to_string(&media).unwrap()
            ],
        )
        .unwrap();
        drop(old);

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

    /// A pin that meets an object being deleted pins none of the objects it was given, not even
    /// the ones listed before it.
    #[tokio::test]
    async fn a_refused_pin_leaves_no_pin_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("natter.db"))
            .await
            .unwrap();
        let (first, doomed) = ([3u8; 32], [4u8; 32]);
        let owner = natter_domain::UserId::new();
        let upload = |id| natter_domain::files::NewUpload {
            id,
            owner,
            name: natter_domain::files::FileName::parse("a.bin").unwrap(),
            size: 1,
            created_at_ms: 1,
        };
        let (a, b) = (FileId::new(), FileId::new());
        for id in [a, b] {
            store.create_upload(upload(id), 100).await.unwrap();
        }
        // `doomed` is pinned by `a` only, then `a` goes: the collector starts deleting it.
        assert_eq!(
            store.pin_objects(a, &[doomed]).await.unwrap(),
            natter_domain::files::Pin::Pinned
        );
        store.delete_upload(a).await.unwrap();
        assert!(store.begin_object_deletion(doomed).await.unwrap());

        assert_eq!(
            store.pin_objects(b, &[first, doomed]).await.unwrap(),
            natter_domain::files::Pin::BeingDeleted
        );
        // Had `first` been pinned to `b`, deleting `b` would orphan it.
        store.delete_upload(b).await.unwrap();
        assert_eq!(store.orphaned_objects(10).await.unwrap(), vec![doomed]);
        store.close().await;
    }
}
