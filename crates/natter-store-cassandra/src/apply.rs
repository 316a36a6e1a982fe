//! A [`MessageChange`] on a message version: the domain's rules (`natter_domain::rules`) decide
//! what it does, and this writes that effect into the next version of the row. Deleting is soft
//! and final (text emptied, mentions, reactions and attachments dropped); a no-op changes nothing
//! and so bumps nothing.

use natter_domain::UserId;
use natter_domain::model::MessageChange;
use natter_domain::rules::{Effect, MessageState, message_effect};
use natter_domain::values::Reaction;

use crate::rows::Version;

impl MessageState for Version {
    fn is_deleted(&self) -> bool {
        self.deleted
    }

    fn has_reaction(&self, user: UserId, emoji: &Reaction) -> bool {
        self.reactions
            .iter()
            .any(|(e, u)| *u == user.0 && e == emoji.as_str())
    }
}

/// The version after `change` (its `mod_seq` left to the caller), or `None` for a no-op.
pub(crate) fn apply(base: &Version, change: MessageChange, now_ms: i64) -> Option<Version> {
    let effect = message_effect(base, change, now_ms)?;
    let mut next = base.clone();
    match effect {
        Effect::Edit {
            text,
            mentions,
            edited_at_ms,
        } => {
            next.text = text.as_str().to_owned();
            next.mentions = mentions.iter().map(|u| u.0).collect();
            next.edited_at_ms = edited_at_ms;
        }
        Effect::Delete => {
            next.text.clear();
            next.mentions.clear();
            next.reactions.clear();
            next.attachments.clear();
            next.deleted = true;
        }
        Effect::AddReaction { user_id, emoji } => {
            next.reactions.push((emoji.as_str().to_owned(), user_id.0));
        }
        Effect::RemoveReaction { user_id, emoji } => {
            next.reactions
                .retain(|(e, u)| !(e == emoji.as_str() && *u == user_id.0));
        }
    }
    Some(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use natter_domain::values::MessageText;

    fn base() -> Version {
        Version {
            mod_seq: 1,
            text: "hello".into(),
            ..Version::none()
        }
    }

    fn add(user: UserId, emoji: &str) -> MessageChange {
        MessageChange::AddReaction {
            user_id: user,
            emoji: Reaction::parse(emoji).unwrap(),
        }
    }

    fn remove(user: UserId, emoji: &str) -> MessageChange {
        MessageChange::RemoveReaction {
            user_id: user,
            emoji: Reaction::parse(emoji).unwrap(),
        }
    }

    #[test]
    fn reactions_are_kept_in_reacting_order_and_no_ops_are_none() {
        let (a, b) = (UserId::new(), UserId::new());
        let one = apply(&base(), add(a, "👍"), 5).unwrap();
        let two = apply(&one, add(b, "❤️"), 5).unwrap();
        assert_eq!(
            two.reactions,
            vec![("👍".to_owned(), a.0), ("❤️".to_owned(), b.0)]
        );
        assert_eq!(apply(&two, add(a, "👍"), 5), None);
        assert_eq!(apply(&two, remove(b, "👍"), 5), None);
        let three = apply(&two, remove(a, "👍"), 5).unwrap();
        assert_eq!(three.reactions, vec![("❤️".to_owned(), b.0)]);
        assert_eq!(three.edited_at_ms, 0, "reactions are not edits");
    }

    #[test]
    fn edit_dedups_mentions_and_delete_is_final() {
        let (a, b) = (UserId::new(), UserId::new());
        let edit = MessageChange::Edit {
            text: MessageText::parse("hi @a @b").unwrap(),
            mentions: vec![a, b, a],
        };
        let edited = apply(&base(), edit.clone(), 9).unwrap();
        assert_eq!(
            (
                edited.text.as_str(),
                edited.mentions.clone(),
                edited.edited_at_ms
            ),
            ("hi @a @b", vec![a.0, b.0], 9)
        );
        let reacted = apply(&edited, add(a, "👍"), 10).unwrap();
        let deleted = apply(&reacted, MessageChange::Delete, 11).unwrap();
        assert!(deleted.deleted);
        assert!(deleted.text.is_empty() && deleted.mentions.is_empty());
        assert!(deleted.reactions.is_empty());
        assert_eq!(deleted.edited_at_ms, 9, "deleting is not editing");
        for change in [MessageChange::Delete, edit, add(b, "👍")] {
            assert_eq!(apply(&deleted, change, 12), None);
        }
    }
}
