//! natter's domain: validated values, entities, permission rules, the services that implement
//! every chat operation, and the ports (traits) those services need from storage, the event bus
//! and presence.
//!
//! Invariant: this crate does no network or disk I/O except through the ports in [`ports`].

pub mod cache;
pub mod error;
pub mod events;
pub mod files;
pub mod ids;
pub mod limits;
pub mod model;
pub mod names;
pub mod notify;
pub mod permissions;
pub mod ports;
pub mod push;
pub mod rules;
pub mod search;
pub mod values;

pub use error::{BusError, DomainError, StoreError};
pub use ids::{ConversationId, MessageId, MessageIdGenerator, SessionId, UserId};
pub mod service;
pub use service::{Chat, Clock, Ports, SystemClock};
