//! Message bodies in Apache Cassandra 5: [`CassandraMessages`] implements
//! [`MessageStore`] with the `scylla` driver (CQL v4, prepared statements only), while the
//! conversations, and with them each conversation's order, live in PostgreSQL behind a
//! [`MessageSequencer`].
//!
//! # Why it is shaped this way
//!
//! - **The order comes from the sequencer.** Cassandra has no transactions across partitions
//!   and no cheap counters, so it does not allocate seqs. Every write takes the conversation's
//!   ticket (`sequencer.begin`, exclusive across nodes), writes at `last_seq + 1` /
//!   `last_mod + 1`, and exists only once the ticket commits: seqs stay gap-free and changes
//!   apply one at a time, whichever node writes. A message is acknowledged only after the commit.
//! - **Uncommitted writes are harmless ("orphans").** Cells written before a commit that never
//!   happens (crash, failed commit, a timed-out write that Cassandra applies late) stay in
//!   Cassandra. Every write carries `USING TIMESTAMP` with the ticket's write stamp, larger than
//!   any stamp before it, and writes every column of its row, so the next committed write of the
//!   same row replaces all of an orphan's cells. Until then readers filter by the committed head
//!   (`sequencer.head()`): rows past `last_seq` are not read, change-index entries past
//!   `last_mod` are not read, and a changed row shows its new version only if the change index
//!   confirms the change was committed for that row, else the version it replaced, which the
//!   row keeps (`prev_*` columns). See `visibility`.
//! - **Bounded partitions.** `messages ((conversation_id, bucket), seq)` with
//!   `bucket = seq / bucket_size` (1,000 by default) and
//!   `changes ((conversation_id, mod_bucket), mod_seq) -> seq` likewise: no partition outgrows
//!   `bucket_size` rows however old the conversation. Since committed seqs are gap-free, which
//!   buckets a page covers is arithmetic on the head (`layout`): no scans of empty buckets.
//! - **No nulls, ever.** A null cell is a tombstone, and a column left out of a write keeps an
//!   older write's cell; absent values have sentinels instead (`reply_to_seq` 0, `edited_at_ms`
//!   0, empty lists). See `rows`.
//! - **Idempotency** by `client_ids ((conversation_id, sender_id, client_msg_id)) -> seq`,
//!   read under the ticket; a key counts only if the committed row at its seq carries the same
//!   sender and key (the key may be an orphan's).
//! - **Soft, final deletes; no-op changes bump nothing**, as in the embedded store (`apply`).
//! - **Failures are `Unavailable`.** Unreachable nodes and timeouts (5 s per request by
//!   default, [`CassandraConfig::request_timeout`]) map to `StoreError::Unavailable`, which the
//!   API answers with 503 and no ack (`errors`).
//!
//! Reads and writes use one consistency level ([`CassandraConfig::consistency`], `LOCAL_QUORUM`
//! by default), so every read sees every acknowledged write.
//!
//! Modules: `schema` (DDL), `statements` (prepared CQL), `rows` (row <-> message), `layout`
//! (buckets), `queries` (typed table access), `visibility` (the commit filter), `apply`
//! (change rules), `append`, `change`, `history`, `feed` (the operations), `errors`, `config`.
//!
//! [`MessageStore`]: natter_domain::ports::MessageStore
//! [`MessageSequencer`]: natter_domain::ports::MessageSequencer

mod append;
mod apply;
mod change;
mod config;
mod errors;
mod feed;
mod history;
mod layout;
mod queries;
mod rows;
mod schema;
mod statements;
mod visibility;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use natter_domain::model::*;
use natter_domain::ports::{MessageSequencer, MessageStore, StoreResult};
use natter_domain::{ConversationId, StoreError};
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use tokio::sync::OnceCell;

pub use crate::config::{CassandraConfig, Consistency, DEFAULT_BUCKET_SIZE, Replication};
use crate::layout::Layout;
pub use crate::schema::table_id;
use crate::statements::Statements;

/// Message bodies in one Cassandra keyspace. Cheap to clone: clones share the session.
#[derive(Clone)]
pub struct CassandraMessages {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    session: Session,
    keyspace: String,
    config: CassandraConfig,
    layout: Layout,
    sequencer: Arc<dyn MessageSequencer>,
    /// Prepared on first use: the tables may not exist before [`CassandraMessages::migrate`].
    statements: OnceCell<Statements>,
}

impl fmt::Debug for CassandraMessages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CassandraMessages")
            .field("keyspace", &self.inner.keyspace)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl CassandraMessages {
    /// Connect with the default [`CassandraConfig`]. `nodes` are `host:port` contact points;
    /// `keyspace` a lower-case identifier. `Unavailable` if no node answers in time.
    pub async fn connect(
        nodes: &[String],
        keyspace: &str,
        sequencer: Arc<dyn MessageSequencer>,
    ) -> StoreResult<Self> {
        Self::connect_with(nodes, keyspace, sequencer, CassandraConfig::default()).await
    }

    pub async fn connect_with(
        nodes: &[String],
        keyspace: &str,
        sequencer: Arc<dyn MessageSequencer>,
        config: CassandraConfig,
    ) -> StoreResult<Self> {
        schema::check_keyspace(keyspace)?;
        config.validate()?;
        if nodes.is_empty() {
            return Err(StoreError::Internal("no Cassandra node given".into()));
        }
        let profile = ExecutionProfile::builder()
            .consistency(config.consistency.driver())
            .request_timeout(Some(config.request_timeout))
            .build();
        let builder = SessionBuilder::new()
            .known_nodes(nodes)
            .connection_timeout(config.connect_timeout)
            .default_execution_profile_handle(profile.into_handle())
            .keyspaces_to_fetch([keyspace]);
        // The builder bounds each connection attempt; this bounds the whole start-up (metadata
        // fetches included) so an unreachable cluster fails fast instead of hanging.
        let session = tokio::time::timeout(config.connect_timeout * 3, builder.build())
            .await
            .map_err(|_| StoreError::Unavailable(format!("cassandra: no answer from {nodes:?}")))?
            .map_err(errors::new_session)?;
        Ok(Self {
            inner: Arc::new(Inner {
                session,
                keyspace: keyspace.to_owned(),
                layout: Layout::new(config.bucket_size),
                config,
                sequencer,
                statements: OnceCell::new(),
            }),
        })
    }

    /// Create the keyspace (with [`CassandraConfig::replication`]) and the tables if missing.
    /// Idempotent; run it before the first read or write. Nodes may run it at the same time:
    /// tables are created with fixed ids ([`table_id`]), so racing creations agree.
    pub async fn migrate(&self) -> StoreResult<()> {
        schema::migrate(
            &self.inner.session,
            &self.inner.keyspace,
            &self.inner.config.replication,
        )
        .await
    }

    pub fn keyspace(&self) -> &str {
        &self.inner.keyspace
    }

    pub fn config(&self) -> &CassandraConfig {
        &self.inner.config
    }
}

impl Inner {
    pub(crate) async fn statements(&self) -> StoreResult<&Statements> {
        self.statements
            .get_or_try_init(|| Statements::prepare(&self.session, &self.keyspace))
            .await
    }
}

#[async_trait]
impl MessageStore for CassandraMessages {
    async fn append(&self, message: NewMessage) -> StoreResult<AppendOutcome> {
        self.inner.append(message).await
    }

    async fn change(
        &self,
        conversation: ConversationId,
        seq: i64,
        change: MessageChange,
        now_ms: i64,
    ) -> StoreResult<Message> {
        self.inner.change(conversation, seq, change, now_ms).await
    }

    async fn message(
        &self,
        conversation: ConversationId,
        seq: i64,
    ) -> StoreResult<Option<Message>> {
        self.inner.message(conversation, seq).await
    }

    async fn history(
        &self,
        conversation: ConversationId,
        query: HistoryQuery,
    ) -> StoreResult<Vec<Message>> {
        self.inner.history(conversation, query).await
    }

    async fn changes_since(
        &self,
        conversation: ConversationId,
        after_mod: i64,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        self.inner
            .changes_since(conversation, after_mod, limit)
            .await
    }
}
