//! WebSocket commands: each client frame after `hello` becomes one domain call, answered by an
//! `ack` carrying the result or an `error` with the same typed codes as the REST API.

use natter_domain::values::{MessageText, Reaction};
use natter_domain::{ConversationId, DomainError, UserId};
use natter_protocol::{Ack, ClientFrame, ServerFrame};

use crate::convert;
use crate::error::ApiError;
use crate::rest::messages::{history_query, outgoing};
use crate::state::AppState;

/// Run one command for `user` and build the answer frame.
pub async fn execute(state: &AppState, user: UserId, frame: ClientFrame) -> ServerFrame {
    let id = frame.id().to_owned();
    match run(state, user, frame).await {
        Ok(None) => ServerFrame::Pong { id },
        Ok(Some(body)) => ServerFrame::Ack { id, body },
        Err(err) => error_frame(Some(id), &ApiError::Domain(err)),
    }
}

pub fn error_frame(id: Option<String>, err: &ApiError) -> ServerFrame {
    ServerFrame::Error {
        id,
        error: err.body(),
    }
}

/// `Ok(None)` means "answer with pong" (only for `ping`).
async fn run(
    state: &AppState,
    user: UserId,
    frame: ClientFrame,
) -> Result<Option<Ack>, DomainError> {
    let chat = &state.chat;
    let message = |m: natter_domain::model::Message| {
        Some(Ack::Message {
            message: convert::message(&m, state.files.as_ref()),
            duplicate: false,
        })
    };
    let member = |m: natter_domain::model::Member| Some(Ack::Member(convert::member(&m)));
    match frame {
        ClientFrame::Hello { .. } => Err(DomainError::Conflict("already authenticated".into())),
        ClientFrame::Ping { .. } => Ok(None),
        ClientFrame::Send {
            conversation_id,
            client_msg_id,
            text,
            reply_to_seq,
            mentions,
            attachments,
            ..
        } => {
            let outgoing = outgoing(&client_msg_id, &text, reply_to_seq, &mentions, &attachments)?;
            state.rate_limits.check_send(&user).await?;
            let outcome = chat
                .send_message(user, ConversationId(conversation_id), outgoing)
                .await?;
            let duplicate = !outcome.created;
            metrics::counter!("natter_messages_sent_total", "transport" => "ws", "duplicate" => if duplicate { "true" } else { "false" }).increment(1);
            Ok(Some(Ack::Message {
                message: convert::message(&outcome.message, state.files.as_ref()),
                duplicate,
            }))
        }
        ClientFrame::Edit {
            conversation_id,
            seq,
            text,
            mentions,
            ..
        } => {
            let text = MessageText::caption(&text)?;
            let mentions = mentions.into_iter().map(UserId).collect();
            Ok(message(
                chat.edit_message(user, ConversationId(conversation_id), seq, text, mentions)
                    .await?,
            ))
        }
        ClientFrame::Delete {
            conversation_id,
            seq,
            ..
        } => Ok(message(
            chat.delete_message(user, ConversationId(conversation_id), seq)
                .await?,
        )),
        ClientFrame::React {
            conversation_id,
            seq,
            emoji,
            ..
        } => Ok(message(
            chat.react(
                user,
                ConversationId(conversation_id),
                seq,
                Reaction::parse(&emoji)?,
                true,
            )
            .await?,
        )),
        ClientFrame::Unreact {
            conversation_id,
            seq,
            emoji,
            ..
        } => Ok(message(
            chat.react(
                user,
                ConversationId(conversation_id),
                seq,
                Reaction::parse(&emoji)?,
                false,
            )
            .await?,
        )),
        ClientFrame::Read {
            conversation_id,
            seq,
            ..
        } => Ok(member(
            chat.mark_read(user, ConversationId(conversation_id), seq)
                .await?,
        )),
        ClientFrame::Delivered {
            conversation_id,
            seq,
            ..
        } => Ok(member(
            chat.mark_delivered(user, ConversationId(conversation_id), seq)
                .await?,
        )),
        ClientFrame::Typing {
            conversation_id, ..
        } => {
            crate::rest::messages::typing_throttled(state, user, ConversationId(conversation_id))
                .await?;
            Ok(Some(Ack::Done))
        }
        ClientFrame::History {
            conversation_id,
            before,
            after,
            limit,
            ..
        } => {
            let page = chat
                .history(
                    user,
                    ConversationId(conversation_id),
                    history_query(before, after, limit)?,
                )
                .await?;
            Ok(Some(Ack::History(
                page.iter()
                    .map(|x| convert::message(x, state.files.as_ref()))
                    .collect(),
            )))
        }
    }
}
