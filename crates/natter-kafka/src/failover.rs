//! [`Failover`]: a bus subscription that keeps message events flowing while the real-time bus is
//! down, by reading them from the log ([`DurableFeed`]), and switches back without a gap.
//!
//! - Live: the real-time bus's items pass through.
//! - The bus reports [`BusItem::Down`] at time T: passed on (the hub reads members from the store
//!   from then on), and a feed starts at the records written since `T - REPLAY_MARGIN` (the
//!   margin covers events the bus lost just before it noticed, and clock skew between nodes:
//!   a record's time is its producer's clock). Its events pass on; the hub drops the ones it
//!   already delivered (`mod_seq` at or below its position).
//! - The bus reports `Lagged` (subscribed again, at R): its items are held while the feed goes
//!   on. At `R + SETTLE` (every node has resubscribed by then, so every publish since reached the
//!   bus: a node's publishes fail at once, to the log only, while its own subscription is down)
//!   the feed is asked to catch up with what was written until then; once it has, `Resumed`
//!   passes on (the hub reloads member sets), then the held items, and the feed stops. The
//!   overlap is dropped by the hub, so nothing is missed and nothing is delivered twice. Message
//!   events keep their latency meanwhile (the feed delivers them before the held copies); the
//!   other events wait up to `SETTLE` plus the catch-up.
//! - If the bus goes down again before the feed was asked to catch up (a reconnection that did
//!   not hold), the feed goes on filling in: the held message events are dropped (the feed has
//!   them too, in order), the other held items pass on, and the next `Lagged` starts the switch
//!   back again.
//! - If the feed cannot start or fails, takes longer than `CATCH_UP_MAX` to catch up, more than
//!   `HOLD_MAX` items are held, or the bus goes down again after the feed was asked to catch
//!   up: `Lagged` passes on, as without a log (clients close with 4009 and resume from
//!   storage), then what was held.

use std::collections::VecDeque;
use std::time::Duration;

use async_trait::async_trait;
use natter_domain::ports::{BusItem, BusSubscription};
use tokio::time::Instant;

use crate::config::KafkaConfig;
use crate::feed::{DurableFeed, FeedItem};

/// How far before the loss the feed starts.
pub const REPLAY_MARGIN: Duration = Duration::from_secs(5);
/// How long after resubscribing the feed goes on before catching up: longer than the bus's
/// longest wait between two reconnection attempts (1 s by default).
pub const SETTLE: Duration = Duration::from_millis(1500);
/// The longest the switch back may take before giving up (clients resync).
pub const CATCH_UP_MAX: Duration = Duration::from_secs(15);
/// The most bus items held during the switch back.
pub const HOLD_MAX: usize = 65_536;

pub(crate) struct Failover {
    inner: Box<dyn BusSubscription>,
    config: KafkaConfig,
    mode: Mode,
    ready: VecDeque<BusItem>,
}

enum Mode {
    Live,
    /// The bus is down; the feed (if it started) fills in.
    Filling(Option<DurableFeed>),
    /// The bus is back; its items wait until the feed has caught up.
    CatchingUp(CatchUp),
}

struct CatchUp {
    feed: DurableFeed,
    held: Vec<BusItem>,
    ask_at: Instant,
    asked: bool,
    deadline: Instant,
}

impl Failover {
    pub(crate) fn new(inner: Box<dyn BusSubscription>, config: KafkaConfig) -> Self {
        Self {
            inner,
            config,
            mode: Mode::Live,
            ready: VecDeque::new(),
        }
    }

    fn start_feed(&self) -> DurableFeed {
        let since = std::time::SystemTime::now()
            .checked_sub(REPLAY_MARGIN)
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as i64);
        metrics::counter!("natter_durable_feed_started_total").increment(1);
        DurableFeed::start(&self.config, since)
    }

    /// Give up on a seamless switch: clients resync, then the held items follow.
    fn give_up(&mut self, why: &str, held: Vec<BusItem>) {
        tracing::warn!(why, "durable feed abandoned; local clients will resync");
        metrics::counter!("natter_durable_feed_failed_total").increment(1);
        self.ready.push_back(BusItem::Lagged);
        self.ready.extend(held);
        self.mode = Mode::Live;
    }

    /// Handle one step of the current mode; items to pass on go to `ready`. `false` when the
    /// bus has closed.
    /// An item of the bus while it is live: passed on; `Down` also starts the durable feed.
    fn live(&mut self, item: BusItem) {
        if matches!(item, BusItem::Down) {
            self.mode = Mode::Filling(Some(self.start_feed()));
        }
        self.ready.push_back(item);
    }

    async fn step(&mut self) -> bool {
        match std::mem::replace(&mut self.mode, Mode::Live) {
            Mode::Live => match self.inner.next().await {
                None => return false,
                Some(item) => self.live(item),
            },
            Mode::Filling(None) => match self.inner.next().await {
                None => return false,
                // Nothing filled in: resync as without a log.
                Some(item) => self.ready.push_back(item),
            },
            Mode::Filling(Some(mut feed)) => {
                tokio::select! {
                    item = self.inner.next() => match item {
                        None => return false,
                        Some(BusItem::Lagged) => {
                            let now = Instant::now();
                            self.mode = Mode::CatchingUp(CatchUp {
                                feed,
                                held: Vec::new(),
                                ask_at: now + SETTLE,
                                asked: false,
                                deadline: now + CATCH_UP_MAX,
                            });
                        }
                        Some(BusItem::Down) => self.mode = Mode::Filling(Some(feed)),
                        Some(item) => {
                            self.ready.push_back(item);
                            self.mode = Mode::Filling(Some(feed));
                        }
                    },
                    item = feed.next() => match item {
                        Some(FeedItem::Event(event)) => {
                            self.ready.push_back(BusItem::Event(event));
                            self.mode = Mode::Filling(Some(feed));
                        }
                        Some(FeedItem::CaughtUp) => self.mode = Mode::Filling(Some(feed)),
                        Some(FeedItem::Failed) | None => self.mode = Mode::Filling(None),
                    },
                }
            }
            Mode::CatchingUp(mut catch_up) => {
                tokio::select! {
                    item = catch_up.feed.next() => match item {
                        Some(FeedItem::Event(event)) => {
                            self.ready.push_back(BusItem::Event(event));
                            self.mode = Mode::CatchingUp(catch_up);
                        }
                        Some(FeedItem::CaughtUp) => {
                            tracing::info!(held = catch_up.held.len(), "durable feed caught up; back to the bus");
                            self.ready.push_back(BusItem::Resumed);
                            self.ready.extend(catch_up.held);
                        }
                        Some(FeedItem::Failed) | None => self.give_up("the feed failed", catch_up.held),
                    },
                    () = tokio::time::sleep_until(catch_up.ask_at), if !catch_up.asked => {
                        catch_up.asked = true;
                        catch_up.feed.catch_up();
                        self.mode = Mode::CatchingUp(catch_up);
                    }
                    () = tokio::time::sleep_until(catch_up.deadline) => {
                        self.give_up("the feed did not catch up in time", catch_up.held);
                    }
                    item = self.inner.next() => match item {
                        None => return false,
                        Some(BusItem::Down) if !catch_up.asked => {
                            // Down again before the feed was asked to catch up (a reconnection
                            // that did not hold, as when Redis drops clients while it loads):
                            // the feed, still reading, goes on filling in. Of what the bus
                            // delivered meanwhile, the message events come from the feed too,
                            // in order; the rest pass on, as while the bus is down.
                            self.ready.push_back(BusItem::Down);
                            self.ready.extend(
                                catch_up
                                    .held
                                    .into_iter()
                                    .filter(|item| !is_message_event(item)),
                            );
                            self.mode = Mode::Filling(Some(catch_up.feed));
                        }
                        Some(BusItem::Down) => {
                            self.give_up("the bus went down again", catch_up.held);
                            self.ready.push_back(BusItem::Down);
                            self.mode = Mode::Filling(Some(self.start_feed()));
                        }
                        Some(item) if catch_up.held.len() < HOLD_MAX => {
                            catch_up.held.push(item);
                            self.mode = Mode::CatchingUp(catch_up);
                        }
                        Some(item) => {
                            catch_up.held.push(item);
                            self.give_up("too many events held", catch_up.held);
                        }
                    },
                }
            }
        }
        true
    }
}

/// A message event (the log has every one of them).
fn is_message_event(item: &BusItem) -> bool {
    matches!(item, BusItem::Event(event) if event.message_position().is_some())
}

#[async_trait]
impl BusSubscription for Failover {
    async fn next(&mut self) -> Option<BusItem> {
        loop {
            if let Some(item) = self.ready.pop_front() {
                return Some(item);
            }
            if !self.step().await {
                return None;
            }
        }
    }

    /// Only what is already sorted out: while live, what the bus has ready. Deciding anything
    /// else (the bus going down, the feed catching up) waits for [`Self::next`].
    fn try_next(&mut self) -> Option<BusItem> {
        if let Some(item) = self.ready.pop_front() {
            return Some(item);
        }
        if !matches!(self.mode, Mode::Live) {
            return None;
        }
        let item = self.inner.try_next()?;
        self.live(item);
        self.ready.pop_front()
    }
}
