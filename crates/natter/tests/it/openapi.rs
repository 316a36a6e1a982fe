//! The OpenAPI document matches docs/rest-routes.md (parsed here, so neither can drift from the
//! other), and the operational endpoints answer: /healthz, /readyz, /metrics.

use std::collections::BTreeSet;
use std::time::Duration;

use natter_sdk::{Method, RawBody};
use serde_json::Value;

use crate::server::TestServer;
use crate::support::user;

/// `(METHOD, /path)` rows of the route table in docs/rest-routes.md, query strings dropped.
fn documented_routes() -> BTreeSet<(String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/rest-routes.md");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut routes = BTreeSet::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // "| GET | /path | body | answer |" splits into ["", "GET", "/path", ...].
        if cells.len() < 4 || !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&cells[1]) {
            continue;
        }
        let route = cells[2].split('?').next().unwrap().to_owned();
        assert!(route.starts_with('/'), "odd path cell {line:?}");
        assert!(
            routes.insert((cells[1].to_owned(), route)),
            "documented twice: {line:?}"
        );
    }
    routes
}

async fn get(server: &TestServer, path: &str) -> natter_sdk::RawResponse {
    let response = server
        .client()
        .raw_request(Method::GET, path, RawBody::Empty, None)
        .await
        .expect("request");
    assert!(response.status < 500, "{path}: {}", response.status);
    response
}

fn content_type(response: &natter_sdk::RawResponse) -> String {
    response
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_every_documented_route() {
    let server = TestServer::spawn();
    let response = get(&server, "/api/v1/openapi.json").await;
    assert_eq!(response.status, 200);
    assert!(content_type(&response).starts_with("application/json"));
    let spec: Value = response.json().expect("JSON");
    let version = spec["openapi"].as_str().expect("openapi version");
    assert!(version.starts_with("3."), "{version}");
    assert!(spec["info"]["title"].is_string());

    let documented = documented_routes();
    assert!(documented.len() >= 30, "the table parsed: {documented:?}");
    let paths = spec["paths"].as_object().expect("paths");
    // The spec's paths are relative to /api/v1 (as in the doc), or carry the prefix.
    let mut specified = BTreeSet::new();
    for (path, item) in paths {
        let path = path.strip_prefix("/api/v1").unwrap_or(path).to_owned();
        for method in ["get", "post", "put", "patch", "delete"] {
            if let Some(operation) = item.get(method) {
                assert!(
                    operation["responses"]
                        .as_object()
                        .is_some_and(|r| !r.is_empty()),
                    "{method} {path} has responses"
                );
                specified.insert((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    let undocumented: Vec<_> = specified.difference(&documented).collect();
    let unspecified: Vec<_> = documented.difference(&specified).collect();
    assert!(
        unspecified.is_empty(),
        "documented but missing from openapi.json: {unspecified:?}"
    );
    assert!(
        undocumented.is_empty(),
        "in openapi.json but not in docs/rest-routes.md: {undocumented:?}"
    );

    // The bodies the doc names are schemas of the document.
    let schemas = spec["components"]["schemas"].as_object().expect("schemas");
    for name in [
        "RegisterRequest",
        "AuthTokens",
        "SendMessageRequest",
        "MessageView",
        "ErrorBody",
        "SyncView",
    ] {
        assert!(schemas.contains_key(name), "schema {name}");
    }
    assert!(
        spec["components"]["securitySchemes"]["bearer"].is_object(),
        "bearer auth is described"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics() {
    let server = TestServer::spawn();
    let health = get(&server, "/healthz").await;
    assert_eq!(health.status, 200);
    server.client().health().await.expect("SDK health");
    let ready = get(&server, "/readyz").await;
    assert_eq!(
        ready.status,
        200,
        "{}",
        String::from_utf8_lossy(&ready.body)
    );

    // Some REST traffic, including a message and an error, and a WebSocket connection.
    let (alice, _) = user(&server, "alice").await;
    let conversation = alice
        .create_group("g", None, &[])
        .await
        .unwrap()
        .conversation
        .id;
    alice.send_text(conversation, "counted").await.unwrap();
    assert!(alice.conversation(uuid::Uuid::now_v7()).await.is_err());
    let session = alice.connect().await.expect("connect");
    session.ping().await.expect("ping");

    // Metrics are per node (Prometheus scrapes each); a cluster's traffic is spread over them.
    // They are served on a listener of their own, never on the public one.
    let mut text = String::new();
    for node in 0..server.node_count() {
        let public = server
            .node_client(node)
            .raw_request(Method::GET, "/metrics", RawBody::Empty, None)
            .await
            .expect("public /metrics");
        assert!(
            !String::from_utf8_lossy(&public.body).contains("natter_http_requests_total"),
            "metrics leak on the public listener"
        );
        let metrics_url = server.metrics_url(node).expect("metrics listener");
        let metrics = natter_sdk::Client::new(metrics_url.trim_end_matches("/metrics"))
            .expect("metrics client")
            .raw_request(Method::GET, "/metrics", RawBody::Empty, None)
            .await
            .expect("metrics");
        assert_eq!(metrics.status, 200);
        assert!(
            content_type(&metrics).starts_with("text/plain"),
            "{}",
            content_type(&metrics)
        );
        text.push_str(&String::from_utf8(metrics.body.clone()).expect("UTF-8"));
    }
    // Prometheus text format: comments and `name{labels} value` samples.
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let value = line.rsplit(' ').next().unwrap();
        assert!(
            value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
            "bad sample line {line:?}"
        );
    }
    for family in [
        "natter_ws_connections",
        "natter_http_requests_total",
        "natter_messages_sent_total",
    ] {
        assert!(text.contains(family), "{family} missing from:\n{text}");
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("natter_http_requests_total") && l.contains("status=\"404\"")),
        "errors are counted by status:\n{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("natter_http_requests_total")
                && l.contains("/api/v1/conversations/{id}/messages")),
        "requests are labelled by route template:\n{text}"
    );
    let connections = text
        .lines()
        .find(|l| l.starts_with("natter_ws_connections"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .expect("natter_ws_connections sample");
    assert!(connections >= 1.0, "{connections}");
    tokio::time::timeout(Duration::from_secs(10), session.close())
        .await
        .expect("close in time");
}
