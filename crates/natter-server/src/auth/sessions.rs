//! The session check behind every access token (each REST request, each `hello`), served from
//! memory where one process owns the accounts' store.
//!
//! An entry is the session as the store last said (owner, creation and last refresh times).
//! It is trusted only to *admit*: the creation time never changes and the last refresh only moves
//! forward, so a session the entry says is live is live. When the entry says it has expired, the
//! store is asked again (a refresh elsewhere may have extended it).
//!
//! Invalidation: every way a session ends in this process (logout, refresh-token reuse, a
//! password change ending the other sessions) invalidates its entry right after the store call
//! returns and before the revocation is published or answered, so a revoked session is refused
//! from then on. A refresh re-reads its entry's times from what the store answered. Reads that
//! missed fill through a [`Ticket`], so a read racing a revocation
//! cannot put the revoked session back.
//!
//! Only where the accounts' store is not shared (`Auth::with_session_cache`, called by the
//! embedded deployment alone): scaled out, a logout on one node reaches the others over the bus
//! only after that node answered, and a client could still be admitted by another node.
//! Bounded by count (`limits.session_cache_max`).

use natter_domain::cache::{Cache, Ticket};
use natter_domain::model::{Session, SessionCutoff};
use natter_domain::ports::{AccountStore, StoreResult};
use natter_domain::{SessionId, UserId};

/// What the check needs of a session (32 bytes, not the whole record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SessionTimes {
    pub user_id: UserId,
    pub created_at_ms: i64,
    pub last_used_at_ms: i64,
}

impl From<&Session> for SessionTimes {
    fn from(session: &Session) -> Self {
        Self {
            user_id: session.user_id,
            created_at_ms: session.created_at_ms,
            last_used_at_ms: session.last_used_at_ms,
        }
    }
}

pub(super) struct SessionCache(Cache<SessionId, SessionTimes>);

impl SessionCache {
    pub(super) fn new(max: usize) -> Self {
        Self(Cache::new(max))
    }

    /// The session `id` if it is known to be admitted at `cutoff`, else as the store says now.
    pub(super) async fn session(
        &self,
        accounts: &dyn AccountStore,
        id: SessionId,
        cutoff: SessionCutoff,
    ) -> StoreResult<Option<SessionTimes>> {
        if let Some(known) = self.0.get(&id)
            && cutoff.admits(known.created_at_ms, known.last_used_at_ms)
        {
            return Ok(Some(known));
        }
        let ticket = self.0.ticket();
        let found = accounts.session(id).await?.as_ref().map(SessionTimes::from);
        if let Some(times) = found {
            self.0.fill(ticket, id, times);
        }
        Ok(found)
    }

    /// A session this process created or refreshed: `session` is what the store answered to a
    /// write that began after `ticket` was taken.
    pub(super) fn remember(&self, ticket: Ticket, session: &Session) {
        self.0.fill(ticket, session.id, session.into());
    }

    pub(super) fn ticket(&self) -> Ticket {
        self.0.ticket()
    }

    /// The session ended (or may have: the store call failed).
    pub(super) fn forget(&self, id: SessionId) {
        self.0.invalidate(&id);
    }

    /// Sessions ended that cannot be named (a store call that may have ended some failed).
    pub(super) fn forget_all(&self) {
        self.0.clear();
    }
}
