//! How the server's events and the answers to effects change the state (`App::update` hands
//! them here).

use natter_sdk::protocol::{ConversationSummaryView, MessageView, ServerFrame, UserView};
use uuid::Uuid;

use super::{App, Compose, Conv, Effect, Focus, History, User};
use crate::view::layout;

impl App {
    pub(super) fn on_frame(&mut self, frame: ServerFrame, effects: &mut Vec<Effect>) {
        match frame {
            ServerFrame::MessageNew { message } => {
                // Whoever sent it stopped typing (also when a resume's summary already counted
                // the message).
                if let Some(conv) = self.convs.get_mut(&message.conversation_id) {
                    conv.typing.remove(&message.sender_id);
                }
                self.on_message(message, effects)
            }
            ServerFrame::MessageUpdated { message } => self.on_message(message, effects),
            ServerFrame::Conversation { summary } => {
                self.on_summary(&summary, effects);
                self.reorder();
            }
            ServerFrame::ConversationUpdated { conversation } => {
                if let Some(conv) = self.convs.get_mut(&conversation.id) {
                    conv.name = conversation.name;
                    conv.topic = conversation.topic;
                    conv.member_count = conversation.member_count;
                }
            }
            ServerFrame::ConversationRemoved { conversation_id } => self.remove(conversation_id),
            ServerFrame::MemberRemoved {
                conversation_id,
                user_id,
                ..
            } if user_id == self.me.id => self.remove(conversation_id),
            ServerFrame::MemberAdded {
                conversation,
                member,
                ..
            } => {
                if let Some(conv) = self.convs.get_mut(&conversation.id) {
                    conv.member_count = conversation.member_count;
                } else if member.user_id == self.me.id {
                    self.request_conv(conversation.id, effects);
                }
            }
            ServerFrame::Receipt {
                conversation_id,
                user_id,
                read_seq,
                ..
            } => self.on_receipt(conversation_id, user_id, read_seq),
            ServerFrame::Typing {
                conversation_id,
                user_id,
                expires_in_ms,
            } if user_id != self.me.id => {
                if let Some(conv) = self.convs.get_mut(&conversation_id) {
                    conv.typing.insert(user_id, self.now_ms + expires_in_ms);
                }
                self.request_users([user_id], effects);
            }
            ServerFrame::Presence {
                user_id,
                online,
                last_seen_ms,
            } => {
                if let Some(user) = self.users.get_mut(&user_id) {
                    user.online = Some(online);
                    user.last_seen_ms = last_seen_ms.or(user.last_seen_ms);
                } else {
                    self.request_users([user_id], effects);
                }
            }
            ServerFrame::UserUpdated { user } => self.on_user(user),
            _ => {}
        }
    }

    pub(super) fn on_receipt(&mut self, conversation_id: Uuid, user_id: Uuid, read_seq: i64) {
        let me = self.me.id;
        let Some(conv) = self.convs.get_mut(&conversation_id) else {
            return;
        };
        if user_id == me {
            conv.read_seq = conv.read_seq.max(read_seq);
            if conv.read_seq >= conv.last_seq {
                conv.unread = 0;
                conv.mentions = 0;
            } else {
                conv.unread = conv.unread.min(conv.last_seq - conv.read_seq);
            }
        } else {
            let cursor = conv.receipts.entry(user_id).or_insert(0);
            *cursor = (*cursor).max(read_seq);
        }
    }

    pub(super) fn on_user(&mut self, view: UserView) {
        let known = self.users.get(&view.id);
        let user = User {
            online: view.online.or(known.and_then(|u| u.online)),
            last_seen_ms: view.last_seen_ms.or(known.and_then(|u| u.last_seen_ms)),
            username: view.username,
            display_name: view.display_name,
        };
        self.users.insert(view.id, user);
    }

    pub(super) fn on_summary(
        &mut self,
        summary: &ConversationSummaryView,
        effects: &mut Vec<Effect>,
    ) {
        let id = summary.conversation.id;
        match self.convs.get_mut(&id) {
            Some(conv) => conv.apply_summary(summary),
            None => {
                self.convs.insert(id, Conv::from_summary(summary));
            }
        }
        if let Some(peer) = summary.peer {
            self.request_users([peer], effects);
        }
    }

    pub(super) fn on_history(
        &mut self,
        conversation_id: Uuid,
        before: Option<i64>,
        messages: Vec<MessageView>,
        effects: &mut Vec<Effect>,
    ) {
        let senders: Vec<Uuid> = messages.iter().map(|m| m.sender_id).collect();
        let Some(conv) = self.convs.get_mut(&conversation_id) else {
            return;
        };
        conv.history = History::Loaded;
        if before.is_some() {
            conv.loading_older = false;
        }
        for message in messages {
            conv.last_seq = conv.last_seq.max(message.seq);
            conv.last_mod = conv.last_mod.max(message.mod_seq);
            conv.upsert(message);
        }
        self.request_users(senders, effects);
    }

    /// A new or changed message, from an event or a command's answer.
    pub(super) fn on_message(&mut self, message: MessageView, effects: &mut Vec<Effect>) {
        let id = message.conversation_id;
        if !self.convs.contains_key(&id) {
            self.request_conv(id, effects);
            return;
        }
        self.request_users([message.sender_id], effects);
        let lines_before = self.lines_if_scrolled(id);
        let me = self.me.id;
        let Some(conv) = self.convs.get_mut(&id) else {
            return;
        };
        let new = message.seq > conv.last_seq;
        if new {
            conv.last_seq = message.seq;
            conv.last_activity_ms = conv.last_activity_ms.max(message.created_at_ms);
            if message.sender_id == me {
                conv.read_seq = conv.read_seq.max(message.seq);
                conv.unread = 0;
                conv.mentions = 0;
            } else if message.seq > conv.read_seq {
                conv.unread += 1;
                if message.mentions.contains(&me) {
                    conv.mentions += 1;
                }
            }
        }
        conv.last_mod = conv.last_mod.max(message.mod_seq);
        let keep = match conv.history {
            History::NotLoaded => false,
            History::Loading => true,
            History::Loaded => conv
                .oldest_loaded()
                .is_none_or(|oldest| message.seq >= oldest),
        };
        if keep {
            conv.upsert(message);
        }
        // Someone scrolled up to read keeps their place when lines arrive below.
        if let (Some(before), Some(after)) = (lines_before, self.lines_if_scrolled(id))
            && let Some(conv) = self.convs.get_mut(&id)
        {
            conv.scroll += after.saturating_sub(before);
        }
        if new {
            self.reorder();
        }
    }

    /// The line count of conversation `id` if it is open and scrolled up.
    pub(super) fn lines_if_scrolled(&self, id: Uuid) -> Option<usize> {
        let conv = self
            .open_conv()
            .filter(|conv| conv.id == id && conv.scroll > 0)?;
        Some(layout::lay_out(self, conv, self.viewport().0).lines.len())
    }

    pub(super) fn remove(&mut self, conversation_id: Uuid) {
        self.convs.remove(&conversation_id);
        if self.open == Some(conversation_id) {
            self.open = None;
            self.focus = Focus::List;
            self.compose = Compose::New;
        }
        self.reorder();
    }

    pub(super) fn request_conv(&mut self, id: Uuid, effects: &mut Vec<Effect>) {
        if self.convs_requested.insert(id) {
            effects.push(Effect::LoadConversation(id));
        }
    }

    pub(super) fn request_users(
        &mut self,
        ids: impl IntoIterator<Item = Uuid>,
        effects: &mut Vec<Effect>,
    ) {
        let mut wanted: Vec<Uuid> = Vec::new();
        for id in ids {
            if !self.users.contains_key(&id) && self.users_requested.insert(id) {
                wanted.push(id);
            }
        }
        if !wanted.is_empty() {
            effects.push(Effect::LoadUsers(wanted));
        }
    }

    /// Most recent activity first; the list's cursor stays on the same conversation.
    pub(super) fn reorder(&mut self) {
        let current = self.order.get(self.selected).copied();
        let mut order: Vec<(i64, Uuid)> = self
            .convs
            .values()
            .map(|conv| (conv.last_activity_ms, conv.id))
            .collect();
        order.sort_by(|a, b| b.cmp(a));
        self.order = order.into_iter().map(|(_, id)| id).collect();
        self.selected = current
            .and_then(|id| self.order.iter().position(|other| *other == id))
            .unwrap_or(0)
            .min(self.order.len().saturating_sub(1));
    }
}
