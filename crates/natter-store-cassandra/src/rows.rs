//! Rows of `messages` as the store writes and reads them, and their conversion to
//! [`Message`].
//!
//! Writing: [`MessageRowValues`] binds *every* column of a row, and none of its fields can be
//! null (no `Option` anywhere): absent values have sentinels (`reply_to_seq` 0 = no reply,
//! `edited_at_ms` 0 = never edited, `prev_mod_seq` 0 = no previous version, empty lists). A null
//! would be a tombstone, and a partial write would leave cells of an older write behind; a
//! whole-row write at a larger timestamp replaces every cell of whatever was there, which is
//! what lets an uncommitted ("orphan") row be overwritten by the next writer of its seq.
//!
//! Reactions are stored flat, `(emoji, user)` pairs in reacting order, and grouped on read (as
//! the embedded store does): groups are ordered by their earliest *remaining* reaction, which a
//! list of groups could not tell after a removal.

use natter_domain::StoreError;
use natter_domain::files::Attachment;
use natter_domain::model::{Message, ReactionCount};
use natter_domain::ports::StoreResult;
use natter_domain::values::{ClientMsgId, Reaction};
use natter_domain::{ConversationId, MessageId, UserId};
use scylla::{DeserializeRow, SerializeRow};
use uuid::Uuid;

/// The mutable part of a message at one change: what an edit, delete or reaction replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Version {
    /// The conversation's change counter at this version; 0 = no version (see `prev`).
    pub mod_seq: i64,
    pub text: String,
    /// Deduplicated, in order of first mention.
    pub mentions: Vec<Uuid>,
    /// 0 = never edited.
    pub edited_at_ms: i64,
    pub deleted: bool,
    /// `(emoji, user)` in reacting order.
    pub reactions: Vec<(String, Uuid)>,
    /// The attachments as a JSON array; empty when there are none (and once deleted).
    pub attachments: String,
}

impl Version {
    /// The placeholder `prev` of a row that has no previous version (a new message).
    pub fn none() -> Self {
        Self {
            mod_seq: 0,
            text: String::new(),
            mentions: Vec::new(),
            edited_at_ms: 0,
            deleted: false,
            reactions: Vec::new(),
            attachments: String::new(),
        }
    }
}

/// One row of `messages`: the immutable fields and two versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredMessage {
    pub conversation_id: ConversationId,
    pub seq: i64,
    pub id: i64,
    pub sender_id: Uuid,
    pub client_msg_id: String,
    /// 0 = not a reply.
    pub reply_to_seq: i64,
    pub created_at_ms: i64,
    /// The latest write; committed only if the sequencer committed its `mod_seq` for this row.
    pub current: Version,
    /// The committed version `current` replaced (`mod_seq` 0 for a new message).
    pub prev: Version,
}

impl StoredMessage {
    /// The message as it was at `version`.
    pub fn message(&self, version: &Version) -> StoreResult<Message> {
        Ok(Message {
            id: MessageId(self.id),
            conversation_id: self.conversation_id,
            seq: self.seq,
            mod_seq: version.mod_seq,
            sender_id: UserId(self.sender_id),
            client_msg_id: ClientMsgId::from_trusted(self.client_msg_id.clone()),
            text: version.text.clone(),
            reply_to_seq: (self.reply_to_seq != 0).then_some(self.reply_to_seq),
            mentions: version.mentions.iter().copied().map(UserId).collect(),
            created_at_ms: self.created_at_ms,
            edited_at_ms: (version.edited_at_ms != 0).then_some(version.edited_at_ms),
            deleted: version.deleted,
            reactions: group_reactions(&version.reactions),
            attachments: attachments_from_json(&version.attachments)?,
        })
    }

    /// The bound values of the whole-row insert, written at `stamp`.
    pub fn values(&self, bucket: i64, stamp: i64) -> MessageRowValues<'_> {
        let (c, p) = (&self.current, &self.prev);
        MessageRowValues {
            conversation_id: self.conversation_id.0,
            bucket,
            seq: self.seq,
            id: self.id,
            sender_id: self.sender_id,
            client_msg_id: &self.client_msg_id,
            reply_to_seq: self.reply_to_seq,
            created_at_ms: self.created_at_ms,
            mod_seq: c.mod_seq,
            text: &c.text,
            mentions: &c.mentions,
            edited_at_ms: c.edited_at_ms,
            deleted: c.deleted,
            reactions: &c.reactions,
            attachments: &c.attachments,
            prev_mod_seq: p.mod_seq,
            prev_text: &p.text,
            prev_mentions: &p.mentions,
            prev_edited_at_ms: p.edited_at_ms,
            prev_deleted: p.deleted,
            prev_reactions: &p.reactions,
            prev_attachments: &p.attachments,
            stamp,
        }
    }
}

/// Group `(emoji, user)` pairs (in reacting order) by emoji, groups in order of their first
/// pair.
pub(crate) fn group_reactions(pairs: &[(String, Uuid)]) -> Vec<ReactionCount> {
    let mut groups: Vec<ReactionCount> = Vec::new();
    for (emoji, user) in pairs {
        match groups.iter_mut().find(|g| g.emoji.as_str() == emoji) {
            Some(group) => group.user_ids.push(UserId(*user)),
            None => groups.push(ReactionCount {
                emoji: Reaction::from_trusted(emoji.clone()),
                user_ids: vec![UserId(*user)],
            }),
        }
    }
    groups
}

/// The `attachments` cell of a message: a JSON array of snapshots, empty when there are none.
pub(crate) fn attachments_json(attachments: &[Attachment]) -> StoreResult<String> {
    if attachments.is_empty() {
        return Ok(String::new());
    }
    serde_json::to_string(attachments)
        .map_err(|err| StoreError::Internal(format!("attachments of a message: {err}")))
}

fn attachments_from_json(json: &str) -> StoreResult<Vec<Attachment>> {
    if json.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(json)
        .map_err(|err| StoreError::Internal(format!("corrupt attachments of a message: {err}")))
}

/// Column list of `messages` (bucket excluded), in [`MessageRowRead`]'s order; every read
/// selects exactly these.
pub(crate) const MESSAGE_COLUMNS: &str = "seq, id, sender_id, client_msg_id, reply_to_seq, \
     created_at_ms, mod_seq, text, mentions, edited_at_ms, deleted, reactions, attachments, \
     prev_mod_seq, prev_text, prev_mentions, prev_edited_at_ms, prev_deleted, prev_reactions, \
     prev_attachments";

/// The bound values of `INSERT INTO messages (...) VALUES (...) USING TIMESTAMP :stamp`,
/// matched to the statement's markers by name. Every field is a non-null value.
#[derive(SerializeRow, Debug)]
pub(crate) struct MessageRowValues<'a> {
    pub conversation_id: Uuid,
    pub bucket: i64,
    pub seq: i64,
    pub id: i64,
    pub sender_id: Uuid,
    pub client_msg_id: &'a str,
    pub reply_to_seq: i64,
    pub created_at_ms: i64,
    pub mod_seq: i64,
    pub text: &'a str,
    pub mentions: &'a [Uuid],
    pub edited_at_ms: i64,
    pub deleted: bool,
    pub reactions: &'a [(String, Uuid)],
    pub attachments: &'a str,
    pub prev_mod_seq: i64,
    pub prev_text: &'a str,
    pub prev_mentions: &'a [Uuid],
    pub prev_edited_at_ms: i64,
    pub prev_deleted: bool,
    pub prev_reactions: &'a [(String, Uuid)],
    pub prev_attachments: &'a str,
    pub stamp: i64,
}

/// A row of `messages` as [`MESSAGE_COLUMNS`] selects it.
#[derive(DeserializeRow, Debug)]
pub(crate) struct MessageRowRead {
    seq: i64,
    id: i64,
    sender_id: Uuid,
    client_msg_id: String,
    reply_to_seq: i64,
    created_at_ms: i64,
    mod_seq: i64,
    text: String,
    mentions: Vec<Uuid>,
    edited_at_ms: i64,
    deleted: bool,
    reactions: Vec<(String, Uuid)>,
    attachments: String,
    prev_mod_seq: i64,
    prev_text: String,
    prev_mentions: Vec<Uuid>,
    prev_edited_at_ms: i64,
    prev_deleted: bool,
    prev_reactions: Vec<(String, Uuid)>,
    prev_attachments: String,
}

impl MessageRowRead {
    pub fn into_stored(self, conversation_id: ConversationId) -> StoredMessage {
        StoredMessage {
            conversation_id,
            seq: self.seq,
            id: self.id,
            sender_id: self.sender_id,
            client_msg_id: self.client_msg_id,
            reply_to_seq: self.reply_to_seq,
            created_at_ms: self.created_at_ms,
            current: Version {
                mod_seq: self.mod_seq,
                text: self.text,
                mentions: self.mentions,
                edited_at_ms: self.edited_at_ms,
                deleted: self.deleted,
                reactions: self.reactions,
                attachments: self.attachments,
            },
            prev: Version {
                mod_seq: self.prev_mod_seq,
                text: self.prev_text,
                mentions: self.prev_mentions,
                edited_at_ms: self.prev_edited_at_ms,
                deleted: self.prev_deleted,
                reactions: self.prev_reactions,
                attachments: self.prev_attachments,
            },
        }
    }
}

#[cfg(test)]
mod tests;
