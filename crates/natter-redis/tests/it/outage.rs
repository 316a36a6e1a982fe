//! A Redis that dies and comes back empty, on a private `redis-server` so the shared one is left
//! alone: publishing and presence fail promptly while it is down, the limiter fails open, and
//! afterwards the bus resubscribes (subscribers get `Lagged`, then the events whose publish failed,
//! then newer ones) and presence rewrites this node's counts, including one recorded during the
//! outage.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use natter_domain::ports::{BusItem, EventBus, PresenceStore};
use natter_domain::{ConversationId, UserId};
use natter_redis::{BusOptions, Redis, RedisBus, RedisPresence, RedisRateLimiter};

use crate::{eventually, message_event, redis_at, unique, within};

/// A throwaway `redis-server` without persistence, killed when dropped.
struct Server {
    port: u16,
    dir: std::path::PathBuf,
    child: Option<Child>,
}

impl Server {
    fn new() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = std::env::temp_dir().join(unique("outage").replace(':', "-"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = Self {
            port,
            dir,
            child: None,
        };
        server.start();
        server
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn start(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| {
                panic!(
                    "this test runs its own redis-server (scripts/services install redis): {err}"
                )
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Send `signal` (`STOP`, `CONT`) to the server.
    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("running").id();
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal} {pid}");
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn survives_redis_dying_and_coming_back_empty() {
    let mut server = Server::new();
    let redis = redis_at(&server.url()).await;
    let bus = RedisBus::start(
        &redis,
        BusOptions {
            health_interval: Duration::from_millis(500),
            max_backoff: Duration::from_millis(500),
            ..BusOptions::default()
        },
    )
    .await
    .unwrap();
    let mut subscription = bus.subscribe();
    let presence = RedisPresence::start(&redis, 1, Duration::from_secs(1))
        .await
        .unwrap();
    let limiter = RedisRateLimiter::new(&redis);
    let (before, during) = (UserId::new(), UserId::new());
    assert!(presence.connected(before).await.unwrap());

    server.kill();
    assert!(matches!(
        within(Duration::from_secs(15), "Down", subscription.next()).await,
        Some(BusItem::Down)
    ));

    // "Promptly" means bounded, not fast: a dead Redis refuses connections at once, so the only
    // way past these bounds is waiting on a connection that never comes (the bug they catch).
    let (sender, conversation) = (UserId::new(), ConversationId::new());
    let published = within(
        Duration::from_secs(15),
        "publish with Redis down",
        bus.publish(message_event(sender, conversation, 1)),
    )
    .await;
    assert!(published.is_err(), "publish with Redis down: {published:?}");
    let recorded = within(
        Duration::from_secs(15),
        "presence with Redis down",
        presence.connected(during),
    )
    .await;
    assert!(recorded.is_err(), "presence with Redis down: {recorded:?}");
    within(
        Duration::from_secs(15),
        "the limiter with Redis down",
        async {
            for _ in 0..3 {
                assert_eq!(limiter.check("k", 1.0, 1).await, Ok(()), "fails open");
            }
        },
    )
    .await;

    server.start(); // same port, empty

    assert!(matches!(
        within(
            Duration::from_secs(20),
            "Lagged after Redis came back",
            subscription.next()
        )
        .await,
        Some(BusItem::Lagged)
    ));
    // The event whose publish failed goes out once Redis is back, before the next one (which
    // may itself be kept a moment, while the shared connection reconnects): each exactly once.
    let event = message_event(sender, conversation, 2);
    let _ = bus.publish(event.clone()).await;
    for expected in [message_event(sender, conversation, 1), event] {
        match within(
            Duration::from_secs(10),
            "the events after the outage",
            subscription.next(),
        )
        .await
        {
            Some(BusItem::Event(got)) => assert_eq!(*got, expected),
            other => panic!("expected {expected:?}, got {other:?}"),
        }
    }

    // Another node sees both users: this node rewrote its counts into the empty server.
    let observer = RedisPresence::start(&redis_at(&server.url()).await, 2, Duration::from_secs(1))
        .await
        .unwrap();
    eventually(Duration::from_secs(10), "counts rewritten", || async {
        observer.online(&[before, during]).await.ok() == Some(vec![before, during])
    })
    .await;
    assert!(presence.disconnected(during).await.unwrap(), "went offline");
    assert_eq!(
        observer.online(&[before, during]).await.unwrap(),
        vec![before]
    );
}

/// A Redis that stops answering (SIGSTOP: its connections stay open and nothing comes back) is
/// found out by the health check; from then on publishes fail at once instead of each waiting out
/// the handle's timeout (under a conversation's lock, in natter), until the bus is subscribed
/// again.
#[tokio::test]
async fn publishes_fail_at_once_while_the_subscription_is_known_lost() {
    let server = Server::new();
    let redis = Redis::connect_with_timeout(&server.url(), Duration::from_secs(3))
        .await
        .unwrap();
    let bus = RedisBus::start(
        &redis,
        BusOptions {
            health_interval: Duration::from_millis(200),
            max_backoff: Duration::from_millis(200),
            ..BusOptions::default()
        },
    )
    .await
    .unwrap();
    let mut subscription = bus.subscribe();
    server.signal("STOP");
    let down = within(
        Duration::from_secs(15),
        "Down once the health check fails",
        subscription.next(),
    )
    .await;
    assert!(matches!(down, Some(BusItem::Down)), "{down:?}");
    assert!(bus.is_down());
    // Twenty publishes that each waited out the 3 s timeout would take a minute.
    let (sender, conversation) = (UserId::new(), ConversationId::new());
    within(
        Duration::from_secs(20),
        "twenty publishes with Redis known down",
        async {
            for seq in 1..=20 {
                let published = bus.publish(message_event(sender, conversation, seq)).await;
                assert!(published.is_err(), "{published:?}");
            }
        },
    )
    .await;
    server.signal("CONT");
    let lagged = within(
        Duration::from_secs(30),
        "Lagged once subscribed again",
        subscription.next(),
    )
    .await;
    assert!(matches!(lagged, Some(BusItem::Lagged)), "{lagged:?}");
    assert!(!bus.is_down());
    // The twenty that failed reach the bus now, in order, before anything newer: the other
    // nodes hear of them although nothing later would have revealed the hole.
    let _ = bus.publish(message_event(sender, conversation, 21)).await;
    for seq in 1..=21 {
        let expected = message_event(sender, conversation, seq);
        match within(
            Duration::from_secs(10),
            "the events kept during the outage",
            subscription.next(),
        )
        .await
        {
            Some(BusItem::Event(got)) => assert_eq!(*got, expected, "seq {seq}"),
            other => panic!("expected seq {seq}, got {other:?}"),
        }
    }
}
