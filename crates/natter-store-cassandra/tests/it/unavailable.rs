//! An unreachable cluster is `Unavailable` (the API's 503, no ack), quickly; settings that can
//! never work are refused before connecting. (How each driver error maps, timeouts included,
//! is unit-tested in `errors`; stopping Cassandra under a running server is one of the
//! end-to-end fault tests.)

use std::sync::Arc;
use std::time::Duration;

use natter_domain::StoreError;
use natter_store_cassandra::{CassandraConfig, CassandraMessages};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_nodes_are_unavailable() {
    let config = CassandraConfig {
        connect_timeout: Duration::from_secs(1),
        ..CassandraConfig::default()
    };
    // A port nothing listens on. "Quickly" is a bound, not a speed: the driver must give up
    // instead of retrying forever (far above the 1 s connect timeout, so load cannot trip it).
    let sequencer = Arc::new(postgres().await);
    let nodes = ["127.0.0.1:9".to_owned()];
    let connecting = CassandraMessages::connect_with(&nodes, KEYSPACE, sequencer, config);
    let result = tokio::time::timeout(Duration::from_secs(30), connecting)
        .await
        .expect("connecting to nothing gave up");
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
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
