//! `migrate` on a fresh keyspace, from two stores at once (as nodes starting together do):
//! both succeed, every table has its fixed id, and the store works on the result.

use std::collections::HashMap;
use std::sync::Arc;

use natter_domain::ports::MessageStore;
use natter_store_cassandra::{CassandraConfig, CassandraMessages, table_id};
use uuid::Uuid;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrations_create_the_same_tables() {
    let keyspace = format!("natter_mig_{}", &Uuid::now_v7().simple().to_string()[20..]);
    let connect = async || {
        CassandraMessages::connect_with(
            &nodes(),
            &keyspace,
            Arc::new(postgres().await),
            CassandraConfig::default(),
        )
        .await
        .expect("connect")
    };
    let (a, b) = (connect().await, connect().await);
    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    ra.expect("first migration");
    rb.expect("second migration");
    a.migrate().await.expect("migrating again changes nothing");

    let raw = raw_session().await;
    let rows = raw
        .query_unpaged(
            "SELECT table_name, id FROM system_schema.tables WHERE keyspace_name = ?",
            (keyspace.as_str(),),
        )
        .await
        .unwrap()
        .into_rows_result()
        .unwrap();
    let ids: HashMap<String, Uuid> = rows
        .rows::<(String, Uuid)>()
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let expected: HashMap<String, Uuid> = ["messages", "changes", "client_ids"]
        .into_iter()
        .map(|t| (t.to_owned(), table_id(&keyspace, t)))
        .collect();
    assert_eq!(ids, expected);

    // The store works on what was created.
    let env = Env::new(10).await;
    let conversation = env.conversation().await;
    let store = CassandraMessages::connect(&nodes(), &keyspace, Arc::new(env.postgres.clone()))
        .await
        .unwrap();
    let message = env.new_message(conversation, natter_domain::UserId::new(), "hello");
    let stored = store.append(message).await.unwrap().into_message();
    assert_eq!(store.message(conversation, 1).await.unwrap(), Some(stored));

    raw.query_unpaged(format!("DROP KEYSPACE {keyspace}"), ())
        .await
        .expect("drop the scratch keyspace");
}
