//! Kafka: the durable log of message events (a decorator of the real-time bus), and the roles
//! that consume it, each one member of its own consumer group (`natter-kafka`): the notifier
//! and the indexer (the message search index in PostgreSQL).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use natter_domain::notify::PushQueue;
use natter_domain::ports::{EventBus, MessageStore};
use natter_domain::{ConversationId, UserId};
use natter_kafka::{HandlerError, KafkaEventLog, MessageRecord, RecordHandler};
use natter_store_postgres::{BackfillStep, PgStore, SearchEntry};
use tokio_util::sync::CancellationToken;

use super::Backends;
use crate::config::ServerConfig;

fn settings(config: &ServerConfig) -> natter_kafka::KafkaConfig {
    natter_kafka::KafkaConfig::new(config.kafka.brokers.clone())
        .with_topic(config.kafka.topic.clone())
}

pub async fn ensure_topic(config: &ServerConfig) -> anyhow::Result<()> {
    natter_kafka::ensure_topic(&settings(config), config.kafka.partitions)
        .await
        .map(|_| ())
        .with_context(|| {
            format!(
                "Kafka topic {} on {}",
                config.kafka.topic, config.kafka.brokers
            )
        })
}

/// `bus`, also writing message events to the topic; flushed at shutdown (records still queued
/// in the producer would be lost).
pub async fn event_log(
    config: &ServerConfig,
    bus: Arc<dyn EventBus>,
    backends: &mut Backends,
) -> anyhow::Result<Arc<dyn EventBus>> {
    ensure_topic(config).await?;
    let log = Arc::new(
        KafkaEventLog::new(&settings(config), bus)
            .map_err(|e| anyhow::anyhow!("Kafka producer: {e}"))?,
    );
    let flushing = log.clone();
    backends.on_close(move || async move {
        if let Err(err) = flushing.flush(Duration::from_secs(10)).await {
            tracing::warn!(%err, "message events not all written to Kafka at shutdown");
        }
    });
    Ok(log)
}

/// The `notifier` role's consumer: one member of the notifier consumer group
/// (`kafka.notifier_group`), planning each message's pushes into `queue`, stopped (and its
/// offsets committed) at shutdown. Sending is `crate::push`'s, as embedded.
pub fn start_notifier(config: &ServerConfig, backends: &mut Backends, queue: Arc<dyn PushQueue>) {
    let notifier =
        crate::push::KafkaPlanner::new(queue, backends.ports.clone(), config.notifier.clone());
    let group = config.kafka.notifier_group.clone();
    start_consumer(config, backends, group, "notifier", Arc::new(notifier));
}

/// The `indexer` role's consumer: one member of the indexer consumer group
/// (`kafka.indexer_group`), writing each message record's state to the search index in
/// `pg`; stopped (and its offsets committed) at shutdown. Next to it, the backfill of the
/// messages the index has no row for (read through `backends.ports.messages`), until it is over.
pub fn start_indexer(config: &ServerConfig, backends: &mut Backends, pg: PgStore) {
    let group = config.kafka.indexer_group.clone();
    start_backfill(backends, pg.clone());
    start_consumer(config, backends, group, "indexer", Arc::new(Indexer { pg }));
}

/// Messages read per step of the backfill (one transaction).
const BACKFILL_BUDGET: u32 = 500;
/// How often the backfill logs its progress, and how long it waits while another process walks.
const BACKFILL_REPORT_EVERY: Duration = Duration::from_secs(10);
/// The longest wait after a failed step.
const BACKFILL_BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Walk every message the search index has no row for (sent before the index existed, or
/// whose records the log no longer holds) and index it, one step of `BACKFILL_BUDGET`
/// messages after the other (`PgStore::backfill_search_step`: resumable, one walker across the
/// processes of the role, never over a state the consumer wrote). Progress: an info line every
/// `BACKFILL_REPORT_EVERY` and at the end, the counters `natter_search_backfill_read_total`
/// and `natter_search_backfill_indexed_total`, the gauge `natter_search_backfill_done`. Stopped at
/// shutdown (the step under way rolls back; the next start resumes before it).
fn start_backfill(backends: &mut Backends, pg: PgStore) {
    let messages = backends.ports.messages.clone();
    let stop = CancellationToken::new();
    let task = {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = backfill(&pg, &*messages) => {}
            }
        })
    };
    backends.on_close(move || async move {
        stop.cancel();
        let _ = task.await;
    });
}

async fn backfill(pg: &PgStore, messages: &dyn MessageStore) {
    let started = tokio::time::Instant::now();
    let mut reported = started;
    let mut backoff = Duration::from_secs(1);
    metrics::gauge!("natter_search_backfill_done").set(0.0);
    loop {
        match pg.backfill_search_step(messages, BACKFILL_BUDGET).await {
            Ok(BackfillStep::Walked(progress)) => {
                backoff = Duration::from_secs(1);
                metrics::counter!("natter_search_backfill_read_total").increment(progress.read);
                metrics::counter!("natter_search_backfill_indexed_total")
                    .increment(progress.indexed);
                if progress.done {
                    metrics::gauge!("natter_search_backfill_done").set(1.0);
                    if progress.read > 0 || started.elapsed() > Duration::from_secs(1) {
                        tracing::info!(
                            read = progress.total_read,
                            indexed = progress.total_indexed,
                            "search backfill: done"
                        );
                    } else {
                        tracing::debug!(
                            read = progress.total_read,
                            indexed = progress.total_indexed,
                            "search backfill: over already"
                        );
                    }
                    return;
                }
                if reported.elapsed() >= BACKFILL_REPORT_EVERY {
                    reported = tokio::time::Instant::now();
                    tracing::info!(
                        read = progress.total_read,
                        indexed = progress.total_indexed,
                        conversation = %progress.conversation,
                        seq = progress.seq,
                        "search backfill: walking the messages the index has no row for"
                    );
                }
            }
            Ok(BackfillStep::Busy) => tokio::time::sleep(BACKFILL_REPORT_EVERY).await,
            Err(err) => {
                tracing::warn!(%err, retry_in_s = backoff.as_secs(), "search backfill: a step failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKFILL_BACKOFF_MAX);
            }
        }
    }
}

fn start_consumer(
    config: &ServerConfig,
    backends: &mut Backends,
    group: String,
    role: &'static str,
    handler: Arc<dyn RecordHandler>,
) {
    let kafka = settings(config);
    let stop = CancellationToken::new();
    let task = {
        let stop = stop.clone();
        tokio::spawn(async move {
            if let Err(err) = natter_kafka::run_consumer(&kafka, &group, handler, stop).await {
                tracing::error!(%err, role, "a consumer of the message log stopped");
            }
        })
    };
    backends.on_close(move || async move {
        stop.cancel();
        if tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .is_err()
        {
            tracing::warn!(role, "a consumer of the message log did not stop in time");
        }
    });
}

/// The most records the indexer writes in one statement: every record the consumer holds, up
/// to this many (measured in BENCHMARKS.md, "Search").
pub const INDEX_BATCH_MAX: usize = 500;

/// Puts the state each record carries in the search index (created and updated alike: an
/// upsert that an older state never wins, so replays and records out of order are harmless),
/// every record the consumer has ready in one statement (`PgStore::index_batch`), whose offsets
/// are committed only after it. A store that is down is waited for (the batch is retried,
/// `HandlerError::Transient`); undecodable records are skipped by the consumer loop, and a batch
/// holding a record without a valid message id is handled one record at a time, so only that
/// record is skipped. Records from before the log carried whole messages have every field the
/// index needs.
struct Indexer {
    pg: PgStore,
}

#[async_trait]
impl RecordHandler for Indexer {
    async fn handle(&self, record: &MessageRecord) -> Result<(), HandlerError> {
        self.pg.index(&entry(record)?).await?;
        Ok(())
    }

    fn batch_max(&self) -> usize {
        INDEX_BATCH_MAX
    }

    async fn handle_batch(&self, records: &[MessageRecord]) -> Result<(), HandlerError> {
        let entries = records.iter().map(entry).collect::<Result<Vec<_>, _>>()?;
        self.pg.index_batch(&entries).await?;
        Ok(())
    }
}

/// What the index keeps of a record.
fn entry(record: &MessageRecord) -> Result<SearchEntry, HandlerError> {
    Ok(SearchEntry {
        id: record
            .message_id()
            .map_err(|err| HandlerError::Permanent(err.to_string()))?,
        conversation_id: ConversationId(record.conversation_id),
        seq: record.seq,
        mod_seq: record.mod_seq,
        sender_id: UserId(record.sender_id),
        created_at_ms: record.created_at_ms,
        has_attachment: !record.attachments.is_empty(),
        deleted: record.deleted,
        text: record.text.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use natter_domain::MessageId;
    use natter_domain::model::Message;
    use natter_domain::values::ClientMsgId;
    use natter_kafka::RecordKind;
    use tokio_util::sync::CancellationToken;

    /// Counts what the indexer wrote (after each call returned: durable), and hands records
    /// over in batches of at most `batch_max`.
    struct Counted {
        indexer: Indexer,
        batch_max: usize,
        handled: std::sync::atomic::AtomicUsize,
    }

    #[async_trait]
    impl RecordHandler for Counted {
        async fn handle(&self, record: &MessageRecord) -> Result<(), HandlerError> {
            self.indexer.handle(record).await?;
            self.handled
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        }

        fn batch_max(&self) -> usize {
            self.batch_max
        }

        async fn handle_batch(&self, records: &[MessageRecord]) -> Result<(), HandlerError> {
            self.indexer.handle_batch(records).await?;
            self.handled
                .fetch_add(records.len(), std::sync::atomic::Ordering::Relaxed);
            Ok(())
        }
    }

    /// The indexer's pace: records already in the log (the index catching up after a burst)
    /// written to PostgreSQL's index, batched as the role runs it and one at a time, timed from
    /// the first write (the group's join left out) to the last. Needs scripts/services' Kafka
    /// and PostgreSQL (`NATTER_TEST_KAFKA_BROKERS`, `NATTER_TEST_POSTGRES_URL`):
    /// `cargo test [--release] -p natter-server --lib index_bench -- --ignored --nocapture`
    /// (`NATTER_BENCH_RECORDS`, default 100,000 batched and a fifth of that one at a time).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a benchmark: needs Kafka and PostgreSQL (scripts/services start postgres kafka)"]
    async fn index_bench() {
        use std::sync::atomic::Ordering;
        use std::time::Instant;

        use natter_domain::MessageIdGenerator;
        use natter_domain::events::Event;
        use natter_kafka::KafkaConfig;

        let env = |name: &str, default: &str| std::env::var(name).unwrap_or(default.to_owned());
        let brokers = env("NATTER_TEST_KAFKA_BROKERS", "127.0.0.1:59092");
        let url = env(
            "NATTER_TEST_POSTGRES_URL",
            "postgres://postgres@127.0.0.1:55432/natter",
        );
        let records: usize = env("NATTER_BENCH_RECORDS", "100000").parse().unwrap();
        let pg = PgStore::connect(&url, 4).await.expect("PostgreSQL");
        pg.migrate().await.expect("migrate");
        let words = [
            "lunch", "noon", "café", "plans", "meeting", "tomorrow", "東京", "report", "draft",
            "ship", "review", "coffee", "friday", "deploy", "numbers", "kalo", "sprint", "idea",
        ];
        let now_ms = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_millis() as i64
        };
        let ids = MessageIdGenerator::new(1023);
        for (name, batch_max, n) in [
            ("batched", INDEX_BATCH_MAX, records),
            ("one at a time", 1, records / 5),
        ] {
            let config = KafkaConfig::new(brokers.clone())
                .with_topic(format!("natter-index-bench-{}", uuid::Uuid::now_v7()));
            natter_kafka::ensure_topic(&config, 8).await.expect("topic");
            let log = KafkaEventLog::new(&config, Arc::new(crate::embedded::MemoryBus::new(1024)))
                .expect("producer");
            let conversations: Vec<ConversationId> =
                (0..200).map(|_| ConversationId::new()).collect();
            let sender = UserId::new();
            for i in 0..n {
                let count = 6 + i % 7;
                let text: Vec<&str> = (0..count)
                    .map(|w| words[(i * 7 + w * w) % words.len()])
                    .collect();
                let message = Message {
                    id: ids.next(now_ms()),
                    conversation_id: conversations[i % conversations.len()],
                    seq: (i / conversations.len()) as i64 + 1,
                    mod_seq: (i / conversations.len()) as i64 + 1,
                    sender_id: sender,
                    client_msg_id: ClientMsgId::parse(&format!("b-{i}")).unwrap(),
                    text: text.join(" "),
                    reply_to_seq: None,
                    mentions: Vec::new(),
                    created_at_ms: now_ms(),
                    edited_at_ms: None,
                    deleted: false,
                    reactions: Vec::new(),
                    attachments: Vec::new(),
                };
                log.publish(Event::MessageCreated(message))
                    .await
                    .expect("publish");
            }
            log.flush(Duration::from_secs(60)).await.expect("flush");

            let counted = Arc::new(Counted {
                indexer: Indexer { pg: pg.clone() },
                batch_max,
                handled: Default::default(),
            });
            let stop = CancellationToken::new();
            let consumer = tokio::spawn({
                let (config, handler, stop) = (config.clone(), counted.clone(), stop.clone());
                let group = format!("natter-index-bench-{}", uuid::Uuid::now_v7());
                async move { natter_kafka::run_consumer(&config, &group, handler, stop).await }
            });
            let deadline = Instant::now() + Duration::from_secs(600);
            let (mut first, mut at_first) = (None, 0);
            loop {
                let handled = counted.handled.load(Ordering::Relaxed);
                if first.is_none() && handled > 0 {
                    first = Some(Instant::now());
                    at_first = handled;
                }
                if handled >= n {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{handled} of {n} records indexed"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let elapsed = first.expect("a first write").elapsed();
            stop.cancel();
            consumer.await.unwrap().expect("consumer");
            println!(
                "indexer, {name}: {} records in {:.2} s: {:.0} records/s",
                n - at_first,
                elapsed.as_secs_f64(),
                (n - at_first) as f64 / elapsed.as_secs_f64()
            );
        }
    }

    #[test]
    fn a_record_gives_the_entry_of_its_message() {
        let message = Message {
            id: MessageId(7_000_000_000_123),
            conversation_id: ConversationId::new(),
            seq: 4,
            mod_seq: 9,
            sender_id: UserId::new(),
            client_msg_id: ClientMsgId::parse("c-1").unwrap(),
            text: "Lunch at noon?".into(),
            reply_to_seq: None,
            mentions: Vec::new(),
            created_at_ms: 1_800_000_000_000,
            edited_at_ms: Some(1_800_000_000_500),
            deleted: false,
            reactions: Vec::new(),
            attachments: Vec::new(),
        };
        for kind in [RecordKind::Created, RecordKind::Updated] {
            let record = MessageRecord::from_message(kind, &message);
            assert_eq!(entry(&record).unwrap(), SearchEntry::from_message(&message));
        }
        let mut bad = MessageRecord::from_message(RecordKind::Created, &message);
        bad.message_id = "x".into();
        assert!(matches!(entry(&bad), Err(HandlerError::Permanent(_))));
    }
}
