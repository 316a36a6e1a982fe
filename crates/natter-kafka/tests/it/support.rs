//! Shared helpers: the broker address, unique topics and groups, message builders, a handler
//! that records what it is given, bounded waits.

use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use natter_domain::model::Message;
use natter_domain::values::ClientMsgId;
use natter_domain::{ConversationId, MessageId, UserId};
use natter_kafka::{
    HandlerError, KafkaConfig, MessageRecord, RecordHandler, ensure_topic, run_consumer,
};
use rand::Rng;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const WAIT: Duration = Duration::from_secs(60);

pub fn brokers() -> String {
    std::env::var("NATTER_TEST_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:59092".to_owned())
}

/// A fresh name with a random suffix.
pub fn unique(prefix: &str) -> String {
    let suffix: u64 = rand::rng().random();
    format!("{prefix}-{suffix:016x}")
}

/// A config for a new topic with `partitions` partitions, created and ready. Panics with a
/// clear message when no broker answers.
pub async fn topic(name: &str, partitions: i32) -> KafkaConfig {
    let brokers = brokers();
    let first = brokers.split(',').next().unwrap_or_default().to_owned();
    let reachable = first
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .is_some_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(3)).is_ok());
    assert!(
        reachable,
        "no Kafka broker at {brokers}: start one with `scripts/services start kafka`, or point \
         NATTER_TEST_KAFKA_BROKERS at one"
    );
    let config = KafkaConfig::new(brokers).with_topic(unique(&format!("natter-test-{name}")));
    let created = ensure_topic(&config, partitions)
        .await
        .expect("create the test topic");
    assert_eq!(created, partitions as usize);
    config
}

pub fn message(conversation: ConversationId, sender: UserId, seq: i64) -> Message {
    Message {
        id: MessageId(1_000_000 + seq),
        conversation_id: conversation,
        seq,
        mod_seq: seq,
        sender_id: sender,
        client_msg_id: ClientMsgId::parse(&format!("c-{seq}")).unwrap(),
        text: format!("message {seq}"),
        reply_to_seq: None,
        mentions: vec![],
        created_at_ms: 1_800_000_000_000 + seq,
        edited_at_ms: None,
        deleted: false,
        reactions: vec![],
        attachments: vec![],
    }
}

/// Hands every record it is given to a channel.
pub struct Recorder(pub mpsc::UnboundedSender<MessageRecord>);

#[async_trait]
impl RecordHandler for Recorder {
    async fn handle(&self, record: &MessageRecord) -> Result<(), HandlerError> {
        let _ = self.0.send(record.clone());
        Ok(())
    }
}

/// A consumer running in the background until [`Running::stop`].
pub struct Running {
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl Running {
    pub fn start(config: &KafkaConfig, group: &str, handler: Arc<dyn RecordHandler>) -> Self {
        let shutdown = CancellationToken::new();
        let task = tokio::spawn({
            let (config, group, shutdown) = (config.clone(), group.to_owned(), shutdown.clone());
            async move {
                run_consumer(&config, &group, handler, shutdown)
                    .await
                    .expect("consumer runs");
            }
        });
        Self { shutdown, task }
    }

    /// Graceful stop: commits what was handled and leaves the group.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("consumer stops in time")
            .expect("consumer task");
    }
}

/// Start a consumer that records into a channel.
pub fn record(
    config: &KafkaConfig,
    group: &str,
) -> (Running, mpsc::UnboundedReceiver<MessageRecord>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Running::start(config, group, Arc::new(Recorder(tx))), rx)
}

/// Exactly `n` items, within [`WAIT`].
pub async fn take<T>(rx: &mut mpsc::UnboundedReceiver<T>, n: usize) -> Vec<T> {
    let mut got = Vec::with_capacity(n);
    let deadline = tokio::time::Instant::now() + WAIT;
    while got.len() < n {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(item)) => got.push(item),
            Ok(None) => panic!("channel closed after {} of {n} items", got.len()),
            Err(_) => panic!("only {} of {n} items within {WAIT:?}", got.len()),
        }
    }
    got
}

/// Nothing more arrives within `quiet`.
pub async fn nothing_more<T: std::fmt::Debug>(
    rx: &mut mpsc::UnboundedReceiver<T>,
    quiet: Duration,
) {
    if let Ok(Some(item)) = tokio::time::timeout(quiet, rx.recv()).await {
        panic!("unexpected extra item: {item:?}");
    }
}
