//! What NGINX answers by itself in front of the cluster (run with `NATTER_E2E_CLUSTER=1 ... --
//! --include-ignored`, as `scripts/test` does): the same `ErrorBody` JSON natter documents, with
//! `Retry-After` where a retry helps, never NGINX's HTML error pages.

use natter_protocol::ErrorBody;

use crate::server::TestServer;

const NEEDS_CLUSTER: &str = "needs the cluster: NATTER_E2E_CLUSTER=1 (scripts/test runs it)";

fn cluster() -> TestServer {
    assert!(crate::cluster::enabled(), "{NEEDS_CLUSTER}");
    TestServer::spawn()
}

/// Status, the JSON error body, and the `Retry-After` header (if any) of an answer.
async fn error_answer(response: reqwest::Response) -> (u16, ErrorBody, Option<String>) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/json", "status {status}");
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = response.text().await.expect("body");
    let body: ErrorBody = serde_json::from_str(&text)
        .unwrap_or_else(|err| panic!("not an ErrorBody ({err}): {text}"));
    (status, body, retry_after)
}

#[tokio::test]
#[ignore = "needs the cluster: NATTER_E2E_CLUSTER=1 (scripts/test runs it)"]
async fn a_request_no_node_can_answer_gets_a_json_unavailable_error() {
    let mut server = cluster();
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/auth/login", server.base_url);
    let login = serde_json::json!({"username": "nobody_here", "password": "not a password"});
    // Through NGINX while the nodes are up: natter's own answer passes through untouched.
    let (status, body, _) = error_answer(http.post(&url).json(&login).send().await.unwrap()).await;
    assert_eq!((status, body.code.as_str()), (401, "bad_credentials"));

    server.kill();
    for path in ["/api/v1/auth/login", "/api/v1/ws"] {
        let url = format!("{}{path}", server.base_url);
        let response = http
            .post(&url)
            .json(&login)
            .send()
            .await
            .expect("nginx answers");
        let (status, body, retry_after) = error_answer(response).await;
        assert_eq!(status, 502, "{path}");
        assert_eq!(body.code, "unavailable", "{path}");
        assert_eq!(retry_after.as_deref(), Some("1"), "{path}");
    }
}

#[tokio::test]
#[ignore = "needs the cluster: NATTER_E2E_CLUSTER=1 (scripts/test runs it)"]
async fn a_body_over_the_balancers_limit_gets_a_json_413() {
    let server = cluster();
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/login", server.base_url))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(vec![b' '; 2 << 20])
        .send()
        .await
        .expect("nginx answers");
    let (status, body, _) = error_answer(response).await;
    assert_eq!((status, body.code.as_str()), (413, "payload_too_large"));
}
