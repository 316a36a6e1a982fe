//! Cases for the [`PushQueue`] port, the durable push pipeline: a message is queued with its
//! commit and planned once however often it arrives, a read cursor passing what was pushed queues one withdraw, claims
//! keep each device's order, are fair across users, never overlap between notifiers and come
//! back after their owner's crash or their lease's end, dead devices' deliveries go, and the
//! badge counts unread messages.

use std::collections::HashSet;
use std::sync::Arc;

use natter_domain::model::{AppendOutcome, Message, MessageChange};
use natter_domain::notify::{
    Claim, Delivery, NewDelivery, Payload, PlannedEntry, PushContent, PushQueue, Queued,
    QueuedMessage,
};
use natter_domain::push::{DeviceId, PushDevice, PushDevices, PushTarget};
use natter_domain::{ConversationId, SessionId, UserId};

use crate::Stores;
use crate::support::{Fixture, T0, token};

/// A backend's stores, its device store and its push pipeline.
pub struct PushPipeline {
    pub stores: Stores,
    pub devices: Arc<dyn PushDevices>,
    pub queue: Arc<dyn PushQueue>,
}

struct Case {
    fixture: Fixture,
    devices: Arc<dyn PushDevices>,
    queue: Arc<dyn PushQueue>,
}

impl Case {
    fn new(pipeline: PushPipeline) -> Self {
        Self {
            fixture: Fixture::new(pipeline.stores),
            devices: pipeline.devices,
            queue: pipeline.queue,
        }
    }

    /// A device of `user` on a session of its own.
    async fn device(&self, user: UserId, n: u8) -> (DeviceId, SessionId) {
        let session = self.fixture.new_session(user, T0, token(n)).await.id;
        let device = self
            .devices
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
            .expect("register");
        (device.id, session)
    }

    /// The queued read cursors.
    async fn reads(&self) -> Vec<QueuedMessage> {
        let queued = self.queue.queued(1_000, i64::MAX).await.expect("queued");
        queued
            .into_iter()
            .filter(|q| matches!(q.kind, Queued::Read(_)))
            .collect()
    }

    async fn claim(&self, owner: &str, now_ms: i64, limit: u32, per_user: u32) -> Vec<Delivery> {
        self.queue
            .claim_due(&Claim {
                now_ms,
                limit,
                per_user,
                owner: owner.to_owned(),
                lease_until_ms: now_ms + 60_000,
            })
            .await
            .expect("claim")
    }

    /// Plan one queue entry alone.
    async fn fan_out(&self, queue_id: i64, deliveries: &[NewDelivery], now_ms: i64) {
        let entry = PlannedEntry {
            queue_id,
            deliveries: deliveries.to_vec(),
        };
        self.queue.fan_out(&[entry], now_ms).await.expect("fan out");
    }

    /// Plan `message` for the given (user, device) pairs.
    async fn plan(&self, message: &Message, to: &[(UserId, DeviceId)]) -> bool {
        let deliveries: Vec<NewDelivery> = to
            .iter()
            .map(|(user, device)| alert(*user, *device, message))
            .collect();
        // As the Kafka planner finds it: the message's entry, if it is still queued.
        let queued = self
            .queue
            .queued_before(&[(message.conversation_id, message.seq + 1)], 1_000)
            .await
            .expect("queued before");
        let Some(entry) = queued.iter().find(|queued| queued.seq == message.seq) else {
            return false;
        };
        self.fan_out(entry.queue_id, &deliveries, T0).await;
        true
    }
}

fn alert(user: UserId, device: DeviceId, message: &Message) -> NewDelivery {
    NewDelivery {
        user,
        device,
        payload: Payload::Alert(PushContent {
            conversation_id: message.conversation_id,
            message_id: message.id,
            seq: message.seq,
            title: "Ada".into(),
            body: message.text.clone(),
            badge: Some(1),
            quiet: false,
            revision: 0,
        }),
    }
}

/// The update an edit of `message` (at `edited_at_ms`) sends: the new text, silently.
fn update(user: UserId, device: DeviceId, message: &Message, edited_at_ms: i64) -> NewDelivery {
    let mut delivery = alert(user, device, message);
    if let Payload::Alert(content) = &mut delivery.payload {
        content.quiet = true;
        content.revision = edited_at_ms;
    }
    delivery
}

fn body_of(delivery: &Delivery) -> &str {
    match &delivery.payload {
        Payload::Alert(content) => &content.body,
        Payload::Withdraw { .. } => "(withdraw)",
    }
}

fn seq_of(delivery: &Delivery) -> i64 {
    match &delivery.payload {
        Payload::Alert(content) => content.seq,
        Payload::Withdraw { read_seq, .. } => *read_seq,
    }
}

pub async fn a_message_is_queued_with_its_commit_and_planned_once(pipeline: PushPipeline) {
    let case = Case::new(pipeline);
    let [ada, bob] = case.fixture.users(&["ada", "bob"]).await[..] else {
        unreachable!()
    };
    let group = case.fixture.group(ada, &[bob]).await;
    let first = case.fixture.new_message(group.id, ada, "hello");
    let message = case.fixture.send_new(first.clone()).await;
    // The same client_msg_id again is the same message: not queued twice.
    let again = case.fixture.messages.append(first).await.unwrap();
    assert!(matches!(again, AppendOutcome::Duplicate(_)));
    let queued = case.queue.queued(100, i64::MAX).await.unwrap();
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(
        (queued[0].conversation_id, queued[0].seq, queued[0].kind),
        (group.id, 1, Queued::Message)
    );
    // Before a later message (Kafka's records can arrive out of order): what precedes it.
    let before = |seq| {
        let queue = case.queue.clone();
        async move { queue.queued_before(&[(group.id, seq)], 10).await }
    };
    assert!(before(1).await.unwrap().is_empty());
    assert_eq!(before(2).await.unwrap(), queued);
    // Not yet when messages committed since `messages_before_ms` are left to Kafka.
    let young = case.queue.queued(100, message.created_at_ms).await.unwrap();
    assert!(young.is_empty(), "{young:?}");

    let (phone, _) = case.device(bob, 1).await;
    assert!(case.plan(&message, &[(bob, phone)]).await);
    // Kafka delivers the record again (a crash before the offset commit, a rebalance), or
    // the queue's planner got there first: nothing more.
    assert!(!case.plan(&message, &[(bob, phone)]).await);
    case.fan_out(queued[0].queue_id, &[alert(bob, phone, &message)], T0)
        .await;
    assert!(case.queue.queued(100, i64::MAX).await.unwrap().is_empty());
    let claimed = case.claim("a", T0, 10, 10).await;
    assert_eq!(claimed.len(), 1, "{claimed:?}");
    assert_eq!(claimed[0].user, bob);
    assert_eq!(
        claimed[0].target,
        PushTarget::Fcm {
            token: format!("fcm-{}-1", bob.0.simple())
        }
    );
    match &claimed[0].payload {
        Payload::Alert(content) => {
            assert_eq!((content.seq, content.body.as_str()), (1, "hello"));
            assert_eq!(content.message_id, message.id);
        }
        other => panic!("not an alert: {other:?}"),
    }
}

pub async fn queued_messages_before_several_bounds_come_in_one_read(pipeline: PushPipeline) {
    let case = Case::new(pipeline);
    let [ada, bob] = case.fixture.users(&["ada", "bob"]).await[..] else {
        unreachable!()
    };
    let (first, second) = (
        case.fixture.group(ada, &[bob]).await,
        case.fixture.group(bob, &[ada]).await,
    );
    for n in 1..=4 {
        case.fixture
            .send_new(
                case.fixture
                    .new_message(first.id, ada, &format!("first {n}")),
            )
            .await;
        case.fixture
            .send_new(
                case.fixture
                    .new_message(second.id, bob, &format!("second {n}")),
            )
            .await;
    }
    let places = |queued: Vec<QueuedMessage>| -> Vec<(ConversationId, i64)> {
        queued
            .into_iter()
            .map(|queued| {
                assert_eq!(queued.kind, Queued::Message);
                (queued.conversation_id, queued.seq)
            })
            .collect()
    };
    // Each bound's conversation in the bounds' order, each in seq order, before its seq only.
    let both = case
        .queue
        .queued_before(&[(second.id, 3), (first.id, 5)], 10)
        .await
        .unwrap();
    assert_eq!(
        places(both),
        [
            (second.id, 1),
            (second.id, 2),
            (first.id, 1),
            (first.id, 2),
            (first.id, 3),
            (first.id, 4),
        ]
    );
    // At most `limit_each` of each conversation, the oldest.
    let limited = case
        .queue
        .queued_before(&[(first.id, 5), (second.id, 5)], 2)
        .await
        .unwrap();
    assert_eq!(
        places(limited.clone()),
        [(first.id, 1), (first.id, 2), (second.id, 1), (second.id, 2)]
    );
    // What is planned is no longer queued: a batch of Kafka records delivered again finds
    // nothing to plan.
    let planned: Vec<PlannedEntry> = limited
        .iter()
        .map(|queued| PlannedEntry {
            queue_id: queued.queue_id,
            deliveries: Vec::new(),
        })
        .collect();
    case.queue.fan_out(&planned, T0).await.unwrap();
    let rest = case
        .queue
        .queued_before(&[(first.id, 5), (second.id, 5)], 10)
        .await
        .unwrap();
    assert_eq!(
        places(rest),
        [(first.id, 3), (first.id, 4), (second.id, 3), (second.id, 4)]
    );
    assert!(
        case.queue.queued_before(&[], 10).await.unwrap().is_empty(),
        "no bounds, nothing queued"
    );
}

pub async fn a_look_at_the_queue_is_written_in_one_call_in_order(pipeline: PushPipeline) {
    let case = Case::new(pipeline);
    let [ada, bob] = case.fixture.users(&["ada", "bob"]).await[..] else {
        unreachable!()
    };
    let group = case.fixture.group(ada, &[bob]).await;
    let mut messages = Vec::new();
    for text in ["one", "two", "three"] {
        messages.push(case.fixture.send(group.id, ada, text).await);
    }
    let (phone, _) = case.device(bob, 1).await;
    let queued = case.queue.queued(100, i64::MAX).await.unwrap();
    assert_eq!(queued.len(), 3, "{queued:?}");
    case.queue.fan_out(&[], T0).await.unwrap();
    assert_eq!(case.queue.queued(100, i64::MAX).await.unwrap(), queued);

    // The second was planned already (another look, another notifier): planning it again in a
    // look of all three adds nothing for it.
    case.fan_out(queued[1].queue_id, &[alert(bob, phone, &messages[1])], T0)
        .await;
    let look: Vec<PlannedEntry> = queued
        .iter()
        .zip(&messages)
        .map(|(entry, message)| PlannedEntry {
            queue_id: entry.queue_id,
            deliveries: vec![alert(bob, phone, message)],
        })
        .collect();
    case.queue.fan_out(&look, T0).await.unwrap();
    assert!(case.queue.queued(100, i64::MAX).await.unwrap().is_empty());

    // One delivery each, in the order they were written: the second first, then the look's.
    let mut seqs = Vec::new();
    for _ in 0..4 {
        for delivery in case.claim("a", T0, 10, 10).await {
            case.queue.finish(&[delivery.id]).await.unwrap();
            seqs.push(seq_of(&delivery));
        }
    }
    assert_eq!(seqs, [2, 1, 3]);
}

pub async fn reading_past_a_push_queues_one_withdraw(pipeline: PushPipeline) {
    let case = Case::new(pipeline);
    let [ada, bob, carol] = case.fixture.users(&["ada", "bob", "carol"]).await[..] else {
        unreachable!()
    };
    let group = case.fixture.group(ada, &[bob, carol]).await;
    let one = case.fixture.send(group.id, ada, "one").await;
    case.fixture.send(group.id, ada, "two").await;
    let three = case.fixture.send(group.id, ada, "three").await;
    let (phone, _) = case.device(bob, 1).await;
    let (laptop, _) = case.device(bob, 2).await;
    case.plan(&one, &[(bob, phone), (bob, laptop)]).await;

    // Carol was pushed nothing: her reading queues nothing.
    case.fixture
        .conversations
        .mark_read(group.id, carol, 2, T0)
        .await
        .unwrap();
    assert!(case.reads().await.is_empty());
    // Bob reads message 1, pushed to him: one withdraw, whichever device showed it.
    case.fixture
        .conversations
        .mark_read(group.id, bob, 1, T0)
        .await
        .unwrap();
    let reads = case.reads().await;
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert_eq!((reads[0].kind, reads[0].seq), (Queued::Read(bob), 1));
    assert_eq!(reads[0].conversation_id, group.id);
    // Reading on past it, with nothing newer pushed: nothing more.
    case.fixture
        .conversations
        .mark_read(group.id, bob, 2, T0)
        .await
        .unwrap();
    assert_eq!(case.reads().await, reads);

    // Planned twice (a crash lost the answer): one withdraw per device.
    let withdraws: Vec<NewDelivery> = [phone, laptop]
        .into_iter()
        .map(|device| NewDelivery {
            user: bob,
            device,
            payload: Payload::Withdraw {
                conversation_id: group.id,
                read_seq: 1,
                badge: Some(0),
            },
        })
        .collect();
    for _ in 0..2 {
        case.fan_out(reads[0].queue_id, &withdraws, T0).await;
    }
    assert!(case.reads().await.is_empty());
    let mut claimed = Vec::new();
    for _ in 0..3 {
        for delivery in case.claim("a", T0, 10, 10).await {
            case.queue.finish(&[delivery.id]).await.unwrap();
            claimed.push(delivery);
        }
    }
    // The alert and then the withdraw on each device, nothing twice.
    let withdrawn: Vec<_> = claimed
        .iter()
        .filter(|d| matches!(d.payload, Payload::Withdraw { .. }))
        .collect();
    assert_eq!(claimed.len(), 4, "{claimed:?}");
    assert_eq!(withdrawn.len(), 2, "{claimed:?}");
    assert!(withdrawn.iter().all(|d| seq_of(d) == 1));

    // Pushed again (message 3) and read: queued again.
    case.plan(&three, &[(bob, phone)]).await;
    case.fixture
        .conversations
        .mark_read(group.id, bob, 3, T0)
        .await
        .unwrap();
    assert_eq!(case.reads().await.len(), 1);
}

pub async fn claims_keep_device_order_are_fair_and_come_back_after_a_crash(pipeline: PushPipeline) {
    let case = Case::new(pipeline);
    let [ada, bob, carol] = case.fixture.users(&["ada", "bob", "carol"]).await[..] else {
        unreachable!()
    };
    let group = case.fixture.group(ada, &[bob, carol]).await;
    let (bob_phone, _) = case.device(bob, 1).await;
    let (bob_laptop, _) = case.device(bob, 2).await;
    let (carol_phone, carol_session) = case.device(carol, 3).await;
    for n in 0..4 {
        let message = case.fixture.send(group.id, ada, &format!("m{n}")).await;
        let to = [(bob, bob_phone), (bob, bob_laptop), (carol, carol_phone)];
        case.plan(&message, &to).await;
    }
    // One per device (its oldest), at most one per user here.
    let first = case.claim("a", T0, 10, 1).await;
    let seqs: Vec<_> = first.iter().map(|d| (d.user, seq_of(d))).collect();
    assert_eq!(seqs, [(bob, 1), (carol, 1)]);
    // Nothing else of those devices while they are in flight; bob's laptop is next.
    let second = case.claim("a", T0, 10, 10).await;
    assert_eq!(second.len(), 1);
    assert_eq!((second[0].user, seq_of(&second[0])), (bob, 1));

    // Another notifier's start recovers nothing of "a"'s; "a"'s restart recovers its own.
    assert_eq!(case.queue.recover_in_flight("b").await.unwrap(), 0);
    assert!(case.claim("b", T0, 10, 10).await.is_empty());
    assert_eq!(case.queue.recover_in_flight("a").await.unwrap(), 3);
    let again = case.claim("b", T0, 10, 10).await;
    assert_eq!(again.len(), 3);
    // Finished in one call.
    let ids: Vec<i64> = again.iter().map(|d| d.id).collect();
    case.queue.finish(&ids).await.unwrap();
    // Rescheduled: not due before its time, and counted.
    let next = case.claim("a", T0, 10, 10).await;
    assert_eq!(next.len(), 3);
    assert!(next.iter().all(|d| seq_of(d) == 2));
    case.queue.retry_at(next[0].id, T0 + 1_000).await.unwrap();
    assert!(case.claim("a", T0 + 999, 10, 10).await.is_empty());
    let retried = case.claim("a", T0 + 1_000, 10, 10).await;
    assert_eq!(retried.len(), 1);
    assert_eq!((retried[0].id, retried[0].attempts), (next[0].id, 1));

    // A claimer that never comes back: its leases run out (claims here last 60 s), then
    // anyone may claim what it held.
    assert!(case.claim("b", T0 + 60_000, 10, 10).await.is_empty());
    let mut expired = case.claim("b", T0 + 60_001, 10, 10).await;
    assert_eq!(expired.len(), 2, "claimed at T0: {expired:?}");
    expired.extend(case.claim("b", T0 + 61_001, 10, 10).await);
    assert_eq!(
        expired.len(),
        3,
        "and the one claimed at T0 + 1 s: {expired:?}"
    );
    assert!(expired.iter().all(|d| seq_of(d) == 2));

    // Carol logs out: her pending deliveries go with her device.
    for delivery in &expired {
        case.queue.finish(&[delivery.id]).await.unwrap();
    }
    case.fixture
        .accounts
        .revoke_session(carol_session)
        .await
        .unwrap();
    let mut rest = Vec::new();
    for _ in 0..4 {
        for delivery in case.claim("a", T0 + 61_001, 100, 100).await {
            case.queue.finish(&[delivery.id]).await.unwrap();
            rest.push(delivery);
        }
    }
    assert!(rest.iter().all(|d| d.user == bob), "{rest:?}");
    assert_eq!(rest.len(), 4, "seqs 3 and 4 on bob's two devices: {rest:?}");
}

pub async fn concurrent_claims_never_overlap(pipeline: PushPipeline) {
    let case = Arc::new(Case::new(pipeline));
    let [ada, bob] = case.fixture.users(&["ada", "bob"]).await[..] else {
        unreachable!()
    };
    let group = case.fixture.group(ada, &[bob]).await;
    let mut devices = Vec::new();
    for n in 0..20 {
        devices.push((bob, case.device(bob, n + 1).await.0));
    }
    for n in 0..3 {
        let message = case.fixture.send(group.id, ada, &format!("m{n}")).await;
        case.plan(&message, &devices).await;
    }
    // Four notifiers claiming at once, each finishing what it got, until all 60 are sent.
    let mut claimers = Vec::new();
    for owner in ["a", "b", "c", "d"] {
        let case = case.clone();
        claimers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            for _ in 0..50 {
                let batch = case.claim(owner, T0, 7, 100).await;
                for delivery in &batch {
                    case.queue.finish(&[delivery.id]).await.unwrap();
                }
                mine.extend(batch.into_iter().map(|d| d.id));
                tokio::task::yield_now().await;
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for claimer in claimers {
        all.extend(claimer.await.unwrap());
    }
    let distinct: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(distinct.len(), all.len(), "a delivery claimed twice");
    assert_eq!(all.len(), 60);
}

pub async fn the_badge_counts_unread_messages_of_others(pipeline: PushPipeline) {
    let case = Case::new(pipeline);
    let [ada, bob, carol] = case.fixture.users(&["ada", "bob", "carol"]).await[..] else {
        unreachable!()
    };
    let group = case.fixture.group(ada, &[bob, carol]).await;
    let direct = case.fixture.direct(ada, bob).await;
    case.fixture.send(group.id, ada, "one").await;
    case.fixture.send(group.id, carol, "two").await;
    case.fixture.send(direct.id, ada, "three").await;
    case.fixture
        .conversations
        .mark_read(group.id, bob, 1, T0)
        .await
        .unwrap();
    let mut totals = case.queue.unread_totals(&[bob, carol]).await.unwrap();
    totals.sort();
    let mut expected = vec![(bob, 2), (carol, 1)];
    expected.sort();
    assert_eq!(totals, expected);
}

pub async fn a_change_to_what_is_shown_is_queued_and_a_withdraw_forgets_it(pipeline: PushPipeline) {
    let case = Case::new(pipeline);
    let [ada, bob] = case.fixture.users(&["ada", "bob"]).await[..] else {
        unreachable!()
    };
    let group = case.fixture.group(ada, &[bob]).await;
    let one = case.fixture.send(group.id, ada, "one").await;
    let two = case.fixture.send(group.id, ada, "two").await;
    let (phone, _) = case.device(bob, 1).await;
    case.plan(&one, &[(bob, phone)]).await;
    case.plan(&two, &[(bob, phone)]).await;
    assert!(case.queue.queued(100, i64::MAX).await.unwrap().is_empty());
    // Bob's phone shows message 2 (the newest pushed), planned at T0.
    assert!(case.queue.shown_to(group.id, 1).await.unwrap().is_empty());
    assert_eq!(case.queue.shown_to(group.id, 2).await.unwrap(), [(bob, T0)]);

    // A change to message 1, shown to nobody any more: nothing queued. To message 2: queued
    // in the change's commit.
    let edit = |text: &str| MessageChange::Edit {
        text: crate::support::text(text),
        mentions: Vec::new(),
    };
    case.fixture
        .messages
        .change(group.id, 1, edit("one!"), T0 + 1)
        .await
        .unwrap();
    assert!(case.queue.queued(100, i64::MAX).await.unwrap().is_empty());
    case.fixture
        .messages
        .change(group.id, 2, edit("two!"), T0 + 1)
        .await
        .unwrap();
    let queued = case.queue.queued(100, i64::MAX).await.unwrap();
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!((queued[0].kind, queued[0].seq), (Queued::Changed, 2));
    // Planned (a withdraw: message 2 was deleted, say): nothing shown of it any more, and a
    // later change queues nothing.
    let withdraw = NewDelivery {
        user: bob,
        device: phone,
        payload: Payload::Withdraw {
            conversation_id: group.id,
            read_seq: 2,
            badge: Some(0),
        },
    };
    case.fan_out(queued[0].queue_id, &[withdraw], T0 + 2).await;
    assert!(case.queue.shown_to(group.id, 2).await.unwrap().is_empty());
    case.fixture
        .messages
        .change(group.id, 2, edit("two!!"), T0 + 3)
        .await
        .unwrap();
    assert!(case.queue.queued(100, i64::MAX).await.unwrap().is_empty());
    // Nor does reading past it.
    case.fixture
        .conversations
        .mark_read(group.id, bob, 2, T0)
        .await
        .unwrap();
    assert!(case.reads().await.is_empty());
}

pub async fn an_edits_update_is_added_while_the_first_push_is_in_flight(pipeline: PushPipeline) {
    let case = Case::new(pipeline);
    let [ada, bob] = case.fixture.users(&["ada", "bob"]).await[..] else {
        unreachable!()
    };
    let group = case.fixture.group(ada, &[bob]).await;
    let one = case.fixture.send(group.id, ada, "helo").await;
    let (phone, _) = case.device(bob, 1).await;
    case.plan(&one, &[(bob, phone)]).await;
    // The first push is on its way (claimed, its answer not recorded yet) when Ada edits.
    let first = case.claim("a", T0, 10, 10).await;
    assert_eq!(first.iter().map(body_of).collect::<Vec<_>>(), ["helo"]);
    let edit = |text: &str| MessageChange::Edit {
        text: crate::support::text(text),
        mentions: Vec::new(),
    };
    let mut last_update = None;
    for (text, at) in [("hello", T0 + 1), ("hello!", T0 + 2)] {
        let edited = case
            .fixture
            .messages
            .change(group.id, 1, edit(text), at)
            .await
            .unwrap();
        let queued = case.queue.queued(100, i64::MAX).await.unwrap();
        assert_eq!(queued.len(), 1, "{queued:?}");
        assert_eq!(queued[0].kind, Queued::Changed);
        let planned = update(bob, phone, &edited, at);
        case.fan_out(queued[0].queue_id, std::slice::from_ref(&planned), at)
            .await;
        last_update = Some(planned);
    }
    // A reaction queues a change too; planned with an update already added, it adds nothing.
    case.fixture
        .messages
        .change(
            group.id,
            1,
            MessageChange::AddReaction {
                user_id: bob,
                emoji: crate::support::emoji("👍"),
            },
            T0 + 3,
        )
        .await
        .unwrap();
    let queued = case.queue.queued(100, i64::MAX).await.unwrap();
    assert_eq!(queued.len(), 1, "{queued:?}");
    let last_update = last_update.expect("two edits planned");
    case.fan_out(queued[0].queue_id, &[last_update], T0 + 3)
        .await;
    // Nothing else of the phone while the first is in flight; then each update once, in order.
    assert!(case.claim("a", T0 + 3, 10, 10).await.is_empty());
    let ids: Vec<i64> = first.iter().map(|d| d.id).collect();
    case.queue.finish(&ids).await.unwrap();
    let mut sent = Vec::new();
    for _ in 0..3 {
        let next = case.claim("a", T0 + 3, 10, 10).await;
        let ids: Vec<i64> = next.iter().map(|d| d.id).collect();
        case.queue.finish(&ids).await.unwrap();
        sent.extend(next);
    }
    let updates: Vec<_> = sent
        .iter()
        .map(|d| match &d.payload {
            Payload::Alert(c) => (c.body.as_str(), c.quiet, c.revision),
            Payload::Withdraw { .. } => ("(withdraw)", false, 0),
        })
        .collect();
    assert_eq!(updates, [("hello", true, T0 + 1), ("hello!", true, T0 + 2)]);
}
