//! The web app: `web/dist` (built by Vite from `web/`, committed) embedded into the binary at
//! compile time, so `natter serve` serves it with no extra step and no Node on the machine.
//!
//! Routing: every GET/HEAD that no other route took lands here. A file of the build is served as
//! is (hashed `/assets/*` cached for a year, everything else revalidated); any other non-API
//! path gets `index.html` so the app's client-side routes (`/c/<id>`) survive a reload. Under
//! `/api/` (and for other methods) the JSON 404 of the API stays: an API client never gets HTML.

use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use include_dir::{Dir, File, include_dir};
use natter_domain::DomainError;

use crate::error::ApiError;

static DIST: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../../web/dist");

/// Hashed file names never change content: cache them for a year.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// index.html, sw.js, the manifest: always revalidate, so a new build shows at once.
const REVALIDATE: &str = "no-cache";
/// Everything comes from this origin; the app never needs inline scripts.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                   connect-src 'self'; manifest-src 'self'; worker-src 'self'; base-uri 'none'; form-action 'self'; \
                   frame-ancestors 'none'; object-src 'none'";

/// The router's fallback: the app for GET/HEAD outside `/api/`, the API's JSON 404 otherwise.
pub(crate) async fn fallback(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    let is_api = path == "/api" || path.starts_with("/api/");
    if is_api || (method != Method::GET && method != Method::HEAD) {
        return ApiError::Domain(DomainError::NotFound).into_response();
    }
    let relative = path.trim_start_matches('/');
    if let Some(file) = DIST.get_file(relative).filter(|_| !relative.is_empty()) {
        let cache = if relative.starts_with("assets/") {
            IMMUTABLE
        } else {
            REVALIDATE
        };
        return serve(file, cache);
    }
    if relative.starts_with("assets/") {
        // A stale hashed name: a clear 404 rather than HTML the browser would try to run.
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    match DIST.get_file("index.html") {
        Some(index) => serve(index, REVALIDATE),
        None => (
            StatusCode::NOT_FOUND,
            "the web app was not built into this binary",
        )
            .into_response(),
    }
}

fn serve(file: &'static File<'static>, cache: &'static str) -> Response {
    let path = file.path().to_string_lossy();
    let mut response = file.contents().into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&path)),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if path.ends_with(".html") {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    response
}

/// The few types a Vite build emits; no dependency needed for them.
fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("webmanifest") => "application/manifest+json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(path: &str) -> Response {
        fallback(Method::GET, path.parse().expect("uri")).await
    }

    fn header(response: &Response, name: header::HeaderName) -> &str {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    #[tokio::test]
    async fn the_app_is_served_at_the_root_and_for_client_routes() {
        for path in [
            "/",
            "/c/0192f1c2-7c1a-7d33-9a55-6a3c1d9f0b11",
            "/index.html",
        ] {
            let response = get(path).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert!(
                header(&response, header::CONTENT_TYPE).starts_with("text/html"),
                "{path}"
            );
            assert_eq!(header(&response, header::CACHE_CONTROL), REVALIDATE);
        }
    }

    #[tokio::test]
    async fn hashed_assets_are_cached_for_long_and_missing_ones_are_404() {
        let asset = DIST
            .get_dir("assets")
            .and_then(|dir| {
                dir.files()
                    .find(|f| f.path().extension().is_some_and(|e| e == "js"))
            })
            .expect("the build has a script");
        let response = get(&format!("/{}", asset.path().display())).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, header::CACHE_CONTROL), IMMUTABLE);
        assert!(header(&response, header::CONTENT_TYPE).starts_with("text/javascript"));
        assert_eq!(
            get("/assets/nope-123.js").await.status(),
            StatusCode::NOT_FOUND
        );
    }

    #[tokio::test]
    async fn api_paths_and_other_methods_keep_the_json_404() {
        for response in [
            get("/api/v1/nope").await,
            get("/api").await,
            fallback(Method::POST, "/x".parse().unwrap()).await,
        ] {
            assert_eq!(response.status(), StatusCode::NOT_FOUND);
            assert_eq!(header(&response, header::CONTENT_TYPE), "application/json");
        }
    }
}
