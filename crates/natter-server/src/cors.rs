//! CORS for the browser pages of the other origins `server.allowed_origins` names: the desktop
//! app (its pages are `tauri://localhost` on Linux and macOS, `http://tauri.localhost` on
//! Windows) or a web app served from another host. Such a page calls the REST API across
//! origins, so the browser asks first (a preflight `OPTIONS`) and reads an answer only when it
//! names the page's origin. Allowed: exactly the origins the WebSocket check allows besides the
//! server's own (`gateway::origin`), with any method the API has, the headers the API and tus
//! read, and the response headers a tus client must see. No credentials: tokens are
//! `Authorization` headers, never cookies. Without `allowed_origins` no layer is installed, and
//! a page of another origin can send requests but read no answer, as before.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The request headers a page may send: the API's and tus's.
const ALLOW_HEADERS: [&str; 9] = [
    "authorization",
    "content-type",
    "idempotency-key",
    "tus-resumable",
    "upload-length",
    "upload-offset",
    "upload-metadata",
    "upload-defer-length",
    "range",
];

/// The response headers a page may read besides the CORS-safelisted ones: tus's, and those of
/// downloads and rate limits.
const EXPOSE_HEADERS: [&str; 11] = [
    "location",
    "tus-resumable",
    "tus-version",
    "tus-max-size",
    "tus-extension",
    "upload-offset",
    "upload-length",
    "upload-expires",
    "retry-after",
    "etag",
    "content-range",
];

/// The CORS layer for `allowed_origins`, or none when it is empty.
pub fn layer(allowed_origins: &[String]) -> Option<CorsLayer> {
    if allowed_origins.is_empty() {
        return None;
    }
    let allowlist = allowed_origins.to_vec();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::predicate(move |origin: &HeaderValue, _| {
                origin
                    .to_str()
                    .is_ok_and(|origin| crate::gateway::origin::listed(origin, &allowlist))
            }))
            .allow_methods([
                Method::GET,
                Method::HEAD,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
                Method::OPTIONS,
            ])
            .allow_headers(ALLOW_HEADERS.map(HeaderName::from_static))
            .expose_headers(EXPOSE_HEADERS.map(HeaderName::from_static))
            .max_age(Duration::from_secs(600))
            .vary([header::ORIGIN]),
    )
}
