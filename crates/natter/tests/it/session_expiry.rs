//! Sessions that expire close their open WebSockets with 4002, as a logout does; a refresh made
//! meanwhile on another connection keeps them open. Servers with sessions of a few seconds
//! (`NATTER__AUTH__SESSION_IDLE_S`, `NATTER__AUTH__SESSION_MAX_AGE_S`); every wait is bounded
//! generously and nothing asserts how long anything took.

use std::time::Duration;

use natter_sdk::Client;
use natter_sdk::protocol::ServerFrame;

use crate::server::TestServer;
use crate::support::{RawRead, RawWs, raw_authenticated, raw_close_code, raw_read, raw_send, user};

/// Far longer than any session these tests configure: a close must come well within it.
const WAIT: Duration = Duration::from_secs(60);
/// How often the tests refresh a session they keep alive: a small part of its idle time.
const REFRESH_EVERY: Duration = Duration::from_millis(500);

fn server_with_idle_s(idle_s: &str) -> TestServer {
    TestServer::spawn_with_env(&[], &[("NATTER__AUTH__SESSION_IDLE_S", idle_s)])
}

/// The socket answers a ping (it is open).
async fn expect_pong(ws: &mut RawWs, id: &str) {
    raw_send(ws, &format!(r#"{{"type":"ping","id":"{id}"}}"#)).await;
    match raw_read(ws, Duration::from_secs(10)).await {
        RawRead::Frame(ServerFrame::Pong { id: got }) => assert_eq!(got, id),
        other => panic!("expected pong {id}, got {other:?}"),
    }
}

async fn refresh(client: &Client) {
    client.refresh().await.expect("the session is still valid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_session_closes_its_open_sockets_with_4002() {
    let server = server_with_idle_s("5");
    let (alice, _) = user(&server, "idle").await;
    let session = alice.connect().await.expect("session");
    let mut raw = raw_authenticated(&server, &alice).await;

    assert_eq!(raw_close_code(&mut raw, WAIT).await, Some(4002));
    // The SDK treats it as the end, like a logout: no reconnect.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, session.next_event()).await {
            Ok(None) => break,
            Ok(Some(_)) => {}
            Err(_) => panic!("the SDK session did not end"),
        }
    }
    assert_eq!(
        session.close_reason().and_then(|e| e.close_code()),
        Some(4002)
    );
    assert_eq!(session.reconnects(), 0);
    let err = alice.refresh().await.expect_err("the session has expired");
    assert_eq!(err.status(), Some(401));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_refreshed_elsewhere_keeps_its_socket_until_it_idles() {
    let idle = Duration::from_secs(6);
    let server = server_with_idle_s("6");
    let (alice, _) = user(&server, "kept").await;
    let mut raw = raw_authenticated(&server, &alice).await;
    let opened = tokio::time::Instant::now();

    // Refreshed over REST (another connection of the same session) past several of the socket's
    // original deadlines: each time the server looks again and keeps the socket open.
    let mut round = 0;
    while opened.elapsed() < idle * 5 / 2 {
        assert!(round < 200, "bounded");
        round += 1;
        tokio::time::sleep(REFRESH_EVERY).await;
        refresh(&alice).await;
        expect_pong(&mut raw, &format!("p{round}")).await;
    }

    // No refresh any more: the socket closes once the session idles out.
    assert_eq!(raw_close_code(&mut raw, WAIT).await, Some(4002));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_at_its_maximum_age_closes_its_socket_however_refreshed() {
    let server = TestServer::spawn_with_env(&[], &[("NATTER__AUTH__SESSION_MAX_AGE_S", "6")]);
    let (alice, _) = user(&server, "aged").await;
    let mut raw = raw_authenticated(&server, &alice).await;

    let refresher = {
        let alice = alice.clone();
        tokio::spawn(async move {
            for _ in 0..(WAIT.as_millis() / REFRESH_EVERY.as_millis()) {
                tokio::time::sleep(REFRESH_EVERY).await;
                if alice.refresh().await.is_err() {
                    return;
                }
            }
        })
    };
    assert_eq!(raw_close_code(&mut raw, WAIT).await, Some(4002));
    refresher.abort();
    let err = alice.refresh().await.expect_err("past its maximum age");
    assert_eq!(err.status(), Some(401));
}
