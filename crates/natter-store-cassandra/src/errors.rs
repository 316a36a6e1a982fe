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
