//! The notifier: the handler of the `natter-notifier` consumer group. For each new message it
//! queues a push notification for every member who will not see it live.
//!
//! Recipients of a `created` record: the conversation's current members, except the sender,
//! who are offline now, have not already read that far (`read_seq < seq`: a member who joined
//! after the message starts with cursors past it, and a replay long after must not notify
//! what was read), and either have not muted the conversation or are mentioned.
//!
//! Replays are harmless: [`PushOutbox::enqueue`] is idempotent per (user, message), so handling
//! a record twice (after a crash before the commit, a rebalance, or a group reset) adds
//! nothing. `updated` records (edits, deletes, reactions) notify nobody for now; a later
//! version could withdraw the push of a deleted message.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use natter_domain::UserId;
use natter_domain::ports::{ConversationStore, PendingPush, PresenceStore, PushOutbox};

use crate::consumer::RecordHandler;
use crate::errors::HandlerError;
use crate::record::{MessageRecord, RecordKind};

/// The notifier's consumer group.
pub const NOTIFIER_GROUP: &str = "natter-notifier";

pub struct Notifier {
    conversations: Arc<dyn ConversationStore>,
    presence: Arc<dyn PresenceStore>,
    outbox: Arc<dyn PushOutbox>,
}

impl Notifier {
    pub fn new(
        conversations: Arc<dyn ConversationStore>,
        presence: Arc<dyn PresenceStore>,
        outbox: Arc<dyn PushOutbox>,
    ) -> Self {
        Self {
            conversations,
            presence,
            outbox,
        }
    }

    /// The pushes a record calls for now (empty for updates and deleted messages).
    pub async fn pushes_for(
        &self,
        record: &MessageRecord,
    ) -> Result<Vec<PendingPush>, HandlerError> {
        if record.kind != RecordKind::Created || record.deleted {
            return Ok(Vec::new());
        }
        let message_id = record
            .message_id()
            .map_err(|err| HandlerError::Permanent(err.to_string()))?;
        let sender = record.sender();
        // `?` on store errors: `Unavailable` is retried by the consumer, the rest skipped.
        let candidates: Vec<_> = self
            .conversations
            .members(record.conversation())
            .await?
            .into_iter()
            .filter(|member| member.user_id != sender && member.read_seq < record.seq)
            .filter(|member| !member.muted || record.mentions(member.user_id))
            .collect();
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<UserId> = candidates.iter().map(|member| member.user_id).collect();
        let online: HashSet<UserId> = self.presence.online(&ids).await?.into_iter().collect();
        let preview = preview(record);
        Ok(candidates
            .into_iter()
            .filter(|member| !online.contains(&member.user_id))
            .map(|member| PendingPush {
                user_id: member.user_id,
                conversation_id: record.conversation(),
                message_id,
                seq: record.seq,
                sender_id: sender,
                preview: preview.clone(),
                mentioned: record.mentions(member.user_id),
                created_at_ms: record.created_at_ms,
            })
            .collect())
    }
}

#[async_trait]
impl RecordHandler for Notifier {
    async fn handle(&self, record: &MessageRecord) -> Result<(), HandlerError> {
        let pushes = self.pushes_for(record).await?;
        if !pushes.is_empty() {
            self.outbox
                .enqueue(&pushes)
                .await
                .map_err(HandlerError::from)?;
            metrics::counter!("natter_notifier_pushes_queued_total").increment(pushes.len() as u64);
        }
        Ok(())
    }
}

/// The text of the notification (the shared rules of natter-domain's notifier).
fn preview(record: &MessageRecord) -> String {
    natter_domain::notify::preview_text(&record.text, &record.attachments)
}
