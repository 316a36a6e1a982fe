//! The services: every chat operation, authorised and validated, written once against the ports.
//! REST handlers and WebSocket commands both call these, so the rules cannot drift apart.
//!
//! Ordering: every write that changes a conversation's event stream (messages, membership)
//! takes that conversation's lock across "check, store, publish", so events of one conversation
//! reach the bus in the order they were committed. Membership is re-checked under the lock, so a
//! member removed a moment ago cannot slip a message in.

mod conversations;
mod files;
mod locks;
mod membership;
mod messages;
mod order;
mod push;
mod receipts;
mod search;
mod users;

use std::sync::Arc;

use crate::error::DomainError;
use crate::events::Event;
use crate::ids::{ConversationId, MessageIdGenerator, UserId};
use crate::model::Member;
use crate::ports::{
    AccountStore, ConversationLocks, ConversationStore, EventBus, MemberUnderLock, MessageStore,
    PresenceStore,
};
use order::Order;

pub use conversations::NewGroup;
pub use locks::StripedLocks;
pub use membership::Membership;
pub use messages::{OutgoingMessage, QueuedSend, SendOutcome};
pub use search::{MessageHit, SearchResults};
pub use users::{ProfileChange, UserWithPresence};

/// Reads the wall clock. A port so tests can control time.
pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> i64;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default()
    }
}

/// Everything the services need, chosen at start-up by configuration.
#[derive(Clone)]
pub struct Ports {
    pub accounts: Arc<dyn AccountStore>,
    pub conversations: Arc<dyn ConversationStore>,
    pub messages: Arc<dyn MessageStore>,
    pub bus: Arc<dyn EventBus>,
    pub presence: Arc<dyn PresenceStore>,
    /// Per-conversation write order: [`StripedLocks`] in one process, a cluster-wide lock when
    /// processes share stores.
    pub locks: Arc<dyn ConversationLocks>,
    pub clock: Arc<dyn Clock>,
    /// File metadata; `None` where the deployment keeps no files (sending attachments and
    /// reading files are then `Unavailable`).
    pub files: Option<Arc<dyn crate::files::FileStore>>,
    /// The message search index; `None` where the deployment has none (scaled out without the
    /// message log): searching is then `Unavailable`.
    pub search: Option<Arc<dyn crate::ports::MessageSearch>>,
    /// Push devices and notification settings (in the accounts' database: a device belongs to
    /// a session).
    pub push: Arc<dyn crate::push::PushDevices>,
}

/// A cheap-to-clone handle to every chat operation.
#[derive(Clone)]
pub struct Chat {
    inner: Arc<Inner>,
}

struct Inner {
    ports: Ports,
    turns: order::PublishTurns,
    ids: MessageIdGenerator,
    last_seen: users::LastSeenBuffer,
    members: membership::MemberCache,
}

impl Chat {
    /// `node_id` must be unique among the processes sharing the same stores (see [`MessageIdGenerator`]).
    pub fn new(ports: Ports, node_id: u16) -> Self {
        Self::with_member_cache(ports, node_id, 0)
    }

    /// [`Chat::new`], keeping up to `max` memberships in memory (`membership.rs`). Only for a
    /// process that alone writes the stores (process-local order locks).
    pub fn with_member_cache(ports: Ports, node_id: u16, max: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                ports,
                turns: Default::default(),
                ids: MessageIdGenerator::new(node_id),
                last_seen: Default::default(),
                members: crate::cache::Cache::new(max),
            }),
        }
    }

    pub fn ports(&self) -> &Ports {
        &self.inner.ports
    }

    fn now(&self) -> i64 {
        self.inner.ports.clock.now_ms()
    }

    /// The actor's membership, or `NotFound`: a non-member must not learn whether the
    /// conversation exists.
    pub async fn require_member(
        &self,
        conversation: ConversationId,
        actor: UserId,
    ) -> Result<Member, DomainError> {
        self.inner
            .ports
            .conversations
            .member(conversation, actor)
            .await?
            .ok_or(DomainError::NotFound)
    }

    /// Take `conversation`'s write order: its lock, then the next publish turn (`order.rs`).
    async fn order(&self, conversation: ConversationId) -> Result<Order, DomainError> {
        let lock = self.inner.ports.locks.lock(conversation).await?;
        Ok(Order::new(lock, self.inner.turns.take(conversation)))
    }

    /// Take `conversation`'s write order as `actor`, who must be a current member (`NotFound`
    /// otherwise, like [`Chat::check_member`]): the membership is read under the lock, in the
    /// lock's own round trip where the lock can read it ([`ConversationLocks::lock_reading_member`]),
    /// else from the member cache or the store.
    ///
    /// [`ConversationLocks::lock_reading_member`]: crate::ports::ConversationLocks::lock_reading_member
    async fn order_as_member(
        &self,
        conversation: ConversationId,
        actor: UserId,
    ) -> Result<(Order, membership::Membership), DomainError> {
        let (lock, read) = self
            .inner
            .ports
            .locks
            .lock_reading_member(conversation, actor)
            .await?;
        let order = Order::new(lock, self.inner.turns.take(conversation));
        let me = match read {
            MemberUnderLock::NotRead => self.check_member(conversation, actor).await?,
            MemberUnderLock::NotAMember => return Err(DomainError::NotFound),
            MemberUnderLock::Member(member) => membership::Membership {
                role: member.role,
                replied: member.replied,
            },
        };
        Ok((order, me))
    }

    /// Publish an event of the conversation whose `order` this write holds, after the events
    /// of every write that took its order before; unless the write's event was published at
    /// its commit ([`Order::at_commit`]).
    async fn publish_ordered(&self, order: &mut Order, event: Event) {
        if order.turn().await {
            self.publish(event).await;
        }
    }

    /// Publish after a durable write. The write already happened, so a bus failure is logged
    /// rather than reported: clients that miss the live event get it when they resume.
    async fn publish(&self, event: Event) {
        if let Err(err) = self.inner.ports.bus.publish(event).await {
            tracing::warn!(%err, "event not published; clients will catch up on resume");
        }
    }
}
