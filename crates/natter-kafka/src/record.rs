//! The log record: one message event as it is stored in Kafka. JSON, so operators can read the
//! topic with any tool, and mapped by hand from the domain types, so the domain carries no
//! serialisation concerns.
//!
//! Compatibility: `v` changes only for incompatible changes. Adding an optional field keeps
//! `v = 1` (readers ignore unknown fields, and new fields default when absent); a reader skips
//! records of a version it does not know (see the consumer loop) rather than misreading them.
//!
//! The record carries the whole message (since the fields after `deleted` were added, still
//! `v = 1`), so a gateway reading the log while the real-time bus is down ([`crate::failover`])
//! builds the same `message.new` / `message.updated` frame as from the bus ([`MessageRecord::to_event`]).
//! A record written before those fields existed has no `client_msg_id` and cannot be turned back
//! into an event.
//!
//! Key: the conversation id's 16 bytes, so one conversation's records share a partition and
//! keep their commit order.

use natter_domain::events::Event;
use natter_domain::files::Attachment;
use natter_domain::model::{Message, ReactionCount};
use natter_domain::values::{ClientMsgId, Reaction};
use natter_domain::{ConversationId, MessageId, UserId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The record format this crate writes and reads.
pub const RECORD_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// A new message (`Event::MessageCreated`).
    Created,
    /// A message's new state after an edit, delete or reaction (`Event::MessageUpdated`).
    Updated,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    pub v: u32,
    pub kind: RecordKind,
    pub conversation_id: Uuid,
    pub seq: i64,
    pub mod_seq: i64,
    /// The 64-bit message id as a decimal string (JavaScript readers lose precision past 2^53).
    pub message_id: String,
    pub sender_id: Uuid,
    /// Empty once deleted.
    pub text: String,
    #[serde(default)]
    pub mentions: Vec<Uuid>,
    pub created_at_ms: i64,
    #[serde(default)]
    pub deleted: bool,
    /// Empty in records written before it was added.
    #[serde(default)]
    pub client_msg_id: String,
    #[serde(default)]
    pub reply_to_seq: Option<i64>,
    #[serde(default)]
    pub edited_at_ms: Option<i64>,
    #[serde(default)]
    pub reactions: Vec<RecordReaction>,
    /// Snapshots of the files the message carries, in the domain's own JSON shape (the same the
    /// stores keep); absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

/// One reaction and who reacted, in order of reacting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordReaction {
    pub emoji: String,
    pub user_ids: Vec<Uuid>,
}

/// A record that cannot be read: never retried, the consumer skips it.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("record has no payload")]
    Empty,
    #[error("record is not valid JSON for this format: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unknown record version {0} (this reader knows {RECORD_VERSION})")]
    Version(u32),
    #[error("bad message id {0:?}")]
    MessageId(String),
    #[error("record cannot be turned back into an event: {0}")]
    Incomplete(String),
}

impl MessageRecord {
    /// The record for a durable message event; `None` for the events that only matter live
    /// (typing, presence, receipts, membership).
    pub fn from_event(event: &Event) -> Option<Self> {
        match event {
            Event::MessageCreated(message) => {
                Some(Self::from_message(RecordKind::Created, message))
            }
            Event::MessageUpdated(message) => {
                Some(Self::from_message(RecordKind::Updated, message))
            }
            _ => None,
        }
    }

    pub fn from_message(kind: RecordKind, message: &Message) -> Self {
        Self {
            v: RECORD_VERSION,
            kind,
            conversation_id: message.conversation_id.0,
            seq: message.seq,
            mod_seq: message.mod_seq,
            message_id: message.id.0.to_string(),
            sender_id: message.sender_id.0,
            text: message.text.clone(),
            mentions: message.mentions.iter().map(|user| user.0).collect(),
            created_at_ms: message.created_at_ms,
            deleted: message.deleted,
            client_msg_id: message.client_msg_id.as_str().to_owned(),
            reply_to_seq: message.reply_to_seq,
            edited_at_ms: message.edited_at_ms,
            reactions: message
                .reactions
                .iter()
                .map(|reaction| RecordReaction {
                    emoji: reaction.emoji.as_str().to_owned(),
                    user_ids: reaction.user_ids.iter().map(|user| user.0).collect(),
                })
                .collect(),
            attachments: message.attachments.clone(),
        }
    }

    /// The event this record was written for, as the real-time bus carried it.
    pub fn to_event(&self) -> Result<Event, RecordError> {
        let incomplete = |err: natter_domain::DomainError| RecordError::Incomplete(err.to_string());
        let reactions = self
            .reactions
            .iter()
            .map(|reaction| {
                Ok(ReactionCount {
                    emoji: Reaction::parse(&reaction.emoji).map_err(incomplete)?,
                    user_ids: reaction.user_ids.iter().copied().map(UserId).collect(),
                })
            })
            .collect::<Result<_, RecordError>>()?;
        let message = Message {
            id: self.message_id()?,
            conversation_id: self.conversation(),
            seq: self.seq,
            mod_seq: self.mod_seq,
            sender_id: self.sender(),
            client_msg_id: ClientMsgId::parse(&self.client_msg_id).map_err(incomplete)?,
            text: self.text.clone(),
            reply_to_seq: self.reply_to_seq,
            mentions: self.mentions.iter().copied().map(UserId).collect(),
            created_at_ms: self.created_at_ms,
            edited_at_ms: self.edited_at_ms,
            deleted: self.deleted,
            reactions,
            attachments: self.attachments.clone(),
        };
        Ok(match self.kind {
            RecordKind::Created => Event::MessageCreated(message),
            RecordKind::Updated => Event::MessageUpdated(message),
        })
    }

    /// The Kafka key: the conversation id's bytes.
    pub fn key(&self) -> [u8; 16] {
        *self.conversation_id.as_bytes()
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a record of strings and numbers always serialises")
    }

    pub fn decode(payload: Option<&[u8]>) -> Result<Self, RecordError> {
        let payload = payload.ok_or(RecordError::Empty)?;
        let record: Self = serde_json::from_slice(payload)?;
        if record.v != RECORD_VERSION {
            return Err(RecordError::Version(record.v));
        }
        record.message_id()?;
        Ok(record)
    }

    pub fn conversation(&self) -> ConversationId {
        ConversationId(self.conversation_id)
    }

    pub fn sender(&self) -> UserId {
        UserId(self.sender_id)
    }

    pub fn message_id(&self) -> Result<MessageId, RecordError> {
        self.message_id
            .parse()
            .map(MessageId)
            .map_err(|_| RecordError::MessageId(self.message_id.clone()))
    }

    pub fn mentions(&self, user: UserId) -> bool {
        self.mentions.contains(&user.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use natter_domain::values::ClientMsgId;

    fn message() -> Message {
        Message {
            id: MessageId(7_000_000_000_123),
            conversation_id: ConversationId::new(),
            seq: 4,
            mod_seq: 9,
            sender_id: UserId::new(),
            client_msg_id: ClientMsgId::parse("c-1").unwrap(),
            text: "hello @bob".into(),
            reply_to_seq: None,
            mentions: vec![UserId::new()],
            created_at_ms: 1_800_000_000_000,
            edited_at_ms: None,
            deleted: false,
            reactions: vec![],
            attachments: vec![Attachment {
                file_id: natter_domain::files::FileId::new(),
                name: natter_domain::files::FileName::parse("cat.png").unwrap(),
                created_at_ms: 1_799_999_999_000,
                content: natter_domain::files::FileContent {
                    sha256: [3; 32],
                    size: 1_234,
                    mime: "image/png".into(),
                    completed_at_ms: 1_799_999_999_500,
                    media: Some(natter_domain::files::MediaInfo {
                        width: Some(64),
                        height: Some(48),
                        thumbhash: Some(vec![1, 2, 3]),
                        ..Default::default()
                    }),
                },
            }],
        }
    }

    #[test]
    fn round_trips_and_keys_by_conversation() {
        let message = message();
        let record = MessageRecord::from_event(&Event::MessageCreated(message.clone())).unwrap();
        let decoded = MessageRecord::decode(Some(&record.encode())).unwrap();
        assert_eq!(decoded, record);
        assert_eq!(decoded.kind, RecordKind::Created);
        assert_eq!(decoded.conversation(), message.conversation_id);
        assert_eq!(decoded.message_id().unwrap(), message.id);
        assert!(decoded.mentions(message.mentions[0]));
        assert_eq!(decoded.key(), *message.conversation_id.0.as_bytes());
    }

    #[test]
    fn turns_back_into_the_same_event() {
        let mut message = message();
        message.reply_to_seq = Some(2);
        message.edited_at_ms = Some(1_800_000_000_500);
        message.reactions = vec![ReactionCount {
            emoji: Reaction::parse(":tada:").unwrap(),
            user_ids: vec![UserId::new(), message.sender_id],
        }];
        for event in [
            Event::MessageCreated(message.clone()),
            Event::MessageUpdated(message.clone()),
        ] {
            let record = MessageRecord::from_event(&event).unwrap();
            let decoded = MessageRecord::decode(Some(&record.encode())).unwrap();
            assert_eq!(decoded.to_event().unwrap(), event);
        }
    }

    #[test]
    fn a_record_from_before_the_new_fields_still_reads() {
        let old = r#"{"v":1,"kind":"created","conversation_id":"0190a5f2-7c3e-7b1a-9c1d-2f3e4a5b6c7d",
            "seq":4,"mod_seq":9,"message_id":"7000000000123",
            "sender_id":"0190a5f2-7c3e-7b1a-9c1d-2f3e4a5b6c7e","text":"hi","mentions":[],
            "created_at_ms":1800000000000,"deleted":false}"#;
        let record = MessageRecord::decode(Some(old.as_bytes())).unwrap();
        assert_eq!(
            (record.seq, record.mod_seq, record.text.as_str()),
            (4, 9, "hi")
        );
        assert_eq!(record.client_msg_id, "");
        assert_eq!(record.reply_to_seq, None);
        assert!(record.reactions.is_empty());
        assert!(matches!(record.to_event(), Err(RecordError::Incomplete(_))));
    }

    #[test]
    fn wire_shape_is_stable() {
        let record = MessageRecord::from_event(&Event::MessageUpdated(message())).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&record.encode()).unwrap();
        assert_eq!(json["v"], 1);
        assert_eq!(json["kind"], "updated");
        assert_eq!(json["message_id"], "7000000000123");
        assert_eq!(json["seq"], 4);
        assert!(json["conversation_id"].as_str().unwrap().contains('-'));
    }

    #[test]
    fn only_message_events_are_logged() {
        let typing = Event::Typing {
            conversation_id: ConversationId::new(),
            user_id: UserId::new(),
            expires_in_ms: 1000,
        };
        assert!(MessageRecord::from_event(&typing).is_none());
    }

    #[test]
    fn unreadable_records_are_errors() {
        assert!(matches!(
            MessageRecord::decode(None),
            Err(RecordError::Empty)
        ));
        assert!(matches!(
            MessageRecord::decode(Some(b"{")),
            Err(RecordError::Json(_))
        ));
        let mut record = MessageRecord::from_message(RecordKind::Created, &message());
        record.v = 2;
        assert!(matches!(
            MessageRecord::decode(Some(&record.encode())),
            Err(RecordError::Version(2))
        ));
        record.v = 1;
        record.message_id = "x".into();
        assert!(matches!(
            MessageRecord::decode(Some(&record.encode())),
            Err(RecordError::MessageId(_))
        ));
    }
}
