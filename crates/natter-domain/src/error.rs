//! Errors of the domain and of the ports. Transport crates map [`DomainError`] to HTTP statuses
//! and WebSocket error frames; the domain never names a status code.

use thiserror::Error;

/// What went wrong inside a storage adapter. Adapters translate driver errors into these.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// A uniqueness rule was violated (for example a username already taken). The text reaches
    /// clients: adapters write it themselves, never copy a driver's message into it.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The addressed row does not exist.
    #[error("not found")]
    NotFound,
    /// The backend cannot be reached or is overloaded; the caller may retry later. The text is
    /// logged only: clients see a generic `unavailable`.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A bug or corrupted data; logged, never shown to clients.
    #[error("storage failure: {0}")]
    Internal(String),
}

/// Error of the event bus port.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BusError {
    #[error("event bus unavailable: {0}")]
    Unavailable(String),
}

/// Every error a domain operation can return. Each variant has a stable wire code
/// ([`DomainError::code`]).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DomainError {
    /// A field failed validation.
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// A new password is too easy to guess (common, short, a pattern, the username...).
    #[error("{0}")]
    WeakPassword(String),
    /// Missing, expired or revoked credentials.
    #[error("authentication required")]
    Unauthenticated,
    /// Wrong username or password (one message for both, so usernames cannot be probed).
    #[error("invalid username or password")]
    BadCredentials,
    /// The caller may see the resource but not do this to it.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The resource does not exist *or the caller may not know it exists*.
    #[error("not found")]
    NotFound,
    /// The request clashes with current state (username taken, already a member...).
    #[error("{0}")]
    Conflict(String),
    /// Too many requests; retry after the given delay.
    #[error("rate limited")]
    RateLimited { retry_after_ms: u64 },
    /// A backend is down; nothing was changed or acknowledged.
    #[error("service unavailable")]
    Unavailable,
    /// A bug; details are logged, not returned.
    #[error("internal error")]
    Internal,
}

impl DomainError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }

    /// The stable machine-readable code clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "invalid",
            Self::WeakPassword(_) => "weak_password",
            Self::Unauthenticated => "unauthenticated",
            Self::BadCredentials => "bad_credentials",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound => "not_found",
            Self::Conflict(_) => "conflict",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }
}

impl From<StoreError> for DomainError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict(what) => Self::Conflict(what),
            StoreError::NotFound => Self::NotFound,
            StoreError::Unavailable(why) => {
                tracing::warn!(%why, "storage unavailable");
                Self::Unavailable
            }
            StoreError::Internal(why) => {
                tracing::error!(%why, "storage failure");
                Self::Internal
            }
        }
    }
}

impl From<BusError> for DomainError {
    fn from(err: BusError) -> Self {
        tracing::warn!(%err, "event bus unavailable");
        Self::Unavailable
    }
}
