//! `Idempotency-Key` on REST writes: a retried request with the same key happens once and gets
//! the first answer again (in cluster mode the retries land on other nodes, through NGINX); the
//! same key for another request, or from another user, is not confused with it.

use serde_json::{Value, json};

use crate::server::TestServer;
use crate::support::user;

struct Answer {
    status: u16,
    body: Value,
    replayed: bool,
}

async fn create_group(server: &TestServer, token: &str, key: Option<&str>, name: &str) -> Answer {
    let mut request = reqwest::Client::new()
        .post(format!("{}/api/v1/conversations", server.base_url))
        .bearer_auth(token)
        .json(&json!({ "name": name }));
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let replayed = response.headers().contains_key("idempotent-replayed");
    let body = response.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        body,
        replayed,
    }
}

async fn group_names(client: &natter_sdk::Client) -> Vec<String> {
    client
        .conversations(None, Some(100))
        .await
        .expect("list")
        .conversations
        .into_iter()
        .filter_map(|s| s.conversation.name)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_retried_with_the_same_key_happens_once() {
    let server = TestServer::spawn();
    let (alice, _) = user(&server, "alice").await;
    let token = alice.access_token().expect("token");

    let first = create_group(&server, &token, Some("make-team-1"), "team").await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert!(!first.replayed);
    for _ in 0..3 {
        let retry = create_group(&server, &token, Some("make-team-1"), "team").await;
        assert_eq!(retry.status, 201);
        assert!(retry.replayed, "a retry is a replay");
        assert_eq!(retry.body, first.body, "the first answer, again");
    }
    assert_eq!(group_names(&alice).await, vec!["team"], "one group");

    // The same key for a different request is refused and changes nothing.
    let other = create_group(&server, &token, Some("make-team-1"), "another").await;
    assert_eq!(other.status, 409, "{}", other.body);
    assert_eq!(other.body["code"], "conflict");
    // Without a key, each request is its own.
    create_group(&server, &token, None, "plain").await;
    create_group(&server, &token, None, "plain").await;
    let mut names = group_names(&alice).await;
    names.sort();
    assert_eq!(names, vec!["plain", "plain", "team"]);

    // Keys are per caller: bob's "make-team-1" is his own.
    let (bob, _) = user(&server, "bob").await;
    let bobs = create_group(
        &server,
        &bob.access_token().unwrap(),
        Some("make-team-1"),
        "team",
    )
    .await;
    assert_eq!(bobs.status, 201);
    assert!(!bobs.replayed);
    assert_ne!(
        bobs.body["conversation"]["id"],
        first.body["conversation"]["id"]
    );

    // A malformed key is a clean 400.
    let bad = create_group(&server, &token, Some("spaces are not allowed"), "x").await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["code"], "invalid");
}

/// `/auth/*` ignores the header: a replayed token pair would hand live credentials to whoever
/// repeats the request, and would hide the reuse of a spent refresh token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_routes_ignore_the_key_so_refresh_reuse_is_still_detected() {
    let server = TestServer::spawn();
    let (alice, _) = user(&server, "alice").await;
    let spent = alice.refresh_token().expect("refresh token");
    let refresh = || {
        reqwest::Client::new()
            .post(format!("{}/api/v1/auth/refresh", server.base_url))
            .header("Idempotency-Key", "refresh-1")
            .json(&json!({ "refresh_token": spent }))
            .send()
    };
    let first = refresh().await.expect("request");
    assert_eq!(first.status().as_u16(), 200);
    assert!(!first.headers().contains_key("idempotent-replayed"));
    let pair: Value = first.json().await.expect("tokens");

    let retry = refresh().await.expect("request");
    assert_eq!(retry.status().as_u16(), 401, "a fresh request: reuse");
    assert!(!retry.headers().contains_key("idempotent-replayed"));
    let body: Value = retry.json().await.expect("error body");
    assert_eq!(body["code"], "unauthenticated");

    // Reuse revoked the session: the pair the first refresh handed out is dead too.
    let after = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/refresh", server.base_url))
        .json(&json!({ "refresh_token": pair["refresh_token"] }))
        .send()
        .await
        .expect("request");
    assert_eq!(after.status().as_u16(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_without_credentials_is_never_kept() {
    let server = TestServer::spawn();
    let http = reqwest::Client::new();
    // Found by schemathesis: the second request was answered 409 (the key "used for a different
    // request" by someone else without credentials) instead of 401.
    for name in ["one", "two"] {
        let response = http
            .post(format!("{}/api/v1/conversations", server.base_url))
            .header("Idempotency-Key", "anonymous-1")
            .json(&json!({ "name": name }))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 401, "no token: 401, every time");
        assert!(!response.headers().contains_key("idempotent-replayed"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_with_credentials_that_do_not_authenticate_is_never_kept() {
    let server = TestServer::spawn();
    // Found by schemathesis: under one invalid token, the second request with the key got 409
    // ("used for a different request") instead of 401.
    for name in ["one", "two"] {
        let answer = create_group(&server, "not-a-token", Some("invalid-1"), name).await;
        assert_eq!(answer.status, 401, "a bad token: 401, every time");
        assert!(!answer.replayed);
    }
}
