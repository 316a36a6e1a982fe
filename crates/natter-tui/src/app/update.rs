//! `App::update`: one event in, the state changed, effects out.

use natter_sdk::protocol::{ConversationSummaryView, MessageView, ServerFrame, UserView};
use uuid::Uuid;

use super::{
    Action, App, Compose, Conv, Effect, Event, Focus, History, Mode, NOTICE_MS, Pending, REACTIONS,
    TYPING_INTERVAL_MS, User, action_for,
};
use crate::view::layout;

/// The server refuses longer texts (`limits.rs`: 4,000 characters).
const TEXT_MAX_CHARS: usize = 4_000;

impl App {
    /// Applies `event` and returns what the runtime must do next.
    pub fn update(&mut self, event: Event) -> Vec<Effect> {
        let mut effects = Vec::new();
        match event {
            Event::Key(key) => {
                if let Some(action) = action_for(self.focus, self.mode, key) {
                    self.act(action, &mut effects);
                }
            }
            Event::Wheel(lines) => self.scroll_by(i64::from(lines), &mut effects),
            Event::Paste(text) => {
                if self.focus == Focus::Input && self.mode == Mode::Normal {
                    // The input is one line: newlines become spaces.
                    for c in text.chars().filter(|c| *c != '\r') {
                        self.insert(if c == '\n' { ' ' } else { c });
                    }
                }
            }
            Event::Tick { now_ms } => self.tick(now_ms),
            Event::Connection(connection) => self.connection = connection,
            Event::Frame(frame) => self.on_frame(frame, &mut effects),
            Event::Conversations(list) => {
                self.loaded = true;
                for summary in &list {
                    self.on_summary(summary, &mut effects);
                }
                self.reorder();
            }
            Event::Conversation(summary) => {
                self.on_summary(&summary, &mut effects);
                self.reorder();
            }
            Event::History {
                conversation_id,
                before,
                messages,
            } => self.on_history(conversation_id, before, messages, &mut effects),
            Event::Users(users) => {
                for user in users {
                    self.on_user(user);
                }
            }
            Event::Message(message) => self.on_message(message, &mut effects),
            Event::DirectOpened(summary) => {
                let id = summary.conversation.id;
                self.on_summary(&summary, &mut effects);
                self.reorder();
                if let Some(index) = self.order.iter().position(|other| *other == id) {
                    self.selected = index;
                    self.mode = Mode::Normal;
                    self.open_selected(&mut effects);
                }
            }
            Event::Failed {
                what,
                error,
                client_msg_id,
            } => self.on_failure(what, error, client_msg_id),
        }
        self.mark_read(&mut effects);
        effects
    }

    fn notify(&mut self, text: impl Into<String>) {
        self.notice = Some((text.into(), self.now_ms + NOTICE_MS));
    }

    fn tick(&mut self, now_ms: i64) {
        self.now_ms = now_ms;
        for conv in self.convs.values_mut() {
            conv.typing.retain(|_, until| *until > now_ms);
        }
        if self
            .notice
            .as_ref()
            .is_some_and(|(_, until)| *until <= now_ms)
        {
            self.notice = None;
        }
    }

    fn act(&mut self, action: Action, effects: &mut Vec<Effect>) {
        match action {
            Action::Quit => effects.push(Effect::Quit),
            Action::Help => self.mode = Mode::Help,
            Action::SignOut => self.mode = Mode::ConfirmSignOut,
            Action::NewDirect => {
                self.find.clear();
                self.mode = Mode::NewDirect;
            }
            Action::Insert(c) if self.mode == Mode::NewDirect => {
                if !c.is_control() && !c.is_whitespace() {
                    self.find.push(c);
                }
            }
            Action::Backspace if self.mode == Mode::NewDirect => {
                self.find.pop();
            }
            Action::Submit if self.mode == Mode::NewDirect => {
                self.mode = Mode::Normal;
                let username = self.find.trim_start_matches('@').to_owned();
                if !username.is_empty() {
                    effects.push(Effect::OpenDirect { username });
                }
            }
            Action::FocusNext => {
                self.focus = match (self.focus, self.open) {
                    (Focus::List, Some(_)) => Focus::Input,
                    (Focus::List, None) => Focus::List,
                    (Focus::Messages, _) => Focus::Input,
                    (Focus::Input, _) => Focus::List,
                }
            }
            Action::ListUp => self.selected = self.selected.saturating_sub(1),
            Action::ListDown => {
                self.selected = (self.selected + 1).min(self.order.len().saturating_sub(1))
            }
            Action::Open => self.open_selected(effects),
            Action::Back => self.focus = Focus::List,
            Action::SelectUp => self.select_older(effects),
            Action::SelectDown => self.select_newer(),
            Action::PageUp => {
                let page = i64::from(self.viewport().1.saturating_sub(1).max(1));
                self.scroll_by(page, effects);
            }
            Action::PageDown => {
                let page = i64::from(self.viewport().1.saturating_sub(1).max(1));
                self.scroll_by(-page, effects);
            }
            Action::Newest => {
                if let Some(conv) = self.open.and_then(|id| self.convs.get_mut(&id)) {
                    conv.scroll = 0;
                    conv.selected = None;
                }
            }
            Action::Write => {
                if self.open.is_some() {
                    self.focus = Focus::Input;
                }
            }
            Action::Reply => {
                if let Some(message) = self.selected_message(false) {
                    self.compose = Compose::Reply(message.seq);
                    self.focus = Focus::Input;
                }
            }
            Action::Edit => {
                if let Some(message) = self.selected_message(true) {
                    self.compose = Compose::Edit(message.seq);
                    self.input.text = message.text.clone();
                    self.input.cursor = self.input.text.chars().count();
                    self.focus = Focus::Input;
                }
            }
            Action::Delete => {
                if let Some(message) = self.selected_message(true) {
                    self.mode = Mode::ConfirmDelete(message.seq);
                }
            }
            Action::React => {
                if let Some(message) = self.selected_message(false) {
                    self.mode = Mode::Reacting(message.seq);
                }
            }
            Action::PickReaction(index) => self.react(index, effects),
            Action::Confirm(yes) => {
                let mode = std::mem::replace(&mut self.mode, Mode::Normal);
                match (mode, yes, self.open) {
                    (Mode::ConfirmDelete(seq), true, Some(conversation_id)) => {
                        effects.push(Effect::Delete {
                            conversation_id,
                            seq,
                        })
                    }
                    (Mode::ConfirmSignOut, true, _) => effects.push(Effect::SignOut),
                    _ => {}
                }
            }
            Action::Insert(c) => {
                self.insert(c);
                self.typing(effects);
            }
            Action::Backspace => {
                if self.input.cursor > 0 {
                    self.input.cursor -= 1;
                    let at = self.byte_at(self.input.cursor);
                    self.input.text.remove(at);
                }
            }
            Action::DeleteForward => {
                if self.input.cursor < self.input.text.chars().count() {
                    let at = self.byte_at(self.input.cursor);
                    self.input.text.remove(at);
                }
            }
            Action::CursorLeft => self.input.cursor = self.input.cursor.saturating_sub(1),
            Action::CursorRight => {
                self.input.cursor = (self.input.cursor + 1).min(self.input.text.chars().count())
            }
            Action::CursorHome => self.input.cursor = 0,
            Action::CursorEnd => self.input.cursor = self.input.text.chars().count(),
            Action::ClearInput => {
                self.input.text.clear();
                self.input.cursor = 0;
            }
            Action::Submit => self.submit(effects),
            Action::Cancel => self.cancel(),
        }
    }

    fn cancel(&mut self) {
        match self.mode {
            Mode::Normal => {}
            _ => {
                self.mode = Mode::Normal;
                return;
            }
        }
        if self.focus != Focus::Input {
            return;
        }
        match self.compose {
            Compose::New => self.focus = Focus::Messages,
            Compose::Reply(_) => self.compose = Compose::New,
            Compose::Edit(_) => {
                self.compose = Compose::New;
                self.input = Default::default();
            }
        }
    }

    fn byte_at(&self, chars: usize) -> usize {
        self.input
            .text
            .char_indices()
            .nth(chars)
            .map_or(self.input.text.len(), |(at, _)| at)
    }

    fn insert(&mut self, c: char) {
        if c.is_control() {
            return;
        }
        let at = self.byte_at(self.input.cursor);
        self.input.text.insert(at, c);
        self.input.cursor += 1;
    }

    /// At most one typing indicator per conversation every `TYPING_INTERVAL_MS` while writing a
    /// new message or a reply (not an edit).
    fn typing(&mut self, effects: &mut Vec<Effect>) {
        let Some(conversation_id) = self.open else {
            return;
        };
        if matches!(self.compose, Compose::Edit(_)) {
            return;
        }
        let due = match self.typing_sent {
            Some((conv, at)) => conv != conversation_id || self.now_ms - at >= TYPING_INTERVAL_MS,
            None => true,
        };
        if due {
            self.typing_sent = Some((conversation_id, self.now_ms));
            effects.push(Effect::Typing { conversation_id });
        }
    }

    fn submit(&mut self, effects: &mut Vec<Effect>) {
        let Some(conversation_id) = self.open else {
            return;
        };
        let text = self.input.text.clone();
        if text.trim().is_empty() {
            return;
        }
        if text.chars().count() > TEXT_MAX_CHARS {
            self.notify(format!("too long: at most {TEXT_MAX_CHARS} characters"));
            return;
        }
        let compose = std::mem::replace(&mut self.compose, Compose::New);
        self.input = Default::default();
        self.typing_sent = None;
        let mentions = self.mentions_in(&text);
        let Some(conv) = self.convs.get_mut(&conversation_id) else {
            return;
        };
        conv.selected = None;
        match compose {
            Compose::New | Compose::Reply(_) => {
                let reply_to_seq = match compose {
                    Compose::Reply(seq) => Some(seq),
                    _ => None,
                };
                let client_msg_id = natter_sdk::new_client_msg_id();
                conv.pending.push(Pending {
                    client_msg_id: client_msg_id.clone(),
                    text: text.clone(),
                    reply_to_seq,
                });
                conv.scroll = 0;
                effects.push(Effect::Send {
                    conversation_id,
                    client_msg_id,
                    text,
                    reply_to_seq,
                    mentions,
                });
            }
            Compose::Edit(seq) => effects.push(Effect::Edit {
                conversation_id,
                seq,
                text,
                mentions,
            }),
        }
    }

    /// The known users that `text` names as `@username` (the server drops non-members).
    fn mentions_in(&self, text: &str) -> Vec<Uuid> {
        let mut mentions = Vec::new();
        for word in text.split_whitespace() {
            let Some(name) = word.strip_prefix('@') else {
                continue;
            };
            let name = name.trim_end_matches(|c: char| !(c.is_alphanumeric() || c == '_'));
            let found = self
                .users
                .iter()
                .find(|(_, user)| user.username.eq_ignore_ascii_case(name));
            if let Some((id, _)) = found
                && *id != self.me.id
                && !mentions.contains(id)
            {
                mentions.push(*id);
            }
        }
        mentions
    }

    fn react(&mut self, index: usize, effects: &mut Vec<Effect>) {
        let Mode::Reacting(seq) = std::mem::replace(&mut self.mode, Mode::Normal) else {
            return;
        };
        let (Some(conversation_id), Some(emoji)) = (self.open, REACTIONS.get(index)) else {
            return;
        };
        let mine = self
            .open_conv()
            .and_then(|conv| conv.messages.get(&seq))
            .is_some_and(|message| {
                message
                    .reactions
                    .iter()
                    .any(|r| r.emoji == *emoji && r.user_ids.contains(&self.me.id))
            });
        let emoji = (*emoji).to_owned();
        effects.push(if mine {
            Effect::Unreact {
                conversation_id,
                seq,
                emoji,
            }
        } else {
            Effect::React {
                conversation_id,
                seq,
                emoji,
            }
        });
    }

    /// The selected message, if there is one it makes sense to act on (`own`: only mine).
    fn selected_message(&mut self, own: bool) -> Option<MessageView> {
        let found = self
            .open_conv()
            .and_then(|conv| conv.selected.and_then(|seq| conv.messages.get(&seq)))
            .filter(|message| !message.deleted)
            .cloned();
        match found {
            None => self.notify("select a message first (↑)"),
            Some(message) if own && message.sender_id != self.me.id => {
                self.notify("only your own messages")
            }
            Some(message) => return Some(message),
        }
        None
    }

    fn open_selected(&mut self, effects: &mut Vec<Effect>) {
        let Some(&id) = self.order.get(self.selected) else {
            return;
        };
        if self.open != Some(id) {
            if matches!(self.compose, Compose::Edit(_)) {
                self.input = Default::default();
            }
            self.compose = Compose::New;
        }
        self.open = Some(id);
        self.focus = Focus::Input;
        let Some(conv) = self.convs.get_mut(&id) else {
            return;
        };
        conv.scroll = 0;
        conv.selected = None;
        if conv.history == History::NotLoaded {
            conv.history = History::Loading;
            effects.push(Effect::LoadHistory {
                conversation_id: id,
                before: None,
            });
        }
    }

    /// Asks for the page before the oldest loaded message, once at a time.
    fn load_older(&mut self, effects: &mut Vec<Effect>) {
        let Some(conv) = self.open.and_then(|id| self.convs.get_mut(&id)) else {
            return;
        };
        if conv.has_older() && !conv.loading_older {
            conv.loading_older = true;
            effects.push(Effect::LoadHistory {
                conversation_id: conv.id,
                before: conv.oldest_loaded(),
            });
        }
    }

    /// Scrolls the open conversation by `lines` (positive: towards older); reaching the top
    /// loads the previous page.
    fn scroll_by(&mut self, lines: i64, effects: &mut Vec<Effect>) {
        let (width, height) = self.viewport();
        let Some(conv) = self.open_conv() else {
            return;
        };
        let total = layout::lay_out(self, conv, width).lines.len();
        let top = total.saturating_sub(usize::from(height));
        let Some(conv) = self.open.and_then(|id| self.convs.get_mut(&id)) else {
            return;
        };
        let scroll = (conv.scroll as i64 + lines).clamp(0, top as i64) as usize;
        conv.scroll = scroll;
        if lines > 0 && scroll >= top {
            self.load_older(effects);
        }
    }

    fn select_older(&mut self, effects: &mut Vec<Effect>) {
        let Some(conv) = self.open.and_then(|id| self.convs.get_mut(&id)) else {
            return;
        };
        self.focus = Focus::Messages;
        let older = match conv.selected {
            None => conv.messages.keys().next_back().copied(),
            Some(seq) => conv.messages.range(..seq).next_back().map(|(seq, _)| *seq),
        };
        match older {
            Some(seq) => conv.selected = Some(seq),
            None => self.load_older(effects),
        }
        self.keep_selection_visible();
        if self
            .open_conv()
            .is_some_and(|conv| conv.selected.is_some() && conv.selected == conv.oldest_loaded())
        {
            self.load_older(effects);
        }
    }

    fn select_newer(&mut self) {
        let Some(conv) = self.open.and_then(|id| self.convs.get_mut(&id)) else {
            return;
        };
        let Some(seq) = conv.selected else {
            return;
        };
        match conv.messages.range(seq + 1..).next().map(|(seq, _)| *seq) {
            Some(newer) => conv.selected = Some(newer),
            None => {
                conv.selected = None;
                conv.scroll = 0;
                self.focus = Focus::Input;
            }
        }
        self.keep_selection_visible();
    }

    /// Scrolls so that the selected message is in the pane.
    fn keep_selection_visible(&mut self) {
        let (width, height) = self.viewport();
        let Some(conv) = self.open_conv() else {
            return;
        };
        let Some(seq) = conv.selected else {
            return;
        };
        let laid = layout::lay_out(self, conv, width);
        let Some(&(_, start, end)) = laid.spans.iter().find(|(s, _, _)| *s == seq) else {
            return;
        };
        let total = laid.lines.len();
        let height = usize::from(height);
        let mut scroll = conv.scroll.min(total);
        // Visible lines: [total - height - scroll, total - scroll).
        if end > total - scroll {
            scroll = total - end;
        }
        if start + height + scroll < total {
            scroll = total - height - start;
        }
        scroll = scroll.min(total.saturating_sub(height));
        let id = conv.id;
        if let Some(conv) = self.convs.get_mut(&id) {
            conv.scroll = scroll;
        }
    }

    fn on_failure(&mut self, what: String, error: String, client_msg_id: Option<String>) {
        self.notify(format!("{what} failed: {error}"));
        let Some(client_msg_id) = client_msg_id else {
            return;
        };
        for conv in self.convs.values_mut() {
            if let Some(at) = conv
                .pending
                .iter()
                .position(|p| p.client_msg_id == client_msg_id)
            {
                let pending = conv.pending.remove(at);
                // Give the text back rather than lose it.
                if self.input.text.is_empty() {
                    self.input.cursor = pending.text.chars().count();
                    self.input.text = pending.text;
                }
            }
        }
    }

    fn on_frame(&mut self, frame: ServerFrame, effects: &mut Vec<Effect>) {
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

    fn on_receipt(&mut self, conversation_id: Uuid, user_id: Uuid, read_seq: i64) {
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

    fn on_user(&mut self, view: UserView) {
        let known = self.users.get(&view.id);
        let user = User {
            online: view.online.or(known.and_then(|u| u.online)),
            last_seen_ms: view.last_seen_ms.or(known.and_then(|u| u.last_seen_ms)),
            username: view.username,
            display_name: view.display_name,
        };
        self.users.insert(view.id, user);
    }

    fn on_summary(&mut self, summary: &ConversationSummaryView, effects: &mut Vec<Effect>) {
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

    fn on_history(
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
    fn on_message(&mut self, message: MessageView, effects: &mut Vec<Effect>) {
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
    fn lines_if_scrolled(&self, id: Uuid) -> Option<usize> {
        let conv = self
            .open_conv()
            .filter(|conv| conv.id == id && conv.scroll > 0)?;
        Some(layout::lay_out(self, conv, self.viewport().0).lines.len())
    }

    fn remove(&mut self, conversation_id: Uuid) {
        self.convs.remove(&conversation_id);
        if self.open == Some(conversation_id) {
            self.open = None;
            self.focus = Focus::List;
            self.compose = Compose::New;
        }
        self.reorder();
    }

    fn request_conv(&mut self, id: Uuid, effects: &mut Vec<Effect>) {
        if self.convs_requested.insert(id) {
            effects.push(Effect::LoadConversation(id));
        }
    }

    fn request_users(&mut self, ids: impl IntoIterator<Item = Uuid>, effects: &mut Vec<Effect>) {
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
    fn reorder(&mut self) {
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

    /// Marks the open conversation read when its newest line is on screen.
    fn mark_read(&mut self, effects: &mut Vec<Effect>) {
        let (width, _) = self.screen.get();
        let hidden = self.focus == Focus::List && App::narrow(width);
        if hidden {
            return;
        }
        let Some(conv) = self.open.and_then(|id| self.convs.get_mut(&id)) else {
            return;
        };
        if conv.scroll == 0 && conv.history == History::Loaded && conv.last_seq > conv.read_seq {
            conv.read_seq = conv.last_seq;
            conv.unread = 0;
            conv.mentions = 0;
            effects.push(Effect::Read {
                conversation_id: conv.id,
                seq: conv.last_seq,
            });
        }
    }
}
