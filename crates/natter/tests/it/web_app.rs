//! The embedded web app over HTTP: its files are sent precompressed (the `.br`/`.gz` siblings the
//! build writes into `web/dist`) as each request's `Accept-Encoding` allows, and decode to the
//! files themselves.

use std::io::Read;
use std::path::{Path, PathBuf};

use reqwest::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, VARY,
};
use reqwest::{Method, StatusCode};

use crate::server::TestServer;

/// The committed build the binary embeds.
fn dist() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/dist")
}

/// The app's script: the largest `.js` of `web/dist/assets`, as `assets/index-HASH.js`.
fn script() -> String {
    let assets = dist().join("assets");
    let name = std::fs::read_dir(&assets)
        .expect("web/dist/assets")
        .map(|entry| entry.expect("entry"))
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".js"))
        .max_by_key(|entry| entry.metadata().expect("metadata").len())
        .expect("the build has a script")
        .file_name();
    format!("assets/{}", name.to_string_lossy())
}

fn header(headers: &HeaderMap, name: reqwest::header::HeaderName) -> &str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// `method path` with `Accept-Encoding: accept` (none for `None`): status, headers, raw body.
async fn fetch(
    server: &TestServer,
    method: Method,
    path: &str,
    accept: Option<&str>,
) -> (StatusCode, HeaderMap, Vec<u8>) {
    // No compression feature is enabled in reqwest: it neither asks for a coding nor decodes.
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", server.base_url));
    if let Some(accept) = accept {
        request = request.header(ACCEPT_ENCODING, accept);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("body").to_vec();
    (status, headers, body)
}

fn decode(coding: &str, body: &[u8]) -> Vec<u8> {
    let mut decoded = Vec::new();
    match coding {
        "br" => brotli_decompressor::Decompressor::new(body, 4096)
            .read_to_end(&mut decoded)
            .expect("brotli"),
        "gzip" => flate2::read::GzDecoder::new(body)
            .read_to_end(&mut decoded)
            .expect("gzip"),
        "" => return body.to_vec(),
        other => panic!("unexpected Content-Encoding {other}"),
    };
    decoded
}

#[tokio::test]
async fn assets_are_sent_in_the_coding_the_request_accepts() {
    let server = TestServer::spawn();
    let script = script();
    let plain = std::fs::read(dist().join(&script)).expect("the script");
    let path = format!("/{script}");
    for (accept, coding) in [
        (Some("br"), "br"),
        (Some("gzip"), "gzip"),
        (Some("gzip, deflate, br, zstd"), "br"),
        (Some("br;q=0.5, gzip"), "gzip"),
        (Some("gzip;q=0, br;q=0"), ""),
        (Some("identity;q=0, gzip"), "gzip"),
        (None, ""),
    ] {
        let (status, headers, body) = fetch(&server, Method::GET, &path, accept).await;
        assert_eq!(status, StatusCode::OK, "{accept:?}");
        assert_eq!(header(&headers, CONTENT_ENCODING), coding, "{accept:?}");
        assert_eq!(header(&headers, VARY), "accept-encoding", "{accept:?}");
        assert_eq!(
            header(&headers, CONTENT_TYPE),
            "text/javascript; charset=utf-8",
            "{accept:?}"
        );
        assert_eq!(
            header(&headers, CACHE_CONTROL),
            "public, max-age=31536000, immutable",
            "{accept:?}"
        );
        assert_eq!(
            header(&headers, CONTENT_LENGTH),
            body.len().to_string(),
            "{accept:?}"
        );
        if !coding.is_empty() {
            assert!(body.len() < plain.len(), "{accept:?}: compressed");
        }
        assert!(
            decode(coding, &body) == plain,
            "{accept:?}: decodes to the file"
        );
    }

    // HEAD: the same headers, the compressed length, no body.
    let (_, sibling, _) = fetch(&server, Method::GET, &path, Some("br")).await;
    let (status, headers, body) = fetch(&server, Method::HEAD, &path, Some("br")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.is_empty());
    assert_eq!(header(&headers, CONTENT_ENCODING), "br");
    assert_eq!(header(&headers, VARY), "accept-encoding");
    assert_eq!(
        header(&headers, CONTENT_LENGTH),
        header(&sibling, CONTENT_LENGTH)
    );

    // The siblings are no files of their own.
    for suffix in [".br", ".gz"] {
        let (status, _, _) = fetch(&server, Method::GET, &format!("{path}{suffix}"), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{suffix}");
    }
}

#[tokio::test]
async fn client_routes_get_index_html_compressed() {
    let server = TestServer::spawn();
    let plain = std::fs::read(dist().join("index.html")).expect("index.html");
    for path in ["/", "/c/0192f1c2-7c1a-7d33-9a55-6a3c1d9f0b11"] {
        for (accept, coding) in [(Some("br, gzip"), "br"), (Some("gzip"), "gzip"), (None, "")] {
            let (status, headers, body) = fetch(&server, Method::GET, path, accept).await;
            assert_eq!(status, StatusCode::OK, "{path} {accept:?}");
            assert_eq!(
                header(&headers, CONTENT_ENCODING),
                coding,
                "{path} {accept:?}"
            );
            assert_eq!(header(&headers, VARY), "accept-encoding");
            assert_eq!(header(&headers, CONTENT_TYPE), "text/html; charset=utf-8");
            assert_eq!(header(&headers, CACHE_CONTROL), "no-cache");
            assert!(decode(coding, &body) == plain, "{path} {accept:?}");
        }
    }
}
