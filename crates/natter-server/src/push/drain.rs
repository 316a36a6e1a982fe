//! Sending: claims due deliveries (a bounded batch, at most [`PER_USER`] of any one user, so one
//! user's flood does not delay everyone else), sends them [`CONCURRENCY`] at a time, and acts on
//! each answer: `Accepted` removes the delivery, `Retry` reschedules it (backoff.rs) until
//! `notifier.max_attempts` or `notifier.max_age_s` and then gives it up, `Unregistered` forgets
//! the device, `Rejected` drops the delivery. A delivery is in flight from its claim to that
//! step; a crash in between sends it again at this owner's next start (at most the claimed
//! batch), or from another notifier once the claim's [`LEASE`] has run out.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use natter_domain::Ports;
use natter_domain::notify::{Claim, Delivery, Payload, PushQueue};
use natter_domain::ports::StoreResult;
use natter_push::{Alert, Notification, Outcome, PushSender, Urgency, Withdraw};

use super::backoff;
use crate::config::NotifierConfig;

/// Deliveries claimed per look at the queue.
const BATCH: u32 = 64;
/// At most this many of one user in one batch.
const PER_USER: u32 = 8;
/// Sends in progress at once.
const CONCURRENCY: usize = 16;
/// How long a provider keeps a notification for a device that is offline.
const TTL: Duration = Duration::from_secs(24 * 3600);
/// How long a claim holds its deliveries: far longer than a batch's sends take (each is bounded
/// by `push.request_timeout_s`), so no live notifier's claim runs out under it.
const LEASE: Duration = Duration::from_secs(300);

pub async fn run(
    queue: Arc<dyn PushQueue>,
    ports: Ports,
    sender: Arc<dyn PushSender>,
    config: Arc<NotifierConfig>,
    owner: String,
    wake: Arc<super::wake::Wake>,
) {
    match queue.recover_in_flight(&owner).await {
        Ok(0) => {}
        Ok(count) => tracing::info!(count, "pushes in flight at the last stop are sent again"),
        Err(err) => tracing::warn!(%err, "in-flight pushes not recovered"),
    }
    loop {
        if super::paused(&config) {
            tokio::time::sleep(super::IDLE_POLL).await;
            continue;
        }
        let now_ms = ports.clock.now_ms();
        let claim = Claim {
            now_ms,
            limit: BATCH,
            per_user: PER_USER,
            owner: owner.clone(),
            lease_until_ms: now_ms + i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX / 2),
        };
        let batch = match queue.claim_due(&claim).await {
            Ok(batch) => batch,
            Err(err) => {
                tracing::warn!(%err, "push deliveries unreadable");
                tokio::time::sleep(super::IDLE_POLL).await;
                continue;
            }
        };
        if batch.is_empty() {
            wake.until_send().await;
            continue;
        }
        // Sent CONCURRENTLY at a time; the deliveries done are then removed in one write (a
        // crash before it sends them again, as it would any delivery claimed).
        let settled: Vec<i64> = futures_util::stream::iter(batch)
            .map(|delivery| {
                let (queue, ports, sender, config) = (&queue, &ports, &sender, &config);
                async move {
                    let id = delivery.id;
                    match deliver(queue.as_ref(), ports, sender.as_ref(), config, delivery).await {
                        Ok(Settled::Done) => Some(id),
                        Ok(Settled::Rescheduled) => None,
                        Err(err) => {
                            // Left in flight: sent again at the next start.
                            tracing::warn!(%err, id, "push delivery not settled");
                            None
                        }
                    }
                }
            })
            .buffer_unordered(CONCURRENCY)
            .filter_map(std::future::ready)
            .collect()
            .await;
        if let Err(err) = queue.finish(&settled).await {
            // Left in flight: sent again at the next start.
            tracing::warn!(%err, count = settled.len(), "push deliveries not settled");
        }
    }
}

/// What became of a delivery after its send.
enum Settled {
    /// Accepted, given up, or its device forgotten: to be removed.
    Done,
    /// Due again later.
    Rescheduled,
}

/// The notification a delivery sends.
pub fn notification(delivery: &Delivery) -> Notification {
    let content = match &delivery.payload {
        Payload::Alert(content) => content,
        Payload::Withdraw {
            conversation_id,
            read_seq,
            badge,
        } => {
            let conversation = conversation_id.0.to_string();
            return Notification::Withdraw(Withdraw {
                collapse_key: conversation.clone(),
                conversation_id: conversation,
                read_seq: *read_seq,
                badge: *badge,
                ttl: TTL,
            });
        }
    };
    let conversation = content.conversation_id.0.to_string();
    Notification::Alert(Alert {
        title: content.title.clone(),
        body: content.body.clone(),
        collapse_key: conversation.clone(),
        conversation_id: conversation,
        message_id: content.message_id.0.to_string(),
        seq: content.seq,
        badge: content.badge,
        ttl: TTL,
        urgency: if content.quiet {
            Urgency::Normal
        } else {
            Urgency::High
        },
        silent: content.quiet,
    })
}

async fn deliver(
    queue: &dyn PushQueue,
    ports: &Ports,
    sender: &dyn PushSender,
    config: &NotifierConfig,
    delivery: Delivery,
) -> StoreResult<Settled> {
    let outcome = sender
        .send(&delivery.target, &notification(&delivery))
        .await;
    let target = &delivery.target;
    metrics::counter!("natter_push_sends_total", "outcome" => outcome_name(&outcome)).increment(1);
    match outcome {
        Outcome::Accepted => Ok(Settled::Done),
        Outcome::Retry { after } => {
            let now_ms = ports.clock.now_ms();
            let attempts = delivery.attempts + 1;
            let age_ms = now_ms.saturating_sub(delivery.created_at_ms);
            if attempts >= config.max_attempts || age_ms >= config.max_age_ms() {
                tracing::warn!(?target, attempts, age_ms, "push given up");
                return Ok(Settled::Done);
            }
            let wait = backoff::delay(delivery.attempts, after, rand::random::<f64>());
            let due = now_ms + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2);
            queue.retry_at(delivery.id, due).await?;
            Ok(Settled::Rescheduled)
        }
        Outcome::Unregistered => {
            tracing::info!(
                ?target,
                "push device unregistered by its provider: forgotten"
            );
            ports
                .push
                .forget_address(target.kind(), target.address())
                .await?;
            Ok(Settled::Done)
        }
        Outcome::Rejected { reason } => {
            tracing::warn!(?target, %reason, "push rejected: dropped");
            Ok(Settled::Done)
        }
    }
}

/// The `outcome` label's values.
pub const OUTCOMES: [&str; 4] = ["accepted", "retry", "unregistered", "rejected"];

fn outcome_name(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Accepted => "accepted",
        Outcome::Retry { .. } => "retry",
        Outcome::Unregistered => "unregistered",
        Outcome::Rejected { .. } => "rejected",
    }
}
