//! Kafka: the durable log of message events (a decorator of the real-time bus) and the notifier
//! role, one member of its consumer group (`natter-kafka`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use natter_domain::notify::PushQueue;
use natter_domain::ports::EventBus;
use natter_kafka::KafkaEventLog;
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
    let kafka = settings(config);
    let group = config.kafka.notifier_group.clone();
    let stop = CancellationToken::new();
    let task = {
        let stop = stop.clone();
        tokio::spawn(async move {
            if let Err(err) =
                natter_kafka::run_consumer(&kafka, &group, Arc::new(notifier), stop).await
            {
                tracing::error!(%err, "the notifier consumer stopped");
            }
        })
    };
    backends.on_close(move || async move {
        stop.cancel();
        if tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .is_err()
        {
            tracing::warn!("the notifier consumer did not stop in time");
        }
    });
}
