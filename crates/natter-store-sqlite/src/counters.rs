//! Each conversation's `seq` and `mod_seq` counters, kept in memory by the writer thread, so an
//! append allocates its numbers without reading the conversation row first and can be one
//! `INSERT ... ON CONFLICT DO NOTHING` (a retry is told apart by the insert itself).
//!
//! The row stays the truth (`conversations.last_seq`, `last_mod`, written in the same
//! transaction as the message); the map is only a copy of it that must never run ahead of what
//! commits or fall behind what did:
//! - a write whose savepoint is rolled back puts back what it changed ([`Counters::rollback_job`]);
//! - a batch whose transaction fails forgets everything ([`Counters::forget`]): the next use
//!   reads the committed row again;
//! - a commit by another connection to the same file (a second `open`, another process) changes
//!   SQLite's `PRAGMA data_version`, checked at the start of every batch with the write lock
//!   held: the map is then forgotten too;
//! - the map is bounded: past [`CONVERSATIONS_MAX`] entries it starts over.
//!
//! An append does not update its conversation's row itself: the row is written once per batch
//! per conversation ([`Counters::write_rows_behind`]), before the next write that is not an
//! append (any of those may read the row) and before the commit. In a busy room that was one
//! `UPDATE` of the same row per message, ~10% of the writer's time per append.
//!
//! The same state carries the search index writes owed ([`PendingIndex`]), kept in step with
//! the savepoints the same way, and the global change counter (`meta.change_seq`):
//! read once per batch, advanced in memory by every write that needs a change number, written
//! once before the commit ([`Counters::save_change`]). One update of that one row per write was
//! 8% of the writer thread's time at 20,000 sends/s. A write rolled back leaves a gap in the
//! numbers, which nothing minds: they only need to grow with every commit.

use std::collections::HashMap;

use natter_domain::ports::StoreResult;
use natter_domain::{ConversationId, StoreError};
use rusqlite::{Connection, params};

use crate::query::{exec, one};
use crate::search_index::PendingIndex;

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
    /// The conversations whose row is behind their counter (appended to since it was written).
    rows_behind: HashMap<ConversationId, RowBehind>,
    /// What the running write changed of `rows_behind`, with the values before.
    rows_undo: Vec<(ConversationId, Option<RowBehind>)>,
    /// `PRAGMA data_version` when the last batch began: another connection's commit changes it.
    data_version: Option<i64>,
    /// The search index writes owed, written a few hundred at a time.
    pub(crate) search: PendingIndex,
    /// The change counter as this batch moved it, once a write of the batch needed it.
    change: Option<BatchChange>,
}

/// What a conversation's row is owed besides its counter: the appends' newest activity and
/// change number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RowBehind {
    last_activity_ms: i64,
    changed_at: i64,
}

/// The global change counter during a batch.
#[derive(Debug, Clone, Copy)]
struct BatchChange {
    last: i64,
    moved: bool,
    /// The last number the running write took, if it took one.
    of_this_write: Option<i64>,
}

impl Counters {
    /// A batch begins (inside its transaction, write lock held): forget what another
    /// connection may have changed since, and start over if the map grew too big. Answers
    /// whether another connection may have committed since the last batch (always at the first).
    pub(crate) fn begin_batch(&mut self, conn: &Connection) -> StoreResult<bool> {
        let version: i64 = one(conn, "PRAGMA data_version", [], |row| row.get(0))?.unwrap_or(0);
        let foreign_commit = self.data_version != Some(version);
        if foreign_commit || self.known.len() > CONVERSATIONS_MAX {
            self.known.clear();
        }
        self.data_version = Some(version);
        self.change = None;
        self.search.begin_batch(conn, foreign_commit)?;
        Ok(foreign_commit)
    }

    /// A write begins inside the batch.
    pub(crate) fn begin_job(&mut self) {
        self.undo.clear();
        self.rows_undo.clear();
        self.search.begin_job();
        if let Some(change) = &mut self.change {
            change.of_this_write = None;
        }
    }

    /// The write's savepoint was rolled back: put back every counter it changed.
    pub(crate) fn rollback_job(&mut self) {
        self.search.rollback_job();
        for (conversation, before) in self.rows_undo.drain(..).rev() {
            match before {
                Some(row) => self.rows_behind.insert(conversation, row),
                None => self.rows_behind.remove(&conversation),
            };
        }
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
        self.rows_behind.clear();
        self.rows_undo.clear();
        self.search.forget();
        self.change = None;
    }

    /// The next value of the global change counter (read from `meta` on the batch's first use).
    pub(crate) fn next_change(&mut self, conn: &Connection) -> StoreResult<i64> {
        let change = match &mut self.change {
            Some(change) => change,
            None => {
                let last = one(
                    conn,
                    "SELECT change_seq FROM meta WHERE id = 1",
                    [],
                    |row| row.get(0),
                )?
                .ok_or_else(|| StoreError::Internal("the meta row is missing".into()))?;
                self.change.insert(BatchChange {
                    last,
                    moved: false,
                    of_this_write: None,
                })
            }
        };
        change.last += 1;
        change.moved = true;
        change.of_this_write = Some(change.last);
        Ok(change.last)
    }

    /// The last change number the running write took ([`Counters::next_change`]), if any: its
    /// caller learns the counter's committed value from it once the batch commits.
    pub(crate) fn change_of_this_write(&self) -> Option<i64> {
        self.change.and_then(|change| change.of_this_write)
    }

    /// Write the change counter as the batch left it (just before the commit).
    pub(crate) fn save_change(&mut self, conn: &Connection) -> StoreResult<()> {
        if let Some(change) = self.change.as_mut().filter(|change| change.moved) {
            exec(
                conn,
                "UPDATE meta SET change_seq = ? WHERE id = 1",
                [change.last],
            )?;
            change.moved = false;
        }
        Ok(())
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

    /// The running write moved the conversation's counters to `counter`.
    pub(crate) fn set(&mut self, conversation: ConversationId, counter: Counter) {
        let before = self.known.insert(conversation, counter);
        self.undo.push((conversation, before));
    }

    /// The running write appended to the conversation (its counter already [`set`](Self::set)):
    /// its row is written later, by [`write_rows_behind`](Self::write_rows_behind).
    pub(crate) fn appended(
        &mut self,
        conversation: ConversationId,
        created_at_ms: i64,
        change: i64,
    ) {
        let before = self.rows_behind.get(&conversation).copied();
        let last_activity_ms =
            before.map_or(created_at_ms, |row| row.last_activity_ms.max(created_at_ms));
        self.rows_behind.insert(
            conversation,
            RowBehind {
                last_activity_ms,
                changed_at: change,
            },
        );
        self.rows_undo.push((conversation, before));
    }

    /// Bring the rows of the conversations appended to up to their counters: before a write
    /// that may read them, and before the commit.
    pub(crate) fn write_rows_behind(&mut self, conn: &Connection) -> StoreResult<()> {
        for (conversation, row) in self.rows_behind.drain() {
            let counter = self.known.get(&conversation).copied().ok_or_else(|| {
                StoreError::Internal("a conversation appended to has no counter".into())
            })?;
            exec(
                conn,
                "UPDATE conversations SET last_seq = ?, last_mod = ?, \
                 last_activity_ms = MAX(last_activity_ms, ?), changed_at = ? WHERE id = ?",
                params![
                    counter.last_seq,
                    counter.last_mod,
                    row.last_activity_ms,
                    row.changed_at,
                    conversation.0.as_bytes().as_slice()
                ],
            )?;
        }
        self.rows_undo.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(conn: &Connection) -> i64 {
        conn.query_row("SELECT change_seq FROM meta WHERE id = 1", [], |row| {
            row.get(0)
        })
        .unwrap()
    }

    #[test]
    fn the_change_counter_moves_in_memory_and_is_written_once_per_batch() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE meta (id INTEGER PRIMARY KEY, change_seq INTEGER NOT NULL, \
             search_from INTEGER); \
             INSERT INTO meta VALUES (1, 10, NULL);",
        )
        .unwrap();
        let mut counters = Counters::default();
        counters.begin_batch(&conn).unwrap();
        assert_eq!(counters.next_change(&conn).unwrap(), 11);
        assert_eq!(counters.next_change(&conn).unwrap(), 12);
        assert_eq!(counters.change_of_this_write(), Some(12));
        counters.begin_job();
        assert_eq!(
            counters.change_of_this_write(),
            None,
            "a new write took none yet"
        );
        assert_eq!(meta(&conn), 10, "nothing written before the batch ends");
        counters.save_change(&conn).unwrap();
        assert_eq!(meta(&conn), 12);

        // A batch that takes no number writes nothing.
        counters.begin_batch(&conn).unwrap();
        conn.execute("UPDATE meta SET change_seq = 20", []).unwrap();
        counters.save_change(&conn).unwrap();
        assert_eq!(meta(&conn), 20);

        // Each batch reads the row again: what failed (forgotten) or another connection wrote.
        counters.begin_batch(&conn).unwrap();
        assert_eq!(counters.next_change(&conn).unwrap(), 21);
        counters.forget();
        counters.begin_batch(&conn).unwrap();
        assert_eq!(counters.next_change(&conn).unwrap(), 21);
        counters.save_change(&conn).unwrap();
        assert_eq!(meta(&conn), 21);
    }
}
