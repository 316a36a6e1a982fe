//! [`FileStore`]: file and upload metadata, and the references of messages to files, shared by
//! every node. The quota check and the
//! insert run in one transaction under a transaction-level advisory lock on the owner, so two
//! uploads created at once on two nodes cannot both pass the quota. The lock uses the two-key
//! form (`FILES_LOCK_SPACE`, hash of the owner), a key space apart from the conversation locks'
//! single 64-bit keys: an owner can never wait on a conversation.

use async_trait::async_trait;
use natter_domain::files::{
    Collectable, CreateUpload, FileContent, FileId, FileName, FileRecord, FileReference, FileStore,
    MediaInfo, NewUpload, ObjectHash, Pin,
};
use natter_domain::ports::StoreResult;
use natter_domain::values::ClientMsgId;
use natter_domain::{ConversationId, StoreError, UserId};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::PgStore;
use crate::errors::{corrupt, db};

/// The first key of the owner's quota lock (ASCII "file").
const FILES_LOCK_SPACE: i32 = 0x6669_6c65;

type FileRow = (
    Uuid,
    Uuid,
    String,
    i64,
    i64,
    Option<Vec<u8>>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

/// Column list of `files`, in [`FileRow`]'s order.
macro_rules! file_columns {
    () => {
        "id, owner_id, name, size, created_at_ms, sha256, mime, completed_at_ms, content_size, \
         media::text"
    };
}

fn size_of(size: u64) -> StoreResult<i64> {
    i64::try_from(size).map_err(|_| corrupt(format!("file size {size}")))
}

fn record(row: FileRow) -> StoreResult<FileRecord> {
    let (id, owner, name, size, created_at_ms, sha256, mime, completed_at_ms, content_size, media) =
        row;
    let content = match (sha256, mime, completed_at_ms, content_size) {
        (Some(sha256), Some(mime), Some(completed_at_ms), Some(content_size)) => {
            Some(FileContent {
                sha256: sha256
                    .try_into()
                    .map_err(|_| corrupt("sha256 of the wrong length"))?,
                size: u64::try_from(content_size)
                    .map_err(|_| corrupt(format!("stored size {content_size}")))?,
                mime,
                completed_at_ms,
                media: media
                    .map(|json| serde_json::from_str::<MediaInfo>(&json))
                    .transpose()
                    .map_err(|err| corrupt(format!("media of a file: {err}")))?,
            })
        }
        (None, None, None, None) => None,
        _ => return Err(corrupt("file half complete")),
    };
    Ok(FileRecord {
        id: FileId(id),
        owner: UserId(owner),
        name: FileName::from_trusted(name),
        size: u64::try_from(size).map_err(|_| corrupt(format!("file size {size}")))?,
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

async fn file_in(conn: &mut PgConnection, id: FileId) -> StoreResult<Option<FileRecord>> {
    let row: Option<FileRow> = sqlx::query_as(concat!(
        "SELECT ",
        file_columns!(),
        " FROM files WHERE id = $1"
    ))
    .bind(id.0)
    .fetch_optional(conn)
    .await
    .map_err(db)?;
    row.map(record).transpose()
}

#[async_trait]
impl FileStore for PgStore {
    async fn create_upload(
        &self,
        upload: NewUpload,
        quota_bytes: u64,
    ) -> StoreResult<CreateUpload> {
        let mut tx = self.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2::text))")
            .bind(FILES_LOCK_SPACE)
            .bind(upload.owner.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let used: i64 = sqlx::query_scalar(
            "SELECT COALESCE(SUM(size), 0)::bigint FROM files WHERE owner_id = $1",
        )
        .bind(upload.owner.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        let used_bytes = u64::try_from(used).map_err(|_| corrupt("negative usage"))?;
        if used_bytes.saturating_add(upload.size) > quota_bytes {
            return Ok(CreateUpload::OverQuota { used_bytes });
        }
        sqlx::query(
            "INSERT INTO files (id, owner_id, name, size, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(upload.id.0)
        .bind(upload.owner.0)
        .bind(upload.name.as_str())
        .bind(size_of(upload.size)?)
        .bind(upload.created_at_ms)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
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
        let mut conn = self.pool().acquire().await.map_err(db)?;
        file_in(&mut conn, id).await
    }

    async fn complete(&self, id: FileId, content: FileContent) -> StoreResult<FileRecord> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE files SET sha256 = $1, mime = $2, completed_at_ms = $3, content_size = $4, \
             media = $5::jsonb WHERE id = $6 AND completed_at_ms IS NULL",
        )
        .bind(content.sha256.as_slice())
        .bind(&content.mime)
        .bind(content.completed_at_ms)
        .bind(size_of(content.size)?)
        .bind(media_json(content.media.as_ref())?)
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let file = file_in(&mut tx, id).await?.ok_or(StoreError::NotFound)?;
        tx.commit().await.map_err(db)?;
        Ok(file)
    }

    async fn delete_upload(&self, id: FileId) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let complete: Option<bool> = sqlx::query_scalar(
            "SELECT completed_at_ms IS NOT NULL FROM files WHERE id = $1 FOR UPDATE",
        )
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        match complete {
            None => return Err(StoreError::NotFound),
            Some(true) => return Err(StoreError::Conflict("the upload is complete".into())),
            Some(false) => {}
        }
        crate::file_collection::unpin_all(&mut tx, id).await?;
        sqlx::query("DELETE FROM files WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn stale_uploads(&self, before_ms: i64, limit: u32) -> StoreResult<Vec<FileId>> {
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "SELECT id FROM files WHERE completed_at_ms IS NULL AND created_at_ms < $1 \
             ORDER BY created_at_ms LIMIT $2",
        )
        .bind(before_ms)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        Ok(ids.into_iter().map(FileId).collect())
    }

    async fn files(&self, ids: &[FileId]) -> StoreResult<Vec<FileRecord>> {
        let ids: Vec<Uuid> = ids.iter().map(|id| id.0).collect();
        let rows: Vec<FileRow> = sqlx::query_as(concat!(
            "SELECT ",
            file_columns!(),
            " FROM files WHERE id = ANY($1)"
        ))
        .bind(&ids)
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        rows.into_iter().map(record).collect()
    }

    async fn add_references(&self, references: &[FileReference]) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        // Each file locked against the collector's delete (in id order, as every locker here).
        let mut files: Vec<Uuid> = references.iter().map(|r| r.file.0).collect();
        files.sort_unstable();
        files.dedup();
        let found: Vec<Uuid> =
            sqlx::query_scalar("SELECT id FROM files WHERE id = ANY($1) ORDER BY id FOR SHARE")
                .bind(&files)
                .fetch_all(&mut *tx)
                .await
                .map_err(db)?;
        if found.len() != files.len() {
            return Err(StoreError::NotFound);
        }
        for reference in references {
            sqlx::query(
                "INSERT INTO file_refs (file_id, conversation_id, sender_id, client_msg_id, \
                 created_at_ms) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(reference.file.0)
            .bind(reference.conversation.0)
            .bind(reference.sender.0)
            .bind(reference.client_msg_id.as_str())
            .bind(reference.at_ms)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn release_references(
        &self,
        conversation: ConversationId,
        sender: UserId,
        client_msg_id: &ClientMsgId,
        at_ms: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE file_refs SET released_at_ms = $1 WHERE conversation_id = $2 \
             AND sender_id = $3 AND client_msg_id = $4 AND released_at_ms IS NULL",
        )
        .bind(at_ms)
        .bind(conversation.0)
        .bind(sender.0)
        .bind(client_msg_id.as_str())
        .execute(self.pool())
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn showing_conversations(&self, file: FileId) -> StoreResult<Vec<ConversationId>> {
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "SELECT DISTINCT conversation_id FROM file_refs \
             WHERE file_id = $1 AND released_at_ms IS NULL",
        )
        .bind(file.0)
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        Ok(ids.into_iter().map(ConversationId).collect())
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
