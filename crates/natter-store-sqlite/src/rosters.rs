//! Who the current members of each small conversation are, kept in memory for presence.
//!
//! A user coming online or going offline is announced to every contact: the members of their
//! conversations of up to [`ROSTER_MAX`] members ([`ConversationStore::contacts_of`]). 10,000
//! users of rooms of 100 connecting at once each read their rooms' members again (200 rows
//! for a room of 100: counted up to the limit, then read), 26% of the server's CPU during
//! that connect storm, where a room has one list. Here a conversation's list is read once and
//! then served from memory; only the user's own memberships are read per call.
//!
//! Invalidation follows [`Cache`]'s rule: every write of this store that changes who is a
//! current member of a conversation (creating it, adding, removing or a member leaving) calls
//! [`Rosters::forget`] once the write returns (committed or not) and before the caller can tell
//! anyone, and a read that raced it never fills. A commit by another connection to the same
//! file (a second handle, another process) is not seen by those calls: the writer thread
//! notices it at its next batch (`PRAGMA data_version`) and calls [`Rosters::forget_all`].
//! Between that commit and this store's next write, presence may still be told to a member who
//! left through the other handle; a deployment runs one server per data directory.
//!
//! [`ConversationStore::contacts_of`]: natter_domain::ports::ConversationStore::contacts_of

use std::sync::Arc;

use natter_domain::cache::{Cache, Ticket};
use natter_domain::limits::PRESENCE_GROUP_MAX_MEMBERS;
use natter_domain::ports::StoreResult;
use natter_domain::{ConversationId, UserId};
use rusqlite::{Connection, params};

use crate::errors::sql;
use crate::rows::{blob, user_id};

/// The largest conversation whose list is kept: presence's limit. A `contacts_of` with a
/// larger limit, or none, reads the store.
pub(crate) const ROSTER_MAX: i64 = PRESENCE_GROUP_MAX_MEMBERS;

/// At most this many conversations' lists (each at most [`ROSTER_MAX`] ids of 16 bytes: about
/// 26 MB when every one is full, a few hundred KB for 10,000 users in rooms of 100).
const CONVERSATIONS_MAX: usize = 16_384;

/// A conversation's current members, or that it has more than [`ROSTER_MAX`].
#[derive(Debug, Clone)]
pub(crate) enum Roster {
    Members(Arc<[UserId]>),
    Larger,
}

pub(crate) struct Rosters(Cache<ConversationId, Roster>);

impl std::fmt::Debug for Rosters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rosters")
            .field("conversations", &self.0.len())
            .finish()
    }
}

impl Default for Rosters {
    fn default() -> Self {
        Self(Cache::new(CONVERSATIONS_MAX))
    }
}

impl Rosters {
    /// Take before the read transaction the rosters will be read in begins.
    pub(crate) fn ticket(&self) -> Ticket {
        self.0.ticket()
    }

    /// The roster of `conversation`, from memory or read on `conn` (inside the read transaction
    /// begun after `ticket` was taken) and kept.
    pub(crate) fn roster(
        &self,
        conn: &Connection,
        ticket: Ticket,
        conversation: ConversationId,
    ) -> StoreResult<Roster> {
        if let Some(known) = self.0.get(&conversation) {
            return Ok(known);
        }
        let read = read_roster(conn, conversation)?;
        self.0.fill(ticket, conversation, read.clone());
        Ok(read)
    }

    /// Who is a member of `conversation` may just have changed (or the write that would have
    /// changed it failed after it began).
    pub(crate) fn forget(&self, conversation: ConversationId) {
        self.0.invalidate(&conversation);
    }

    /// Another connection committed: any roster may be out of date.
    pub(crate) fn forget_all(&self) {
        self.0.clear();
    }
}

/// Read `conversation`'s current members, stopping one past [`ROSTER_MAX`].
fn read_roster(conn: &Connection, conversation: ConversationId) -> StoreResult<Roster> {
    let mut statement = conn
        .prepare_cached(
            "SELECT user_id FROM members \
             WHERE conversation_id = ? AND left_at_ms IS NULL LIMIT ?",
        )
        .map_err(sql)?;
    let mut rows = statement
        .query(params![
            conversation.0.as_bytes().as_slice(),
            ROSTER_MAX + 1
        ])
        .map_err(sql)?;
    let mut members = Vec::new();
    while let Some(row) = rows.next().map_err(sql)? {
        members.push(user_id(blob(row, 0)?)?);
    }
    if members.len() as i64 > ROSTER_MAX {
        return Ok(Roster::Larger);
    }
    Ok(Roster::Members(members.into()))
}
