//! The durable push queue: a created message is queued in its own commit (a duplicate send is
//! not), fan-out is idempotent, claims keep each device's order and are fair across users, a
//! crash's in-flight deliveries come back, dead devices' deliveries go, badges count unread.

use natter_conformance::Stores;
use natter_conformance::support::{Fixture, T0, token};
use natter_domain::model::AppendOutcome;
use natter_domain::notify::{
    Delivery, NewDelivery, Payload, PushContent, PushQueue, QueuedMessage,
};
use natter_domain::push::{DeviceId, PushDevice, PushDevices, PushTarget};
use natter_domain::{SessionId, UserId};
use natter_store_sqlite::SqliteStore;

struct Case {
    fixture: Fixture,
    store: SqliteStore,
    _dir: tempfile::TempDir,
}

impl Case {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("natter.db"))
            .await
            .unwrap();
        Self {
            fixture: Fixture::new(Stores::from_backend(store.clone())),
            store,
            _dir: dir,
        }
    }

    async fn device(&self, user: UserId, n: u8) -> (DeviceId, SessionId) {
        let session = self.fixture.new_session(user, T0, token(n)).await.id;
        let device = self
            .store
            .register_device(
                PushDevice {
                    id: DeviceId::new(),
                    user,
                    session,
                    target: PushTarget::Fcm {
                        token: format!("fcm-{}-{n}", user.0.simple()),
                    },
                    created_at_ms: T0,
                },
                20,
            )
            .await
            .unwrap();
        (device.id, session)
    }

    async fn queued(&self) -> Vec<QueuedMessage> {
        self.store.queued(100).await.unwrap()
    }
}

fn delivery(user: UserId, device: DeviceId, queued: &QueuedMessage, id: i64) -> NewDelivery {
    NewDelivery {
        user,
        device,
        payload: Payload::Alert(PushContent {
            conversation_id: queued.conversation_id,
            message_id: natter_domain::MessageId(id),
            seq: queued.seq,
            title: "Ada".into(),
            body: format!("message {}", queued.seq),
            badge: Some(1),
            quiet: false,
        }),
    }
}

fn alert(delivery: &Delivery) -> &PushContent {
    match &delivery.payload {
        Payload::Alert(content) => content,
        other => panic!("not an alert: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_queued_with_their_commit_and_fanned_out_once() {
    let case = Case::new().await;
    let [ada, bob] = case.fixture.users(&["ada", "bob"]).await[..] else {
        unreachable!()
    };
    let group = case.fixture.group(ada, &[bob]).await;
    let first = case.fixture.new_message(group.id, ada, "one");
    case.fixture.send_new(first.clone()).await;
    // The same client_msg_id again is the same message: not queued twice.
    let again = case.fixture.messages.append(first).await.unwrap();
    assert!(matches!(again, AppendOutcome::Duplicate(_)));
    case.fixture.send(group.id, ada, "two").await;
    let queued = case.queued().await;
    assert_eq!(
        queued.iter().map(|q| q.seq).collect::<Vec<_>>(),
        [1, 2],
        "commit order"
    );

    let (device, _) = case.device(bob, 1).await;
    let one = delivery(bob, device, &queued[0], 1);
    case.store
        .fan_out(queued[0].queue_id, std::slice::from_ref(&one), T0)
        .await
        .unwrap();
    // Planned again (a crash lost the answer): nothing more.
    case.store
        .fan_out(queued[0].queue_id, &[one], T0)
        .await
        .unwrap();
    assert_eq!(case.queued().await, queued[1..]);
    let claimed = case.store.claim_due(T0, 10, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(alert(&claimed[0]).body, "message 1");
    assert_eq!(
        case.store.unread_totals(&[bob, ada]).await.unwrap().len(),
        2
    );
    let totals = case.store.unread_totals(&[bob]).await.unwrap();
    assert_eq!(totals, [(bob, 2)]);

    // Bob reads message 1 (pushed to him): a withdraw is queued with the cursor; reading again
    // (nothing pushed past it) queues nothing more.
    case.fixture
        .conversations
        .mark_read(group.id, bob, 1, T0)
        .await
        .unwrap();
    let read = case.queued().await;
    assert_eq!(read.len(), 2);
    assert_eq!((read[1].reader, read[1].seq), (Some(bob), 1));
    case.fixture
        .conversations
        .mark_read(group.id, bob, 2, T0)
        .await
        .unwrap();
    assert_eq!(case.queued().await, read);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_keep_device_order_are_fair_and_survive_a_crash() {
    let case = Case::new().await;
    let [ada, bob, carol] = case.fixture.users(&["ada", "bob", "carol"]).await[..] else {
        unreachable!()
    };
    let group = case.fixture.group(ada, &[bob, carol]).await;
    for n in 0..4 {
        case.fixture.send(group.id, ada, &format!("m{n}")).await;
    }
    let queued = case.queued().await;
    let (bob_phone, _) = case.device(bob, 1).await;
    let (bob_laptop, _) = case.device(bob, 2).await;
    let (carol_phone, carol_session) = case.device(carol, 3).await;
    for (i, q) in queued.iter().enumerate() {
        let id = i64::try_from(i).unwrap();
        let deliveries = [
            delivery(bob, bob_phone, q, id),
            delivery(bob, bob_laptop, q, id),
            delivery(carol, carol_phone, q, id),
        ];
        case.store
            .fan_out(q.queue_id, &deliveries, T0)
            .await
            .unwrap();
    }
    // One per device (its oldest), at most one per user here.
    let first = case.store.claim_due(T0, 10, 1).await.unwrap();
    let seqs: Vec<_> = first.iter().map(|d| (d.user, alert(d).seq)).collect();
    assert_eq!(seqs, [(bob, 1), (carol, 1)]);
    // Nothing else of those devices while they are in flight; bob's laptop is next.
    let second = case.store.claim_due(T0, 10, 10).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!((second[0].user, alert(&second[0]).seq), (bob, 1));

    // A crash: what was in flight is due again.
    assert_eq!(case.store.recover_in_flight().await.unwrap(), 3);
    let again = case.store.claim_due(T0, 10, 10).await.unwrap();
    assert_eq!(again.len(), 3);
    for delivery in &again {
        case.store.finish(delivery.id).await.unwrap();
    }
    // Rescheduled: not due before its time, and counted.
    let next = case.store.claim_due(T0, 10, 10).await.unwrap();
    assert_eq!(next.len(), 3);
    assert!(next.iter().all(|d| alert(d).seq == 2));
    case.store.retry_at(next[0].id, T0 + 1_000).await.unwrap();
    assert!(
        case.store
            .claim_due(T0 + 999, 10, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let retried = case.store.claim_due(T0 + 1_000, 10, 10).await.unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!((retried[0].id, retried[0].attempts), (next[0].id, 1));

    // Carol logs out: her pending deliveries go with her device.
    case.store.recover_in_flight().await.unwrap();
    case.fixture
        .accounts
        .revoke_session(carol_session)
        .await
        .unwrap();
    let rest = case.store.claim_due(T0 + 1_000, 100, 100).await.unwrap();
    assert!(rest.iter().all(|d| d.user == bob), "{rest:?}");
}
