//! Planning: each queued message, in commit order, becomes one delivery per (device, message)
//! of every user [`natter_domain::notify::plan`] picks, written together with the removal of the
//! queue entry in one transaction; a queued read (the cursor passed what was pushed) becomes a
//! withdraw for each of the reader's devices. A crash before that commit plans the message
//! again, which adds nothing twice. Scaled out, messages come through Kafka instead
//! (`from_kafka.rs`, with the same [`deliveries_for`]) and only reads are queued.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use natter_domain::Ports;
use natter_domain::UserId;
use natter_domain::model::{ConversationKind, Message};
use natter_domain::notify::{NewDelivery, Payload, PlanInput, PushQueue, QueuedMessage, plan};
use natter_domain::ports::StoreResult;

use crate::config::NotifierConfig;

/// Messages planned per look at the queue.
const BATCH: u32 = 32;

/// Plans the queue's entries; `kafka_first`: messages are Kafka's to plan for
/// [`super::KAFKA_GRACE`] after their commit.
pub async fn run(
    queue: Arc<dyn PushQueue>,
    ports: Ports,
    config: Arc<NotifierConfig>,
    kafka_first: bool,
) {
    let grace_ms = if kafka_first {
        i64::try_from(super::KAFKA_GRACE.as_millis()).unwrap_or(i64::MAX)
    } else {
        0
    };
    loop {
        if super::paused(&config) {
            tokio::time::sleep(super::IDLE_POLL).await;
            continue;
        }
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
            tokio::time::sleep(super::IDLE_POLL).await;
            continue;
        }
        for message in queued {
            if let Err(err) = plan_one(queue.as_ref(), &ports, &config, message).await {
                // Still queued: planned again at the next look.
                tracing::warn!(%err, seq = message.seq, "push not planned yet");
                tokio::time::sleep(super::IDLE_POLL).await;
                break;
            }
        }
    }
}

async fn plan_one(
    queue: &dyn PushQueue,
    ports: &Ports,
    config: &NotifierConfig,
    queued: QueuedMessage,
) -> StoreResult<()> {
    let now_ms = ports.clock.now_ms();
    if let Some(reader) = queued.reader {
        return withdraw(queue, ports, queued, reader, now_ms).await;
    }
    let message = ports
        .messages
        .message(queued.conversation_id, queued.seq)
        .await?;
    let deliveries = match message {
        Some(message) => deliveries_for(queue, ports, &message, config, now_ms).await?,
        None => Vec::new(),
    };
    queue.fan_out(queued.queue_id, &deliveries, now_ms).await
}

/// The deliveries a new message calls for: one per device of every user
/// [`natter_domain::notify::plan`] picks (none for a conversation gone since, or a message
/// older than `notifier.max_age_s`, whose pushes would be given up anyway: planned after a
/// long outage, it would only wake phones for what is stale).
pub async fn deliveries_for(
    queue: &dyn PushQueue,
    ports: &Ports,
    message: &Message,
    config: &NotifierConfig,
    now_ms: i64,
) -> StoreResult<Vec<NewDelivery>> {
    if now_ms.saturating_sub(message.created_at_ms) > config.max_age_ms() {
        metrics::counter!("natter_push_messages_too_old_total").increment(1);
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
    let users: Vec<UserId> = planned.iter().map(|(user, _)| *user).collect();
    let devices = if users.is_empty() {
        Vec::new()
    } else {
        ports.push.devices_of(&users).await?
    };
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

/// The reader's devices remove what they show of the conversation, whichever device read it.
async fn withdraw(
    queue: &dyn PushQueue,
    ports: &Ports,
    queued: QueuedMessage,
    reader: UserId,
    now_ms: i64,
) -> StoreResult<()> {
    let devices = ports.push.devices_of(&[reader]).await?;
    let badge = queue
        .unread_totals(&[reader])
        .await?
        .first()
        .map(|(_, count)| u32::try_from(*count).unwrap_or(u32::MAX));
    let deliveries: Vec<NewDelivery> = devices
        .iter()
        .map(|device| NewDelivery {
            user: reader,
            device: device.id,
            payload: Payload::Withdraw {
                conversation_id: queued.conversation_id,
                read_seq: queued.seq,
                badge,
            },
        })
        .collect();
    queue.fan_out(queued.queue_id, &deliveries, now_ms).await
}
