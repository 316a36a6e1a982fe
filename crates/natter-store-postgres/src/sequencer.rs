//! [`MessageSequencer`] for a message store that keeps bodies outside PostgreSQL (Cassandra):
//! the conversation row stays here and is the sequence.
//!
//! A ticket is an open transaction holding the conversation row `FOR UPDATE`, so tickets of one
//! conversation are taken one at a time across every process; the body store writes under it
//! and commits through it, which advances `last_seq` / `last_mod` and stamps the conversation
//! for sync in that same transaction. Dropping the ticket rolls back (promptly: the rollback is
//! spawned, see [`roll_back_soon`]), so a body write whose process gives up never becomes
//! visible as committed and its seq is handed out again.
//!
//! The write stamp comes from the `natter_write_stamp` sequence, drawn *after* the row lock is
//! granted: stamps then increase in the order tickets are granted, so a write left behind by a
//! ticket that was never committed always loses to the next ticket's write of the same cell.

use async_trait::async_trait;
use natter_domain::ports::{MessageSequencer, SequenceHead, SequenceTicket, StoreResult};
use natter_domain::{ConversationId, StoreError};
use sqlx::{PgConnection, Postgres, Transaction};

use crate::errors::db;
use crate::{PgStore, roll_back_soon};

/// Lock the conversation row and read its committed counters; `NotFound` if it does not exist.
/// Lock order: callers take this before any member or message row of the conversation.
pub(crate) async fn lock_conversation(
    conn: &mut PgConnection,
    conversation: ConversationId,
) -> StoreResult<(i64, i64)> {
    sqlx::query_as("SELECT last_seq, last_mod FROM conversations WHERE id = $1 FOR UPDATE")
        .bind(conversation.0)
        .fetch_optional(conn)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound)
}

#[async_trait]
impl MessageSequencer for PgStore {
    async fn begin(&self, conversation: ConversationId) -> StoreResult<Box<dyn SequenceTicket>> {
        let mut tx = self.begin().await?;
        // MATERIALIZED: the row lock is granted before nextval runs (see the module docs).
        let row: Option<(i64, i64, i64)> = sqlx::query_as(
            "WITH c AS MATERIALIZED \
               (SELECT last_seq, last_mod FROM conversations WHERE id = $1 FOR UPDATE) \
             SELECT c.last_seq, c.last_mod, nextval('natter_write_stamp') FROM c",
        )
        .bind(conversation.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some((last_seq, last_mod, write_stamp)) = row else {
            roll_back_soon(tx);
            return Err(StoreError::NotFound);
        };
        Ok(Box::new(PgTicket {
            tx: Some(tx),
            conversation,
            head: SequenceHead {
                last_seq,
                last_mod,
                write_stamp,
            },
        }))
    }

    async fn head(&self, conversation: ConversationId) -> StoreResult<SequenceHead> {
        let (last_seq, last_mod): (i64, i64) =
            sqlx::query_as("SELECT last_seq, last_mod FROM conversations WHERE id = $1")
                .bind(conversation.0)
                .fetch_optional(self.pool())
                .await
                .map_err(db)?
                .ok_or(StoreError::NotFound)?;
        Ok(SequenceHead {
            last_seq,
            last_mod,
            write_stamp: 0,
        })
    }
}

/// A conversation's write ticket: the transaction holding its row lock.
struct PgTicket {
    /// `None` only once committed.
    tx: Option<Transaction<'static, Postgres>>,
    conversation: ConversationId,
    head: SequenceHead,
}

impl PgTicket {
    /// Run `sql` (which must update exactly the conversation row, bound as `$1`, count that one
    /// row, and may bind `$2`) and commit.
    async fn finish(mut self: Box<Self>, sql: &'static str, arg: Option<i64>) -> StoreResult<()> {
        let mut tx = self
            .tx
            .take()
            .ok_or_else(|| StoreError::Internal("ticket already used".into()))?;
        let mut query = sqlx::query(sql).bind(self.conversation.0);
        if let Some(arg) = arg {
            query = query.bind(arg);
        }
        let done = query.execute(&mut *tx).await.map_err(db)?;
        if done.rows_affected() != 1 {
            roll_back_soon(tx);
            return Err(StoreError::Internal(format!(
                "sequencer ticket of {} lost its conversation",
                self.conversation
            )));
        }
        tx.commit().await.map_err(db)
    }
}

#[async_trait]
impl SequenceTicket for PgTicket {
    fn head(&self) -> SequenceHead {
        self.head
    }

    async fn commit_append(self: Box<Self>, created_at_ms: i64) -> StoreResult<()> {
        // The message's pushes are owed from this commit on (push_queue.rs).
        self.finish(
            "WITH upd AS (UPDATE conversations SET last_seq = last_seq + 1, \
               last_mod = last_mod + 1, last_activity_ms = GREATEST(last_activity_ms, $2), \
               changed_at = natter_change_stamp() WHERE id = $1 RETURNING last_seq), \
             push AS (INSERT INTO push_queue (conversation_id, seq, created_at_ms) \
               SELECT $1, upd.last_seq, $2 FROM upd) \
             SELECT 1 FROM upd",
            Some(created_at_ms),
        )
        .await
    }

    async fn commit_change(self: Box<Self>) -> StoreResult<()> {
        self.finish(
            "UPDATE conversations SET last_mod = last_mod + 1, \
             changed_at = natter_change_stamp() WHERE id = $1",
            None,
        )
        .await
    }
}

impl Drop for PgTicket {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            roll_back_soon(tx);
        }
    }
}
