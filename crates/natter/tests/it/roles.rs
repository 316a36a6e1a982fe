//! `--roles`: a process serves only the routes of its roles, so the API and the gateway can be
//! deployed apart from the same binary.

use natter_sdk::{Method, RawBody};

use crate::server::TestServer;

async fn status(server: &TestServer, method: Method, path: &str) -> u16 {
    server
        .client()
        .raw_request(method, path, RawBody::Empty, None)
        .await
        .expect("request")
        .status
}

#[tokio::test]
async fn api_only_serves_rest_and_not_websockets() {
    let server = TestServer::spawn_with(&["--roles", "api"]);
    let (client, _) = crate::support::user(&server, "roleapi").await;
    assert!(client.me().await.is_ok(), "REST works");
    assert_eq!(status(&server, Method::GET, "/api/v1/ws").await, 404);
    assert_eq!(status(&server, Method::GET, "/healthz").await, 200);
}

#[tokio::test]
async fn gateway_only_serves_websockets_and_not_rest() {
    let server = TestServer::spawn_with(&["--roles", "gateway"]);
    assert_eq!(
        status(&server, Method::POST, "/api/v1/auth/register").await,
        404
    );
    assert_eq!(
        status(&server, Method::GET, "/api/v1/openapi.json").await,
        404
    );
    assert_eq!(status(&server, Method::GET, "/").await, 404, "no web app");
    // The WebSocket endpoint exists: a plain GET is refused as a bad upgrade, not as unknown.
    let ws = status(&server, Method::GET, "/api/v1/ws").await;
    assert!(ws != 404 && ws < 500, "ws endpoint answered {ws}");
    assert_eq!(status(&server, Method::GET, "/readyz").await, 200);
}

#[test]
fn unknown_role_is_refused_at_start() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_natter"))
        .args(["serve", "--roles", "api,chef", "--listen", "127.0.0.1:0"])
        .output()
        .expect("run natter");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown role"), "{stderr}");
}
