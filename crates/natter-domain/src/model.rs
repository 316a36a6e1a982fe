//! The entities the services work with and the stores persist. Times are Unix milliseconds.

use crate::files::Attachment;
use crate::ids::{ConversationId, MessageId, SessionId, UserId};
use crate::values::{
    ClientMsgId, DeviceName, DisplayName, GroupName, MessageText, Reaction, Topic, Username,
};

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct User {
    pub id: UserId,
    pub username: Username,
    pub display_name: DisplayName,
    pub created_at_ms: i64,
    /// When the user was last connected; `None` if never.
    pub last_seen_ms: Option<i64>,
    /// Their picture: a snapshot of a complete picture file of theirs
    /// ([`FileContent::is_picture`](crate::files::FileContent::is_picture)), taken when it was
    /// chosen (files never change once complete, so it never goes stale). `None`: no picture.
    /// While it is set the file is everyone's to read and the collector keeps it.
    #[cfg_attr(feature = "serde", serde(default))]
    pub avatar: Option<Attachment>,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: UserId,
    pub username: Username,
    pub display_name: DisplayName,
    /// PHC-format argon2id hash.
    pub password_hash: String,
    pub created_at_ms: i64,
}

/// One logged-in device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub device_name: DeviceName,
    pub created_at_ms: i64,
    pub last_used_at_ms: i64,
}

/// Where a session's life ends: one created before `created_after_ms` (absolute lifetime) or
/// last used (refreshed) before `used_after_ms` (idle expiry) has expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCutoff {
    pub created_after_ms: i64,
    pub used_after_ms: i64,
}

impl SessionCutoff {
    /// Sessions never expire.
    pub const NONE: Self = Self {
        created_after_ms: i64::MIN,
        used_after_ms: i64::MIN,
    };

    /// The cutoff at `now_ms` for sessions living at most `max_age_ms`, idle at most `idle_ms`.
    pub fn at(now_ms: i64, max_age_ms: i64, idle_ms: i64) -> Self {
        Self {
            created_after_ms: now_ms.saturating_sub(max_age_ms),
            used_after_ms: now_ms.saturating_sub(idle_ms),
        }
    }

    pub fn admits(&self, created_at_ms: i64, last_used_at_ms: i64) -> bool {
        created_at_ms >= self.created_after_ms && last_used_at_ms >= self.used_after_ms
    }
}

#[derive(Debug, Clone)]
pub struct NewSession {
    pub session: Session,
    /// SHA-256 of the first refresh token.
    pub refresh_hash: [u8; 32],
}

/// Result of presenting a refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was current; it is now spent and the new hash is current.
    Rotated(Session),
    /// The token was already spent: someone replayed it, so the whole session was revoked.
    Reused {
        session_id: SessionId,
        user_id: UserId,
    },
    /// Unknown token, or its session was revoked or has expired (and is now revoked).
    Invalid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
pub enum ConversationKind {
    Direct,
    Group,
}

impl ConversationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Group => "group",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "direct" => Some(Self::Direct),
            "group" => Some(Self::Group),
            _ => None,
        }
    }
}

/// Ordered by power: `Owner > Admin > Member`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
pub enum Role {
    Member,
    Admin,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Admin => "admin",
            Self::Owner => "owner",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "member" => Some(Self::Member),
            "admin" => Some(Self::Admin),
            "owner" => Some(Self::Owner),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Conversation {
    pub id: ConversationId,
    pub kind: ConversationKind,
    /// Groups only; direct conversations are named after the other member by clients.
    pub name: Option<GroupName>,
    pub topic: Option<Topic>,
    pub created_by: UserId,
    pub created_at_ms: i64,
    /// `seq` of the newest message (0 when empty). Message seqs are 1, 2, 3... without gaps.
    pub last_seq: i64,
    /// The conversation's change counter: bumped by every new, edited, deleted or reacted-to
    /// message. Each message records the value of its latest change as its `mod_seq`, so
    /// "everything that changed after X" is one range scan.
    pub last_mod: i64,
    /// Time of the newest message, or of creation.
    pub last_activity_ms: i64,
    pub member_count: i64,
}

#[derive(Debug, Clone)]
pub struct NewConversation {
    pub id: ConversationId,
    pub kind: ConversationKind,
    pub name: Option<GroupName>,
    pub topic: Option<Topic>,
    pub created_by: UserId,
    pub created_at_ms: i64,
    /// Initial members with their roles; includes the creator.
    pub members: Vec<(UserId, Role)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Member {
    pub conversation_id: ConversationId,
    pub user_id: UserId,
    pub role: Role,
    pub muted: bool,
    /// Highest seq this member has read (0 = nothing).
    pub read_seq: i64,
    /// Highest seq delivered to one of this member's devices.
    pub delivered_seq: i64,
    pub joined_at_ms: i64,
    /// Opened the conversation or has sent a message in it. In a direct conversation only such
    /// a member's presence is shown to the other: a stranger's unsolicited message does not let
    /// the stranger watch when the recipient is online.
    #[cfg_attr(feature = "serde", serde(default))]
    pub replied: bool,
}

/// A conversation as one member sees it in their list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationSummary {
    pub conversation: Conversation,
    pub me: Member,
    pub last_message: Option<Message>,
    /// Messages after `me.read_seq` from other members that are not deleted.
    pub unread_count: i64,
    /// Of those, the ones that mention me.
    pub mention_count: i64,
    /// For direct conversations: the other member (so clients can name and show presence).
    pub peer: Option<UserId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ReactionCount {
    pub emoji: Reaction,
    /// Who reacted, in order of reacting.
    pub user_ids: Vec<UserId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub seq: i64,
    /// Value of the conversation's change counter at this message's latest change.
    pub mod_seq: i64,
    pub sender_id: UserId,
    pub client_msg_id: ClientMsgId,
    /// Empty once deleted.
    pub text: String,
    pub reply_to_seq: Option<i64>,
    pub mentions: Vec<UserId>,
    pub created_at_ms: i64,
    pub edited_at_ms: Option<i64>,
    pub deleted: bool,
    pub reactions: Vec<ReactionCount>,
    /// The files sent with the message, in the sender's order; empty once deleted.
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, Clone)]
pub struct NewMessage {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub sender_id: UserId,
    pub client_msg_id: ClientMsgId,
    pub text: MessageText,
    pub reply_to_seq: Option<i64>,
    pub mentions: Vec<UserId>,
    pub created_at_ms: i64,
    /// Complete files of the sender, at most [`crate::limits::ATTACHMENTS_MAX`].
    pub attachments: Vec<Attachment>,
}

/// What [`crate::ports::MessageStore::append`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendOutcome {
    /// A new message was stored with the next seq.
    Created(Message),
    /// The sender already sent this `client_msg_id` here; this is the original.
    Duplicate(Message),
}

impl AppendOutcome {
    pub fn message(&self) -> &Message {
        match self {
            Self::Created(m) | Self::Duplicate(m) => m,
        }
    }

    pub fn into_message(self) -> Message {
        match self {
            Self::Created(m) | Self::Duplicate(m) => m,
        }
    }
}

/// A change to an existing message.
#[derive(Debug, Clone)]
pub enum MessageChange {
    Edit {
        text: MessageText,
        mentions: Vec<UserId>,
    },
    Delete,
    AddReaction {
        user_id: UserId,
        emoji: Reaction,
    },
    RemoveReaction {
        user_id: UserId,
        emoji: Reaction,
    },
}

/// Which page of history to read. Pages are returned in ascending `seq` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryQuery {
    /// The newest `limit` messages.
    Latest { limit: u32 },
    /// Up to `limit` messages with `seq < before`, the closest ones.
    Before { before: i64, limit: u32 },
    /// Up to `limit` messages with `seq > after`, the closest ones.
    After { after: i64, limit: u32 },
}

/// Conversations changed for one user since a sync cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncPage {
    pub changed: Vec<ConversationSummary>,
    /// Conversations the user left or was removed from since the cursor.
    pub removed: Vec<ConversationId>,
    /// Pass this as `since` next time.
    pub cursor: i64,
}
