//! Conversation summaries (a conversation as one member sees it in their list): one query for the
//! conversation, the member's own row and the unread/mention counts, then the last message.
//!
//! Three readers share the query: the list page, a single summary, and sync's "changed since".

use natter_domain::model::*;
use natter_domain::ports::StoreResult;
use natter_domain::{ConversationId, UserId};
use sqlx::SqliteConnection;

use crate::errors::db;
use crate::messages;
use crate::rows::{ConversationRow, MemberRow, conversation_columns, member_columns, user_id};

/// `SELECT` of a summary row for `m.user_id = ?1`, over current memberships only. Unread counts
/// are messages after the member's read cursor, from others, not deleted; mention counts are
/// those of them that mention the member. The peer is the other member of a direct conversation.
macro_rules! summary_select {
    () => {
        concat!(
            "SELECT ",
            conversation_columns!(),
            ", ",
            member_columns!(),
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

#[derive(sqlx::FromRow)]
struct SummaryRow {
    #[sqlx(flatten)]
    conversation: ConversationRow,
    #[sqlx(flatten)]
    me: MemberRow,
    unread_count: i64,
    mention_count: i64,
    peer: Option<Vec<u8>>,
}

async fn complete(
    conn: &mut SqliteConnection,
    rows: Vec<SummaryRow>,
) -> StoreResult<Vec<ConversationSummary>> {
    let mut summaries = Vec::with_capacity(rows.len());
    for row in rows {
        let conversation = row.conversation.into_conversation()?;
        let last_message = match conversation.last_seq {
            0 => None,
            seq => messages::load_sqlx(conn, conversation.id, seq).await?,
        };
        summaries.push(ConversationSummary {
            conversation,
            me: row.me.into_member()?,
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
pub(crate) async fn page(
    conn: &mut SqliteConnection,
    user: UserId,
    before_activity_ms: Option<i64>,
    limit: u32,
) -> StoreResult<Vec<ConversationSummary>> {
    let rows: Vec<SummaryRow> = sqlx::query_as(concat!(
        summary_select!(),
        "AND (?2 IS NULL OR c.last_activity_ms < ?2) ORDER BY c.last_activity_ms DESC, c.id LIMIT ?3"
    ))
    .bind(user.0.as_bytes().as_slice())
    .bind(before_activity_ms)
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    complete(conn, rows).await
}

pub(crate) async fn one(
    conn: &mut SqliteConnection,
    conversation: ConversationId,
    user: UserId,
) -> StoreResult<Option<ConversationSummary>> {
    let rows: Vec<SummaryRow> = sqlx::query_as(concat!(summary_select!(), "AND c.id = ?2"))
        .bind(user.0.as_bytes().as_slice())
        .bind(conversation.0.as_bytes().as_slice())
        .fetch_all(&mut *conn)
        .await
        .map_err(db)?;
    Ok(complete(conn, rows).await?.pop())
}

/// Current conversations where the conversation or the user's own membership changed after
/// `since` (a value of the global change counter).
pub(crate) async fn changed(
    conn: &mut SqliteConnection,
    user: UserId,
    since: i64,
) -> StoreResult<Vec<ConversationSummary>> {
    let rows: Vec<SummaryRow> = sqlx::query_as(concat!(
        summary_select!(),
        "AND (c.changed_at > ?2 OR m.changed_at > ?2) ORDER BY c.last_activity_ms DESC, c.id"
    ))
    .bind(user.0.as_bytes().as_slice())
    .bind(since)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    complete(conn, rows).await
}
