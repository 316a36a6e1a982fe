//! Errors of the Kafka adapter. Two kinds: [`KafkaLogError`] for setting up and running the
//! clients, [`HandlerError`] for what a record handler tells the consumer loop to do next.

use natter_domain::StoreError;
use rdkafka::error::KafkaError;
use thiserror::Error;

/// A Kafka client could not be created, subscribed or administered.
#[derive(Debug, Error)]
pub enum KafkaLogError {
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("kafka topic {topic}: {reason}")]
    Topic { topic: String, reason: String },
}

/// A handler's failure, and whether trying again can help.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum HandlerError {
    /// A dependency is down (a store, presence): the consumer retries the same record with
    /// backoff and does not move past it, so nothing is skipped while a store restarts.
    #[error("transient: {0}")]
    Transient(String),
    /// The record can never be handled (a bug, corrupt data): the consumer logs it, counts it
    /// and moves on, so one bad record cannot stop its partition for good.
    #[error("permanent: {0}")]
    Permanent(String),
}

impl From<StoreError> for HandlerError {
    /// Only `Unavailable` is worth waiting for; the other store errors would repeat forever.
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) => Self::Transient(err.to_string()),
            StoreError::Conflict(_) | StoreError::NotFound | StoreError::Internal(_) => {
                Self::Permanent(err.to_string())
            }
        }
    }
}
