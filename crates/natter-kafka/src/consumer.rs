//! One member of a consumer group of the message log, at least once.
//!
//! The loop reads a record, decodes it, gives it to the group's [`RecordHandler`] and commits
//! the offset after it (`offset + 1`, asynchronously) only once the handler succeeded
//! (`enable.auto.commit=false`). Records of one partition are handled one at a time, in order.
//! A consumer that dies between handling and committing makes the next owner of the partition
//! handle those records again, so handlers must be idempotent (the notifier is: its outbox is
//! unique per user and message).
//!
//! Handler errors: [`HandlerError::Transient`] is retried on the same record with exponential
//! backoff (capped at [`MAX_BACKOFF`]) until it succeeds or the consumer shuts down, so a store
//! restart delays records but skips none. [`HandlerError::Permanent`] and records that cannot be
//! decoded are logged, counted (`natter_kafka_records_skipped_total`) and committed past.
//!
//! Error events on the queue (broker outages, failed rejoins) are logged by [`GroupContext`] and
//! read past at once, never waited on: librdkafka recovers by itself, and the rebalance events
//! queued behind them are what let this member (and the group waiting for it) consume again.
//!
//! Shutdown: cancelling the token stops the loop between records (or during a retry's backoff,
//! leaving that record uncommitted), commits the handled positions of the partitions still
//! assigned synchronously, and leaves the group so the partitions move at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use crate::config::{KafkaConfig, millis};
use crate::errors::{HandlerError, KafkaLogError};
use crate::record::MessageRecord;

/// The longest wait between two attempts at a record whose handler keeps failing.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// What a consumer group does with each message record.
#[async_trait]
pub trait RecordHandler: Send + Sync + 'static {
    /// Must be idempotent: after a crash or a rebalance a record can be handled again.
    async fn handle(&self, record: &MessageRecord) -> Result<(), HandlerError>;
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
    handler: &'a dyn RecordHandler,
    shutdown: &'a CancellationToken,
    /// Per partition: the offset after the last handled record (what a commit stores).
    handled: HashMap<i32, i64>,
}

impl Group<'_> {
    async fn run(&mut self) {
        loop {
            let received = tokio::select! {
                _ = self.shutdown.cancelled() => return,
                received = self.consumer.recv() => received,
            };
            let message = match received {
                Ok(message) => message,
                Err(err) => {
                    self.report(&err);
                    continue;
                }
            };
            if !self.process(&message).await {
                return;
            }
            if let Err(err) = self.consumer.commit_message(&message, CommitMode::Async) {
                tracing::warn!(group = self.name, %err, "offset commit not sent");
            }
            self.handled
                .insert(message.partition(), message.offset() + 1);
        }
    }

    /// Handle one record, retrying transient failures. `false` if shutdown interrupted it
    /// (the record is then left uncommitted).
    async fn process(&self, message: &BorrowedMessage<'_>) -> bool {
        let record = match MessageRecord::decode(message.payload()) {
            Ok(record) => record,
            Err(err) => {
                self.discard(message, &err.to_string());
                return true;
            }
        };
        let mut backoff = FIRST_BACKOFF;
        loop {
            match self.handler.handle(&record).await {
                Ok(()) => {
                    metrics::counter!("natter_kafka_records_handled_total", "group" => self.name.to_owned())
                        .increment(1);
                    return true;
                }
                Err(HandlerError::Permanent(reason)) => {
                    self.discard(message, &reason);
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
    fn discard(&self, message: &BorrowedMessage<'_>, reason: &str) {
        tracing::error!(
            group = self.name,
            topic = message.topic(),
            partition = message.partition(),
            offset = message.offset(),
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
