//! Topic creation. The message topic is created once per cluster (deployment scripts call
//! [`ensure_topic`] before starting producers and consumers); brokers with
//! `auto.create.topics.enable` would create it with their defaults instead, which is usually one
//! partition, so producers do not rely on it.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use crate::config::KafkaConfig;
use crate::errors::KafkaLogError;

/// How long to wait for the brokers to answer and for the new topic's partitions to have leaders.
const TIMEOUT: Duration = Duration::from_secs(20);

/// Create `config.topic` with `partitions` partitions and the brokers' default replication
/// factor, if it does not exist (an existing topic is left as it is), then wait until every
/// partition has a leader, so producers and consumers started next find it. Returns the topic's
/// partition count.
pub async fn ensure_topic(config: &KafkaConfig, partitions: i32) -> Result<usize, KafkaLogError> {
    let topic = config.topic.clone();
    let admin: AdminClient<DefaultClientContext> = config.client_config([]).create()?;
    let options = AdminOptions::new()
        .request_timeout(Some(TIMEOUT))
        .operation_timeout(Some(TIMEOUT));
    // -1: the brokers' `default.replication.factor`.
    let new = NewTopic::new(&topic, partitions, TopicReplication::Fixed(-1));
    for result in admin.create_topics([&new], &options).await? {
        match result {
            Ok(_) => tracing::info!(%topic, partitions, "kafka topic created"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => {
                return Err(KafkaLogError::Topic {
                    topic,
                    reason: code.to_string(),
                });
            }
        }
    }
    tokio::task::spawn_blocking(move || wait_for_leaders(&admin, &topic))
        .await
        .map_err(|err| KafkaLogError::Topic {
            topic: config.topic.clone(),
            reason: err.to_string(),
        })?
}

fn wait_for_leaders(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
) -> Result<usize, KafkaLogError> {
    let deadline = Instant::now() + TIMEOUT;
    let mut last = String::from("no metadata yet");
    while Instant::now() < deadline {
        match admin
            .inner()
            .fetch_metadata(Some(topic), Duration::from_secs(5))
        {
            Ok(metadata) => {
                if let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) {
                    let partitions = found.partitions();
                    let ready = found.error().is_none()
                        && !partitions.is_empty()
                        && partitions
                            .iter()
                            .all(|p| p.error().is_none() && p.leader() >= 0);
                    if ready {
                        return Ok(partitions.len());
                    }
                    last = format!("{} partitions, not all with a leader", partitions.len());
                }
            }
            Err(err) => last = err.to_string(),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(KafkaLogError::Topic {
        topic: topic.to_owned(),
        reason: format!("not ready after {TIMEOUT:?}: {last}"),
    })
}
