//! An unreachable cluster is `Unavailable` (the API's 503, no ack), quickly; settings that can
//! never work are refused before connecting. (How each driver error maps, timeouts included,
//! is unit-tested in `errors`; stopping Cassandra under a running server is one of the
//! end-to-end fault tests.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use natter_domain::StoreError;
use natter_store_cassandra::{CassandraConfig, CassandraMessages};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_nodes_are_unavailable() {
    let config = CassandraConfig {
        connect_timeout: Duration::from_secs(1),
        ..CassandraConfig::default()
    };
    let started = Instant::now();
    // A port nothing listens on.
    let result = CassandraMessages::connect_with(
        &["127.0.0.1:9".to_owned()],
        KEYSPACE,
        Arc::new(postgres().await),
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
    let sequencer = Arc::new(postgres().await);
    let nodes = ["127.0.0.1:9".to_owned()];
    for (keyspace, config) in [
        ("Bad-Name", CassandraConfig::default()),
        (
            KEYSPACE,
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
    let result = CassandraMessages::connect(&none, KEYSPACE, sequencer).await;
    assert!(matches!(result, Err(StoreError::Internal(_))), "{result:?}");
}
