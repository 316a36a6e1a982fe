//! One member of a consumer group of the message log, at least once.
//!
//! The loop reads a record, decodes it, gives it to the group's [`RecordHandler`] and commits
//! the offset after it (`offset + 1`, asynchronously) only once the handler succeeded
//! (`enable.auto.commit=false`). Records of one partition are handled one at a time, in order.
//! A consumer that dies between handling and committing makes the next owner of the partition
//! handle those records again, so handlers must be idempotent (the notifier is: its outbox is
//! unique per user and message).
//!
//! Batches: a handler whose [`RecordHandler::batch_max`] is above 1 (the indexer) is given,
//! after the record the loop waited for, every record the consumer already holds, up to that
//! bound, without waiting for more ([`RecordHandler::handle_batch`]: several partitions' records,
//! each partition's in log order); the offsets after them are committed in one request once the
//! whole batch succeeded. Under load the batches grow by themselves (records pile up while one is
//! written); when the log is quiet each record goes alone, without delay.
//!
//! Handler errors: [`HandlerError::Transient`] is retried on the same record (or batch) with
//! exponential backoff (capped at [`MAX_BACKOFF`]) until it succeeds or the consumer shuts down,
//! so a store restart delays records but skips none. [`HandlerError::Permanent`] and records that
//! cannot be decoded are logged, counted (`natter_kafka_records_skipped_total`) and committed
//! past; a batch that fails permanently is handled again one record at a time, so that only the
//! records that cannot be handled are skipped.
//!
//! Error events on the queue (broker outages, failed rejoins) are logged by [`GroupContext`] and
//! read past at once, never waited on: librdkafka recovers by itself, and the rebalance events
//! queued behind them are what let this member (and the group waiting for it) consume again.
//!
//! Shutdown: cancelling the token stops the loop between records (or during a retry's backoff,
//! leaving that record uncommitted), commits the handled positions of the partitions still
//! assigned synchronously, and leaves the group so the partitions move at once.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use crate::config::{KafkaConfig, millis};
use crate::errors::{HandlerError, KafkaLogError};
use crate::record::{MessageRecord, RecordError};

/// The longest wait between two attempts at a record whose handler keeps failing.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// What a consumer group does with each message record.
#[async_trait]
pub trait RecordHandler: Send + Sync + 'static {
    /// Must be idempotent: after a crash or a rebalance a record can be handled again.
    async fn handle(&self, record: &MessageRecord) -> Result<(), HandlerError>;

    /// The most records [`handle_batch`](Self::handle_batch) is given at once. 1 (the default):
    /// records are handed over one at a time, to [`handle`](Self::handle) only.
    fn batch_max(&self) -> usize {
        1
    }

    /// Handle several records as one (at most [`batch_max`](Self::batch_max), at least two):
    /// records of several partitions, each partition's in log order. All or nothing as far as
    /// the loop is concerned: after `Ok` every offset is committed; a transient error retries the
    /// whole batch, a permanent one hands its records to [`handle`](Self::handle) one by one.
    /// Idempotent, like `handle`. The default handles each record in turn.
    async fn handle_batch(&self, records: &[MessageRecord]) -> Result<(), HandlerError> {
        for record in records {
            self.handle(record).await?;
        }
        Ok(())
    }
}

/// One record read from the log: where it is and what it holds.
struct Taken {
    partition: i32,
    offset: i64,
    record: Result<MessageRecord, RecordError>,
}

impl Taken {
    fn new(message: &impl Message) -> Self {
        Self {
            partition: message.partition(),
            offset: message.offset(),
            record: MessageRecord::decode(message.payload()),
        }
    }
}

/// `future`'s output if it is ready at its first poll (the future is dropped otherwise).
fn ready_now<F: Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

/// Run one consumer of `group_id` on `config.topic` until `shutdown` is cancelled. Fails only if
/// the consumer cannot be created or subscribed; broker outages are logged and waited out.
pub async fn run_consumer(
    config: &KafkaConfig,
    group_id: &str,
    handler: Arc<dyn RecordHandler>,
    shutdown: CancellationToken,
) -> Result<(), KafkaLogError> {
    let consumer: StreamConsumer<GroupContext> = config
        .client_config([
            ("group.id", group_id.to_owned()),
            ("enable.auto.commit", "false".to_owned()),
            ("auto.offset.reset", "earliest".to_owned()),
            ("session.timeout.ms", millis(config.session_timeout)),
            ("enable.partition.eof", "false".to_owned()),
        ])
        .create_with_context(GroupContext {
            group: group_id.to_owned(),
        })?;
    consumer.subscribe(&[&config.topic])?;
    tracing::info!(group = group_id, topic = %config.topic, "kafka consumer started");

    let mut group = Group {
        consumer: &consumer,
        name: group_id,
        topic: &config.topic,
        handler: &*handler,
        shutdown: &shutdown,
        handled: HashMap::new(),
    };
    group.run().await;
    group.commit_handled();

    // Leaving the group blocks until librdkafka has closed the consumer.
    let _ = tokio::task::spawn_blocking(move || drop(consumer)).await;
    tracing::info!(group = group_id, "kafka consumer stopped");
    Ok(())
}

struct Group<'a> {
    consumer: &'a StreamConsumer<GroupContext>,
    name: &'a str,
    topic: &'a str,
    handler: &'a dyn RecordHandler,
    shutdown: &'a CancellationToken,
    /// Per partition: the offset after the last handled record (what a commit stores).
    handled: HashMap<i32, i64>,
}

impl Group<'_> {
    async fn run(&mut self) {
        let batch_max = self.handler.batch_max().max(1);
        loop {
            let received = tokio::select! {
                _ = self.shutdown.cancelled() => return,
                received = self.consumer.recv() => received,
            };
            let first = match received {
                Ok(message) => message,
                Err(err) => {
                    self.report(&err);
                    continue;
                }
            };
            let mut batch = vec![Taken::new(&first)];
            drop(first);
            // Whatever else is already here, without waiting.
            while batch.len() < batch_max {
                match ready_now(self.consumer.recv()) {
                    Some(Ok(message)) => batch.push(Taken::new(&message)),
                    Some(Err(err)) => self.report(&err),
                    None => break,
                }
            }
            let handled = if batch.len() == 1 {
                self.process(&batch[0]).await
            } else {
                self.process_batch(&batch).await
            };
            if !handled {
                return;
            }
            self.commit(&batch);
        }
    }

    /// Commit (asynchronously) the offsets after `batch`'s records, one per partition.
    fn commit(&mut self, batch: &[Taken]) {
        let mut next: BTreeMap<i32, i64> = BTreeMap::new();
        for taken in batch {
            let after = next.entry(taken.partition).or_default();
            *after = (*after).max(taken.offset + 1);
        }
        let mut offsets = TopicPartitionList::new();
        for (&partition, &offset) in &next {
            let _ = offsets.add_partition_offset(self.topic, partition, Offset::Offset(offset));
            self.handled.insert(partition, offset);
        }
        if let Err(err) = self.consumer.commit(&offsets, CommitMode::Async) {
            tracing::warn!(group = self.name, %err, "offset commit not sent");
        }
    }

    /// Handle a batch of records as one, retrying transient failures; if it fails for good,
    /// handle its records one at a time. `false` if shutdown interrupted it (the batch is then
    /// left uncommitted).
    async fn process_batch(&self, batch: &[Taken]) -> bool {
        let mut records = Vec::with_capacity(batch.len());
        for taken in batch {
            match &taken.record {
                Ok(record) => records.push(record.clone()),
                Err(err) => self.discard(taken, &err.to_string()),
            }
        }
        if records.len() < 2 {
            // Decoding left at most one record: handled alone, as usual.
            return match batch.iter().find(|taken| taken.record.is_ok()) {
                Some(taken) => self.process(taken).await,
                None => true,
            };
        }
        metrics::histogram!("natter_kafka_batch_records", "group" => self.name.to_owned())
            .record(records.len() as f64);
        let mut backoff = FIRST_BACKOFF;
        loop {
            match self.handler.handle_batch(&records).await {
                Ok(()) => {
                    metrics::counter!("natter_kafka_records_handled_total", "group" => self.name.to_owned())
                        .increment(records.len() as u64);
                    return true;
                }
                Err(HandlerError::Permanent(reason)) => {
                    tracing::warn!(
                        group = self.name,
                        records = records.len(),
                        %reason,
                        "a batch of records failed; handling them one at a time"
                    );
                    for taken in batch.iter().filter(|taken| taken.record.is_ok()) {
                        if !self.process(taken).await {
                            return false;
                        }
                    }
                    return true;
                }
                Err(HandlerError::Transient(reason)) => {
                    tracing::warn!(
                        group = self.name,
                        records = records.len(),
                        %reason,
                        retry_in_ms = backoff.as_millis() as u64,
                        "batch handler failed; retrying"
                    );
                    metrics::counter!("natter_kafka_handler_retries_total", "group" => self.name.to_owned())
                        .increment(1);
                    if !self.pause(backoff).await {
                        return false;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Handle one record, retrying transient failures. `false` if shutdown interrupted it
    /// (the record is then left uncommitted).
    async fn process(&self, taken: &Taken) -> bool {
        let record = match &taken.record {
            Ok(record) => record,
            Err(err) => {
                self.discard(taken, &err.to_string());
                return true;
            }
        };
        let mut backoff = FIRST_BACKOFF;
        loop {
            match self.handler.handle(record).await {
                Ok(()) => {
                    metrics::counter!("natter_kafka_records_handled_total", "group" => self.name.to_owned())
                        .increment(1);
                    return true;
                }
                Err(HandlerError::Permanent(reason)) => {
                    self.discard(taken, &reason);
                    return true;
                }
                Err(HandlerError::Transient(reason)) => {
                    tracing::warn!(
                        group = self.name,
                        conversation = %record.conversation_id,
                        seq = record.seq,
                        %reason,
                        retry_in_ms = backoff.as_millis() as u64,
                        "record handler failed; retrying"
                    );
                    metrics::counter!("natter_kafka_handler_retries_total", "group" => self.name.to_owned())
                        .increment(1);
                    if !self.pause(backoff).await {
                        return false;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Give up on a record that can never be handled (undecodable, or a permanent handler
    /// error): log and count it, so the group moves on instead of stalling behind it.
    fn discard(&self, taken: &Taken, reason: &str) {
        tracing::error!(
            group = self.name,
            topic = self.topic,
            partition = taken.partition,
            offset = taken.offset,
            reason,
            "skipping a record that cannot be handled"
        );
        metrics::counter!("natter_kafka_records_skipped_total", "group" => self.name.to_owned())
            .increment(1);
    }

    /// An error event from the queue. librdkafka recovers from broker and group trouble by
    /// itself and [`GroupContext`] has logged the event already, so the loop reads on at once:
    /// a broker outage queues an event per failed connection in front of the rebalance events
    /// that let this member rejoin, and reading them at any slower pace keeps the member (and,
    /// while the coordinator waits for it, the whole group) from consuming long after the
    /// broker is back. A fatal error leaves the consumer unusable; it is reported loudly.
    fn report(&self, err: &KafkaError) {
        if let KafkaError::MessageConsumptionFatal(code) = err {
            tracing::error!(group = self.name, %code, "kafka consumer failed fatally");
        } else {
            tracing::debug!(group = self.name, %err, "kafka consumer error event");
        }
    }

    /// Sleep unless shut down first; `false` on shutdown.
    async fn pause(&self, duration: Duration) -> bool {
        tokio::select! {
            _ = self.shutdown.cancelled() => false,
            _ = tokio::time::sleep(duration) => true,
        }
    }

    /// Commit, synchronously, the handled positions of the partitions this member still owns
    /// (the asynchronous commits may still be in flight; a partition that moved to another
    /// member is that member's to commit).
    fn commit_handled(&self) {
        let Ok(assignment) = self.consumer.assignment() else {
            return;
        };
        let mut offsets = TopicPartitionList::new();
        for element in assignment.elements() {
            if let Some(&next) = self.handled.get(&element.partition()) {
                let _ = offsets.add_partition_offset(
                    element.topic(),
                    element.partition(),
                    Offset::Offset(next),
                );
            }
        }
        if offsets.count() == 0 {
            return;
        }
        if let Err(err) = self.consumer.commit(&offsets, CommitMode::Sync) {
            tracing::warn!(group = self.name, %err, "final offset commit failed");
        }
    }
}

/// Logs rebalances and failed commits of one group member.
struct GroupContext {
    group: String,
}

impl ClientContext for GroupContext {
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(group = %self.group, %error, reason, "kafka consumer");
    }
}

impl ConsumerContext for GroupContext {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(list) => {
                tracing::info!(group = %self.group, partitions = %partitions(list), "partitions assigned")
            }
            Rebalance::Revoke(list) => {
                tracing::info!(group = %self.group, partitions = %partitions(list), "partitions revoked")
            }
            Rebalance::Error(err) => tracing::warn!(group = %self.group, %err, "rebalance failed"),
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(err) = result {
            tracing::warn!(group = %self.group, %err, "offset commit failed");
            metrics::counter!("natter_kafka_commit_failures_total", "group" => self.group.clone())
                .increment(1);
        }
    }
}

fn partitions(list: &TopicPartitionList) -> String {
    list.elements()
        .iter()
        .map(|element| format!("{}/{}", element.topic(), element.partition()))
        .collect::<Vec<_>>()
        .join(",")
}
