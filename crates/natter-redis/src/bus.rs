//! [`RedisBus`]: the cluster's event bus on Redis pub/sub.
//!
//! **One cluster channel.** Every node publishes every event to one channel (`natter:events` by
//! default) and subscribes to it once, so each node receives each event once, decodes it once,
//! and its hub serialises it once for all its local connections. With few nodes this broadcast
//! is the cheapest design: one PUBLISH per event, no routing state anywhere, and a node's
//! inbound traffic is the cluster's event rate. Its cost grows with the node count (every node
//! receives every event, relevant to its users or not; Redis sends `nodes x events`). When nodes
//! multiply, the next step is per-node channels plus interest sets: each node records in Redis
//! which conversations and users it has connections for, and a publish goes only to the channels
//! of the interested nodes (more state to keep exact across connects and node deaths, in
//! exchange for traffic proportional to interest).
//!
//! **Publishing** goes through the node's one multiplexed connection ([`Redis`]), so one node's
//! publishes reach Redis, and every subscriber, in publish order. Each publish is bounded by the
//! handle's timeout. While Redis is known to be down (the subscriber connection failed its health
//! check, or an attempt to reconnect it failed, until the supervisor has subscribed again),
//! `publish` fails at once with `BusError::Unavailable`
//! without trying: callers publish under the conversation's order lock, and waiting out the
//! timeout there would slow that conversation on every node for the whole outage. The
//! supervisor's reconnection attempts are the probe that ends this state. An event whose publish
//! failed is not forgotten: it is kept and published again, in order and before anything newer,
//! once Redis takes publishes ([`crate::redo`]), so the other nodes hear of everything this node
//! did while cut off, even when nothing later reveals the hole.
//!
//! **Subscribing** uses a dedicated connection (RESP3, so the same connection can also be named
//! with `CLIENT SETNAME` and health-checked with `PING`; Redis 6 or later). Its pushes are decoded
//! as they are read and handed to [`Fanout`], which queues them to each subscription through a
//! bounded queue and never waits: a subscription that falls behind gets [`BusItem::Lagged`] and
//! then newer events. If this node reads too slowly overall, Redis itself closes the connection
//! (`client-output-buffer-limit pubsub`), which is handled like any other drop.
//!
//! **Reconnecting.** A supervisor task watches the subscriber connection (a disconnection push,
//! or a `PING` that fails or times out, every second by default) and replaces it with bounded,
//! jittered exponential backoff (at most a second by default, so every node is subscribed again
//! within about a second of Redis's return), forever, while the bus lives. When the connection is
//! lost every subscription gets [`BusItem::Down`] at once (a durable feed can fill in from then
//! on); once the new connection is subscribed, every subscription gets [`BusItem::Lagged`]:
//! events published in between are lost (pub/sub is at-most-once), so local clients must resync
//! from storage (or from the durable feed), which is safe from that point on because the
//! subscription is live again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use natter_domain::BusError;
use natter_domain::events::Event;
use natter_domain::ports::{BusItem, BusSubscription, EventBus};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ProtocolVersion, PushInfo, PushKind, Value};
use tokio::sync::{Notify, mpsc};
use tokio::task::AbortHandle;

use crate::codec;
use crate::connection::Redis;
use crate::errors::{Error, bounded};
use crate::fanout::Fanout;
use crate::redo::{Channel, Unheard};

/// How often events kept while Redis is away are offered to it again.
const REPUBLISH_EVERY: Duration = Duration::from_millis(100);

#[derive(Debug, Clone)]
pub struct BusOptions {
    /// The cluster channel every node publishes to and subscribes to.
    pub channel: String,
    /// Events queued per subscription before it is told it lagged.
    pub subscriber_capacity: usize,
    /// How often the subscriber connection is checked with `PING` (a half-open TCP connection
    /// delivers nothing and reports nothing).
    pub health_interval: Duration,
    /// The longest wait between two reconnection attempts.
    pub max_backoff: Duration,
}

impl Default for BusOptions {
    fn default() -> Self {
        Self {
            channel: "natter:events".into(),
            subscriber_capacity: 65_536,
            health_interval: Duration::from_secs(1),
            max_backoff: Duration::from_secs(1),
        }
    }
}

pub struct RedisBus {
    publisher: Publisher,
    fanout: Arc<Fanout>,
    /// Events whose publish failed, published again once Redis takes them.
    unheard: Arc<Unheard>,
    client_name: String,
    supervisor: AbortHandle,
    /// Publishes what `unheard` keeps while Redis is away.
    republisher: AbortHandle,
}

/// One PUBLISH to the cluster channel on the node's shared connection.
#[derive(Clone)]
struct Publisher {
    redis: Redis,
    channel: Arc<str>,
    /// Set by the supervisor while Redis is known to be down: publishes fail at once.
    down: Arc<AtomicBool>,
}

impl Channel for Publisher {
    async fn publish(&self, event: &Event) -> Result<(), BusError> {
        if self.down.load(Ordering::Acquire) {
            return Err(BusError::Unavailable(
                "Redis is unreachable (the bus lost its subscription)".into(),
            ));
        }
        let payload = codec::encode(event);
        let mut connection = self.redis.connection();
        let _receivers: i64 = self
            .redis
            .run(
                redis::cmd("PUBLISH")
                    .arg(&*self.channel)
                    .arg(payload)
                    .query_async(&mut connection),
            )
            .await?;
        Ok(())
    }
}

impl Publisher {
    /// Publish what `unheard` keeps, as soon as Redis takes it: tried every `every` until
    /// nothing is left, then again when something is kept.
    async fn republish_forever(self, unheard: Arc<Unheard>, every: Duration) {
        loop {
            unheard.until_waiting().await;
            while !unheard.retry(&self).await {
                tokio::time::sleep(every).await;
            }
        }
    }
}

impl RedisBus {
    /// Subscribe to the cluster channel and start the supervisor. Fails if Redis cannot be
    /// reached now; after that, outages are survived.
    pub async fn start(redis: &Redis, options: BusOptions) -> Result<Self, Error> {
        let info = redis.client().get_connection_info().clone();
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client = redis::Client::open(info.set_redis_settings(settings))?;
        let client_name = format!("natter-bus-{:016x}", rand::random::<u64>());
        let channel: Arc<str> = options.channel.as_str().into();
        let fanout = Arc::new(Fanout::new(options.subscriber_capacity));
        let down = Arc::new(AtomicBool::new(false));
        let subscriber = Subscriber {
            client,
            client_name: client_name.clone(),
            channel: options.channel.clone(),
            timeout: redis.timeout(),
            fanout: Arc::clone(&fanout),
            lost: Arc::new(Notify::new()),
            down: Arc::clone(&down),
            options,
        };
        let connection = subscriber.open(fanout.generation()).await?;
        let supervisor = tokio::spawn(subscriber.supervise(connection)).abort_handle();
        let publisher = Publisher {
            redis: redis.clone(),
            channel,
            down,
        };
        let unheard = Arc::new(Unheard::default());
        let republisher = tokio::spawn(
            publisher
                .clone()
                .republish_forever(Arc::clone(&unheard), REPUBLISH_EVERY),
        )
        .abort_handle();
        Ok(Self {
            publisher,
            fanout,
            unheard,
            client_name,
            supervisor,
            republisher,
        })
    }

    /// The `CLIENT SETNAME` of this bus's subscriber connection (visible in `CLIENT LIST`).
    pub fn client_name(&self) -> &str {
        &self.client_name
    }

    pub fn channel(&self) -> &str {
        &self.publisher.channel
    }

    /// Whether Redis is known to be down (and publishes fail at once).
    pub fn is_down(&self) -> bool {
        self.publisher.down.load(Ordering::Acquire)
    }
}

impl Drop for RedisBus {
    fn drop(&mut self) {
        self.supervisor.abort();
        self.republisher.abort();
        self.fanout.close();
    }
}

#[async_trait]
impl EventBus for RedisBus {
    async fn publish(&self, event: Event) -> Result<(), BusError> {
        self.unheard.publish(event, &self.publisher).await
    }

    fn subscribe(&self) -> Box<dyn BusSubscription> {
        Box::new(RedisSubscription {
            receiver: self.fanout.subscribe(),
        })
    }
}

struct RedisSubscription {
    receiver: mpsc::Receiver<BusItem>,
}

#[async_trait]
impl BusSubscription for RedisSubscription {
    async fn next(&mut self) -> Option<BusItem> {
        self.receiver.recv().await
    }

    fn try_next(&mut self) -> Option<BusItem> {
        self.receiver.try_recv().ok()
    }
}

/// How the subscriber connection was lost.
#[derive(Debug, PartialEq, Eq)]
enum Lost {
    /// Closed (Redis stopped, or closed this connection alone, e.g. a slow subscriber): Redis
    /// may be fine, so publishes go on until an attempt to reconnect fails.
    Closed,
    /// No answer to the health check: Redis is unreachable, publishes fail at once.
    Unresponsive,
}

/// Everything the supervisor needs to (re)open the subscriber connection.
struct Subscriber {
    client: redis::Client,
    client_name: String,
    channel: String,
    timeout: Duration,
    fanout: Arc<Fanout>,
    /// Notified by the current connection's disconnection push.
    lost: Arc<Notify>,
    /// Shared with the bus: set while the connection is lost.
    down: Arc<AtomicBool>,
    options: BusOptions,
}

impl Subscriber {
    /// Connect, name the connection, subscribe. Pushes go straight to the fan-out, tagged with
    /// `generation` so that a replaced connection's late pushes are ignored.
    async fn open(&self, generation: u64) -> Result<MultiplexedConnection, Error> {
        let fanout = Arc::clone(&self.fanout);
        let lost = Arc::clone(&self.lost);
        let on_push = move |push: PushInfo| -> Result<(), std::convert::Infallible> {
            match push.kind {
                PushKind::Message => match push.data.get(1) {
                    Some(Value::BulkString(bytes)) => match codec::decode(bytes) {
                        Ok(event) => fanout.deliver(generation, event),
                        Err(err) => {
                            tracing::warn!(%err, "undecodable event on the bus; subscribers resync");
                            fanout.lost_one(generation);
                        }
                    },
                    _ => fanout.lost_one(generation),
                },
                PushKind::Disconnection if fanout.is_current(generation) => lost.notify_one(),
                _ => {}
            }
            Ok(())
        };
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_push_sender(on_push);
        let limit = self.timeout * 3;
        bounded(limit, async {
            let mut connection = self
                .client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            redis::cmd("CLIENT")
                .arg("SETNAME")
                .arg(&self.client_name)
                .query_async::<()>(&mut connection)
                .await?;
            connection.subscribe(&self.channel).await?;
            Ok(connection)
        })
        .await
    }

    async fn supervise(self, mut connection: MultiplexedConnection) {
        loop {
            if self.until_lost(&mut connection).await == Lost::Unresponsive {
                self.down.store(true, Ordering::Release);
            }
            // Stop accepting the old connection's pushes before letting it go.
            let generation = self.fanout.next_generation();
            drop(connection);
            tracing::warn!(channel = %self.channel, "bus subscriber connection lost; reconnecting");
            connection = self.reopen(generation).await;
            self.down.store(false, Ordering::Release);
            self.fanout.resubscribed(generation);
            tracing::info!(channel = %self.channel, "bus resubscribed; subscribers resync");
        }
    }

    /// Wait until the connection is gone: a disconnection push or a failed health check.
    async fn until_lost(&self, connection: &mut MultiplexedConnection) -> Lost {
        loop {
            tokio::select! {
                () = self.lost.notified() => return Lost::Closed,
                () = tokio::time::sleep(self.options.health_interval) => {
                    let ping = redis::cmd("PING");
                    if let Err(err) = bounded(self.timeout, ping.query_async::<String>(connection)).await {
                        tracing::warn!(%err, "bus subscriber connection failed its health check");
                        return Lost::Unresponsive;
                    }
                }
            }
        }
    }

    /// Connect again, first at once; Redis is known down (publishes fail at once) from the first
    /// failed attempt until one succeeds.
    async fn reopen(&self, generation: u64) -> MultiplexedConnection {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.open(generation).await {
                Ok(connection) => return connection,
                Err(err) => {
                    self.down.store(true, Ordering::Release);
                    let wait = backoff.mul_f64(0.5 + rand::random::<f64>() / 2.0);
                    tracing::warn!(%err, wait_ms = wait.as_millis() as u64, "bus resubscribe failed");
                    tokio::time::sleep(wait).await;
                    backoff = (backoff * 2).min(self.options.max_backoff);
                }
            }
        }
    }
}
