//! Rows as SQLite returns them, and their conversion into domain entities. Conversions are
//! fallible: a malformed UUID or an unknown enum string is reported as corrupt data
//! ([`StoreError::Internal`]), never a panic.

use natter_domain::files::Attachment;
use natter_domain::model::*;
use natter_domain::ports::StoreResult;
use natter_domain::values::*;
use natter_domain::{ConversationId, MessageId, SessionId, UserId};
use uuid::Uuid;

use crate::errors::{corrupt, sql};

/// Column list of `messages`, in [`MessageRow`]'s order (a macro so it can be `concat!`ed into
/// `&'static str` queries).
macro_rules! message_columns {
    () => {
        "conversation_id, seq, id, mod_seq, sender_id, client_msg_id, text, reply_to_seq, \
         created_at_ms, edited_at_ms, deleted, attachments"
    };
}
pub(crate) use message_columns;

macro_rules! conversation_columns {
    () => {
        "c.id, c.kind, c.name, c.topic, c.created_by, c.created_at_ms, c.last_seq, c.last_mod, \
         c.last_activity_ms, \
         (SELECT COUNT(*) FROM members cm WHERE cm.conversation_id = c.id AND cm.left_at_ms IS NULL) \
         AS member_count"
    };
}
pub(crate) use conversation_columns;

macro_rules! member_columns {
    () => {
        "m.conversation_id, m.user_id, m.role, m.muted, m.read_seq, m.delivered_seq, m.joined_at_ms, \
         m.replied"
    };
}
pub(crate) use member_columns;

macro_rules! user_columns {
    () => {
        "id, username, display_name, created_at_ms, last_seen_ms, avatar"
    };
}
pub(crate) use user_columns;

macro_rules! session_columns {
    () => {
        "s.id, s.user_id, s.device_name, s.created_at_ms, s.last_used_at_ms"
    };
}
pub(crate) use session_columns;

/// `from_row`, reading a row's columns in the order of the struct's fields (which is the order
/// of the matching column list above).
macro_rules! from_row {
    ($row_type:ident { $($field:ident),* $(,)? }) => {
        impl $row_type {
            pub(crate) fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
                let mut column = 0usize..;
                Ok(Self { $($field: row.get(column.next().unwrap_or_default())?),* })
            }
        }
    };
}
pub(crate) use from_row;

pub(crate) fn uuid_of(bytes: &[u8]) -> StoreResult<Uuid> {
    Uuid::from_slice(bytes).map_err(|_| corrupt(format!("uuid of {} bytes", bytes.len())))
}

pub(crate) fn user_id(bytes: &[u8]) -> StoreResult<UserId> {
    uuid_of(bytes).map(UserId)
}

/// Column `index` of `row` as bytes without copying them (anything but a blob reads as empty,
/// which `uuid_of` refuses).
pub(crate) fn blob<'r>(row: &'r rusqlite::Row<'_>, index: usize) -> StoreResult<&'r [u8]> {
    match row.get_ref(index).map_err(sql)? {
        rusqlite::types::ValueRef::Blob(bytes) => Ok(bytes),
        _ => Ok(&[]),
    }
}

/// `"<smaller>:<larger>"`: the same key whichever member is named first.
pub(crate) fn direct_key(a: UserId, b: UserId) -> String {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    format!("{lo}:{hi}")
}

pub(crate) struct UserRow {
    id: Vec<u8>,
    username: String,
    display_name: String,
    created_at_ms: i64,
    last_seen_ms: Option<i64>,
    avatar: Option<String>,
}

from_row!(UserRow {
    id,
    username,
    display_name,
    created_at_ms,
    last_seen_ms,
    avatar
});

impl UserRow {
    pub(crate) fn into_user(self) -> StoreResult<User> {
        Ok(User {
            id: user_id(&self.id)?,
            username: Username::from_trusted(self.username),
            display_name: DisplayName::from_trusted(self.display_name),
            created_at_ms: self.created_at_ms,
            last_seen_ms: self.last_seen_ms,
            avatar: self
                .avatar
                .map(|json| serde_json::from_str(&json))
                .transpose()
                .map_err(|err| corrupt(format!("avatar of a user: {err}")))?,
        })
    }
}

pub(crate) struct SessionRow {
    id: Vec<u8>,
    user_id: Vec<u8>,
    device_name: String,
    created_at_ms: i64,
    last_used_at_ms: i64,
}

from_row!(SessionRow {
    id,
    user_id,
    device_name,
    created_at_ms,
    last_used_at_ms
});

impl SessionRow {
    pub(crate) fn into_session(self) -> StoreResult<Session> {
        Ok(Session {
            id: SessionId(uuid_of(&self.id)?),
            user_id: user_id(&self.user_id)?,
            device_name: DeviceName::from_trusted(self.device_name),
            created_at_ms: self.created_at_ms,
            last_used_at_ms: self.last_used_at_ms,
        })
    }
}

pub(crate) struct ConversationRow {
    id: Vec<u8>,
    kind: String,
    name: Option<String>,
    topic: Option<String>,
    created_by: Vec<u8>,
    created_at_ms: i64,
    last_seq: i64,
    last_mod: i64,
    last_activity_ms: i64,
    member_count: i64,
}

from_row!(ConversationRow {
    id,
    kind,
    name,
    topic,
    created_by,
    created_at_ms,
    last_seq,
    last_mod,
    last_activity_ms,
    member_count
});

impl ConversationRow {
    pub(crate) fn into_conversation(self) -> StoreResult<Conversation> {
        Ok(Conversation {
            id: ConversationId(uuid_of(&self.id)?),
            kind: ConversationKind::parse(&self.kind)
                .ok_or_else(|| corrupt(format!("kind {:?}", self.kind)))?,
            name: self.name.map(GroupName::from_trusted),
            topic: self.topic.map(Topic::from_trusted),
            created_by: user_id(&self.created_by)?,
            created_at_ms: self.created_at_ms,
            last_seq: self.last_seq,
            last_mod: self.last_mod,
            last_activity_ms: self.last_activity_ms,
            member_count: self.member_count,
        })
    }
}

pub(crate) struct MemberRow {
    conversation_id: Vec<u8>,
    user_id: Vec<u8>,
    role: String,
    muted: bool,
    read_seq: i64,
    delivered_seq: i64,
    joined_at_ms: i64,
    replied: bool,
}

from_row!(MemberRow {
    conversation_id,
    user_id,
    role,
    muted,
    read_seq,
    delivered_seq,
    joined_at_ms,
    replied
});

impl MemberRow {
    pub(crate) fn into_member(self) -> StoreResult<Member> {
        Ok(Member {
            conversation_id: ConversationId(uuid_of(&self.conversation_id)?),
            user_id: user_id(&self.user_id)?,
            role: Role::parse(&self.role)
                .ok_or_else(|| corrupt(format!("role {:?}", self.role)))?,
            muted: self.muted,
            read_seq: self.read_seq,
            delivered_seq: self.delivered_seq,
            joined_at_ms: self.joined_at_ms,
            replied: self.replied,
        })
    }
}

pub(crate) struct MessageRow {
    conversation_id: Vec<u8>,
    pub(crate) seq: i64,
    id: i64,
    mod_seq: i64,
    sender_id: Vec<u8>,
    client_msg_id: String,
    text: String,
    reply_to_seq: Option<i64>,
    created_at_ms: i64,
    edited_at_ms: Option<i64>,
    deleted: bool,
    attachments: Option<String>,
}

from_row!(MessageRow {
    conversation_id,
    seq,
    id,
    mod_seq,
    sender_id,
    client_msg_id,
    text,
    reply_to_seq,
    created_at_ms,
    edited_at_ms,
    deleted,
    attachments
});

impl MessageRow {
    /// The message without its mentions and reactions (they live in their own tables).
    pub(crate) fn into_message(self) -> StoreResult<Message> {
        Ok(Message {
            id: MessageId(self.id),
            conversation_id: ConversationId(uuid_of(&self.conversation_id)?),
            seq: self.seq,
            mod_seq: self.mod_seq,
            sender_id: user_id(&self.sender_id)?,
            client_msg_id: ClientMsgId::from_trusted(self.client_msg_id),
            text: self.text,
            reply_to_seq: self.reply_to_seq,
            mentions: Vec::new(),
            created_at_ms: self.created_at_ms,
            edited_at_ms: self.edited_at_ms,
            deleted: self.deleted,
            reactions: Vec::new(),
            attachments: attachments_from_json(self.attachments.as_deref())?,
        })
    }
}

/// The `attachments` column: a JSON array of snapshots, NULL when there are none.
pub(crate) fn attachments_json(attachments: &[Attachment]) -> StoreResult<Option<String>> {
    if attachments.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(attachments)
        .map(Some)
        .map_err(|err| corrupt(format!("attachments of a message: {err}")))
}

fn attachments_from_json(json: Option<&str>) -> StoreResult<Vec<Attachment>> {
    json.map(serde_json::from_str)
        .transpose()
        .map(Option::unwrap_or_default)
        .map_err(|err| corrupt(format!("attachments of a message: {err}")))
}

/// One row of `mentions`, ordered by (seq, position) when loaded.
pub(crate) struct MentionRow {
    pub(crate) seq: i64,
    pub(crate) user_id: Vec<u8>,
}

from_row!(MentionRow { seq, user_id });

/// One row of `reactions`, ordered by (seq, position) when loaded.
pub(crate) struct ReactionRow {
    pub(crate) seq: i64,
    pub(crate) emoji: String,
    pub(crate) user_id: Vec<u8>,
}

from_row!(ReactionRow {
    seq,
    emoji,
    user_id
});

/// Group reactions (already in reacting order) by emoji, in order of each emoji's first reaction.
pub(crate) fn group_reactions(
    rows: impl IntoIterator<Item = (String, UserId)>,
) -> Vec<ReactionCount> {
    let mut groups: Vec<ReactionCount> = Vec::new();
    for (emoji, user) in rows {
        match groups.iter_mut().find(|g| g.emoji.as_str() == emoji) {
            Some(group) => group.user_ids.push(user),
            None => groups.push(ReactionCount {
                emoji: Reaction::from_trusted(emoji),
                user_ids: vec![user],
            }),
        }
    }
    groups
}
