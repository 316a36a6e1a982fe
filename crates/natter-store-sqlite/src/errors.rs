//! SQLite errors -> [`StoreError`], in one place so every query maps them the same way:
//! uniqueness violations are caller-visible conflicts, lock/IO/pool trouble is retryable
//! (`Unavailable`), everything else is a bug or corrupt data (`Internal`).

use natter_domain::StoreError;

/// SQLite primary result codes that mean "try again later" rather than "bug".
/// <https://www.sqlite.org/rescode.html>
const SQLITE_BUSY: i64 = 5;
const SQLITE_LOCKED: i64 = 6;
const SQLITE_NOMEM: i64 = 7;
const SQLITE_IOERR: i64 = 10;
const SQLITE_FULL: i64 = 13;
const SQLITE_CANTOPEN: i64 = 14;
/// Extended codes of a violated UNIQUE constraint or PRIMARY KEY.
const SQLITE_CONSTRAINT_UNIQUE: i64 = 2067;
const SQLITE_CONSTRAINT_PRIMARYKEY: i64 = 1555;

/// What a client is told about a uniqueness violation the adapter did not name itself.
pub(crate) const CONFLICT: &str = "already exists";

/// A rusqlite error as the domain sees it.
pub(crate) fn sql(err: rusqlite::Error) -> StoreError {
    match &err {
        rusqlite::Error::SqliteFailure(failure, detail) => {
            let extended = i64::from(failure.extended_code);
            if extended == SQLITE_CONSTRAINT_UNIQUE || extended == SQLITE_CONSTRAINT_PRIMARYKEY {
                // The driver's text names tables and constraints: logged, never shown to clients.
                tracing::debug!(detail = detail.as_deref(), "unique violation");
                return StoreError::Conflict(CONFLICT.to_owned());
            }
            match extended & 0xff {
                SQLITE_BUSY | SQLITE_LOCKED | SQLITE_NOMEM | SQLITE_IOERR | SQLITE_FULL
                | SQLITE_CANTOPEN => StoreError::Unavailable(err.to_string()),
                _ => StoreError::Internal(err.to_string()),
            }
        }
        _ => StoreError::Internal(err.to_string()),
    }
}

/// Data read back that the schema should have made impossible.
pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("corrupt row: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unique_violation_from_rusqlite_is_a_conflict_without_the_driver_text() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE secret_users (name TEXT PRIMARY KEY, mail TEXT UNIQUE)")
            .unwrap();
        let insert = |sql: &str| conn.execute(sql, []).map_err(sql_error);
        insert("INSERT INTO secret_users VALUES ('a', 'm')").unwrap();
        for again in [
            "INSERT INTO secret_users VALUES ('a', 'other')",
            "INSERT INTO secret_users VALUES ('b', 'm')",
        ] {
            let err = insert(again).unwrap_err();
            assert_eq!(err, StoreError::Conflict(CONFLICT.to_owned()));
            assert!(!err.to_string().contains("secret_users"), "{err}");
        }
        let broken = insert("INSERT INTO nowhere VALUES (1)").unwrap_err();
        assert!(matches!(broken, StoreError::Internal(_)), "{broken:?}");
    }

    fn sql_error(err: rusqlite::Error) -> StoreError {
        sql(err)
    }
}
