//! With no broker at all, publishing still reaches the real-time bus at once; the records fail
//! after the delivery timeout (logged and counted) instead of blocking anyone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use natter_domain::events::Event;
use natter_domain::ports::{BusItem, EventBus};
use natter_domain::{ConversationId, UserId};
use natter_kafka::{KafkaConfig, KafkaEventLog};
use natter_server::embedded::MemoryBus;

use crate::support::message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_does_not_wait_for_an_unreachable_broker() {
    // Port 1 on loopback: nothing listens there. The delivery timeout is long enough that no
    // record can fail before the checks below, however loaded the machine, and short enough to
    // keep the test quick.
    let mut config = KafkaConfig::new("127.0.0.1:1").with_topic("natter.unreachable");
    config.delivery_timeout = Duration::from_secs(3);
    let inner = Arc::new(MemoryBus::new(64));
    let mut live = inner.subscribe();
    let log = KafkaEventLog::new(&config, inner).unwrap();

    let (conversation, sender) = (ConversationId::new(), UserId::new());
    let started = Instant::now();
    for seq in 1..=20 {
        log.publish(Event::MessageCreated(message(conversation, sender, seq)))
            .await
            .unwrap();
    }
    // Every publish returned while its record was still undecided: none waited for Kafka. (If
    // publish had waited for delivery, each record would already be decided here, as failed.)
    if started.elapsed() < config.delivery_timeout {
        assert_eq!(log.undecided(), 20, "records wait in librdkafka's queue");
    }
    for seq in 1..=20 {
        match tokio::time::timeout(Duration::from_secs(10), live.next()).await {
            Ok(Some(BusItem::Event(event))) => {
                assert_eq!(event.message_position(), Some((conversation, seq)))
            }
            other => panic!("live bus: expected seq {seq}, got {other:?}"),
        }
    }

    // After the delivery timeout every record is reported failed and leaves the queue.
    log.flush(Duration::from_secs(60))
        .await
        .expect("failed records leave the queue after the delivery timeout");
    assert_eq!(log.undecided(), 0);
}
