//! No null cell is ever written: every column of every row of the three tables has a value,
//! for a message with nothing optional set, after a change, and after a delete.

use natter_domain::UserId;
use natter_domain::model::MessageChange;
use natter_domain::ports::MessageStore;
use scylla::value::Row;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_cell_is_null() {
    let env = Env::new(10).await;
    let alice = UserId::new();
    let conversation = env.conversation().await;
    // No reply, no mentions, never edited, no reactions, no previous version.
    let bare = env.send(conversation, alice, "bare").await;
    env.send(conversation, alice, "to delete").await;
    env.messages
        .change(conversation, 2, MessageChange::Delete, T0)
        .await
        .unwrap();
    assert_eq!(bare.reply_to_seq, None);

    let raw = raw_session().await;
    let tables = [
        ("messages", "bucket = 0"),
        ("changes", "mod_bucket = 0"),
        (
            "client_ids",
            "sender_id = ? AND client_msg_id IN ('c-0', 'c-1')",
        ),
    ];
    for (table, key) in tables {
        let cql = format!("SELECT * FROM {KEYSPACE}.{table} WHERE conversation_id = ? AND {key}");
        let result = if table == "client_ids" {
            raw.query_unpaged(cql, (conversation.0, alice.0)).await
        } else {
            raw.query_unpaged(cql, (conversation.0,)).await
        };
        let rows = result.unwrap().into_rows_result().unwrap();
        let names: Vec<String> = rows
            .column_specs()
            .iter()
            .map(|c| c.name().to_owned())
            .collect();
        let rows: Vec<Row> = rows.rows::<Row>().unwrap().map(Result::unwrap).collect();
        let expected = if table == "changes" { 3 } else { 2 };
        assert_eq!(rows.len(), expected, "{table}");
        for row in rows {
            for (name, value) in names.iter().zip(&row.columns) {
                assert!(value.is_some(), "{table}.{name} is null: {row:?}");
            }
        }
    }
}
