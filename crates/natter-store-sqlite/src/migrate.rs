//! Schema migrations: the files of `migrations/`, compiled in, applied in order at open, each in
//! its own transaction.
//!
//! The bookkeeping table is the one sqlx's migrator kept (`_sqlx_migrations`, same columns, the
//! same SHA-384 checksum of each file), because the store used sqlx before it moved onto its own
//! threads: a database created by an older natter opens without re-running anything, and an
//! applied migration whose file changed since is refused rather than silently skipped.
//!
//! Migrations run with foreign keys off (SQLite's way to rebuild a table that others refer to:
//! the switch is ignored inside a transaction, so it is set around them) and each is checked
//! with `PRAGMA foreign_key_check` before it commits.

use natter_domain::StoreError;
use natter_domain::ports::StoreResult;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use sha2::{Digest, Sha384};

use crate::errors::sql;

struct Migration {
    version: i64,
    description: &'static str,
    sql: &'static str,
    /// What the SQL cannot do, run after it in the same transaction (migrations 11 and 12 index
    /// the existing messages and display names with Rust's folding).
    then: Option<fn(&Connection) -> StoreResult<()>>,
}

macro_rules! migrations {
    ($(($version:literal, $description:literal, $file:literal $(, $then:expr)?)),* $(,)?) => {
        &[$(Migration {
            version: $version,
            description: $description,
            sql: include_str!(concat!("../migrations/", $file)),
            then: migrations!(@then $($then)?),
        }),*]
    };
    (@then) => { None };
    (@then $then:expr) => { Some($then) };
}

/// Every migration, in the order they apply. A new file needs its line here.
const MIGRATIONS: &[Migration] = migrations![
    (1, "init", "0001_init.sql"),
    (2, "member replied", "0002_member_replied.sql"),
    (3, "files", "0003_files.sql"),
    (4, "attachments", "0004_attachments.sql"),
    (5, "object pins", "0005_object_pins.sql"),
    (6, "push devices", "0006_push_devices.sql"),
    (7, "push queue", "0007_push_queue.sql"),
    (8, "push claims", "0008_push_claims.sql"),
    (9, "push changes", "0009_push_changes.sql"),
    (
        10,
        "messages in commit order",
        "0010_messages_in_commit_order.sql"
    ),
    (
        11,
        "message search",
        "0011_message_search.sql",
        crate::search::index_existing
    ),
    (
        12,
        "user words",
        "0012_user_words.sql",
        crate::accounts::index_existing_users
    ),
    (13, "user avatars", "0013_user_avatars.sql"),
    (
        14,
        "push update revisions",
        "0014_push_update_revisions.sql"
    ),
    (15, "search owed", "0015_search_owed.sql"),
];

/// Bring the schema up to date.
pub(crate) fn run(conn: &mut Connection) -> StoreResult<()> {
    conn.pragma_update(None, "foreign_keys", false)
        .map_err(sql)?;
    let migrated = apply(conn, MIGRATIONS);
    conn.pragma_update(None, "foreign_keys", true)
        .map_err(sql)?;
    migrated
}

fn apply(conn: &mut Connection, migrations: &[Migration]) -> StoreResult<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
             version BIGINT PRIMARY KEY,
             description TEXT NOT NULL,
             installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
             success BOOLEAN NOT NULL,
             checksum BLOB NOT NULL,
             execution_time BIGINT NOT NULL
         );",
    )
    .map_err(sql)?;
    for migration in migrations {
        // Taken before reading what is applied, so two processes opening one new file at once
        // cannot both apply a migration.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        let checksum = Sha384::digest(migration.sql.as_bytes()).to_vec();
        let applied: Option<(Vec<u8>, bool)> = tx
            .query_row(
                "SELECT checksum, success FROM _sqlx_migrations WHERE version = ?",
                [migration.version],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(sql)?;
        match applied {
            Some((stored, true)) if stored == checksum => continue,
            Some((_, true)) => {
                return Err(StoreError::Internal(format!(
                    "migration {} was applied but its file has changed since",
                    migration.version
                )));
            }
            Some((_, false)) => {
                return Err(StoreError::Internal(format!(
                    "migration {} failed part-way earlier; the database needs repair",
                    migration.version
                )));
            }
            None => {}
        }
        let started = std::time::Instant::now();
        tx.execute_batch(migration.sql).map_err(sql)?;
        if let Some(then) = migration.then {
            then(&tx)?;
        }
        let broken: Option<String> = tx
            .query_row("PRAGMA foreign_key_check", [], |row| row.get(0))
            .optional()
            .map_err(sql)?;
        if let Some(table) = broken {
            return Err(StoreError::Internal(format!(
                "migration {} leaves rows of {table} without their parent",
                migration.version
            )));
        }
        tx.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (?, ?, 1, ?, ?)",
            params![
                migration.version,
                migration.description,
                checksum,
                started.elapsed().as_nanos() as i64
            ],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_file_is_listed_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        assert_eq!(files.len(), MIGRATIONS.len(), "{files:?}");
        for (file, migration) in files.iter().zip(MIGRATIONS) {
            let version: i64 = file[..4].parse().unwrap();
            assert_eq!(version, migration.version, "{file}");
            let on_disk = std::fs::read_to_string(format!("{dir}/{file}")).unwrap();
            assert_eq!(on_disk, migration.sql, "{file}");
        }
    }

    #[test]
    fn a_second_run_applies_nothing_and_a_changed_file_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        run(&mut conn).unwrap();
        run(&mut conn).unwrap();
        let count: i64 = conn
            .query_row("SELECT COUNT(*) FROM _sqlx_migrations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, MIGRATIONS.len() as i64);
        conn.execute(
            "UPDATE _sqlx_migrations SET checksum = x'00' WHERE version = 1",
            [],
        )
        .unwrap();
        assert!(matches!(run(&mut conn), Err(StoreError::Internal(_))));
    }

    /// Migration 12 indexes the display names of the users already there.
    #[tokio::test]
    async fn users_of_schema_11_are_found_by_display_name() {
        use natter_domain::names::UserQuery;
        use natter_domain::ports::AccountStore;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("natter.db");
        {
            let mut conn = Connection::open(&path).unwrap();
            apply(&mut conn, &MIGRATIONS[..11]).unwrap();
            conn.execute_batch(
                "INSERT INTO users (id, username, display_name, password_hash, created_at_ms) VALUES
                   (x'01010101010101010101010101010101', 'eloise', 'Éloïse Martin', 'x', 1),
                   (x'02020202020202020202020202020202', 'bob', 'Robert Martinez', 'x', 1),
                   (x'03030303030303030303030303030303', 'party', '🎉', 'x', 1);",
            )
            .unwrap();
        }
        let store = crate::SqliteStore::open(&path).await.unwrap();
        let find = |text: &str| {
            let store = store.clone();
            let query = UserQuery::parse(text).unwrap();
            async move {
                store
                    .search_users(&query, 10)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|u| u.username.into_inner())
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(find("MART").await, ["bob", "eloise"]);
        assert_eq!(find("élo mar").await, ["eloise"]);
        assert_eq!(find("pa").await, ["party"], "by username still");
        store.close().await;
    }

    /// A database of schema 9 (messages keyed by (conversation, seq), one edited and one
    /// reacted to since they were created) opens, and its messages read back the same: history,
    /// changes since a point, a retried send, and the next append continuing the counters.
    #[tokio::test]
    async fn messages_of_the_old_schema_survive_the_move_to_commit_order() {
        use natter_domain::model::{AppendOutcome, HistoryQuery, NewMessage};
        use natter_domain::ports::MessageStore;
        use natter_domain::values::{ClientMsgId, MessageText};
        use natter_domain::{ConversationId, MessageId, UserId};
        use uuid::Uuid;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("natter.db");
        let alice = UserId(Uuid::from_bytes([1; 16]));
        let room = ConversationId(Uuid::from_bytes([2; 16]));
        {
            let mut conn = Connection::open(&path).unwrap();
            apply(&mut conn, &MIGRATIONS[..9]).unwrap();
            conn.execute_batch(
                "UPDATE meta SET change_seq = 10;
                 INSERT INTO users (id, username, display_name, password_hash, created_at_ms)
                   VALUES (x'01010101010101010101010101010101', 'alice', 'Alice', 'x', 1);
                 INSERT INTO conversations (id, kind, name, created_by, created_at_ms, last_seq,
                   last_mod, last_activity_ms, changed_at)
                   VALUES (x'02020202020202020202020202020202', 'group', 'room',
                   x'01010101010101010101010101010101', 1, 3, 5, 30, 10);
                 INSERT INTO members (conversation_id, user_id, role, joined_at_ms, join_order, changed_at)
                   VALUES (x'02020202020202020202020202020202', x'01010101010101010101010101010101',
                   'owner', 1, 1, 1);
                 INSERT INTO messages (conversation_id, seq, id, mod_seq, sender_id, client_msg_id,
                   text, created_at_ms, edited_at_ms) VALUES
                   (x'02020202020202020202020202020202', 1, 101, 1, x'01010101010101010101010101010101', 'c-1', 'one', 10, NULL),
                   (x'02020202020202020202020202020202', 2, 102, 4, x'01010101010101010101010101010101', 'c-2', 'two', 20, NULL),
                   (x'02020202020202020202020202020202', 3, 103, 5, x'01010101010101010101010101010101', 'c-3', 'three, edited', 30, 40);
                 INSERT INTO reactions (conversation_id, seq, emoji, user_id, position)
                   VALUES (x'02020202020202020202020202020202', 2, '👍', x'01010101010101010101010101010101', 1);
                 INSERT INTO mentions (conversation_id, seq, user_id, position)
                   VALUES (x'02020202020202020202020202020202', 3, x'01010101010101010101010101010101', 1);",
            )
            .unwrap();
        }
        let store = crate::SqliteStore::open(&path).await.unwrap();
        let seqs_and_mods = |messages: Vec<natter_domain::model::Message>| {
            messages
                .iter()
                .map(|m| (m.seq, m.mod_seq))
                .collect::<Vec<_>>()
        };
        let history = store
            .history(room, HistoryQuery::Latest { limit: 10 })
            .await
            .unwrap();
        assert_eq!(
            history.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
            ["one", "two", "three, edited"]
        );
        assert_eq!(history[1].reactions.len(), 1);
        assert_eq!(history[2].mentions, [alice]);
        assert_eq!(history[2].edited_at_ms, Some(40));
        // Migration 11 indexed the messages already there.
        let found = natter_domain::ports::MessageSearch::search_messages(
            &store,
            alice,
            &natter_domain::search::MessageQuery {
                text: natter_domain::search::SearchText::parse("EDITED").unwrap(),
                conversation: None,
                from: None,
                before_ms: None,
                after_ms: None,
                has_attachment: false,
                order: Default::default(),
                cursor: None,
                limit: 10,
            },
        )
        .await
        .unwrap();
        assert_eq!(
            found.hits.iter().map(|h| h.seq).collect::<Vec<_>>(),
            [3],
            "searchable after the migration"
        );
        assert_eq!(
            seqs_and_mods(store.changes_since(room, 0, 10).await.unwrap()),
            [(1, 1), (2, 4), (3, 5)]
        );
        assert_eq!(
            seqs_and_mods(store.changes_since(room, 3, 10).await.unwrap()),
            [(2, 4), (3, 5)]
        );
        let send = |client_msg_id: &str, id: i64| NewMessage {
            id: MessageId(id),
            conversation_id: room,
            sender_id: alice,
            client_msg_id: ClientMsgId::parse(client_msg_id).unwrap(),
            text: MessageText::parse("four").unwrap(),
            reply_to_seq: None,
            mentions: Vec::new(),
            created_at_ms: 50,
            attachments: Vec::new(),
        };
        match store.append(send("c-1", 104)).await.unwrap() {
            AppendOutcome::Duplicate(original) => {
                assert_eq!((original.seq, original.text.as_str()), (1, "one"))
            }
            other => panic!("a retry made {other:?}"),
        }
        let AppendOutcome::Created(fourth) = store.append(send("c-4", 105)).await.unwrap() else {
            panic!("not created")
        };
        assert_eq!((fourth.seq, fourth.mod_seq), (4, 6));
        assert_eq!(
            seqs_and_mods(store.changes_since(room, 4, 10).await.unwrap()),
            [(3, 5), (4, 6)]
        );
        assert_eq!(
            seqs_and_mods(store.changes_since(room, 4, 1).await.unwrap()),
            [(3, 5)]
        );
        store.close().await;
    }
}
