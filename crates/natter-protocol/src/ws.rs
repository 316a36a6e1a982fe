//! WebSocket frames at `/api/v1/ws`. Every frame is one JSON text message with a `type` field.
//! Documented with examples in `docs/protocol.md`.
//!
//! The first client frame must be `hello` (the access token travels there, never in the URL).
//! Every command carries a client-chosen `id`, echoed in the `ack` or `error` that answers it.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ErrorBody;
use crate::ack::Ack;
use crate::rest::{
    ConversationSummaryView, ConversationView, Cursors, MemberView, MessageView, UserView,
};

/// Close codes the server uses, beyond the RFC 6455 ones (1001 going away on shutdown, 1009 too
/// big, 1007 invalid UTF-8, 1008 policy).
pub mod close_code {
    /// No frame from the client within the idle timeout.
    pub const IDLE_TIMEOUT: u16 = 4000;
    /// No valid `hello` in time, or the token was rejected.
    pub const UNAUTHENTICATED: u16 = 4001;
    /// The session ended: logged out, its refresh token reused, or expired.
    pub const SESSION_REVOKED: u16 = 4002;
    /// The user already has the most connections allowed on this node
    /// (`limits.ws_connections_per_user`): close another tab or device, or retry later.
    pub const TOO_MANY_CONNECTIONS: u16 = 4010;
    /// The client read too slowly and its outgoing queue filled up: reconnect and resume.
    pub const SLOW_CONSUMER: u16 = 4008;
    /// The server lost events for this node (bus lag): reconnect and resume.
    pub const RESYNC: u16 = 4009;
    /// Too many bad frames or commands.
    pub const FLOOD: u16 = 4029;
}

/// Client to server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// Authenticate, and optionally resume. With `sync_cursor`, the server first replays what
    /// changed since then (for conversations listed in `cursors`: every message changed after
    /// that `mod_seq`; for others: a `conversation` frame), then acks, then streams live events.
    /// Cursors are 0 or more; the server refuses a hello with a negative one (`invalid`).
    Hello {
        id: String,
        token: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sync_cursor: Option<i64>,
        #[serde(default, skip_serializing_if = "Cursors::is_empty")]
        cursors: Cursors,
    },
    Send {
        id: String,
        conversation_id: Uuid,
        client_msg_id: String,
        /// May be empty or absent when `attachments` are given (no caption).
        #[serde(default)]
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to_seq: Option<i64>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        mentions: Vec<Uuid>,
        /// Ids of complete files of the sender's, at most 10.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        attachments: Vec<Uuid>,
    },
    Edit {
        id: String,
        conversation_id: Uuid,
        seq: i64,
        text: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        mentions: Vec<Uuid>,
    },
    Delete {
        id: String,
        conversation_id: Uuid,
        seq: i64,
    },
    React {
        id: String,
        conversation_id: Uuid,
        seq: i64,
        emoji: String,
    },
    Unreact {
        id: String,
        conversation_id: Uuid,
        seq: i64,
        emoji: String,
    },
    Read {
        id: String,
        conversation_id: Uuid,
        seq: i64,
    },
    Delivered {
        id: String,
        conversation_id: Uuid,
        seq: i64,
    },
    Typing {
        id: String,
        conversation_id: Uuid,
    },
    History {
        id: String,
        conversation_id: Uuid,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    Ping {
        id: String,
    },
}

impl ClientFrame {
    /// Parse one text frame. Only a JSON object is a frame: serde would otherwise also build a
    /// tagged enum from an array (`["ping","1"]`), a shape this protocol does not have.
    pub fn parse(text: &str) -> Result<Self, FrameError> {
        if !text.trim_start().starts_with('{') {
            return Err(FrameError("a frame must be a JSON object".to_owned()));
        }
        serde_json::from_str(text).map_err(|err| FrameError(err.to_string()))
    }

    pub fn id(&self) -> &str {
        match self {
            Self::Hello { id, .. }
            | Self::Send { id, .. }
            | Self::Edit { id, .. }
            | Self::Delete { id, .. }
            | Self::React { id, .. }
            | Self::Unreact { id, .. }
            | Self::Read { id, .. }
            | Self::Delivered { id, .. }
            | Self::Typing { id, .. }
            | Self::History { id, .. }
            | Self::Ping { id } => id,
        }
    }
}

/// Why a client frame could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError(pub String);

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FrameError {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloOk {
    pub user_id: Uuid,
    pub session_id: Uuid,
    /// Send something (a `ping` will do) at least this often or be closed with 4000.
    pub idle_timeout_ms: u64,
    /// Store this and send it in the next `hello` to resume.
    pub sync_cursor: i64,
}

/// Server to client.
// A frame lives only until it is written or matched: boxing the large `conversation` summary
// would cost an allocation per such frame to save a few hundred bytes of stack.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    Ack {
        id: String,
        /// The command's result, flattened next to `type` and `id`.
        #[serde(flatten)]
        body: Ack,
    },
    Error {
        /// The command's id; absent for frames that could not be parsed far enough.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        #[serde(flatten)]
        error: ErrorBody,
    },
    Pong {
        id: String,
    },
    #[serde(rename = "message.new")]
    MessageNew {
        message: MessageView,
    },
    /// Edited, deleted, or reactions changed: the full new state.
    #[serde(rename = "message.updated")]
    MessageUpdated {
        message: MessageView,
    },
    /// Sent during resume for a conversation the client did not give a cursor for (new to it)
    /// or whose metadata changed.
    #[serde(rename = "conversation")]
    Conversation {
        summary: ConversationSummaryView,
    },
    #[serde(rename = "conversation.updated")]
    ConversationUpdated {
        conversation: ConversationView,
    },
    /// The client's user left or was removed (resume only; live removal is `member.removed`).
    #[serde(rename = "conversation.removed")]
    ConversationRemoved {
        conversation_id: Uuid,
    },
    #[serde(rename = "member.added")]
    MemberAdded {
        conversation: ConversationView,
        member: MemberView,
        by: Uuid,
    },
    #[serde(rename = "member.removed")]
    MemberRemoved {
        conversation_id: Uuid,
        user_id: Uuid,
        by: Uuid,
    },
    #[serde(rename = "member.updated")]
    MemberUpdated {
        member: MemberView,
    },
    Receipt {
        conversation_id: Uuid,
        user_id: Uuid,
        read_seq: i64,
        delivered_seq: i64,
    },
    Typing {
        conversation_id: Uuid,
        user_id: Uuid,
        expires_in_ms: i64,
    },
    Presence {
        user_id: Uuid,
        online: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_seen_ms: Option<i64>,
    },
    #[serde(rename = "user.updated")]
    UserUpdated {
        user: UserView,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_frames_are_tagged_and_strict() {
        let frame: ClientFrame =
            serde_json::from_str(r#"{"type":"ping","id":"7"}"#).expect("ping parses");
        assert_eq!(frame, ClientFrame::Ping { id: "7".into() });
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"ping","id":"7","x":1}"#).is_err());
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"nope","id":"7"}"#).is_err());
    }

    #[test]
    fn only_objects_are_frames() {
        assert_eq!(
            ClientFrame::parse(r#" {"type":"ping","id":"7"}"#),
            Ok(ClientFrame::Ping { id: "7".into() })
        );
        assert!(ClientFrame::parse(r#"["ping","7"]"#).is_err());
        assert!(ClientFrame::parse("42").is_err());
    }

    #[test]
    fn ack_and_error_flatten_their_bodies() {
        let ack = ServerFrame::Ack {
            id: "1".into(),
            body: Ack::Done,
        };
        assert_eq!(
            serde_json::to_string(&ack).unwrap(),
            r#"{"type":"ack","id":"1"}"#
        );
        let error = ServerFrame::Error {
            id: Some("2".into()),
            error: ErrorBody {
                code: "not_found".into(),
                message: "not found".into(),
                retry_after_ms: None,
            },
        };
        let json = serde_json::to_string(&error).unwrap();
        assert_eq!(
            json,
            r#"{"type":"error","id":"2","code":"not_found","message":"not found"}"#
        );
        assert_eq!(serde_json::from_str::<ServerFrame>(&json).unwrap(), error);
    }
}
