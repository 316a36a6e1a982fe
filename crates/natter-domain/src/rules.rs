//! The rules of changing a stored message and of moving a member's cursors, as pure functions.
//!
//! Every store applies these instead of restating them: SQLite and PostgreSQL inside their write
//! transactions, Cassandra under its sequencer's ticket. A store decides nothing about what a
//! change means; it reads the current state, asks [`message_effect`] (or [`read_up_to`],
//! [`delivered_up_to`]) what to do, and writes exactly that. The conformance suite
//! (natter-conformance) holds one case per rule, run against every store.
//!
//! The rules:
//! - **A deleted message is final**: every change to it is a no-op.
//! - **Deleting is soft**: the text, mentions, reactions and attachments go; the id, seq, sender
//!   and time stay, so the conversation keeps its shape.
//! - **An edit** replaces the text and the mentions (deduplicated, in order of first mention)
//!   and stamps the edit time.
//! - **A reaction is one per (user, emoji)**: adding one that exists, or removing one that does
//!   not, is a no-op.
//! - **A no-op changes nothing**: nothing is written and no change counter moves.
//! - **Cursors only rise**, never past the conversation's last seq, and what is read is
//!   delivered.

use crate::UserId;
use crate::model::{Member, Message, MessageChange};
use crate::values::{MessageText, Reaction};

/// What a change does to a message, once [`message_effect`] has decided it is not a no-op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Replace the text and the mentions; set the edit time.
    Edit {
        text: MessageText,
        /// Deduplicated, in order of first mention.
        mentions: Vec<UserId>,
        edited_at_ms: i64,
    },
    /// Empty the text; drop the mentions, reactions and attachments; mark the message deleted.
    Delete,
    /// Add `(user_id, emoji)`, which the message does not have, after every other reaction.
    AddReaction { user_id: UserId, emoji: Reaction },
    /// Remove `(user_id, emoji)`, which the message has.
    RemoveReaction { user_id: UserId, emoji: Reaction },
}

/// What a store knows of a message's current state, whatever its rows look like.
pub trait MessageState {
    fn is_deleted(&self) -> bool;
    fn has_reaction(&self, user: UserId, emoji: &Reaction) -> bool;
}

impl MessageState for Message {
    fn is_deleted(&self) -> bool {
        self.deleted
    }

    fn has_reaction(&self, user: UserId, emoji: &Reaction) -> bool {
        self.reactions
            .iter()
            .any(|r| r.emoji == *emoji && r.user_ids.contains(&user))
    }
}

/// What `change` does to a message in state `current` at `now_ms`; `None` for a no-op.
pub fn message_effect(
    current: &impl MessageState,
    change: MessageChange,
    now_ms: i64,
) -> Option<Effect> {
    if current.is_deleted() {
        return None;
    }
    match change {
        MessageChange::Edit { text, mentions } => Some(Effect::Edit {
            text,
            mentions: distinct(&mentions),
            edited_at_ms: now_ms,
        }),
        MessageChange::Delete => Some(Effect::Delete),
        MessageChange::AddReaction { user_id, emoji } => (!current.has_reaction(user_id, &emoji))
            .then_some(Effect::AddReaction { user_id, emoji }),
        MessageChange::RemoveReaction { user_id, emoji } => current
            .has_reaction(user_id, &emoji)
            .then_some(Effect::RemoveReaction { user_id, emoji }),
    }
}

/// `users` without repeats, in order of first appearance.
pub fn distinct(users: &[UserId]) -> Vec<UserId> {
    let mut seen: Vec<UserId> = Vec::with_capacity(users.len());
    for user in users {
        if !seen.contains(user) {
            seen.push(*user);
        }
    }
    seen
}

/// `member` has read up to `seq`: the read cursor rises to it (clamped to `last_seq`, never
/// lowered), and the delivered cursor with it.
pub fn read_up_to(member: &mut Member, seq: i64, last_seq: i64) {
    member.read_seq = member.read_seq.max(seq.min(last_seq));
    member.delivered_seq = member.delivered_seq.max(member.read_seq);
}

/// `seq` reached one of `member`'s devices: the delivered cursor rises to it (clamped to
/// `last_seq`, never lowered).
pub fn delivered_up_to(member: &mut Member, seq: i64, last_seq: i64) {
    member.delivered_seq = member.delivered_seq.max(seq.min(last_seq));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ConversationId;
    use crate::model::Role;

    /// A message state as the rules see it.
    struct State {
        deleted: bool,
        reactions: Vec<(UserId, &'static str)>,
    }

    impl MessageState for State {
        fn is_deleted(&self) -> bool {
            self.deleted
        }

        fn has_reaction(&self, user: UserId, emoji: &Reaction) -> bool {
            self.reactions
                .iter()
                .any(|(u, e)| *u == user && *e == emoji.as_str())
        }
    }

    fn emoji(e: &str) -> Reaction {
        Reaction::parse(e).unwrap()
    }

    fn live(reactions: Vec<(UserId, &'static str)>) -> State {
        State {
            deleted: false,
            reactions,
        }
    }

    fn edit(mentions: Vec<UserId>) -> MessageChange {
        MessageChange::Edit {
            text: MessageText::parse("new").unwrap(),
            mentions,
        }
    }

    #[test]
    fn a_deleted_message_is_final() {
        let gone = State {
            deleted: true,
            reactions: vec![],
        };
        let bob = UserId::new();
        for change in [
            MessageChange::Delete,
            edit(vec![]),
            MessageChange::AddReaction {
                user_id: bob,
                emoji: emoji("👍"),
            },
        ] {
            assert_eq!(message_effect(&gone, change, 5), None);
        }
    }

    #[test]
    fn an_edit_deduplicates_mentions_in_order_and_stamps_the_time() {
        let (a, b) = (UserId::new(), UserId::new());
        assert_eq!(
            message_effect(&live(vec![]), edit(vec![b, a, b, a]), 7),
            Some(Effect::Edit {
                text: MessageText::parse("new").unwrap(),
                mentions: vec![b, a],
                edited_at_ms: 7,
            })
        );
    }

    #[test]
    fn a_reaction_is_one_per_user_and_emoji() {
        let (a, b) = (UserId::new(), UserId::new());
        let state = live(vec![(a, "👍")]);
        let add = |user_id, e| MessageChange::AddReaction {
            user_id,
            emoji: emoji(e),
        };
        let remove = |user_id, e| MessageChange::RemoveReaction {
            user_id,
            emoji: emoji(e),
        };
        assert_eq!(message_effect(&state, add(a, "👍"), 1), None);
        assert_eq!(message_effect(&state, remove(b, "👍"), 1), None);
        assert_eq!(message_effect(&state, remove(a, "❤️"), 1), None);
        assert_eq!(
            message_effect(&state, add(b, "👍"), 1),
            Some(Effect::AddReaction {
                user_id: b,
                emoji: emoji("👍")
            })
        );
        assert_eq!(
            message_effect(&state, remove(a, "👍"), 1),
            Some(Effect::RemoveReaction {
                user_id: a,
                emoji: emoji("👍")
            })
        );
    }

    #[test]
    fn cursors_only_rise_are_clamped_and_reading_delivers() {
        let mut member = Member {
            conversation_id: ConversationId::new(),
            user_id: UserId::new(),
            role: Role::Member,
            muted: false,
            read_seq: 2,
            delivered_seq: 3,
            joined_at_ms: 0,
            replied: false,
        };
        read_up_to(&mut member, 1, 10);
        assert_eq!((member.read_seq, member.delivered_seq), (2, 3));
        delivered_up_to(&mut member, 99, 10);
        assert_eq!((member.read_seq, member.delivered_seq), (2, 10));
        delivered_up_to(&mut member, 4, 10);
        assert_eq!(member.delivered_seq, 10);
        read_up_to(&mut member, 99, 12);
        assert_eq!((member.read_seq, member.delivered_seq), (12, 12));
    }
}
