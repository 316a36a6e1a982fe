//! Sending, changing and reading messages.

use std::sync::Arc;

use crate::error::DomainError;
use crate::events::Event;
use crate::files::FileId;
use crate::ids::{ConversationId, UserId};
use crate::limits::{HISTORY_PAGE_MAX, MENTIONS_MAX};
use crate::model::*;
use crate::permissions;
use crate::ports::{AfterCommit, QueuedAppend};
use crate::rules::MessageState;
use crate::values::{ClientMsgId, MessageText, Reaction};

use super::Chat;
use super::order::Order;

/// A message as the sender asked for it, already validated.
#[derive(Debug, Clone)]
pub struct OutgoingMessage {
    pub client_msg_id: ClientMsgId,
    pub text: MessageText,
    pub reply_to_seq: Option<i64>,
    pub mentions: Vec<UserId>,
    /// Complete files of the sender's to send with it.
    pub attachments: Vec<FileId>,
}

/// A durable message and whether this call created it (false: an idempotent retry).
#[derive(Debug, Clone)]
pub struct SendOutcome {
    pub message: Message,
    pub created: bool,
}

/// A send queued in the store ([`Chat::queue_message`]), not answered yet.
#[must_use = "a queued send is answered, and its event published, by `finish`"]
pub struct QueuedSend<'a> {
    chat: &'a Chat,
    order: Order,
    /// Whether the sender had replied in the conversation before.
    replied: bool,
    queued: QueuedAppend,
    holds_order: bool,
    conversation: ConversationId,
    actor: UserId,
}

impl QueuedSend<'_> {
    /// Whether the conversation's lock is still held: the store appended before returning (it
    /// may be shared with other processes), and the lock orders the publishes until
    /// [`finish`](Self::finish)'s. Another write of the same caller to a conversation of the
    /// lock's stripe would wait for it, so a caller holding this must finish it first.
    pub fn holds_order(&self) -> bool {
        self.holds_order
    }

    /// Wait for the commit, publish the message's event, and answer.
    pub async fn finish(self) -> Result<SendOutcome, DomainError> {
        let QueuedSend {
            chat,
            mut order,
            replied,
            queued,
            conversation,
            actor,
            ..
        } = self;
        match queued.committed().await? {
            AppendOutcome::Created(message) => {
                if !replied
                    && let Err(err) = chat
                        .ports()
                        .conversations
                        .mark_replied(conversation, actor)
                        .await
                {
                    // The message is stored; only presence visibility waits for the next one.
                    tracing::warn!(%err, "reply not recorded");
                } else {
                    chat.remember_replied(conversation, actor);
                }
                chat.publish_ordered(&mut order, Event::MessageCreated(message.clone()))
                    .await;
                Ok(SendOutcome {
                    message,
                    created: true,
                })
            }
            AppendOutcome::Duplicate(message) => Ok(SendOutcome {
                message,
                created: false,
            }),
        }
    }
}

impl Chat {
    /// Store the message durably and publish it. Acknowledge (return) only after the store has
    /// it; a retry with the same `client_msg_id` returns the original and publishes nothing.
    pub async fn send_message(
        &self,
        actor: UserId,
        conversation: ConversationId,
        outgoing: OutgoingMessage,
    ) -> Result<SendOutcome, DomainError> {
        self.queue_message(actor, conversation, outgoing)
            .await?
            .finish()
            .await
    }

    /// The first half of [`send_message`](Self::send_message): check and queue the message in
    /// the store. The message's place in its conversation is taken when this returns; its
    /// commit, publish and answer are [`QueuedSend::finish`]'s. A caller may start more work
    /// before finishing (a connection's next send, so that both commit in one batch) only when
    /// [`QueuedSend::holds_order`] is false.
    pub async fn queue_message(
        &self,
        actor: UserId,
        conversation: ConversationId,
        outgoing: OutgoingMessage,
    ) -> Result<QueuedSend<'_>, DomainError> {
        let (mut order, me) = self.order_as_member(conversation, actor).await?;
        if let Some(reply_to) = outgoing.reply_to_seq
            && self
                .ports()
                .messages
                .message(conversation, reply_to)
                .await?
                .is_none()
        {
            return Err(DomainError::invalid(
                "reply_to_seq",
                "no such message in this conversation",
            ));
        }
        let mentions = self
            .member_mentions(conversation, actor, &outgoing.mentions)
            .await?;
        let attachments = self
            .attach(
                actor,
                conversation,
                &outgoing.client_msg_id,
                &outgoing.attachments,
            )
            .await?;
        let now = self.now();
        let new = NewMessage {
            id: self.inner.ids.next(now),
            conversation_id: conversation,
            sender_id: actor,
            client_msg_id: outgoing.client_msg_id,
            text: outgoing.text,
            reply_to_seq: outgoing.reply_to_seq,
            mentions,
            created_at_ms: now,
            attachments,
        };
        let queued = self
            .ports()
            .messages
            .queue_append(new, self.publish_at_commit(&order))
            .await?;
        // Queued in a store that commits in queue order: the next write of this conversation may
        // be queued behind it, and its event will still follow this one (`order.rs`). A store
        // that appended before returning may be shared by other processes: the lock is what
        // orders their publishes, so it is held until this one's.
        let holds_order = !queued.is_queued();
        if !holds_order {
            order.release_lock();
        }
        Ok(QueuedSend {
            chat: self,
            order,
            replied: me.replied,
            queued,
            holds_order,
            conversation,
            actor,
        })
    }

    /// The hook that publishes a send's event on the store's thread right after its commit,
    /// where the bus can publish without waiting (in one process): the event does not wait for
    /// the sender's task to be run again, which under load is a wait for a busy worker (the
    /// ack still does). Published there only if every earlier write's event of the
    /// conversation's stripe is out; otherwise the task publishes it as any write does.
    fn publish_at_commit(&self, order: &Order) -> Option<AfterCommit> {
        let bus = &self.ports().bus;
        if !bus.publishes_now() {
            return None;
        }
        let bus = Arc::clone(bus);
        let turn = order.at_commit();
        Some(Box::new(move |message: &Message| {
            turn.publish_if_first(|| {
                bus.publish_now(Event::MessageCreated(message.clone()))
                    .is_ok()
            });
        }))
    }

    /// Keep only mentions of current members other than the sender, deduplicated.
    async fn member_mentions(
        &self,
        conversation: ConversationId,
        sender: UserId,
        asked: &[UserId],
    ) -> Result<Vec<UserId>, DomainError> {
        if asked.len() > MENTIONS_MAX {
            return Err(DomainError::invalid(
                "mentions",
                format!("at most {MENTIONS_MAX} mentions"),
            ));
        }
        let mut kept = Vec::with_capacity(asked.len());
        for &user in asked {
            if user == sender || kept.contains(&user) {
                continue;
            }
            match self.check_member(conversation, user).await {
                Ok(_) => kept.push(user),
                Err(DomainError::NotFound) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(kept)
    }

    /// Replace a message's text. `text` may be empty (parsed with [`MessageText::caption`])
    /// only when the message has attachments: clearing a caption.
    pub async fn edit_message(
        &self,
        actor: UserId,
        conversation: ConversationId,
        seq: i64,
        text: MessageText,
        mentions: Vec<UserId>,
    ) -> Result<Message, DomainError> {
        let (mut order, _) = self.order_as_member(conversation, actor).await?;
        let message = self.existing_message(conversation, seq).await?;
        permissions::can_edit_message(actor, &message)?;
        // Only a caption may be emptied: a message without files needs its text.
        if text.as_str().is_empty() && message.attachments.is_empty() {
            return Err(DomainError::invalid("text", "must not be empty"));
        }
        let mentions = self.member_mentions(conversation, actor, &mentions).await?;
        let change = MessageChange::Edit { text, mentions };
        self.apply_change(&mut order, conversation, seq, change)
            .await
    }

    pub async fn delete_message(
        &self,
        actor: UserId,
        conversation: ConversationId,
        seq: i64,
    ) -> Result<Message, DomainError> {
        let mut order = self.order(conversation).await?;
        let me = self.require_member(conversation, actor).await?;
        let message = self.existing_message(conversation, seq).await?;
        permissions::can_delete_message(&me, &message)?;
        let deleted = self
            .apply_change(&mut order, conversation, seq, MessageChange::Delete)
            .await?;
        if !message.attachments.is_empty() {
            self.release_attachments(conversation, message.sender_id, &message.client_msg_id)
                .await;
        }
        Ok(deleted)
    }

    /// Add (`add = true`) or remove the actor's reaction. Repeating it changes nothing.
    pub async fn react(
        &self,
        actor: UserId,
        conversation: ConversationId,
        seq: i64,
        emoji: Reaction,
        add: bool,
    ) -> Result<Message, DomainError> {
        let (mut order, _) = self.order_as_member(conversation, actor).await?;
        let message = self.existing_message(conversation, seq).await?;
        permissions::can_react(&message)?;
        let already = message.has_reaction(actor, &emoji);
        if already == add {
            return Ok(message);
        }
        if add
            && !message.reactions.iter().any(|r| r.emoji == emoji)
            && message.reactions.len() >= crate::limits::REACTIONS_PER_MESSAGE_MAX
        {
            return Err(DomainError::Conflict(
                "too many different reactions on this message".into(),
            ));
        }
        let change = if add {
            MessageChange::AddReaction {
                user_id: actor,
                emoji,
            }
        } else {
            MessageChange::RemoveReaction {
                user_id: actor,
                emoji,
            }
        };
        self.apply_change(&mut order, conversation, seq, change)
            .await
    }

    async fn existing_message(
        &self,
        conversation: ConversationId,
        seq: i64,
    ) -> Result<Message, DomainError> {
        self.ports()
            .messages
            .message(conversation, seq)
            .await?
            .ok_or(DomainError::NotFound)
    }

    async fn apply_change(
        &self,
        order: &mut Order,
        conversation: ConversationId,
        seq: i64,
        change: MessageChange,
    ) -> Result<Message, DomainError> {
        let message = self
            .ports()
            .messages
            .change(conversation, seq, change, self.now())
            .await?;
        self.publish_ordered(order, Event::MessageUpdated(message.clone()))
            .await;
        Ok(message)
    }

    pub async fn history(
        &self,
        actor: UserId,
        conversation: ConversationId,
        query: HistoryQuery,
    ) -> Result<Vec<Message>, DomainError> {
        self.check_member(conversation, actor).await?;
        let clamp = |limit: u32| limit.clamp(1, HISTORY_PAGE_MAX);
        let query = match query {
            HistoryQuery::Latest { limit } => HistoryQuery::Latest {
                limit: clamp(limit),
            },
            HistoryQuery::Before { before, limit } => HistoryQuery::Before {
                before,
                limit: clamp(limit),
            },
            HistoryQuery::After { after, limit } => HistoryQuery::After {
                after,
                limit: clamp(limit),
            },
        };
        Ok(self.ports().messages.history(conversation, query).await?)
    }

    /// Changes after `after_mod`, for a reconnecting client catching up.
    pub async fn changes_since(
        &self,
        actor: UserId,
        conversation: ConversationId,
        after_mod: i64,
        limit: u32,
    ) -> Result<Vec<Message>, DomainError> {
        self.check_member(conversation, actor).await?;
        Ok(self
            .ports()
            .messages
            .changes_since(conversation, after_mod, limit)
            .await?)
    }
}
