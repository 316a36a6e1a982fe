//! Handler failures: transient ones are retried on the same record, permanent ones skipped;
//! either way the records behind them still arrive, in order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use natter_domain::events::Event;
use natter_domain::ports::EventBus;
use natter_domain::{ConversationId, UserId};
use natter_kafka::{HandlerError, KafkaEventLog, MessageRecord, RecordHandler};
use natter_server::embedded::MemoryBus;
use tokio::sync::mpsc;

use crate::support::{Running, message, nothing_more, take, topic, unique};

/// Fails seq 3 twice (transient), seq 5 always (permanent); reports each success.
struct Flaky {
    attempts: Mutex<HashMap<i64, u32>>,
    done: mpsc::UnboundedSender<i64>,
}

#[async_trait]
impl RecordHandler for Flaky {
    async fn handle(&self, record: &MessageRecord) -> Result<(), HandlerError> {
        let attempt = {
            let mut attempts = self.attempts.lock().unwrap();
            let count = attempts.entry(record.seq).or_default();
            *count += 1;
            *count
        };
        match record.seq {
            3 if attempt <= 2 => Err(HandlerError::Transient("store restarting".into())),
            5 => Err(HandlerError::Permanent("cannot be handled".into())),
            seq => {
                let _ = self.done.send(seq);
                Ok(())
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_and_permanent_ones_skipped_in_order() {
    let config = topic("retries", 1).await;
    let log = KafkaEventLog::new(&config, Arc::new(MemoryBus::new(64))).unwrap();
    let (conversation, sender) = (ConversationId::new(), UserId::new());
    for seq in 1..=7 {
        let event = Event::MessageCreated(message(conversation, sender, seq));
        log.publish(event).await.unwrap();
    }
    log.flush(Duration::from_secs(30)).await.unwrap();

    let (done, mut rx) = mpsc::unbounded_channel();
    let flaky = Arc::new(Flaky {
        attempts: Mutex::default(),
        done,
    });
    let consumer = Running::start(&config, &unique("retries"), flaky.clone());
    assert_eq!(take(&mut rx, 6).await, vec![1, 2, 3, 4, 6, 7]);
    nothing_more(&mut rx, Duration::from_secs(1)).await;
    consumer.stop().await;

    let attempts = flaky.attempts.lock().unwrap().clone();
    assert_eq!(
        attempts[&3], 3,
        "seq 3: two transient failures, then success"
    );
    assert_eq!(attempts[&5], 1, "seq 5: a permanent failure is not retried");
}
