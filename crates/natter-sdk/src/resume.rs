//! Cursor bookkeeping for gap-free resume and exactly-once events.
//!
//! The server numbers every change of a conversation's messages with `mod_seq` (1, 2, 3...,
//! without gaps) and streams message events of one conversation in that order. So one integer
//! per conversation, "the highest `mod_seq` handed to the app", is enough to both
//!
//! - ask for exactly what was missed on reconnect (`hello.cursors`), and
//! - drop anything at or below it (a replayed change that was in fact already delivered, or a
//!   live event that races with the replay), so the app sees each change once, in order.
//!
//! Only *events* advance a cursor, never command acks: an ack travels apart from the event
//! stream and can overtake another member's earlier event, so advancing on it could drop that
//! event forever. The app therefore sees its own changes both as the command's result and, once,
//! as an event (as every other device of every member does).

use natter_protocol::{ClientFrame, Cursors, HelloOk, ServerFrame};
use uuid::Uuid;

/// The resume position of one WebSocket session. Owned by the socket task, shared with the
/// `Session` handle behind a std mutex (never held across an await) for `track` and `cursors`.
#[derive(Debug, Clone, Default)]
pub(crate) struct ResumeState {
    /// From the last `HelloOk`: the server hands out a fresh one per hello.
    sync_cursor: Option<i64>,
    /// Per conversation: the highest `mod_seq` delivered to (or declared known by) the app.
    cursors: Cursors,
    /// Who we are, from `HelloOk`: to notice our own removal from a conversation.
    user_id: Option<Uuid>,
    /// Events dropped as already delivered (for tests and metrics).
    duplicates_dropped: u64,
    /// Message events that skipped `mod_seq` values: the server broke its promise.
    gaps_seen: u64,
    /// Between a `hello` and its ack: the server replays each changed message once, in its
    /// latest state, so `mod_seq` values superseded by a later change are skipped by design.
    replaying: bool,
}

impl ResumeState {
    pub(crate) fn new(sync_cursor: Option<i64>, cursors: Cursors) -> Self {
        Self {
            sync_cursor,
            cursors,
            ..Self::default()
        }
    }

    /// The `hello` that authenticates with `token` and resumes from here.
    pub(crate) fn hello(&self, id: String, token: String) -> ClientFrame {
        ClientFrame::Hello {
            id,
            token,
            sync_cursor: self.sync_cursor,
            cursors: self.cursors.clone(),
        }
    }

    /// A `hello` went out: its resume replay follows, until the ack.
    pub(crate) fn begin_replay(&mut self) {
        self.replaying = true;
    }

    pub(crate) fn on_hello_ok(&mut self, ok: &HelloOk) {
        self.replaying = false;
        self.sync_cursor = Some(ok.sync_cursor);
        self.user_id = Some(ok.user_id);
    }

    /// Declares that the app already has `conversation_id` up to `mod_seq` (from REST history,
    /// say). Cursors only move forward.
    pub(crate) fn track(&mut self, conversation_id: Uuid, mod_seq: i64) {
        let cursor = self.cursors.entry(conversation_id).or_insert(mod_seq);
        *cursor = (*cursor).max(mod_seq);
    }

    /// Stops resuming `conversation_id`.
    pub(crate) fn forget(&mut self, conversation_id: Uuid) {
        self.cursors.remove(&conversation_id);
    }

    pub(crate) fn cursors(&self) -> &Cursors {
        &self.cursors
    }

    pub(crate) fn sync_cursor(&self) -> Option<i64> {
        self.sync_cursor
    }

    pub(crate) fn duplicates_dropped(&self) -> u64 {
        self.duplicates_dropped
    }

    pub(crate) fn gaps_seen(&self) -> u64 {
        self.gaps_seen
    }

    /// Decides whether an event reaches the app, updating the cursors. `false` means "already
    /// delivered, drop it".
    pub(crate) fn admit(&mut self, frame: &ServerFrame) -> bool {
        match frame {
            ServerFrame::MessageNew { message } | ServerFrame::MessageUpdated { message } => {
                self.admit_change(message.conversation_id, message.mod_seq)
            }
            // A conversation new to us (resume) or one we were just added to: later events
            // continue from its current counter. Only seeds: moving an existing cursor forward
            // here could skip replayed messages that follow the summary.
            ServerFrame::Conversation { summary } => {
                self.cursors
                    .entry(summary.conversation.id)
                    .or_insert(summary.conversation.last_mod);
                true
            }
            ServerFrame::MemberAdded {
                conversation,
                member,
                ..
            } if Some(member.user_id) == self.user_id => {
                self.cursors
                    .entry(conversation.id)
                    .or_insert(conversation.last_mod);
                true
            }
            ServerFrame::MemberRemoved {
                conversation_id,
                user_id,
                ..
            } if Some(*user_id) == self.user_id => {
                self.forget(*conversation_id);
                true
            }
            ServerFrame::ConversationRemoved { conversation_id } => {
                self.forget(*conversation_id);
                true
            }
            _ => true,
        }
    }

    fn admit_change(&mut self, conversation_id: Uuid, mod_seq: i64) -> bool {
        match self.cursors.get_mut(&conversation_id) {
            Some(cursor) if mod_seq <= *cursor => {
                self.duplicates_dropped += 1;
                false
            }
            Some(cursor) => {
                if mod_seq > cursor.saturating_add(1) && !self.replaying {
                    // A replay skips the mod_seqs of changes superseded by later ones (a
                    // message sent, then edited, comes once with its edit's mod_seq).
                    // Live, though, every change is an event: delivered anyway: holding it back would stall the conversation, and the
                    // server promises gap-free streams, so this is its bug to surface.
                    self.gaps_seen += 1;
                    tracing::warn!(%conversation_id, from = *cursor, to = mod_seq, "gap in message events");
                }
                *cursor = mod_seq;
                true
            }
            None => {
                self.cursors.insert(conversation_id, mod_seq);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use natter_protocol::{ConversationSummaryView, ConversationView, MemberView, MessageView};

    use super::*;

    fn conv(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn message(conversation: Uuid, seq: i64, mod_seq: i64) -> MessageView {
        MessageView {
            id: format!("{mod_seq}"),
            conversation_id: conversation,
            seq,
            mod_seq,
            sender_id: Uuid::nil(),
            client_msg_id: format!("c{seq}"),
            text: "hi".into(),
            reply_to_seq: None,
            mentions: Vec::new(),
            created_at_ms: 0,
            edited_at_ms: None,
            deleted: false,
            reactions: Vec::new(),
            attachments: Vec::new(),
        }
    }

    fn new(conversation: Uuid, mod_seq: i64) -> ServerFrame {
        ServerFrame::MessageNew {
            message: message(conversation, mod_seq, mod_seq),
        }
    }

    fn conversation_view(id: Uuid, last_mod: i64) -> ConversationView {
        ConversationView {
            id,
            kind: "group".into(),
            name: None,
            topic: None,
            created_by: Uuid::nil(),
            created_at_ms: 0,
            last_seq: last_mod,
            last_mod,
            last_activity_ms: 0,
            member_count: 2,
        }
    }

    fn member(conversation_id: Uuid, user_id: Uuid) -> MemberView {
        MemberView {
            conversation_id,
            user_id,
            role: "member".into(),
            muted: false,
            read_seq: 0,
            delivered_seq: 0,
            joined_at_ms: 0,
        }
    }

    fn hello_ok(user_id: Uuid, sync_cursor: i64) -> HelloOk {
        HelloOk {
            user_id,
            session_id: Uuid::nil(),
            idle_timeout_ms: 30_000,
            sync_cursor,
        }
    }

    #[test]
    fn duplicates_are_dropped_and_new_changes_advance_the_cursor() {
        let mut state = ResumeState::default();
        let (a, b) = (conv(1), conv(2));
        assert!(state.admit(&new(a, 1)));
        assert!(state.admit(&new(a, 2)));
        assert!(
            !state.admit(&new(a, 2)),
            "replayed change already delivered"
        );
        assert!(!state.admit(&new(a, 1)));
        assert!(
            state.admit(&new(b, 7)),
            "first sight of a conversation is delivered"
        );
        let edit = ServerFrame::MessageUpdated {
            message: message(a, 1, 3),
        };
        assert!(
            state.admit(&edit),
            "an edit of an old message is a new change"
        );
        assert!(!state.admit(&edit));
        assert_eq!(state.cursors().get(&a), Some(&3));
        assert_eq!(state.cursors().get(&b), Some(&7));
        assert_eq!(state.duplicates_dropped(), 3);
        assert_eq!(state.gaps_seen(), 0);
    }

    #[test]
    fn gaps_are_delivered_but_counted() {
        let mut state = ResumeState::default();
        state.track(conv(1), 2);
        assert!(state.admit(&new(conv(1), 5)));
        assert_eq!(state.gaps_seen(), 1);
        assert_eq!(state.cursors().get(&conv(1)), Some(&5));
    }

    #[test]
    fn a_replay_skips_superseded_changes_without_counting_gaps() {
        let mut state = ResumeState::default();
        state.track(conv(1), 3);
        state.begin_replay();
        assert!(state.admit(&new(conv(1), 4)));
        // Message 5 was sent (mod 5) and then edited (mod 7): replayed once, at mod 7.
        assert!(state.admit(&ServerFrame::MessageUpdated {
            message: message(conv(1), 5, 7)
        }));
        assert_eq!(state.gaps_seen(), 0);
        state.on_hello_ok(&hello_ok(Uuid::nil(), 1));
        assert!(state.admit(&new(conv(1), 9)), "live: delivered");
        assert_eq!(state.gaps_seen(), 1, "live: counted");
    }

    #[test]
    fn track_only_moves_forward_and_seeds_dedup() {
        let mut state = ResumeState::default();
        state.track(conv(1), 10);
        state.track(conv(1), 4);
        assert_eq!(state.cursors().get(&conv(1)), Some(&10));
        assert!(!state.admit(&new(conv(1), 10)));
        assert!(state.admit(&new(conv(1), 11)));
    }

    #[test]
    fn hello_carries_the_latest_sync_cursor_and_cursors() {
        let mut state = ResumeState::new(None, Cursors::new());
        let ClientFrame::Hello {
            sync_cursor,
            cursors,
            ..
        } = state.hello("h1".into(), "t".into())
        else {
            panic!("not a hello")
        };
        assert_eq!((sync_cursor, cursors.len()), (None, 0));

        state.on_hello_ok(&hello_ok(Uuid::nil(), 41));
        state.admit(&new(conv(3), 9));
        state.on_hello_ok(&hello_ok(Uuid::nil(), 42));
        let frame = state.hello("h2".into(), "tok".into());
        let ClientFrame::Hello {
            id,
            token,
            sync_cursor,
            cursors,
        } = frame
        else {
            panic!("not a hello")
        };
        assert_eq!(
            (id.as_str(), token.as_str(), sync_cursor),
            ("h2", "tok", Some(42))
        );
        assert_eq!(cursors, Cursors::from([(conv(3), 9)]));
    }

    #[test]
    fn conversation_frames_seed_but_never_move_cursors() {
        let mut state = ResumeState::default();
        state.track(conv(1), 3);
        let summary = |id, last_mod| ServerFrame::Conversation {
            summary: ConversationSummaryView {
                conversation: conversation_view(id, last_mod),
                me: member(id, Uuid::nil()),
                last_message: None,
                unread_count: 0,
                mention_count: 0,
                peer: None,
            },
        };
        assert!(state.admit(&summary(conv(1), 8)));
        assert!(state.admit(&summary(conv(2), 8)));
        assert_eq!(
            state.cursors().get(&conv(1)),
            Some(&3),
            "replay of 4..=8 must still pass"
        );
        assert_eq!(state.cursors().get(&conv(2)), Some(&8));
        assert!(state.admit(&new(conv(1), 4)));
    }

    #[test]
    fn own_membership_changes_seed_and_forget() {
        let me = conv(100);
        let other = conv(200);
        let mut state = ResumeState::default();
        state.on_hello_ok(&hello_ok(me, 1));
        let added = |user| ServerFrame::MemberAdded {
            conversation: conversation_view(conv(1), 6),
            member: member(conv(1), user),
            by: other,
        };
        assert!(state.admit(&added(other)));
        assert!(
            state.cursors().is_empty(),
            "someone else's addition does not seed"
        );
        assert!(state.admit(&added(me)));
        assert_eq!(state.cursors().get(&conv(1)), Some(&6));

        let removed = |user| ServerFrame::MemberRemoved {
            conversation_id: conv(1),
            user_id: user,
            by: other,
        };
        assert!(state.admit(&removed(other)));
        assert_eq!(state.cursors().len(), 1);
        assert!(state.admit(&removed(me)));
        assert!(state.cursors().is_empty());

        state.track(conv(2), 1);
        assert!(state.admit(&ServerFrame::ConversationRemoved {
            conversation_id: conv(2)
        }));
        assert!(state.cursors().is_empty());
    }
}
