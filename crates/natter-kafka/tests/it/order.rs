//! Per-conversation order through the log, and the real-time bus still getting everything.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use natter_domain::events::Event;
use natter_domain::ports::{BusItem, EventBus};
use natter_domain::{ConversationId, UserId};
use natter_kafka::{KafkaEventLog, RecordKind};
use natter_server::embedded::MemoryBus;

use crate::support::{message, nothing_more, record, take, topic, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_conversation_arrives_in_seq_order_and_the_live_bus_gets_every_event() {
    let config = topic("order", 4).await;
    let inner = Arc::new(MemoryBus::new(4096));
    let mut live = inner.subscribe();
    let log = KafkaEventLog::new(&config, inner.clone()).unwrap();

    let sender = UserId::new();
    let conversations: Vec<ConversationId> = (0..4).map(|_| ConversationId::new()).collect();
    let mut published = Vec::new();
    // 200 message events, interleaved across 4 conversations: 45 created and 5 updated each.
    for seq in 1..=50 {
        for &conversation in &conversations {
            let message = message(conversation, sender, seq);
            let event = if seq % 10 == 0 {
                Event::MessageUpdated(message)
            } else {
                Event::MessageCreated(message)
            };
            published.push(event.clone());
            log.publish(event).await.unwrap();
        }
        if seq % 5 == 0 {
            // Live-only events reach the real-time bus but not the log.
            let typing = Event::Typing {
                conversation_id: conversations[0],
                user_id: sender,
                expires_in_ms: 1000,
            };
            published.push(typing.clone());
            log.publish(typing).await.unwrap();
        }
    }
    log.flush(Duration::from_secs(30)).await.unwrap();
    assert_eq!(log.undecided(), 0, "every record delivered");

    // The real-time bus got every event, in publish order.
    for expected in &published {
        match tokio::time::timeout(Duration::from_secs(5), live.next()).await {
            Ok(Some(BusItem::Event(event))) => assert_eq!(&*event, expected),
            other => panic!("live bus: expected an event, got {other:?}"),
        }
    }

    let (consumer, mut rx) = record(&config, &unique("order"));
    let records = take(&mut rx, 200).await;
    nothing_more(&mut rx, Duration::from_secs(2)).await;
    consumer.stop().await;

    let mut per_conversation: HashMap<ConversationId, Vec<(i64, RecordKind)>> = HashMap::new();
    for record in &records {
        per_conversation
            .entry(record.conversation())
            .or_default()
            .push((record.seq, record.kind));
    }
    assert_eq!(per_conversation.len(), 4);
    for conversation in &conversations {
        let got = &per_conversation[conversation];
        let expected: Vec<(i64, RecordKind)> = (1..=50)
            .map(|seq| {
                let kind = if seq % 10 == 0 {
                    RecordKind::Updated
                } else {
                    RecordKind::Created
                };
                (seq, kind)
            })
            .collect();
        assert_eq!(got, &expected, "conversation {conversation}");
    }
}
