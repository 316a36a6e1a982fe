//! Events to server frames, serialised once: the JSON text and its WebSocket frame are built a
//! single time per event per node and the same reference-counted bytes go to every local
//! connection.

use bytes::Bytes;
use natter_domain::events::Event;
use natter_protocol::ServerFrame;

use super::ws;
use crate::convert;
use crate::media::FileService;

/// The frame clients receive for an event; `None` for events that are not sent to clients.
pub fn event_frame(event: &Event, files: Option<&FileService>) -> Option<ServerFrame> {
    let frame = match event {
        Event::MessageCreated(m) => ServerFrame::MessageNew {
            message: convert::message(m, files),
        },
        Event::MessageUpdated(m) => ServerFrame::MessageUpdated {
            message: convert::message(m, files),
        },
        Event::ConversationUpdated(c) => ServerFrame::ConversationUpdated {
            conversation: convert::conversation(c),
        },
        Event::MemberAdded {
            conversation,
            member,
            by,
        } => ServerFrame::MemberAdded {
            conversation: convert::conversation(conversation),
            member: convert::member(member),
            by: by.0,
        },
        Event::MemberRemoved {
            conversation_id,
            user_id,
            by,
        } => ServerFrame::MemberRemoved {
            conversation_id: conversation_id.0,
            user_id: user_id.0,
            by: by.0,
        },
        Event::MemberUpdated { member } | Event::MemberSettingsChanged { member } => {
            ServerFrame::MemberUpdated {
                member: convert::member(member),
            }
        }
        Event::Receipt {
            conversation_id,
            user_id,
            read_seq,
            delivered_seq,
        } => ServerFrame::Receipt {
            conversation_id: conversation_id.0,
            user_id: user_id.0,
            read_seq: *read_seq,
            delivered_seq: *delivered_seq,
        },
        Event::Typing {
            conversation_id,
            user_id,
            expires_in_ms,
        } => ServerFrame::Typing {
            conversation_id: conversation_id.0,
            user_id: user_id.0,
            expires_in_ms: *expires_in_ms,
        },
        Event::Presence {
            user_id,
            online,
            last_seen_ms,
            ..
        } => ServerFrame::Presence {
            user_id: user_id.0,
            online: *online,
            last_seen_ms: *last_seen_ms,
        },
        Event::UserUpdated { user, .. } => ServerFrame::UserUpdated {
            user: convert::user(user, files),
        },
        // The gateway closes the session's connections instead.
        Event::SessionRevoked { .. } => return None,
    };
    Some(frame)
}

/// The WebSocket text frame of `frame`, ready to write (the JSON is written after room for the
/// frame header, so it is never copied).
pub fn encode(frame: &ServerFrame) -> Bytes {
    let mut buffer = ws::frame::payload_buffer(256);
    match serde_json::to_writer(&mut buffer, frame) {
        Ok(()) => ws::frame::text_frame(buffer),
        Err(err) => {
            tracing::error!(%err, "cannot serialise frame");
            ws::frame::text(br#"{"type":"error","code":"internal","message":"internal error"}"#)
        }
    }
}
