//! The `PresenceStore` contract, for every presence backend (in-process, Redis): a user is
//! online while at least one of their connections is open; `connected` and `disconnected` say
//! when that flips, so each flip is announced exactly once.
//!
//! Cases take a fresh store handle and use fresh user ids, so backends shared between cases
//! (one Redis) are fine.

use std::collections::HashSet;
use std::sync::Arc;

use natter_domain::UserId;
use natter_domain::ports::PresenceStore;

fn user() -> UserId {
    UserId(uuid::Uuid::now_v7())
}

async fn online_set(presence: &dyn PresenceStore, users: &[UserId]) -> HashSet<UserId> {
    presence
        .online(users)
        .await
        .expect("online")
        .into_iter()
        .collect()
}

pub async fn first_connection_comes_online_last_goes_offline(presence: Arc<dyn PresenceStore>) {
    let u = user();
    assert!(
        presence.connected(u).await.unwrap(),
        "first connection: online"
    );
    assert!(!presence.connected(u).await.unwrap(), "second: no change");
    assert!(!presence.connected(u).await.unwrap(), "third: no change");
    assert!(!presence.disconnected(u).await.unwrap(), "two still open");
    assert!(!presence.disconnected(u).await.unwrap(), "one still open");
    assert_eq!(online_set(&*presence, &[u]).await, HashSet::from([u]));
    assert!(presence.disconnected(u).await.unwrap(), "last one: offline");
    assert!(online_set(&*presence, &[u]).await.is_empty());
    assert!(
        presence.connected(u).await.unwrap(),
        "back again: online again"
    );
    assert!(presence.disconnected(u).await.unwrap());
}

pub async fn online_lists_exactly_the_connected_users(presence: Arc<dyn PresenceStore>) {
    let (a, b, c) = (user(), user(), user());
    assert!(
        online_set(&*presence, &[]).await.is_empty(),
        "no users asked"
    );
    presence.connected(a).await.unwrap();
    presence.connected(b).await.unwrap();
    presence.connected(b).await.unwrap();
    assert_eq!(
        online_set(&*presence, &[a, b, c]).await,
        HashSet::from([a, b])
    );
    assert_eq!(online_set(&*presence, &[c]).await, HashSet::new());
    presence.disconnected(a).await.unwrap();
    assert_eq!(online_set(&*presence, &[a, b, c]).await, HashSet::from([b]));
    presence.disconnected(b).await.unwrap();
    presence.disconnected(b).await.unwrap();
    assert!(online_set(&*presence, &[a, b, c]).await.is_empty());
}

pub async fn concurrent_connections_flip_exactly_once(presence: Arc<dyn PresenceStore>) {
    let u = user();
    let connects = futures_util::future::join_all((0..16).map(|_| {
        let presence = presence.clone();
        async move { presence.connected(u).await.unwrap() }
    }))
    .await;
    assert_eq!(
        connects.iter().filter(|flip| **flip).count(),
        1,
        "{connects:?}"
    );
    let disconnects = futures_util::future::join_all((0..16).map(|_| {
        let presence = presence.clone();
        async move { presence.disconnected(u).await.unwrap() }
    }))
    .await;
    assert_eq!(
        disconnects.iter().filter(|flip| **flip).count(),
        1,
        "{disconnects:?}"
    );
    assert!(online_set(&*presence, &[u]).await.is_empty());
}
