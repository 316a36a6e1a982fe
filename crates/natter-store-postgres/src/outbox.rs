//! [`PushOutbox`]: the durable queue of push notifications per user, written by the notifier
//! (a consumer of the message event log, which delivers at least once).
//!
//! The primary key `(user_id, message_id)` makes enqueueing idempotent: a replayed event's
//! pushes hit `ON CONFLICT DO NOTHING` and add nothing, even within one batch.

use async_trait::async_trait;
use natter_domain::ports::{PendingPush, PushOutbox, StoreResult};
use natter_domain::{ConversationId, MessageId, UserId};
use uuid::Uuid;

use crate::PgStore;
use crate::errors::db;

#[derive(sqlx::FromRow)]
struct PushRow {
    user_id: Uuid,
    conversation_id: Uuid,
    message_id: i64,
    seq: i64,
    sender_id: Uuid,
    preview: String,
    mentioned: bool,
    created_at_ms: i64,
}

impl PushRow {
    fn into_push(self) -> PendingPush {
        PendingPush {
            user_id: UserId(self.user_id),
            conversation_id: ConversationId(self.conversation_id),
            message_id: MessageId(self.message_id),
            seq: self.seq,
            sender_id: UserId(self.sender_id),
            preview: self.preview,
            mentioned: self.mentioned,
            created_at_ms: self.created_at_ms,
        }
    }
}

#[async_trait]
impl PushOutbox for PgStore {
    async fn enqueue(&self, pushes: &[PendingPush]) -> StoreResult<()> {
        if pushes.is_empty() {
            return Ok(());
        }
        // One statement for the batch: parallel arrays, unnested into rows.
        let column = |f: fn(&PendingPush) -> Uuid| pushes.iter().map(f).collect::<Vec<_>>();
        sqlx::query(
            "INSERT INTO push_outbox (user_id, conversation_id, message_id, seq, sender_id, \
               preview, mentioned, created_at_ms) \
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::bigint[], $5::uuid[], \
               $6::text[], $7::boolean[], $8::bigint[]) \
             ON CONFLICT (user_id, message_id) DO NOTHING",
        )
        .bind(column(|p| p.user_id.0))
        .bind(column(|p| p.conversation_id.0))
        .bind(pushes.iter().map(|p| p.message_id.0).collect::<Vec<_>>())
        .bind(pushes.iter().map(|p| p.seq).collect::<Vec<_>>())
        .bind(column(|p| p.sender_id.0))
        .bind(pushes.iter().map(|p| p.preview.clone()).collect::<Vec<_>>())
        .bind(pushes.iter().map(|p| p.mentioned).collect::<Vec<_>>())
        .bind(pushes.iter().map(|p| p.created_at_ms).collect::<Vec<_>>())
        .execute(self.pool())
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn pending(&self, user: UserId, limit: u32) -> StoreResult<Vec<PendingPush>> {
        let rows: Vec<PushRow> = sqlx::query_as(
            "SELECT user_id, conversation_id, message_id, seq, sender_id, preview, mentioned, \
               created_at_ms FROM push_outbox WHERE user_id = $1 \
             ORDER BY created_at_ms, message_id LIMIT $2",
        )
        .bind(user.0)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        Ok(rows.into_iter().map(PushRow::into_push).collect())
    }
}
