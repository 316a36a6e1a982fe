//! Schema migrations: the files of `migrations/`, compiled in, applied in order at open, each in
//! its own transaction.
//!
//! The bookkeeping table is the one sqlx's migrator kept (`_sqlx_migrations`, same columns, the
//! same SHA-384 checksum of each file), because the store used sqlx before it moved onto its own
//! threads: a database created by an older natter opens without re-running anything, and an
//! applied migration whose file changed since is refused rather than silently skipped.

use natter_domain::StoreError;
use natter_domain::ports::StoreResult;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use sha2::{Digest, Sha384};

use crate::errors::sql;

struct Migration {
    version: i64,
    description: &'static str,
    sql: &'static str,
}

macro_rules! migrations {
    ($(($version:literal, $description:literal, $file:literal)),* $(,)?) => {
        &[$(Migration {
            version: $version,
            description: $description,
            sql: include_str!(concat!("../migrations/", $file)),
        }),*]
    };
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
];

/// Bring the schema up to date.
pub(crate) fn run(conn: &mut Connection) -> StoreResult<()> {
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
    for migration in MIGRATIONS {
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
}
