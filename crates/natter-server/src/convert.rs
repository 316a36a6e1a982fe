//! Domain entities to wire views (natter-protocol). The only place the two meet.

use natter_domain::model::*;
use natter_domain::service::UserWithPresence;
use natter_protocol as wire;

use crate::media::FileService;

/// A user as anyone sees them; `files` signs the URLs of their picture (`None` only where no
/// files are kept, so no user has one).
pub fn user(user: &User, files: Option<&FileService>) -> wire::UserView {
    wire::UserView {
        id: user.id.0,
        username: user.username.to_string(),
        display_name: user.display_name.to_string(),
        created_at_ms: user.created_at_ms,
        online: None,
        last_seen_ms: None,
        avatar: files
            .zip(user.avatar.as_ref())
            .and_then(|(files, picture)| files.avatar(picture)),
    }
}

pub fn user_with_presence(seen: &UserWithPresence, files: Option<&FileService>) -> wire::UserView {
    let mut view = user(&seen.user, files);
    if seen.online.is_some() {
        view.online = seen.online;
        view.last_seen_ms = seen.user.last_seen_ms;
    }
    view
}

pub fn session(session: &Session, current: natter_domain::SessionId) -> wire::SessionView {
    wire::SessionView {
        id: session.id.0,
        device_name: session.device_name.to_string(),
        created_at_ms: session.created_at_ms,
        last_used_at_ms: session.last_used_at_ms,
        current: session.id == current,
    }
}

pub fn conversation(c: &Conversation) -> wire::ConversationView {
    wire::ConversationView {
        id: c.id.0,
        kind: c.kind.as_str().to_owned(),
        name: c.name.as_ref().map(ToString::to_string),
        topic: c.topic.as_ref().map(ToString::to_string),
        created_by: c.created_by.0,
        created_at_ms: c.created_at_ms,
        last_seq: c.last_seq,
        last_mod: c.last_mod,
        last_activity_ms: c.last_activity_ms,
        member_count: c.member_count,
    }
}

pub fn member(m: &Member) -> wire::MemberView {
    wire::MemberView {
        conversation_id: m.conversation_id.0,
        user_id: m.user_id.0,
        role: m.role.as_str().to_owned(),
        muted: m.muted,
        read_seq: m.read_seq,
        delivered_seq: m.delivered_seq,
        joined_at_ms: m.joined_at_ms,
    }
}

/// A conversation summary; `files` signs the URLs of the last message's attachments.
pub fn summary(
    s: &ConversationSummary,
    files: Option<&FileService>,
) -> wire::ConversationSummaryView {
    wire::ConversationSummaryView {
        conversation: conversation(&s.conversation),
        me: member(&s.me),
        last_message: s.last_message.as_ref().map(|m| message(m, files)),
        unread_count: s.unread_count,
        mention_count: s.mention_count,
        peer: s.peer.map(|p| p.0),
    }
}

/// A message as clients see it. Its attachments get fresh signed URLs from `files`, the node's
/// file service (`None` only where no files are kept, so no message has any).
pub fn message(m: &Message, files: Option<&FileService>) -> wire::MessageView {
    wire::MessageView {
        id: m.id.0.to_string(),
        conversation_id: m.conversation_id.0,
        seq: m.seq,
        mod_seq: m.mod_seq,
        sender_id: m.sender_id.0,
        client_msg_id: m.client_msg_id.to_string(),
        text: m.text.clone(),
        reply_to_seq: m.reply_to_seq,
        mentions: m.mentions.iter().map(|u| u.0).collect(),
        created_at_ms: m.created_at_ms,
        edited_at_ms: m.edited_at_ms,
        deleted: m.deleted,
        reactions: m
            .reactions
            .iter()
            .map(|r| wire::ReactionView {
                emoji: r.emoji.to_string(),
                user_ids: r.user_ids.iter().map(|u| u.0).collect(),
            })
            .collect(),
        attachments: match files {
            Some(files) => m.attachments.iter().map(|a| files.view(a)).collect(),
            None => Vec::new(),
        },
    }
}

pub fn sync(page: &SyncPage, files: Option<&FileService>) -> wire::SyncView {
    wire::SyncView {
        changed: page.changed.iter().map(|s| summary(s, files)).collect(),
        removed: page.removed.iter().map(|c| c.0).collect(),
        cursor: page.cursor,
    }
}
