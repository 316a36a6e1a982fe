//! [`MessageSearch`] on PostgreSQL full-text search: the `message_search` table (migration
//! 0010), one row per message, written by the indexer (natter-server's consumer group on the
//! message log) through [`PgStore::index`], never by a send. A search joins the searching
//! user's current memberships, so a removed member stops finding a conversation's messages at
//! once, whatever the index's lag.
//!
//! - **Terms are natter's, not PostgreSQL's parser's.** `natter_domain::search::terms` folds
//!   the text in Rust (the same function the embedded index and the highlighter use), and the
//!   `tsvector` is written as a literal of those terms at their positions (`'cafe':1
//!   'noon':2`), the `tsquery` likewise. `to_tsvector('simple', ...)` over the terms joined by
//!   spaces looked equivalent, but the default parser classifies characters with the C
//!   library's tables of the server's locale: on Debian 12 (glibc 2.36) it drops 14,644 of the
//!   terms natter makes (letters added to Unicode since, CJK Extension I, "other numbers"
//!   such as ৴), and a C library upgrade would change what an existing index means. A literal
//!   means the same everywhere. A term longer than PostgreSQL's 2,046 bytes is left out (no
//!   query can find it).
//! - **Query**: built from `SearchText::parts()`: a word is `'w'`, a prefix `'w':*`, a phrase
//!   `('a' <-> 'b')`, all AND-ed.
//! - **In order, idempotent**: an upsert keyed by the message id changes the row only for a
//!   larger `mod_seq`, so a record handled twice, or an older one handled after a newer one
//!   (two nodes' producers can race), changes nothing. A deleted message keeps its row with no
//!   terms: a replayed "created" record cannot bring it back. The indexer writes a batch of
//!   records in one statement (`UNNEST` of one array per column), each message's latest state
//!   of the batch only.
//! - **Order and pages** as the embedded index: newest first by message id (cursor: the last
//!   id), or by `ts_rank` (newest first among equals) skipping what earlier pages showed, at
//!   most `RELEVANCE_DEPTH_MAX` deep, ranking the newest 5,000 matches the searcher may read;
//!   one more row than asked tells whether there is a next page. A search is cancelled after 2 s
//!   (`statement_timeout` in its own transaction: `Unavailable`).

use std::collections::BTreeMap;

use async_trait::async_trait;
use natter_domain::model::Message;
use natter_domain::ports::{MessageSearch, StoreResult};
use natter_domain::search::{
    HitKey, HitPage, MessageQuery, Part, SearchCursor, SearchOrder, SearchText, terms,
};
use natter_domain::{ConversationId, MessageId, UserId};
use uuid::Uuid;

use crate::PgStore;
use crate::errors::db;

/// What the search index keeps of one state of a message: the fields its filters need and the
/// text. Built from a [`Message`] or, by the indexer, from a log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchEntry {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub seq: i64,
    /// The state this entry is: a smaller one never replaces a larger one.
    pub mod_seq: i64,
    pub sender_id: UserId,
    pub created_at_ms: i64,
    pub has_attachment: bool,
    pub deleted: bool,
    /// The message's text (ignored once deleted).
    pub text: String,
}

impl SearchEntry {
    pub fn from_message(message: &Message) -> Self {
        Self {
            id: message.id,
            conversation_id: message.conversation_id,
            seq: message.seq,
            mod_seq: message.mod_seq,
            sender_id: message.sender_id,
            created_at_ms: message.created_at_ms,
            has_attachment: !message.attachments.is_empty(),
            deleted: message.deleted,
            text: message.text.clone(),
        }
    }
}

/// The longest lexeme PostgreSQL takes, in bytes.
const LEXEME_BYTES_MAX: usize = 2046;
/// The largest position a `tsvector` records (later ones count as this one).
const POSITION_MAX: usize = 16_383;

/// How long one search may run before PostgreSQL cancels it.
const SEARCH_DEADLINE: &str = "SET LOCAL statement_timeout = '2s'";
/// Relevance ranks the newest this many matches the searcher may read.
const RELEVANCE_CANDIDATES: u32 = 5_000;

/// The upsert of a batch of entries, one array per column (one entry per message id: a
/// statement cannot change a row twice), in id order so that two batches lock common rows in
/// the same order.
const UPSERT: &str = "\
    INSERT INTO message_search AS s \
        (id, conversation_id, seq, sender_id, created_at_ms, has_attachment, mod_seq, deleted, \
         terms) \
    SELECT id, conversation_id, seq, sender_id, created_at_ms, has_attachment, mod_seq, deleted, \
        terms::tsvector \
    FROM UNNEST($1::bigint[], $2::uuid[], $3::bigint[], $4::uuid[], $5::bigint[], $6::bool[], \
        $7::bigint[], $8::bool[], $9::text[]) \
        AS e(id, conversation_id, seq, sender_id, created_at_ms, has_attachment, mod_seq, \
             deleted, terms) \
    ON CONFLICT (id) DO UPDATE SET \
        has_attachment = excluded.has_attachment, mod_seq = excluded.mod_seq, \
        deleted = excluded.deleted, terms = excluded.terms \
    WHERE excluded.mod_seq > s.mod_seq AND NOT s.deleted";

/// Of several states of one message, the one the index must end with whatever order they are
/// applied in: a deleted one (deletion is final), else the largest `mod_seq`.
fn latest<'a>(a: &'a SearchEntry, b: &'a SearchEntry) -> &'a SearchEntry {
    if (b.deleted, b.mod_seq) > (a.deleted, a.mod_seq) {
        b
    } else {
        a
    }
}

/// `entries` as the columns of [`UPSERT`]: the latest state of each message, in id order.
struct Columns {
    ids: Vec<i64>,
    conversations: Vec<Uuid>,
    seqs: Vec<i64>,
    senders: Vec<Uuid>,
    created: Vec<i64>,
    attachments: Vec<bool>,
    mod_seqs: Vec<i64>,
    deleted: Vec<bool>,
    terms: Vec<String>,
}

impl Columns {
    fn of(entries: &[SearchEntry]) -> Self {
        let mut by_id: BTreeMap<i64, &SearchEntry> = BTreeMap::new();
        for entry in entries {
            by_id
                .entry(entry.id.0)
                .and_modify(|kept| *kept = latest(kept, entry))
                .or_insert(entry);
        }
        let n = by_id.len();
        let mut columns = Columns {
            ids: Vec::with_capacity(n),
            conversations: Vec::with_capacity(n),
            seqs: Vec::with_capacity(n),
            senders: Vec::with_capacity(n),
            created: Vec::with_capacity(n),
            attachments: Vec::with_capacity(n),
            mod_seqs: Vec::with_capacity(n),
            deleted: Vec::with_capacity(n),
            terms: Vec::with_capacity(n),
        };
        for (id, entry) in by_id {
            columns.ids.push(id);
            columns.conversations.push(entry.conversation_id.0);
            columns.seqs.push(entry.seq);
            columns.senders.push(entry.sender_id.0);
            columns.created.push(entry.created_at_ms);
            columns.attachments.push(entry.has_attachment);
            columns.mod_seqs.push(entry.mod_seq);
            columns.deleted.push(entry.deleted);
            columns.terms.push(if entry.deleted {
                String::new()
            } else {
                tsvector(&entry.text)
            });
        }
        columns
    }
}

/// Write `entries` in one statement (see [`PgStore::index_batch`]); the rows it changed.
pub(crate) async fn upsert<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    entries: &[SearchEntry],
) -> StoreResult<u64> {
    if entries.is_empty() {
        return Ok(0);
    }
    let c = Columns::of(entries);
    let done = sqlx::query(UPSERT)
        .bind(c.ids)
        .bind(c.conversations)
        .bind(c.seqs)
        .bind(c.senders)
        .bind(c.created)
        .bind(c.attachments)
        .bind(c.mod_seqs)
        .bind(c.deleted)
        .bind(c.terms)
        .execute(executor)
        .await
        .map_err(db)?;
    Ok(done.rows_affected())
}

impl PgStore {
    /// Put this state of a message in the search index, unless the index holds a later one
    /// (a larger `mod_seq`) or the message is deleted there. Idempotent; one statement.
    pub async fn index(&self, entry: &SearchEntry) -> StoreResult<()> {
        self.index_batch(std::slice::from_ref(entry))
            .await
            .map(|_| ())
    }

    /// [`index`](Self::index) every entry, in one statement (one transaction, one commit):
    /// each message ends with the state it would after `index` of each entry in any order
    /// (several states of one message in `entries` are reduced to the latest first, since one
    /// statement cannot change a row twice). Returns how many rows changed.
    pub async fn index_batch(&self, entries: &[SearchEntry]) -> StoreResult<u64> {
        upsert(self.pool(), entries).await
    }

    /// [`index`](Self::index) a message's current state.
    pub async fn index_message(&self, message: &Message) -> StoreResult<()> {
        self.index(&SearchEntry::from_message(message)).await
    }
}

/// The `tsvector` literal of `text`: each of its terms at its position, from 1.
pub(crate) fn tsvector(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for (i, term) in terms(text).iter().enumerate() {
        if term.text.len() > LEXEME_BYTES_MAX {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        push_lexeme(&mut out, &term.text);
        out.push(':');
        out.push_str(&(i + 1).min(POSITION_MAX).to_string());
    }
    out
}

/// The `tsquery` literal for `text`: every part must match; a word is `'w'`, a prefix word
/// `'w':*`, a phrase its words joined by `<->` (each followed by the next). `None` when a term
/// is too long to be in any `tsvector`: nothing matches.
pub(crate) fn tsquery(text: &SearchText) -> Option<String> {
    let mut out = String::new();
    for (i, part) in text.parts().iter().enumerate() {
        if i > 0 {
            out.push_str(" & ");
        }
        match part {
            Part::Word { text, prefix } => {
                if text.len() > LEXEME_BYTES_MAX {
                    return None;
                }
                push_lexeme(&mut out, text);
                if *prefix {
                    out.push_str(":*");
                }
            }
            Part::Phrase(words) => {
                out.push('(');
                for (j, word) in words.iter().enumerate() {
                    if word.len() > LEXEME_BYTES_MAX {
                        return None;
                    }
                    if j > 0 {
                        out.push_str(" <-> ");
                    }
                    push_lexeme(&mut out, word);
                }
                out.push(')');
            }
        }
    }
    Some(out)
}

/// A term quoted as a lexeme of a `tsvector` or `tsquery` literal. Terms hold only letters
/// and digits; quotes and backslashes are escaped all the same, so no term can change the
/// literal's shape.
fn push_lexeme(out: &mut String, term: &str) {
    out.push('\'');
    for c in term.chars() {
        if c == '\'' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
}

/// The statement for `query`: only the filters it uses, so each combination gets a plan of its
/// own. Parameters: $1 the tsquery text, $2 the user, $3 how many rows, $4 how many to skip,
/// then the filters in the order [`search_sql`] lists them.
fn search_sql(query: &MessageQuery) -> String {
    let mut sql = String::from(
        "SELECT s.conversation_id, s.seq, s.id, ts_rank(s.terms, q) AS score \
         FROM message_search s \
         CROSS JOIN CAST($1 AS tsquery) q \
         JOIN members b ON b.conversation_id = s.conversation_id AND b.user_id = $2 \
             AND b.left_at_ms IS NULL \
         WHERE s.terms @@ q AND NOT s.deleted AND s.created_at_ms >= b.joined_at_ms",
    );
    let mut n = 4;
    let mut filter = |condition: &str| {
        n += 1;
        sql.push_str(&format!(
            " AND {}",
            condition.replace('?', &format!("${n}"))
        ));
    };
    if query.conversation.is_some() {
        filter("s.conversation_id = ?");
    }
    if query.from.is_some() {
        filter("s.sender_id = ?");
    }
    if query.before_ms.is_some() {
        filter("s.created_at_ms < ?");
    }
    if query.after_ms.is_some() {
        filter("s.created_at_ms >= ?");
    }
    if let Some(SearchCursor::Before(_)) = query.cursor {
        filter("s.id < ?");
    }
    if query.has_attachment {
        sql.push_str(" AND s.has_attachment");
    }
    sql.push_str(" ORDER BY s.id DESC");
    match query.order {
        SearchOrder::Newest => {
            sql.push_str(" LIMIT $3 OFFSET $4");
            format!("SELECT conversation_id, seq, id FROM ({sql}) hits")
        }
        // The newest candidates only: ranking every match of a word in most messages is a
        // pass over all of them.
        SearchOrder::Relevance => format!(
            "SELECT conversation_id, seq, id FROM ({sql} LIMIT {RELEVANCE_CANDIDATES}) candidates \
             ORDER BY score DESC, id DESC LIMIT $3 OFFSET $4"
        ),
    }
}

#[async_trait]
impl MessageSearch for PgStore {
    async fn search_messages(&self, user: UserId, query: &MessageQuery) -> StoreResult<HitPage> {
        let window = query.window();
        let Some(tsquery) = tsquery(&query.text) else {
            return Ok(HitPage::default());
        };
        let sql = search_sql(query);
        let mut statement = sqlx::query_as::<_, (Uuid, i64, i64)>(sqlx::AssertSqlSafe(sql))
            .bind(tsquery)
            .bind(user.0)
            .bind(i64::from(window.take))
            .bind(i64::from(window.skip));
        if let Some(conversation) = query.conversation {
            statement = statement.bind(conversation.0);
        }
        if let Some(sender) = query.from {
            statement = statement.bind(sender.0);
        }
        if let Some(before) = query.before_ms {
            statement = statement.bind(before);
        }
        if let Some(after) = query.after_ms {
            statement = statement.bind(after);
        }
        if let Some(id) = window.before {
            statement = statement.bind(id.0);
        }
        // A search that runs past its deadline is cancelled (57014: `Unavailable`).
        let mut tx = self.pool().begin().await.map_err(db)?;
        sqlx::query(SEARCH_DEADLINE)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let rows = statement.fetch_all(&mut *tx).await.map_err(db)?;
        tx.rollback().await.map_err(db)?;
        let hits: Vec<HitKey> = rows
            .into_iter()
            .map(|(conversation, seq, id)| HitKey {
                conversation_id: ConversationId(conversation),
                seq,
                message_id: MessageId(id),
            })
            .collect();
        Ok(HitPage::from_rows(hits, query))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(text: &str) -> MessageQuery {
        MessageQuery {
            text: SearchText::parse(text).unwrap(),
            conversation: None,
            from: None,
            before_ms: None,
            after_ms: None,
            has_attachment: false,
            order: SearchOrder::Newest,
            cursor: None,
            limit: 20,
        }
    }

    fn entry(id: i64, mod_seq: i64, deleted: bool, text: &str) -> SearchEntry {
        SearchEntry {
            id: MessageId(id),
            conversation_id: ConversationId(Uuid::nil()),
            seq: id,
            mod_seq,
            sender_id: UserId(Uuid::nil()),
            created_at_ms: 1,
            has_attachment: false,
            deleted,
            text: text.into(),
        }
    }

    #[test]
    fn a_batch_keeps_each_messages_latest_state_in_id_order() {
        let columns = Columns::of(&[
            entry(9, 3, false, "third"),
            entry(4, 1, false, "one"),
            entry(9, 5, false, "fifth"),
            entry(9, 4, false, "fourth"),
            entry(7, 2, false, "two"),
            // A deletion is final, even before a (impossible) larger mod_seq.
            entry(7, 1, true, ""),
            entry(7, 6, false, "back"),
        ]);
        assert_eq!(columns.ids, [4, 7, 9]);
        assert_eq!(columns.mod_seqs, [1, 1, 5]);
        assert_eq!(columns.deleted, [false, true, false]);
        assert_eq!(columns.terms, ["'one':1", "", "'fifth':1"]);
    }

    #[test]
    fn words_prefixes_and_phrases_are_and_ed() {
        let text = SearchText::parse(r#"Café "big cat" tom* 東京 x2"#).unwrap();
        assert_eq!(
            tsquery(&text).unwrap(),
            "'cafe' & ('big' <-> 'cat') & 'tom':* & ('東' <-> '京') & 'x2'"
        );
        assert_eq!(tsquery(&SearchText::parse("京").unwrap()).unwrap(), "'京'");
    }

    #[test]
    fn a_term_too_long_for_postgresql_matches_nothing() {
        // ﷲ folds to four Arabic letters (8 bytes): 256 of them, the longest query, make one
        // word of 2,048 bytes.
        let long = "\u{FDF2}".repeat(256);
        assert!(terms(&long)[0].text.len() > LEXEME_BYTES_MAX);
        assert_eq!(tsquery(&SearchText::parse(&long).unwrap()), None);
        assert_eq!(tsvector(&format!("a {long} b")), "'a':1 'b':3");
    }

    #[test]
    fn the_tsvector_holds_each_term_at_its_position() {
        assert_eq!(
            tsvector("Le Café, le CAFE! 東京"),
            "'le':1 'cafe':2 'le':3 'cafe':4 '東':5 '京':6"
        );
        assert_eq!(tsvector("🙂 !"), "");
        let many = "a ".repeat(POSITION_MAX + 2);
        assert!(tsvector(&many).ends_with("'a':16383 'a':16383"));
    }

    #[test]
    fn quotes_and_backslashes_cannot_escape_a_lexeme() {
        let mut out = String::new();
        push_lexeme(&mut out, "it's");
        push_lexeme(&mut out, r"a\");
        assert_eq!(out, r"'it\'s''a\\'");
    }

    #[test]
    fn only_the_filters_used_are_in_the_statement_numbered_in_bind_order() {
        let plain = search_sql(&query("a"));
        assert!(!plain.contains("$5"), "{plain}");
        assert!(
            plain.ends_with("ORDER BY s.id DESC LIMIT $3 OFFSET $4) hits"),
            "{plain}"
        );
        let all = search_sql(&MessageQuery {
            conversation: Some(ConversationId::new()),
            from: Some(UserId::new()),
            before_ms: Some(2),
            after_ms: Some(1),
            has_attachment: true,
            cursor: Some(SearchCursor::Before(MessageId(9))),
            ..query("a")
        });
        for expected in [
            "s.conversation_id = $5",
            "s.sender_id = $6",
            "s.created_at_ms < $7",
            "s.created_at_ms >= $8",
            "s.id < $9",
            "AND s.has_attachment",
        ] {
            assert!(all.contains(expected), "{expected} in {all}");
        }
        let relevance = search_sql(&MessageQuery {
            order: SearchOrder::Relevance,
            cursor: Some(SearchCursor::Skip(20)),
            ..query("a")
        });
        assert!(
            relevance.ends_with(
                "LIMIT 5000) candidates ORDER BY score DESC, id DESC LIMIT $3 OFFSET $4"
            ),
            "{relevance}"
        );
        assert!(!relevance.contains("s.id <"), "{relevance}");
    }
}
