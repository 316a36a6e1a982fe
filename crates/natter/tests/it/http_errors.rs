//! Bad HTTP input gets a clear 4xx with a JSON `ErrorBody`, never a 5xx, and changes nothing:
//! malformed or mistyped JSON, unknown fields, wrong or missing content type, oversized and
//! non-UTF-8 bodies, malformed path parameters, unknown routes, and missing, garbage or foreign
//! tokens.

use std::time::Duration;

use natter_sdk::protocol::{AuthTokens, ErrorBody};
use natter_sdk::{Client, Method, RawBody, RawResponse};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

use crate::server::TestServer;
use crate::support::{all_messages, user};

/// A raw request that must be refused with `status` and an `ErrorBody` whose code is `code`.
async fn refused(
    client: &Client,
    method: Method,
    path: &str,
    body: RawBody,
    content_type: Option<&str>,
    status: u16,
    code: &str,
) -> ErrorBody {
    let what = format!("{method} {path} ({content_type:?})");
    let response = client
        .raw_request(method, path, body, content_type)
        .await
        .expect("raw request");
    assert_error(&what, &response, status, code)
}

fn assert_error(what: &str, response: &RawResponse, status: u16, code: &str) -> ErrorBody {
    let text = String::from_utf8_lossy(&response.body);
    assert!(
        response.status < 500,
        "{what}: server error {} {text}",
        response.status
    );
    assert_eq!(response.status, status, "{what}: {text}");
    let content_type = response
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "{what}: content type {content_type:?}"
    );
    let body = response
        .error_body()
        .unwrap_or_else(|| panic!("{what}: not an ErrorBody: {text}"));
    assert_eq!(body.code, code, "{what}: {text}");
    assert!(!body.message.is_empty(), "{what}: an explanation");
    body
}

/// One HTTP/1.1 request written by hand (for headers the SDK never sends); returns the status
/// and the body.
async fn raw_http(server: &TestServer, request: String) -> (u16, String) {
    let address = server.base_url.trim_start_matches("http://").to_owned();
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(&address)
            .await
            .expect("connect");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.expect("read");
        response
    };
    let response = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .expect("answer in time");
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_are_refused_and_change_nothing() {
    let server = TestServer::spawn();
    let (alice, _) = user(&server, "alice").await;
    let id = alice
        .create_group("g", None, &[])
        .await
        .unwrap()
        .conversation
        .id;
    let original = alice.send_text(id, "baseline").await.unwrap();
    let send = format!("/api/v1/conversations/{id}/messages");
    let json = Some("application/json");

    let huge_text = "x".repeat(70 * 1024);
    let cases: Vec<(&str, RawBody, Option<&str>, u16, &str)> = vec![
        (
            "malformed JSON",
            RawBody::from(r#"{"client_msg_id": "a", "text": "#),
            json,
            400,
            "invalid",
        ),
        ("empty body", RawBody::from(""), json, 400, "invalid"),
        (
            "not an object",
            RawBody::from(r#"["a", "b"]"#),
            json,
            400,
            "invalid",
        ),
        (
            "trailing garbage",
            RawBody::from(r#"{"client_msg_id": "a", "text": "hi"} and more"#),
            json,
            400,
            "invalid",
        ),
        (
            "wrong types",
            RawBody::from(r#"{"client_msg_id": 5, "text": true}"#),
            json,
            400,
            "invalid",
        ),
        (
            "wrong nested type",
            RawBody::from(r#"{"client_msg_id": "a", "text": "hi", "mentions": ["not-a-uuid"]}"#),
            json,
            400,
            "invalid",
        ),
        (
            "missing field",
            RawBody::from(r#"{"client_msg_id": "a"}"#),
            json,
            400,
            "invalid",
        ),
        (
            "unknown field",
            RawBody::from(r#"{"client_msg_id": "a", "text": "hi", "txet": "typo"}"#),
            json,
            400,
            "invalid",
        ),
        (
            "duplicate field",
            RawBody::from(r#"{"client_msg_id": "a", "text": "hi", "text": "again"}"#),
            json,
            400,
            "invalid",
        ),
        (
            "invalid UTF-8",
            RawBody::from(&b"{\"client_msg_id\": \"a\", \"text\": \"\xff\xfe\xc3\"}"[..]),
            json,
            400,
            "invalid",
        ),
        (
            "no content type",
            RawBody::from(r#"{"client_msg_id": "a", "text": "hi"}"#),
            None,
            415,
            "unsupported_media_type",
        ),
        (
            "text/plain",
            RawBody::from(r#"{"client_msg_id": "a", "text": "hi"}"#),
            Some("text/plain"),
            415,
            "unsupported_media_type",
        ),
        (
            "form",
            RawBody::from("client_msg_id=a&text=hi"),
            Some("application/x-www-form-urlencoded"),
            415,
            "unsupported_media_type",
        ),
        (
            "over 64 KiB",
            RawBody::from(format!(r#"{{"client_msg_id": "a", "text": "{huge_text}"}}"#).as_str()),
            json,
            413,
            "payload_too_large",
        ),
    ];
    for (what, body, content_type, status, code) in cases {
        let response = alice
            .raw_request(Method::POST, &send, body, content_type)
            .await
            .expect("raw request");
        assert_error(what, &response, status, code);
    }
    // Bad edits leave the message alone.
    let edit = format!("/api/v1/conversations/{id}/messages/1");
    refused(
        &alice,
        Method::PATCH,
        &edit,
        RawBody::from("{nope"),
        json,
        400,
        "invalid",
    )
    .await;
    refused(
        &alice,
        Method::PATCH,
        &edit,
        RawBody::from(r#"{"text": "x", "extra": 1}"#),
        json,
        400,
        "invalid",
    )
    .await;
    refused(
        &alice,
        Method::PATCH,
        &edit,
        RawBody::from(r#"{"text": "x"}"#),
        None,
        415,
        "unsupported_media_type",
    )
    .await;

    let history = all_messages(&alice, id).await;
    assert_eq!(history, vec![original], "nothing was created or changed");
    assert_eq!(
        alice.conversation(id).await.unwrap().conversation.last_seq,
        1
    );
    alice
        .send_text(id, "still works")
        .await
        .expect("the connection and user are fine afterwards");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_on_unauthenticated_routes() {
    let server = TestServer::spawn();
    let client = server.client();
    let json = Some("application/json");
    let register = "/api/v1/auth/register";
    let name = crate::support::username("body");
    refused(
        &client,
        Method::POST,
        register,
        RawBody::from("{"),
        json,
        400,
        "invalid",
    )
    .await;
    let extra = format!(
        r#"{{"username": "{name}", "password": "correct horse battery staple", "admin": true}}"#
    );
    refused(
        &client,
        Method::POST,
        register,
        RawBody::from(extra.as_str()),
        json,
        400,
        "invalid",
    )
    .await;
    let valid = format!(r#"{{"username": "{name}", "password": "correct horse battery staple"}}"#);
    refused(
        &client,
        Method::POST,
        register,
        RawBody::from(valid.as_str()),
        None,
        415,
        "unsupported_media_type",
    )
    .await;
    let big = format!(
        r#"{{"username": "{name}", "password": "{}"}}"#,
        "p".repeat(100 * 1024)
    );
    refused(
        &client,
        Method::POST,
        register,
        RawBody::from(big.as_str()),
        json,
        413,
        "payload_too_large",
    )
    .await;
    refused(
        &client,
        Method::POST,
        "/api/v1/auth/login",
        RawBody::from(&b"\xff"[..]),
        json,
        400,
        "invalid",
    )
    .await;
    refused(
        &client,
        Method::POST,
        "/api/v1/auth/refresh",
        RawBody::from("{}"),
        json,
        400,
        "invalid",
    )
    .await;
    // None of it registered the user.
    assert_eq!(
        client
            .login(&name, "correct horse battery staple")
            .await
            .unwrap_err()
            .code(),
        Some("bad_credentials")
    );
    client
        .register(&name, "correct horse battery staple")
        .await
        .expect("the name is still free");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_paths_and_unknown_routes() {
    let server = TestServer::spawn();
    let (alice, _) = user(&server, "alice").await;
    let id = alice
        .create_group("g", None, &[])
        .await
        .unwrap()
        .conversation
        .id;
    alice.send_text(id, "one").await.unwrap();
    let e = RawBody::Empty;

    for path in [
        "/api/v1/conversations/not-a-uuid".to_owned(),
        "/api/v1/conversations/1234/members".to_owned(),
        "/api/v1/users/%ff%fe".to_owned(),
        format!("/api/v1/conversations/{id}/messages/abc"),
        format!("/api/v1/conversations/{id}/messages/99999999999999999999999"),
        format!("/api/v1/conversations/{id}/members/not-a-user"),
        "/api/v1/auth/sessions/zzz".to_owned(),
    ] {
        let method = if path.contains("/sessions/") || path.contains("/members/") {
            Method::DELETE
        } else {
            Method::GET
        };
        let method = if path.contains("/messages/") {
            Method::PATCH
        } else {
            method
        };
        let body = if method == Method::PATCH {
            RawBody::from(r#"{"text": "x"}"#)
        } else {
            RawBody::Empty
        };
        let content_type = (method == Method::PATCH).then_some("application/json");
        refused(&alice, method, &path, body, content_type, 400, "invalid").await;
    }
    refused(
        &alice,
        Method::GET,
        &format!("/api/v1/conversations/{id}/messages?limit=-1"),
        e.clone(),
        None,
        400,
        "invalid",
    )
    .await;
    refused(
        &alice,
        Method::GET,
        "/api/v1/conversations?limit=ten",
        e.clone(),
        None,
        400,
        "invalid",
    )
    .await;
    refused(
        &alice,
        Method::GET,
        "/api/v1/sync?since=yesterday",
        e.clone(),
        None,
        400,
        "invalid",
    )
    .await;

    for path in [
        "/api/v1/nothing-here",
        "/api/v1/conversations/x/y/z/w",
        "/api/v2/users/me",
        "/api",
    ] {
        refused(&alice, Method::GET, path, e.clone(), None, 404, "not_found").await;
    }
    // Outside /api, GETs belong to the web app; other methods are API-style 404s.
    refused(
        &alice,
        Method::POST,
        "/definitely/not/here",
        e.clone(),
        None,
        404,
        "not_found",
    )
    .await;
    let unknown = format!("/api/v1/conversations/{}", Uuid::now_v7());
    refused(
        &alice,
        Method::GET,
        &unknown,
        e.clone(),
        None,
        404,
        "not_found",
    )
    .await;
    let history = all_messages(&alice, id).await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].text, "one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_route_with_the_wrong_method_is_a_clean_4xx() {
    let server = TestServer::spawn();
    let (alice, _) = user(&server, "alice").await;
    for (method, path) in [
        (Method::DELETE, "/api/v1/users/me"),
        (Method::PUT, "/api/v1/auth/login"),
        (Method::POST, "/api/v1/sync"),
    ] {
        let response = alice
            .raw_request(method.clone(), path, RawBody::Empty, None)
            .await
            .expect("raw");
        let body = assert_error(
            &format!("{method} {path}"),
            &response,
            405,
            "method_not_allowed",
        );
        assert!(body.retry_after_ms.is_none());
        let allow = response
            .headers
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(
            !allow.is_empty() && !allow.contains(method.as_str()),
            "{method} {path}: Allow {allow:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_garbage_and_foreign_tokens_are_unauthenticated() {
    let mut server = TestServer::spawn();
    let (alice, _) = user(&server, "alice").await;
    let id = alice
        .create_group("g", None, &[])
        .await
        .unwrap()
        .conversation
        .id;
    let alice_tokens = {
        // A second session whose refresh token we hand to the foreign server below.
        let device = server.client();
        device
            .login(
                &alice.me().await.unwrap().username,
                "correct horse battery staple",
            )
            .await
            .unwrap()
    };

    // Another server with a copy of this one's database but its own signing key: it knows
    // alice's session, so it signs a token with exactly the same claims as a genuine one.
    let mut foreign = TestServer::spawn();
    foreign.kill();
    assert!(server.terminate().success());
    for entry in std::fs::read_dir(foreign.data_dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("natter.db")
        {
            std::fs::remove_file(path).unwrap();
        }
    }
    for entry in std::fs::read_dir(server.data_dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("natter.db") {
            std::fs::copy(&path, foreign.data_dir.path().join(name)).unwrap();
        }
    }
    foreign.restart();
    server.restart();
    let foreign_client = foreign.client();
    let foreign_tokens: AuthTokens = foreign_client
        .anonymous()
        .with_tokens(&alice_tokens)
        .refresh()
        .await
        .expect("the foreign server refreshes the copied session");
    assert_eq!(
        (foreign_tokens.user.id, foreign_tokens.session_id),
        (alice_tokens.user.id, alice_tokens.session_id)
    );
    assert!(
        foreign_client
            .with_token(&foreign_tokens.access_token)
            .me()
            .await
            .is_ok(),
        "valid where it was signed"
    );

    let genuine = server.client().with_token(&alice_tokens.access_token);
    assert!(
        genuine.me().await.is_ok(),
        "the genuine token (same claims) works here"
    );

    let anonymous = server.client();
    let tokens = [
        ("no token", anonymous.clone()),
        ("garbage", anonymous.with_token("garbage")),
        ("empty", anonymous.with_token("")),
        (
            "a JWT-looking garbage",
            anonymous.with_token("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"),
        ),
        (
            "a refresh token",
            anonymous.with_token(&alice_tokens.refresh_token),
        ),
        (
            "signed by another server",
            anonymous.with_token(&foreign_tokens.access_token),
        ),
    ];
    let send_body = || {
        RawBody::Json(
            serde_json::json!({"client_msg_id": Uuid::now_v7().to_string(), "text": "sneaky"}),
        )
    };
    for (what, client) in &tokens {
        for (method, path, body) in [
            (Method::GET, "/api/v1/users/me".to_owned(), RawBody::Empty),
            (
                Method::GET,
                "/api/v1/conversations".to_owned(),
                RawBody::Empty,
            ),
            (
                Method::GET,
                format!("/api/v1/conversations/{id}/messages"),
                RawBody::Empty,
            ),
            (
                Method::POST,
                format!("/api/v1/conversations/{id}/messages"),
                send_body(),
            ),
            (
                Method::POST,
                "/api/v1/auth/logout".to_owned(),
                RawBody::Empty,
            ),
            (
                Method::DELETE,
                format!("/api/v1/auth/sessions/{}", alice_tokens.session_id),
                RawBody::Empty,
            ),
        ] {
            let response = client
                .raw_request(method.clone(), &path, body, None)
                .await
                .expect("raw");
            assert_error(
                &format!("{what}: {method} {path}"),
                &response,
                401,
                "unauthenticated",
            );
        }
    }
    // Hand-written Authorization headers the SDK never sends.
    for header in [
        "Basic YWxpY2U6cGFzc3dvcmQxMjM=",
        "Bearer",
        "Token abc",
        &format!("bearer{}", alice_tokens.access_token),
    ] {
        let request = format!(
            "GET /api/v1/users/me HTTP/1.1\r\nHost: test\r\nAuthorization: {header}\r\nConnection: close\r\n\r\n"
        );
        let (status, body) = raw_http(&server, request).await;
        assert_eq!(status, 401, "{header}: {body}");
        let body: ErrorBody =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{header}: {e}: {body:?}"));
        assert_eq!(body.code, "unauthenticated");
    }

    // Nothing happened: no message, and alice's session survived the foreign logout attempts.
    assert!(all_messages(&genuine, id).await.is_empty());
    let sessions = genuine.sessions().await.expect("sessions").sessions;
    assert!(sessions.iter().any(|s| s.id == alice_tokens.session_id));
}
