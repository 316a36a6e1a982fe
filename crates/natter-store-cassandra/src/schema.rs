//! The keyspace and its three tables, created with `IF NOT EXISTS` so `migrate` is idempotent.
//! Nodes may run it concurrently at start-up: Cassandra 5 does not serialise schema changes,
//! and the same `CREATE TABLE` sent to two coordinators at once would give the table two
//! random ids (the nodes then disagree on the schema for good), so every table is created
//! `WITH ID` a UUID derived from its keyspace and name ([`table_id`]): concurrent creations
//! create the very same table. (The flip side: a dropped table must not be re-created under
//! the same keyspace and name while the old one's commit log may still replay; use a new
//! keyspace instead.)
//!
//! DDL is the only CQL sent unprepared (it binds no values); the keyspace name is interpolated
//! into it and into every prepared statement, so it must be a plain identifier (checked here).
//!
//! - `messages`: one row per message, partitioned by `(conversation_id, bucket)` with
//!   `bucket = seq / bucket_size`, so a partition holds at most `bucket_size` rows whatever the
//!   conversation's age. Clustered newest first: the common read is "the latest page".
//!   Besides the current version (`mod_seq`, `text`, ...) a row keeps the version it replaced
//!   (`prev_*`), which readers show while the current one is not committed (see `visibility`).
//! - `changes`: the change index, `(conversation_id, mod_bucket)` partitions of
//!   `mod_seq -> seq`, so `changes_since` is a range scan.
//! - `client_ids`: idempotency keys, `(conversation_id, sender_id, client_msg_id) -> seq`.
//!
//! No column is ever written null (see `rows`): a null cell is a tombstone in Cassandra.

use std::time::Duration;

use scylla::client::session::Session;
use scylla::statement::Statement;
use uuid::Uuid;

use crate::config::Replication;
use crate::errors;
use natter_domain::StoreError;
use natter_domain::ports::StoreResult;

/// Limit of one DDL statement, schema agreement included.
const DDL_TIMEOUT: Duration = Duration::from_secs(60);

/// Whether `name` can be used unquoted in CQL (keyspace and datacenter names).
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 48
}

pub(crate) fn check_keyspace(keyspace: &str) -> StoreResult<()> {
    if is_identifier(keyspace) && keyspace == keyspace.to_ascii_lowercase() {
        Ok(())
    } else {
        Err(StoreError::Internal(format!(
            "keyspace name must be a lower-case identifier of at most 48 characters: {keyspace:?}"
        )))
    }
}

/// The columns of one message version; stored twice, as is and prefixed with `prev_`.
const VERSION_COLUMNS: [(&str, &str); 7] = [
    ("mod_seq", "bigint"),
    ("text", "text"),
    ("mentions", "frozen<list<uuid>>"),
    ("edited_at_ms", "bigint"),
    ("deleted", "boolean"),
    ("reactions", "frozen<list<frozen<tuple<text, uuid>>>>"),
    ("attachments", "text"),
];

/// Every column of `messages` with its CQL type, key first. The DDL, the insert (which binds
/// all of them) and the no-null test are all built from this one list.
pub(crate) fn message_columns() -> Vec<(String, &'static str)> {
    let mut columns: Vec<(String, &'static str)> = [
        ("conversation_id", "uuid"),
        ("bucket", "bigint"),
        ("seq", "bigint"),
        ("id", "bigint"),
        ("sender_id", "uuid"),
        ("client_msg_id", "text"),
        ("reply_to_seq", "bigint"),
        ("created_at_ms", "bigint"),
    ]
    .into_iter()
    .map(|(name, typ)| (name.to_owned(), typ))
    .collect();
    for prefix in ["", "prev_"] {
        columns.extend(
            VERSION_COLUMNS
                .iter()
                .map(|(name, typ)| (format!("{prefix}{name}"), *typ)),
        );
    }
    columns
}

/// Namespace of the table ids (a fixed random UUID: changing it changes every id).
const TABLE_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6f1e_52a4_0c3b_4d7e_9a58_2b61_c0d4_e913);

/// The id every node gives the table `keyspace.table` when it creates it (name-based UUID,
/// version 5).
pub fn table_id(keyspace: &str, table: &str) -> Uuid {
    Uuid::new_v5(
        &TABLE_ID_NAMESPACE,
        format!("{keyspace}.{table}").as_bytes(),
    )
}

/// Every DDL statement, in order.
pub(crate) fn statements(keyspace: &str, replication: &Replication) -> Vec<String> {
    vec![
        format!(
            "CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {}",
            replication.cql()
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {keyspace}.messages ({}, \
             PRIMARY KEY ((conversation_id, bucket), seq)\
             ) WITH CLUSTERING ORDER BY (seq DESC) AND ID = {}",
            message_columns()
                .iter()
                .map(|(name, typ)| format!("{name} {typ}"))
                .collect::<Vec<_>>()
                .join(", "),
            table_id(keyspace, "messages"),
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {keyspace}.changes (\
             conversation_id uuid, mod_bucket bigint, mod_seq bigint, seq bigint, \
             PRIMARY KEY ((conversation_id, mod_bucket), mod_seq)) WITH ID = {}",
            table_id(keyspace, "changes"),
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {keyspace}.client_ids (\
             conversation_id uuid, sender_id uuid, client_msg_id text, seq bigint, \
             PRIMARY KEY ((conversation_id, sender_id, client_msg_id))) WITH ID = {}",
            table_id(keyspace, "client_ids"),
        ),
    ]
}

pub(crate) async fn migrate(
    session: &Session,
    keyspace: &str,
    replication: &Replication,
) -> StoreResult<()> {
    for ddl in statements(keyspace, replication) {
        // The driver waits for schema agreement after each change, so the next statement (and
        // the preparation of the store's statements) sees it on every node. Schema changes are
        // slow (seconds on a busy node): they get their own, longer timeout.
        let mut statement = Statement::new(ddl);
        statement.set_request_timeout(Some(DDL_TIMEOUT));
        session
            .query_unpaged(statement, ())
            .await
            .map_err(errors::execution)?;
    }
    add_missing_message_columns(session, keyspace).await
}

/// `messages` tables created by an older version lack the columns added since (`CREATE TABLE
/// IF NOT EXISTS` leaves an existing table as it is): add them. Two nodes may do it at once;
/// the loser's `ALTER` fails because the column exists, which is what it wanted.
async fn add_missing_message_columns(session: &Session, keyspace: &str) -> StoreResult<()> {
    for (name, typ) in message_columns() {
        if has_message_column(session, keyspace, &name).await? {
            continue;
        }
        let mut statement =
            Statement::new(format!("ALTER TABLE {keyspace}.messages ADD {name} {typ}"));
        statement.set_request_timeout(Some(DDL_TIMEOUT));
        if let Err(err) = session.query_unpaged(statement, ()).await
            && !has_message_column(session, keyspace, &name).await?
        {
            return Err(errors::execution(err));
        }
    }
    Ok(())
}

async fn has_message_column(session: &Session, keyspace: &str, column: &str) -> StoreResult<bool> {
    let rows = session
        .query_unpaged(
            "SELECT column_name FROM system_schema.columns \
             WHERE keyspace_name = ? AND table_name = 'messages' AND column_name = ?",
            (keyspace, column),
        )
        .await
        .map_err(errors::execution)?
        .into_rows_result()
        .map_err(|err| StoreError::Internal(format!("reading the schema: {err}")))?;
    Ok(rows.rows_num() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyspace_names() {
        assert!(check_keyspace("natter").is_ok());
        assert!(check_keyspace("natter_test_2").is_ok());
        for bad in [
            "",
            "1natter",
            "Natter",
            "nat-ter",
            "nat;ter",
            &"n".repeat(49),
        ] {
            assert!(check_keyspace(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_table_is_created_if_missing() {
        let ddl = statements("ks", &Replication::Simple { factor: 1 });
        assert_eq!(ddl.len(), 4);
        assert!(ddl.iter().all(|s| s.contains("IF NOT EXISTS")));
        assert!(ddl[1].contains("prev_reactions frozen<list<frozen<tuple<text, uuid>>>>"));
    }

    const PINNED_NATTER_MESSAGES_ID: &str = "7b239b59-0ec5-5bd7-a20d-561e63a521b6";

    #[test]
    fn table_ids_depend_only_on_keyspace_and_name() {
        let ddl = statements("ks", &Replication::Simple { factor: 1 });
        for (statement, table) in ddl[1..].iter().zip(["messages", "changes", "client_ids"]) {
            assert!(statement.ends_with(&format!("ID = {}", table_id("ks", table))));
        }
        assert_eq!(table_id("ks", "messages"), table_id("ks", "messages"));
        assert_ne!(table_id("ks", "messages"), table_id("ks2", "messages"));
        assert_ne!(table_id("ks", "messages"), table_id("ks", "changes"));
        // Pinned: a change here would give existing deployments' tables new ids.
        assert_eq!(
            table_id("natter", "messages").to_string(),
            PINNED_NATTER_MESSAGES_ID
        );
    }
}
