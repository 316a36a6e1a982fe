//! [`FileStore`]: file and upload metadata. The quota check and the insert share one write
//! transaction (`BEGIN IMMEDIATE`), so two uploads created at once cannot both pass the quota.

use async_trait::async_trait;
use natter_domain::files::{
    Collectable, CreateUpload, FileContent, FileId, FileName, FileRecord, FileReference, FileStore,
    MediaInfo, NewUpload, ObjectHash, Pin,
};
use natter_domain::ports::StoreResult;
use natter_domain::values::ClientMsgId;
use natter_domain::{ConversationId, StoreError, UserId};

use crate::errors::{corrupt, db};
use crate::rows::uuid_of;
use crate::{SqliteStore, commit};

type FileRow = (
    Vec<u8>,
    Vec<u8>,
    String,
    i64,
    i64,
    Option<Vec<u8>>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

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
    let (id, owner, name, size, created_at_ms, sha256, mime, completed_at_ms, content_size, media) =
        row;
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
        owner: UserId(uuid_of(&owner)?),
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

impl SqliteStore {
    async fn file_in(
        conn: &mut sqlx::SqliteConnection,
        id: FileId,
    ) -> StoreResult<Option<FileRecord>> {
        let row: Option<FileRow> = sqlx::query_as(concat!(
            "SELECT ",
            file_columns!(),
            " FROM files WHERE id = ?"
        ))
        .bind(id.0.as_bytes().as_slice())
        .fetch_optional(conn)
        .await
        .map_err(db)?;
        row.map(record).transpose()
    }
}

#[async_trait]
impl FileStore for SqliteStore {
    async fn create_upload(
        &self,
        upload: NewUpload,
        quota_bytes: u64,
    ) -> StoreResult<CreateUpload> {
        let mut tx = self.sqlx_write().await?;
        let used: i64 =
            sqlx::query_scalar("SELECT COALESCE(SUM(size), 0) FROM files WHERE owner_id = ?")
                .bind(upload.owner.0.as_bytes().as_slice())
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?;
        let used_bytes = u64::try_from(used).map_err(|_| corrupt("negative usage"))?;
        if used_bytes.saturating_add(upload.size) > quota_bytes {
            return Ok(CreateUpload::OverQuota { used_bytes });
        }
        sqlx::query(
            "INSERT INTO files (id, owner_id, name, size, created_at_ms) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(upload.id.0.as_bytes().as_slice())
        .bind(upload.owner.0.as_bytes().as_slice())
        .bind(upload.name.as_str())
        .bind(size_of(upload.size)?)
        .bind(upload.created_at_ms)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        commit(tx).await?;
        Ok(CreateUpload::Created(FileRecord {
            id: upload.id,
            owner: upload.owner,
            name: upload.name,
            size: upload.size,
            created_at_ms: upload.created_at_ms,
            content: None,
        }))
    }

    async fn file(&self, id: FileId) -> StoreResult<Option<FileRecord>> {
        let mut conn = self.read_one().await?;
        Self::file_in(&mut conn, id).await
    }

    async fn complete(&self, id: FileId, content: FileContent) -> StoreResult<FileRecord> {
        let mut tx = self.sqlx_write().await?;
        sqlx::query(
            "UPDATE files SET sha256 = ?, mime = ?, completed_at_ms = ?, content_size = ?, \
             media = ? WHERE id = ? AND completed_at_ms IS NULL",
        )
        .bind(content.sha256.as_slice())
        .bind(&content.mime)
        .bind(content.completed_at_ms)
        .bind(size_of(content.size)?)
        .bind(media_json(content.media.as_ref())?)
        .bind(id.0.as_bytes().as_slice())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let file = Self::file_in(&mut tx, id)
            .await?
            .ok_or(StoreError::NotFound)?;
        commit(tx).await?;
        Ok(file)
    }

    async fn delete_upload(&self, id: FileId) -> StoreResult<()> {
        let mut tx = self.sqlx_write().await?;
        let file = Self::file_in(&mut tx, id)
            .await?
            .ok_or(StoreError::NotFound)?;
        if file.content.is_some() {
            return Err(StoreError::Conflict("the upload is complete".into()));
        }
        crate::file_collection::unpin_all(&mut tx, id).await?;
        sqlx::query("DELETE FROM files WHERE id = ?")
            .bind(id.0.as_bytes().as_slice())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        commit(tx).await
    }

    async fn stale_uploads(&self, before_ms: i64, limit: u32) -> StoreResult<Vec<FileId>> {
        let ids: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT id FROM files WHERE completed_at_ms IS NULL AND created_at_ms < ? \
             ORDER BY created_at_ms LIMIT ?",
        )
        .bind(before_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.inner.reader)
        .await
        .map_err(db)?;
        ids.iter().map(|id| uuid_of(id).map(FileId)).collect()
    }

    async fn files(&self, ids: &[FileId]) -> StoreResult<Vec<FileRecord>> {
        let ids_json = format!(
            "[{}]",
            ids.iter()
                .map(|id| format!("\"{}\"", id.0.simple()))
                .collect::<Vec<_>>()
                .join(",")
        );
        let rows: Vec<FileRow> = sqlx::query_as(concat!(
            "SELECT ",
            file_columns!(),
            " FROM files WHERE id IN (SELECT unhex(value) FROM json_each(?))"
        ))
        .bind(ids_json)
        .fetch_all(&self.inner.reader)
        .await
        .map_err(db)?;
        rows.into_iter().map(record).collect()
    }

    async fn add_references(&self, references: &[FileReference]) -> StoreResult<()> {
        let mut tx = self.sqlx_write().await?;
        for reference in references {
            if Self::file_in(&mut tx, reference.file).await?.is_none() {
                return Err(StoreError::NotFound);
            }
            sqlx::query(
                "INSERT INTO file_refs (file_id, conversation_id, sender_id, client_msg_id, \
                 created_at_ms) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            )
            .bind(reference.file.0.as_bytes().as_slice())
            .bind(reference.conversation.0.as_bytes().as_slice())
            .bind(reference.sender.0.as_bytes().as_slice())
            .bind(reference.client_msg_id.as_str())
            .bind(reference.at_ms)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        commit(tx).await
    }

    async fn release_references(
        &self,
        conversation: ConversationId,
        sender: UserId,
        client_msg_id: &ClientMsgId,
        at_ms: i64,
    ) -> StoreResult<()> {
        let mut tx = self.sqlx_write().await?;
        sqlx::query(
            "UPDATE file_refs SET released_at_ms = ? WHERE conversation_id = ? AND sender_id = ? \
             AND client_msg_id = ? AND released_at_ms IS NULL",
        )
        .bind(at_ms)
        .bind(conversation.0.as_bytes().as_slice())
        .bind(sender.0.as_bytes().as_slice())
        .bind(client_msg_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        commit(tx).await
    }

    async fn showing_conversations(&self, file: FileId) -> StoreResult<Vec<ConversationId>> {
        let ids: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT DISTINCT conversation_id FROM file_refs \
             WHERE file_id = ? AND released_at_ms IS NULL",
        )
        .bind(file.0.as_bytes().as_slice())
        .fetch_all(&self.inner.reader)
        .await
        .map_err(db)?;
        ids.iter()
            .map(|id| uuid_of(id).map(ConversationId))
            .collect()
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
