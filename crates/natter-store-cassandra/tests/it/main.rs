//! Integration tests (one binary, per the workspace convention) against a running Cassandra
//! and PostgreSQL (see `support` for the environment variables): the storage conformance suite
//! with message bodies in Cassandra and conversations in PostgreSQL, plus what only this store
//! has (buckets, orphans of uncommitted writes, no nulls, Unavailable).

mod buckets;
mod faults;
mod nulls;
mod orphans;
mod schema;
mod support;
mod unavailable;

use std::sync::Arc;

use natter_conformance::Stores;
use natter_store_cassandra::{CassandraConfig, DEFAULT_BUCKET_SIZE};

/// A split deployment as the binary builds it: accounts and conversations in PostgreSQL, whose
/// summaries read message facts from Cassandra; message bodies in Cassandra, sequenced by
/// PostgreSQL. Every case shares the keyspace and the database (cases use random ids).
async fn split_stores(bucket_size: i64) -> Stores {
    let postgres = support::postgres().await;
    let config = CassandraConfig {
        bucket_size,
        ..CassandraConfig::default()
    };
    let cassandra = support::messages(Arc::new(postgres.clone()), config).await;
    let postgres = postgres.with_messages(Arc::new(cassandra.clone()));
    Stores {
        accounts: Arc::new(postgres.clone()),
        conversations: Arc::new(postgres),
        messages: Arc::new(cassandra),
        guard: None,
    }
}

async fn default_buckets() -> Stores {
    split_stores(DEFAULT_BUCKET_SIZE).await
}

/// Buckets of 3 messages: the suite's pages and feeds then cross bucket boundaries everywhere.
async fn small_buckets() -> Stores {
    split_stores(3).await
}

mod conformance {
    natter_conformance::conformance_suite!(crate::default_buckets);
}

mod conformance_small_buckets {
    natter_conformance::conformance_suite!(crate::small_buckets);
}
