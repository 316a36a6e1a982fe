//! [`MessageStore`]: append with gap-free seq allocation and idempotency (batched into shared
//! transactions by [`crate::group_commit`]), changes (edit, delete,
//! reactions) that bump the conversation's change counter, and history reads.
//!
//! Deleting is soft and final: the text becomes empty, mentions and reactions are removed, and
//! later changes to a deleted message (a second delete, an edit, a reaction) are no-ops that
//! return it unchanged without bumping `mod_seq`. The same holds for adding a reaction that
//! exists or removing one that does not: nothing changed, so nothing needs syncing.

use async_trait::async_trait;
use natter_domain::ConversationId;
use natter_domain::StoreError;
use natter_domain::model::*;
use natter_domain::ports::{MessageStore, StoreResult};
use sqlx::SqliteConnection;

use crate::errors::db;
use crate::rows::{
    MentionRow, MessageRow, ReactionRow, attachments_json, group_reactions, message_columns,
    user_id,
};
use crate::{SqliteStore, commit, next_change};

/// Attach mentions and reactions to bare message rows (two queries, whatever the count).
pub(crate) async fn complete(
    conn: &mut SqliteConnection,
    rows: Vec<MessageRow>,
) -> StoreResult<Vec<Message>> {
    let seqs = format!(
        "[{}]",
        rows.iter()
            .map(|r| r.seq.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    let mut messages = rows
        .into_iter()
        .map(MessageRow::into_message)
        .collect::<StoreResult<Vec<_>>>()?;
    // Every caller loads rows of one conversation.
    let Some(conversation) = messages.first().map(|m| m.conversation_id) else {
        return Ok(messages);
    };
    let conv = conversation.0.as_bytes().as_slice();

    let mentions: Vec<MentionRow> = sqlx::query_as(
        "SELECT seq, user_id FROM mentions \
         WHERE conversation_id = ? AND seq IN (SELECT value FROM json_each(?)) ORDER BY seq, position",
    )
    .bind(conv)
    .bind(&seqs)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let reactions: Vec<ReactionRow> = sqlx::query_as(
        "SELECT seq, emoji, user_id FROM reactions \
         WHERE conversation_id = ? AND seq IN (SELECT value FROM json_each(?)) ORDER BY seq, position",
    )
    .bind(conv)
    .bind(&seqs)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;

    for message in &mut messages {
        for mention in mentions.iter().filter(|m| m.seq == message.seq) {
            message.mentions.push(user_id(&mention.user_id)?);
        }
        let mine = reactions
            .iter()
            .filter(|r| r.seq == message.seq)
            .map(|r| Ok((r.emoji.clone(), user_id(&r.user_id)?)))
            .collect::<StoreResult<Vec<_>>>()?;
        message.reactions = group_reactions(mine);
    }
    Ok(messages)
}

pub(crate) async fn load(
    conn: &mut SqliteConnection,
    conversation: ConversationId,
    seq: i64,
) -> StoreResult<Option<Message>> {
    let row: Option<MessageRow> = sqlx::query_as(concat!(
        "SELECT ",
        message_columns!(),
        " FROM messages WHERE conversation_id = ? AND seq = ?"
    ))
    .bind(conversation.0.as_bytes().as_slice())
    .bind(seq)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    match row {
        Some(row) => Ok(complete(conn, vec![row]).await?.pop()),
        None => Ok(None),
    }
}

async fn insert_mentions(
    conn: &mut SqliteConnection,
    conversation: ConversationId,
    seq: i64,
    mentions: &[natter_domain::UserId],
) -> StoreResult<()> {
    let mut seen = Vec::with_capacity(mentions.len());
    for user in mentions {
        if seen.contains(user) {
            continue;
        }
        seen.push(*user);
        sqlx::query(
            "INSERT INTO mentions (conversation_id, seq, user_id, position) VALUES (?, ?, ?, ?)",
        )
        .bind(conversation.0.as_bytes().as_slice())
        .bind(seq)
        .bind(user.0.as_bytes().as_slice())
        .bind(seen.len() as i64)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    }
    Ok(())
}

/// Give the message the conversation's next change number (and stamp the conversation for sync).
async fn bump(
    conn: &mut SqliteConnection,
    conversation: ConversationId,
    seq: i64,
) -> StoreResult<()> {
    let change = next_change(conn).await?;
    let conv = conversation.0.as_bytes().as_slice();
    let mod_seq: i64 = sqlx::query_scalar(
        "UPDATE conversations SET last_mod = last_mod + 1, changed_at = ? WHERE id = ? RETURNING last_mod",
    )
    .bind(change)
    .bind(conv)
    .fetch_one(&mut *conn)
    .await
    .map_err(db)?;
    sqlx::query("UPDATE messages SET mod_seq = ? WHERE conversation_id = ? AND seq = ?")
        .bind(mod_seq)
        .bind(conv)
        .bind(seq)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    Ok(())
}

/// Apply `change` to an existing, not deleted message; `false` if it was a no-op.
async fn apply(
    conn: &mut SqliteConnection,
    message: &Message,
    change: MessageChange,
    now_ms: i64,
) -> StoreResult<bool> {
    let conv = message.conversation_id.0.as_bytes().as_slice();
    let seq = message.seq;
    match change {
        MessageChange::Edit { text, mentions } => {
            sqlx::query("UPDATE messages SET text = ?, edited_at_ms = ? WHERE conversation_id = ? AND seq = ?")
                .bind(text.as_str())
                .bind(now_ms)
                .bind(conv)
                .bind(seq)
                .execute(&mut *conn)
                .await
                .map_err(db)?;
            sqlx::query("DELETE FROM mentions WHERE conversation_id = ? AND seq = ?")
                .bind(conv)
                .bind(seq)
                .execute(&mut *conn)
                .await
                .map_err(db)?;
            insert_mentions(conn, message.conversation_id, seq, &mentions).await?;
            Ok(true)
        }
        MessageChange::Delete => {
            for sql in [
                "UPDATE messages SET text = '', deleted = 1, attachments = NULL \
                 WHERE conversation_id = ? AND seq = ?",
                "DELETE FROM mentions WHERE conversation_id = ? AND seq = ?",
                "DELETE FROM reactions WHERE conversation_id = ? AND seq = ?",
            ] {
                sqlx::query(sql)
                    .bind(conv)
                    .bind(seq)
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
            }
            Ok(true)
        }
        MessageChange::AddReaction { user_id, emoji } => {
            let inserted = sqlx::query(
                "INSERT INTO reactions (conversation_id, seq, emoji, user_id, position) \
                 SELECT ?1, ?2, ?3, ?4, COALESCE(MAX(position), 0) + 1 FROM reactions \
                 WHERE conversation_id = ?1 AND seq = ?2 \
                 ON CONFLICT (conversation_id, seq, emoji, user_id) DO NOTHING",
            )
            .bind(conv)
            .bind(seq)
            .bind(emoji.as_str())
            .bind(user_id.0.as_bytes().as_slice())
            .execute(&mut *conn)
            .await
            .map_err(db)?;
            Ok(inserted.rows_affected() > 0)
        }
        MessageChange::RemoveReaction { user_id, emoji } => {
            let removed = sqlx::query(
                "DELETE FROM reactions WHERE conversation_id = ? AND seq = ? AND emoji = ? AND user_id = ?",
            )
            .bind(conv)
            .bind(seq)
            .bind(emoji.as_str())
            .bind(user_id.0.as_bytes().as_slice())
            .execute(&mut *conn)
            .await
            .map_err(db)?;
            Ok(removed.rows_affected() > 0)
        }
    }
}

/// Append inside the caller's write transaction (see [`crate::group_commit`]). Nothing is
/// durable until that transaction commits.
pub(crate) async fn append_in(
    tx: &mut SqliteConnection,
    message: &NewMessage,
) -> StoreResult<AppendOutcome> {
    let conv = message.conversation_id.0.as_bytes().as_slice();
    let existing: Option<MessageRow> = sqlx::query_as(concat!(
        "SELECT ",
        message_columns!(),
        " FROM messages WHERE conversation_id = ? AND sender_id = ? AND client_msg_id = ?"
    ))
    .bind(conv)
    .bind(message.sender_id.0.as_bytes().as_slice())
    .bind(message.client_msg_id.as_str())
    .fetch_optional(&mut *tx)
    .await
    .map_err(db)?;
    if let Some(row) = existing {
        let original = complete(tx, vec![row])
            .await?
            .pop()
            .ok_or(StoreError::NotFound)?;
        return Ok(AppendOutcome::Duplicate(original));
    }

    let change = next_change(tx).await?;
    let allocated: Option<(i64, i64)> = sqlx::query_as(
        "UPDATE conversations SET last_seq = last_seq + 1, last_mod = last_mod + 1, \
         last_activity_ms = MAX(last_activity_ms, ?), changed_at = ? WHERE id = ? RETURNING last_seq, last_mod",
    )
    .bind(message.created_at_ms)
    .bind(change)
    .bind(conv)
    .fetch_optional(&mut *tx)
    .await
    .map_err(db)?;
    let Some((seq, mod_seq)) = allocated else {
        return Err(StoreError::NotFound);
    };
    sqlx::query(
        "INSERT INTO messages (conversation_id, seq, id, mod_seq, sender_id, client_msg_id, text, \
         reply_to_seq, created_at_ms, attachments) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(conv)
    .bind(seq)
    .bind(message.id.0)
    .bind(mod_seq)
    .bind(message.sender_id.0.as_bytes().as_slice())
    .bind(message.client_msg_id.as_str())
    .bind(message.text.as_str())
    .bind(message.reply_to_seq)
    .bind(message.created_at_ms)
    .bind(attachments_json(&message.attachments)?)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    insert_mentions(tx, message.conversation_id, seq, &message.mentions).await?;
    // Its notifications are owed from the moment it commits (docs/push.md).
    sqlx::query("INSERT INTO push_queue (conversation_id, seq, created_at_ms) VALUES (?, ?, ?)")
        .bind(conv)
        .bind(seq)
        .bind(message.created_at_ms)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    let stored = load(tx, message.conversation_id, seq)
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(AppendOutcome::Created(stored))
}

#[async_trait]
impl MessageStore for SqliteStore {
    async fn append(&self, message: NewMessage) -> StoreResult<AppendOutcome> {
        self.inner.appends.append(message).await
    }

    async fn change(
        &self,
        conversation: ConversationId,
        seq: i64,
        change: MessageChange,
        now_ms: i64,
    ) -> StoreResult<Message> {
        let mut tx = self.write().await?;
        let current = load(&mut tx, conversation, seq)
            .await?
            .ok_or(StoreError::NotFound)?;
        if current.deleted || !apply(&mut tx, &current, change, now_ms).await? {
            // Nothing changed: roll back (the transaction wrote nothing) and report the state.
            tx.rollback().await.map_err(db)?;
            return Ok(current);
        }
        bump(&mut tx, conversation, seq).await?;
        let changed = load(&mut tx, conversation, seq)
            .await?
            .ok_or(StoreError::NotFound)?;
        commit(tx).await?;
        Ok(changed)
    }

    async fn message(
        &self,
        conversation: ConversationId,
        seq: i64,
    ) -> StoreResult<Option<Message>> {
        let mut tx = self.read().await?;
        load(&mut tx, conversation, seq).await
    }

    async fn history(
        &self,
        conversation: ConversationId,
        query: HistoryQuery,
    ) -> StoreResult<Vec<Message>> {
        let conv = conversation.0.as_bytes().as_slice();
        let mut tx = self.read().await?;
        const BEFORE: &str = concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE conversation_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?"
        );
        const AFTER: &str = concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE conversation_id = ? AND seq > ? ORDER BY seq ASC LIMIT ?"
        );
        // The newest page is the page before "infinity"; pages before a seq are read newest
        // first (so LIMIT keeps the closest ones) and reversed below.
        let (sql, bound, limit, descending) = match query {
            HistoryQuery::Latest { limit } => (BEFORE, i64::MAX, limit, true),
            HistoryQuery::Before { before, limit } => (BEFORE, before, limit, true),
            HistoryQuery::After { after, limit } => (AFTER, after, limit, false),
        };
        let mut rows: Vec<MessageRow> = sqlx::query_as(sql)
            .bind(conv)
            .bind(bound)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        if descending {
            rows.reverse();
        }
        complete(&mut tx, rows).await
    }

    async fn changes_since(
        &self,
        conversation: ConversationId,
        after_mod: i64,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        let mut tx = self.read().await?;
        let rows: Vec<MessageRow> = sqlx::query_as(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE conversation_id = ? AND mod_seq > ? ORDER BY mod_seq LIMIT ?"
        ))
        .bind(conversation.0.as_bytes().as_slice())
        .bind(after_mod)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        complete(&mut tx, rows).await
    }
}
