//! [`MessageSearch`] on SQLite FTS5: the `message_search` table (migration 0011) holds each
//! message's folded terms under the message's rowid. The writer thread writes it a few hundred
//! messages at a time ([`crate::search_index`]); a search first has it write what it owes, so a
//! send, an edit or a delete is searchable (or not) from its commit. A search joins the member's
//! current memberships in the same snapshot.

use async_trait::async_trait;
use natter_domain::ports::{MessageSearch, StoreResult};
use natter_domain::search::{HitKey, HitPage, MessageQuery, Part, SearchOrder, SearchText};
use natter_domain::{ConversationId, MessageId, UserId};
use rusqlite::Connection;

use std::time::{Duration, Instant};

use natter_domain::StoreError;

use crate::SqliteStore;
use crate::query::all;
use crate::rows::uuid_of;
use crate::search_index::PendingIndex;

/// Index every message not deleted (migration 0011's step, in its transaction).
pub(crate) fn index_existing(conn: &Connection) -> StoreResult<()> {
    let messages = all(
        conn,
        "SELECT id, text FROM messages WHERE deleted = 0",
        [],
        |row| Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?)),
    )?;
    let mut pending = PendingIndex::default();
    for (id, text) in messages {
        pending.put(id, &text);
    }
    pending.write_all(conn)
}

/// How long one search may run before it is stopped.
const DEADLINE: Duration = Duration::from_secs(2);
/// SQLite virtual machine steps between two looks at the clock (a few tens of microseconds).
const PROGRESS_STEPS: i32 = 10_000;
/// Relevance ranks the newest this many matches the searcher may read: ranking every match of
/// a word in most messages costs a pass over all of them.
const RELEVANCE_CANDIDATES: u32 = 5_000;

/// The statement of a search in `order`.
fn statement_text(order: SearchOrder) -> String {
    match order {
        SearchOrder::Newest => format!(
            "SELECT m.conversation_id, m.seq, m.id {FILTERS} \
             ORDER BY s.rowid DESC LIMIT :take OFFSET :skip"
        ),
        SearchOrder::Relevance => format!(
            "SELECT conversation_id, seq, id FROM ( \
                 SELECT m.conversation_id, m.seq, m.id, bm25(message_search) AS score {FILTERS} \
                 ORDER BY s.rowid DESC LIMIT {RELEVANCE_CANDIDATES}) \
             ORDER BY score, id DESC LIMIT :take OFFSET :skip"
        ),
    }
}

/// The FTS5 query for `text`: every part quoted (terms hold only letters and digits), a prefix
/// word with `*`, parts side by side (all must match).
fn fts_query(text: &SearchText) -> String {
    let parts: Vec<String> = text
        .parts()
        .iter()
        .map(|part| match part {
            Part::Word { text, prefix } => {
                format!("\"{text}\"{}", if *prefix { "*" } else { "" })
            }
            Part::Phrase(words) => format!("\"{}\"", words.join(" ")),
        })
        .collect();
    parts.join(" ")
}

/// `CROSS JOIN` fixes the order: the full-text match drives (in rowid order, so a newest-first
/// page stops after its hits), and each match looks up its message and the membership by key.
/// Left to itself the planner walks the member's conversations' messages and runs the match
/// once per message.
const FILTERS: &str = "\
    FROM message_search s \
    CROSS JOIN messages m ON m.id = s.rowid \
    CROSS JOIN members b ON b.conversation_id = m.conversation_id AND b.user_id = :user \
        AND b.left_at_ms IS NULL \
    WHERE message_search MATCH :query \
      AND m.deleted = 0 AND m.created_at_ms >= b.joined_at_ms \
      AND (:conversation IS NULL OR m.conversation_id = :conversation) \
      AND (:sender IS NULL OR m.sender_id = :sender) \
      AND (:before IS NULL OR m.created_at_ms < :before) \
      AND (:after IS NULL OR m.created_at_ms >= :after) \
      AND (:attached = 0 OR m.attachments IS NOT NULL) \
      AND (:older_than IS NULL OR s.rowid < :older_than)";

fn search_in(conn: &Connection, user: UserId, query: &MessageQuery) -> StoreResult<HitPage> {
    let window = query.window();
    let text = statement_text(query.order);
    let user_bytes = user.0.as_bytes().to_vec();
    let conversation = query.conversation.map(|c| c.0.as_bytes().to_vec());
    let sender = query.from.map(|u| u.0.as_bytes().to_vec());
    let rows = all(
        conn,
        &text,
        rusqlite::named_params! {
            ":user": user_bytes,
            ":query": fts_query(&query.text),
            ":conversation": conversation,
            ":sender": sender,
            ":before": query.before_ms,
            ":after": query.after_ms,
            ":attached": query.has_attachment,
            ":older_than": window.before.map(|id| id.0),
            ":take": window.take,
            ":skip": window.skip,
        },
        |row| {
            Ok((
                row.get::<_, Vec<u8>>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, i64>(2)?,
            ))
        },
    )?;
    let hits = rows
        .into_iter()
        .map(|(conversation, seq, id)| {
            Ok(HitKey {
                conversation_id: ConversationId(uuid_of(&conversation)?),
                seq,
                message_id: MessageId(id),
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(HitPage::from_rows(hits, query))
}

#[async_trait]
impl MessageSearch for SqliteStore {
    async fn search_messages(&self, user: UserId, query: &MessageQuery) -> StoreResult<HitPage> {
        // What the writer owes the index: written by the time this batch commits, which is
        // after every write committed before this search began.
        self.write_counted(|_, counters| {
            counters.search.write_at_commit();
            Ok(())
        })
        .await?;
        let query = query.clone();
        self.search_read(move |conn| {
            within_deadline(conn, DEADLINE, || search_in(conn, user, &query))
        })
        .await
    }
}

/// Run `search` on `conn`, stopped (`Unavailable`) once it has run for `limit`.
fn within_deadline<T>(
    conn: &Connection,
    limit: Duration,
    search: impl FnOnce() -> StoreResult<T>,
) -> StoreResult<T> {
    let deadline = Instant::now() + limit;
    conn.progress_handler(PROGRESS_STEPS, Some(move || Instant::now() > deadline))
        .map_err(crate::errors::sql)?;
    let found = search();
    conn.progress_handler(0, None::<fn() -> bool>)
        .map_err(crate::errors::sql)?;
    found.map_err(|err| {
        if Instant::now() > deadline {
            StoreError::Unavailable(format!("a search ran past its {limit:?}: {err}"))
        } else {
            err
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The match drives the query (never once per message), and a newest-first page comes in
    /// the index's own order, without sorting every match.
    #[test]
    fn the_match_drives_the_plan() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::connections::open_writer(&dir.path().join("plan.db")).unwrap();
        crate::migrate::run(&mut conn).unwrap();
        for (order, sorted) in [(SearchOrder::Newest, false), (SearchOrder::Relevance, true)] {
            let text = format!("EXPLAIN QUERY PLAN {}", statement_text(order));
            let mut statement = conn.prepare(&text).unwrap();
            let plan: Vec<String> = statement
                .query_map(
                    rusqlite::named_params! {
                        ":user": vec![0u8; 16], ":query": "\"a\"",
                        ":conversation": None::<Vec<u8>>, ":sender": None::<Vec<u8>>,
                        ":before": None::<i64>, ":after": None::<i64>, ":attached": false,
                        ":older_than": None::<i64>, ":take": 21, ":skip": 0,
                    },
                    |row| row.get::<_, String>(3),
                )
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let first = plan
                .iter()
                .find(|step| step.starts_with("SCAN") || step.starts_with("SEARCH"));
            assert!(
                first.is_some_and(|step| step.starts_with("SCAN s VIRTUAL TABLE")),
                "{plan:#?}"
            );
            assert_eq!(
                plan.iter().any(|step| step.contains("TEMP B-TREE")),
                sorted,
                "{plan:#?}"
            );
        }
    }

    /// A search past its deadline is stopped with `Unavailable`, and the connection serves the
    /// next one in full.
    #[test]
    fn a_search_past_its_deadline_is_stopped() {
        let conn = Connection::open_in_memory().unwrap();
        let long = |conn: &Connection| {
            crate::query::one(
                conn,
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 50000000) \
                 SELECT count(*) FROM c",
                [],
                |row| row.get::<_, i64>(0),
            )
        };
        let stopped = within_deadline(&conn, Duration::from_millis(20), || long(&conn));
        assert!(
            matches!(stopped, Err(StoreError::Unavailable(_))),
            "{stopped:?}"
        );
        let short = within_deadline(&conn, Duration::from_secs(60), || {
            crate::query::one(&conn, "SELECT 41 + 1", [], |row| row.get::<_, i64>(0))
        });
        assert_eq!(short.unwrap(), Some(42));
    }

    #[test]
    fn the_fts_query_quotes_every_part() {
        let text = SearchText::parse(r#"Café "big cat" tom* 東京"#).unwrap();
        assert_eq!(fts_query(&text), r#""cafe" "big cat" "tom"* "東 京""#);
    }
}
