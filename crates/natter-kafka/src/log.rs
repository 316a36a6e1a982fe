//! [`KafkaEventLog`]: the event bus decorator that also writes message events to the durable log.
//!
//! Why a decorator: the real-time bus (Redis or in-memory) and the log have different jobs.
//! Gateways need events within milliseconds and can resync from storage when they miss one; log
//! consumers (the notifier) need every message event, in order, and can be late. So `publish`
//! hands the event to the real-time bus first and then *enqueues* the record with librdkafka,
//! which batches, retries while a broker restarts (for up to `delivery_timeout`) and reports
//! the outcome on its own thread. The caller (who holds the conversation's order lock) does not
//! wait for Kafka while the real-time bus works (see Order for when it does, briefly).
//!
//! Order: records are keyed by conversation, so each conversation maps to one partition, and
//! the idempotent producer (`enable.idempotence`, `acks=all`) keeps their order and writes each
//! once, even across its internal retries. Since `publish` is called under the conversation's
//! lock, one node's records of a conversation are in commit order. Records of different nodes
//! are not, in general: a node enqueues its record and releases the lock, and the next node's
//! record can reach the broker first. That is harmless for the notifier, but not while gateways
//! read the log in the real-time bus's stead ([`crate::failover`]): so when the real-time
//! publish fails, `publish` waits (at most [`KafkaConfig::log_wait`], 1 s by default) until the broker has the record
//! before returning, and the lock is released only then; the log then holds the conversation's
//! events in commit order across nodes for as long as the bus is down. A message event written
//! so is published (`Ok`): every gateway reads it from the log meanwhile.
//!
//! Failures are logged with the conversation and seq and counted in
//! `natter_kafka_produce_failures_total{stage="enqueue"|"delivery"}`. A record that is not
//! written is not retried beyond librdkafka's own retries: the message itself is durable in
//! its store either way, only its side effects (a push notification) are missed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use natter_domain::BusError;
use natter_domain::events::Event;
use natter_domain::ports::{BusSubscription, EventBus};
use rdkafka::client::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};

use tokio::sync::oneshot;

use crate::config::{KafkaConfig, millis};
use crate::errors::KafkaLogError;
use crate::failover::Failover;
use crate::record::{MessageRecord, RecordKind};

/// An [`EventBus`] that forwards everything to an inner real-time bus and also writes message
/// events (`MessageCreated`, `MessageUpdated`) to the Kafka topic.
pub struct KafkaEventLog {
    inner: Arc<dyn EventBus>,
    producer: ThreadedProducer<LogContext>,
    topic: String,
    /// For the subscriptions' durable feeds.
    config: KafkaConfig,
    /// Records enqueued whose outcome (delivered or failed) is not known yet: shared with the
    /// delivery-report context, which decrements it.
    undecided: Arc<AtomicUsize>,
}

impl KafkaEventLog {
    /// Creates the producer; it connects in the background (a broker that is down now is not
    /// an error here: records wait in librdkafka's queue for up to `delivery_timeout`).
    pub fn new(config: &KafkaConfig, inner: Arc<dyn EventBus>) -> Result<Self, KafkaLogError> {
        let undecided = Arc::new(AtomicUsize::new(0));
        let producer = config
            .client_config([
                ("enable.idempotence", "true".to_owned()),
                ("acks", "all".to_owned()),
                ("message.timeout.ms", millis(config.delivery_timeout)),
                ("linger.ms", millis(config.linger)),
                // The Java client's default partitioner: records keyed by one conversation land
                // in the same partition whichever client writes them.
                ("partitioner", "murmur2_random".to_owned()),
            ])
            .create_with_context(LogContext {
                undecided: undecided.clone(),
            })?;
        Ok(Self {
            inner,
            producer,
            topic: config.topic.clone(),
            config: config.clone(),
            undecided,
        })
    }

    /// Wait until every enqueued record is delivered or failed, for at most `timeout`. Call
    /// at shutdown: records still queued when the log is dropped are discarded.
    pub async fn flush(&self, timeout: Duration) -> Result<(), KafkaLogError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || producer.flush(timeout))
            .await
            .map_err(|_| KafkaError::Canceled)??;
        // librdkafka's queue can be empty a moment before the polling thread has finished
        // running the last delivery reports: wait for those too, so `undecided` is exact after.
        while self.undecided() > 0 {
            if tokio::time::Instant::now() >= deadline {
                return Err(
                    KafkaError::Flush(rdkafka::types::RDKafkaErrorCode::OperationTimedOut).into(),
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }

    /// Message records enqueued whose delivery report has not arrived yet (neither written nor
    /// failed). Exact: unlike librdkafka's queue length, it never counts the client's own
    /// requests (metadata, reconnects), which come and go while a broker is unreachable.
    pub fn undecided(&self) -> usize {
        self.undecided.load(Ordering::Acquire)
    }

    /// Enqueue `record`; with `report`, the receiver resolves when the outcome is known (`true`:
    /// the broker has it).
    fn produce(&self, record: &MessageRecord, report: bool) -> Option<oneshot::Receiver<bool>> {
        let key = record.key();
        let payload = record.encode();
        let (done, delivered) = if report {
            let (done, delivered) = oneshot::channel();
            (Some(done), Some(delivered))
        } else {
            (None, None)
        };
        let tag = Box::new(DeliveryTag::of(record, done));
        let base = BaseRecord::with_opaque_to(&self.topic, tag)
            .key(&key[..])
            .payload(&payload);
        self.undecided.fetch_add(1, Ordering::AcqRel);
        if let Err((err, base)) = self.producer.send(base) {
            self.undecided.fetch_sub(1, Ordering::AcqRel);
            failed("enqueue", &base.delivery_opaque, &err);
            return None;
        }
        delivered
    }
}

#[async_trait]
impl EventBus for KafkaEventLog {
    async fn publish(&self, event: Event) -> Result<(), BusError> {
        let record = MessageRecord::from_event(&event);
        let live = self.inner.publish(event).await;
        if let Some(record) = record
            && let Some(delivered) = self.produce(&record, live.is_err())
        {
            // The log is how the other nodes get this event now: keep the lock until it is
            // written, so the next change of the conversation lands after it. Once written, it
            // is published (gateways read it from the log while the bus is down).
            if let Ok(Ok(true)) = tokio::time::timeout(self.config.log_wait, delivered).await {
                return Ok(());
            }
        }
        live
    }

    /// The real-time bus's subscription, filled in from the topic while that bus is down.
    fn subscribe(&self) -> Box<dyn BusSubscription> {
        Box::new(Failover::new(self.inner.subscribe(), self.config.clone()))
    }
}

/// What a delivery report needs to say which record it is about.
#[derive(Debug)]
struct DeliveryTag {
    conversation: uuid::Uuid,
    seq: i64,
    kind: RecordKind,
    /// Told the outcome (`true`: written), if the publisher waits for it.
    done: Option<oneshot::Sender<bool>>,
}

impl DeliveryTag {
    fn of(record: &MessageRecord, done: Option<oneshot::Sender<bool>>) -> Self {
        Self {
            conversation: record.conversation_id,
            seq: record.seq,
            kind: record.kind,
            done,
        }
    }
}

fn failed(stage: &'static str, tag: &DeliveryTag, err: &KafkaError) {
    tracing::warn!(
        conversation = %tag.conversation,
        seq = tag.seq,
        kind = tag.kind.as_str(),
        %err,
        "message event not written to the log ({stage})"
    );
    metrics::counter!("natter_kafka_produce_failures_total", "stage" => stage).increment(1);
}

/// Receives librdkafka's delivery reports (on the producer's polling thread).
struct LogContext {
    undecided: Arc<AtomicUsize>,
}

impl ClientContext for LogContext {
    /// Connection errors repeat while a broker is down and librdkafka recovers by itself:
    /// a warning, not an error.
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(%error, reason, "kafka producer");
    }
}

impl ProducerContext for LogContext {
    type DeliveryOpaque = Box<DeliveryTag>;

    fn delivery(&self, result: &DeliveryResult<'_>, mut tag: Self::DeliveryOpaque) {
        match result {
            Ok(_) => metrics::counter!("natter_kafka_produced_total").increment(1),
            Err((err, _)) => failed("delivery", &tag, err),
        }
        self.undecided.fetch_sub(1, Ordering::AcqRel);
        if let Some(done) = tag.done.take() {
            let _ = done.send(result.is_ok());
        }
    }
}
