//! Events to server frames, serialised once: the JSON text is built a single time per event per
//! node and the same reference-counted bytes go to every local connection.

use axum::extract::ws::Utf8Bytes;
use natter_domain::events::Event;
use natter_protocol::ServerFrame;

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
        Event::MemberUpdated { member } => ServerFrame::MemberUpdated {
            member: convert::member(member),
        },
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
            user: convert::user(user),
        },
        // The gateway closes the session's connections instead.
        Event::SessionRevoked { .. } => return None,
    };
    Some(frame)
}

pub fn encode(frame: &ServerFrame) -> Utf8Bytes {
    match serde_json::to_string(frame) {
        Ok(json) => Utf8Bytes::from(json),
        Err(err) => {
            tracing::error!(%err, "cannot serialise frame");
            Utf8Bytes::from_static(
                r#"{"type":"error","code":"internal","message":"internal error"}"#,
            )
        }
    }
}
