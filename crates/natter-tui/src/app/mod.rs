//! The terminal client's state as plain data, and the only code that changes it.
//!
//! [`App::update`] takes one [`Event`] (a key, a server frame, the answer to an earlier
//! [`Effect`], a clock tick) and returns the effects to run; [`App::render`](crate::view) draws
//! it. Neither does I/O, so both are tested without a terminal or a server: the runtime
//! (`runtime.rs`) owns the terminal, the SDK session and the tasks that carry effects out.
//!
//! Messages are kept per conversation in a map keyed by `seq` and replaced only by a state with a
//! higher `mod_seq`, so a message that arrives twice (its ack and its event, a history page that
//! overlaps live events, a resume's replay) is one line, whatever the order.

mod events;
#[cfg(test)]
pub(crate) mod fixtures;
mod keys;
#[cfg(test)]
mod tests;
mod update;

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, HashSet};

use natter_sdk::protocol::{ConversationSummaryView, MessageView, UserView};
use uuid::Uuid;

pub use keys::{Action, action_for};

/// Reactions offered by the `+` key, by digit. Single code points without variation selectors, so
/// every terminal gives them the same width.
pub const REACTIONS: [&str; 6] = ["👍", "😂", "😮", "😢", "🎉", "🔥"];

/// At most one typing indicator is sent per conversation in this interval (the server's default
/// `limits.typing_interval_ms`; it drops extra ones anyway).
pub const TYPING_INTERVAL_MS: i64 = 2_500;

/// A message of the notice line disappears after this long.
pub const NOTICE_MS: i64 = 6_000;

/// Messages per history page.
pub const HISTORY_PAGE: u32 = 50;

/// Who is signed in, where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Me {
    pub id: Uuid,
    pub username: String,
    pub server: String,
}

/// What happened: the runtime turns terminal input, server frames and the outcome of effects
/// into these.
#[derive(Debug, Clone)]
pub enum Event {
    /// A key press (releases and repeats are filtered out by the runtime).
    Key(ratatui::crossterm::event::KeyEvent),
    /// The mouse wheel over the terminal: positive is up (older), in lines.
    Wheel(i16),
    /// Text pasted into the terminal (bracketed paste).
    Paste(String),
    /// The clock: expires typing indicators and notices.
    Tick { now_ms: i64 },
    /// The WebSocket session's state changed.
    Connection(Connection),
    /// An event from the server (already deduplicated by the SDK across reconnects).
    Frame(natter_sdk::protocol::ServerFrame),
    /// The conversation list (`GET /conversations`).
    Conversations(Vec<ConversationSummaryView>),
    /// One conversation's summary (one we were just added to, or that an event named).
    Conversation(ConversationSummaryView),
    /// A page of history: `before` is the request's (`None`: the newest page).
    History {
        conversation_id: Uuid,
        before: Option<i64>,
        messages: Vec<MessageView>,
    },
    /// Users we asked about (names, presence).
    Users(Vec<UserView>),
    /// A command's result: the message as the server stored it (send, edit, delete, react).
    Message(MessageView),
    /// The direct conversation asked for with [`Effect::OpenDirect`]: open it.
    DirectOpened(ConversationSummaryView),
    /// An effect failed; `client_msg_id` names the send it was, if it was one.
    Failed {
        what: String,
        error: String,
        client_msg_id: Option<String>,
    },
}

/// What the runtime must do. Results come back as [`Event`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    LoadConversations,
    LoadConversation(Uuid),
    LoadHistory {
        conversation_id: Uuid,
        before: Option<i64>,
    },
    LoadUsers(Vec<Uuid>),
    Send {
        conversation_id: Uuid,
        client_msg_id: String,
        text: String,
        reply_to_seq: Option<i64>,
        mentions: Vec<Uuid>,
    },
    Edit {
        conversation_id: Uuid,
        seq: i64,
        text: String,
        mentions: Vec<Uuid>,
    },
    /// Find the user named so and open the direct conversation with them (created if new).
    OpenDirect {
        username: String,
    },
    Delete {
        conversation_id: Uuid,
        seq: i64,
    },
    React {
        conversation_id: Uuid,
        seq: i64,
        emoji: String,
    },
    Unreact {
        conversation_id: Uuid,
        seq: i64,
        emoji: String,
    },
    Read {
        conversation_id: Uuid,
        seq: i64,
    },
    Typing {
        conversation_id: Uuid,
    },
    /// Log out on the server and forget the saved session, then quit.
    SignOut,
    Quit,
}

/// The connection as the status bar shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    Connecting,
    Connected,
    /// Over for good (session revoked or expired): the reason.
    Closed(String),
}

/// Which part of the screen keys go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    List,
    Messages,
    Input,
}

/// A question or picker over the current focus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// Picking a reaction for the message `seq`.
    Reacting(i64),
    /// "Delete this message?"
    ConfirmDelete(i64),
    /// "Sign out?"
    ConfirmSignOut,
    /// Typing the username to start a direct conversation with (in [`App::find`]).
    NewDirect,
    /// The full list of keys.
    Help,
}

/// What the input line will do with its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compose {
    New,
    Reply(i64),
    Edit(i64),
}

/// The input line: text and a cursor counted in characters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Input {
    pub text: String,
    pub cursor: usize,
}

/// A user as far as the client knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub username: String,
    pub display_name: String,
    /// `None`: the server does not tell us (not a contact).
    pub online: Option<bool>,
    pub last_seen_ms: Option<i64>,
}

/// Whether a conversation's history was fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum History {
    NotLoaded,
    Loading,
    Loaded,
}

/// A message sent and not yet acknowledged, shown greyed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub client_msg_id: String,
    pub text: String,
    pub reply_to_seq: Option<i64>,
}

/// One conversation: its summary, and its messages once opened.
#[derive(Debug, Clone)]
pub struct Conv {
    pub id: Uuid,
    pub direct: bool,
    pub name: Option<String>,
    pub topic: Option<String>,
    pub peer: Option<Uuid>,
    pub member_count: i64,
    pub last_seq: i64,
    pub last_mod: i64,
    pub last_activity_ms: i64,
    /// My read cursor.
    pub read_seq: i64,
    pub unread: i64,
    pub mentions: i64,
    /// Loaded messages by seq (a contiguous run ending at the newest once loaded).
    pub messages: BTreeMap<i64, MessageView>,
    pub history: History,
    pub loading_older: bool,
    pub pending: Vec<Pending>,
    /// Who is typing, until when (ms).
    pub typing: HashMap<Uuid, i64>,
    /// Other members' read cursors.
    pub receipts: HashMap<Uuid, i64>,
    /// The selected message (seq), for reply, edit, delete and react.
    pub selected: Option<i64>,
    /// Lines hidden below the message pane (0: the newest line is at the bottom).
    pub scroll: usize,
}

impl Conv {
    pub fn from_summary(summary: &ConversationSummaryView) -> Self {
        let mut conv = Self {
            id: summary.conversation.id,
            direct: summary.conversation.kind == "direct",
            name: None,
            topic: None,
            peer: None,
            member_count: 0,
            last_seq: 0,
            last_mod: 0,
            last_activity_ms: 0,
            read_seq: 0,
            unread: 0,
            mentions: 0,
            messages: BTreeMap::new(),
            history: History::NotLoaded,
            loading_older: false,
            pending: Vec::new(),
            typing: HashMap::new(),
            receipts: HashMap::new(),
            selected: None,
            scroll: 0,
        };
        conv.apply_summary(summary);
        conv
    }

    /// The server's summary is authoritative for the counts and cursors.
    pub fn apply_summary(&mut self, summary: &ConversationSummaryView) {
        let view = &summary.conversation;
        self.name = view.name.clone();
        self.topic = view.topic.clone();
        self.peer = summary.peer;
        self.member_count = view.member_count;
        self.last_seq = self.last_seq.max(view.last_seq);
        self.last_mod = self.last_mod.max(view.last_mod);
        self.last_activity_ms = self.last_activity_ms.max(view.last_activity_ms);
        self.read_seq = summary.me.read_seq;
        self.unread = summary.unread_count;
        self.mentions = summary.mention_count;
    }

    /// The oldest loaded message's seq.
    pub fn oldest_loaded(&self) -> Option<i64> {
        self.messages.keys().next().copied()
    }

    /// Older messages exist that are not loaded (seqs start at 1 and have no gaps).
    pub fn has_older(&self) -> bool {
        match self.history {
            History::Loaded => self.oldest_loaded().is_some_and(|oldest| oldest > 1),
            _ => false,
        }
    }

    /// Upserts by seq: a state replaces the kept one only if it is newer (`mod_seq`), so
    /// duplicates and late arrivals change nothing. True if something changed.
    pub fn upsert(&mut self, message: MessageView) -> bool {
        self.pending
            .retain(|pending| pending.client_msg_id != message.client_msg_id);
        match self.messages.get(&message.seq) {
            Some(kept) if kept.mod_seq >= message.mod_seq => false,
            _ => {
                self.messages.insert(message.seq, message);
                true
            }
        }
    }

    /// The highest read cursor of the other members.
    pub fn read_by_others(&self) -> i64 {
        self.receipts.values().copied().max().unwrap_or(0)
    }
}

/// The whole client state.
#[derive(Debug)]
pub struct App {
    pub me: Me,
    pub users: HashMap<Uuid, User>,
    pub convs: HashMap<Uuid, Conv>,
    /// The conversation list: most recent activity first.
    pub order: Vec<Uuid>,
    /// Index into `order`.
    pub selected: usize,
    pub open: Option<Uuid>,
    pub focus: Focus,
    pub mode: Mode,
    pub compose: Compose,
    pub input: Input,
    pub connection: Connection,
    /// A line for errors and confirmations, until the given time.
    pub notice: Option<(String, i64)>,
    pub now_ms: i64,
    /// The conversation list arrived.
    pub loaded: bool,
    /// The username typed in [`Mode::NewDirect`].
    pub find: String,
    /// Time zone for message times (the system's; UTC in tests).
    pub tz: jiff::tz::TimeZone,
    /// Users asked about already (so each is fetched once).
    users_requested: HashSet<Uuid>,
    /// Conversations whose summary was asked for.
    convs_requested: HashSet<Uuid>,
    /// When a typing indicator was last sent, and where.
    typing_sent: Option<(Uuid, i64)>,
    /// The message pane's size at the last render (width, height): paging and scrolling need it.
    viewport: Cell<(u16, u16)>,
    /// The whole terminal's size at the last render.
    pub(crate) screen: Cell<(u16, u16)>,
}

impl App {
    pub fn new(me: Me, now_ms: i64, tz: jiff::tz::TimeZone) -> Self {
        Self {
            me,
            users: HashMap::new(),
            convs: HashMap::new(),
            order: Vec::new(),
            selected: 0,
            open: None,
            focus: Focus::List,
            mode: Mode::Normal,
            compose: Compose::New,
            input: Input::default(),
            connection: Connection::Connecting,
            notice: None,
            now_ms,
            loaded: false,
            find: String::new(),
            tz,
            users_requested: HashSet::new(),
            convs_requested: HashSet::new(),
            typing_sent: None,
            viewport: Cell::new((80, 20)),
            screen: Cell::new((100, 30)),
        }
    }

    /// The effects to run at start: the conversation list.
    pub fn start(&mut self) -> Vec<Effect> {
        vec![Effect::LoadConversations]
    }

    /// The open conversation.
    pub fn open_conv(&self) -> Option<&Conv> {
        self.open.and_then(|id| self.convs.get(&id))
    }

    /// The conversation under the list's cursor.
    pub fn selected_conv(&self) -> Option<&Conv> {
        self.order
            .get(self.selected)
            .and_then(|id| self.convs.get(id))
    }

    /// A user's display name, or a short form of the id until it is known.
    pub fn user_name(&self, id: Uuid) -> String {
        match self.users.get(&id) {
            Some(user) => user.display_name.clone(),
            None => format!("user {}", &id.simple().to_string()[..6]),
        }
    }

    /// What a conversation is called: a group's name, a direct conversation's other member.
    pub fn title(&self, conv: &Conv) -> String {
        if let Some(name) = conv.name.as_deref().filter(|name| !name.is_empty()) {
            return name.to_owned();
        }
        match conv.peer {
            Some(peer) => self.user_name(peer),
            None if conv.direct => "(direct)".to_owned(),
            None => "(group)".to_owned(),
        }
    }

    /// Whether the peer of a direct conversation is online (`None`: unknown or a group).
    pub fn peer_online(&self, conv: &Conv) -> Option<bool> {
        conv.peer
            .and_then(|peer| self.users.get(&peer))
            .and_then(|user| user.online)
    }

    /// Who is typing in `conv` now (not me).
    pub fn typing_names(&self, conv: &Conv) -> Vec<String> {
        let mut names: Vec<String> = conv
            .typing
            .iter()
            .filter(|(user, until)| **user != self.me.id && **until > self.now_ms)
            .map(|(user, _)| self.user_name(*user))
            .collect();
        names.sort();
        names
    }

    /// The message pane's size at the last render.
    pub fn viewport(&self) -> (u16, u16) {
        self.viewport.get()
    }

    /// Called by the renderer with the message pane's size.
    pub(crate) fn set_viewport(&self, width: u16, height: u16) {
        self.viewport.set((width, height));
    }

    /// Whether the screen is too narrow for the list and the conversation side by side.
    pub fn narrow(width: u16) -> bool {
        width < 72
    }
}
