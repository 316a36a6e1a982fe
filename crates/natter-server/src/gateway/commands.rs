//! WebSocket commands: each client frame after `hello` runs one operation of `operations/` (the
//! same ones the REST API calls), answered by an `ack` carrying the result or an `error` with the
//! same typed codes as the REST API.

use std::pin::Pin;

use natter_domain::{ConversationId, DomainError, UserId};
use natter_protocol::{Ack, ClientFrame, ServerFrame};

use crate::error::ApiError;
use crate::operations::history::PageInput;
use crate::operations::messages::{QueuedSent, SendInput, Sent};
use crate::operations::{self, Transport};
use crate::state::AppState;

/// A command started by [`start`]: answered, or a send queued in the store whose answer comes
/// with its commit.
#[expect(
    clippy::large_enum_variant,
    reason = "kept only until the answer is encoded, inside a boxed future; a box would allocate once per answer"
)]
pub enum Started<'a> {
    Answered(ServerFrame),
    Committing(Pin<Box<dyn Future<Output = ServerFrame> + Send + 'a>>),
}

/// Start one command for `user`. A send stops once the store has queued it (its place in the
/// conversation taken, the conversation's lock released) and is answered when it commits: the
/// caller may start its next send meanwhile, and the two commit in one batch. Any other command,
/// and a send the store appended at once, is run to its answer.
pub async fn start(state: &AppState, user: UserId, frame: ClientFrame) -> Started<'_> {
    let id = frame.id().to_owned();
    match run(state, user, frame).await {
        Ok(Reply::Queued(queued)) if queued.holds_order() => {
            Started::Answered(answer(id, queued.finish().await.map(sent_ack)))
        }
        Ok(Reply::Queued(queued)) => Started::Committing(Box::pin(async move {
            answer(id, queued.finish().await.map(sent_ack))
        })),
        Ok(Reply::Pong) => Started::Answered(ServerFrame::Pong { id }),
        Ok(Reply::Ack(body)) => Started::Answered(answer(id, Ok(body))),
        Err(err) => Started::Answered(answer(id, Err(err))),
    }
}

/// What a command comes to before its answer frame.
enum Reply<'a> {
    /// `ping`'s answer.
    Pong,
    Ack(Ack),
    /// A send in the store's queue, answered once it is finished.
    Queued(QueuedSent<'a>),
}

/// The frame answering command `id`.
fn answer(id: String, result: Result<Ack, DomainError>) -> ServerFrame {
    match result {
        Ok(body) => ServerFrame::Ack { id, body },
        Err(err) => error_frame(Some(id), &ApiError::Domain(err)),
    }
}

fn sent_ack(sent: Sent) -> Ack {
    Ack::Message {
        message: sent.message,
        duplicate: !sent.created,
    }
}

pub fn error_frame(id: Option<String>, err: &ApiError) -> ServerFrame {
    ServerFrame::Error {
        id,
        error: err.body(),
    }
}

async fn run(state: &AppState, user: UserId, frame: ClientFrame) -> Result<Reply<'_>, DomainError> {
    let messaging = state.messaging();
    let message = |message| Ack::Message {
        message,
        duplicate: false,
    };
    let ack = match frame {
        ClientFrame::Hello { .. } => {
            return Err(DomainError::Conflict("already authenticated".into()));
        }
        ClientFrame::Ping { .. } => return Ok(Reply::Pong),
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
            return Ok(Reply::Queued(
                operations::messages::queue_send(
                    messaging,
                    Transport::WebSocket,
                    user,
                    ConversationId(conversation_id),
                    input,
                )
                .await?,
            ));
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
        } => Ack::Member(
            operations::cursors::read(&state.chat, user, ConversationId(conversation_id), seq)
                .await?,
        ),
        ClientFrame::Delivered {
            conversation_id,
            seq,
            ..
        } => Ack::Member(
            operations::cursors::delivered(&state.chat, user, ConversationId(conversation_id), seq)
                .await?,
        ),
        ClientFrame::Typing {
            conversation_id, ..
        } => {
            operations::typing::typing(messaging, user, ConversationId(conversation_id)).await?;
            Ack::Done
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
            Ack::History(
                operations::history::page(messaging, user, ConversationId(conversation_id), input)
                    .await?,
            )
        }
    };
    Ok(Reply::Ack(ack))
}
