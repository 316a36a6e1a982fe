//! Conversation summaries (a conversation as one member sees it in their list): one query for the
//! conversation and the unread/mention counts, then the member's own row and the last message,
//! all inside the caller's read transaction (one snapshot).
//!
//! Four readers share the query: the list page, a single summary, a set of them (the conversations
//! a name search found), and sync's "changed since".

use natter_domain::model::*;
use natter_domain::ports::StoreResult;
use natter_domain::{ConversationId, StoreError, UserId};
use rusqlite::{Connection, params};

use crate::conversations::current_member;
use crate::messages;
use crate::query::all;
use crate::rows::{ConversationRow, conversation_columns, user_id};

/// `SELECT` of a summary row for `m.user_id = ?1`, over current memberships only: the
/// conversation's columns first (read by [`ConversationRow::from_row`]), then the summary's own
/// columns (read by name). Unread counts are messages after the member's read cursor, from
/// others, not deleted; mention counts are those of them that mention the member. The peer is the
/// other member of a direct conversation.
macro_rules! summary_select {
    () => {
        concat!(
            "SELECT ",
            conversation_columns!(),
            ", (SELECT COUNT(*) FROM messages x WHERE x.conversation_id = c.id AND x.seq > m.read_seq \
                AND x.sender_id != m.user_id AND x.deleted = 0) AS unread_count, \
              (SELECT COUNT(*) FROM messages x JOIN mentions n ON n.conversation_id = x.conversation_id \
                AND n.seq = x.seq AND n.user_id = m.user_id WHERE x.conversation_id = c.id \
                AND x.seq > m.read_seq AND x.sender_id != m.user_id AND x.deleted = 0) AS mention_count, \
              (SELECT p.user_id FROM members p WHERE c.kind = 'direct' AND p.conversation_id = c.id \
                AND p.user_id != m.user_id ORDER BY p.join_order LIMIT 1) AS peer \
             FROM members m JOIN conversations c ON c.id = m.conversation_id \
             WHERE m.user_id = ?1 AND m.left_at_ms IS NULL "
        )
    };
}

struct SummaryRow {
    conversation: ConversationRow,
    unread_count: i64,
    mention_count: i64,
    peer: Option<Vec<u8>>,
}

impl SummaryRow {
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(SummaryRow {
            conversation: ConversationRow::from_row(row)?,
            unread_count: row.get("unread_count")?,
            mention_count: row.get("mention_count")?,
            peer: row.get("peer")?,
        })
    }
}

fn complete(
    conn: &Connection,
    user: UserId,
    rows: Vec<SummaryRow>,
) -> StoreResult<Vec<ConversationSummary>> {
    let mut summaries = Vec::with_capacity(rows.len());
    for row in rows {
        let conversation = row.conversation.into_conversation()?;
        // The same snapshot as the summary row: the membership is there.
        let me = current_member(conn, conversation.id, user)?.ok_or(StoreError::NotFound)?;
        let last_message = match conversation.last_seq {
            0 => None,
            seq => messages::load(conn, conversation.id, seq)?,
        };
        summaries.push(ConversationSummary {
            conversation,
            me,
            last_message,
            unread_count: row.unread_count,
            mention_count: row.mention_count,
            peer: row.peer.as_deref().map(user_id).transpose()?,
        });
    }
    Ok(summaries)
}

/// The user's conversations, most recent activity first (ties by id), optionally only those
/// with activity before `before_activity_ms`.
pub(crate) fn page(
    conn: &Connection,
    user: UserId,
    before_activity_ms: Option<i64>,
    limit: u32,
) -> StoreResult<Vec<ConversationSummary>> {
    let rows = all(
        conn,
        concat!(
            summary_select!(),
            "AND (?2 IS NULL OR c.last_activity_ms < ?2) ORDER BY c.last_activity_ms DESC, c.id LIMIT ?3"
        ),
        params![
            user.0.as_bytes().as_slice(),
            before_activity_ms,
            i64::from(limit)
        ],
        SummaryRow::from_row,
    )?;
    complete(conn, user, rows)
}

pub(crate) fn one(
    conn: &Connection,
    conversation: ConversationId,
    user: UserId,
) -> StoreResult<Option<ConversationSummary>> {
    let rows = all(
        conn,
        concat!(summary_select!(), "AND c.id = ?2"),
        params![
            user.0.as_bytes().as_slice(),
            conversation.0.as_bytes().as_slice()
        ],
        SummaryRow::from_row,
    )?;
    Ok(complete(conn, user, rows)?.pop())
}

/// Those of the conversations `ids` (a JSON array of hex ids) the user is a current member of.
pub(crate) fn of(
    conn: &Connection,
    user: UserId,
    ids: &str,
) -> StoreResult<Vec<ConversationSummary>> {
    let rows = all(
        conn,
        concat!(
            summary_select!(),
            "AND c.id IN (SELECT unhex(value) FROM json_each(?2))"
        ),
        params![user.0.as_bytes().as_slice(), ids],
        SummaryRow::from_row,
    )?;
    complete(conn, user, rows)
}

/// Current conversations where the conversation or the user's own membership changed after
/// `since` (a value of the global change counter).
pub(crate) fn changed(
    conn: &Connection,
    user: UserId,
    since: i64,
) -> StoreResult<Vec<ConversationSummary>> {
    let rows = all(
        conn,
        concat!(
            summary_select!(),
            "AND (c.changed_at > ?2 OR m.changed_at > ?2) ORDER BY c.last_activity_ms DESC, c.id"
        ),
        params![user.0.as_bytes().as_slice(), since],
        SummaryRow::from_row,
    )?;
    complete(conn, user, rows)
}
