//! The durable message event log on Kafka, and the consumers that read it.
//!
//! - [`KafkaEventLog`] (`log.rs`) wraps the real-time [`EventBus`](natter_domain::ports::EventBus):
//!   every event goes to the real-time bus first; message events (created, updated) are then
//!   also written to the topic (default `natter.messages`), keyed by conversation, so one
//!   conversation's records keep their order in one partition.
//!   Its subscriptions fill in from the topic while the real-time bus is down (`failover.rs`,
//!   reading through `feed.rs`), so gateways keep delivering messages through a Redis outage.
//! - [`MessageRecord`] (`record.rs`) is the versioned JSON record.
//! - [`run_consumer`] (`consumer.rs`) runs one member of a consumer group: at least once, offsets
//!   committed only after the handler succeeded.
//! - [`ensure_topic`] (`topics.rs`) creates the topic if it is missing.
//!
//! Consumer groups: the notifier's (`kafka.notifier_group`, its handler is natter-server's
//! `push::KafkaPlanner`) and the indexer's (`kafka.indexer_group`: the message search index in
//! PostgreSQL, its handler in natter-server's `backends/kafka.rs`). Each group reads the whole
//! log independently, so adding one (analytics) changes nothing for the others.

mod config;
mod consumer;
mod errors;
mod failover;
mod feed;
mod log;
mod record;
mod topics;

pub use config::{DEFAULT_TOPIC, KafkaConfig};
pub use consumer::{RecordHandler, run_consumer};
pub use errors::{HandlerError, KafkaLogError};
pub use failover::{CATCH_UP_MAX, HOLD_MAX, REPLAY_MARGIN, SETTLE};
pub use log::KafkaEventLog;
pub use record::{MessageRecord, RECORD_VERSION, RecordError, RecordKind, RecordReaction};
pub use topics::ensure_topic;
