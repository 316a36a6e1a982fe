//! [`MessageStore`] with the bodies in PostgreSQL (so PostgreSQL alone is a complete backend).
//!
//! - **Append** is one statement (so one implicit transaction, one round trip): it locks the
//!   conversation row `FOR UPDATE`, takes `last_seq + 1` / `last_mod + 1`, inserts the message
//!   and advances the conversation. Appends of one conversation therefore run one at a time
//!   whichever process sends them, and seqs are gap-free. Idempotency is the unique index on
//!   `(conversation_id, sender_id, client_msg_id)`: a retry inserts nothing (`ON CONFLICT DO
//!   NOTHING`, which sees committed rows even outside the statement's snapshot), leaves the
//!   conversation untouched, and gets the original back.
//! - **Changes** (edit, delete, reactions) lock the conversation row too, then apply and give
//!   the message the next change number. Deleting is soft and final: the text becomes empty,
//!   mentions and reactions are removed, and later changes to a deleted message (a second
//!   delete, an edit, a reaction) are no-ops that return it unchanged without bumping `mod_seq`.
//!   The same holds for adding a reaction that exists or removing one that does not.

use async_trait::async_trait;
use natter_domain::ConversationId;
use natter_domain::StoreError;
use natter_domain::model::*;
use natter_domain::ports::{MessageStore, StoreResult};
use natter_domain::rules::{self, Effect, message_effect};
use sqlx::PgConnection;

use crate::errors::db;
use crate::rows::{MessageRow, attachments_json, message_columns};
use crate::sequencer::lock_conversation;
use crate::{PgStore, commit};

async fn load(
    conn: &mut PgConnection,
    conversation: ConversationId,
    seq: i64,
) -> StoreResult<Option<Message>> {
    let row: Option<MessageRow> = sqlx::query_as(concat!(
        "SELECT ",
        message_columns!(),
        " FROM messages x WHERE x.conversation_id = $1 AND x.seq = $2"
    ))
    .bind(conversation.0)
    .bind(seq)
    .fetch_optional(conn)
    .await
    .map_err(db)?;
    row.map(MessageRow::into_message).transpose()
}

/// Write what a change does to `message` (the rules decided it: `natter_domain::rules`).
async fn write_effect(
    conn: &mut PgConnection,
    message: &Message,
    effect: Effect,
) -> StoreResult<()> {
    let (conv, seq) = (message.conversation_id.0, message.seq);
    match effect {
        Effect::Edit {
            text,
            mentions,
            edited_at_ms,
        } => sqlx::query(
            "UPDATE messages SET text = $3, mentions = $4, edited_at_ms = $5 \
             WHERE conversation_id = $1 AND seq = $2",
        )
        .bind(conv)
        .bind(seq)
        .bind(text.as_str())
        .bind(mentions.iter().map(|u| u.0).collect::<Vec<_>>())
        .bind(edited_at_ms),
        Effect::Delete => sqlx::query(
            "WITH r AS (DELETE FROM reactions WHERE conversation_id = $1 AND seq = $2) \
             UPDATE messages SET text = '', mentions = '{}', deleted = true, attachments = NULL \
             WHERE conversation_id = $1 AND seq = $2",
        )
        .bind(conv)
        .bind(seq),
        Effect::AddReaction { user_id, emoji } => sqlx::query(
            "INSERT INTO reactions (conversation_id, seq, emoji, user_id) VALUES ($1, $2, $3, $4)",
        )
        .bind(conv)
        .bind(seq)
        .bind(emoji.as_str().to_owned())
        .bind(user_id.0),
        Effect::RemoveReaction { user_id, emoji } => sqlx::query(
            "DELETE FROM reactions \
             WHERE conversation_id = $1 AND seq = $2 AND emoji = $3 AND user_id = $4",
        )
        .bind(conv)
        .bind(seq)
        .bind(emoji.as_str().to_owned())
        .bind(user_id.0),
    }
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct Appended {
    found: bool,
    seq: Option<i64>,
    mod_seq: Option<i64>,
}

#[async_trait]
impl MessageStore for PgStore {
    async fn append(&self, message: NewMessage) -> StoreResult<AppendOutcome> {
        let mentions: Vec<_> = rules::distinct(&message.mentions)
            .iter()
            .map(|u| u.0)
            .collect();
        // c locks the row (MATERIALIZED: before anything reads its values); ins inserts at the
        // next seq unless the idempotency key exists; upd advances the conversation only if
        // ins inserted. Data-modifying CTEs always run to completion.
        let appended: Appended = sqlx::query_as(
            "WITH c AS MATERIALIZED (SELECT last_seq, last_mod FROM conversations \
                                     WHERE id = $1 FOR UPDATE), \
             ins AS (INSERT INTO messages (conversation_id, seq, id, mod_seq, sender_id, \
                       client_msg_id, text, reply_to_seq, mentions, created_at_ms, attachments) \
                     SELECT $1, c.last_seq + 1, $2, c.last_mod + 1, $3, $4, $5, $6, $7, $8, $9 \
                     FROM c \
                     ON CONFLICT (conversation_id, sender_id, client_msg_id) DO NOTHING \
                     RETURNING seq, mod_seq), \
             upd AS (UPDATE conversations SET last_seq = ins.seq, last_mod = ins.mod_seq, \
                       last_activity_ms = GREATEST(last_activity_ms, $8), \
                       changed_at = natter_change_stamp() \
                     FROM ins WHERE id = $1), \
             push AS (INSERT INTO push_queue (conversation_id, seq, created_at_ms) \
                      SELECT $1, ins.seq, $8 FROM ins) \
             SELECT EXISTS (SELECT 1 FROM c) AS found, \
                    (SELECT seq FROM ins) AS seq, (SELECT mod_seq FROM ins) AS mod_seq",
        )
        .bind(message.conversation_id.0)
        .bind(message.id.0)
        .bind(message.sender_id.0)
        .bind(message.client_msg_id.as_str())
        .bind(message.text.as_str())
        .bind(message.reply_to_seq)
        .bind(&mentions)
        .bind(message.created_at_ms)
        .bind(attachments_json(&message.attachments)?)
        .fetch_one(self.pool())
        .await
        .map_err(db)?;
        if !appended.found {
            return Err(StoreError::NotFound);
        }
        let (Some(seq), Some(mod_seq)) = (appended.seq, appended.mod_seq) else {
            // The key was used: the original is committed (ON CONFLICT saw it).
            let row: MessageRow = sqlx::query_as(concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages x \
                 WHERE x.conversation_id = $1 AND x.sender_id = $2 AND x.client_msg_id = $3"
            ))
            .bind(message.conversation_id.0)
            .bind(message.sender_id.0)
            .bind(message.client_msg_id.as_str())
            .fetch_one(self.pool())
            .await
            .map_err(db)?;
            return Ok(AppendOutcome::Duplicate(row.into_message()?));
        };
        Ok(AppendOutcome::Created(Message {
            id: message.id,
            conversation_id: message.conversation_id,
            seq,
            mod_seq,
            sender_id: message.sender_id,
            client_msg_id: message.client_msg_id,
            text: message.text.as_str().to_owned(),
            reply_to_seq: message.reply_to_seq,
            mentions: mentions.into_iter().map(natter_domain::UserId).collect(),
            created_at_ms: message.created_at_ms,
            edited_at_ms: None,
            deleted: false,
            reactions: Vec::new(),
            attachments: message.attachments,
        }))
    }

    async fn change(
        &self,
        conversation: ConversationId,
        seq: i64,
        change: MessageChange,
        now_ms: i64,
    ) -> StoreResult<Message> {
        let mut tx = self.begin().await?;
        lock_conversation(&mut tx, conversation).await?;
        let current = load(&mut tx, conversation, seq)
            .await?
            .ok_or(StoreError::NotFound)?;
        let Some(effect) = message_effect(&current, change, now_ms) else {
            // A no-op: roll back (the transaction wrote nothing) and report the state.
            tx.rollback().await.map_err(db)?;
            return Ok(current);
        };
        write_effect(&mut tx, &current, effect).await?;
        // The next change number, for the conversation and the message; RETURNING reads the
        // message as changed by the statements before.
        // A change to a message someone's devices show queues its update (push_queue.rs).
        let row: MessageRow = sqlx::query_as(concat!(
            "WITH c AS (UPDATE conversations SET last_mod = last_mod + 1, \
                          changed_at = natter_change_stamp() WHERE id = $1 RETURNING last_mod), \
             push AS (INSERT INTO push_queue (conversation_id, seq, changed) \
                      SELECT $1, $2, true WHERE EXISTS (SELECT 1 FROM push_shown \
                        WHERE conversation_id = $1 AND seq = $2)) \
             UPDATE messages x SET mod_seq = c.last_mod FROM c \
             WHERE x.conversation_id = $1 AND x.seq = $2 RETURNING ",
            message_columns!()
        ))
        .bind(conversation.0)
        .bind(seq)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        commit(tx).await?;
        row.into_message()
    }

    async fn message(
        &self,
        conversation: ConversationId,
        seq: i64,
    ) -> StoreResult<Option<Message>> {
        let mut conn = self.pool().acquire().await.map_err(db)?;
        load(&mut conn, conversation, seq).await
    }

    async fn history(
        &self,
        conversation: ConversationId,
        query: HistoryQuery,
    ) -> StoreResult<Vec<Message>> {
        const BEFORE: &str = concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages x WHERE x.conversation_id = $1 AND x.seq < $2 \
             ORDER BY x.seq DESC LIMIT $3"
        );
        const AFTER: &str = concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages x WHERE x.conversation_id = $1 AND x.seq > $2 \
             ORDER BY x.seq ASC LIMIT $3"
        );
        // The newest page is the page before "infinity"; pages before a seq are read newest
        // first (so LIMIT keeps the closest ones) and reversed below.
        let (sql, bound, limit, descending) = match query {
            HistoryQuery::Latest { limit } => (BEFORE, i64::MAX, limit, true),
            HistoryQuery::Before { before, limit } => (BEFORE, before, limit, true),
            HistoryQuery::After { after, limit } => (AFTER, after, limit, false),
        };
        let mut rows: Vec<MessageRow> = sqlx::query_as(sql)
            .bind(conversation.0)
            .bind(bound)
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await
            .map_err(db)?;
        if descending {
            rows.reverse();
        }
        rows.into_iter().map(MessageRow::into_message).collect()
    }

    async fn changes_since(
        &self,
        conversation: ConversationId,
        after_mod: i64,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        let rows: Vec<MessageRow> = sqlx::query_as(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages x WHERE x.conversation_id = $1 AND x.mod_seq > $2 \
             ORDER BY x.mod_seq LIMIT $3"
        ))
        .bind(conversation.0)
        .bind(after_mod)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        rows.into_iter().map(MessageRow::into_message).collect()
    }
}
