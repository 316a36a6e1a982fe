//! Rows as PostgreSQL returns them, and their conversion into domain entities. Conversions are
//! fallible: an unknown enum string or mismatched parallel arrays are reported as corrupt data
//! ([`StoreError::Internal`](natter_domain::StoreError::Internal)), never a panic.
//!
//! Column lists are macros so they can be `concat!`ed into `&'static str` queries (sqlx only
//! takes static SQL without an explicit "this is safe" wrapper).

use natter_domain::files::Attachment;
use natter_domain::model::*;
use natter_domain::ports::StoreResult;
use natter_domain::values::*;
use natter_domain::{ConversationId, MessageId, SessionId, UserId};
use uuid::Uuid;

use crate::errors::corrupt;

macro_rules! user_columns {
    () => {
        "u.id, u.username, u.display_name, u.created_at_ms, u.last_seen_ms, u.avatar"
    };
}
pub(crate) use user_columns;

macro_rules! session_columns {
    () => {
        "s.id, s.user_id, s.device_name, s.created_at_ms, s.last_used_at_ms"
    };
}
pub(crate) use session_columns;

macro_rules! conversation_columns {
    () => {
        "c.id, c.kind, c.name, c.topic, c.created_by, c.created_at_ms, c.last_seq, c.last_mod, \
         c.last_activity_ms, c.member_count"
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

/// Columns of `messages x`, with its reactions as two parallel arrays in reacting order.
macro_rules! message_columns {
    () => {
        "x.conversation_id, x.seq, x.id, x.mod_seq, x.sender_id, x.client_msg_id, x.text, \
         x.reply_to_seq, x.mentions, x.created_at_ms, x.edited_at_ms, x.deleted, x.attachments, \
         ARRAY(SELECT r.emoji FROM reactions r WHERE r.conversation_id = x.conversation_id \
               AND r.seq = x.seq ORDER BY r.position) AS reaction_emojis, \
         ARRAY(SELECT r.user_id FROM reactions r WHERE r.conversation_id = x.conversation_id \
               AND r.seq = x.seq ORDER BY r.position) AS reaction_users"
    };
}
pub(crate) use message_columns;

/// The two members of a direct conversation, smaller first: the same key whichever is named
/// first.
pub(crate) fn direct_pair(a: UserId, b: UserId) -> (Uuid, Uuid) {
    if a <= b { (a.0, b.0) } else { (b.0, a.0) }
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: Uuid,
    username: String,
    display_name: String,
    created_at_ms: i64,
    last_seen_ms: Option<i64>,
    avatar: Option<String>,
}

impl UserRow {
    pub(crate) fn into_user(self) -> StoreResult<User> {
        Ok(User {
            id: UserId(self.id),
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

#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    id: Uuid,
    user_id: Uuid,
    device_name: String,
    created_at_ms: i64,
    last_used_at_ms: i64,
}

impl SessionRow {
    pub(crate) fn into_session(self) -> Session {
        Session {
            id: SessionId(self.id),
            user_id: UserId(self.user_id),
            device_name: DeviceName::from_trusted(self.device_name),
            created_at_ms: self.created_at_ms,
            last_used_at_ms: self.last_used_at_ms,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ConversationRow {
    id: Uuid,
    kind: String,
    name: Option<String>,
    topic: Option<String>,
    created_by: Uuid,
    created_at_ms: i64,
    last_seq: i64,
    last_mod: i64,
    last_activity_ms: i64,
    member_count: i64,
}

impl ConversationRow {
    pub(crate) fn into_conversation(self) -> StoreResult<Conversation> {
        Ok(Conversation {
            id: ConversationId(self.id),
            kind: ConversationKind::parse(&self.kind)
                .ok_or_else(|| corrupt(format!("kind {:?}", self.kind)))?,
            name: self.name.map(GroupName::from_trusted),
            topic: self.topic.map(Topic::from_trusted),
            created_by: UserId(self.created_by),
            created_at_ms: self.created_at_ms,
            last_seq: self.last_seq,
            last_mod: self.last_mod,
            last_activity_ms: self.last_activity_ms,
            member_count: self.member_count,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct MemberRow {
    conversation_id: Uuid,
    user_id: Uuid,
    role: String,
    muted: bool,
    read_seq: i64,
    delivered_seq: i64,
    joined_at_ms: i64,
    replied: bool,
}

impl MemberRow {
    pub(crate) fn into_member(self) -> StoreResult<Member> {
        Ok(Member {
            conversation_id: ConversationId(self.conversation_id),
            user_id: UserId(self.user_id),
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

#[derive(sqlx::FromRow)]
pub(crate) struct MessageRow {
    conversation_id: Uuid,
    seq: i64,
    id: i64,
    mod_seq: i64,
    sender_id: Uuid,
    client_msg_id: String,
    text: String,
    reply_to_seq: Option<i64>,
    mentions: Vec<Uuid>,
    created_at_ms: i64,
    edited_at_ms: Option<i64>,
    deleted: bool,
    attachments: Option<String>,
    reaction_emojis: Vec<String>,
    reaction_users: Vec<Uuid>,
}

impl MessageRow {
    pub(crate) fn into_message(self) -> StoreResult<Message> {
        if self.reaction_emojis.len() != self.reaction_users.len() {
            return Err(corrupt(format!(
                "reactions of message {} in {}",
                self.seq, self.conversation_id
            )));
        }
        let reactions = group_reactions(
            self.reaction_emojis
                .into_iter()
                .zip(self.reaction_users.into_iter().map(UserId)),
        );
        Ok(Message {
            id: MessageId(self.id),
            conversation_id: ConversationId(self.conversation_id),
            seq: self.seq,
            mod_seq: self.mod_seq,
            sender_id: UserId(self.sender_id),
            client_msg_id: ClientMsgId::from_trusted(self.client_msg_id),
            text: self.text,
            reply_to_seq: self.reply_to_seq,
            mentions: self.mentions.into_iter().map(UserId).collect(),
            created_at_ms: self.created_at_ms,
            edited_at_ms: self.edited_at_ms,
            deleted: self.deleted,
            reactions,
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

/// Group reactions (already in reacting order) by emoji, in order of each emoji's first reaction.
fn group_reactions(rows: impl IntoIterator<Item = (String, UserId)>) -> Vec<ReactionCount> {
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
