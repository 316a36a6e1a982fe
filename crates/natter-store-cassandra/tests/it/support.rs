//! Connecting the tests to the Cassandra named by `NATTER_TEST_CASSANDRA_NODES` (comma-separated
//! `host:port`, default 127.0.0.1:59042) and the PostgreSQL named by `NATTER_TEST_POSTGRES_URL`.
//! An unreachable server fails the test with a message saying so (never a silent skip).
//!
//! Every case shares one keyspace, `natter_test`, migrated once per test binary; cases use
//! fresh random conversation ids, so they can run concurrently against it. Each case opens its
//! own session (a session's background tasks live on the runtime that created it, and every
//! case has its own runtime).

use std::sync::Arc;

use natter_domain::model::{
    AppendOutcome, ConversationKind, Message, NewConversation, NewMessage, NewUser, Role,
};
use natter_domain::ports::{AccountStore, ConversationStore, MessageSequencer, MessageStore};
use natter_domain::values::{ClientMsgId, DisplayName, MessageText, Username};
use natter_domain::{ConversationId, MessageIdGenerator, UserId};
use natter_store_cassandra::{CassandraConfig, CassandraMessages};
use natter_store_postgres::PgStore;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use tokio::sync::OnceCell;

use crate::faults::Faults;

pub const KEYSPACE: &str = "natter_test";
pub const DEFAULT_NODES: &str = "127.0.0.1:59042";
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:55432/natter";
/// Connections per case: a ticket holds one for the length of a write, and the concurrency
/// cases run 8 to 16 writers at once.
const POSTGRES_POOL: u32 = 8;
/// A fixed clock origin so times in assertions are readable.
pub const T0: i64 = 1_800_000_000_000;

pub fn nodes() -> Vec<String> {
    std::env::var("NATTER_TEST_CASSANDRA_NODES")
        .unwrap_or_else(|_| DEFAULT_NODES.to_owned())
        .split(',')
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .collect()
}

static MIGRATED: OnceCell<()> = OnceCell::const_new();
static PG_MIGRATED: OnceCell<()> = OnceCell::const_new();

/// The PostgreSQL store (conversations, and the sequencer), migrated on first use.
pub async fn postgres() -> PgStore {
    let url = std::env::var("NATTER_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
    let store = PgStore::connect(&url, POSTGRES_POOL)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL at {url} is unreachable: {e}\n\
                 start it (scripts/services start postgres), or point \
                 NATTER_TEST_POSTGRES_URL at one (the database must exist)"
            )
        });
    PG_MIGRATED
        .get_or_init(|| async { store.migrate().await.expect("migrate PostgreSQL") })
        .await;
    store
}

/// A store on the test keyspace (migrated on first use).
pub async fn messages(
    sequencer: Arc<dyn MessageSequencer>,
    config: CassandraConfig,
) -> CassandraMessages {
    let nodes = nodes();
    let store = CassandraMessages::connect_with(&nodes, KEYSPACE, sequencer, config)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "Cassandra at {nodes:?} is unreachable: {e}\n\
                 start it (scripts/services start cassandra), or point \
                 NATTER_TEST_CASSANDRA_NODES at one"
            )
        });
    MIGRATED
        .get_or_init(|| async { store.migrate().await.expect("migrate the test keyspace") })
        .await;
    store
}

/// A plain driver session, for looking at the tables behind the store's back.
pub async fn raw_session() -> Session {
    SessionBuilder::new()
        .known_nodes(nodes())
        .build()
        .await
        .expect("raw Cassandra session")
}

/// One case's world: a message store sequenced by PostgreSQL, through a wrapper that can be
/// told to fail a commit.
pub struct Env {
    pub messages: CassandraMessages,
    pub faults: Arc<Faults>,
    pub postgres: PgStore,
    ids: MessageIdGenerator,
    next_client_id: std::sync::atomic::AtomicU64,
}

impl Env {
    pub async fn new(bucket_size: i64) -> Self {
        let postgres = postgres().await;
        let faults = Arc::new(Faults::new(Arc::new(postgres.clone())));
        let config = CassandraConfig {
            bucket_size,
            ..CassandraConfig::default()
        };
        Self {
            messages: messages(faults.clone(), config).await,
            faults,
            postgres,
            ids: MessageIdGenerator::new(7),
            next_client_id: Default::default(),
        }
    }

    /// A new, empty group conversation, owned by a new user.
    pub async fn conversation(&self) -> ConversationId {
        let owner = UserId::new();
        let name = format!("u{}", &owner.0.simple().to_string()[20..]);
        self.postgres
            .create_user(NewUser {
                id: owner,
                username: Username::parse(&name).unwrap(),
                display_name: DisplayName::parse("Owner").unwrap(),
                password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
                created_at_ms: T0,
            })
            .await
            .expect("create a user in PostgreSQL");
        let created = self
            .postgres
            .create_conversation(NewConversation {
                id: ConversationId::new(),
                kind: ConversationKind::Group,
                name: None,
                topic: None,
                created_by: owner,
                created_at_ms: T0,
                members: vec![(owner, Role::Owner)],
            })
            .await
            .expect("create a conversation in PostgreSQL");
        created.id
    }

    /// The committed head, as the sequencer tells it.
    pub async fn head(&self, conversation: ConversationId) -> (i64, i64) {
        let head = self.faults.head(conversation).await.expect("head");
        (head.last_seq, head.last_mod)
    }

    pub fn new_message(
        &self,
        conversation: ConversationId,
        sender: UserId,
        text: &str,
    ) -> NewMessage {
        let n = self
            .next_client_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        NewMessage {
            id: self.ids.next(T0 + n as i64),
            conversation_id: conversation,
            sender_id: sender,
            client_msg_id: ClientMsgId::parse(&format!("c-{n}")).unwrap(),
            text: MessageText::parse(text).unwrap(),
            reply_to_seq: None,
            mentions: Vec::new(),
            created_at_ms: T0 + n as i64,
            attachments: Vec::new(),
        }
    }

    /// Append and expect a new message.
    pub async fn send(&self, conversation: ConversationId, sender: UserId, text: &str) -> Message {
        match self
            .messages
            .append(self.new_message(conversation, sender, text))
            .await
            .expect("append")
        {
            AppendOutcome::Created(m) => m,
            other => panic!("expected a new message, got {other:?}"),
        }
    }
}

pub fn seqs(messages: &[Message]) -> Vec<i64> {
    messages.iter().map(|m| m.seq).collect()
}
