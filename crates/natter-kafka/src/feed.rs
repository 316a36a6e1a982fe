//! [`DurableFeed`]: one gateway's reader of the message topic while the real-time bus is down.
//!
//! Not a consumer group member: nothing is committed and no group is joined (every node reads every
//! partition, as it receives every event from the bus). It assigns all partitions at the first
//! offset written at or after a given time (`offsets_for_times`), fetches with a short wait so a
//! record reaches the hub within tens of milliseconds of being written, and turns each record
//! back into the bus event it was written for. Asked to catch up, it reads the high watermarks
//! at that moment and reports [`FeedItem::CaughtUp`] once it has handed over every record below
//! them: everything written up to the request, in order after the events before it.
//!
//! A record that cannot be turned back into an event (written by an older version) is skipped:
//! the hub sees the hole in that conversation's `mod_seq`s and its members resync.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use natter_domain::events::Event;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

use crate::config::KafkaConfig;
use crate::record::MessageRecord;

/// Bound of each blocking call to the brokers (metadata, offsets, watermarks).
const BROKER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a fetch waits for new records: the feed's added latency at most.
const FETCH_WAIT_MS: &str = "20";

#[derive(Debug)]
pub(crate) enum FeedItem {
    Event(Arc<Event>),
    /// Every record written before [`DurableFeed::catch_up`] was called has been handed over.
    CaughtUp,
    /// The feed cannot go on (the brokers cannot be reached, the topic is missing); logged.
    Failed,
}

pub(crate) struct DurableFeed {
    items: mpsc::Receiver<FeedItem>,
    catch_up: Option<oneshot::Sender<()>>,
    task: AbortHandle,
}

impl DurableFeed {
    /// Start reading `config.topic` from the records written at or after `since_ms`.
    pub(crate) fn start(config: &KafkaConfig, since_ms: i64) -> Self {
        let (sender, items) = mpsc::channel(1024);
        let (catch_up, asked) = oneshot::channel();
        let task = tokio::spawn(run(config.clone(), since_ms, sender, asked)).abort_handle();
        Self {
            items,
            catch_up: Some(catch_up),
            task,
        }
    }

    /// The next item; `None` once the feed has stopped (after `CaughtUp` or `Failed`).
    pub(crate) async fn next(&mut self) -> Option<FeedItem> {
        self.items.recv().await
    }

    /// Ask for [`FeedItem::CaughtUp`] once every record written until now has been handed over.
    pub(crate) fn catch_up(&mut self) {
        if let Some(ask) = self.catch_up.take() {
            let _ = ask.send(());
        }
    }
}

impl Drop for DurableFeed {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Positions = HashMap<i32, i64>;

async fn run(
    config: KafkaConfig,
    since_ms: i64,
    items: mpsc::Sender<FeedItem>,
    mut asked: oneshot::Receiver<()>,
) {
    let topic = config.topic.clone();
    let opened = tokio::task::spawn_blocking(move || open(&config, since_ms)).await;
    let (consumer, mut next) = match opened {
        Ok(Ok((consumer, start))) => (Arc::new(consumer), start),
        Ok(Err(err)) => return fail(&items, err.to_string()).await,
        Err(err) => return fail(&items, err.to_string()).await,
    };
    tracing::info!(%topic, since_ms, "durable feed started");
    let mut target: Option<Positions> = None;
    let mut pending_ask = true;
    loop {
        if target.as_ref().is_some_and(|t| caught_up(&next, t)) {
            let _ = items.send(FeedItem::CaughtUp).await;
            break;
        }
        tokio::select! {
            ask = &mut asked, if pending_ask => {
                pending_ask = false;
                if ask.is_ok() {
                    let (consumer, topic) = (consumer.clone(), topic.clone());
                    let partitions: Vec<i32> = next.keys().copied().collect();
                    match tokio::task::spawn_blocking(move || watermarks(&consumer, &topic, &partitions)).await {
                        Ok(Ok(high)) => target = Some(high),
                        Ok(Err(err)) => return fail(&items, err.to_string()).await,
                        Err(err) => return fail(&items, err.to_string()).await,
                    }
                }
            }
            received = consumer.recv() => match received {
                Ok(message) => {
                    next.insert(message.partition(), message.offset() + 1);
                    match MessageRecord::decode(message.payload()).and_then(|r| r.to_event()) {
                        Ok(event) => {
                            if items.send(FeedItem::Event(Arc::new(event))).await.is_err() {
                                break;
                            }
                        }
                        Err(err) => tracing::warn!(%err, offset = message.offset(), "durable feed skips a record"),
                    }
                }
                Err(err) => {
                    tracing::warn!(%err, "durable feed: kafka error");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
    // Closing a consumer talks to the brokers: not on the runtime's threads.
    let _ = tokio::task::spawn_blocking(move || drop(consumer)).await;
}

async fn fail(items: &mpsc::Sender<FeedItem>, reason: String) {
    tracing::warn!(%reason, "durable feed failed");
    let _ = items.send(FeedItem::Failed).await;
}

fn caught_up(next: &Positions, target: &Positions) -> bool {
    target
        .iter()
        .all(|(partition, high)| next.get(partition).is_some_and(|n| n >= high))
}

/// A consumer assigned to every partition of the topic at the first offset at or after
/// `since_ms`, and those offsets.
fn open(config: &KafkaConfig, since_ms: i64) -> Result<(StreamConsumer, Positions), KafkaError> {
    let consumer: StreamConsumer = config
        .client_config([
            // librdkafka wants a group even for assigned partitions; a fresh one that never
            // joins (no subscribe) nor commits leaves nothing on the brokers.
            ("group.id", format!("natter-feed-{}", uuid::Uuid::now_v7())),
            ("enable.auto.commit", "false".to_owned()),
            ("enable.auto.offset.store", "false".to_owned()),
            ("enable.partition.eof", "false".to_owned()),
            ("fetch.wait.max.ms", FETCH_WAIT_MS.to_owned()),
        ])
        .create()?;
    let topic = config.topic.as_str();
    let metadata = consumer.fetch_metadata(Some(topic), BROKER_TIMEOUT)?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        return Err(KafkaError::MetadataFetch(
            rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition,
        ));
    }
    let mut times = TopicPartitionList::new();
    for partition in &partitions {
        times.add_partition_offset(topic, *partition, Offset::Offset(since_ms))?;
    }
    let found = consumer.offsets_for_times(times, BROKER_TIMEOUT)?;
    let mut start = Positions::new();
    let mut assignment = TopicPartitionList::new();
    for element in found.elements() {
        let offset = match element.offset() {
            Offset::Offset(offset) => offset,
            // Nothing written since: start at the end.
            _ => {
                consumer
                    .fetch_watermarks(topic, element.partition(), BROKER_TIMEOUT)?
                    .1
            }
        };
        start.insert(element.partition(), offset);
        assignment.add_partition_offset(topic, element.partition(), Offset::Offset(offset))?;
    }
    consumer.assign(&assignment)?;
    Ok((consumer, start))
}

fn watermarks(
    consumer: &StreamConsumer,
    topic: &str,
    partitions: &[i32],
) -> Result<Positions, KafkaError> {
    partitions
        .iter()
        .map(|partition| {
            let (_, high) = consumer.fetch_watermarks(topic, *partition, BROKER_TIMEOUT)?;
            Ok((*partition, high))
        })
        .collect()
}
