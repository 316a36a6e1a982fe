//! WebSocket commands: each client frame after `hello` runs one operation of `operations/` (the
//! same ones the REST API calls), answered by an `ack` carrying the result or an `error` with the
//! same typed codes as the REST API.

use std::pin::Pin;

use natter_domain::{ConversationId, DomainError, UserId};
use natter_protocol::{Ack, ClientFrame, ServerFrame};

use crate::error::ApiError;
use crate::operations::history::PageInput;
use crate::operations::messages::{SendInput, Sent};
use crate::operations::{self, Transport};
use crate::state::AppState;

/// Run one command for `user` and build the answer frame.
pub async fn execute(state: &AppState, user: UserId, frame: ClientFrame) -> ServerFrame {
    let id = frame.id().to_owned();
    answer(id, run(state, user, frame).await)
}

/// A command started by [`start`]: answered, or a send queued in the store whose answer comes
/// with its commit.
pub enum Started<'a> {
    Answered(ServerFrame),
    Committing(Pin<Box<dyn Future<Output = ServerFrame> + Send + 'a>>),
}

/// Start one command for `user`. A send stops once the store has queued it (its place in the
/// conversation taken, the conversation's lock released) and is answered when it commits: the
/// caller may start its next send meanwhile, and the two commit in one batch. Any other command,
/// and a send the store appended at once, is run to its answer, as [`execute`] does.
pub async fn start(state: &AppState, user: UserId, frame: ClientFrame) -> Started<'_> {
    let ClientFrame::Send {
        id,
        conversation_id,
        client_msg_id,
        text,
        reply_to_seq,
        mentions,
        attachments,
    } = frame
    else {
        return Started::Answered(execute(state, user, frame).await);
    };
    let input = SendInput {
        client_msg_id,
        text,
        reply_to_seq,
        mentions,
        attachments,
    };
    let queued = operations::messages::queue_send(
        state.messaging(),
        Transport::WebSocket,
        user,
        ConversationId(conversation_id),
        input,
    )
    .await;
    match queued {
        Err(err) => Started::Answered(answer(id, Err(err))),
        Ok(queued) if queued.holds_order() => {
            Started::Answered(answer(id, queued.finish().await.map(sent_ack)))
        }
        Ok(queued) => Started::Committing(Box::pin(async move {
            answer(id, queued.finish().await.map(sent_ack))
        })),
    }
}

/// The frame answering command `id`.
fn answer(id: String, result: Result<Option<Ack>, DomainError>) -> ServerFrame {
    match result {
        Ok(None) => ServerFrame::Pong { id },
        Ok(Some(body)) => ServerFrame::Ack { id, body },
        Err(err) => error_frame(Some(id), &ApiError::Domain(err)),
    }
}

fn sent_ack(sent: Sent) -> Option<Ack> {
    Some(Ack::Message {
        message: sent.message,
        duplicate: !sent.created,
    })
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
            sent_ack(
                operations::messages::send(
                    messaging,
                    Transport::WebSocket,
                    user,
                    ConversationId(conversation_id),
                    input,
                )
                .await?,
            )
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
