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

use crate::SqliteStore;
use crate::counters::{Counter, Counters};
use crate::errors::corrupt;
use crate::query::{all, exec, one};
use crate::rows::{
    MentionRow, MessageRow, ReactionRow, attachments_json, group_reactions, message_columns,
    user_id,
};
use crate::search_index::PendingIndex;
use crate::writer::Undo;

/// Attach mentions and reactions to bare message rows (two queries, whatever the count). A run
/// of consecutive seqs (every history page) is read as one index range; other sets (a resume's
/// changed messages) as a list.
pub(crate) fn complete(conn: &Connection, rows: Vec<MessageRow>) -> StoreResult<Vec<Message>> {
    let seqs = Seqs::of(&rows);
    let mut messages = rows
        .into_iter()
        .map(MessageRow::into_message)
        .collect::<StoreResult<Vec<_>>>()?;
    // Every caller loads rows of one conversation.
    let Some(conversation) = messages.first().map(|m| m.conversation_id) else {
        return Ok(messages);
    };
    let conv = conversation.0.as_bytes().as_slice();
    let (mentions, reactions): (Vec<MentionRow>, Vec<ReactionRow>) = match &seqs {
        Seqs::Range(first, last) => (
            all(
                conn,
                "SELECT seq, user_id FROM mentions \
                 WHERE conversation_id = ? AND seq BETWEEN ? AND ? ORDER BY seq, position",
                params![conv, first, last],
                MentionRow::from_row,
            )?,
            all(
                conn,
                "SELECT seq, emoji, user_id FROM reactions \
                 WHERE conversation_id = ? AND seq BETWEEN ? AND ? ORDER BY seq, position",
                params![conv, first, last],
                ReactionRow::from_row,
            )?,
        ),
        Seqs::List(list) => (
            all(
                conn,
                "SELECT seq, user_id FROM mentions \
                 WHERE conversation_id = ? AND seq IN (SELECT value FROM json_each(?)) ORDER BY seq, position",
                params![conv, list],
                MentionRow::from_row,
            )?,
            all(
                conn,
                "SELECT seq, emoji, user_id FROM reactions \
                 WHERE conversation_id = ? AND seq IN (SELECT value FROM json_each(?)) ORDER BY seq, position",
                params![conv, list],
                ReactionRow::from_row,
            )?,
        ),
    };
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

/// The seqs of the rows [`complete`] is given (distinct: one conversation's).
enum Seqs {
    /// Every seq from the first to the last, in one index range.
    Range(i64, i64),
    /// A JSON array of the seqs.
    List(String),
}

impl Seqs {
    fn of(rows: &[MessageRow]) -> Self {
        let first = rows.iter().map(|r| r.seq).min().unwrap_or(0);
        let last = rows.iter().map(|r| r.seq).max().unwrap_or(-1);
        if usize::try_from(last - first + 1).is_ok_and(|span| span == rows.len()) {
            return Self::Range(first, last);
        }
        let list = rows
            .iter()
            .map(|r| r.seq.to_string())
            .collect::<Vec<_>>()
            .join(",");
        Self::List(format!("[{list}]"))
    }
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
fn bump(
    conn: &Connection,
    counters: &mut Counters,
    conversation: ConversationId,
    seq: i64,
) -> StoreResult<()> {
    let counter = counters
        .get(conn, conversation)?
        .ok_or(StoreError::NotFound)?;
    let mod_seq = counter.last_mod + 1;
    let change = counters.next_change(conn)?;
    let conv = conversation.0.as_bytes().as_slice();
    exec(
        conn,
        "UPDATE conversations SET last_mod = ?, changed_at = ? WHERE id = ?",
        params![mod_seq, change, conv],
    )?;
    counters.set(
        conversation,
        Counter {
            last_mod: mod_seq,
            ..counter
        },
    );
    exec(
        conn,
        "UPDATE messages SET mod_seq = ?, changed = 1 WHERE conversation_id = ? AND seq = ?",
        params![mod_seq, conv, seq],
    )?;
    Ok(())
}

/// Write what a change does to `message` (the rules decided it: `natter_domain::rules`).
fn write_effect(
    conn: &Connection,
    search: &mut PendingIndex,
    message: &Message,
    effect: Effect,
) -> StoreResult<()> {
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
            search.remove(message.id.0);
            search.put(message.id.0, text.as_str());
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
            search.remove(message.id.0);
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
/// commits. `seq` and `mod_seq` come from the writer's [`Counters`]; the insert itself tells a
/// retry (the idempotency key exists: nothing is written and the original is returned). The
/// stored message is built from what was inserted, not read back. `terms`: the text folded for
/// the search index ([`natter_domain::search::index_text`]).
fn append_in(
    conn: &Connection,
    counters: &mut Counters,
    message: NewMessage,
    terms: String,
) -> StoreResult<AppendOutcome> {
    let conv = message.conversation_id.0.as_bytes().as_slice();
    let counter = counters
        .get(conn, message.conversation_id)?
        .ok_or(StoreError::NotFound)?;
    let (seq, mod_seq) = (counter.last_seq + 1, counter.last_mod + 1);
    let inserted = exec(
        conn,
        "INSERT INTO messages (conversation_id, seq, id, mod_seq, created_mod, sender_id, \
         client_msg_id, text, reply_to_seq, created_at_ms, attachments) \
         VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
         ON CONFLICT (conversation_id, sender_id, client_msg_id) DO NOTHING",
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
    if inserted == 0 {
        return duplicate(conn, &message).map(AppendOutcome::Duplicate);
    }
    counters.set(
        message.conversation_id,
        Counter {
            last_seq: seq,
            last_mod: mod_seq,
        },
    );
    let change = counters.next_change(conn)?;
    counters.appended(message.conversation_id, message.created_at_ms, change);
    let mentions = insert_mentions(conn, message.conversation_id, seq, &message.mentions)?;
    counters.search.put_terms(message.id.0, terms);
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

/// The message `message` retries (same conversation, sender and client id), as stored.
fn duplicate(conn: &Connection, message: &NewMessage) -> StoreResult<Message> {
    let row = one(
        conn,
        concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE conversation_id = ? AND sender_id = ? AND client_msg_id = ?"
        ),
        params![
            message.conversation_id.0.as_bytes().as_slice(),
            message.sender_id.0.as_bytes().as_slice(),
            message.client_msg_id.as_str()
        ],
        MessageRow::from_row,
    )?
    .ok_or_else(|| corrupt("an insert conflicted with a message that is not there"))?;
    complete(conn, vec![row])?.pop().ok_or(StoreError::NotFound)
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

/// The first seq of `conversation` created after change `after_mod` (one past its last message if
/// none was): `created_mod` never decreases as `seq` grows, so a binary search over seqs, each
/// probe one lookup in `messages_by_seq`.
fn first_created_after(conn: &Connection, conv: &[u8], after_mod: i64) -> StoreResult<i64> {
    let last_seq: i64 = one(
        conn,
        "SELECT last_seq FROM conversations WHERE id = ?",
        params![conv],
        |row| row.get(0),
    )?
    .unwrap_or(0);
    let (mut low, mut high) = (1, last_seq + 1);
    while low < high {
        let middle = low + (high - low) / 2;
        let created: i64 = one(
            conn,
            "SELECT created_mod FROM messages WHERE conversation_id = ? AND seq = ?",
            params![conv, middle],
            |row| row.get(0),
        )?
        .ok_or_else(|| corrupt(format!("message {middle} missing below the last seq")))?;
        if created > after_mod {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    Ok(low)
}

/// Messages whose `mod_seq` is above `after_mod`, in `mod_seq` order: the unchanged ones are the
/// seqs from [`first_created_after`] on (their `mod_seq` grows with `seq`), the changed ones come
/// from their partial index; the two are merged.
fn changes_in(
    conn: &Connection,
    conversation: ConversationId,
    after_mod: i64,
    limit: u32,
) -> StoreResult<Vec<Message>> {
    let conv = conversation.0.as_bytes().as_slice();
    let first = first_created_after(conn, conv, after_mod)?;
    let rows = all(
        conn,
        concat!(
            "SELECT * FROM (SELECT ",
            message_columns!(),
            " FROM messages WHERE conversation_id = ?1 AND seq >= ?3 AND changed = 0 \
             ORDER BY seq LIMIT ?4) UNION ALL SELECT * FROM (SELECT ",
            message_columns!(),
            " FROM messages WHERE conversation_id = ?1 AND changed = 1 AND mod_seq > ?2 \
             ORDER BY mod_seq LIMIT ?4) ORDER BY mod_seq LIMIT ?4"
        ),
        params![conv, after_mod, first, i64::from(limit)],
        MessageRow::from_row,
    )?;
    complete(conn, rows)
}

#[async_trait]
impl MessageStore for SqliteStore {
    async fn append(&self, message: NewMessage) -> StoreResult<AppendOutcome> {
        self.queue_append(message, None).await?.committed().await
    }

    /// The one writer commits in queue order: the append is queued, and the caller may let the
    /// conversation's next write in before this one's commit. `after_commit` runs on the
    /// writer's thread right after the commit, in commit order, if the append created the
    /// message.
    async fn queue_append(
        &self,
        message: NewMessage,
        after_commit: Option<natter_domain::ports::AfterCommit>,
    ) -> StoreResult<QueuedAppend> {
        // Folded on the caller's thread: the writer thread is what bounds durable sends.
        let terms = natter_domain::search::index_text(message.text.as_str());
        let after = after_commit.map(|after_commit| {
            Box::new(move |outcome: &AppendOutcome| {
                if let AppendOutcome::Created(message) = outcome {
                    after_commit(message);
                }
            }) as crate::writer::AfterCommit<AppendOutcome>
        });
        let committed = self
            .queue_counted(
                Undo::WholeBatch,
                move |conn, counters| append_in(conn, counters, message, terms),
                after,
            )
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
        self.write_counted(move |conn, counters| {
            let current = load(conn, conversation, seq)?.ok_or(StoreError::NotFound)?;
            // A no-op writes nothing and reports the state as it is.
            let Some(effect) = message_effect(&current, change, now_ms) else {
                return Ok(current);
            };
            write_effect(conn, &mut counters.search, &current, effect)?;
            bump(conn, counters, conversation, seq)?;
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
        self.read(move |conn| changes_in(conn, conversation, after_mod, limit))
            .await
    }
}

#[cfg(test)]
mod tests {
    use natter_conformance::Stores;
    use natter_conformance::support::Fixture;

    use super::*;

    /// A store in a directory of its own, with Alice's group holding one message (seq 1).
    async fn a_group_with_one_message() -> (
        tempfile::TempDir,
        SqliteStore,
        Fixture,
        UserId,
        Conversation,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("natter.db"))
            .await
            .unwrap();
        let f = Fixture::new(Stores::from_backend(store.clone()));
        let alice = f.user("alice").await.id;
        let group = f.group(alice, &[]).await;
        assert_eq!(f.send(group.id, alice, "one").await.seq, 1);
        (dir, store, f, alice, group)
    }

    /// Queue `message`'s append as the store does; resolves once its batch commits.
    async fn queue_append(
        store: &SqliteStore,
        message: NewMessage,
    ) -> impl Future<Output = StoreResult<AppendOutcome>> {
        store
            .queue_counted(
                Undo::WholeBatch,
                move |conn, counters| append_in(conn, counters, message, String::new()),
                None,
            )
            .await
            .unwrap()
    }

    /// Appends leave their conversation's row behind (one `UPDATE` per batch per
    /// conversation), but no other write and no commit ever sees it behind: a write that is not
    /// an append, between two appends of one batch, reads the row as of the append before it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_writes_its_appends_rows_before_any_other_write_and_at_its_commit() {
        let (_dir, store, f, alice, group) = a_group_with_one_message().await;
        let row = move |conn: &Connection| {
            one(
                conn,
                "SELECT last_seq, last_mod FROM conversations WHERE id = ?",
                params![group.id.0.as_bytes().as_slice()],
                |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)),
            )?
            .ok_or(StoreError::NotFound)
        };
        // The writer is held busy until everything below is queued: one batch.
        let held = store.inner.writes.hold().await;
        let two = queue_append(&store, f.new_message(group.id, alice, "two")).await;
        let seen = store
            .queue_counted(Undo::Savepoint, move |conn, _| row(conn), None)
            .await
            .unwrap();
        let three = queue_append(&store, f.new_message(group.id, alice, "three")).await;
        held.release().await;
        two.await.unwrap();
        three.await.unwrap();
        assert_eq!(seen.await.unwrap(), (2, 2));
        assert_eq!(store.read(row).await.unwrap(), (3, 3));
        store.close().await;
    }

    /// An append whose write fails after it ran is rolled back with its savepoint, and so are
    /// the counters it moved: the next append takes the same seq and mod_seq (no gap), and the
    /// ones after it continue from there (none reused).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rolled_back_append_gives_its_numbers_back() {
        let (_dir, store, f, alice, group) = a_group_with_one_message().await;
        let doomed = f.new_message(group.id, alice, "rolled back");
        let failed = store
            .write_counted(move |conn, counters| {
                let outcome = append_in(conn, counters, doomed, String::new())?;
                assert!(matches!(outcome, AppendOutcome::Created(ref m) if m.seq == 2));
                Err::<(), _>(StoreError::Internal("fails after appending".into()))
            })
            .await;
        assert!(failed.is_err());
        let two = f.send(group.id, alice, "two").await;
        let three = f.send(group.id, alice, "three").await;
        assert_eq!(
            [(two.seq, two.mod_seq), (three.seq, three.mod_seq)],
            [(2, 2), (3, 3)]
        );
        let texts: Vec<String> = store
            .history(group.id, HistoryQuery::Latest { limit: 10 })
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.text)
            .collect();
        assert_eq!(texts, ["one", "two", "three"]);
        store.close().await;
    }
}
