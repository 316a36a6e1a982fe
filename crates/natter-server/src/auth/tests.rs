//! Session expiry against a real SQLite store and a clock the test moves: no waiting.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use natter_domain::values::{Password, Username};
use natter_domain::{Clock, DomainError};
use natter_store_sqlite::SqliteStore;

use super::*;
use crate::embedded::MemoryBus;

struct ManualClock(AtomicI64);

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl ManualClock {
    fn advance_s(&self, seconds: i64) {
        self.0.fetch_add(seconds * 1000, Ordering::SeqCst);
    }
}

const MAX_AGE_S: u64 = 10_000;
const IDLE_S: u64 = 1_000;

/// With a session cache, as the embedded server runs it: every test also checks that what the
/// cache answers is what the store says.
async fn auth(dir: &tempfile::TempDir) -> (Auth, Arc<ManualClock>) {
    let store = SqliteStore::open(&dir.path().join("natter.db"))
        .await
        .expect("store");
    // Starts at the real time: access tokens' `exp` is checked against the system clock.
    let clock = Arc::new(ManualClock(AtomicI64::new(
        natter_domain::SystemClock.now_ms(),
    )));
    (auth_on(Arc::new(store), clock.clone()), clock)
}

fn auth_on(store: Arc<SqliteStore>, clock: Arc<ManualClock>) -> Auth {
    Auth::new(
        store,
        Arc::new(MemoryBus::new(16)),
        clock,
        PasswordHashing::new(8, 1, 1, 8).expect("hashing"),
        TokenKeys::new(b"0123456789abcdef0123456789abcdef", 900),
    )
    .with_session_lifetime(SessionLifetime::from_secs(MAX_AGE_S, IDLE_S))
    .with_session_cache(100)
}

async fn register(auth: &Auth) -> IssuedTokens {
    auth.register(Registration {
        username: Username::parse("alice").unwrap(),
        password: Password::parse("correct horse battery staple").unwrap(),
        display_name: None,
        device_name: None,
    })
    .await
    .expect("register")
}

#[tokio::test]
async fn an_idle_session_expires_at_refresh_and_at_access() {
    let dir = tempfile::tempdir().unwrap();
    let (auth, clock) = auth(&dir).await;
    let mut tokens = register(&auth).await;
    for _ in 0..3 {
        clock.advance_s(IDLE_S as i64 - 1);
        tokens = auth.refresh(&tokens.refresh_token).await.expect("in use");
        auth.authenticate(&tokens.access_token)
            .await
            .expect("valid");
    }
    clock.advance_s(IDLE_S as i64 + 1);
    assert_eq!(
        auth.authenticate(&tokens.access_token).await,
        Err(DomainError::Unauthenticated)
    );
    assert_eq!(
        auth.refresh(&tokens.refresh_token).await.unwrap_err(),
        DomainError::Unauthenticated
    );
    assert!(
        auth.sessions(tokens.user.id).await.unwrap().is_empty(),
        "the expired session is revoked"
    );
}

#[tokio::test]
async fn a_session_in_use_still_ends_at_its_maximum_age() {
    let dir = tempfile::tempdir().unwrap();
    let (auth, clock) = auth(&dir).await;
    let mut tokens = register(&auth).await;
    let step_s = IDLE_S as i64 / 2;
    let mut lived_s = 0;
    let refused = loop {
        assert!(lived_s <= 2 * MAX_AGE_S as i64, "never expired");
        clock.advance_s(step_s);
        lived_s += step_s;
        match auth.refresh(&tokens.refresh_token).await {
            Ok(next) => tokens = next,
            Err(err) => break err,
        }
    };
    assert_eq!(refused, DomainError::Unauthenticated);
    assert!(lived_s > MAX_AGE_S as i64 && lived_s <= MAX_AGE_S as i64 + step_s);
    assert_eq!(
        auth.authenticate(&tokens.access_token).await,
        Err(DomainError::Unauthenticated)
    );
}

#[tokio::test]
async fn time_left_follows_refreshes_and_stops_at_the_maximum_age() {
    let dir = tempfile::tempdir().unwrap();
    let (auth, clock) = auth(&dir).await;
    let mut tokens = register(&auth).await;
    let secs = |s: u64| Some(Duration::from_millis(s * 1000 + 1));
    let (claims, left) = auth
        .authenticate_with_time_left(&tokens.access_token)
        .await
        .expect("valid");
    assert_eq!(
        Some(left),
        secs(IDLE_S),
        "a fresh session has the idle time"
    );
    clock.advance_s(400);
    assert_eq!(auth.session_time_left(claims).await, Ok(secs(IDLE_S - 400)));
    // A refresh (on any connection) moves the idle expiry.
    tokens = auth.refresh(&tokens.refresh_token).await.expect("in use");
    assert_eq!(auth.session_time_left(claims).await, Ok(secs(IDLE_S)));
    // Near the maximum age, that age is what is left, however recent the refresh.
    let mut lived_s = 400;
    while lived_s + IDLE_S < MAX_AGE_S {
        clock.advance_s(IDLE_S as i64 - 1);
        lived_s += IDLE_S - 1;
        tokens = auth.refresh(&tokens.refresh_token).await.expect("in use");
    }
    assert_eq!(
        auth.session_time_left(claims).await,
        Ok(secs(MAX_AGE_S - lived_s))
    );
    clock.advance_s((MAX_AGE_S - lived_s) as i64 + 1);
    assert_eq!(auth.session_time_left(claims).await, Ok(None), "expired");
}

#[tokio::test]
async fn a_revoked_session_has_no_time_left() {
    let dir = tempfile::tempdir().unwrap();
    let (auth, _clock) = auth(&dir).await;
    let tokens = register(&auth).await;
    let claims = auth
        .authenticate(&tokens.access_token)
        .await
        .expect("valid");
    auth.revoke(claims.user_id, claims.session_id)
        .await
        .expect("revoke");
    assert_eq!(auth.session_time_left(claims).await, Ok(None));
}

#[tokio::test]
async fn a_logged_out_session_is_refused_at_once_though_it_was_cached() {
    let dir = tempfile::tempdir().unwrap();
    let (auth, _clock) = auth(&dir).await;
    let tokens = register(&auth).await;
    let claims = auth
        .authenticate(&tokens.access_token)
        .await
        .expect("valid");
    auth.authenticate(&tokens.access_token)
        .await
        .expect("valid again, from the cache");
    auth.revoke(claims.user_id, claims.session_id)
        .await
        .expect("revoke");
    assert_eq!(
        auth.authenticate(&tokens.access_token).await,
        Err(DomainError::Unauthenticated)
    );
}

#[tokio::test]
async fn a_reused_refresh_token_ends_the_cached_session_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (auth, _clock) = auth(&dir).await;
    let first = register(&auth).await;
    let next = auth.refresh(&first.refresh_token).await.expect("rotated");
    auth.authenticate(&next.access_token).await.expect("valid");
    assert_eq!(
        auth.refresh(&first.refresh_token).await.unwrap_err(),
        DomainError::Unauthenticated,
        "a spent token"
    );
    assert_eq!(
        auth.authenticate(&next.access_token).await,
        Err(DomainError::Unauthenticated),
        "the whole session is revoked"
    );
}

#[tokio::test]
async fn a_password_change_ends_the_other_cached_sessions_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (auth, _clock) = auth(&dir).await;
    let laptop = register(&auth).await;
    let phone = auth
        .login("alice", "correct horse battery staple", None)
        .await
        .expect("login");
    let me = auth
        .authenticate(&laptop.access_token)
        .await
        .expect("valid");
    auth.authenticate(&phone.access_token).await.expect("valid");
    auth.change_password(
        me,
        "correct horse battery staple",
        "tangerine submarine quietly orbits the lighthouse",
    )
    .await
    .expect("changed");
    assert_eq!(
        auth.authenticate(&phone.access_token).await,
        Err(DomainError::Unauthenticated)
    );
    auth.authenticate(&laptop.access_token)
        .await
        .expect("the device that changed it stays signed in");
}

/// The cache only admits: an entry that says "expired" is checked against the store, where a
/// refresh the entry did not see may have extended the session.
#[tokio::test]
async fn a_cached_session_that_looks_expired_is_looked_up_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("natter.db"))
            .await
            .expect("store"),
    );
    let clock = Arc::new(ManualClock(AtomicI64::new(
        natter_domain::SystemClock.now_ms(),
    )));
    let (caching, other) = (
        auth_on(store.clone(), clock.clone()),
        auth_on(store, clock.clone()),
    );
    let tokens = register(&other).await;
    caching
        .authenticate(&tokens.access_token)
        .await
        .expect("valid, now cached");
    clock.advance_s(IDLE_S as i64 - 1);
    let refreshed = other.refresh(&tokens.refresh_token).await.expect("in use");
    clock.advance_s(2);
    caching
        .authenticate(&refreshed.access_token)
        .await
        .expect("the refresh the cache did not see extended it");
}
