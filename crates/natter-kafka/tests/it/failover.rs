//! A subscription of the event log through an outage of the real-time bus: message events keep
//! coming from the topic while the bus is down, and the switch back loses nothing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use natter_domain::BusError;
use natter_domain::events::Event;
use natter_domain::ports::{BusItem, BusSubscription, EventBus};
use natter_domain::{ConversationId, UserId};
use natter_kafka::KafkaEventLog;
use tokio::sync::mpsc;

use crate::support::{message, topic};

/// A real-time bus driven by the test: it delivers what is published while up, refuses while
/// down, and the test injects `Down` / `Lagged` as a bus losing and regaining Redis would.
struct ScriptedBus {
    up: Mutex<bool>,
    items: mpsc::UnboundedSender<BusItem>,
    receiver: Mutex<Option<mpsc::UnboundedReceiver<BusItem>>>,
}

impl ScriptedBus {
    fn new() -> Arc<Self> {
        let (items, receiver) = mpsc::unbounded_channel();
        Arc::new(Self {
            up: Mutex::new(true),
            items,
            receiver: Mutex::new(Some(receiver)),
        })
    }

    fn set(&self, up: bool, item: BusItem) {
        *self.up.lock().unwrap() = up;
        self.items.send(item).unwrap();
    }
}

#[async_trait]
impl EventBus for ScriptedBus {
    async fn publish(&self, event: Event) -> Result<(), BusError> {
        if !*self.up.lock().unwrap() {
            return Err(BusError::Unavailable("down".into()));
        }
        let _ = self.items.send(BusItem::Event(Arc::new(event)));
        Ok(())
    }

    fn subscribe(&self) -> Box<dyn BusSubscription> {
        Box::new(Scripted(self.receiver.lock().unwrap().take().expect("one")))
    }
}

struct Scripted(mpsc::UnboundedReceiver<BusItem>);

#[async_trait]
impl BusSubscription for Scripted {
    async fn next(&mut self) -> Option<BusItem> {
        self.0.recv().await
    }
}

/// The next item, waiting at most 90 s: reading from the log starts a consumer on a new topic,
/// which a loaded machine (CI running beside builds) has been seen to take over 30 s to assign.
async fn next(subscription: &mut Box<dyn BusSubscription>) -> BusItem {
    match tokio::time::timeout(Duration::from_secs(90), subscription.next()).await {
        Ok(Some(item)) => item,
        other => panic!("expected an item: {other:?}"),
    }
}

/// What a hub does with message events: keep those above the last `mod_seq` delivered.
fn deliver(delivered: &mut Vec<i64>, item: &BusItem) {
    if let BusItem::Event(event) = item
        && let Some((_, mod_seq)) = event.message_position()
        && delivered.last().is_none_or(|last| mod_seq > *last)
    {
        delivered.push(mod_seq);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_events_come_from_the_log_while_the_bus_is_down_and_the_switch_back_loses_none() {
    let mut config = topic("failover", 3).await;
    // Long enough for a broker that has just started (its first produce waits for a producer
    // id and the new topic's leaders): the test checks that publish waits for the write, not
    // how fast the broker is.
    config.log_wait = Duration::from_secs(30);
    let bus = ScriptedBus::new();
    let log = KafkaEventLog::new(&config, bus.clone()).unwrap();
    let mut subscription = log.subscribe();
    let (conversation, sender) = (ConversationId::new(), UserId::new());
    let publish = |seq| log.publish(Event::MessageCreated(message(conversation, sender, seq)));
    let mut delivered = Vec::new();

    publish(1).await.unwrap();
    let item = next(&mut subscription).await;
    deliver(&mut delivered, &item);
    assert_eq!(delivered, [1], "live");

    bus.set(false, BusItem::Down);
    assert!(matches!(next(&mut subscription).await, BusItem::Down));
    for seq in 2..=4 {
        // The bus refuses it, the log has it before publish returns (so before the
        // conversation's lock is released: the next change, from any node, lands after it).
        assert!(publish(seq).await.is_ok(), "published through the log");
        assert_eq!(log.undecided(), 0, "seq {seq} not yet written");
    }
    // From the log (after a replay of the one delivered live).
    while delivered.len() < 4 {
        let item = next(&mut subscription).await;
        assert!(matches!(item, BusItem::Event(_)), "{item:?}");
        deliver(&mut delivered, &item);
    }
    assert_eq!(delivered, [1, 2, 3, 4]);

    // Back: a publish that reaches only the log (another node not resubscribed yet), then
    // live ones, which are held until the log has caught up.
    bus.set(false, BusItem::Lagged);
    publish(5).await.unwrap();
    bus.set(
        true,
        BusItem::Event(Arc::new(Event::Typing {
            conversation_id: conversation,
            user_id: sender,
            expires_in_ms: 1000,
        })),
    );
    publish(6).await.unwrap();
    loop {
        let item = next(&mut subscription).await;
        if matches!(item, BusItem::Resumed) {
            break;
        }
        assert!(matches!(item, BusItem::Event(_)), "{item:?}");
        deliver(&mut delivered, &item);
    }
    assert_eq!(delivered[..5], [1, 2, 3, 4, 5], "5 came from the log first");
    // Then what the bus delivered meanwhile, in its order.
    assert!(matches!(
        &next(&mut subscription).await,
        BusItem::Event(e) if matches!(**e, Event::Typing { .. })
    ));
    let item = next(&mut subscription).await;
    deliver(&mut delivered, &item);
    assert_eq!(
        delivered,
        [1, 2, 3, 4, 5, 6],
        "nothing missed, nothing twice"
    );
    // Live again: straight through.
    publish(7).await.unwrap();
    let item = next(&mut subscription).await;
    deliver(&mut delivered, &item);
    assert_eq!(delivered, [1, 2, 3, 4, 5, 6, 7]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_reachable_brokers_the_switch_back_is_a_resync() {
    let config = natter_kafka::KafkaConfig::new("127.0.0.1:1").with_topic("nowhere");
    let bus = ScriptedBus::new();
    let log = KafkaEventLog::new(&config, bus.clone()).unwrap();
    let mut subscription = log.subscribe();
    bus.set(false, BusItem::Down);
    assert!(matches!(next(&mut subscription).await, BusItem::Down));
    let message = message(ConversationId::new(), UserId::new(), 1);
    assert!(
        log.publish(Event::MessageCreated(message)).await.is_err(),
        "neither the bus nor the log has it"
    );
    bus.set(true, BusItem::Lagged);
    assert!(matches!(next(&mut subscription).await, BusItem::Lagged));
}

/// The bus comes back and goes down again at once (Redis restarting drops its first clients):
/// the feed goes on, nothing is missed or sent twice, and no resync is asked of the clients.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnection_that_does_not_hold_keeps_the_feed_and_asks_no_resync() {
    let mut config = topic("flap", 3).await;
    config.log_wait = Duration::from_secs(30);
    let bus = ScriptedBus::new();
    let log = KafkaEventLog::new(&config, bus.clone()).unwrap();
    let mut subscription = log.subscribe();
    let (conversation, sender) = (ConversationId::new(), UserId::new());
    let publish = |seq| log.publish(Event::MessageCreated(message(conversation, sender, seq)));
    let mut delivered = Vec::new();

    publish(1).await.unwrap();
    deliver(&mut delivered, &next(&mut subscription).await);
    bus.set(false, BusItem::Down);
    assert!(matches!(next(&mut subscription).await, BusItem::Down));
    publish(2).await.unwrap();
    while delivered.len() < 2 {
        let item = next(&mut subscription).await;
        deliver(&mut delivered, &item);
    }

    // Back for a moment: one live message and a typing indicator, then down again.
    bus.set(true, BusItem::Lagged);
    publish(3).await.unwrap();
    let typing = Event::Typing {
        conversation_id: conversation,
        user_id: sender,
        expires_in_ms: 1000,
    };
    bus.set(true, BusItem::Event(Arc::new(typing)));
    bus.set(false, BusItem::Down);
    publish(4).await.unwrap();
    bus.set(true, BusItem::Lagged);
    publish(5).await.unwrap();

    let mut typed = 0;
    loop {
        let item = next(&mut subscription).await;
        match &item {
            BusItem::Lagged => panic!("the clients were asked to resync"),
            BusItem::Resumed => break,
            BusItem::Event(e) if matches!(**e, Event::Typing { .. }) => typed += 1,
            _ => deliver(&mut delivered, &item),
        }
    }
    // What the bus held after the switch back, then live.
    publish(6).await.unwrap();
    while delivered.len() < 6 {
        let item = next(&mut subscription).await;
        assert!(
            !matches!(item, BusItem::Lagged),
            "the clients were asked to resync"
        );
        deliver(&mut delivered, &item);
    }
    assert_eq!(
        delivered,
        [1, 2, 3, 4, 5, 6],
        "nothing missed, nothing twice"
    );
    assert_eq!(typed, 1, "the typing indicator passed on once");
}
