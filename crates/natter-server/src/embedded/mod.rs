//! The embedded engines used when no external server is configured: an in-process event bus
//! and in-process presence. They satisfy the same port contracts as the Redis/Kafka adapters.

mod bus;
mod presence;

pub use bus::MemoryBus;
pub use presence::MemoryPresence;
