//! Driver errors -> [`StoreError`], in one place so every statement maps them the same way.
//!
//! The rule: what a retry later could fix (no connection, timeouts, unavailable replicas,
//! overload, a node bootstrapping) is `Unavailable`, which the API answers with 503 and no ack;
//! what no retry fixes (a rejected statement, a type mismatch, a row that does not decode) is
//! `Internal`, a bug or corrupt data.

use natter_domain::StoreError;
use scylla::errors::{DbError, ExecutionError, NewSessionError, PrepareError, RequestAttemptError};

pub(crate) fn execution(err: ExecutionError) -> StoreError {
    let retryable = match &err {
        ExecutionError::BadQuery(_) => false,
        ExecutionError::PrepareError(e) => return prepare(e.clone()),
        ExecutionError::LastAttemptError(e) => attempt_is_retryable(e),
        // Timeouts, empty pools, schema agreement and metadata trouble: the cluster is not
        // answering well right now.
        _ => true,
    };
    classify(retryable, err)
}

pub(crate) fn prepare(err: PrepareError) -> StoreError {
    let retryable = match &err {
        PrepareError::AllAttemptsFailed { first_attempt } => attempt_is_retryable(first_attempt),
        _ => true,
    };
    classify(retryable, err)
}

pub(crate) fn new_session(err: NewSessionError) -> StoreError {
    let retryable = !matches!(
        err,
        NewSessionError::EmptyKnownNodesList | NewSessionError::IllegalConfig(_)
    );
    classify(retryable, err)
}

fn attempt_is_retryable(err: &RequestAttemptError) -> bool {
    match err {
        RequestAttemptError::DbError(db, _) => !matches!(
            db,
            DbError::SyntaxError
                | DbError::Invalid
                | DbError::AlreadyExists { .. }
                | DbError::FunctionFailure { .. }
                | DbError::Unauthorized
                | DbError::ConfigError
                | DbError::ProtocolError
                | DbError::AuthenticationError
        ),
        RequestAttemptError::SerializationError(_)
        | RequestAttemptError::CqlRequestSerialization(_) => false,
        _ => true,
    }
}

fn classify(retryable: bool, err: impl std::fmt::Display) -> StoreError {
    if retryable {
        StoreError::Unavailable(format!("cassandra: {err}"))
    } else {
        StoreError::Internal(format!("cassandra: {err}"))
    }
}

/// A result that is not rows, or rows of an unexpected shape: the schema and the code disagree.
pub(crate) fn rows(err: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("cassandra rows: {err}"))
}

/// Data read back that the write path should have made impossible.
pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("corrupt cassandra row: {what}"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use scylla::errors::{BadQuery, WriteType};
    use scylla::statement::Consistency;

    use super::*;

    fn db_error(db: DbError) -> StoreError {
        execution(ExecutionError::LastAttemptError(
            RequestAttemptError::DbError(db, "from the server".into()),
        ))
    }

    fn is_unavailable(err: &StoreError) -> bool {
        matches!(err, StoreError::Unavailable(_))
    }

    #[test]
    fn what_a_retry_could_fix_is_unavailable() {
        let timeouts = [
            execution(ExecutionError::RequestTimeout(Duration::from_secs(5))),
            execution(ExecutionError::EmptyPlan),
            db_error(DbError::WriteTimeout {
                consistency: Consistency::LocalQuorum,
                received: 0,
                required: 1,
                write_type: WriteType::UnloggedBatch,
            }),
            db_error(DbError::ReadTimeout {
                consistency: Consistency::LocalQuorum,
                received: 0,
                required: 1,
                data_present: false,
            }),
            db_error(DbError::Unavailable {
                consistency: Consistency::LocalQuorum,
                required: 2,
                alive: 1,
            }),
            db_error(DbError::Overloaded),
            db_error(DbError::IsBootstrapping),
            new_session(NewSessionError::FailedToResolveAnyHostname(vec![
                "x".into(),
            ])),
        ];
        for err in &timeouts {
            assert!(is_unavailable(err), "{err:?}");
        }
    }

    #[test]
    fn what_no_retry_fixes_is_internal() {
        let bugs = [
            db_error(DbError::Invalid),
            db_error(DbError::SyntaxError),
            db_error(DbError::Unauthorized),
            execution(ExecutionError::BadQuery(BadQuery::PartitionKeyExtraction)),
            new_session(NewSessionError::EmptyKnownNodesList),
        ];
        for err in &bugs {
            assert!(matches!(err, StoreError::Internal(_)), "{err:?}");
        }
    }
}
