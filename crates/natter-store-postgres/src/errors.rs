//! sqlx errors -> [`StoreError`], in one place so every query maps them the same way:
//! uniqueness violations are caller-visible conflicts; an unreachable, restarting or overloaded
//! server, an exhausted pool, and transient concurrency failures (deadlock, serialization, lock
//! timeout) are retryable (`Unavailable`); everything else is a bug or corrupt data (`Internal`).

use natter_domain::StoreError;

/// SQLSTATE classes and codes that mean "try again later" rather than "bug".
/// <https://www.postgresql.org/docs/15/errcodes-appendix.html>
fn is_transient(code: &str) -> bool {
    matches!(
        &code[..code.len().min(2)],
        // connection exception, insufficient resources, operator intervention, system error
        "08" | "53" | "57" | "58"
    ) || matches!(
        code,
        // serialization_failure, deadlock_detected, lock_not_available, idle-in-transaction
        // timeout (the session was ended)
        "40001" | "40P01" | "55P03" | "25P03"
    )
}

/// What a client is told about a uniqueness violation the adapter did not name itself.
pub(crate) const CONFLICT: &str = "already exists";

pub(crate) fn db(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::Database(e) if e.is_unique_violation() => {
            // The driver's text names tables and constraints: logged, never shown to clients.
            tracing::debug!(detail = e.message(), "unique violation");
            StoreError::Conflict(CONFLICT.to_owned())
        }
        sqlx::Error::Database(e) if e.code().is_some_and(|c| is_transient(&c)) => {
            StoreError::Unavailable(err.to_string())
        }
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(err.to_string()),
        _ => StoreError::Internal(err.to_string()),
    }
}

pub(crate) fn migrate_error(err: sqlx::migrate::MigrateError) -> StoreError {
    match err {
        sqlx::migrate::MigrateError::Execute(e) => db(e),
        other => StoreError::Internal(format!("migration: {other}")),
    }
}

/// Data read back that the schema should have made impossible.
pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("corrupt row: {what}"))
}

#[cfg(test)]
mod tests {
    use super::is_transient;

    #[test]
    fn transient_codes() {
        for code in ["08006", "53300", "57P01", "40001", "40P01", "55P03"] {
            assert!(is_transient(code), "{code}");
        }
        for code in ["23505", "23503", "42P01", "22P02", ""] {
            assert!(!is_transient(code), "{code}");
        }
    }
}
