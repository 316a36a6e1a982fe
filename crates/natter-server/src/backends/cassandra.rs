//! Message bodies in Cassandra, sequenced by PostgreSQL (`natter-store-cassandra`).

use std::sync::Arc;

use natter_store_cassandra::{CassandraConfig, CassandraMessages, Replication};
use natter_store_postgres::PgStore;

use crate::config::ServerConfig;

/// Connect and create the keyspace and tables if missing.
pub async fn bodies(config: &ServerConfig, pg: &PgStore) -> anyhow::Result<CassandraMessages> {
    let settings = CassandraConfig {
        replication: Replication::Simple {
            factor: config.cassandra.replication_factor,
        },
        ..CassandraConfig::default()
    };
    let messages = CassandraMessages::connect_with(
        &config.cassandra.nodes,
        &config.cassandra.keyspace,
        Arc::new(pg.clone()),
        settings,
    )
    .await
    .map_err(|e| anyhow::anyhow!("Cassandra {:?}: {e}", config.cassandra.nodes))?;
    messages
        .migrate()
        .await
        .map_err(|e| anyhow::anyhow!("Cassandra schema: {e}"))?;
    Ok(messages)
}
