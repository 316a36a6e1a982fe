//! Read and delivered cursors, and typing indicators.

use crate::error::DomainError;
use crate::events::Event;
use crate::ids::{ConversationId, UserId};
use crate::limits::TYPING_TTL_MS;
use crate::model::Member;

use super::Chat;

impl Chat {
    /// Move the actor's read cursor forward (never back) and tell the conversation.
    pub async fn mark_read(
        &self,
        actor: UserId,
        conversation: ConversationId,
        seq: i64,
    ) -> Result<Member, DomainError> {
        let before = self.require_member(conversation, actor).await?;
        let after = self
            .ports()
            .conversations
            .mark_read(conversation, actor, seq, self.now())
            .await?;
        self.announce_receipt(&before, &after).await;
        Ok(after)
    }

    /// Move the actor's delivered cursor forward (never back) and tell the conversation.
    pub async fn mark_delivered(
        &self,
        actor: UserId,
        conversation: ConversationId,
        seq: i64,
    ) -> Result<Member, DomainError> {
        let before = self.require_member(conversation, actor).await?;
        let after = self
            .ports()
            .conversations
            .mark_delivered(conversation, actor, seq, self.now())
            .await?;
        self.announce_receipt(&before, &after).await;
        Ok(after)
    }

    async fn announce_receipt(&self, before: &Member, after: &Member) {
        if before.read_seq != after.read_seq || before.delivered_seq != after.delivered_seq {
            self.publish(Event::Receipt {
                conversation_id: after.conversation_id,
                user_id: after.user_id,
                read_seq: after.read_seq,
                delivered_seq: after.delivered_seq,
            })
            .await;
        }
    }

    /// Typing indicators are ephemeral: published, never stored; they expire on the client.
    pub async fn typing(
        &self,
        actor: UserId,
        conversation: ConversationId,
    ) -> Result<(), DomainError> {
        self.check_member(conversation, actor).await?;
        self.publish(Event::Typing {
            conversation_id: conversation,
            user_id: actor,
            expires_in_ms: TYPING_TTL_MS,
        })
        .await;
        Ok(())
    }
}
