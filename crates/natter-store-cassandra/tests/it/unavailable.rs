//! An unreachable cluster is `Unavailable` (the API's 503, no ack), and quickly.

use std::sync::Arc;
use std::time::{Duration, Instant};

use natter_domain::StoreError;
use natter_store_cassandra::{CassandraConfig, CassandraMessages};

use crate::mem::MemSequencer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_nodes_are_unavailable() {
    // A port nothing listens on (the discard port needs root to bind; nothing does here).
    let config = CassandraConfig {
        connect_timeout: Duration::from_secs(1),
        ..CassandraConfig::default()
    };
    let started = Instant::now();
    let result = CassandraMessages::connect_with(
        &["127.0.0.1:9".to_owned()],
        "natter_test",
        Arc::new(MemSequencer::default()),
        config,
    )
    .await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_settings_are_refused_before_connecting() {
    let sequencer = Arc::new(MemSequencer::default());
    let nodes = ["127.0.0.1:9".to_owned()];
    for (keyspace, config) in [
        ("Bad-Name", CassandraConfig::default()),
        (
            "natter_test",
            CassandraConfig {
                bucket_size: 0,
                ..CassandraConfig::default()
            },
        ),
    ] {
        let result =
            CassandraMessages::connect_with(&nodes, keyspace, sequencer.clone(), config).await;
        assert!(matches!(result, Err(StoreError::Internal(_))), "{result:?}");
    }
    let none: [String; 0] = [];
    let result = CassandraMessages::connect(&none, "natter_test", sequencer).await;
    assert!(matches!(result, Err(StoreError::Internal(_))), "{result:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_its_timeout_is_unavailable_and_nothing_is_committed() {
    use natter_domain::ports::{MessageSequencer, MessageStore};
    use natter_domain::{ConversationId, UserId};

    let sequencer = Arc::new(MemSequencer::default());
    let conversation = ConversationId::new();
    sequencer.create(conversation);
    let config = CassandraConfig {
        request_timeout: Duration::from_nanos(1),
        ..CassandraConfig::default()
    };
    let env = crate::support::Env::new(10).await; // migrates with the default timeout
    let store = crate::support::messages(sequencer.clone(), config).await;
    let message = env.new_message(conversation, UserId::new(), "too slow");
    let result = store.append(message).await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
    assert_eq!(sequencer.head(conversation).await.unwrap().last_seq, 0);
}
