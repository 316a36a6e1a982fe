//! The hub: this node's router from bus events to local WebSocket connections.
//!
//! One task consumes the bus subscription and dispatches its events, each conversation's in
//! order. For conversation events it needs the members; it keeps a per-conversation member set,
//! loaded from the store the first time an event for that conversation arrives while anyone is
//! connected, then maintained by membership events (which arrive in commit order, see the
//! domain's per-conversation locks).
//! Each event is serialised and framed at most once and the same bytes are queued to every
//! recipient (server WebSocket frames are unmasked: identical for everyone). The hub takes every
//! event waiting on the bus, queues each to its recipients' outlets, and then writes each outlet
//! it touched once, all of its new frames in one system call (`outlet.rs`): no task is woken per
//! delivery.
//!
//! A flooded room must not hold a quiet one up (issue 12). The hub works in short steps: each
//! takes what waits on the bus, handles at once the events of a small audience whose
//! conversation has nothing waiting and writes their outlets first; the other events wait in a
//! backlog (`backlog.rs`: bus order per conversation and per subject user, barriers for the
//! bus's control items), of which each step handles a bounded number of deliveries; and the
//! outlets of those are written for a bounded time per step, oldest first. Frames keep coming
//! to outlets that wait to be written, so under load each write carries more of them.
//! A step can take milliseconds of a worker, and the node's other tasks (the connections that
//! send, whose answers and publishes a quiet room waits for) share the runtime's workers with
//! the hub, so the hub pauses every [`TURN`] within a step: it yields to them, then takes what
//! came on the bus meanwhile as a step's start does (an urgent event is handled and written at
//! once). Under a flood, a quiet room's event no longer waits for the step in progress to end
//! (an instrumented build under `natter-bench isolation`, from publish to the hub: p50 1.0-1.5
//! ms before, 0.17-0.23 ms with the pauses; BENCHMARKS.md, thirteenth round).
//!
//! A busy room's message events wait in the backlog one behind the other. The hub takes such a
//! run at once (consecutive message events of one conversation, as many as the step's budget
//! of deliveries allows, at most [`RUN_MAX`]) and hands each connected member's outlet the
//! whole run in one call: one lock and one lookup per connection instead of one per event
//! (in a room of 1,000 at saturation `Outlet::offer` fell from 10% of the server's samples to
//! 4%, and the deliveries per CPU-second rose ~10%). Anything else (a
//! membership change, another conversation's event) ends the run, so the order is the bus's.
//!
//! The member cache is bounded: past `member_cache_max` conversations, arbitrary other entries
//! are evicted. Eviction is always safe, because a set is reloaded from the store, in event
//! order, the next time its conversation has an event.
//!
//! A connection with `queue_capacity` frames waiting is dropped as a slow consumer (close 4008);
//! it reconnects and resumes without loss.
//!
//! No connection has a timer of its own: the hub's sweep ([`Hub::sweep_forever`]) closes the
//! connections not heard from within the idle timeout (4000) and asks those whose session is due
//! to check it. When the server stops, [`Hub::shut`] closes every connection with 1001 and
//! refuses new ones. If the bus reports lag, every local connection is told to
//! resync (close 4009) and the member cache is cleared.
//!
//! Message events of one conversation carry consecutive `mod_seq`s (every change is published,
//! in commit order). With many nodes a publish can still be lost: its node died between commit
//! and publish, or could not reach Redis. So per conversation the hub remembers the last
//! `mod_seq` it handled (`positions`, updated by every message event it receives, bounded like
//! the member cache); an event that skips one means an event was lost, and the local members'
//! connections are told to resync (close 4009): they resume from storage, gap-free, instead of
//! living with a hole. An event at or below the position was already handled and is dropped:
//! while the real-time bus is down a durable feed (the Kafka log) delivers message events, and
//! its replay overlaps what the bus delivered before and after.
//!
//! While the bus is down ([`BusItem::Down`] until `Resumed` or `Lagged`) membership events do
//! not arrive (the durable feed carries message events only), so cached member sets would go
//! stale: the cache is cleared and members are read from the store for each event instead, so a
//! member removed meanwhile gets nothing and one added gets everything from then on. `Resumed`
//! clears the cache again (it missed the membership events of the outage) and caching resumes.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use natter_domain::events::{Audience, Event};
use natter_domain::ports::{BusItem, BusSubscription, ConversationStore};
use natter_domain::{ConversationId, SessionId, UserId};
use natter_protocol::close_code;

use super::backlog::{Backlog, Key, Order};
use super::forwarded;
use super::frames;
use super::outlet::{Batch, Lane, Offer, Outlet, now_ms};
use super::pacing::Pacing;
use crate::media::FileService;

/// Items taken from the bus per step at most, and held in the backlog at most: beyond that they
/// wait in the bus, which tells of a lag when it overflows.
const EVENTS_PER_STEP: usize = 2048;
/// An event with at most this many members to deliver to may go ahead of the backlog.
const URGENT_AUDIENCE: usize = 64;
/// Deliveries queued from the backlog per step (at least one event).
///
/// A step queues much and writes briefly: under load, what waits in the backlog reaches the
/// outlets that wait to be written before they are, so each write carries more frames. The
/// kernel's cost per write is most of what fan-out costs; against 16,384 deliveries and 2 ms of
/// writing, a room of 1,000 at saturation gets ~30% more deliveries per server CPU-second and a
/// room of 10,000 ~45% more (BENCHMARKS.md, fifteenth round). An urgent event does not wait for
/// either budget: it is handled at the next pause ([`TURN`]).
const DELIVERIES_PER_STEP: usize = 65_536;
/// Time spent per step writing the outlets of the backlog's events (at least one outlet); see
/// [`DELIVERIES_PER_STEP`].
const WRITING_PER_STEP: Duration = Duration::from_micros(500);
/// Message events of one conversation handed to its outlets together at most (a run). Runs of
/// 128 gained nothing measurable (BENCHMARKS.md, fifteenth round).
const RUN_MAX: usize = 64;
/// How long the hub works on a step before it pauses: lets the node's other tasks run (they
/// share the runtime's workers with it) and takes what waits on the bus, so an urgent event
/// waits for a turn, not for a whole step.
const TURN: Duration = Duration::from_micros(250);

/// An encoded event. `position` is set for message events so a resuming connection can drop
/// what it already sent during catch-up.
#[derive(Debug)]
pub struct Frame {
    pub position: Option<(ConversationId, i64)>,
    /// The whole WebSocket frame, header included.
    pub wire: Bytes,
}

impl Frame {
    /// The JSON text the frame carries.
    #[cfg(test)]
    pub fn text(&self) -> &str {
        std::str::from_utf8(super::ws::frame::payload(&self.wire)).unwrap_or_default()
    }
}

#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

struct HubInner {
    /// A std Mutex: held only for map updates and `try_send`s, never across an await.
    state: Mutex<HubState>,
    conversations: Arc<dyn ConversationStore>,
    /// Signs the URLs of attachments in the frames it builds.
    files: Option<FileService>,
    queue_capacity: usize,
    member_cache_max: usize,
    /// [`TURN`], shorter in tests.
    turn: Duration,
}

/// The hub's maps, keyed by ids the server generated: hashed with foldhash (seeded per
/// process), several times faster than std's SipHash for the two lookups per recipient of every
/// event.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;

/// Where a conversation's message event stands against the last one the hub handled.
enum Position {
    /// Handled already (the bus or the durable feed delivered it again).
    Duplicate,
    /// The next one, or the first seen here.
    Next,
    /// Some were skipped: lost on the way.
    AfterGap,
}

#[derive(Default)]
struct HubState {
    /// Every connection here, by user (one map, not one per connection and one per user: an
    /// idle connection's memory is the point of `gateway/`).
    by_user: FastMap<UserId, Vec<Registration>>,
    /// The outlets queued to by urgent events, written first.
    urgent: Vec<Arc<Outlet>>,
    /// The outlets queued to by the backlog's events, written oldest first.
    dirty: VecDeque<Arc<Outlet>>,
    members: FastMap<ConversationId, FastSet<UserId>>,
    /// Last message `mod_seq` handled per conversation: exact for every conversation present
    /// (every message event updates it), cleared on `Lagged`, bounded by `member_cache_max`.
    positions: FastMap<ConversationId, i64>,
    /// The bus is down: events come from the durable feed, membership is read from the store.
    degraded: bool,
    /// The server is stopping: connections are closed with this code and no new one registers.
    shut: Option<u16>,
}

/// Why a connection was not registered.
pub enum Refused {
    /// The user has as many connections here as allowed.
    TooMany,
    /// The server is stopping (the close code to send).
    Shut(u16),
}

/// A connection registered here (its outlet is what tells it from the user's others).
struct Registration {
    /// Its session: a revoked session's connections are closed.
    session: SessionId,
    outlet: Arc<Outlet>,
}

impl HubState {
    fn drop_connection(&mut self, user: UserId, outlet: &Arc<Outlet>, code: Option<u16>) {
        let Some(registrations) = self.by_user.get_mut(&user) else {
            return;
        };
        let Some(at) = registrations
            .iter()
            .position(|r| Arc::ptr_eq(&r.outlet, outlet))
        else {
            return;
        };
        let registration = registrations.swap_remove(at);
        if registrations.is_empty() {
            self.by_user.remove(&user);
        }
        if let Some(code) = code {
            registration.outlet.kill(code);
        }
    }

    /// Close every connection `keep` refuses, with `code`.
    fn drop_connections(&mut self, code: u16, mut keep: impl FnMut(&Registration) -> bool) {
        self.by_user.retain(|_, registrations| {
            registrations.retain(|registration| {
                let kept = keep(registration);
                if !kept {
                    registration.outlet.kill(code);
                }
                kept
            });
            !registrations.is_empty()
        });
    }

    /// Record that `conversation`'s message event at `mod_seq` is handled, unless it was
    /// before (the member cache's bound, `max`, bounds the positions too).
    fn advance(&mut self, conversation: ConversationId, mod_seq: i64, max: usize) -> Position {
        match self.positions.get_mut(&conversation) {
            Some(last) if mod_seq <= *last => Position::Duplicate,
            Some(last) => {
                let skipped = mod_seq > *last + 1;
                *last = mod_seq;
                if skipped {
                    Position::AfterGap
                } else {
                    Position::Next
                }
            }
            None => {
                evict_beyond(&mut self.positions, max.saturating_sub(1), conversation);
                self.positions.insert(conversation, mod_seq);
                Position::Next
            }
        }
    }

    /// A message event of `conversation` came after a gap (`mod_seq` skipped some): the
    /// connections of `recipients` may lack what was lost, so they close to resync.
    fn resync_after_gap(
        &mut self,
        conversation: ConversationId,
        mod_seq: i64,
        recipients: &[UserId],
    ) {
        tracing::warn!(%conversation, mod_seq, "a message event was lost; members resync");
        metrics::counter!("natter_event_gaps_total").increment(1);
        for user in recipients {
            for registration in self.by_user.remove(user).into_iter().flatten() {
                registration.outlet.kill(close_code::RESYNC);
            }
        }
    }

    /// Queue `frames` (one event's, or a run of one conversation's) to every connection of
    /// `users`; drop the ones that cannot keep up. The outlets of urgent frames are written
    /// before the others. Returns the frames queued.
    fn deliver<'a>(
        &mut self,
        users: impl Iterator<Item = &'a UserId>,
        frames: &[Arc<Frame>],
        capacity: usize,
        lane: Lane,
    ) -> usize {
        let mut slow = Vec::new();
        let mut delivered = 0;
        let batch = Batch::new(frames);
        for user in users {
            for Registration { outlet, .. } in self.by_user.get(user).into_iter().flatten() {
                match outlet.offer(&batch, capacity, lane) {
                    Offer::Queued { frames, add_to } => {
                        delivered += frames;
                        match add_to {
                            Some(Lane::Urgent) => self.urgent.push(Arc::clone(outlet)),
                            Some(Lane::Bulk) => self.dirty.push_back(Arc::clone(outlet)),
                            None => {}
                        }
                    }
                    Offer::Skipped => {}
                    Offer::Full => {
                        slow.push((*user, Arc::clone(outlet), Some(close_code::SLOW_CONSUMER)));
                    }
                    Offer::Broken => slow.push((*user, Arc::clone(outlet), None)),
                }
            }
        }
        for (user, outlet, code) in slow {
            self.drop_connection(user, &outlet, code);
        }
        delivered
    }
}

impl Hub {
    pub fn new(
        conversations: Arc<dyn ConversationStore>,
        files: Option<FileService>,
        queue_capacity: usize,
        member_cache_max: usize,
    ) -> Self {
        Self {
            inner: Arc::new(HubInner {
                state: Mutex::new(HubState::default()),
                conversations,
                files,
                queue_capacity: queue_capacity.max(1),
                member_cache_max: member_cache_max.max(1),
                turn: TURN,
            }),
        }
    }

    /// The hub pausing every `turn` instead of every [`TURN`] (right after [`Hub::new`]).
    #[cfg(test)]
    fn pausing_every(mut self, turn: Duration) -> Self {
        Arc::get_mut(&mut self.inner).expect("a new hub").turn = turn;
        self
    }

    fn state(&self) -> MutexGuard<'_, HubState> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Start receiving events for `user` on `outlet`: events published from now on are held
    /// there until the connection goes live ([`Outlet::go_live`]).
    #[cfg(test)]
    pub fn register(&self, user: UserId, session: SessionId, outlet: &Arc<Outlet>) {
        Self::register_locked(&mut self.state(), user, session, outlet);
    }

    /// Start receiving events for `user` on `outlet` (held there until the connection goes
    /// live, `Outlet::go_live`), unless `user` already has `max_per_user` connections here.
    pub fn try_register(
        &self,
        user: UserId,
        session: SessionId,
        outlet: &Arc<Outlet>,
        max_per_user: usize,
    ) -> Result<(), Refused> {
        let mut state = self.state();
        if let Some(code) = state.shut {
            return Err(Refused::Shut(code));
        }
        if state.by_user.get(&user).map_or(0, Vec::len) >= max_per_user {
            return Err(Refused::TooMany);
        }
        Self::register_locked(&mut state, user, session, outlet);
        Ok(())
    }

    fn register_locked(
        state: &mut HubState,
        user: UserId,
        session: SessionId,
        outlet: &Arc<Outlet>,
    ) {
        state
            .by_user
            .entry(user)
            // Most users have one connection here.
            .or_insert_with(|| Vec::with_capacity(1))
            .push(Registration {
                session,
                outlet: Arc::clone(outlet),
            });
    }

    pub fn unregister(&self, user: UserId, outlet: &Arc<Outlet>) {
        self.state().drop_connection(user, outlet, None);
    }

    pub fn connection_count(&self) -> usize {
        self.state().by_user.values().map(Vec::len).sum()
    }

    /// Ask every local connection to close with `code` (shutdown, bus lag).
    pub fn close_all(&self, code: u16) {
        self.state().drop_connections(code, |_| false);
    }

    /// The server is stopping: close every connection with `code` and refuse new ones.
    pub fn shut(&self, code: u16) {
        self.state().shut = Some(code);
        self.close_all(code);
    }

    /// Sweep the connections until aborted, a few times per `idle` (at most every second).
    pub async fn sweep_forever(self, idle: Duration) {
        let every = (idle / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
        let idle_ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            self.sweep(now_ms(), idle_ms);
        }
    }

    /// Close the connections not heard from for `idle_ms` (4000); ask those whose session is
    /// due to check it.
    fn sweep(&self, now_ms: u64, idle_ms: u64) {
        self.state()
            .drop_connections(close_code::IDLE_TIMEOUT, |registration| {
                let heard = registration.outlet.heard_at_ms();
                let active = now_ms.saturating_sub(heard) < idle_ms;
                if active {
                    registration.outlet.check_session_if_due(now_ms);
                }
                active
            });
    }

    /// Consume the bus until it closes, in steps (see the module docs), pausing every turn.
    pub async fn run(self, subscription: Box<dyn BusSubscription>) {
        let mut subscription = forwarded::forward(subscription);
        let mut backlog = Backlog::new(URGENT_AUDIENCE);
        let mut pacing = Pacing::new(Instant::now());
        loop {
            if backlog.is_empty() {
                let dirty = !self.state().dirty.is_empty();
                let paced = pacing.wait(Instant::now()).filter(|_| dirty);
                let woken = match paced {
                    None if dirty => None,
                    None => Some(subscription.next().await),
                    // Written when due, or before if an event comes (an urgent one is written
                    // at once).
                    Some(wait) => tokio::select! {
                        item = subscription.next() => Some(item),
                        () = tokio::time::sleep(wait) => None,
                    },
                };
                if let Some(item) = woken {
                    let Some(item) = item else {
                        return;
                    };
                    self.admit(&mut backlog, item).await;
                    // Let the tasks about to publish (a commit answers many sends at once) do
                    // so first: one more scheduler turn makes the step, and each write, larger.
                    tokio::task::yield_now().await;
                }
            }
            self.take_waiting(&mut subscription, &mut backlog).await;
            let mut turn = Instant::now();
            let mut queued = 0;
            while queued < DELIVERIES_PER_STEP {
                let Some(item) = backlog.next() else {
                    break;
                };
                queued += self
                    .handle_run(item, &mut backlog, DELIVERIES_PER_STEP - queued)
                    .await;
                if turn.elapsed() >= self.inner.turn {
                    self.pause(&mut subscription, &mut backlog).await;
                    turn = Instant::now();
                }
            }
            pacing.queued(queued);
            self.write_urgent();
            let mut writing = WRITING_PER_STEP;
            loop {
                let started = Instant::now();
                self.write_for(writing.min(self.inner.turn), &mut pacing);
                let spent = started.elapsed();
                let now = Instant::now();
                pacing.wrote(spent, now);
                writing = writing.saturating_sub(spent);
                if writing.is_zero() || self.state().dirty.is_empty() || pacing.wait(now).is_some()
                {
                    break;
                }
                self.pause(&mut subscription, &mut backlog).await;
            }
            tokio::task::yield_now().await;
        }
    }

    /// Take what waits on the bus (up to the backlog's bound), handling at once what may go
    /// ahead of the backlog, and write the outlets of those urgent events.
    async fn take_waiting(
        &self,
        subscription: &mut dyn BusSubscription,
        backlog: &mut Backlog<BusItem>,
    ) {
        while backlog.len() < EVENTS_PER_STEP {
            let Some(item) = subscription.try_next() else {
                break;
            };
            self.admit(backlog, item).await;
        }
        self.write_urgent();
    }

    /// A pause within a step: let the runtime's other tasks run (a step can take milliseconds
    /// of a worker), then take what came on the bus meanwhile, as at the start of a step. What
    /// the step was doing goes on after it; the backlog keeps each conversation's order, and an
    /// outlet writes its frames in the order they were queued, so nothing is reordered.
    async fn pause(&self, subscription: &mut dyn BusSubscription, backlog: &mut Backlog<BusItem>) {
        tokio::task::yield_now().await;
        self.take_waiting(subscription, backlog).await;
    }

    /// Handle `item` now if it may go ahead of the backlog, or leave it there.
    async fn admit(&self, backlog: &mut Backlog<BusItem>, item: BusItem) {
        let order = self.order_of(&item);
        if let Some(item) = backlog.admit(order, item) {
            self.handle(item).await;
        }
    }

    /// Where `item` stands in the hub's order ([`Backlog`]): its key, and its cost as far as the
    /// member cache knows (an uncached conversation counts as small, once).
    fn order_of(&self, item: &BusItem) -> Order {
        let BusItem::Event(event) = item else {
            return Order::Barrier;
        };
        match &**event {
            Event::SessionRevoked { .. } => Order::Free,
            // In order with the conversation's other member changes (a role change carries the
            // whole member too).
            Event::MemberSettingsChanged { member } => Order::Keyed {
                key: Key::Conversation(member.conversation_id),
                cost: 1,
            },
            Event::Presence {
                user_id, audience, ..
            } => Order::Keyed {
                key: Key::Subject(*user_id),
                cost: audience.len(),
            },
            Event::UserUpdated { user, audience } => Order::Keyed {
                key: Key::Subject(user.id),
                cost: audience.len(),
            },
            event => match event.audience() {
                Audience::Conversation(conversation) => Order::Keyed {
                    key: Key::Conversation(conversation),
                    cost: self
                        .state()
                        .members
                        .get(&conversation)
                        .map_or(0, FastSet::len),
                },
                Audience::Users(_) | Audience::User(_) => Order::Free,
            },
        }
    }

    /// Write the outlets of urgent events.
    fn write_urgent(&self) {
        let urgent = std::mem::take(&mut self.state().urgent);
        for outlet in urgent {
            outlet.write_batch();
        }
    }

    /// Write the other outlets, oldest first, for about `budget` (at least one unless
    /// `pacing` says to wait).
    fn write_for(&self, budget: Duration, pacing: &mut Pacing) {
        let started = Instant::now();
        loop {
            let outlet = {
                let mut state = self.state();
                if !pacing.take(state.dirty.len(), Instant::now()) {
                    return;
                }
                state.dirty.pop_front()
            };
            let Some(outlet) = outlet else {
                pacing.none_left();
                return;
            };
            outlet.write_batch();
            if started.elapsed() >= budget {
                return;
            }
        }
    }

    /// Write every outlet queued to.
    #[cfg(test)]
    fn write_batch(&self) {
        self.write_urgent();
        self.write_for(Duration::MAX, &mut Pacing::new(Instant::now()));
    }

    /// Handle `item` and, if it is a message event, the message events of its conversation
    /// waiting right behind it, as many as `budget` deliveries allow (at most [`RUN_MAX`]): a
    /// run's frames reach each outlet in one call, one lock and one lookup per connection
    /// instead of one per event. Returns the deliveries queued.
    async fn handle_run(
        &self,
        item: BusItem,
        backlog: &mut Backlog<BusItem>,
        budget: usize,
    ) -> usize {
        let Some(conversation) = message_conversation(&item) else {
            return self.handle(item).await;
        };
        let audience = self
            .state()
            .members
            .get(&conversation)
            .map_or(1, FastSet::len)
            .max(1);
        let longest = (budget / audience).clamp(1, RUN_MAX);
        let mut run = vec![item];
        while run.len() < longest
            && let Some(next) =
                backlog.next_if(|next| message_conversation(next) == Some(conversation))
        {
            run.push(next);
        }
        if run.len() > 1
            && let Some(delivered) = self.dispatch_message_run(conversation, &run)
        {
            return delivered;
        }
        let mut delivered = 0;
        for item in run {
            delivered += self.handle(item).await;
        }
        delivered
    }

    /// Queue a run of one conversation's message events, when its members are cached and the
    /// bus is up (`None` otherwise: the caller handles them one by one). Each event's position
    /// is checked as [`Self::dispatch_to_conversation`] checks it.
    fn dispatch_message_run(&self, conversation: ConversationId, run: &[BusItem]) -> Option<usize> {
        let ready = |state: &HubState| !state.degraded && state.members.contains_key(&conversation);
        if !ready(&self.state()) {
            return None;
        }
        let encoded: Vec<(i64, Arc<Frame>)> = run
            .iter()
            .filter_map(|item| {
                let BusItem::Event(event) = item else {
                    return None;
                };
                let position = event.message_position()?;
                let frame = frames::event_frame(event, self.inner.files.as_ref())?;
                Some((
                    position.1,
                    Arc::new(Frame {
                        position: Some(position),
                        wire: frames::encode(&frame),
                    }),
                ))
            })
            .collect();
        let mut state = self.state();
        let state = &mut *state;
        if !ready(state) {
            return None;
        }
        let recipients = connected(&state.by_user, state.members.get(&conversation)?);
        let mut outbound = Vec::with_capacity(encoded.len());
        let mut gap = None;
        for (mod_seq, frame) in encoded {
            match state.advance(conversation, mod_seq, self.inner.member_cache_max) {
                Position::Duplicate => {
                    metrics::counter!("natter_duplicate_events_total").increment(1);
                }
                // After a gap nothing more is queued: those connections close to resync.
                Position::AfterGap => {
                    gap.get_or_insert(mod_seq);
                }
                Position::Next if gap.is_none() => outbound.push(frame),
                Position::Next => {}
            }
        }
        let delivered = state.deliver(
            recipients.iter(),
            &outbound,
            self.inner.queue_capacity,
            lane_for(recipients.len()),
        );
        metrics::counter!("natter_deliveries_total").increment(delivered as u64);
        if let Some(mod_seq) = gap {
            state.resync_after_gap(conversation, mod_seq, &recipients);
        }
        Some(delivered)
    }

    /// Handle a bus item; returns the deliveries it queued.
    async fn handle(&self, item: BusItem) -> usize {
        match item {
            BusItem::Event(event) => return self.dispatch(&event).await,
            BusItem::Lagged => {
                tracing::warn!("event bus lagged; local clients will resync");
                metrics::counter!("natter_bus_lagged_total").increment(1);
                {
                    let mut state = self.state();
                    state.members.clear();
                    state.positions.clear();
                    state.degraded = false;
                }
                self.close_all(close_code::RESYNC);
            }
            BusItem::Down => {
                tracing::warn!("event bus down; members are read from the store meanwhile");
                metrics::counter!("natter_bus_down_total").increment(1);
                let mut state = self.state();
                state.members.clear();
                state.degraded = true;
            }
            BusItem::Resumed => {
                tracing::info!("event bus resumed without a gap; member sets reload");
                let mut state = self.state();
                state.members.clear();
                state.degraded = false;
            }
        }
        0
    }

    /// Queue `event` to its recipients; returns the deliveries queued.
    async fn dispatch(&self, event: &Event) -> usize {
        if let Event::SessionRevoked { session_id, .. } = event {
            self.state()
                .drop_connections(close_code::SESSION_REVOKED, |r| r.session != *session_id);
            return 0;
        }
        let Some(frame) = frames::event_frame(event, self.inner.files.as_ref()) else {
            return 0;
        };
        match event.audience() {
            Audience::Conversation(conversation) => {
                self.dispatch_to_conversation(conversation, event, &frame)
                    .await
            }
            Audience::Users(users) => {
                let outbound = Arc::new(Frame {
                    position: None,
                    wire: frames::encode(&frame),
                });
                let capacity = self.inner.queue_capacity;
                self.state().deliver(
                    users.iter(),
                    std::slice::from_ref(&outbound),
                    capacity,
                    lane_for(users.len()),
                )
            }
            Audience::User(user) => {
                let outbound = Arc::new(Frame {
                    position: None,
                    wire: frames::encode(&frame),
                });
                let capacity = self.inner.queue_capacity;
                self.state().deliver(
                    std::iter::once(&user),
                    std::slice::from_ref(&outbound),
                    capacity,
                    Lane::Urgent,
                )
            }
        }
    }

    async fn dispatch_to_conversation(
        &self,
        conversation: ConversationId,
        event: &Event,
        frame: &natter_protocol::ServerFrame,
    ) -> usize {
        let position = event.message_position().map(|(_, mod_seq)| mod_seq);
        let (needs_load, degraded) = {
            let mut state = self.state();
            if let Some(mod_seq) = position
                && state
                    .positions
                    .get(&conversation)
                    .is_some_and(|last| mod_seq <= *last)
            {
                metrics::counter!("natter_duplicate_events_total").increment(1);
                return 0;
            }
            let cached = state.members.contains_key(&conversation);
            // Nobody here to deliver to and nothing cached to keep current. A cached member set
            // must see every membership event, even with no one connected, or it goes stale.
            if !cached && state.by_user.is_empty() {
                if let Some(mod_seq) = position
                    && let Some(last) = state.positions.get_mut(&conversation)
                {
                    *last = mod_seq;
                }
                return 0;
            }
            (!cached || state.degraded, state.degraded)
        };
        let loaded: Option<FastSet<UserId>> = if needs_load {
            match self.inner.conversations.members(conversation).await {
                Ok(members) => Some(members.into_iter().map(|m| m.user_id).collect()),
                Err(err) => {
                    tracing::warn!(%err, %conversation, "cannot load members; event not delivered live");
                    return 0;
                }
            }
        } else {
            None
        };
        let outbound = Arc::new(Frame {
            position: event.message_position(),
            wire: frames::encode(frame),
        });
        let mut state = self.state();
        let state = &mut *state;
        let max = self.inner.member_cache_max;
        let mut uncached;
        let members = if degraded {
            uncached = loaded.unwrap_or_default();
            &mut uncached
        } else {
            if let Some(users) = loaded {
                state.members.entry(conversation).or_insert(users);
                evict_beyond(&mut state.members, max, conversation);
            }
            match state.members.get_mut(&conversation) {
                Some(members) => members,
                None => return 0,
            }
        };
        if let Event::MemberAdded { member, .. } = event {
            members.insert(member.user_id);
        }
        let mut recipients = connected(&state.by_user, members);
        if let Event::MemberRemoved { user_id, .. } = event {
            // The removed member hears about it, then nothing more from this conversation.
            members.remove(user_id);
            if !recipients.contains(user_id) {
                recipients.push(*user_id);
            }
        }
        if let Some(mod_seq) = position {
            match state.advance(conversation, mod_seq, max) {
                Position::Next => {}
                Position::Duplicate => {
                    metrics::counter!("natter_duplicate_events_total").increment(1);
                    return 0;
                }
                Position::AfterGap => {
                    state.resync_after_gap(conversation, mod_seq, &recipients);
                    return 0;
                }
            }
        }
        let lane = lane_for(recipients.len());
        let delivered = state.deliver(
            recipients.iter(),
            std::slice::from_ref(&outbound),
            self.inner.queue_capacity,
            lane,
        );
        metrics::counter!("natter_deliveries_total").increment(delivered as u64);
        delivered
    }
}

/// The users of `members` with a connection here (`by_user`).
fn connected(
    by_user: &FastMap<UserId, Vec<Registration>>,
    members: &FastSet<UserId>,
) -> Vec<UserId> {
    if by_user.len() < members.len() {
        by_user
            .keys()
            .filter(|u| members.contains(u))
            .copied()
            .collect()
    } else {
        members
            .iter()
            .filter(|u| by_user.contains_key(u))
            .copied()
            .collect()
    }
}

/// The conversation of a message event (created or updated): such events of one conversation
/// may be handed to its outlets as a run.
fn message_conversation(item: &BusItem) -> Option<ConversationId> {
    match item {
        BusItem::Event(event) => event
            .message_position()
            .map(|(conversation, _)| conversation),
        _ => None,
    }
}

/// The list an event's outlets are written from: a small audience's first.
fn lane_for(audience: usize) -> Lane {
    if audience <= URGENT_AUDIENCE {
        Lane::Urgent
    } else {
        Lane::Bulk
    }
}

/// Remove arbitrary entries other than `keep` until `map` has at most `max` (always safe: a
/// member set is reloaded on its conversation's next event, a position starts again from it).
fn evict_beyond<V>(map: &mut FastMap<ConversationId, V>, max: usize, keep: ConversationId) {
    let excess = map.len().saturating_sub(max);
    if excess > 0 {
        let evicted: Vec<ConversationId> = map
            .keys()
            .filter(|c| **c != keep)
            .take(excess)
            .copied()
            .collect();
        for id in evicted {
            map.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {

    use natter_conformance::Stores;
    use natter_conformance::support::Fixture;
    use natter_domain::model::Message;
    use natter_domain::{SessionId, UserId};
    use natter_store_sqlite::SqliteStore;

    use super::super::outlet::peer::Peer;
    use super::*;

    pub(super) async fn fixture() -> (Fixture, Arc<dyn ConversationStore>, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("hub.db"))
            .await
            .expect("store");
        let conversations: Arc<dyn ConversationStore> = Arc::new(store.clone());
        (
            Fixture::new(Stores::from_backend(store)),
            conversations,
            dir,
        )
    }

    /// A connection of `user`, registered and live.
    pub(super) async fn live(hub: &Hub, user: UserId) -> Peer {
        let peer = Peer::connect().await;
        hub.register(user, SessionId::new(), &peer.outlet);
        peer.outlet.go_live(std::collections::HashMap::new());
        peer
    }

    /// What the hub does with an event of the bus, the batch's writes included.
    pub(super) async fn publish(hub: &Hub, event: &Event) {
        hub.dispatch(event).await;
        hub.write_batch();
    }

    fn says(frames: &[String], message: &Message) -> bool {
        frames
            .iter()
            .any(|f| f.contains(&format!("\"client_msg_id\":\"{}\"", message.client_msg_id)))
    }

    #[tokio::test]
    async fn an_evicted_member_set_is_reloaded_and_stays_correct() {
        let (f, conversations, _dir) = fixture().await;
        let [alice, bob, carol]: [UserId; 3] = f
            .users(&["alice", "bob", "carol"])
            .await
            .try_into()
            .expect("three users");
        let first = f.group(alice, &[bob]).await;
        let second = f.group(alice, &[carol]).await;
        // Room for one conversation's members only: every switch evicts the other.
        let hub = Hub::new(conversations.clone(), None, 64, 1);
        let mut bobs = live(&hub, bob).await;
        let mut carols = live(&hub, carol).await;

        let m1 = f.send(first.id, alice, "one").await;
        publish(&hub, &Event::MessageCreated(m1.clone())).await;
        let m2 = f.send(second.id, alice, "two").await;
        publish(&hub, &Event::MessageCreated(m2.clone())).await;
        assert_eq!(
            hub.state().members.len(),
            1,
            "the cache stays within its bound"
        );
        let m3 = f.send(first.id, alice, "three").await;
        publish(&hub, &Event::MessageCreated(m3.clone())).await;

        let to_bob = bobs.received().await;
        let to_carol = carols.received().await;
        assert!(
            says(&to_bob, &m1) && says(&to_bob, &m3) && !says(&to_bob, &m2),
            "{to_bob:?}"
        );
        assert!(
            says(&to_carol, &m2) && !says(&to_carol, &m1) && !says(&to_carol, &m3),
            "{to_carol:?}"
        );

        // Bob is removed while the first group's set is evicted: the reload reflects it.
        let m4 = f.send(second.id, alice, "four").await;
        publish(&hub, &Event::MessageCreated(m4)).await;
        conversations
            .remove_member(first.id, bob, 0)
            .await
            .expect("remove bob");
        publish(
            &hub,
            &Event::MemberRemoved {
                conversation_id: first.id,
                user_id: bob,
                by: alice,
            },
        )
        .await;
        let m5 = f.send(first.id, alice, "five").await;
        publish(&hub, &Event::MessageCreated(m5.clone())).await;
        let to_bob = bobs.received().await;
        assert!(
            to_bob.iter().any(|f| f.contains("member.removed")),
            "bob hears of his removal: {to_bob:?}"
        );
        assert!(!says(&to_bob, &m5), "and nothing after it: {to_bob:?}");
    }

    #[tokio::test]
    async fn the_sweep_closes_idle_connections_and_asks_for_due_session_checks() {
        let (f, conversations, _dir) = fixture().await;
        let [alice, bob]: [UserId; 2] = f.users(&["alice", "bob"]).await.try_into().unwrap();
        let hub = Hub::new(conversations, None, 64, 100);
        let quiet = live(&hub, alice).await;
        let talking = live(&hub, bob).await;
        talking.outlet.session_left(Some(Duration::ZERO));
        let later = now_ms() + 5_000;
        talking.outlet.heard_at(later);

        hub.sweep(later, 10_000);
        assert_eq!(quiet.outlet.killed(), None, "within the idle timeout");
        assert!(talking.outlet.take_session_check(), "the session is due");
        assert!(!talking.outlet.take_session_check(), "asked once");

        hub.sweep(later + 6_000, 10_000);
        assert_eq!(quiet.outlet.killed(), Some(close_code::IDLE_TIMEOUT));
        assert_eq!(
            talking.outlet.killed(),
            None,
            "heard from 6 s later than alice"
        );
        assert_eq!(hub.connection_count(), 1);
        assert!(!talking.outlet.take_session_check(), "not due again");
    }

    #[tokio::test]
    async fn a_shut_hub_closes_every_connection_and_refuses_new_ones() {
        let (f, conversations, _dir) = fixture().await;
        let [alice]: [UserId; 1] = f.users(&["alice"]).await.try_into().unwrap();
        let hub = Hub::new(conversations, None, 64, 100);
        let open = live(&hub, alice).await;
        hub.shut(1001);
        assert_eq!(open.outlet.killed(), Some(1001));
        let late = Peer::connect().await;
        assert!(matches!(
            hub.try_register(alice, SessionId::new(), &late.outlet, 10),
            Err(Refused::Shut(1001))
        ));
    }

    #[tokio::test]
    async fn a_lost_message_event_makes_the_members_resync() {
        let (f, conversations, _dir) = fixture().await;
        let [alice, bob, carol]: [UserId; 3] = f
            .users(&["alice", "bob", "carol"])
            .await
            .try_into()
            .expect("three users");
        let group = f.group(alice, &[bob]).await;
        let other = f.group(alice, &[carol]).await;
        let hub = Hub::new(conversations, None, 64, 100);
        let mut bobs = live(&hub, bob).await;
        let mut carols = live(&hub, carol).await;

        let m1 = f.send(group.id, alice, "one").await;
        publish(&hub, &Event::MessageCreated(m1.clone())).await;
        let m2 = f.send(group.id, alice, "two").await;
        publish(&hub, &Event::MessageCreated(m2.clone())).await;
        assert!(says(&bobs.received().await, &m2));
        assert_eq!(bobs.outlet.killed(), None, "consecutive events: no resync");

        // The event of m3 is never published (its node died after the commit).
        let _m3 = f.send(group.id, alice, "three").await;
        let m4 = f.send(group.id, alice, "four").await;
        let c1 = f.send(other.id, alice, "elsewhere").await;
        publish(&hub, &Event::MessageCreated(m4.clone())).await;
        publish(&hub, &Event::MessageCreated(c1.clone())).await;
        assert!(!says(&bobs.received().await, &m4), "no event after a hole");
        assert_eq!(
            bobs.outlet.killed(),
            Some(close_code::RESYNC),
            "bob resumes from storage"
        );
        assert!(
            says(&carols.received().await, &c1),
            "other conversations are not disturbed"
        );
        assert_eq!(carols.outlet.killed(), None);
    }
}

#[cfg(test)]
mod run_tests {
    //! Runs: consecutive message events of one conversation handed to its outlets together.

    use natter_domain::UserId;
    use natter_domain::model::Message;

    use super::super::outlet::peer::Peer;
    use super::tests::{fixture, live, publish};
    use super::*;

    /// The backlog the hub's step would hold: `events` waiting in order.
    fn waiting(events: Vec<Event>) -> Backlog<BusItem> {
        let mut backlog = Backlog::new(URGENT_AUDIENCE);
        for event in events {
            let key = match event.audience() {
                Audience::Conversation(conversation) => Key::Conversation(conversation),
                _ => unreachable!("conversation events only"),
            };
            let order = Order::Keyed {
                key,
                cost: usize::MAX,
            };
            assert!(
                backlog
                    .admit(order, BusItem::Event(Arc::new(event)))
                    .is_none()
            );
        }
        backlog
    }

    /// One turn of the step's loop: the next item and the run behind it; then the writes.
    async fn one_turn(hub: &Hub, backlog: &mut Backlog<BusItem>) -> usize {
        let item = backlog.next().expect("an item waits");
        let queued = hub.handle_run(item, backlog, DELIVERIES_PER_STEP).await;
        hub.write_batch();
        queued
    }

    /// The texts of the `message.*` frames and the types of the others, in order.
    async fn received(peer: &mut Peer) -> Vec<String> {
        let mut seen = Vec::new();
        for text in peer.received().await {
            let json: serde_json::Value = serde_json::from_str(&text).expect("json");
            match json["message"]["text"].as_str() {
                Some(text) => seen.push(text.to_owned()),
                None => seen.push(json["type"].as_str().expect("type").to_owned()),
            }
        }
        seen
    }

    fn created(message: &Message) -> Event {
        Event::MessageCreated(message.clone())
    }

    /// Alice and Bob in a group, Bob connected; the hub has handled "one" (members cached).
    struct Pair {
        f: natter_conformance::support::Fixture,
        hub: Hub,
        bobs: Peer,
        group: natter_domain::model::Conversation,
        alice: UserId,
        bob: UserId,
        _dir: tempfile::TempDir,
    }

    async fn alice_and_bob_after_one() -> Pair {
        let (f, conversations, _dir) = fixture().await;
        let [alice, bob]: [UserId; 2] = f.users(&["alice", "bob"]).await.try_into().unwrap();
        let group = f.group(alice, &[bob]).await;
        let hub = Hub::new(conversations, None, 64, 100);
        let bobs = live(&hub, bob).await;
        let m1 = f.send(group.id, alice, "one").await;
        publish(&hub, &created(&m1)).await;
        Pair {
            f,
            hub,
            bobs,
            group,
            alice,
            bob,
            _dir,
        }
    }

    #[tokio::test]
    async fn a_run_reaches_every_member_in_one_turn_in_order_without_duplicates() {
        let (f, conversations, _dir) = fixture().await;
        let [alice, bob, carol]: [UserId; 3] = f
            .users(&["alice", "bob", "carol"])
            .await
            .try_into()
            .expect("three users");
        let group = f.group(alice, &[bob, carol]).await;
        let hub = Hub::new(conversations, None, 64, 100);
        let mut bobs = live(&hub, bob).await;
        let mut carols = live(&hub, carol).await;
        let m1 = f.send(group.id, alice, "one").await;
        publish(&hub, &created(&m1)).await;

        let [m2, m3, m4] = [
            f.send(group.id, alice, "two").await,
            f.send(group.id, alice, "three").await,
            f.send(group.id, alice, "four").await,
        ];
        let mut backlog = waiting(vec![created(&m2), created(&m3), created(&m2), created(&m4)]);
        assert_eq!(
            one_turn(&hub, &mut backlog).await,
            6,
            "three frames to two members"
        );
        assert!(backlog.is_empty(), "one run took them all");
        for peer in [&mut bobs, &mut carols] {
            assert_eq!(received(peer).await, ["one", "two", "three", "four"]);
        }
    }

    #[tokio::test]
    async fn a_run_ends_at_an_event_of_another_kind() {
        let Pair {
            f,
            hub,
            mut bobs,
            group,
            alice,
            bob,
            _dir,
        } = alice_and_bob_after_one().await;

        let m2 = f.send(group.id, alice, "two").await;
        let m3 = f.send(group.id, alice, "three").await;
        let removed = Event::MemberRemoved {
            conversation_id: group.id,
            user_id: bob,
            by: alice,
        };
        let mut backlog = waiting(vec![created(&m2), removed, created(&m3)]);
        one_turn(&hub, &mut backlog).await;
        assert_eq!(backlog.len(), 2, "the removal is not part of the run");
        while !backlog.is_empty() {
            one_turn(&hub, &mut backlog).await;
        }
        assert_eq!(
            received(&mut bobs).await,
            ["one", "two", "member.removed"],
            "nothing after the removal"
        );
    }

    #[tokio::test]
    async fn a_run_of_duplicates_alone_leaves_the_connections_as_they_were() {
        let Pair {
            f,
            hub,
            mut bobs,
            group,
            alice,
            bob: _,
            _dir,
        } = alice_and_bob_after_one().await;

        // "one" again, twice (a redelivery): nothing to send, and the connection stays.
        let m1 = f.messages.message(group.id, 1).await.unwrap().unwrap();
        let mut backlog = waiting(vec![created(&m1), created(&m1)]);
        assert_eq!(one_turn(&hub, &mut backlog).await, 0);
        assert!(
            !bobs.outlet.pending(),
            "nothing queued, not even an empty write"
        );
        let m2 = f.send(group.id, alice, "two").await;
        publish(&hub, &created(&m2)).await;
        assert_eq!(received(&mut bobs).await, ["one", "two"]);
        assert_eq!(bobs.outlet.killed(), None);
    }

    #[tokio::test]
    async fn a_gap_inside_a_run_delivers_what_came_before_it_then_resyncs() {
        let Pair {
            f,
            hub,
            mut bobs,
            group,
            alice,
            bob: _,
            _dir,
        } = alice_and_bob_after_one().await;

        let m2 = f.send(group.id, alice, "two").await;
        // The event of "three" is never published.
        let _m3 = f.send(group.id, alice, "three").await;
        let m4 = f.send(group.id, alice, "four").await;
        let m5 = f.send(group.id, alice, "five").await;
        let mut backlog = waiting(vec![created(&m2), created(&m4), created(&m5)]);
        one_turn(&hub, &mut backlog).await;
        assert!(backlog.is_empty());
        assert_eq!(received(&mut bobs).await, ["one", "two"]);
        assert_eq!(bobs.outlet.killed(), Some(close_code::RESYNC));
    }
}

#[cfg(test)]
mod durable_feed_tests {
    //! The hub while the durable feed fills in for the bus: duplicates dropped, members read
    //! from the store.

    use natter_domain::UserId;
    use natter_domain::model::{Message, Role};

    use super::super::outlet::peer::Peer;
    use super::tests::{fixture, live, publish};
    use super::*;

    /// The `client_msg_id`s of the `message.*` frames received so far.
    async fn received(peer: &mut Peer) -> Vec<String> {
        let mut ids = Vec::new();
        for text in peer.received().await {
            let json: serde_json::Value = serde_json::from_str(&text).expect("json");
            if let Some(id) = json["message"]["client_msg_id"].as_str() {
                ids.push(id.to_owned());
            }
        }
        ids
    }

    fn ids(messages: &[&Message]) -> Vec<String> {
        messages
            .iter()
            .map(|m| m.client_msg_id.to_string())
            .collect()
    }

    #[tokio::test]
    async fn an_event_at_or_below_the_position_is_dropped() {
        let (f, conversations, _dir) = fixture().await;
        let [alice, bob]: [UserId; 2] = f.users(&["alice", "bob"]).await.try_into().unwrap();
        let group = f.group(alice, &[bob]).await;
        let hub = Hub::new(conversations, None, 64, 100);
        let mut bobs = live(&hub, bob).await;
        let m1 = f.send(group.id, alice, "one").await;
        let m2 = f.send(group.id, alice, "two").await;
        let m3 = f.send(group.id, alice, "three").await;
        // The bus delivered m1 and m2; the durable feed replays from m1.
        for message in [&m1, &m2, &m1, &m2, &m3] {
            publish(&hub, &Event::MessageCreated(message.clone())).await;
        }
        assert_eq!(received(&mut bobs).await, ids(&[&m1, &m2, &m3]));
        assert_eq!(bobs.outlet.killed(), None);
    }

    #[tokio::test]
    async fn while_the_bus_is_down_members_come_from_the_store() {
        let (f, conversations, _dir) = fixture().await;
        let [alice, bob, carol]: [UserId; 3] = f
            .users(&["alice", "bob", "carol"])
            .await
            .try_into()
            .unwrap();
        let group = f.group(alice, &[bob]).await;
        let hub = Hub::new(conversations.clone(), None, 64, 100);
        let mut bobs = live(&hub, bob).await;
        let mut carols = live(&hub, carol).await;
        let m1 = f.send(group.id, alice, "one").await;
        publish(&hub, &Event::MessageCreated(m1.clone())).await;

        hub.handle(BusItem::Down).await;
        // Membership changes whose events are lost with the bus.
        conversations
            .remove_member(group.id, bob, 0)
            .await
            .expect("remove bob");
        conversations
            .add_member(group.id, carol, Role::Member, 0)
            .await
            .expect("add carol");
        let m2 = f.send(group.id, alice, "two").await;
        publish(&hub, &Event::MessageCreated(m2.clone())).await;
        assert_eq!(received(&mut bobs).await, ids(&[&m1]), "bob left");
        assert_eq!(received(&mut carols).await, ids(&[&m2]), "carol joined");

        // Back to the cache, reloaded: still right.
        hub.handle(BusItem::Resumed).await;
        let m3 = f.send(group.id, alice, "three").await;
        publish(&hub, &Event::MessageCreated(m3.clone())).await;
        assert_eq!(received(&mut bobs).await, Vec::<String>::new());
        assert_eq!(received(&mut carols).await, ids(&[&m3]));
        assert_eq!(carols.outlet.killed(), None, "no resync");
    }
}

#[cfg(test)]
mod order_tests {
    use natter_conformance::support::Fixture;
    use natter_domain::UserId;
    use natter_domain::ports::EventBus;

    use super::tests::fixture;
    use super::*;
    use crate::embedded::MemoryBus;

    /// More users than an urgent audience holds, so a group of all of them is big.
    async fn more_than_an_urgent_audience(f: &Fixture) -> Vec<UserId> {
        let names: Vec<String> = (0..=URGENT_AUDIENCE + 5).map(|i| format!("m{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        f.users(&names).await
    }

    /// The texts of the message events among `frames`, in order.
    fn message_texts(frames: &[String]) -> Vec<String> {
        frames
            .iter()
            .filter_map(|frame| {
                let json: serde_json::Value = serde_json::from_str(frame).expect("json");
                json["message"]["text"].as_str().map(str::to_owned)
            })
            .collect()
    }

    #[tokio::test]
    async fn an_event_of_a_small_conversation_goes_out_in_the_middle_of_a_step() {
        let (f, conversations, _dir) = fixture().await;
        let users = more_than_an_urgent_audience(&f).await;
        let (alice, others): (&UserId, &[UserId]) = users.split_first().expect("users");
        let (carol, bobs) = others.split_last().expect("users");
        let big = f.group(*alice, bobs).await;
        let small = f.group(*alice, &[*carol]).await;
        // A pause after every run and every outlet written.
        let hub = Hub::new(conversations, None, 64, 100).pausing_every(Duration::ZERO);
        let mut bobs_peers = Vec::new();
        for bob in bobs {
            bobs_peers.push(super::tests::live(&hub, *bob).await);
        }
        let mut carols = super::tests::live(&hub, *carol).await;

        // Stored now: only its publish comes in the middle of the step.
        let b1 = f.send(small.id, *alice, "b1").await;
        // The big group's events fill a step; the hub starts it and pauses.
        let bus = MemoryBus::new(64);
        let subscription = bus.subscribe();
        for text in ["a1", "a2", "a3"] {
            let message = f.send(big.id, *alice, text).await;
            bus.publish(Event::MessageCreated(message))
                .await
                .expect("publish");
        }
        let running = tokio::spawn(hub.clone().run(subscription));
        let started = tokio::time::Instant::now() + Duration::from_secs(10);
        while hub.state().dirty.is_empty() && tokio::time::Instant::now() < started {
            tokio::task::yield_now().await;
        }
        assert!(!hub.state().dirty.is_empty(), "the step has begun writing");

        // Carol's event comes in the middle of it: handled and written at the hub's next turn,
        // while the big group's outlets still wait.
        bus.publish(Event::MessageCreated(b1))
            .await
            .expect("publish");
        let written =
            |hub: &Hub| hub.state().positions.contains_key(&small.id) && !carols.outlet.pending();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !written(&hub) && tokio::time::Instant::now() < deadline {
            tokio::task::yield_now().await;
        }
        assert!(written(&hub), "carol's event was handled and written");
        assert!(
            !hub.state().dirty.is_empty(),
            "before the step had written the big group's outlets"
        );

        assert_eq!(message_texts(&carols.received().await), ["b1"]);
        for peer in &mut bobs_peers {
            assert_eq!(message_texts(&peer.received().await), ["a1", "a2", "a3"]);
        }
        running.abort();
    }

    #[tokio::test]
    async fn a_small_conversation_goes_ahead_of_a_big_ones_backlog_each_in_its_order() {
        let (f, conversations, _dir) = fixture().await;
        let users = more_than_an_urgent_audience(&f).await;
        let (alice, others): (&UserId, &[UserId]) = users.split_first().expect("users");
        let big = f.group(*alice, others).await;
        let small = f.group(*alice, &others[..1]).await;
        let hub = Hub::new(conversations, None, 64, 100);
        let mut alices = super::tests::live(&hub, *alice).await;

        // Everything is on the bus before the hub starts: in bus order alice's connection would
        // get a1 a2 a3 b1. a1 is the big group's first event (its members not cached yet, so it
        // counts as small); a2 and a3 are known to be big and wait; b1 goes ahead of them.
        let bus = MemoryBus::new(64);
        let subscription = bus.subscribe();
        for (conversation, text) in [
            (big.id, "a1"),
            (big.id, "a2"),
            (big.id, "a3"),
            (small.id, "b1"),
        ] {
            let message = f.send(conversation, *alice, text).await;
            bus.publish(Event::MessageCreated(message))
                .await
                .expect("publish");
        }
        let running = tokio::spawn(hub.clone().run(subscription));

        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut texts = Vec::new();
        while texts.len() < 4 && tokio::time::Instant::now() < deadline {
            texts.extend(message_texts(&alices.received().await));
        }
        running.abort();
        assert_eq!(texts, ["a1", "b1", "a2", "a3"]);
    }
}
