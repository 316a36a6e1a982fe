//! The notifier end to end: messages sent through the real service (SQLite store, in-process
//! bus and presence) go through the log to the `natter-notifier` handler, which writes pushes
//! to the PostgreSQL outbox (`NATTER_TEST_POSTGRES_URL`, default
//! postgres://postgres@127.0.0.1:55432/natter).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use natter_domain::model::NewUser;
use natter_domain::ports::{AccountStore, PresenceStore, PushOutbox};
use natter_domain::service::{NewGroup, OutgoingMessage, StripedLocks};
use natter_domain::values::{ClientMsgId, DisplayName, GroupName, MessageText, Username};
use natter_domain::{Chat, Clock, ConversationId, Ports, SystemClock, UserId};
use natter_kafka::{
    HandlerError, KafkaConfig, KafkaEventLog, MessageRecord, NOTIFIER_GROUP, Notifier,
    PREVIEW_CHARS, RecordHandler,
};
use natter_server::embedded::{MemoryBus, MemoryPresence};
use natter_store_postgres::PgStore;
use natter_store_sqlite::SqliteStore;
use tokio::sync::mpsc;

use crate::support::{Running, nothing_more, take, topic, unique};

fn postgres_url() -> String {
    std::env::var("NATTER_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:55432/natter".to_owned())
}

/// The notifier, reporting each record it handled (after the outbox write).
struct Reporting {
    notifier: Notifier,
    handled: mpsc::UnboundedSender<i64>,
}

#[async_trait]
impl RecordHandler for Reporting {
    async fn handle(&self, record: &MessageRecord) -> Result<(), HandlerError> {
        self.notifier.handle(record).await?;
        let _ = self.handled.send(record.seq);
        Ok(())
    }
}

struct World {
    config: KafkaConfig,
    chat: Chat,
    store: SqliteStore,
    presence: Arc<MemoryPresence>,
    outbox: PgStore,
    log: Arc<KafkaEventLog>,
    _dir: tempfile::TempDir,
}

impl World {
    async fn new() -> Self {
        let config = topic("notifier", 2).await;
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("natter.db"))
            .await
            .unwrap();
        let outbox = PgStore::connect(&postgres_url(), 4).await.unwrap_or_else(|err| {
            panic!("PostgreSQL at {} ({err}): start it with `scripts/services start postgres` or set NATTER_TEST_POSTGRES_URL", postgres_url())
        });
        outbox.migrate().await.unwrap();
        let presence = Arc::new(MemoryPresence::default());
        let log = Arc::new(KafkaEventLog::new(&config, Arc::new(MemoryBus::new(1024))).unwrap());
        let chat = Chat::new(
            Ports {
                accounts: Arc::new(store.clone()),
                conversations: Arc::new(store.clone()),
                messages: Arc::new(store.clone()),
                bus: log.clone(),
                presence: presence.clone(),
                locks: Arc::new(StripedLocks::default()),
                clock: Arc::new(SystemClock),
                files: None,
                push: Arc::new(store.clone()),
            },
            1,
        );
        Self {
            config,
            chat,
            store,
            presence,
            outbox,
            log,
            _dir: dir,
        }
    }

    async fn user(&self, name: &str) -> UserId {
        let user = self
            .store
            .create_user(NewUser {
                id: UserId::new(),
                username: Username::parse(name).unwrap(),
                display_name: DisplayName::parse(name).unwrap(),
                password_hash: "not-a-real-hash".into(),
                created_at_ms: SystemClock.now_ms(),
            })
            .await
            .unwrap();
        user.id
    }

    async fn send(
        &self,
        from: UserId,
        to: ConversationId,
        text: &str,
        mentions: Vec<UserId>,
    ) -> i64 {
        let outgoing = OutgoingMessage {
            client_msg_id: ClientMsgId::parse(&unique("m")).unwrap(),
            text: MessageText::parse(text).unwrap(),
            reply_to_seq: None,
            mentions,
            attachments: Vec::new(),
        };
        self.chat
            .send_message(from, to, outgoing)
            .await
            .unwrap()
            .message
            .seq
    }

    /// Run a notifier in `group` until it has handled `records` records, then stop it.
    async fn notify(&self, group: &str, records: usize) {
        let (handled, mut rx) = mpsc::unbounded_channel();
        let notifier = Notifier::new(
            Arc::new(self.store.clone()),
            self.presence.clone(),
            Arc::new(self.outbox.clone()),
        );
        let consumer = Running::start(
            &self.config,
            group,
            Arc::new(Reporting { notifier, handled }),
        );
        take(&mut rx, records).await;
        nothing_more(&mut rx, Duration::from_secs(1)).await;
        consumer.stop().await;
    }

    /// (seq, mentioned, preview length) of each pending push of `user`.
    async fn pushes(&self, user: UserId) -> Vec<(i64, bool, usize)> {
        self.outbox
            .pending(user, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|push| (push.seq, push.mentioned, push.preview.chars().count()))
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_members_get_one_push_per_message_and_replays_add_none() {
    let world = World::new().await;
    let alice = world.user("alice").await; // sender
    let bob = world.user("bob").await; // offline, not muted
    let carol = world.user("carol").await; // online
    let dave = world.user("dave").await; // offline, muted
    let erin = world.user("erin").await; // offline, has read the first message elsewhere
    let group = world
        .chat
        .create_group(
            alice,
            NewGroup {
                name: GroupName::parse("team").unwrap(),
                topic: None,
                member_ids: vec![bob, carol, dave, erin],
            },
        )
        .await
        .unwrap()
        .conversation
        .id;
    world.presence.connected(carol).await.unwrap();
    world.chat.set_muted(dave, group, true).await.unwrap();

    let long = "x".repeat(150);
    let first = world.send(alice, group, &long, vec![]).await;
    world.chat.mark_read(erin, group, first).await.unwrap();
    let second = world.send(alice, group, "@dave look", vec![dave]).await;
    world.log.flush(Duration::from_secs(30)).await.unwrap();

    let group_id = unique(NOTIFIER_GROUP);
    world.notify(&group_id, 2).await;
    let expect = async |world: &World| {
        assert_eq!(
            world.pushes(bob).await,
            vec![(first, false, PREVIEW_CHARS), (second, false, 10)],
            "bob: offline and not muted"
        );
        assert_eq!(world.pushes(carol).await, vec![], "carol is online");
        assert_eq!(world.pushes(alice).await, vec![], "alice sent them");
        assert_eq!(
            world.pushes(dave).await,
            vec![(second, true, 10)],
            "dave: muted, mentioned once"
        );
        assert_eq!(
            world.pushes(erin).await,
            vec![(second, false, 10)],
            "erin read the first"
        );
    };
    expect(&world).await;

    // Replaying the whole log (another group, from the start) adds nothing.
    world.notify(&unique(NOTIFIER_GROUP), 2).await;
    expect(&world).await;
}
