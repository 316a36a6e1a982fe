//! The effect of a [`MessageChange`] on a message version, as a pure function, with the embedded
//! store's rules: deleting is soft and final (text emptied, mentions and reactions dropped);
//! any change to a deleted message, adding a reaction that exists, or removing one that does not
//! is a no-op that changes nothing and so bumps nothing.

use natter_domain::model::MessageChange;

use crate::rows::{Version, dedup_mentions};

/// The version after `change` (its `mod_seq` left to the caller), or `None` for a no-op.
pub(crate) fn apply(base: &Version, change: MessageChange, now_ms: i64) -> Option<Version> {
    if base.deleted {
        return None;
    }
    let mut next = base.clone();
    match change {
        MessageChange::Edit { text, mentions } => {
            next.text = text.as_str().to_owned();
            next.mentions = dedup_mentions(&mentions);
            next.edited_at_ms = now_ms;
        }
        MessageChange::Delete => {
            next.text.clear();
            next.mentions.clear();
            next.reactions.clear();
            next.attachments.clear();
            next.deleted = true;
        }
        MessageChange::AddReaction { user_id, emoji } => {
            let pair = (emoji.as_str().to_owned(), user_id.0);
            if next.reactions.contains(&pair) {
                return None;
            }
            next.reactions.push(pair);
        }
        MessageChange::RemoveReaction { user_id, emoji } => {
            let before = next.reactions.len();
            next.reactions
                .retain(|(e, u)| !(e == emoji.as_str() && *u == user_id.0));
            if next.reactions.len() == before {
                return None;
            }
        }
    }
    Some(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use natter_domain::UserId;
    use natter_domain::values::{MessageText, Reaction};

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
