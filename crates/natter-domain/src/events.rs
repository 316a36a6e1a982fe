//! Events: what happened, published on the bus after it is durable, delivered by gateways to
//! every connected device in the event's [`Audience`].

use crate::ids::{ConversationId, SessionId, UserId};
use crate::model::{Conversation, Member, Message, User};

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Event {
    MessageCreated(Message),
    /// Edited, deleted or reactions changed: the message's full new state.
    MessageUpdated(Message),
    ConversationUpdated(Conversation),
    /// Delivered to the conversation's members including the new one.
    MemberAdded {
        conversation: Conversation,
        member: Member,
        by: UserId,
    },
    /// Delivered to the remaining members and the removed one, after which the removed
    /// member's connections get nothing more from this conversation.
    MemberRemoved {
        conversation_id: ConversationId,
        user_id: UserId,
        by: UserId,
    },
    MemberUpdated {
        member: Member,
    },
    /// A member changed a setting only they see (mute): their own devices follow it, nobody
    /// else hears of it.
    MemberSettingsChanged {
        member: Member,
    },
    /// A member's read or delivered cursor moved.
    Receipt {
        conversation_id: ConversationId,
        user_id: UserId,
        read_seq: i64,
        delivered_seq: i64,
    },
    Typing {
        conversation_id: ConversationId,
        user_id: UserId,
        expires_in_ms: i64,
    },
    Presence {
        user_id: UserId,
        online: bool,
        last_seen_ms: Option<i64>,
        audience: Vec<UserId>,
    },
    UserUpdated {
        user: User,
        audience: Vec<UserId>,
    },
    /// A session was logged out: its open connections must close.
    SessionRevoked {
        user_id: UserId,
        session_id: SessionId,
    },
}

/// Who receives an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience<'a> {
    /// Every current member's connections.
    Conversation(ConversationId),
    /// These users' connections.
    Users(&'a [UserId]),
    /// One user's connections.
    User(UserId),
}

impl Event {
    pub fn audience(&self) -> Audience<'_> {
        match self {
            Self::MessageCreated(m) | Self::MessageUpdated(m) => {
                Audience::Conversation(m.conversation_id)
            }
            Self::ConversationUpdated(c) => Audience::Conversation(c.id),
            Self::MemberAdded { conversation, .. } => Audience::Conversation(conversation.id),
            Self::MemberRemoved {
                conversation_id, ..
            }
            | Self::Receipt {
                conversation_id, ..
            }
            | Self::Typing {
                conversation_id, ..
            } => Audience::Conversation(*conversation_id),
            Self::MemberUpdated { member } => Audience::Conversation(member.conversation_id),
            Self::MemberSettingsChanged { member } => Audience::User(member.user_id),
            Self::Presence { audience, .. } | Self::UserUpdated { audience, .. } => {
                Audience::Users(audience)
            }
            Self::SessionRevoked { user_id, .. } => Audience::User(*user_id),
        }
    }

    /// For message events: the conversation and change counter, used by gateways to drop live
    /// events a resuming client already received during catch-up.
    pub fn message_position(&self) -> Option<(ConversationId, i64)> {
        match self {
            Self::MessageCreated(m) | Self::MessageUpdated(m) => {
                Some((m.conversation_id, m.mod_seq))
            }
            _ => None,
        }
    }
}
