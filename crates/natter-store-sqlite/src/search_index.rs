//! The search index's writes (`message_search`, migration 0011), owed by the writer thread and
//! written a few hundred messages at a time rather than with every commit.
//!
//! Why: FTS5 turns what a transaction wrote to the index into a new segment at its commit, and
//! merges segments as they pile up. A commit carrying one message wrote about 26 KB of index
//! pages, one carrying 26 about 2.5 KB per message; the index was a third of the writer
//! thread's time per send (`append_bench`: with 26 sends a commit, 40 µs of writer CPU per send,
//! 33 µs with the index written every [`WRITE_AT`] messages; with one, 240 µs against 183 µs).
//!
//! What stays true:
//! - **A search finds every message committed before it began**: it first asks the writer to
//!   write everything owed ([`PendingIndex::write_at_commit`], one batch), then reads.
//! - **Nothing owed is lost by a crash.** `meta.search_from` (migration 0015), written in the
//!   transaction of every batch that leaves writes owed, is at or below the id of every message
//!   whose entry is owed (ids grow on a node, but not strictly in commit order: it is the lowest
//!   id owed, not the last one written). The first batch after the store opens, after a batch
//!   failed, or after another connection committed to the file re-indexes every message from
//!   there as it is stored ([`PendingIndex::begin_batch`]): what is owed is rebuilt from what
//!   committed, never trusted from memory that may be stale. Re-indexing an entry that was
//!   already written replaces it.
//! - **An edit or a delete of a message already in the index is written at its own commit**, with
//!   everything owed before it, as when every commit wrote the index: nothing but a message's
//!   creation waits. The writes of one message apply in the order they were made.
//! - **A write rolled back takes its index writes with it** ([`PendingIndex::rollback_job`]).
//!   The index is written after the batch's writes, outside their savepoints: FTS5 flushes what
//!   it holds to a new segment at every savepoint release.

use natter_domain::ports::StoreResult;
use natter_domain::search::index_text;
use rusqlite::{Connection, params};

use crate::query::{all, exec, one};

/// Owed writes at which a batch writes them all.
pub(crate) const WRITE_AT: usize = 256;

/// The part of the schema every batch reads, for tests that run a writer on a schema of their
/// own.
#[cfg(test)]
pub(crate) const META_FOR_TESTS: &str = "CREATE TABLE meta (id INTEGER PRIMARY KEY, \
    search_from INTEGER); INSERT INTO meta (id) VALUES (1);";

/// The search index writes owed. Owned by the writer thread, in its per-batch state
/// ([`crate::counters::Counters`]).
#[derive(Debug)]
pub(crate) struct PendingIndex {
    /// `(message id, its terms)` in the order they were made; `None`: take the message out of
    /// the index.
    writes: Vec<(i64, Option<String>)>,
    /// Where the running write's own entries begin.
    job_start: usize,
    /// The running batch writes everything owed at its commit.
    write_now: bool,
    /// The next batch rebuilds what is owed from the database before anything else.
    recover: bool,
    /// `meta.search_from` as this writer last wrote it (`None`: nothing owed).
    saved_from: Option<i64>,
}

impl Default for PendingIndex {
    /// Nothing known yet: the first batch recovers.
    fn default() -> Self {
        PendingIndex {
            writes: Vec::new(),
            job_start: 0,
            write_now: false,
            recover: true,
            saved_from: None,
        }
    }
}

impl PendingIndex {
    /// A batch begins (inside its transaction, write lock held). After the store opened, after a
    /// failed batch or when `foreign_commit` (another connection committed since the last batch),
    /// index again every message from `meta.search_from` and owe nothing.
    pub(crate) fn begin_batch(
        &mut self,
        conn: &Connection,
        foreign_commit: bool,
    ) -> StoreResult<()> {
        self.job_start = self.writes.len();
        if !(self.recover || foreign_commit) {
            return Ok(());
        }
        self.writes.clear();
        self.job_start = 0;
        let from = one(
            conn,
            "SELECT search_from FROM meta WHERE id = 1",
            [],
            |row| row.get::<_, Option<i64>>(0),
        )?
        .flatten();
        if let Some(from) = from {
            let messages = all(
                conn,
                "SELECT id, text FROM messages WHERE id >= ? AND deleted = 0",
                [from],
                |row| Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?)),
            )?;
            let mut again = PendingIndex::default();
            for (id, text) in messages {
                again.remove(id);
                again.put(id, &text);
            }
            again.write_all(conn)?;
            exec(conn, "UPDATE meta SET search_from = NULL WHERE id = 1", [])?;
        }
        self.saved_from = None;
        self.recover = false;
        Ok(())
    }

    /// Index the message `id` with `text` (nothing for a text without terms).
    pub(crate) fn put(&mut self, id: i64, text: &str) {
        self.put_terms(id, index_text(text));
    }

    /// [`put`](Self::put) with the terms already folded ([`index_text`]).
    pub(crate) fn put_terms(&mut self, id: i64, terms: String) {
        if !terms.is_empty() {
            self.writes.push((id, Some(terms)));
        }
    }

    /// Take the message `id` out of the index (nothing if it is not in it). A message whose
    /// entry is not owed may be in the index: this batch writes everything owed.
    pub(crate) fn remove(&mut self, id: i64) {
        if !self.writes.iter().any(|(owed, _)| *owed == id) {
            self.write_now = true;
        }
        self.writes.push((id, None));
    }

    /// The running batch writes everything owed (a search waits for it).
    pub(crate) fn write_at_commit(&mut self) {
        self.write_now = true;
    }

    pub(crate) fn begin_job(&mut self) {
        self.job_start = self.writes.len();
    }

    pub(crate) fn rollback_job(&mut self) {
        self.writes.truncate(self.job_start);
    }

    /// The batch did not commit: what is owed is rebuilt by the next one.
    pub(crate) fn forget(&mut self) {
        self.writes.clear();
        self.job_start = 0;
        self.write_now = false;
        self.recover = true;
    }

    /// Just before the batch commits: write everything owed if there is enough of it or this
    /// batch must, else note in `meta` where recovery would start.
    pub(crate) fn finish_batch(&mut self, conn: &Connection) -> StoreResult<()> {
        if self.write_now || self.writes.len() >= WRITE_AT {
            self.write_now = false;
            self.write_all(conn)?;
            if self.saved_from.take().is_some() {
                exec(conn, "UPDATE meta SET search_from = NULL WHERE id = 1", [])?;
            }
            return Ok(());
        }
        let from = self.writes.iter().map(|(id, _)| *id).min();
        if from.is_some() && from != self.saved_from {
            exec(conn, "UPDATE meta SET search_from = ? WHERE id = 1", [from])?;
            self.saved_from = from;
        }
        Ok(())
    }

    /// Write everything owed in the running transaction, in id order (each message's own
    /// writes in the order they were made). FTS5 keeps a transaction's index writes in memory
    /// and writes them out as one segment, but only while rowids come in ascending order: a
    /// smaller one makes it write a segment first. Ids are made before their writes queue, so
    /// in arrival order a batch of 256 wrote ~100 segments (and merged them): 61% of the
    /// writer's instructions in `append_bench`.
    pub(crate) fn write_all(&mut self, conn: &Connection) -> StoreResult<()> {
        self.job_start = 0;
        // Stable: one message's writes keep their order.
        self.writes.sort_by_key(|(id, _)| *id);
        for (id, terms) in self.writes.drain(..) {
            match terms {
                Some(terms) => exec(
                    conn,
                    "INSERT INTO message_search (rowid, terms) VALUES (?, ?)",
                    params![id, terms],
                )?,
                None => exec(conn, "DELETE FROM message_search WHERE rowid = ?", [id])?,
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `meta` row and an index that has recovered, owing nothing.
    fn owing_nothing() -> (Connection, PendingIndex) {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(META_FOR_TESTS).unwrap();
        let index = PendingIndex {
            recover: false,
            ..PendingIndex::default()
        };
        (conn, index)
    }

    fn saved_from(conn: &Connection) -> Option<i64> {
        conn.query_row("SELECT search_from FROM meta WHERE id = 1", [], |row| {
            row.get(0)
        })
        .unwrap()
    }

    /// Ids grow on a node but may commit out of order: the recovery point is the lowest id
    /// owed, not the latest.
    #[test]
    fn recovery_starts_at_the_lowest_id_owed() {
        let (conn, mut index) = owing_nothing();
        index.put(105, "late");
        index.finish_batch(&conn).unwrap();
        assert_eq!(saved_from(&conn), Some(105));
        index.put(103, "early");
        index.put(107, "later");
        index.finish_batch(&conn).unwrap();
        assert_eq!(saved_from(&conn), Some(103));
    }

    /// Messages owed out of id order are written as one FTS5 segment, as if they had come in
    /// order (FTS5 writes out what it holds whenever a rowid comes out of order), and an edit's
    /// remove-then-put of one message keeps its order.
    #[test]
    fn owed_messages_out_of_order_are_written_as_one_segment() {
        let schema = include_str!("../migrations/0011_message_search.sql");
        let index_rows = |conn: &Connection| -> i64 {
            conn.query_row("SELECT count(*) FROM message_search_data", [], |row| {
                row.get(0)
            })
            .unwrap()
        };
        let in_order = Connection::open_in_memory().unwrap();
        in_order.execute_batch(schema).unwrap();
        in_order.execute_batch("BEGIN").unwrap();
        for id in 1..=200 {
            in_order
                .execute(
                    "INSERT INTO message_search (rowid, terms) VALUES (?, 'out of order')",
                    [id],
                )
                .unwrap();
        }
        in_order.execute_batch("COMMIT").unwrap();

        let (conn, mut index) = owing_nothing();
        conn.execute_batch(schema).unwrap();
        let write_batch = |index: &mut PendingIndex| {
            conn.execute_batch("BEGIN").unwrap();
            index.write_all(&conn).unwrap();
            conn.execute_batch("COMMIT").unwrap();
        };
        for id in (1..=200).rev() {
            index.put(id, "out of order");
        }
        write_batch(&mut index);
        assert_eq!(index_rows(&conn), index_rows(&in_order));

        index.put(300, "later");
        index.remove(50);
        index.put(50, "edited");
        index.put(250, "late");
        write_batch(&mut index);
        let found = |term: &str| -> Vec<i64> {
            let mut statement = conn
                .prepare("SELECT rowid FROM message_search WHERE message_search MATCH ?")
                .unwrap();
            let rows = statement.query_map([term], |row| row.get(0)).unwrap();
            rows.map(Result::unwrap).collect()
        };
        assert_eq!(found("edited"), [50]);
        assert_eq!(found("order").len(), 199);
        assert_eq!(found("late OR later"), [250, 300]);
    }

    /// A write rolled back takes its index writes with it, and the recovery point follows.
    #[test]
    fn a_rolled_back_write_owes_nothing() {
        let (conn, mut index) = owing_nothing();
        index.begin_job();
        index.put(7, "kept");
        index.begin_job();
        index.put(3, "rolled back");
        index.rollback_job();
        index.finish_batch(&conn).unwrap();
        assert_eq!(index.writes, vec![(7, Some("kept".to_owned()))]);
        assert_eq!(saved_from(&conn), Some(7));
    }
}
