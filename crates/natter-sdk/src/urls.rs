//! Building URLs from the user's base URL. Kept apart so the rules (one `/api/v1` prefix, `ws`
//! for `http`, percent-encoded path segments) are written and tested once.

use crate::error::{Error, Result};

/// The REST API's path prefix.
pub(crate) const API_PREFIX: &str = "/api/v1";
/// The WebSocket endpoint, under the API prefix.
pub(crate) const WS_PATH: &str = "/ws";

/// A validated base URL such as `http://127.0.0.1:8080` (no trailing slash; an optional path
/// prefix like `http://host/natter` is kept, for servers behind a reverse proxy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BaseUrl(String);

impl BaseUrl {
    pub(crate) fn parse(base_url: &str) -> Result<Self> {
        let trimmed = base_url.trim().trim_end_matches('/');
        let rest = trimmed
            .strip_prefix("http://")
            .or_else(|| trimmed.strip_prefix("https://"))
            .ok_or_else(|| {
                Error::InvalidUrl(format!("{base_url:?} must start with http:// or https://"))
            })?;
        if rest.is_empty() || rest.starts_with('/') || rest.contains(['?', '#', ' ']) {
            return Err(Error::InvalidUrl(format!(
                "{base_url:?} has no host or has a query"
            )));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The base URL as given (normalised).
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// `path` (starting with `/`) under `/api/v1`.
    pub(crate) fn api(&self, path: &str) -> String {
        format!("{}{API_PREFIX}{path}", self.0)
    }

    /// `path` (starting with `/`) directly under the base URL, for raw requests and `/healthz`.
    pub(crate) fn join(&self, path: &str) -> String {
        if path.starts_with('/') {
            format!("{}{path}", self.0)
        } else {
            format!("{}/{path}", self.0)
        }
    }

    /// The WebSocket URL: `ws://` for `http://`, `wss://` for `https://`.
    pub(crate) fn websocket(&self) -> String {
        let api = self.api(WS_PATH);
        match api.strip_prefix("https://") {
            Some(rest) => format!("wss://{rest}"),
            None => format!("ws://{}", api.strip_prefix("http://").unwrap_or(&api)),
        }
    }
}

/// Percent-encodes one path segment: everything but RFC 3986 "unreserved" characters
/// (`A-Z a-z 0-9 - . _ ~`) becomes `%XX` of its UTF-8 bytes, so an emoji, a `/` or a `?` can
/// travel inside a path segment.
pub fn encode_path_segment(segment: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(segment.len() * 3);
    for &byte in segment.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_and_websocket_urls() {
        let base = BaseUrl::parse("http://127.0.0.1:8080/").unwrap();
        assert_eq!(
            base.api("/users/me"),
            "http://127.0.0.1:8080/api/v1/users/me"
        );
        assert_eq!(base.websocket(), "ws://127.0.0.1:8080/api/v1/ws");
        assert_eq!(base.join("/healthz"), "http://127.0.0.1:8080/healthz");
        assert_eq!(base.join("healthz"), "http://127.0.0.1:8080/healthz");

        let tls = BaseUrl::parse("https://chat.example/natter").unwrap();
        assert_eq!(tls.websocket(), "wss://chat.example/natter/api/v1/ws");
        assert_eq!(tls.api("/sync"), "https://chat.example/natter/api/v1/sync");
    }

    #[test]
    fn bad_base_urls_are_rejected() {
        for bad in [
            "127.0.0.1:8080",
            "ws://host",
            "http://",
            "http:///x",
            "http://h?x=1",
            "",
        ] {
            assert!(
                matches!(BaseUrl::parse(bad), Err(Error::InvalidUrl(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(encode_path_segment("abc-._~09"), "abc-._~09");
        assert_eq!(encode_path_segment("👍"), "%F0%9F%91%8D");
        assert_eq!(encode_path_segment("a/b?c d%"), "a%2Fb%3Fc%20d%25");
        assert_eq!(encode_path_segment("❤️"), "%E2%9D%A4%EF%B8%8F");
    }
}
