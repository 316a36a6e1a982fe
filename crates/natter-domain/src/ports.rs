//! The ports: what the domain needs from storage, the event bus and presence. Each backend is an
//! adapter implementing these traits; the domain never names a database.
//!
//! Every store method is atomic: it either fully happens or returns an error and changes nothing.

use std::future::Future;
use std::pin::Pin;

use async_trait::async_trait;

use crate::error::{BusError, StoreError};
use crate::events::Event;
use crate::files::Attachment;
use crate::ids::{ConversationId, SessionId, UserId};
use crate::model::*;
use crate::values::{DisplayName, GroupName, Topic, Username};

pub type StoreResult<T> = Result<T, StoreError>;

/// Users, their credentials and their sessions (devices).
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// `Conflict` if the username is taken.
    async fn create_user(&self, user: NewUser) -> StoreResult<User>;
    async fn user(&self, id: UserId) -> StoreResult<Option<User>>;
    /// Users that exist among `ids`, in no particular order.
    async fn users(&self, ids: &[UserId]) -> StoreResult<Vec<User>>;
    /// The user and their PHC password hash.
    async fn credentials(&self, username: &Username) -> StoreResult<Option<(User, String)>>;
    /// Users whose username starts with `query.username_prefix`, or whose display name
    /// matches `query.name` ([`crate::names`]: each of its words begins a word of the name),
    /// from an index of display-name words, not a scan of all users. The user whose username
    /// is the prefix first, then the others whose username starts with it, then the rest; by
    /// username within each. At most `limit`.
    async fn search_users(
        &self,
        query: &crate::names::UserQuery,
        limit: u32,
    ) -> StoreResult<Vec<User>>;
    /// `NotFound` if the user does not exist. Indexes the new name's words with it.
    async fn set_display_name(&self, id: UserId, name: &DisplayName) -> StoreResult<User>;
    /// Make `avatar` (a snapshot of a complete file) the user's picture, or with `None` remove
    /// it. The store keeps the file's id with the user, so that while it is an avatar the file
    /// is not collectable ([`crate::files::Collectable`]), and checks that the file exists
    /// atomically with the write (against a collector deleting it at that moment). `NotFound`,
    /// and nothing changed, if the user or the file does not exist. The store checks nothing
    /// else about the file: the caller has.
    async fn set_avatar(&self, id: UserId, avatar: Option<&Attachment>) -> StoreResult<User>;
    /// Record when users were last connected, in one write. Unknown users are skipped.
    async fn record_last_seen(&self, seen: &[(UserId, i64)]) -> StoreResult<()>;

    async fn create_session(&self, session: NewSession) -> StoreResult<Session>;
    /// Active (not revoked) session.
    async fn session(&self, id: SessionId) -> StoreResult<Option<Session>>;
    /// Active sessions of a user, oldest first.
    async fn sessions(&self, user: UserId) -> StoreResult<Vec<Session>>;
    /// Spend `presented` and make `replacement` current, atomically. A spent token presented
    /// again revokes its session (refresh-token reuse detection). A session past `cutoff`
    /// (as it was before this call) is revoked and the answer is `Invalid`.
    async fn rotate_refresh(
        &self,
        presented: [u8; 32],
        replacement: [u8; 32],
        now_ms: i64,
        cutoff: SessionCutoff,
    ) -> StoreResult<RefreshOutcome>;
    /// Idempotent.
    async fn revoke_session(&self, id: SessionId) -> StoreResult<()>;
    /// Replace the user's password hash and revoke every other active session, atomically (a
    /// session opened with the old password dies with it). Returns the revoked sessions;
    /// `NotFound` if the user does not exist.
    async fn set_password(
        &self,
        id: UserId,
        password_hash: &str,
        keep: SessionId,
        now_ms: i64,
    ) -> StoreResult<Vec<SessionId>>;
}

/// Conversations, membership, and per-member cursors.
#[async_trait]
pub trait ConversationStore: Send + Sync + 'static {
    /// Create with its initial members. For `Direct`, `Conflict` if the pair already has one.
    async fn create_conversation(&self, new: NewConversation) -> StoreResult<Conversation>;
    /// The direct conversation between two users, if any.
    async fn direct_between(&self, a: UserId, b: UserId) -> StoreResult<Option<ConversationId>>;
    async fn conversation(&self, id: ConversationId) -> StoreResult<Option<Conversation>>;
    /// `None` values leave the field unchanged. `NotFound` if absent.
    async fn update_conversation(
        &self,
        id: ConversationId,
        name: Option<GroupName>,
        topic: Option<Topic>,
        now_ms: i64,
    ) -> StoreResult<Conversation>;

    /// Current membership; `None` for non-members and former members.
    async fn member(
        &self,
        conversation: ConversationId,
        user: UserId,
    ) -> StoreResult<Option<Member>>;
    /// Current members, in order of joining.
    async fn members(&self, conversation: ConversationId) -> StoreResult<Vec<Member>>;
    /// Add a current member (a former member rejoins with fresh cursors at the current seq).
    /// `Conflict` if already a member.
    async fn add_member(
        &self,
        conversation: ConversationId,
        user: UserId,
        role: Role,
        now_ms: i64,
    ) -> StoreResult<Member>;
    /// `NotFound` if not a member.
    async fn remove_member(
        &self,
        conversation: ConversationId,
        user: UserId,
        now_ms: i64,
    ) -> StoreResult<()>;
    /// `NotFound` if not a member.
    async fn set_role(
        &self,
        conversation: ConversationId,
        user: UserId,
        role: Role,
        now_ms: i64,
    ) -> StoreResult<Member>;
    async fn set_muted(
        &self,
        conversation: ConversationId,
        user: UserId,
        muted: bool,
        now_ms: i64,
    ) -> StoreResult<Member>;
    /// Raise the read cursor to `seq` (never lowers it; clamps to the conversation's last seq;
    /// raises the delivered cursor along with it).
    async fn mark_read(
        &self,
        conversation: ConversationId,
        user: UserId,
        seq: i64,
        now_ms: i64,
    ) -> StoreResult<Member>;
    /// Raise the delivered cursor (never lowers it; clamps to the last seq).
    async fn mark_delivered(
        &self,
        conversation: ConversationId,
        user: UserId,
        seq: i64,
        now_ms: i64,
    ) -> StoreResult<Member>;

    /// The user's conversations, most recent activity first; `before_activity_ms` pages.
    async fn conversations_of(
        &self,
        user: UserId,
        before_activity_ms: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<ConversationSummary>>;
    /// One conversation as `user` sees it; `None` unless a current member.
    async fn summary(
        &self,
        conversation: ConversationId,
        user: UserId,
    ) -> StoreResult<Option<ConversationSummary>>;
    /// Summaries of those of `ids` that `user` is a current member of, in no particular order.
    async fn summaries(
        &self,
        user: UserId,
        ids: &[ConversationId],
    ) -> StoreResult<Vec<ConversationSummary>> {
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            found.extend(self.summary(*id, user).await?);
        }
        Ok(found)
    }
    /// What names each of the user's current conversations (a group's name, a direct
    /// conversation's other member), in no particular order: one indexed read of the user's
    /// memberships, which [`crate::names::matching_conversations`] filters.
    async fn conversation_titles(
        &self,
        user: UserId,
    ) -> StoreResult<Vec<crate::names::ConversationTitle>>;
    /// Ids of all the user's current conversations.
    async fn conversation_ids_of(&self, user: UserId) -> StoreResult<Vec<ConversationId>>;
    /// Who may see `user`'s presence: everyone who shares a conversation with `user`
    /// (excluding `user`), counting only conversations of at most `max_members` current members
    /// when it is given, and direct conversations only where `user` has `replied`.
    async fn contacts_of(&self, user: UserId, max_members: Option<i64>)
    -> StoreResult<Vec<UserId>>;
    /// Record that `user` has sent a message in `conversation` ([`Member::replied`]). Idempotent;
    /// nothing for a non-member.
    async fn mark_replied(&self, conversation: ConversationId, user: UserId) -> StoreResult<()>;
    /// Conversations that changed for `user` after `since` (0 = all): new messages, metadata,
    /// membership, own cursors. Also those the user left since then.
    async fn changed_since(&self, user: UserId, since: i64) -> StoreResult<SyncPage>;

    /// A sync cursor for a client that has nothing yet: every change committed after it is
    /// reported by a later `changed_since` from it. Any committed value of the change counter
    /// will do (an older one only replays more), so a store may answer from memory.
    async fn change_cursor(&self) -> StoreResult<i64> {
        Ok(self
            .changed_since(UserId(uuid::Uuid::nil()), i64::MAX)
            .await?
            .cursor)
    }
}

/// Messages. Implementations allocate `seq` and `mod_seq` atomically with the write.
#[async_trait]
pub trait MessageStore: Send + Sync + 'static {
    /// Store a message with the conversation's next seq, durably, before returning. If the same
    /// sender already used this `client_msg_id` in this conversation, return that message instead
    /// (`Duplicate`) and change nothing.
    async fn append(&self, message: NewMessage) -> StoreResult<AppendOutcome>;
    /// Queue an append behind every write queued before it, and return once it is queued: the
    /// [`QueuedAppend`] resolves as [`append`](Self::append) would, after the commit. A store
    /// whose writes commit in the order they were queued (the embedded store's one writer)
    /// implements it, and the caller releases the conversation's order lock before the commit,
    /// so sends to one busy conversation share commits. The default appends before returning.
    ///
    /// `after_commit`, if given, may be run with the message the append created, on the thread
    /// that committed it, right after the commit and before the append is answered: a store
    /// whose one thread commits every write runs the hooks of a batch in commit order (the
    /// domain publishes the send's event there, without waiting for the sender's task to run
    /// again). It must not block. A store may also drop it unrun (the default does): the caller
    /// must not rely on it having run.
    async fn queue_append(
        &self,
        message: NewMessage,
        after_commit: Option<AfterCommit>,
    ) -> StoreResult<QueuedAppend> {
        drop(after_commit);
        let outcome = self.append(message).await?;
        Ok(QueuedAppend::done(outcome))
    }
    /// Apply a change, bumping the conversation's change counter. `NotFound` if no such message.
    async fn change(
        &self,
        conversation: ConversationId,
        seq: i64,
        change: MessageChange,
        now_ms: i64,
    ) -> StoreResult<Message>;
    async fn message(&self, conversation: ConversationId, seq: i64)
    -> StoreResult<Option<Message>>;
    /// A page of history in ascending seq order.
    async fn history(
        &self,
        conversation: ConversationId,
        query: HistoryQuery,
    ) -> StoreResult<Vec<Message>>;
    /// Messages whose latest change is after `after_mod`, in `mod_seq` order, at most `limit`.
    async fn changes_since(
        &self,
        conversation: ConversationId,
        after_mod: i64,
        limit: u32,
    ) -> StoreResult<Vec<Message>>;
}

/// The message search index (`crate::search` says what matches). Embedded, SQLite FTS5 written
/// in the same transaction as each message; scaled out, PostgreSQL full-text search written by
/// an indexer from the message log, so it may lag a send by the log's delay. Either way it
/// answers from the same database as the memberships, so a removed member stops finding a
/// conversation's messages at once.
#[async_trait]
pub trait MessageSearch: Send + Sync + 'static {
    /// Messages matching `query` in the conversations `user` is a current member of, created at
    /// or after that membership began, not deleted; in `query.order`, after `query.cursor`, at
    /// most `query.limit`.
    async fn search_messages(
        &self,
        user: UserId,
        query: &crate::search::MessageQuery,
    ) -> StoreResult<crate::search::HitPage>;
}

/// Run by a store with the message an append created, right after its commit
/// ([`MessageStore::queue_append`]).
pub type AfterCommit = Box<dyn FnOnce(&Message) + Send>;

/// An append queued by [`MessageStore::queue_append`], not necessarily committed yet.
pub struct QueuedAppend {
    committed: Pin<Box<dyn Future<Output = StoreResult<AppendOutcome>> + Send>>,
    /// Queued in a store that commits in queue order, not yet committed: the conversation's
    /// lock may be released now. `false` when the append is over (the default `queue_append`):
    /// then the lock must be held until the publish, since other processes may share the store.
    queued: bool,
}

impl QueuedAppend {
    /// An append whose outcome `committed` gives once it is durable.
    pub fn new(
        committed: impl Future<Output = StoreResult<AppendOutcome>> + Send + 'static,
    ) -> Self {
        Self {
            committed: Box::pin(committed),
            queued: true,
        }
    }

    /// An append already committed.
    pub fn done(outcome: AppendOutcome) -> Self {
        Self {
            queued: false,
            ..Self::new(std::future::ready(Ok(outcome)))
        }
    }

    /// Whether the append was only queued, in a store that commits in queue order.
    pub fn is_queued(&self) -> bool {
        self.queued
    }

    /// Wait for the commit.
    pub async fn committed(self) -> StoreResult<AppendOutcome> {
        self.committed.await
    }
}

/// Delivers events to every gateway node. Contract: events published by one caller for one
/// conversation are delivered in publish order; delivery is at most once, so a subscriber that
/// lags or reconnects must resync from storage (it is told via [`BusItem::Lagged`]).
#[async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// An error means the event did not reach the bus now. Do not publish it again: a bus may
    /// keep it and publish it once it can (the Redis bus does, in order).
    async fn publish(&self, event: Event) -> Result<(), BusError>;
    fn subscribe(&self) -> Box<dyn BusSubscription>;

    /// Whether [`publish_now`](Self::publish_now) works: a bus in this process publishes without
    /// waiting for anything.
    fn publishes_now(&self) -> bool {
        false
    }

    /// Publish from any thread, without waiting (a store's commit hook does, see
    /// [`MessageStore::queue_append`]); in the order of the calls, and in order with
    /// [`publish`](Self::publish). Only where [`publishes_now`](Self::publishes_now).
    fn publish_now(&self, event: Event) -> Result<(), BusError> {
        drop(event);
        Err(BusError::Unavailable(
            "this bus cannot publish without waiting".into(),
        ))
    }
}

#[async_trait]
pub trait BusSubscription: Send {
    /// `None` when the bus is shut down.
    async fn next(&mut self) -> Option<BusItem>;

    /// The next item if one is ready now, without waiting (`None`: nothing ready, or the bus is
    /// shut down; [`Self::next`] tells which). Lets a subscriber take what is waiting as one batch.
    fn try_next(&mut self) -> Option<BusItem> {
        None
    }
}

#[derive(Debug, Clone)]
pub enum BusItem {
    Event(std::sync::Arc<Event>),
    /// Events were dropped for this subscriber; local connections must resync.
    Lagged,
    /// The bus lost its connection: events published from now on may not arrive until it
    /// reports `Lagged` (reconnected, what was published in between is missing) or, when a
    /// durable feed fills in (`natter-kafka`), `Resumed`. Meanwhile only message events can
    /// arrive (read from the durable log): membership events may be missing, so members must be
    /// resolved from the store.
    Down,
    /// After `Down`: the bus is live again and every message event published in between was
    /// delivered. Membership events published in between may be missing: member sets cached
    /// before must be reloaded.
    Resumed,
}

/// Who is online. Counts connections per user across the cluster.
#[async_trait]
pub trait PresenceStore: Send + Sync + 'static {
    /// Record a new connection; `true` if the user just came online.
    async fn connected(&self, user: UserId) -> StoreResult<bool>;
    /// Record a closed connection; `true` if the user just went offline.
    async fn disconnected(&self, user: UserId) -> StoreResult<bool>;
    /// Which of `users` are online now.
    async fn online(&self, users: &[UserId]) -> StoreResult<Vec<UserId>>;
}

/// Holds one conversation's order lock until dropped.
pub type OrderGuard = Box<dyn Send + Sync>;

/// Serialises the writes of one conversation across every process that shares the stores, so
/// that "check, store, publish" runs one at a time and events reach the bus in commit order.
/// Embedded: striped in-process mutexes; scaled out: a PostgreSQL advisory lock.
#[async_trait]
pub trait ConversationLocks: Send + Sync + 'static {
    /// Wait for the lock. `Unavailable` if the lock service cannot be reached.
    async fn lock(&self, conversation: ConversationId) -> StoreResult<OrderGuard>;

    /// [`lock`](Self::lock), then `user`'s current membership of the conversation read under
    /// the lock, where the lock lives beside the memberships and can read them in the same
    /// round trip (scaled out, the lock's transaction is on the PostgreSQL that holds them: a
    /// send waits for one answer fewer under its conversation's lock). The read must start
    /// after the lock is granted, so that a membership change made under the lock before is
    /// seen. By default nothing is read ([`MemberUnderLock::NotRead`]).
    async fn lock_reading_member(
        &self,
        conversation: ConversationId,
        _user: UserId,
    ) -> StoreResult<(OrderGuard, MemberUnderLock)> {
        Ok((self.lock(conversation).await?, MemberUnderLock::NotRead))
    }
}

/// What [`ConversationLocks::lock_reading_member`] found of the user.
#[derive(Debug, Clone, PartialEq)]
pub enum MemberUnderLock {
    /// Not read with the lock: the caller reads it.
    NotRead,
    /// A current member.
    Member(Member),
    /// Not a current member (or no such conversation).
    NotAMember,
}

/// A conversation's committed counters, as a [`MessageSequencer`] hands them out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequenceHead {
    /// `seq` of the newest committed message (0 when empty).
    pub last_seq: i64,
    /// The conversation's committed change counter.
    pub last_mod: i64,
    /// A write stamp strictly greater than every stamp handed out before, cluster-wide. Message
    /// stores with last-write-wins cells (Cassandra) write with it, so a write that was never
    /// committed (its process died before [`SequenceTicket::commit`]) always loses to the next.
    pub write_stamp: i64,
}

/// The per-conversation sequence of a message store that keeps message bodies apart from the
/// conversations (Cassandra bodies, PostgreSQL conversations). The sequencer owns the committed
/// `last_seq` / `last_mod` and the conversation's activity and sync stamps; the body store
/// writes under a ticket and commits through it, so seqs stay gap-free and changes apply one at
/// a time whichever node writes.
#[async_trait]
pub trait MessageSequencer: Send + Sync + 'static {
    /// Take the conversation's write ticket (exclusive until committed or dropped; dropping
    /// rolls back). `NotFound` if the conversation does not exist.
    async fn begin(&self, conversation: ConversationId) -> StoreResult<Box<dyn SequenceTicket>>;
    /// The committed head now, without taking the ticket (`write_stamp` is 0). `NotFound` if the
    /// conversation does not exist.
    async fn head(&self, conversation: ConversationId) -> StoreResult<SequenceHead>;
}

#[async_trait]
pub trait SequenceTicket: Send {
    /// The committed head when the ticket was taken.
    fn head(&self) -> SequenceHead;
    /// Commit a new message at `head.last_seq + 1` with change number `head.last_mod + 1`,
    /// stamping the conversation's activity with `created_at_ms`.
    async fn commit_append(self: Box<Self>, created_at_ms: i64) -> StoreResult<()>;
    /// Commit a change to the existing message `seq` with change number `head.last_mod + 1`.
    async fn commit_change(self: Box<Self>, seq: i64) -> StoreResult<()>;
}

pub use crate::files::FileStore;
