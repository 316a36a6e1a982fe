//! Offsets are committed after handling: a group's next member resumes after them.

use std::time::Duration;

use natter_domain::events::Event;
use natter_domain::ports::EventBus;
use natter_domain::{ConversationId, UserId};
use natter_kafka::KafkaEventLog;
use natter_server::embedded::MemoryBus;
use std::sync::Arc;

use crate::support::{message, nothing_more, record, take, topic, unique};

async fn publish(
    log: &KafkaEventLog,
    conversations: &[ConversationId],
    seqs: std::ops::RangeInclusive<i64>,
) {
    let sender = UserId::new();
    for seq in seqs {
        for &conversation in conversations {
            let event = Event::MessageCreated(message(conversation, sender, seq));
            log.publish(event).await.unwrap();
        }
    }
    log.flush(Duration::from_secs(30)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_member_of_the_group_does_not_redeliver_handled_records() {
    let config = topic("offsets", 2).await;
    let log = KafkaEventLog::new(&config, Arc::new(MemoryBus::new(64))).unwrap();
    let conversations: Vec<ConversationId> = (0..4).map(|_| ConversationId::new()).collect();
    let group = unique("offsets");

    publish(&log, &conversations, 1..=10).await;
    let (first, mut rx) = record(&config, &group);
    let handled = take(&mut rx, 40).await;
    assert!(handled.iter().all(|r| r.seq <= 10));
    first.stop().await;

    publish(&log, &conversations, 11..=20).await;
    let (second, mut rx) = record(&config, &group);
    // Within a partition records arrive in order, so a redelivered record would come before
    // the new ones of its conversation.
    let resumed = take(&mut rx, 40).await;
    let old: Vec<_> = resumed
        .iter()
        .filter(|r| r.seq <= 10)
        .map(|r| (r.conversation_id, r.seq))
        .collect();
    assert!(old.is_empty(), "redelivered: {old:?}");
    nothing_more(&mut rx, Duration::from_secs(2)).await;
    second.stop().await;
}
