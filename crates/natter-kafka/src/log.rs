//! [`KafkaEventLog`]: the event bus decorator that also writes message events to the durable log.
//!
//! Why a decorator: the real-time bus (Redis or in-memory) and the log have different jobs.
//! Gateways need events within milliseconds and can resync from storage when they miss one; log
//! consumers (the notifier) need every message event, in order, and can be late. So `publish`
//! hands the event to the real-time bus first and then *enqueues* the record with librdkafka,
//! which batches, retries while a broker restarts (for up to `delivery_timeout`) and reports
//! the outcome on its own thread. The caller (who holds the conversation's order lock) never
//! waits for Kafka.
//!
//! Order: records are keyed by conversation, so each conversation maps to one partition, and
//! the idempotent producer (`enable.idempotence`, `acks=all`) keeps their order and writes each
//! once, even across its internal retries. Since `publish` is called under the conversation's
//! lock, the log holds a conversation's events in commit order.
//!
//! Failures are logged with the conversation and seq and counted in
//! `natter_kafka_produce_failures_total{stage="enqueue"|"delivery"}`. A record that is not
//! written is not retried beyond librdkafka's own retries: the message itself is durable in
//! its store either way, only its side effects (a push notification) are missed.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use natter_domain::BusError;
use natter_domain::events::Event;
use natter_domain::ports::{BusSubscription, EventBus};
use rdkafka::client::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};

use crate::config::{KafkaConfig, millis};
use crate::errors::KafkaLogError;
use crate::record::{MessageRecord, RecordKind};

/// An [`EventBus`] that forwards everything to an inner real-time bus and also writes message
/// events (`MessageCreated`, `MessageUpdated`) to the Kafka topic.
pub struct KafkaEventLog {
    inner: Arc<dyn EventBus>,
    producer: ThreadedProducer<LogContext>,
    topic: String,
}

impl KafkaEventLog {
    /// Creates the producer; it connects in the background (a broker that is down now is not
    /// an error here: records wait in librdkafka's queue for up to `delivery_timeout`).
    pub fn new(config: &KafkaConfig, inner: Arc<dyn EventBus>) -> Result<Self, KafkaLogError> {
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
            .create_with_context(LogContext)?;
        Ok(Self {
            inner,
            producer,
            topic: config.topic.clone(),
        })
    }

    /// Wait until every enqueued record is delivered or failed, for at most `timeout`. Call
    /// at shutdown: records still queued when the log is dropped are discarded.
    pub async fn flush(&self, timeout: Duration) -> Result<(), KafkaLogError> {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || producer.flush(timeout))
            .await
            .map_err(|_| KafkaError::Canceled)??;
        Ok(())
    }

    /// Records enqueued or in flight, not yet acknowledged by the brokers.
    pub fn in_flight(&self) -> i32 {
        self.producer.in_flight_count()
    }

    fn produce(&self, record: &MessageRecord) {
        let key = record.key();
        let payload = record.encode();
        let tag = Box::new(DeliveryTag::of(record));
        let base = BaseRecord::with_opaque_to(&self.topic, tag)
            .key(&key[..])
            .payload(&payload);
        if let Err((err, base)) = self.producer.send(base) {
            failed("enqueue", &base.delivery_opaque, &err);
        }
    }
}

#[async_trait]
impl EventBus for KafkaEventLog {
    async fn publish(&self, event: Event) -> Result<(), BusError> {
        let record = MessageRecord::from_event(&event);
        let live = self.inner.publish(event).await;
        if let Some(record) = record {
            self.produce(&record);
        }
        live
    }

    fn subscribe(&self) -> Box<dyn BusSubscription> {
        self.inner.subscribe()
    }
}

/// What a delivery report needs to say which record it is about.
#[derive(Debug)]
struct DeliveryTag {
    conversation: uuid::Uuid,
    seq: i64,
    kind: RecordKind,
}

impl DeliveryTag {
    fn of(record: &MessageRecord) -> Self {
        Self {
            conversation: record.conversation_id,
            seq: record.seq,
            kind: record.kind,
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
struct LogContext;

impl ClientContext for LogContext {
    /// Connection errors repeat while a broker is down and librdkafka recovers by itself:
    /// a warning, not an error.
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(%error, reason, "kafka producer");
    }
}

impl ProducerContext for LogContext {
    type DeliveryOpaque = Box<DeliveryTag>;

    fn delivery(&self, result: &DeliveryResult<'_>, tag: Self::DeliveryOpaque) {
        match result {
            Ok(_) => metrics::counter!("natter_kafka_produced_total").increment(1),
            Err((err, _)) => failed("delivery", &tag, err),
        }
    }
}
