//! Integration tests against a real Kafka broker: `NATTER_TEST_KAFKA_BROKERS`
//! (default 127.0.0.1:59092, started by `scripts/services start kafka`). Every test writes to a
//! topic of its own (random suffix) and reads with consumer groups of its own, so runs never see
//! each other's records. Every wait is bounded.

mod batches;
mod failover;
mod offsets;
mod order;
mod retries;
mod support;
mod unreachable;
