//! Who is notified of a new message, and what their notification says: one pure function
//! ([`plan`]) shared by every notifier, so the embedded and the scaled-out ones cannot disagree,
//! and the [`PushQueue`] port of the durable pipeline that carries its answer to the providers
//! (docs/push.md).

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;

use crate::files::Attachment;
use crate::ids::{ConversationId, MessageId, UserId};
use crate::model::{ConversationKind, Member, Message};
use crate::ports::StoreResult;
use crate::push::{DeviceId, NotificationSettings, NotifyLevel, PreviewLevel, PushTarget};

/// How many characters of the text a notification shows.
pub const PREVIEW_CHARS: usize = 100;
/// The body (and title, when even the sender is hidden) of a notification that shows nothing.
pub const HIDDEN_TEXT: &str = "New message";
/// The title of a notification that shows nothing.
pub const HIDDEN_TITLE: &str = "natter";

/// The text of a notification: the message's text, or for files sent without a caption what
/// they are ("📷 Photo", "📎 report.pdf", with "+2" for more), cut to [`PREVIEW_CHARS`].
pub fn preview_text(text: &str, attachments: &[Attachment]) -> String {
    let shown = match attachments.split_first() {
        Some((first, rest)) if text.is_empty() => {
            let kind = first.content.mime.split('/').next().unwrap_or_default();
            let what = match kind {
                "image" => "📷 Photo".to_owned(),
                "video" => "🎥 Video".to_owned(),
                "audio" => "🎤 Audio".to_owned(),
                _ => format!("📎 {}", first.name.as_str()),
            };
            if rest.is_empty() {
                what
            } else {
                format!("{what} +{}", rest.len())
            }
        }
        _ => text.to_owned(),
    };
    shown.chars().take(PREVIEW_CHARS).collect()
}

/// What the notifier knows when it plans the notifications of one message.
#[derive(Debug, Clone)]
pub struct PlanInput<'a> {
    pub message: &'a Message,
    pub kind: ConversationKind,
    /// The group's name (`None` for direct conversations).
    pub conversation_name: Option<&'a str>,
    /// The sender's display name.
    pub sender_name: &'a str,
    /// The conversation's current members.
    pub members: &'a [Member],
    /// Who is connected now (reads live: no push).
    pub online: &'a HashSet<UserId>,
    /// Settings per user; a user missing here has the defaults.
    pub settings: &'a HashMap<UserId, NotificationSettings>,
    /// Each user's total unread count (the badge); missing: the badge is left alone.
    pub unread: &'a HashMap<UserId, i64>,
    pub now_ms: i64,
}

/// One user's notification of a message, before it is addressed to their devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushContent {
    pub conversation_id: ConversationId,
    pub message_id: MessageId,
    pub seq: i64,
    pub title: String,
    pub body: String,
    pub badge: Option<u32>,
    /// In the user's quiet hours: delivered without sound or vibration.
    pub quiet: bool,
    /// Which push of the message this is: 0 for its own, the edit's time (`edited_at_ms`) for
    /// the update an edit sends. A device gets each (message, revision) once, so planning twice
    /// adds nothing, yet an update is added while the message's first push is still on its way.
    pub revision: i64,
}

/// The notifications a new message calls for, one per user to notify: every current member but
/// the sender who is not online and has not read that far; in a muted conversation only the
/// mentioned; level `nothing` none, `mentions_and_direct` only mentions and direct
/// conversations; quiet hours make it silent; the preview level decides what it shows.
pub fn plan(input: &PlanInput<'_>) -> Vec<(UserId, PushContent)> {
    let message = input.message;
    if message.deleted {
        return Vec::new();
    }
    let direct = input.kind == ConversationKind::Direct;
    let defaults = NotificationSettings::default();
    input
        .members
        .iter()
        .filter(|member| member.user_id != message.sender_id && member.read_seq < message.seq)
        .filter(|member| !input.online.contains(&member.user_id))
        .filter_map(|member| {
            let user = member.user_id;
            let mentioned = message.mentions.contains(&user);
            if member.muted && !mentioned {
                return None;
            }
            let settings = input.settings.get(&user).unwrap_or(&defaults);
            let wanted = match settings.level {
                NotifyLevel::All => true,
                NotifyLevel::MentionsAndDirect => mentioned || direct,
                NotifyLevel::Nothing => false,
            };
            if !wanted {
                return None;
            }
            let sender = match input.conversation_name {
                Some(name) if !direct => format!("{} in {name}", input.sender_name),
                _ => input.sender_name.to_owned(),
            };
            let (title, body) = match settings.preview {
                PreviewLevel::Full => (sender, preview_text(&message.text, &message.attachments)),
                PreviewLevel::SenderOnly => (sender, HIDDEN_TEXT.to_owned()),
                PreviewLevel::Hidden => (HIDDEN_TITLE.to_owned(), HIDDEN_TEXT.to_owned()),
            };
            let quiet = settings
                .quiet_hours
                .as_ref()
                .is_some_and(|quiet| quiet.contains(input.now_ms));
            let badge = input
                .unread
                .get(&user)
                .map(|count| u32::try_from(*count).unwrap_or(u32::MAX));
            Some((
                user,
                PushContent {
                    conversation_id: message.conversation_id,
                    message_id: message.id,
                    seq: message.seq,
                    title,
                    body,
                    badge,
                    quiet,
                    revision: 0,
                },
            ))
        })
        .collect()
}

/// A queue entry: something committed whose notifications are not planned yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuedMessage {
    /// Commit order.
    pub queue_id: i64,
    pub conversation_id: ConversationId,
    /// The message; for a read, how far the reader has now read.
    pub seq: i64,
    pub kind: Queued,
}

/// What a queue entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queued {
    /// A new message: its alerts.
    Message,
    /// The user's read cursor passed what was pushed to them: their devices get a withdraw.
    Read(UserId),
    /// A message shown as someone's newest push changed (edited, deleted, reacted to): an
    /// edit updates the alert, a delete withdraws it.
    Changed,
}

/// What one delivery sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    Alert(PushContent),
    /// The conversation is read up to `read_seq`: the devices remove what they show of it.
    Withdraw {
        conversation_id: ConversationId,
        read_seq: i64,
        badge: Option<u32>,
    },
}

/// A queue entry and the deliveries planned for it ([`PushQueue::fan_out`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedEntry {
    pub queue_id: i64,
    pub deliveries: Vec<NewDelivery>,
}

/// One notification for one device, to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    pub user: UserId,
    pub device: DeviceId,
    pub payload: Payload,
}

/// A delivery claimed for sending (marked in flight).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: i64,
    pub user: UserId,
    pub target: PushTarget,
    pub payload: Payload,
    /// Sends tried before this one.
    pub attempts: u32,
    pub created_at_ms: i64,
}

/// Who claims deliveries, and until when: a claim is a lease, so several notifier processes
/// can share one queue. A delivery claimed by a process that died is claimable again once its
/// lease has run out (or at once by the same owner's next start: [`PushQueue::recover_in_flight`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub now_ms: i64,
    /// At most this many deliveries.
    pub limit: u32,
    /// At most this many of any one user.
    pub per_user: u32,
    /// The claiming process (stable across its restarts: the node id).
    pub owner: String,
    /// The lease's end: longer than any send takes.
    pub lease_until_ms: i64,
}

/// The durable push pipeline: messages waiting to be planned, then deliveries per (device,
/// message) waiting to be sent. A message is queued in the transaction that commits it, and a
/// read cursor passing what was pushed in the cursor's, so nothing owed a push can be lost.
/// Scaled out, messages are planned as their Kafka records arrive (a batch of records at a time:
/// [`PushQueue::queued_before`], then [`PushQueue::fan_out`]); the queue's own planner is the
/// safety net for records Kafka lost.
#[async_trait]
pub trait PushQueue: Send + Sync + 'static {
    /// The oldest queued entries, in commit order: every queued read and change, and the
    /// messages committed before `messages_before_ms` (scaled out, younger ones are Kafka's).
    async fn queued(&self, limit: u32, messages_before_ms: i64) -> StoreResult<Vec<QueuedMessage>>;
    /// For each `(conversation, seq)` of `bounds`, in that order: the conversation's queued
    /// messages before `seq`, in seq order, at most `limit_each` of them; one read for all.
    /// Scaled out, the Kafka planner asks for everything up to and including a batch of
    /// records: Kafka can deliver one conversation's records out of commit order (two nodes'
    /// producers race), and a message planned already is no longer queued, so each device gets
    /// a conversation's messages in order and a record delivered again plans nothing.
    async fn queued_before(
        &self,
        bounds: &[(ConversationId, i64)],
        limit_each: u32,
    ) -> StoreResult<Vec<QueuedMessage>>;
    /// In one transaction, for each planned entry in order: add its `deliveries` (due at
    /// `now_ms`), remember each alerted user's newest pushed message per conversation and when
    /// it was planned (the read cursor passing it queues a withdraw, a change to it queues a
    /// [`Queued::Changed`]; a withdraw up to a seq forgets what it withdraws), and remove the
    /// queue entry. An entry already removed adds nothing, and a delivery of a (device,
    /// message, revision) already there is not added again, so planning twice is harmless. One
    /// transaction for a whole look at the queue: a commit per message doubled the commits of
    /// every send.
    async fn fan_out(&self, planned: &[PlannedEntry], now_ms: i64) -> StoreResult<()>;
    /// Claim up to `claim.limit` deliveries due at `claim.now_ms` (or whose claim's lease ran
    /// out) and return them, oldest first, at most `claim.per_user` of any one user and only the
    /// oldest delivery of each device (a device gets its notifications in order, one at a
    /// time). Claims never overlap, whichever process makes them. Deliveries of devices no
    /// longer live are dropped.
    async fn claim_due(&self, claim: &Claim) -> StoreResult<Vec<Delivery>>;
    /// The deliveries are done (sent, or given up): remove them, in one write.
    async fn finish(&self, ids: &[i64]) -> StoreResult<()>;
    /// Send again at `due_at_ms` (no longer claimed, one more attempt counted).
    async fn retry_at(&self, id: i64, due_at_ms: i64) -> StoreResult<()>;
    /// The deliveries `owner` claimed before it stopped (a crash) are due again: the one call
    /// at its start, before any claim. Answers how many.
    async fn recover_in_flight(&self, owner: &str) -> StoreResult<u64>;
    /// Each user's total unread count over their conversations.
    async fn unread_totals(&self, users: &[UserId]) -> StoreResult<Vec<(UserId, i64)>>;
    /// The users whose newest push in `conversation` is the message `seq` (what their devices
    /// show of it), each with when it was planned.
    async fn shown_to(
        &self,
        conversation: ConversationId,
        seq: i64,
    ) -> StoreResult<Vec<(UserId, i64)>>;
}

#[cfg(test)]
mod tests;
