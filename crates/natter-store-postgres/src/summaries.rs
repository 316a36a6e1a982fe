//! Conversation summaries (a conversation as one member sees it in their list), for the list
//! page, a single summary, a set of them (the conversations a name search found), and sync's
//! "changed since".
//!
//! The conversation, the member's own row and the direct peer always come from PostgreSQL. The
//! message-derived parts (last message, unread and mention counts) come from wherever the
//! message bodies are:
//! - **Bodies here** (no external store): in SQL, in the same snapshot. Counts are a lateral
//!   aggregate in the summary query; last messages are one batched query.
//! - **Bodies elsewhere** ([`PgStore::with_messages`]): through the [`MessageStore`] port,
//!   a few conversations at a time. Unread = messages after `me.read_seq` up to the
//!   conversation's `last_seq`, from others, not deleted; mentions = those of them that mention
//!   me. They are counted from `history(After { .. })` pages, and **at most
//!   [`UNREAD_SCAN_MAX`] messages are scanned per conversation**: beyond that a client shows
//!   "1000+" anyway, and the scan's cost stays bounded for members who never read.

use std::collections::HashMap;

use futures_util::{StreamExt, TryStreamExt, stream};
use natter_domain::limits::HISTORY_PAGE_MAX;
use natter_domain::model::*;
use natter_domain::ports::{MessageStore, StoreResult};
use natter_domain::{ConversationId, UserId};
use sqlx::postgres::PgArguments;
use sqlx::query::QueryAs;
use sqlx::{PgConnection, Postgres};
use uuid::Uuid;

use crate::PgStore;
use crate::errors::db;
use crate::rows::{
    ConversationRow, MemberRow, MessageRow, conversation_columns, member_columns, message_columns,
};

/// Messages scanned per conversation to count unread messages and mentions through the port.
pub const UNREAD_SCAN_MAX: i64 = 1_000;
/// Conversations whose message facts are read through the port at the same time.
const PORT_FANOUT: usize = 8;

/// `SELECT` of summary rows for `m.user_id = $1`, over current memberships only, with the
/// unread and mention counts computed in SQL (`native`) or left at 0 for the port (`port`).
macro_rules! summary_select {
    (native) => {
        summary_select!(
            "u.unread_count, u.mention_count",
            "LEFT JOIN LATERAL (SELECT count(*) AS unread_count, \
               count(*) FILTER (WHERE m.user_id = ANY(x.mentions)) AS mention_count \
               FROM messages x WHERE x.conversation_id = c.id AND x.seq > m.read_seq \
               AND x.sender_id <> m.user_id AND NOT x.deleted) u ON true "
        )
    };
    (port) => {
        summary_select!("0::bigint AS unread_count, 0::bigint AS mention_count", "")
    };
    ($counts:literal, $join:literal) => {
        concat!(
            "SELECT ",
            conversation_columns!(),
            ", ",
            member_columns!(),
            ", ",
            $counts,
            ", (SELECT p.user_id FROM members p WHERE c.kind = 'direct' \
                AND p.conversation_id = c.id AND p.user_id <> m.user_id \
                ORDER BY p.join_order LIMIT 1) AS peer \
             FROM members m JOIN conversations c ON c.id = m.conversation_id ",
            $join,
            "WHERE m.user_id = $1 AND m.left_at_ms IS NULL "
        )
    };
}

/// The same query in both flavours: `(native, port)`.
macro_rules! summary_sql {
    ($tail:literal) => {
        (
            concat!(summary_select!(native), $tail),
            concat!(summary_select!(port), $tail),
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
    peer: Option<Uuid>,
}

impl SummaryRow {
    fn into_summary(self) -> StoreResult<ConversationSummary> {
        Ok(ConversationSummary {
            conversation: self.conversation.into_conversation()?,
            me: self.me.into_member()?,
            last_message: None,
            unread_count: self.unread_count,
            mention_count: self.mention_count,
            peer: self.peer.map(UserId),
        })
    }
}

type SummaryQuery<'q> = QueryAs<'q, Postgres, SummaryRow, PgArguments>;

/// The flavour of a [`summary_sql!`] pair this store needs.
fn pick(store: &PgStore, (native, port): (&'static str, &'static str)) -> &'static str {
    if store.inner.external_messages.is_some() {
        port
    } else {
        native
    }
}

/// Read summary rows and, when the bodies are here, their last messages, in the caller's
/// snapshot. With bodies elsewhere, [`finish`] completes them after the snapshot ends.
async fn run(
    store: &PgStore,
    conn: &mut PgConnection,
    query: SummaryQuery<'_>,
) -> StoreResult<Vec<ConversationSummary>> {
    let rows: Vec<SummaryRow> = query.fetch_all(&mut *conn).await.map_err(db)?;
    let summaries = rows
        .into_iter()
        .map(SummaryRow::into_summary)
        .collect::<StoreResult<Vec<_>>>()?;
    if store.inner.external_messages.is_some() {
        return Ok(summaries);
    }
    with_last_messages(conn, summaries).await
}

/// Bodies here: the last message of every summary, in one query.
async fn with_last_messages(
    conn: &mut PgConnection,
    mut summaries: Vec<ConversationSummary>,
) -> StoreResult<Vec<ConversationSummary>> {
    let (ids, seqs): (Vec<Uuid>, Vec<i64>) = summaries
        .iter()
        .filter(|s| s.conversation.last_seq > 0)
        .map(|s| (s.conversation.id.0, s.conversation.last_seq))
        .unzip();
    if ids.is_empty() {
        return Ok(summaries);
    }
    let rows: Vec<MessageRow> = sqlx::query_as(concat!(
        "SELECT ",
        message_columns!(),
        " FROM unnest($1::uuid[], $2::bigint[]) AS k(conversation_id, seq) \
         JOIN messages x ON x.conversation_id = k.conversation_id AND x.seq = k.seq"
    ))
    .bind(ids)
    .bind(seqs)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let mut last: HashMap<ConversationId, Message> = HashMap::with_capacity(rows.len());
    for row in rows {
        let message = row.into_message()?;
        last.insert(message.conversation_id, message);
    }
    for summary in &mut summaries {
        summary.last_message = last.remove(&summary.conversation.id);
    }
    Ok(summaries)
}

/// Bodies elsewhere: fill every summary's message facts through the port.
async fn with_port_facts(
    messages: &dyn MessageStore,
    summaries: Vec<ConversationSummary>,
) -> StoreResult<Vec<ConversationSummary>> {
    stream::iter(summaries)
        .map(|mut summary| async move {
            port_facts(messages, &mut summary).await?;
            Ok(summary)
        })
        .buffered(PORT_FANOUT)
        .try_collect()
        .await
}

/// Last message, unread and mention counts of one summary, read through the port.
async fn port_facts(
    messages: &dyn MessageStore,
    summary: &mut ConversationSummary,
) -> StoreResult<()> {
    let conversation = &summary.conversation;
    let me = &summary.me;
    let (mut unread, mut mentions, mut scanned) = (0, 0, 0);
    let mut last_message = None;
    let mut after = me.read_seq;
    // Only up to the conversation's last seq as read with it, so the counts agree with it.
    'pages: while after < conversation.last_seq && scanned < UNREAD_SCAN_MAX {
        let limit = (conversation.last_seq - after)
            .min(UNREAD_SCAN_MAX - scanned)
            .min(i64::from(HISTORY_PAGE_MAX));
        let page = messages
            .history(
                conversation.id,
                HistoryQuery::After {
                    after,
                    limit: limit as u32,
                },
            )
            .await?;
        // An empty page, or one that does not move forward (a store out of contract), ends it.
        let Some(newest) = page.last().map(|m| m.seq).filter(|seq| *seq > after) else {
            break;
        };
        for message in page {
            if message.seq > conversation.last_seq {
                break 'pages;
            }
            scanned += 1;
            if message.sender_id != me.user_id && !message.deleted {
                unread += 1;
                if message.mentions.contains(&me.user_id) {
                    mentions += 1;
                }
            }
            if message.seq == conversation.last_seq {
                last_message = Some(message);
            }
        }
        after = newest;
    }
    if last_message.is_none() && conversation.last_seq > 0 {
        last_message = messages
            .message(conversation.id, conversation.last_seq)
            .await?;
    }
    summary.last_message = last_message;
    summary.unread_count = unread;
    summary.mention_count = mentions;
    Ok(())
}

/// Complete rows read by [`run`] with the port's facts, when the bodies are elsewhere.
async fn finish(
    store: &PgStore,
    summaries: Vec<ConversationSummary>,
) -> StoreResult<Vec<ConversationSummary>> {
    match store.inner.external_messages.as_deref() {
        Some(messages) => with_port_facts(messages, summaries).await,
        None => Ok(summaries),
    }
}

/// The user's conversations, most recent activity first (ties by id), optionally only those
/// with activity before `before_activity_ms`.
pub(crate) async fn page(
    store: &PgStore,
    user: UserId,
    before_activity_ms: Option<i64>,
    limit: u32,
) -> StoreResult<Vec<ConversationSummary>> {
    let mut tx = store.read().await?;
    let sql = pick(
        store,
        summary_sql!(
            "AND ($2::bigint IS NULL OR c.last_activity_ms < $2) \
             ORDER BY c.last_activity_ms DESC, c.id LIMIT $3"
        ),
    );
    let query = sqlx::query_as(sql)
        .bind(user.0)
        .bind(before_activity_ms)
        .bind(i64::from(limit));
    let summaries = run(store, &mut tx, query).await?;
    tx.commit().await.map_err(db)?;
    finish(store, summaries).await
}

pub(crate) async fn one(
    store: &PgStore,
    conversation: ConversationId,
    user: UserId,
) -> StoreResult<Option<ConversationSummary>> {
    let mut tx = store.read().await?;
    let sql = pick(store, summary_sql!("AND c.id = $2"));
    let query = sqlx::query_as(sql).bind(user.0).bind(conversation.0);
    let summaries = run(store, &mut tx, query).await?;
    tx.commit().await.map_err(db)?;
    Ok(finish(store, summaries).await?.pop())
}

/// Those of the conversations `ids` the user is a current member of.
pub(crate) async fn of(
    store: &PgStore,
    user: UserId,
    ids: &[ConversationId],
) -> StoreResult<Vec<ConversationSummary>> {
    let ids: Vec<Uuid> = ids.iter().map(|id| id.0).collect();
    let mut tx = store.read().await?;
    let sql = pick(store, summary_sql!("AND c.id = ANY($2)"));
    let query = sqlx::query_as(sql).bind(user.0).bind(ids);
    let summaries = run(store, &mut tx, query).await?;
    tx.commit().await.map_err(db)?;
    finish(store, summaries).await
}

/// Current conversations where the conversation or the user's own membership changed after
/// `since` (a stamp of the global change counter), and those the user left since then.
pub(crate) async fn changed(
    store: &PgStore,
    user: UserId,
    since: i64,
) -> StoreResult<(Vec<ConversationSummary>, Vec<ConversationId>)> {
    let mut tx = store.read().await?;
    let sql = pick(
        store,
        summary_sql!(
            "AND (c.changed_at > $2 OR m.changed_at > $2) ORDER BY c.last_activity_ms DESC, c.id"
        ),
    );
    let query = sqlx::query_as(sql).bind(user.0).bind(since);
    let summaries = run(store, &mut tx, query).await?;
    let removed: Vec<Uuid> = sqlx::query_scalar(
        "SELECT conversation_id FROM members \
         WHERE user_id = $1 AND left_at_ms IS NOT NULL AND changed_at > $2",
    )
    .bind(user.0)
    .bind(since)
    .fetch_all(&mut *tx)
    .await
    .map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok((
        finish(store, summaries).await?,
        removed.into_iter().map(ConversationId).collect(),
    ))
}
