//! A handler that takes batches: it is given whatever the consumer has ready, each
//! conversation's records in order; the offsets are committed after the batch, so the group's
//! next member resumes after it; a transient failure retries the batch, a permanent one hands
//! its records over one at a time so that only the bad one is skipped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use natter_domain::events::Event;
use natter_domain::ports::EventBus;
use natter_domain::{ConversationId, UserId};
use natter_kafka::{HandlerError, KafkaConfig, KafkaEventLog, MessageRecord, RecordHandler};
use natter_server::embedded::MemoryBus;
use tokio::sync::mpsc;

use crate::support::{Running, message, nothing_more, take, topic, unique};

const BATCH_MAX: usize = 64;

/// Takes batches of up to [`BATCH_MAX`]; the first batch fails transiently once, every batch
/// with a record of `bad_seq` fails permanently, and so does that record alone.
struct Batcher {
    bad_seq: i64,
    batch_calls: AtomicU32,
    sizes: Mutex<Vec<usize>>,
    done: mpsc::UnboundedSender<(ConversationId, i64)>,
}

impl Batcher {
    fn new(bad_seq: i64) -> (Arc<Self>, mpsc::UnboundedReceiver<(ConversationId, i64)>) {
        let (done, rx) = mpsc::unbounded_channel();
        let batcher = Self {
            bad_seq,
            batch_calls: AtomicU32::new(0),
            sizes: Mutex::default(),
            done,
        };
        (Arc::new(batcher), rx)
    }
}

#[async_trait]
impl RecordHandler for Batcher {
    async fn handle(&self, record: &MessageRecord) -> Result<(), HandlerError> {
        if record.seq == self.bad_seq {
            return Err(HandlerError::Permanent("cannot be handled".into()));
        }
        let _ = self
            .done
            .send((ConversationId(record.conversation_id), record.seq));
        Ok(())
    }

    fn batch_max(&self) -> usize {
        BATCH_MAX
    }

    async fn handle_batch(&self, records: &[MessageRecord]) -> Result<(), HandlerError> {
        assert!(
            (2..=BATCH_MAX).contains(&records.len()),
            "{}",
            records.len()
        );
        if self.batch_calls.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err(HandlerError::Transient("store restarting".into()));
        }
        if records.iter().any(|r| r.seq == self.bad_seq) {
            return Err(HandlerError::Permanent(
                "one of them cannot be handled".into(),
            ));
        }
        self.sizes.lock().unwrap().push(records.len());
        for record in records {
            let _ = self
                .done
                .send((ConversationId(record.conversation_id), record.seq));
        }
        Ok(())
    }
}

/// `seqs` of each of `conversations`, interleaved, flushed to the broker.
async fn publish(
    config: &KafkaConfig,
    conversations: &[ConversationId],
    seqs: std::ops::RangeInclusive<i64>,
) {
    let log = KafkaEventLog::new(config, Arc::new(MemoryBus::new(64))).unwrap();
    let sender = UserId::new();
    for seq in seqs {
        for &conversation in conversations {
            let event = Event::MessageCreated(message(conversation, sender, seq));
            log.publish(event).await.unwrap();
        }
    }
    log.flush(Duration::from_secs(30)).await.unwrap();
}

/// Each conversation's seqs in the order they were handled.
fn by_conversation(handled: &[(ConversationId, i64)]) -> HashMap<ConversationId, Vec<i64>> {
    let mut seqs: HashMap<ConversationId, Vec<i64>> = HashMap::new();
    for (conversation, seq) in handled {
        seqs.entry(*conversation).or_default().push(*seq);
    }
    seqs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_keep_each_conversations_order_and_commit_after_themselves() {
    let config = topic("batches", 2).await;
    let conversations: Vec<ConversationId> = (0..4).map(|_| ConversationId::new()).collect();
    let group = unique("batches");
    publish(&config, &conversations, 1..=50).await;

    let (batcher, mut rx) = Batcher::new(7);
    let consumer = Running::start(&config, &group, batcher.clone());
    // Seq 7 of each conversation is skipped; the rest arrive, each conversation's in order.
    let handled = take(&mut rx, 4 * 49).await;
    nothing_more(&mut rx, Duration::from_secs(1)).await;
    consumer.stop().await;
    let expected: Vec<i64> = (1..=50).filter(|&seq| seq != 7).collect();
    for (conversation, seqs) in by_conversation(&handled) {
        assert_eq!(seqs, expected, "{conversation:?}");
    }
    let sizes = batcher.sizes.lock().unwrap().clone();
    assert!(
        sizes.iter().any(|&n| n > 2),
        "records already in the log come in batches: {sizes:?}"
    );

    // The group's next member starts after the batches handled.
    publish(&config, &conversations, 51..=60).await;
    let (batcher, mut rx) = Batcher::new(0);
    let consumer = Running::start(&config, &group, batcher);
    let resumed = take(&mut rx, 40).await;
    nothing_more(&mut rx, Duration::from_secs(2)).await;
    consumer.stop().await;
    for (conversation, seqs) in by_conversation(&resumed) {
        assert_eq!(seqs, (51..=60).collect::<Vec<_>>(), "{conversation:?}");
    }
}
