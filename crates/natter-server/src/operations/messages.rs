//! Send, edit, delete and react: each answers with the message as the client sees it.

use natter_domain::files::FileId;
use natter_domain::service::{OutgoingMessage, QueuedSend};
use natter_domain::values::{ClientMsgId, MessageText, Reaction};
use natter_domain::{ConversationId, DomainError, UserId};
use natter_protocol::MessageView;
use uuid::Uuid;

use super::Transport;
use crate::convert;
use crate::state::MessagingState;

/// A send request as either transport carries it.
#[derive(Debug, Clone)]
pub struct SendInput {
    pub client_msg_id: String,
    /// May be empty only when files are attached (a message without a caption).
    pub text: String,
    pub reply_to_seq: Option<i64>,
    pub mentions: Vec<Uuid>,
    pub attachments: Vec<Uuid>,
}

/// A stored send: the message, and whether this call created it (`false` for a retry of a
/// `client_msg_id` already used, whose original is returned unchanged).
#[derive(Debug)]
pub struct Sent {
    pub message: MessageView,
    pub created: bool,
}

/// Validate, count against the sender's rate limit, store durably and publish. Bad input is
/// refused before the rate limit is charged.
pub async fn send(
    state: &MessagingState,
    transport: Transport,
    user: UserId,
    conversation: ConversationId,
    input: SendInput,
) -> Result<Sent, DomainError> {
    queue_send(state, transport, user, conversation, input)
        .await?
        .finish()
        .await
}

/// [`send`] up to the store's queue: the message has its place in the conversation, and
/// [`QueuedSent::finish`] waits for its commit. A WebSocket connection starts its next send
/// meanwhile, so that a client's pipelined sends commit together.
pub async fn queue_send(
    state: &MessagingState,
    transport: Transport,
    user: UserId,
    conversation: ConversationId,
    input: SendInput,
) -> Result<QueuedSent<'_>, DomainError> {
    let message = outgoing(&input)?;
    state.rate_limits.check_send(&user).await?;
    let queued = state
        .chat
        .queue_message(user, conversation, message)
        .await?;
    Ok(QueuedSent {
        state,
        transport,
        queued,
    })
}

/// A send queued in the store, not answered yet ([`queue_send`]).
pub struct QueuedSent<'a> {
    state: &'a MessagingState,
    transport: Transport,
    queued: QueuedSend<'a>,
}

impl QueuedSent<'_> {
    /// Whether the send still holds its conversation's lock ([`QueuedSend::holds_order`]): then
    /// it must be finished before the caller starts another write.
    pub fn holds_order(&self) -> bool {
        self.queued.holds_order()
    }

    /// Wait for the commit and answer with the message as the client sees it.
    pub async fn finish(self) -> Result<Sent, DomainError> {
        let outcome = self.queued.finish().await?;
        let duplicate = if outcome.created { "false" } else { "true" };
        metrics::counter!("natter_messages_sent_total", "transport" => self.transport.label(), "duplicate" => duplicate).increment(1);
        Ok(Sent {
            message: convert::message(&outcome.message, self.state.files.as_ref()),
            created: outcome.created,
        })
    }
}

/// A send request in the domain's terms.
fn outgoing(input: &SendInput) -> Result<OutgoingMessage, DomainError> {
    let text = if input.attachments.is_empty() {
        MessageText::parse(&input.text)?
    } else {
        MessageText::caption(&input.text)?
    };
    Ok(OutgoingMessage {
        client_msg_id: ClientMsgId::parse(&input.client_msg_id)?,
        text,
        reply_to_seq: input.reply_to_seq,
        mentions: input.mentions.iter().copied().map(UserId).collect(),
        attachments: input.attachments.iter().copied().map(FileId).collect(),
    })
}

/// Replace a message's text and mentions. The text may be empty (the domain refuses that for a
/// message without attachments).
pub async fn edit(
    state: &MessagingState,
    user: UserId,
    conversation: ConversationId,
    seq: i64,
    text: &str,
    mentions: Vec<Uuid>,
) -> Result<MessageView, DomainError> {
    let text = MessageText::caption(text)?;
    let mentions = mentions.into_iter().map(UserId).collect();
    let message = state
        .chat
        .edit_message(user, conversation, seq, text, mentions)
        .await?;
    Ok(convert::message(&message, state.files.as_ref()))
}

/// Soft-delete a message.
pub async fn delete(
    state: &MessagingState,
    user: UserId,
    conversation: ConversationId,
    seq: i64,
) -> Result<MessageView, DomainError> {
    let message = state.chat.delete_message(user, conversation, seq).await?;
    Ok(convert::message(&message, state.files.as_ref()))
}

/// Add (`on`) or remove the caller's reaction `emoji`.
pub async fn react(
    state: &MessagingState,
    user: UserId,
    conversation: ConversationId,
    seq: i64,
    emoji: &str,
    on: bool,
) -> Result<MessageView, DomainError> {
    let reaction = Reaction::parse(emoji)?;
    let message = state
        .chat
        .react(user, conversation, seq, reaction, on)
        .await?;
    Ok(convert::message(&message, state.files.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(text: &str, attachments: Vec<Uuid>) -> SendInput {
        SendInput {
            client_msg_id: "c1".into(),
            text: text.into(),
            reply_to_seq: None,
            mentions: Vec::new(),
            attachments,
        }
    }

    #[test]
    fn an_empty_text_is_a_caption_only_with_attachments() {
        assert!(outgoing(&input("", Vec::new())).is_err());
        let message = outgoing(&input("", vec![Uuid::nil()])).expect("a file without caption");
        assert_eq!(message.attachments, vec![FileId(Uuid::nil())]);
    }

    #[test]
    fn a_bad_client_msg_id_is_refused() {
        let mut bad = input("hi", Vec::new());
        bad.client_msg_id = String::new();
        assert!(outgoing(&bad).is_err());
    }
}
