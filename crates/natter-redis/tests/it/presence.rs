use std::time::{Duration, Instant};

use natter_domain::UserId;
use natter_domain::ports::PresenceStore;
use natter_redis::RedisPresence;

use crate::{eventually, raw, redis, url};

#[tokio::test]
async fn online_while_a_live_node_has_a_connection_and_offline_when_that_node_dies() {
    let redis = redis("presence").await; // one prefix: both nodes are in the same cluster
    // Long enough that a stalled test thread (a loaded machine) never outlives a live node's
    // heartbeat between two checks; the node that dies is waited for, not timed.
    let ttl = Duration::from_secs(3);
    let a = RedisPresence::start(&redis, 1, ttl).await.unwrap();
    let b = RedisPresence::start(&redis, 2, ttl).await.unwrap();
    let (user, stranger) = (UserId::new(), UserId::new());

    assert!(
        a.connected(user).await.unwrap(),
        "first connection: came online"
    );
    assert!(
        !b.connected(user).await.unwrap(),
        "already online via node a"
    );
    assert!(!a.connected(user).await.unwrap());
    assert!(!a.disconnected(user).await.unwrap());
    assert!(
        !a.disconnected(user).await.unwrap(),
        "the last connection on a closed, but b still has one"
    );
    assert_eq!(a.online(&[stranger, user]).await.unwrap(), vec![user]);
    assert_eq!(b.online(&[user, stranger]).await.unwrap(), vec![user]);

    // Node b dies: its heartbeat stops refreshing (nothing is deleted).
    let died = Instant::now();
    drop(b);
    assert_eq!(a.online(&[user]).await.unwrap(), vec![user]);
    eventually(
        Duration::from_secs(20),
        "user offline once b's heartbeat expired",
        || async { a.online(&[user]).await.unwrap().is_empty() },
    )
    .await;
    assert!(
        died.elapsed() >= Duration::from_millis(300),
        "went offline before the heartbeat could expire ({:?})",
        died.elapsed()
    );

    // Node a's heartbeat task sweeps b's dead count away.
    let mut admin = raw(&url()).await;
    let user_key = format!("{}:presence:user:{user}", redis.prefix());
    eventually(Duration::from_secs(20), "b's count swept", || {
        let mut admin = admin.clone();
        let user_key = user_key.clone();
        async move {
            redis::cmd("EXISTS")
                .arg(&user_key)
                .query_async::<i64>(&mut admin)
                .await
                .unwrap()
                == 0
        }
    })
    .await;
    let nodes: Vec<String> = redis::cmd("SMEMBERS")
        .arg(format!("{}:presence:nodes", redis.prefix()))
        .query_async(&mut admin)
        .await
        .unwrap();
    assert_eq!(
        nodes,
        vec![a.node().to_owned()],
        "b deregistered by the sweep"
    );

    // Back on a: online again, then offline.
    assert!(a.connected(user).await.unwrap());
    assert!(
        a.disconnected(user).await.unwrap(),
        "last connection closed: went offline"
    );
    assert!(
        !a.disconnected(user).await.unwrap(),
        "unknown connection: no change"
    );
    assert!(a.online(&[user]).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_restarted_node_drops_its_previous_life_at_once() {
    let redis = redis("presence-restart").await;
    let ttl = Duration::from_secs(30);
    let observer = RedisPresence::start(&redis, 1, ttl).await.unwrap();
    let user = UserId::new();
    let first = RedisPresence::start(&redis, 7, ttl).await.unwrap();
    assert!(first.connected(user).await.unwrap());
    assert_eq!(observer.online(&[user]).await.unwrap(), vec![user]);
    drop(first); // crashed; its heartbeat would live 30 s more

    let second = RedisPresence::start(&redis, 7, ttl).await.unwrap();
    assert!(
        observer.online(&[user]).await.unwrap().is_empty(),
        "the previous incarnation of node 7 no longer counts"
    );
    assert!(second.connected(user).await.unwrap());
}

#[tokio::test]
async fn a_graceful_shutdown_takes_the_nodes_users_offline_at_once() {
    let redis = redis("presence-shutdown").await;
    let ttl = Duration::from_secs(30);
    let a = RedisPresence::start(&redis, 1, ttl).await.unwrap();
    let b = RedisPresence::start(&redis, 2, ttl).await.unwrap();
    let (only_b, both) = (UserId::new(), UserId::new());
    assert!(b.connected(only_b).await.unwrap());
    assert!(b.connected(both).await.unwrap());
    assert!(!a.connected(both).await.unwrap());
    b.shutdown().await.unwrap();
    assert_eq!(a.online(&[only_b, both]).await.unwrap(), vec![both]);
}

#[tokio::test]
async fn online_answers_for_many_users_at_once() {
    let redis = redis("presence-many").await;
    let a = RedisPresence::start(&redis, 1, Duration::from_secs(30))
        .await
        .unwrap();
    let users: Vec<UserId> = (0..600).map(|_| UserId::new()).collect();
    for user in users.iter().step_by(3) {
        assert!(a.connected(*user).await.unwrap());
    }
    let expected: Vec<UserId> = users.iter().step_by(3).copied().collect();
    assert_eq!(a.online(&users).await.unwrap(), expected);
}
