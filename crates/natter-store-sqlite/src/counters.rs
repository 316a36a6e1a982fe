//! Each conversation's `seq` and `mod_seq` counters, kept in memory by the writer thread, so an
//! append allocates its numbers without reading the conversation row first and can be one
//! `INSERT ... ON CONFLICT DO NOTHING` (a retry is told apart by the insert itself).
//!
//! The row stays the truth (`conversations.last_seq`, `last_mod`, written in the same savepoint
//! as the message); the map is only a copy of it that must never run ahead of what commits or
//! fall behind what did:
//! - a write whose savepoint is rolled back puts back what it changed ([`Counters::rollback_job`]);
//! - a batch whose transaction fails forgets everything ([`Counters::forget`]): the next use
//!   reads the committed row again;
//! - a commit by another connection to the same file (a second `open`, another process) changes
//!   SQLite's `PRAGMA data_version`, checked at the start of every batch with the write lock
//!   held: the map is then forgotten too;
//! - the map is bounded: past [`CONVERSATIONS_MAX`] entries it starts over.
//!
//! The same per-batch state carries the batch's search index writes ([`PendingIndex`]), kept in
//! step with the savepoints the same way.

use std::collections::HashMap;

use natter_domain::ConversationId;
use natter_domain::ports::StoreResult;
use rusqlite::{Connection, params};

use crate::query::one;
use crate::search::PendingIndex;

/// Conversations remembered at most (about 50 bytes each).
const CONVERSATIONS_MAX: usize = 100_000;

/// A conversation's last `seq` and last `mod_seq`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Counter {
    pub(crate) last_seq: i64,
    pub(crate) last_mod: i64,
}

/// The counters of the conversations written to recently. Owned by the writer thread.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    known: HashMap<ConversationId, Counter>,
    /// What the running write changed, with the values before: put back if it fails.
    undo: Vec<(ConversationId, Option<Counter>)>,
    /// `PRAGMA data_version` when the last batch began: another connection's commit changes it.
    data_version: Option<i64>,
    /// The batch's search index writes, applied just before it commits.
    pub(crate) search: PendingIndex,
}

impl Counters {
    /// A batch begins (inside its transaction, write lock held): forget what another
    /// connection may have changed since, and start over if the map grew too big.
    pub(crate) fn begin_batch(&mut self, conn: &Connection) -> StoreResult<()> {
        let version: i64 = one(conn, "PRAGMA data_version", [], |row| row.get(0))?.unwrap_or(0);
        if self.data_version != Some(version) || self.known.len() > CONVERSATIONS_MAX {
            self.known.clear();
        }
        self.data_version = Some(version);
        Ok(())
    }

    /// A write begins inside the batch.
    pub(crate) fn begin_job(&mut self) {
        self.undo.clear();
        self.search.begin_job();
    }

    /// The write's savepoint was rolled back: put back every counter it changed.
    pub(crate) fn rollback_job(&mut self) {
        self.search.rollback_job();
        for (conversation, before) in self.undo.drain(..).rev() {
            match before {
                Some(counter) => self.known.insert(conversation, counter),
                None => self.known.remove(&conversation),
            };
        }
    }

    /// The batch did not commit: nothing remembered can be trusted.
    pub(crate) fn forget(&mut self) {
        self.known.clear();
        self.undo.clear();
        self.search.forget();
    }

    /// The conversation's counters as of this point of the transaction (read from its row on
    /// first use); `None` if there is no such conversation.
    pub(crate) fn get(
        &mut self,
        conn: &Connection,
        conversation: ConversationId,
    ) -> StoreResult<Option<Counter>> {
        if let Some(counter) = self.known.get(&conversation) {
            return Ok(Some(*counter));
        }
        let counter = one(
            conn,
            "SELECT last_seq, last_mod FROM conversations WHERE id = ?",
            params![conversation.0.as_bytes().as_slice()],
            |row| {
                Ok(Counter {
                    last_seq: row.get(0)?,
                    last_mod: row.get(1)?,
                })
            },
        )?;
        if let Some(counter) = counter {
            self.known.insert(conversation, counter);
        }
        Ok(counter)
    }

    /// The running write moved the conversation's counters to `counter` (and wrote its row).
    pub(crate) fn set(&mut self, conversation: ConversationId, counter: Counter) {
        let before = self.known.insert(conversation, counter);
        self.undo.push((conversation, before));
    }
}
