//! Redis adapters for a natter cluster: what the nodes of one deployment share in real time.
//!
//! - [`RedisBus`] ([`natter_domain::ports::EventBus`]): every event to every node, once, over
//!   one pub/sub channel, with `Lagged` after any loss ([`bus`]); what a node could not publish
//!   is published again once Redis is back (`redo`).
//! - [`RedisPresence`] ([`natter_domain::ports::PresenceStore`]): connection counts per user and
//!   node, with node heartbeats so a dead node's users go offline ([`presence`]).
//! - [`RedisRateLimiter`]: cluster-wide GCRA limits, failing open ([`limiter`]).
//! - [`RedisIdempotency`]: short-lived idempotency keys ([`idempotency`]).
//!
//! All start from one [`Redis`] handle (a multiplexed, self-reconnecting connection and a key
//! prefix). Every command is bounded by a timeout, so an outage is a prompt error (or, for the
//! limiter, a documented fail-open), never a hang. Needs Redis 7 (RESP3 pub/sub, `SET NX GET`).

pub mod bus;
pub mod codec;
pub mod connection;
pub mod errors;
mod fanout;
pub mod idempotency;
pub mod limiter;
pub mod presence;
mod redo;

pub use bus::{BusOptions, RedisBus};
pub use connection::Redis;
pub use errors::Error;
pub use idempotency::RedisIdempotency;
pub use limiter::{RedisRateLimiter, RetryAfter};
pub use presence::RedisPresence;
