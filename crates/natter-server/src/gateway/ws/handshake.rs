//! The opening handshake (RFC 6455 section 4.2): which upgrade requests are WebSocket ones, and
//! the 101 answer. A request that is not one gets a typed error and no upgrade: 400, or 426
//! with the version natter speaks when only `Sec-WebSocket-Version` is wrong.

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest, Sha1};

use crate::error::ApiError;

/// The only version of the protocol there is (section 4.1).
const VERSION: &str = "13";
/// Appended to the client's key before hashing (section 4.2.2).
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Checks a request against section 4.2.1; returns the `Sec-WebSocket-Accept` value, or the
/// refusal to answer (boxed: a response is large, and every accepted upgrade carries the room).
pub fn accept(
    method: &Method,
    version: Version,
    headers: &HeaderMap,
) -> Result<String, Box<Response>> {
    let bad = |message: &str| Box::new(ApiError::BadRequest(message.to_owned()).into_response());
    if method != Method::GET {
        return Err(bad("a WebSocket upgrade is a GET"));
    }
    if version < Version::HTTP_11 {
        return Err(bad("a WebSocket upgrade needs HTTP/1.1"));
    }
    if !has_token(headers, header::UPGRADE, "websocket") {
        return Err(bad("expected the header Upgrade: websocket"));
    }
    if !has_token(headers, header::CONNECTION, "upgrade") {
        return Err(bad("expected an upgrade token in the Connection header"));
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(VERSION.as_bytes())
    {
        let mut response = bad("unsupported WebSocket version; this server speaks 13");
        *response.status_mut() = StatusCode::UPGRADE_REQUIRED;
        response.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static(VERSION),
        );
        return Err(response);
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .map(|key| key.as_bytes().trim_ascii())
        .filter(|key| STANDARD.decode(key).is_ok_and(|nonce| nonce.len() == 16))
        .ok_or_else(|| bad("Sec-WebSocket-Key must be 16 bytes in base64"))?;
    Ok(accept_key(key))
}

/// The 101 answer that completes the handshake.
pub fn switching(accept: &str) -> Response {
    let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    if let Ok(value) = HeaderValue::from_str(accept) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, value);
    }
    response
}

fn accept_key(key: &[u8]) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(GUID);
    STANDARD.encode(sha1.finalize())
}

/// Whether a comma-separated header has `token` (case-insensitive), in any of its lines.
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    const GOOD: [(&str, &str); 4] = [
        ("upgrade", "websocket"),
        ("connection", "keep-alive, Upgrade"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];

    fn status(headers: &HeaderMap) -> Result<String, u16> {
        accept(&Method::GET, Version::HTTP_11, headers).map_err(|r| r.status().as_u16())
    }

    #[test]
    fn the_example_of_section_1_3() {
        assert_eq!(
            status(&request(&GOOD)).as_deref(),
            Ok("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        );
    }

    #[test]
    fn anything_else_is_refused() {
        let without = |name: &str| {
            let pairs: Vec<_> = GOOD.iter().copied().filter(|(n, _)| *n != name).collect();
            status(&request(&pairs))
        };
        assert_eq!(without("upgrade"), Err(400));
        assert_eq!(without("connection"), Err(400));
        assert_eq!(without("sec-websocket-key"), Err(400));
        assert_eq!(without("sec-websocket-version"), Err(426));
        let with = |name: &'static str, value: &'static str| {
            let mut headers = request(&GOOD);
            headers.insert(name, HeaderValue::from_static(value));
            status(&headers)
        };
        assert_eq!(with("sec-websocket-version", "8"), Err(426));
        assert_eq!(with("sec-websocket-key", "c2hvcnQ="), Err(400));
        assert_eq!(with("upgrade", "h2c"), Err(400));
        let version = accept(&Method::GET, Version::HTTP_11, &{
            let mut h = request(&GOOD);
            h.insert("sec-websocket-version", HeaderValue::from_static("8"));
            h
        })
        .unwrap_err();
        assert_eq!(version.headers()["sec-websocket-version"], "13");
        assert!(accept(&Method::POST, Version::HTTP_11, &request(&GOOD)).is_err());
        assert!(accept(&Method::GET, Version::HTTP_10, &request(&GOOD)).is_err());
    }
}
