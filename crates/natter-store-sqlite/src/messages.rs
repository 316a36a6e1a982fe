//! [`MessageStore`]: append with gap-free seq allocation and idempotency (batched into shared
//! transactions by [`crate::writer`]), changes (edit, delete,
//! reactions) that bump the conversation's change counter, and history reads.
//!
//! Deleting is soft and final: the text becomes empty, mentions and reactions are removed, and
//! later changes to a deleted message (a second delete, an edit, a reaction) are no-ops that
//! return it unchanged without bumping `mod_seq`. The same holds for adding a reaction that
//! exists or removing one that does not: nothing changed, so nothing needs syncing.

use async_trait::async_trait;
use natter_domain::ConversationId;
use natter_domain::StoreError;
use natter_domain::UserId;
use natter_domain::model::*;
use natter_domain::ports::{MessageStore, QueuedAppend, StoreResult};
use natter_domain::rules::{Effect, message_effect};
use rusqlite::{Connection, params};

use crate::query::{all, exec, one};
use crate::rows::{
    MentionRow, MessageRow, ReactionRow, attachments_json, group_reactions, message_columns,
    user_id,
};
use crate::{SqliteStore, next_change};

/// Attach mentions and reactions to bare message rows (two queries, whatever the count).
pub(crate) fn complete(conn: &Connection, rows: Vec<MessageRow>) -> StoreResult<Vec<Message>> {
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
    let mentions: Vec<MentionRow> = all(
        conn,
        "SELECT seq, user_id FROM mentions \
         WHERE conversation_id = ? AND seq IN (SELECT value FROM json_each(?)) ORDER BY seq, position",
        params![conv, seqs],
        MentionRow::from_row,
    )?;
    let reactions: Vec<ReactionRow> = all(
        conn,
        "SELECT seq, emoji, user_id FROM reactions \
         WHERE conversation_id = ? AND seq IN (SELECT value FROM json_each(?)) ORDER BY seq, position",
        params![conv, seqs],
        ReactionRow::from_row,
    )?;
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

/// The message at `seq`, with its mentions and reactions.
pub(crate) fn load(
    conn: &Connection,
    conversation: ConversationId,
    seq: i64,
) -> StoreResult<Option<Message>> {
    let row = one(
        conn,
        concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE conversation_id = ? AND seq = ?"
        ),
        params![conversation.0.as_bytes().as_slice(), seq],
        MessageRow::from_row,
    )?;
    match row {
        Some(row) => Ok(complete(conn, vec![row])?.pop()),
        None => Ok(None),
    }
}

/// Insert `mentions` (duplicates dropped, first one kept); the ones inserted, in order.
fn insert_mentions(
    conn: &Connection,
    conversation: ConversationId,
    seq: i64,
    mentions: &[UserId],
) -> StoreResult<Vec<UserId>> {
    let mut seen: Vec<UserId> = Vec::with_capacity(mentions.len());
    for user in mentions {
        if seen.contains(user) {
            continue;
        }
        seen.push(*user);
        exec(
            conn,
            "INSERT INTO mentions (conversation_id, seq, user_id, position) VALUES (?, ?, ?, ?)",
            params![
                conversation.0.as_bytes().as_slice(),
                seq,
                user.0.as_bytes().as_slice(),
                seen.len() as i64
            ],
        )?;
    }
    Ok(seen)
}

/// Give the message the conversation's next change number (and stamp the conversation for sync).
fn bump(conn: &Connection, conversation: ConversationId, seq: i64) -> StoreResult<()> {
    let change = next_change(conn)?;
    let conv = conversation.0.as_bytes().as_slice();
    let mod_seq: i64 = one(
        conn,
        "UPDATE conversations SET last_mod = last_mod + 1, changed_at = ? WHERE id = ? RETURNING last_mod",
        params![change, conv],
        |row| row.get(0),
    )?
    .ok_or(StoreError::NotFound)?;
    exec(
        conn,
        "UPDATE messages SET mod_seq = ? WHERE conversation_id = ? AND seq = ?",
        params![mod_seq, conv, seq],
    )?;
    Ok(())
}

/// Write what a change does to `message` (the rules decided it: `natter_domain::rules`).
fn write_effect(conn: &Connection, message: &Message, effect: Effect) -> StoreResult<()> {
    let conv = message.conversation_id.0.as_bytes().as_slice();
    let seq = message.seq;
    match effect {
        Effect::Edit {
            text,
            mentions,
            edited_at_ms,
        } => {
            exec(
                conn,
                "UPDATE messages SET text = ?, edited_at_ms = ? WHERE conversation_id = ? AND seq = ?",
                params![text.as_str(), edited_at_ms, conv, seq],
            )?;
            exec(
                conn,
                "DELETE FROM mentions WHERE conversation_id = ? AND seq = ?",
                params![conv, seq],
            )?;
            insert_mentions(conn, message.conversation_id, seq, &mentions)?;
        }
        Effect::Delete => {
            for text in [
                "UPDATE messages SET text = '', deleted = 1, attachments = NULL \
                 WHERE conversation_id = ? AND seq = ?",
                "DELETE FROM mentions WHERE conversation_id = ? AND seq = ?",
                "DELETE FROM reactions WHERE conversation_id = ? AND seq = ?",
            ] {
                exec(conn, text, params![conv, seq])?;
            }
        }
        Effect::AddReaction { user_id, emoji } => {
            exec(
                conn,
                "INSERT INTO reactions (conversation_id, seq, emoji, user_id, position) \
                 SELECT ?1, ?2, ?3, ?4, COALESCE(MAX(position), 0) + 1 FROM reactions \
                 WHERE conversation_id = ?1 AND seq = ?2",
                params![conv, seq, emoji.as_str(), user_id.0.as_bytes().as_slice()],
            )?;
        }
        Effect::RemoveReaction { user_id, emoji } => {
            exec(
                conn,
                "DELETE FROM reactions WHERE conversation_id = ? AND seq = ? AND emoji = ? AND user_id = ?",
                params![conv, seq, emoji.as_str(), user_id.0.as_bytes().as_slice()],
            )?;
        }
    }
    Ok(())
}

/// Append on the writer thread, inside its batch's transaction: nothing is durable until that
/// commits. The stored message is built from what was inserted, not read back.
fn append_in(conn: &Connection, message: NewMessage) -> StoreResult<AppendOutcome> {
    let conv = message.conversation_id.0.as_bytes().as_slice();
    let existing = one(
        conn,
        concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE conversation_id = ? AND sender_id = ? AND client_msg_id = ?"
        ),
        params![
            conv,
            message.sender_id.0.as_bytes().as_slice(),
            message.client_msg_id.as_str()
        ],
        MessageRow::from_row,
    )?;
    if let Some(row) = existing {
        let original = complete(conn, vec![row])?
            .pop()
            .ok_or(StoreError::NotFound)?;
        return Ok(AppendOutcome::Duplicate(original));
    }

    let change = next_change(conn)?;
    let (seq, mod_seq): (i64, i64) = one(
        conn,
        "UPDATE conversations SET last_seq = last_seq + 1, last_mod = last_mod + 1, \
         last_activity_ms = MAX(last_activity_ms, ?), changed_at = ? WHERE id = ? \
         RETURNING last_seq, last_mod",
        params![message.created_at_ms, change, conv],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?
    .ok_or(StoreError::NotFound)?;
    exec(
        conn,
        "INSERT INTO messages (conversation_id, seq, id, mod_seq, sender_id, client_msg_id, text, \
         reply_to_seq, created_at_ms, attachments) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        params![
            conv,
            seq,
            message.id.0,
            mod_seq,
            message.sender_id.0.as_bytes().as_slice(),
            message.client_msg_id.as_str(),
            message.text.as_str(),
            message.reply_to_seq,
            message.created_at_ms,
            attachments_json(&message.attachments)?
        ],
    )?;
    let mentions = insert_mentions(conn, message.conversation_id, seq, &message.mentions)?;
    // Its notifications are owed from the moment it commits (docs/push.md).
    exec(
        conn,
        "INSERT INTO push_queue (conversation_id, seq, created_at_ms) VALUES (?, ?, ?)",
        params![conv, seq, message.created_at_ms],
    )?;
    Ok(AppendOutcome::Created(Message {
        id: message.id,
        conversation_id: message.conversation_id,
        seq,
        mod_seq,
        sender_id: message.sender_id,
        client_msg_id: message.client_msg_id,
        text: message.text.as_str().to_owned(),
        reply_to_seq: message.reply_to_seq,
        mentions,
        created_at_ms: message.created_at_ms,
        edited_at_ms: None,
        deleted: false,
        reactions: Vec::new(),
        attachments: message.attachments,
    }))
}

/// The newest page is the page before "infinity"; pages before a seq are read newest first (so
/// LIMIT keeps the closest ones) and reversed.
fn history_in(
    conn: &Connection,
    conversation: ConversationId,
    query: HistoryQuery,
) -> StoreResult<Vec<Message>> {
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
    let (text, bound, limit, descending) = match query {
        HistoryQuery::Latest { limit } => (BEFORE, i64::MAX, limit, true),
        HistoryQuery::Before { before, limit } => (BEFORE, before, limit, true),
        HistoryQuery::After { after, limit } => (AFTER, after, limit, false),
    };
    let mut rows = all(
        conn,
        text,
        params![
            conversation.0.as_bytes().as_slice(),
            bound,
            i64::from(limit)
        ],
        MessageRow::from_row,
    )?;
    if descending {
        rows.reverse();
    }
    complete(conn, rows)
}

#[async_trait]
impl MessageStore for SqliteStore {
    async fn append(&self, message: NewMessage) -> StoreResult<AppendOutcome> {
        self.write(move |conn| append_in(conn, message)).await
    }

    /// The one writer commits in queue order: the append is queued, and the caller may let the
    /// conversation's next write in before this one's commit.
    async fn queue_append(&self, message: NewMessage) -> StoreResult<QueuedAppend> {
        let committed = self
            .queue_write(move |conn| append_in(conn, message))
            .await?;
        Ok(QueuedAppend::new(committed))
    }

    async fn change(
        &self,
        conversation: ConversationId,
        seq: i64,
        change: MessageChange,
        now_ms: i64,
    ) -> StoreResult<Message> {
        self.write(move |conn| {
            let current = load(conn, conversation, seq)?.ok_or(StoreError::NotFound)?;
            // A no-op writes nothing and reports the state as it is.
            let Some(effect) = message_effect(&current, change, now_ms) else {
                return Ok(current);
            };
            write_effect(conn, &current, effect)?;
            bump(conn, conversation, seq)?;
            crate::push_queue::message_changed(conn, conversation, seq)?;
            load(conn, conversation, seq)?.ok_or(StoreError::NotFound)
        })
        .await
    }

    async fn message(
        &self,
        conversation: ConversationId,
        seq: i64,
    ) -> StoreResult<Option<Message>> {
        self.read(move |conn| load(conn, conversation, seq)).await
    }

    async fn history(
        &self,
        conversation: ConversationId,
        query: HistoryQuery,
    ) -> StoreResult<Vec<Message>> {
        self.read(move |conn| history_in(conn, conversation, query))
            .await
    }

    async fn changes_since(
        &self,
        conversation: ConversationId,
        after_mod: i64,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        self.read(move |conn| {
            let rows = all(
                conn,
                concat!(
                    "SELECT ",
                    message_columns!(),
                    " FROM messages WHERE conversation_id = ? AND mod_seq > ? ORDER BY mod_seq LIMIT ?"
                ),
                params![
                    conversation.0.as_bytes().as_slice(),
                    after_mod,
                    i64::from(limit)
                ],
                MessageRow::from_row,
            )?;
            complete(conn, rows)
        })
        .await
    }
}
