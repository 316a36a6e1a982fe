//! Helpers shared by the end-to-end tests.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use natter_sdk::Client;
use natter_sdk::protocol::{ServerFrame, UserView};

/// A unique username per call (tests share nothing but the server).
pub fn username(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}{}x{}", std::process::id() % 10_000, NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Register a fresh user; the returned client holds its tokens.
pub async fn user(server: &crate::server::TestServer, prefix: &str) -> (Client, UserView) {
    let client = server.client();
    let tokens = client.register(&username(prefix), "password123").await.expect("register");
    (client, tokens.user)
}

/// Wait for the first event matching `pick`, skipping others (bounded by `within`).
pub async fn expect_event<T>(
    session: &natter_sdk::Session,
    within: Duration,
    mut pick: impl FnMut(&ServerFrame) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let event = session.next_event_timeout(left).await.expect("event before the deadline");
        if let Some(found) = pick(&event) {
            return found;
        }
    }
}
