//! The membership check of the hot paths (every send, history page, resume and typing
//! indicator), served from memory where one process owns the stores.
//!
//! The cache holds, per (conversation, user) that was found to be a current member, the facts
//! those paths use: the role and whether the member has replied. Never a cursor or the mute
//! flag (they change without any event); operations that need those read the whole
//! [`Member`](crate::model::Member) with `require_member`.
//!
//! Invalidation: every service that changes a membership (add, remove or leave, role change)
//! invalidates the entry under the conversation's lock right after the store call returns
//! (whatever it returned) and before the event is published, and `replied` is set here when
//! this process records it. A removed member is therefore refused from the moment the removal
//! is stored. Only positive answers are kept: "not a member" always asks the store.
//!
//! Only where the order locks are process-local ([`Chat::with_member_cache`] is called by the
//! embedded deployment alone): with stores shared by several nodes, another node's change
//! reaches this one over the bus only after that node may have answered, so a client could see a
//! removal on one node and still read through another. Scaled out the check reads the store.

use crate::cache::Cache;
use crate::error::DomainError;
use crate::ids::{ConversationId, UserId};
use crate::model::Role;

use super::Chat;

/// What the hot paths need to know of a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Membership {
    pub role: Role,
    pub replied: bool,
}

pub(super) type MemberCache = Cache<(ConversationId, UserId), Membership>;

impl Chat {
    /// Like [`Chat::require_member`] (`NotFound` for a non-member), from memory when it can.
    pub async fn check_member(
        &self,
        conversation: ConversationId,
        user: UserId,
    ) -> Result<Membership, DomainError> {
        let cache = &self.inner.members;
        if let Some(known) = cache.get(&(conversation, user)) {
            return Ok(known);
        }
        let ticket = cache.ticket();
        let member = self.require_member(conversation, user).await?;
        let facts = Membership {
            role: member.role,
            replied: member.replied,
        };
        cache.fill(ticket, (conversation, user), facts);
        Ok(facts)
    }

    /// Forget what is known of `user` in `conversation`: its membership just changed in the
    /// store (or may have, when the store call failed).
    pub(super) fn forget_member(&self, conversation: ConversationId, user: UserId) {
        self.inner.members.invalidate(&(conversation, user));
    }

    /// The member's first message was recorded.
    pub(super) fn remember_replied(&self, conversation: ConversationId, user: UserId) {
        self.inner
            .members
            .update(&(conversation, user), |known| known.replied = true);
    }
}
