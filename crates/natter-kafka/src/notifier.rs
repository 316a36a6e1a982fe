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
/// How many characters of the text a notification shows.
pub const PREVIEW_CHARS: usize = 100;

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

/// The text of the notification: the message's text, or for files sent without a caption
/// what they are ("📷 Photo", "📎 report.pdf", with "+2" for more).
fn preview(record: &MessageRecord) -> String {
    let text = match record.attachments.split_first() {
        Some((first, rest)) if record.text.is_empty() => {
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
        _ => record.text.clone(),
    };
    text.chars().take(PREVIEW_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use natter_domain::files::{Attachment, FileContent, FileId, FileName};

    use super::*;

    fn record(text: &str, files: &[(&str, &str)]) -> MessageRecord {
        let mut record = MessageRecord::from_message(
            RecordKind::Created,
            &natter_domain::model::Message {
                id: natter_domain::MessageId(1),
                conversation_id: natter_domain::ConversationId::new(),
                seq: 1,
                mod_seq: 1,
                sender_id: UserId::new(),
                client_msg_id: natter_domain::values::ClientMsgId::parse("c").unwrap(),
                text: text.into(),
                reply_to_seq: None,
                mentions: vec![],
                created_at_ms: 0,
                edited_at_ms: None,
                deleted: false,
                reactions: vec![],
                attachments: vec![],
            },
        );
        record.attachments = files
            .iter()
            .map(|(name, mime)| Attachment {
                file_id: FileId::new(),
                name: FileName::parse(name).unwrap(),
                created_at_ms: 0,
                content: FileContent {
                    sha256: [0; 32],
                    size: 1,
                    mime: (*mime).into(),
                    completed_at_ms: 0,
                    media: None,
                },
            })
            .collect();
        record
    }

    #[test]
    fn preview_counts_characters_not_bytes() {
        let text = "é".repeat(150);
        assert_eq!(preview(&record(&text, &[])).chars().count(), 100);
        assert_eq!(preview(&record("short", &[])), "short");
    }

    #[test]
    fn files_without_a_caption_say_what_they_are() {
        let photo = ("cat.jpg", "image/jpeg");
        let pdf = ("report.pdf", "application/pdf");
        assert_eq!(preview(&record("", &[photo])), "📷 Photo");
        assert_eq!(
            preview(&record("", &[pdf, photo, photo])),
            "📎 report.pdf +2"
        );
        assert_eq!(preview(&record("", &[("a.ogg", "audio/ogg")])), "🎤 Audio");
        assert_eq!(preview(&record("look", &[photo])), "look", "a caption wins");
    }
}
