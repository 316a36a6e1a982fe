//! The HTTP clients the senders share, and the parts of an answer every provider reads alike.
//! FCM and Web Push negotiate HTTP/2 through ALPN (and fall back to HTTP/1.1 where a push
//! service has no HTTP/2); APNs speaks only HTTP/2, so its client offers nothing else.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::config::{ConfigError, PushConfig, file_error, read_file};

pub(crate) struct Clients {
    pub any: reqwest::Client,
    pub h2_only: reqwest::Client,
}

impl Clients {
    pub fn new(config: &PushConfig) -> Result<Self, ConfigError> {
        let roots = if config.extra_root_ca_file.is_empty() {
            Vec::new()
        } else {
            let pem = read_file(&config.extra_root_ca_file)?;
            let roots = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|err| file_error(&config.extra_root_ca_file, err))?;
            if roots.is_empty() {
                return Err(file_error(
                    &config.extra_root_ca_file,
                    "no certificate in it",
                ));
            }
            roots
        };
        let timeout = Duration::from_secs(config.request_timeout_s.max(1));
        let build = |h2_only: bool| {
            let builder = reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout)
                .https_only(true)
                // A provider answers; it does not send pushes (and their credentials) elsewhere.
                .redirect(reqwest::redirect::Policy::none())
                .tls_certs_merge(roots.clone())
                .pool_idle_timeout(Duration::from_secs(600));
            let builder = if h2_only {
                builder.http2_prior_knowledge()
            } else {
                builder
            };
            builder
                .build()
                .map_err(|err| ConfigError::Invalid(format!("push HTTP client: {err}")))
        };
        Ok(Self {
            any: build(false)?,
            h2_only: build(true)?,
        })
    }
}

/// `Retry-After` in seconds or as an HTTP date (RFC 9110); absent or unreadable: `None`.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// Seconds since the Unix epoch, as JWTs and `apns-expiration` count them.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("120"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(120)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        let later = SystemTime::now() + Duration::from_secs(3600);
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_str(&httpdate::fmt_http_date(later)).unwrap(),
        );
        let after = retry_after(&headers).unwrap();
        assert!(after > Duration::from_secs(3500) && after <= Duration::from_secs(3600));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }
}
