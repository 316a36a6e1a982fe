//! The search index's backfill: messages the index has no row for (sent before the index
//! existed, or whose log records expired before an indexer read them) are indexed by a walk of
//! every conversation's messages, run by the indexer role (natter-server's `backends/kafka.rs`)
//! next to its consumer, one bounded step at a time ([`PgStore::backfill_search_step`]).
//!
//! - **Wherever the bodies are**: messages are read through the [`MessageStore`] port
//!   (PostgreSQL's own table, or Cassandra), conversation by conversation in id order from
//!   PostgreSQL's `conversations`, each one's messages in seq order (`HistoryQuery::After`).
//! - **Never over a newer state**: messages that already have a row are left alone, and the
//!   others go through the indexer's own upsert (`search::upsert`), which an older `mod_seq`
//!   never wins: a state read here and written after the live indexer wrote a later one changes
//!   nothing; a later change reaches the index through the log as usual.
//! - **Resumable, one walker**: the position (the last conversation and seq done), the counts and
//!   the end are a row of `search_backfill` (migration 0012), locked `FOR UPDATE SKIP LOCKED` by
//!   each step and updated in the step's transaction with the step's writes: a process that dies
//!   mid-step loses that step only, and while one process walks the others' steps are
//!   [`BackfillStep::Busy`].
//! - **Bounded**: a step reads at most `budget` messages and visits at most `budget`
//!   conversations, so one transaction stays short whatever the conversation sizes.

use natter_domain::model::HistoryQuery;
use natter_domain::ports::{MessageStore, StoreResult};
use std::collections::HashSet;

use natter_domain::ConversationId;
use uuid::Uuid;

use crate::errors::db;
use crate::search::{SearchEntry, upsert};
use crate::{PgStore, commit};

/// The walk over every message (the row of `search_backfill` it keeps its position in).
const WALK: &str = "messages";

/// What one step of the backfill did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackfillStep {
    /// Another process is taking a step: try again later.
    Busy,
    /// A step was taken, or the walk was already over.
    Walked(BackfillProgress),
}

/// Where the walk is, and what it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillProgress {
    /// Messages read by this step.
    pub read: u64,
    /// Of them, those the index had no row for, now indexed.
    pub indexed: u64,
    /// Since the walk began.
    pub total_read: u64,
    pub total_indexed: u64,
    /// The last conversation done (wholly, or up to `seq`).
    pub conversation: ConversationId,
    pub seq: i64,
    /// Every conversation has been walked.
    pub done: bool,
}

/// A position's seq that means "the whole conversation".
const WHOLE: i64 = i64::MAX;

impl PgStore {
    /// Take one step of the backfill: read up to `budget` messages through `messages`, from
    /// where the walk stopped, and index those the index has no row for; save the new
    /// position with them. `Busy` while another process takes a step; once the walk is over,
    /// every step says so at once (`done`, nothing read).
    pub async fn backfill_search_step(
        &self,
        messages: &dyn MessageStore,
        budget: u32,
    ) -> StoreResult<BackfillStep> {
        let budget = budget.max(1);
        let mut tx = self.begin().await?;
        let position: Option<(Uuid, i64, i64, i64, Option<i64>)> = sqlx::query_as(
            "SELECT conversation_id, seq, read, indexed, done_at_ms FROM search_backfill \
             WHERE name = $1 FOR UPDATE SKIP LOCKED",
        )
        .bind(WALK)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some((mut at, mut seq, total_read, total_indexed, done_at)) = position else {
            return Ok(BackfillStep::Busy);
        };
        let mut progress = BackfillProgress {
            read: 0,
            indexed: 0,
            total_read: total_read as u64,
            total_indexed: total_indexed as u64,
            conversation: ConversationId(at),
            seq,
            done: done_at.is_some(),
        };
        if progress.done {
            return Ok(BackfillStep::Walked(progress));
        }

        let conversations: Vec<Uuid> =
            sqlx::query_scalar("SELECT id FROM conversations WHERE id >= $1 ORDER BY id LIMIT $2")
                .bind(at)
                .bind(i64::from(budget))
                .fetch_all(&mut *tx)
                .await
                .map_err(db)?;
        let mut entries = Vec::new();
        let mut full = false;
        for &conversation in &conversations {
            let after = if conversation == at { seq } else { 0 };
            if after == WHOLE {
                continue;
            }
            let limit = budget - entries.len() as u32;
            let page = messages
                .history(
                    ConversationId(conversation),
                    HistoryQuery::After { after, limit },
                )
                .await?;
            at = conversation;
            seq = if page.len() as u32 >= limit {
                full = true;
                page.last().map_or(after, |m| m.seq)
            } else {
                WHOLE
            };
            entries.extend(page.iter().map(SearchEntry::from_message));
            if full {
                break;
            }
        }
        // Fewer conversations than asked for and every one finished: none is left.
        progress.done = !full && conversations.len() < budget as usize;

        let ids: Vec<i64> = entries.iter().map(|e| e.id.0).collect();
        let present: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM message_search WHERE id = ANY($1)")
                .bind(&ids)
                .fetch_all(&mut *tx)
                .await
                .map_err(db)?;
        let present: HashSet<i64> = present.into_iter().collect();
        progress.read = entries.len() as u64;
        entries.retain(|e| !present.contains(&e.id.0));
        progress.indexed = entries.len() as u64;
        upsert(&mut *tx, &entries).await?;

        progress.total_read += progress.read;
        progress.total_indexed += progress.indexed;
        progress.conversation = ConversationId(at);
        progress.seq = seq;
        sqlx::query(
            "UPDATE search_backfill SET conversation_id = $2, seq = $3, read = $4, indexed = $5, \
             started_at_ms = coalesce(started_at_ms, (extract(epoch FROM now()) * 1000)::bigint), \
             done_at_ms = CASE WHEN $6 THEN (extract(epoch FROM now()) * 1000)::bigint END \
             WHERE name = $1",
        )
        .bind(WALK)
        .bind(at)
        .bind(seq)
        .bind(progress.total_read as i64)
        .bind(progress.total_indexed as i64)
        .bind(progress.done)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        commit(tx).await?;
        Ok(BackfillStep::Walked(progress))
    }
}
