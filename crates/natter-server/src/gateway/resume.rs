//! Catch-up for a (re)connecting client, run after the connection is registered with the hub
//! (so nothing published from then on is missed) and before live events are forwarded.
//!
//! For every conversation changed since the client's sync cursor: a `conversation` frame with its
//! summary, then, if the client gave a cursor for it, every message changed after that cursor in
//! `mod_seq` order.
//!
//! It also says which live message events the connection must drop: per conversation, those at or
//! below the higher of the client's cursor and what was replayed here. The client's cursor counts
//! even when nothing was replayed (the conversation is not in the sync page, or `sync_cursor` is
//! absent): a message committed before the hello but published after it is queued as a live event
//! although the client already has it from an earlier connection.
//!
//! The replayed frames are queued on the socket and written [`REPLAY_BATCH`] at a time, in one
//! system call each, rather than one write per frame; the last batch stays queued and goes out
//! in the same write as the `hello` ack (or the error) that the connection sends next. In a
//! reconnect storm a client resuming one conversation got three writes (summary, message, ack);
//! it now gets one.

use std::collections::HashMap;

use natter_domain::limits::RESUME_PAGE;
use natter_domain::{ConversationId, DomainError, UserId};
use natter_protocol::{Cursors, ServerFrame};

use super::connection::Sink;
use super::frames::encode;
use crate::convert;
use crate::state::AppState;

/// Replayed frames written per system call at most (the socket's vectored write takes 64).
const REPLAY_BATCH: usize = 64;

/// The outcome of a catch-up (its frames went straight to the socket).
pub struct CatchUp {
    pub sync_cursor: i64,
    /// Per conversation, the highest `mod_seq` the client has: live message events at or below
    /// it are duplicates.
    pub seen_up_to: HashMap<ConversationId, i64>,
}

/// Refuses a `hello` whose cursors cannot have come from the server: `sync_cursor` and every
/// per-conversation cursor are positions of change counters that start at 0, so a negative one
/// is an error, not a request to replay everything.
pub fn check_cursors(sync_cursor: Option<i64>, cursors: &Cursors) -> Result<(), DomainError> {
    if sync_cursor.is_some_and(|cursor| cursor < 0) {
        return Err(DomainError::invalid("sync_cursor", "must be 0 or more"));
    }
    if let Some((conversation, _)) = cursors.iter().find(|(_, cursor)| **cursor < 0) {
        return Err(DomainError::invalid(
            "cursors",
            format!("the cursor of {conversation} must be 0 or more"),
        ));
    }
    Ok(())
}

/// Queues replayed frames on the socket, writing them a batch at a time.
struct Replay<'a> {
    sink: &'a mut Sink,
    queued: usize,
}

impl Replay<'_> {
    async fn push(&mut self, frame: &ServerFrame) -> Result<(), CatchUpError> {
        self.sink.queue(encode(frame));
        self.queued += 1;
        if self.queued >= REPLAY_BATCH {
            self.queued = 0;
            self.sink.flush().await.map_err(|_| CatchUpError::Closed)?;
        }
        Ok(())
    }
}

/// Replays what changed to the socket (an error writing ends the catch-up); the last frames
/// are left queued for the connection's next write.
pub async fn catch_up(
    state: &AppState,
    user: UserId,
    sync_cursor: Option<i64>,
    cursors: &Cursors,
    sink: &mut Sink,
) -> Result<CatchUp, CatchUpError> {
    let mut seen_up_to: HashMap<ConversationId, i64> = cursors
        .iter()
        .map(|(&conversation, &mod_seq)| (ConversationId(conversation), mod_seq))
        .collect();
    let Some(since) = sync_cursor else {
        return Ok(CatchUp {
            sync_cursor: state.chat.sync_cursor().await?,
            seen_up_to,
        });
    };
    let page = state.chat.sync(user, since).await?;
    let mut replay = Replay { sink, queued: 0 };
    for removed in &page.removed {
        replay
            .push(&ServerFrame::ConversationRemoved {
                conversation_id: removed.0,
            })
            .await?;
    }
    for summary in &page.changed {
        let conversation = summary.conversation.id;
        replay
            .push(&ServerFrame::Conversation {
                summary: convert::summary(summary, state.files.as_ref()),
            })
            .await?;
        let Some(&from) = cursors.get(&conversation.0) else {
            seen_up_to.insert(conversation, summary.conversation.last_mod);
            continue;
        };
        let mut after = from;
        loop {
            let changes = state
                .chat
                .changes_since(user, conversation, after, RESUME_PAGE)
                .await?;
            let done = changes.len() < RESUME_PAGE as usize;
            for message in &changes {
                after = after.max(message.mod_seq);
                let view = convert::message(message, state.files.as_ref());
                let untouched = message.edited_at_ms.is_none()
                    && !message.deleted
                    && message.reactions.is_empty();
                let frame = if untouched {
                    ServerFrame::MessageNew { message: view }
                } else {
                    ServerFrame::MessageUpdated { message: view }
                };
                replay.push(&frame).await?;
            }
            if done {
                break;
            }
        }
        seen_up_to.insert(conversation, after);
    }
    Ok(CatchUp {
        sync_cursor: page.cursor,
        seen_up_to,
    })
}

#[derive(Debug)]
pub enum CatchUpError {
    Domain(DomainError),
    /// The socket closed while replaying.
    Closed,
}

impl From<DomainError> for CatchUpError {
    fn from(err: DomainError) -> Self {
        Self::Domain(err)
    }
}
