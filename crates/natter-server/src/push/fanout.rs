//! Planning: each queued message, in commit order, becomes one delivery per (device, message)
//! of every user [`natter_domain::notify::plan`] picks, written together with the removal of the
//! queue entry, a look's entries in one transaction ([`plan_all`]); a queued read (the cursor
//! passed what was pushed) becomes a withdraw for each of the reader's devices. A crash before
//! that commit plans the message again, which adds nothing twice. Scaled out, messages are
//! planned as their Kafka records arrive, a batch of records through the same [`plan_all`]
//! (`from_kafka.rs`), and the queue's planner takes what Kafka left after a grace period.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use natter_domain::Ports;
use natter_domain::model::{ConversationKind, Message};
use natter_domain::notify::{
    NewDelivery, Payload, PlanInput, PlannedEntry, PushQueue, Queued, QueuedMessage, plan,
};
use natter_domain::ports::StoreResult;
use natter_domain::push::PushDevice;
use natter_domain::{ConversationId, UserId};
use tokio::time::Instant;

use crate::config::NotifierConfig;

/// Messages planned per look at the queue. A look costs a read of the queue, one of devices
/// and a write whatever its size, so behind a stream of sends larger looks keep up: at 20,000
/// sends/s offered, looks of 256 planned ~9,700 messages a second, looks of 1,024 kept the
/// backlog under ~4,000 (the deliveries of one transaction stay bounded by
/// [`WRITE_AT_DELIVERIES`]).
const BATCH: u32 = 1024;
/// A look's plans are written as soon as they hold this many deliveries: a transaction of a
/// whole look of messages to large rooms with devices would hold the writer (and every send)
/// for long.
const WRITE_AT_DELIVERIES: usize = 4096;
/// While the queue keeps filling, a look at most this long after the previous one: entries wait
/// up to this long and a look plans many in one transaction. A look per wake-up (a commit) was
/// a write per message, and at 2,000 sends/s the planner's commits nearly doubled the writer's
/// (3,857 fsyncs/s). A full look is followed by the next at once.
pub(super) const LOOK_SPACING: Duration = Duration::from_millis(10);

/// Plans the queue's entries; `kafka_first`: messages are Kafka's to plan for
/// [`super::KAFKA_GRACE`] after their commit.
pub async fn run(
    queue: Arc<dyn PushQueue>,
    ports: Ports,
    config: Arc<NotifierConfig>,
    kafka_first: bool,
    wake: Arc<super::wake::Wake>,
) {
    let grace_ms = if kafka_first {
        i64::try_from(super::KAFKA_GRACE.as_millis()).unwrap_or(i64::MAX)
    } else {
        0
    };
    let mut last_look: Option<Instant> = None;
    loop {
        if super::paused(&config) {
            tokio::time::sleep(super::IDLE_POLL).await;
            continue;
        }
        if let Some(at) = last_look {
            tokio::time::sleep_until(at + LOOK_SPACING).await;
        }
        last_look = Some(Instant::now());
        let messages_before = ports
            .clock
            .now_ms()
            .saturating_sub(grace_ms)
            .saturating_add(1);
        let queued = match queue.queued(BATCH, messages_before).await {
            Ok(queued) => queued,
            Err(err) => {
                tracing::warn!(%err, "push queue unreadable");
                tokio::time::sleep(super::IDLE_POLL).await;
                continue;
            }
        };
        if queued.is_empty() {
            wake.until_plan().await;
            continue;
        }
        if queued.len() >= BATCH as usize {
            last_look = None;
        }
        if let Err(err) = plan_all(queue.as_ref(), &ports, &config, queued).await {
            // Still queued: planned again at the next look.
            tracing::warn!(%err, "push not planned yet");
            tokio::time::sleep(super::IDLE_POLL).await;
        }
        wake.send();
    }
}

/// Plan `entries` in order and write each one's deliveries with the removal of its entry, in as
/// few transactions as their order and size allow: one for a whole look at the queue, unless a
/// change's planning must read what the pushes planned before it showed (they are then written
/// first) or the plans reach [`WRITE_AT_DELIVERIES`].
/// On an error, what was planned before it is written and the error returned; the rest stay
/// queued.
pub async fn plan_all(
    queue: &dyn PushQueue,
    ports: &Ports,
    config: &NotifierConfig,
    entries: Vec<QueuedMessage>,
) -> StoreResult<()> {
    plan_all_knowing(queue, ports, config, entries, &HashMap::new()).await
}

/// [`plan_all`], with messages already at hand by (conversation, seq) (a batch of Kafka
/// records carries them): those are not read from the message store again.
pub async fn plan_all_knowing(
    queue: &dyn PushQueue,
    ports: &Ports,
    config: &NotifierConfig,
    entries: Vec<QueuedMessage>,
    known: &HashMap<(ConversationId, i64), Message>,
) -> StoreResult<()> {
    let now_ms = ports.clock.now_ms();
    let messages_in: Vec<ConversationId> = entries
        .iter()
        .filter(|queued| queued.kind == Queued::Message)
        .map(|queued| queued.conversation_id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    // A look without a new message (read cursors, changes) has nothing to ask.
    let with_devices = if messages_in.is_empty() {
        HashSet::new()
    } else {
        ports.push.with_member_devices(&messages_in).await?
    };
    let mut planned = Vec::with_capacity(entries.len());
    let mut deliveries = 0;
    for queued in entries {
        if queued.kind == Queued::Changed || deliveries >= WRITE_AT_DELIVERIES {
            queue.fan_out(&planned, now_ms).await?;
            planned.clear();
            deliveries = 0;
        }
        match plan_one(queue, ports, config, &with_devices, known, queued, now_ms).await {
            Ok(entry) => {
                deliveries += entry.deliveries.len();
                planned.push(entry);
            }
            Err(err) => {
                queue.fan_out(&planned, now_ms).await?;
                return Err(err);
            }
        }
    }
    queue.fan_out(&planned, now_ms).await
}

/// The deliveries one queue entry calls for (reads only). `with_devices`: the conversations of
/// the look's messages where a member has a device.
async fn plan_one(
    queue: &dyn PushQueue,
    ports: &Ports,
    config: &NotifierConfig,
    with_devices: &HashSet<ConversationId>,
    known: &HashMap<(ConversationId, i64), Message>,
    queued: QueuedMessage,
    now_ms: i64,
) -> StoreResult<PlannedEntry> {
    let (conversation, seq) = (queued.conversation_id, queued.seq);
    let deliveries = match queued.kind {
        Queued::Read(reader) => withdrawals(queue, ports, conversation, seq, &[reader]).await?,
        // Only members with a device can be pushed to: where none has one, nothing is read for
        // the message (at 20,000 sends/s offered the planner kept up with ~2,200 messages/s
        // when it read each message and its conversation's devices).
        Queued::Message if !with_devices.contains(&conversation) => Vec::new(),
        Queued::Message => {
            let devices = ports.push.member_devices(conversation).await?;
            let message = match known.get(&(conversation, seq)) {
                Some(message) => Some(message.clone()),
                None => ports.messages.message(conversation, seq).await?,
            };
            match message {
                Some(message) => {
                    deliveries_to(queue, ports, &message, devices, config, now_ms).await?
                }
                None => Vec::new(),
            }
        }
        Queued::Changed => match ports.messages.message(conversation, seq).await? {
            Some(message) => updates(queue, ports, config, &message, now_ms).await?,
            None => Vec::new(),
        },
    };
    Ok(PlannedEntry {
        queue_id: queued.queue_id,
        deliveries,
    })
}

/// A message someone's devices show changed: deleted, their devices withdraw it; edited since
/// it was pushed, it is pushed again, silently, with the new text (the collapse key replaces
/// the one shown); a reaction changes nothing shown.
async fn updates(
    queue: &dyn PushQueue,
    ports: &Ports,
    config: &NotifierConfig,
    message: &Message,
    now_ms: i64,
) -> StoreResult<Vec<NewDelivery>> {
    let shown = queue.shown_to(message.conversation_id, message.seq).await?;
    if message.deleted {
        let users: Vec<UserId> = shown.iter().map(|(user, _)| *user).collect();
        return withdrawals(queue, ports, message.conversation_id, message.seq, &users).await;
    }
    let edited_since: HashSet<UserId> = shown
        .iter()
        .filter(|(_, pushed_at)| message.edited_at_ms.is_some_and(|at| at > *pushed_at))
        .map(|(user, _)| *user)
        .collect();
    if edited_since.is_empty() {
        return Ok(Vec::new());
    }
    let mut deliveries = deliveries_for(queue, ports, message, config, now_ms).await?;
    deliveries.retain(|delivery| edited_since.contains(&delivery.user));
    let revision = message.edited_at_ms.unwrap_or_default();
    for delivery in &mut deliveries {
        if let Payload::Alert(content) = &mut delivery.payload {
            content.quiet = true;
            content.revision = revision;
        }
    }
    Ok(deliveries)
}

/// The deliveries a new message calls for: one per device of every user
/// [`natter_domain::notify::plan`] picks (none for a conversation gone since, or a message
/// older than `notifier.max_age_s`, whose pushes would be given up anyway: planned after a
/// long outage, it would only wake phones for what is stale).
async fn deliveries_for(
    queue: &dyn PushQueue,
    ports: &Ports,
    message: &Message,
    config: &NotifierConfig,
    now_ms: i64,
) -> StoreResult<Vec<NewDelivery>> {
    // Only members with a device can be pushed to, so their devices come first (one join from
    // the members): where nobody but the sender has one, nothing else is read. A room of 1,000
    // without devices read its 1,000 members for every message, then asked for their devices
    // (at fan-out saturation, SQLite and malloc fell from ~27% of the server's profile to ~12%
    // with this join); the rest are left out before their presence, settings and unread
    // totals are read (an unread total counts messages, and a room of 100 where nobody has a
    // device cost a core at 200 messages/s).
    let devices = ports.push.member_devices(message.conversation_id).await?;
    deliveries_to(queue, ports, message, devices, config, now_ms).await
}

/// [`deliveries_for`] once the devices of the conversation's members are known.
async fn deliveries_to(
    queue: &dyn PushQueue,
    ports: &Ports,
    message: &Message,
    devices: Vec<PushDevice>,
    config: &NotifierConfig,
    now_ms: i64,
) -> StoreResult<Vec<NewDelivery>> {
    if now_ms.saturating_sub(message.created_at_ms) > config.max_age_ms() {
        metrics::counter!("natter_push_messages_too_old_total").increment(1);
        return Ok(Vec::new());
    }
    if devices
        .iter()
        .all(|device| device.user == message.sender_id)
    {
        return Ok(Vec::new());
    }
    let Some(conversation) = ports
        .conversations
        .conversation(message.conversation_id)
        .await?
    else {
        return Ok(Vec::new());
    };
    let members = ports.conversations.members(conversation.id).await?;
    let candidates: Vec<UserId> = members
        .iter()
        .filter(|m| m.user_id != message.sender_id && m.read_seq < message.seq)
        .map(|m| m.user_id)
        .filter(|user| devices.iter().any(|device| device.user == *user))
        .collect();
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let online: HashSet<UserId> = ports
        .presence
        .online(&candidates)
        .await?
        .into_iter()
        .collect();
    let settings: HashMap<_, _> = ports
        .push
        .notification_settings(&candidates)
        .await?
        .into_iter()
        .collect();
    let unread: HashMap<_, _> = queue
        .unread_totals(&candidates)
        .await?
        .into_iter()
        .collect();
    let sender_name = ports
        .accounts
        .user(message.sender_id)
        .await?
        .map(|user| user.display_name.as_str().to_owned())
        .unwrap_or_else(|| "Someone".to_owned());
    let planned = plan(&PlanInput {
        message,
        kind: conversation.kind,
        conversation_name: match conversation.kind {
            ConversationKind::Group => conversation.name.as_ref().map(|name| name.as_str()),
            ConversationKind::Direct => None,
        },
        sender_name: &sender_name,
        members: &members,
        online: &online,
        settings: &settings,
        unread: &unread,
        now_ms,
    });
    let deliveries: Vec<NewDelivery> = planned
        .iter()
        .flat_map(|(user, content)| {
            devices
                .iter()
                .filter(move |device| device.user == *user)
                .map(move |device| NewDelivery {
                    user: *user,
                    device: device.id,
                    payload: Payload::Alert(content.clone()),
                })
        })
        .collect();
    metrics::counter!("natter_push_deliveries_planned_total").increment(deliveries.len() as u64);
    Ok(deliveries)
}

/// A withdraw of what `users`' devices show of the conversation up to `seq` (read on any of
/// their devices, or deleted), each with the user's unread total as the badge.
async fn withdrawals(
    queue: &dyn PushQueue,
    ports: &Ports,
    conversation_id: ConversationId,
    seq: i64,
    users: &[UserId],
) -> StoreResult<Vec<NewDelivery>> {
    if users.is_empty() {
        return Ok(Vec::new());
    }
    let devices = ports.push.devices_of(users).await?;
    let badges: HashMap<UserId, i64> = queue.unread_totals(users).await?.into_iter().collect();
    Ok(devices
        .iter()
        .map(|device| NewDelivery {
            user: device.user,
            device: device.id,
            payload: Payload::Withdraw {
                conversation_id,
                read_seq: seq,
                badge: badges
                    .get(&device.user)
                    .map(|count| u32::try_from(*count).unwrap_or(u32::MAX)),
            },
        })
        .collect())
}
