//! The bytes of an event on the bus: one version byte, then the body.
//!
//! Version 1 is JSON (serde_json over the domain's serde derives). Why JSON rather than a binary
//! format such as postcard: it is self-describing, so during a rolling upgrade a node can read
//! events from a newer node that added an optional field; it needs no new dependency; and
//! `redis-cli SUBSCRIBE natter:events` shows readable events when debugging. What it costs is
//! small: each node decodes each event once (the hub then serialises it once for all its
//! connections), and a chat event is a few hundred bytes. The version byte lets a future format
//! (a binary one, or compression) be introduced while nodes still read the old one.
//!
//! Decoding validates: the domain's validated values deserialize through their `parse`.

use natter_domain::events::Event;

/// JSON of the domain's serde representation.
pub const VERSION_JSON: u8 = 1;

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("empty payload")]
    Empty,
    #[error("unknown event format version {0}")]
    UnknownVersion(u8),
    #[error("invalid event: {0}")]
    Invalid(#[from] serde_json::Error),
}

pub fn encode(event: &Event) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(256);
    bytes.push(VERSION_JSON);
    serde_json::to_writer(&mut bytes, event).expect("events serialise to JSON");
    bytes
}

pub fn decode(bytes: &[u8]) -> Result<Event, DecodeError> {
    match bytes.split_first() {
        None => Err(DecodeError::Empty),
        Some((&VERSION_JSON, body)) => Ok(serde_json::from_slice(body)?),
        Some((&version, _)) => Err(DecodeError::UnknownVersion(version)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use natter_domain::model::{Message, ReactionCount};
    use natter_domain::values::{ClientMsgId, Reaction};
    use natter_domain::{ConversationId, MessageId, SessionId, UserId};

    fn message() -> Message {
        Message {
            id: MessageId(1 << 40),
            conversation_id: ConversationId::new(),
            seq: 7,
            mod_seq: 9,
            sender_id: UserId::new(),
            client_msg_id: ClientMsgId::parse("c-1").unwrap(),
            text: "hello\nworld".into(),
            reply_to_seq: Some(3),
            mentions: vec![UserId::new()],
            created_at_ms: 1_800_000_000_000,
            edited_at_ms: None,
            deleted: false,
            reactions: vec![ReactionCount {
                emoji: Reaction::parse("👍").unwrap(),
                user_ids: vec![UserId::new()],
            }],
            attachments: vec![natter_domain::files::Attachment {
                file_id: natter_domain::files::FileId::new(),
                name: natter_domain::files::FileName::parse("a.pdf").unwrap(),
                created_at_ms: 1_799_999_999_000,
                content: natter_domain::files::FileContent {
                    sha256: [1; 32],
                    size: 10,
                    mime: "application/pdf".into(),
                    completed_at_ms: 1_799_999_999_001,
                    media: None,
                },
            }],
        }
    }

    #[test]
    fn events_round_trip() {
        let events = [
            Event::MessageCreated(message()),
            Event::SessionRevoked {
                user_id: UserId::new(),
                session_id: SessionId::new(),
            },
            Event::Presence {
                user_id: UserId::new(),
                online: false,
                last_seen_ms: Some(5),
                audience: vec![UserId::new()],
            },
        ];
        for event in events {
            let bytes = encode(&event);
            assert_eq!(bytes[0], VERSION_JSON);
            assert_eq!(decode(&bytes).unwrap(), event);
        }
    }

    #[test]
    fn message_ids_stay_numbers() {
        let bytes = encode(&Event::MessageCreated(message()));
        let json: serde_json::Value = serde_json::from_slice(&bytes[1..]).unwrap();
        assert_eq!(json["MessageCreated"]["id"], serde_json::json!(1_i64 << 40));
    }

    #[test]
    fn invalid_values_and_unknown_versions_are_rejected() {
        let bytes = encode(&Event::MessageCreated(message()));
        let tampered = String::from_utf8(bytes.clone())
            .unwrap()
            .replace("\"c-1\"", "\"has space\"");
        assert!(matches!(
            decode(tampered.as_bytes()),
            Err(DecodeError::Invalid(_))
        ));
        let mut future = bytes;
        future[0] = 2;
        assert!(matches!(
            decode(&future),
            Err(DecodeError::UnknownVersion(2))
        ));
        assert!(matches!(decode(&[]), Err(DecodeError::Empty)));
    }
}
