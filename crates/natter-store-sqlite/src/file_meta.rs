//! [`FileStore`]: file and upload metadata. Reads run on the read connections, writes on the writer
//! thread; the quota check and the insert run in one write (one savepoint of the writer's
//! transaction, with SQLite's write lock held), so two uploads created at once cannot both pass
//! the quota.

use async_trait::async_trait;
use natter_domain::files::{
    Collectable, CreateUpload, FileContent, FileId, FileName, FileRecord, FileReference, FileStore,
    MediaInfo, NewUpload, ObjectHash, Pin,
};
use natter_domain::ports::StoreResult;
use natter_domain::values::ClientMsgId;
use natter_domain::{ConversationId, StoreError, UserId};
use rusqlite::{Connection, params};

use crate::SqliteStore;
use crate::errors::corrupt;
use crate::query::{all, exec, one};
use crate::rows::{from_row, uuid_of};

/// One row of `files`, its columns in the order of `file_columns!`.
struct FileRow {
    id: Vec<u8>,
    owner_id: Vec<u8>,
    name: String,
    size: i64,
    created_at_ms: i64,
    sha256: Option<Vec<u8>>,
    mime: Option<String>,
    completed_at_ms: Option<i64>,
    content_size: Option<i64>,
    media: Option<String>,
}

from_row!(FileRow {
    id,
    owner_id,
    name,
    size,
    created_at_ms,
    sha256,
    mime,
    completed_at_ms,
    content_size,
    media
});

/// Column list of `files`, in [`FileRow`]'s order (a macro so it can be `concat!`ed).
macro_rules! file_columns {
    () => {
        "id, owner_id, name, size, created_at_ms, sha256, mime, completed_at_ms, content_size, media"
    };
}

fn size_of(size: u64) -> StoreResult<i64> {
    i64::try_from(size).map_err(|_| corrupt(format!("file size {size}")))
}

fn record(row: FileRow) -> StoreResult<FileRecord> {
    let FileRow {
        id,
        owner_id,
        name,
        size,
        created_at_ms,
        sha256,
        mime,
        completed_at_ms,
        content_size,
        media,
    } = row;
    let size = u64::try_from(size).map_err(|_| corrupt(format!("file size {size}")))?;
    let content = match (sha256, mime, completed_at_ms) {
        (Some(sha256), Some(mime), Some(completed_at_ms)) => Some(FileContent {
            sha256: sha256
                .try_into()
                .map_err(|_| corrupt("sha256 of the wrong length"))?,
            // Files completed before `content_size` existed were stored as uploaded.
            size: match content_size {
                Some(stored) => {
                    u64::try_from(stored).map_err(|_| corrupt(format!("stored size {stored}")))?
                }
                None => size,
            },
            mime,
            completed_at_ms,
            media: media
                .map(|json| serde_json::from_str::<MediaInfo>(&json))
                .transpose()
                .map_err(|err| corrupt(format!("media of a file: {err}")))?,
        }),
        (None, None, None) => None,
        _ => return Err(corrupt("file half complete")),
    };
    Ok(FileRecord {
        id: FileId(uuid_of(&id)?),
        owner: UserId(uuid_of(&owner_id)?),
        name: FileName::from_trusted(name),
        size,
        created_at_ms,
        content,
    })
}

fn media_json(media: Option<&MediaInfo>) -> StoreResult<Option<String>> {
    media
        .map(serde_json::to_string)
        .transpose()
        .map_err(|err| corrupt(format!("media of a file: {err}")))
}

/// The file `id`, complete or not.
fn file_in(conn: &Connection, id: FileId) -> StoreResult<Option<FileRecord>> {
    one(
        conn,
        concat!("SELECT ", file_columns!(), " FROM files WHERE id = ?"),
        params![id.0.as_bytes().as_slice()],
        FileRow::from_row,
    )?
    .map(record)
    .transpose()
}

#[async_trait]
impl FileStore for SqliteStore {
    async fn create_upload(
        &self,
        upload: NewUpload,
        quota_bytes: u64,
    ) -> StoreResult<CreateUpload> {
        let size = size_of(upload.size)?;
        self.write(move |conn| {
            let used: i64 = one(
                conn,
                "SELECT COALESCE(SUM(size), 0) FROM files WHERE owner_id = ?",
                params![upload.owner.0.as_bytes().as_slice()],
                |row| row.get(0),
            )?
            .unwrap_or(0);
            let used_bytes = u64::try_from(used).map_err(|_| corrupt("negative usage"))?;
            if used_bytes.saturating_add(upload.size) > quota_bytes {
                return Ok(CreateUpload::OverQuota { used_bytes });
            }
            exec(
                conn,
                "INSERT INTO files (id, owner_id, name, size, created_at_ms) VALUES (?, ?, ?, ?, ?)",
                params![
                    upload.id.0.as_bytes().as_slice(),
                    upload.owner.0.as_bytes().as_slice(),
                    upload.name.as_str(),
                    size,
                    upload.created_at_ms
                ],
            )?;
            Ok(CreateUpload::Created(FileRecord {
                id: upload.id,
                owner: upload.owner,
                name: upload.name,
                size: upload.size,
                created_at_ms: upload.created_at_ms,
                content: None,
            }))
        })
        .await
    }

    async fn file(&self, id: FileId) -> StoreResult<Option<FileRecord>> {
        self.read(move |conn| file_in(conn, id)).await
    }

    async fn complete(&self, id: FileId, content: FileContent) -> StoreResult<FileRecord> {
        let size = size_of(content.size)?;
        let media = media_json(content.media.as_ref())?;
        self.write(move |conn| {
            exec(
                conn,
                "UPDATE files SET sha256 = ?, mime = ?, completed_at_ms = ?, content_size = ?, \
                 media = ? WHERE id = ? AND completed_at_ms IS NULL",
                params![
                    content.sha256.as_slice(),
                    content.mime.as_str(),
                    content.completed_at_ms,
                    size,
                    media,
                    id.0.as_bytes().as_slice()
                ],
            )?;
            file_in(conn, id)?.ok_or(StoreError::NotFound)
        })
        .await
    }

    async fn delete_upload(&self, id: FileId) -> StoreResult<()> {
        self.write(move |conn| {
            let file = file_in(conn, id)?.ok_or(StoreError::NotFound)?;
            if file.content.is_some() {
                return Err(StoreError::Conflict("the upload is complete".into()));
            }
            crate::file_collection::unpin_all(conn, id)?;
            exec(
                conn,
                "DELETE FROM files WHERE id = ?",
                params![id.0.as_bytes().as_slice()],
            )?;
            Ok(())
        })
        .await
    }

    async fn stale_uploads(&self, before_ms: i64, limit: u32) -> StoreResult<Vec<FileId>> {
        self.read(move |conn| {
            let ids: Vec<Vec<u8>> = all(
                conn,
                "SELECT id FROM files WHERE completed_at_ms IS NULL AND created_at_ms < ? \
                 ORDER BY created_at_ms LIMIT ?",
                params![before_ms, i64::from(limit)],
                |row| row.get(0),
            )?;
            ids.iter().map(|id| uuid_of(id).map(FileId)).collect()
        })
        .await
    }

    async fn files(&self, ids: &[FileId]) -> StoreResult<Vec<FileRecord>> {
        // A JSON array of the ids as hex strings, for `json_each` (SQLite has no array binding).
        let ids_json = format!(
            "[{}]",
            ids.iter()
                .map(|id| format!("\"{}\"", id.0.simple()))
                .collect::<Vec<_>>()
                .join(",")
        );
        self.read(move |conn| {
            all(
                conn,
                concat!(
                    "SELECT ",
                    file_columns!(),
                    " FROM files WHERE id IN (SELECT unhex(value) FROM json_each(?))"
                ),
                params![ids_json],
                FileRow::from_row,
            )?
            .into_iter()
            .map(record)
            .collect()
        })
        .await
    }

    async fn add_references(&self, references: &[FileReference]) -> StoreResult<()> {
        let references = references.to_vec();
        self.write(move |conn| {
            for reference in references {
                // Failing rolls back the references this call already added.
                if file_in(conn, reference.file)?.is_none() {
                    return Err(StoreError::NotFound);
                }
                exec(
                    conn,
                    "INSERT INTO file_refs (file_id, conversation_id, sender_id, client_msg_id, \
                     created_at_ms) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    params![
                        reference.file.0.as_bytes().as_slice(),
                        reference.conversation.0.as_bytes().as_slice(),
                        reference.sender.0.as_bytes().as_slice(),
                        reference.client_msg_id.as_str(),
                        reference.at_ms
                    ],
                )?;
            }
            Ok(())
        })
        .await
    }

    async fn release_references(
        &self,
        conversation: ConversationId,
        sender: UserId,
        client_msg_id: &ClientMsgId,
        at_ms: i64,
    ) -> StoreResult<()> {
        let client_msg_id = client_msg_id.clone();
        self.write(move |conn| {
            exec(
                conn,
                "UPDATE file_refs SET released_at_ms = ? WHERE conversation_id = ? \
                 AND sender_id = ? AND client_msg_id = ? AND released_at_ms IS NULL",
                params![
                    at_ms,
                    conversation.0.as_bytes().as_slice(),
                    sender.0.as_bytes().as_slice(),
                    client_msg_id.as_str()
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn showing_conversations(&self, file: FileId) -> StoreResult<Vec<ConversationId>> {
        self.read(move |conn| {
            let ids: Vec<Vec<u8>> = all(
                conn,
                "SELECT DISTINCT conversation_id FROM file_refs \
                 WHERE file_id = ? AND released_at_ms IS NULL",
                params![file.0.as_bytes().as_slice()],
                |row| row.get(0),
            )?;
            ids.iter()
                .map(|id| uuid_of(id).map(ConversationId))
                .collect()
        })
        .await
    }
    async fn pin_objects(&self, file: FileId, objects: &[ObjectHash]) -> StoreResult<Pin> {
        self.pin(file, objects).await
    }

    async fn collectable_files(&self, rule: Collectable, limit: u32) -> StoreResult<Vec<FileId>> {
        self.collectable(rule, limit).await
    }

    async fn delete_file(&self, id: FileId, rule: Collectable) -> StoreResult<bool> {
        self.delete_collectable(id, rule).await
    }

    async fn orphaned_objects(&self, limit: u32) -> StoreResult<Vec<ObjectHash>> {
        self.orphans(limit).await
    }

    async fn begin_object_deletion(&self, object: ObjectHash) -> StoreResult<bool> {
        self.begin_deletion(object).await
    }

    async fn end_object_deletion(&self, object: ObjectHash) -> StoreResult<()> {
        self.end_deletion(object).await
    }
}
