//! Errors of this crate. The port implementations return the domain's errors
//! ([`StoreError::Unavailable`], [`BusError::Unavailable`]) so the services treat Redis like any
//! other backend; [`Error`] is for what the ports do not cover: connecting at start-up and the
//! APIs of their own (idempotency keys).
//!
//! Every command runs under a bounded timeout ([`bounded`]): a Redis that is down or partitioned
//! must turn into a prompt `Unavailable`, never into a request that hangs.

use std::future::Future;
use std::time::Duration;

use natter_domain::{BusError, StoreError};

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// Start-up could not reach the server. The URL is shown without its password.
    #[error("cannot connect to Redis at {url}: {reason}")]
    Connect { url: String, reason: String },
    /// A command failed or timed out; the caller may retry later.
    #[error("Redis unavailable: {0}")]
    Unavailable(String),
}

impl From<redis::RedisError> for Error {
    fn from(err: redis::RedisError) -> Self {
        Self::Unavailable(err.to_string())
    }
}

impl From<Error> for StoreError {
    fn from(err: Error) -> Self {
        StoreError::Unavailable(err.to_string())
    }
}

impl From<Error> for BusError {
    fn from(err: Error) -> Self {
        BusError::Unavailable(err.to_string())
    }
}

/// Run one Redis operation, giving up after `limit`.
pub(crate) async fn bounded<T>(
    limit: Duration,
    operation: impl Future<Output = redis::RedisResult<T>>,
) -> Result<T, Error> {
    match tokio::time::timeout(limit, operation).await {
        Ok(result) => result.map_err(Error::from),
        Err(_) => Err(Error::Unavailable(format!(
            "no answer within {} ms",
            limit.as_millis()
        ))),
    }
}

/// `redis://user:secret@host:6379/0` -> `redis://user:***@host:6379/0`, for messages and logs.
pub(crate) fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let Some(at) = url[scheme_end..].find('@').map(|i| i + scheme_end) else {
        return url.to_owned();
    };
    let userinfo = &url[scheme_end..at];
    match userinfo.find(':') {
        Some(colon) => format!(
            "{}{}:***{}",
            &url[..scheme_end],
            &userinfo[..colon],
            &url[at..]
        ),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(redact("redis://:pw@h:1/0"), "redis://:***@h:1/0");
        assert_eq!(redact("rediss://u:pw@h"), "rediss://u:***@h");
        assert_eq!(redact("redis://u@h"), "redis://u@h");
    }
}
