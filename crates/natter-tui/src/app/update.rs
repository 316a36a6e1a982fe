//! `App::update`: one event in, the state changed, effects out.

use natter_sdk::protocol::MessageView;
use uuid::Uuid;

use super::{
    Action, App, Compose, Effect, Event, Focus, History, Mode, NOTICE_MS, Pending, REACTIONS,
    TYPING_INTERVAL_MS, action_for,
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
