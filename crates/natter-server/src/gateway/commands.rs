//! WebSocket commands: each client frame after `hello` runs one operation of `operations/` (the
//! same ones the REST API calls), answered by an `ack` carrying the result or an `error` with the
//! same typed codes as the REST API.

use natter_domain::{ConversationId, DomainError, UserId};
use natter_protocol::{Ack, ClientFrame, ServerFrame};

use crate::error::ApiError;
use crate::operations::history::PageInput;
use crate::operations::messages::SendInput;
use crate::operations::{self, Transport};
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
    let messaging = state.messaging();
    let message = |message| {
        Some(Ack::Message {
            message,
            duplicate: false,
        })
    };
    let ack = match frame {
        ClientFrame::Hello { .. } => {
            return Err(DomainError::Conflict("already authenticated".into()));
        }
        ClientFrame::Ping { .. } => None,
        ClientFrame::Send {
            conversation_id,
            client_msg_id,
            text,
            reply_to_seq,
            mentions,
            attachments,
            ..
        } => {
            let input = SendInput {
                client_msg_id,
                text,
                reply_to_seq,
                mentions,
                attachments,
            };
            let sent = operations::messages::send(
                messaging,
                Transport::WebSocket,
                user,
                ConversationId(conversation_id),
                input,
            )
            .await?;
            Some(Ack::Message {
                message: sent.message,
                duplicate: !sent.created,
            })
        }
        ClientFrame::Edit {
            conversation_id,
            seq,
            text,
            mentions,
            ..
        } => message(
            operations::messages::edit(
                messaging,
                user,
                ConversationId(conversation_id),
                seq,
                &text,
                mentions,
            )
            .await?,
        ),
        ClientFrame::Delete {
            conversation_id,
            seq,
            ..
        } => message(
            operations::messages::delete(messaging, user, ConversationId(conversation_id), seq)
                .await?,
        ),
        ClientFrame::React {
            conversation_id,
            seq,
            emoji,
            ..
        } => message(
            operations::messages::react(
                messaging,
                user,
                ConversationId(conversation_id),
                seq,
                &emoji,
                true,
            )
            .await?,
        ),
        ClientFrame::Unreact {
            conversation_id,
            seq,
            emoji,
            ..
        } => message(
            operations::messages::react(
                messaging,
                user,
                ConversationId(conversation_id),
                seq,
                &emoji,
                false,
            )
            .await?,
        ),
        ClientFrame::Read {
            conversation_id,
            seq,
            ..
        } => Some(Ack::Member(
            operations::cursors::read(&state.chat, user, ConversationId(conversation_id), seq)
                .await?,
        )),
        ClientFrame::Delivered {
            conversation_id,
            seq,
            ..
        } => Some(Ack::Member(
            operations::cursors::delivered(&state.chat, user, ConversationId(conversation_id), seq)
                .await?,
        )),
        ClientFrame::Typing {
            conversation_id, ..
        } => {
            operations::typing::typing(messaging, user, ConversationId(conversation_id)).await?;
            Some(Ack::Done)
        }
        ClientFrame::History {
            conversation_id,
            before,
            after,
            limit,
            ..
        } => {
            let input = PageInput {
                before,
                after,
                limit,
            };
            Some(Ack::History(
                operations::history::page(messaging, user, ConversationId(conversation_id), input)
                    .await?,
            ))
        }
    };
    Ok(ack)
}
