//! The typed result of an `ack` frame, one variant per kind of command, so that neither end has
//! to unpack a bag of optional fields at run time.
//!
//! On the wire an ack is still today's flat object (`docs/protocol.md`): the result sits next to
//! `type` and `id` under a key naming its kind (`hello`, `message` plus `duplicate`, `member`,
//! `messages`), or is absent. [`Wire`] is that shape; [`Ack`] converts to and from it, and
//! refuses an ack carrying more than one kind of result.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::rest::{MemberView, MessageView};
use crate::ws::HelloOk;

/// What an `ack` carries, by command: `hello` -> [`Ack::Hello`]; `send`, `edit`, `delete`,
/// `react`, `unreact` -> [`Ack::Message`]; `read`, `delivered` -> [`Ack::Member`]; `history` ->
/// [`Ack::History`]; `typing` -> [`Ack::Done`] (`ping` is answered by `pong`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ack {
    /// `{"hello": {...}}`
    Hello(HelloOk),
    /// `{"message": {...}}`, with `"duplicate": true` for a `send` whose `client_msg_id` was
    /// already used (`message` is then the original).
    Message {
        message: MessageView,
        duplicate: bool,
    },
    /// `{"member": {...}}`
    Member(MemberView),
    /// `{"messages": [...]}`
    History(Vec<MessageView>),
    /// Nothing beside `type` and `id`.
    Done,
}

impl Ack {
    /// The kind's name, for errors about an ack of the wrong kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Hello(_) => "hello",
            Self::Message { .. } => "message",
            Self::Member(_) => "member",
            Self::History(_) => "messages",
            Self::Done => "empty",
        }
    }
}

/// Today's wire shape, borrowed for writing.
#[derive(Serialize)]
struct WireRef<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    hello: Option<&'a HelloOk>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a MessageView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    member: Option<&'a MemberView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    messages: Option<&'a Vec<MessageView>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    duplicate: bool,
}

/// Today's wire shape, owned for reading.
#[derive(Deserialize)]
struct Wire {
    #[serde(default)]
    hello: Option<HelloOk>,
    #[serde(default)]
    message: Option<MessageView>,
    #[serde(default)]
    member: Option<MemberView>,
    #[serde(default)]
    messages: Option<Vec<MessageView>>,
    #[serde(default)]
    duplicate: bool,
}

impl Serialize for Ack {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut wire = WireRef {
            hello: None,
            message: None,
            member: None,
            messages: None,
            duplicate: false,
        };
        match self {
            Self::Hello(hello) => wire.hello = Some(hello),
            Self::Message { message, duplicate } => {
                wire.message = Some(message);
                wire.duplicate = *duplicate;
            }
            Self::Member(member) => wire.member = Some(member),
            Self::History(messages) => wire.messages = Some(messages),
            Self::Done => {}
        }
        wire.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Ack {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = Wire::deserialize(deserializer)?;
        let ack = match (wire.hello, wire.message, wire.member, wire.messages) {
            (Some(hello), None, None, None) => Self::Hello(hello),
            (None, Some(message), None, None) => Self::Message {
                message,
                duplicate: wire.duplicate,
            },
            (None, None, Some(member), None) => Self::Member(member),
            (None, None, None, Some(messages)) => Self::History(messages),
            (None, None, None, None) => Self::Done,
            _ => {
                return Err(serde::de::Error::custom(
                    "an ack carries at most one of hello, message, member, messages",
                ));
            }
        };
        if wire.duplicate && !matches!(ack, Self::Message { .. }) {
            return Err(serde::de::Error::custom("duplicate without message"));
        }
        Ok(ack)
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::ws::ServerFrame;

    const U: Uuid = Uuid::from_u128(1);
    const HELLO: &str = r#"{"user_id":"00000000-0000-0000-0000-000000000001","session_id":"00000000-0000-0000-0000-000000000001","idle_timeout_ms":60000,"sync_cursor":7}"#;
    const MESSAGE: &str = r#"{"id":"9","conversation_id":"00000000-0000-0000-0000-000000000001","seq":3,"mod_seq":4,"sender_id":"00000000-0000-0000-0000-000000000001","client_msg_id":"c1","text":"hi","created_at_ms":5,"deleted":false}"#;
    const MEMBER: &str = r#"{"conversation_id":"00000000-0000-0000-0000-000000000001","user_id":"00000000-0000-0000-0000-000000000001","role":"member","muted":false,"read_seq":3,"delivered_seq":3,"joined_at_ms":2}"#;

    fn message() -> MessageView {
        MessageView {
            id: "9".into(),
            conversation_id: U,
            seq: 3,
            mod_seq: 4,
            sender_id: U,
            client_msg_id: "c1".into(),
            text: "hi".into(),
            reply_to_seq: None,
            mentions: Vec::new(),
            created_at_ms: 5,
            edited_at_ms: None,
            deleted: false,
            reactions: Vec::new(),
            attachments: vec![],
        }
    }

    /// Every kind, with the exact bytes the server has always written for it.
    fn kinds() -> Vec<(Ack, String)> {
        vec![
            (
                Ack::Hello(HelloOk {
                    user_id: U,
                    session_id: U,
                    idle_timeout_ms: 60_000,
                    sync_cursor: 7,
                }),
                format!(r#"{{"type":"ack","id":"a","hello":{HELLO}}}"#),
            ),
            (
                Ack::Message {
                    message: message(),
                    duplicate: false,
                },
                format!(r#"{{"type":"ack","id":"a","message":{MESSAGE}}}"#),
            ),
            (
                Ack::Message {
                    message: message(),
                    duplicate: true,
                },
                format!(r#"{{"type":"ack","id":"a","message":{MESSAGE},"duplicate":true}}"#),
            ),
            (
                Ack::Member(MemberView {
                    conversation_id: U,
                    user_id: U,
                    role: "member".into(),
                    muted: false,
                    read_seq: 3,
                    delivered_seq: 3,
                    joined_at_ms: 2,
                }),
                format!(r#"{{"type":"ack","id":"a","member":{MEMBER}}}"#),
            ),
            (
                Ack::History(vec![message(), message()]),
                format!(r#"{{"type":"ack","id":"a","messages":[{MESSAGE},{MESSAGE}]}}"#),
            ),
            (
                Ack::History(Vec::new()),
                r#"{"type":"ack","id":"a","messages":[]}"#.to_owned(),
            ),
            (Ack::Done, r#"{"type":"ack","id":"a"}"#.to_owned()),
        ]
    }

    #[test]
    fn each_kind_keeps_its_wire_bytes_and_parses_back() {
        for (body, json) in kinds() {
            let frame = ServerFrame::Ack {
                id: "a".into(),
                body,
            };
            assert_eq!(serde_json::to_string(&frame).unwrap(), json);
            assert_eq!(serde_json::from_str::<ServerFrame>(&json).unwrap(), frame);
        }
    }

    #[test]
    fn an_ack_with_two_kinds_or_a_stray_duplicate_is_refused() {
        for json in [
            format!(r#"{{"type":"ack","id":"a","hello":{HELLO},"messages":[]}}"#),
            format!(r#"{{"type":"ack","id":"a","message":{MESSAGE},"member":{MEMBER}}}"#),
            r#"{"type":"ack","id":"a","messages":[],"duplicate":true}"#.to_owned(),
            r#"{"type":"ack","id":"a","duplicate":true}"#.to_owned(),
        ] {
            assert!(
                serde_json::from_str::<ServerFrame>(&json).is_err(),
                "{json}"
            );
        }
    }
}
