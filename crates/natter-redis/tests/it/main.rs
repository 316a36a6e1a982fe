//! Integration tests against a real Redis 7: `NATTER_TEST_REDIS_URL`, by default
//! `redis://127.0.0.1:56379` (`scripts/services start redis`). An unreachable server fails the
//! tests with a message saying so; nothing is skipped. Each test namespaces its keys and channel,
//! so tests run in parallel and beside other users of the server; every wait is bounded.
//!
//! `outage.rs` runs its own throwaway `redis-server` (on PATH) so that it can stop and restart
//! it without disturbing the shared one.

mod bus;
mod idempotency;
mod limiter;
mod outage;
mod presence;

/// The presence contract every backend meets, on Redis: a node of its own per case.
async fn conformance_presence() -> std::sync::Arc<dyn natter_domain::ports::PresenceStore> {
    let redis = redis("presence-conformance").await;
    let node = rand::random::<u16>() % 1024;
    std::sync::Arc::new(
        natter_redis::RedisPresence::start(&redis, node, Duration::from_secs(10))
            .await
            .expect("presence"),
    )
}

natter_conformance::presence_conformance_suite!(conformance_presence);

use std::future::Future;
use std::time::Duration;

use natter_domain::events::Event;
use natter_domain::model::Message;
use natter_domain::values::ClientMsgId;
use natter_domain::{ConversationId, MessageId, UserId};
use natter_redis::Redis;

pub fn url() -> String {
    std::env::var("NATTER_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:56379".into())
}

/// A unique name for this test's keys and channel.
pub fn unique(name: &str) -> String {
    format!("natter-test:{name}:{:016x}", rand::random::<u64>())
}

/// The shared test server, with keys under a prefix of this test's own.
pub async fn redis(name: &str) -> Redis {
    redis_at(&url()).await.with_prefix(unique(name))
}

pub async fn redis_at(url: &str) -> Redis {
    match Redis::connect(url).await {
        Ok(redis) => redis,
        Err(err) => panic!(
            "these tests need a Redis 7 server: {err}\n\
             start one with `scripts/services start redis`, or set NATTER_TEST_REDIS_URL"
        ),
    }
}

/// A raw connection for the test's own commands (CLIENT KILL, TTL checks).
pub async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("connect to Redis")
}

/// Await `future`, failing the test after `limit`.
pub async fn within<T>(limit: Duration, what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {limit:?}: {what}"),
    }
}

/// Poll `check` every 50 ms until it is true, failing the test after `limit`.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    within(limit, what, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}

/// A realistic event: message `seq` from `sender`.
pub fn message_event(sender: UserId, conversation: ConversationId, seq: i64) -> Event {
    Event::MessageCreated(Message {
        id: MessageId(seq << 22),
        conversation_id: conversation,
        seq,
        mod_seq: seq,
        sender_id: sender,
        client_msg_id: ClientMsgId::parse(&format!("m-{seq}")).unwrap(),
        text: format!("message {seq} ✓"),
        reply_to_seq: (seq > 1).then_some(seq - 1),
        mentions: vec![],
        created_at_ms: 1_800_000_000_000 + seq,
        edited_at_ms: None,
        deleted: false,
        reactions: vec![],
        attachments: vec![],
    })
}
