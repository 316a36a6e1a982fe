//! Which version of a stored row a reader may see: the commit filter.
//!
//! Cassandra cells are written before the sequencer commits, so a row can hold a write that was
//! never committed: its process died, or its commit failed, or (the subtle one) its write timed
//! out on the client, the ticket was released, and Cassandra applied the write later. Such an
//! "orphan" must never be shown, and must never be mistaken for committed later. The rules:
//!
//! - A row with `seq > head.last_seq` is an orphan append: invisible. The next append of that
//!   seq writes every cell at a larger stamp, so the orphan disappears.
//! - A row never changed (`prev.mod_seq == 0`) at `seq <= last_seq` is the committed append: an
//!   orphan append at that seq had a smaller stamp than the committed one, so it lost.
//! - A changed row's `current` version is committed iff `current.mod_seq <= head.last_mod` *and*
//!   the change index says change `current.mod_seq` was this row's. Every committed change
//!   writes its index entry, at a stamp larger than any orphan's for that mod_seq, so the index
//!   at or below `last_mod` is exactly the committed history; comparing `mod_seq` alone is not
//!   enough, since an orphan change's mod_seq is later committed by a change to another message.
//! - Otherwise the reader sees `prev`, the version `current` replaced, which was committed
//!   (the writer read it under the conversation's ticket and saw it committed, and if a later
//!   committed write had touched the row, its larger stamp would have replaced both versions).
//!
//! Checking the index costs one read per page and bucket of changed rows (`IN` lists), and
//! nothing for rows never changed, the common case.

use std::collections::HashMap;

use natter_domain::ConversationId;
use natter_domain::model::Message;
use natter_domain::ports::{SequenceHead, StoreResult};

use crate::Inner;
use crate::rows::{StoredMessage, Version};

/// Which version of `row` is visible, given the index entries `index` (`mod_seq -> seq`), if
/// `row.current` needs checking and its entry was looked up.
fn pick<'r>(
    row: &'r StoredMessage,
    head: SequenceHead,
    index: &HashMap<i64, i64>,
) -> Option<&'r Version> {
    if row.seq < 1 || row.seq > head.last_seq {
        return None;
    }
    if row.prev.mod_seq == 0 {
        return (row.current.mod_seq <= head.last_mod).then_some(&row.current);
    }
    let committed =
        row.current.mod_seq <= head.last_mod && index.get(&row.current.mod_seq) == Some(&row.seq);
    Some(if committed { &row.current } else { &row.prev })
}

/// Whether `pick` needs the index entry of `row.current`.
fn needs_index(row: &StoredMessage, head: SequenceHead) -> bool {
    row.seq >= 1
        && row.seq <= head.last_seq
        && row.prev.mod_seq != 0
        && row.current.mod_seq <= head.last_mod
}

impl Inner {
    /// The visible version of each row, paired with it, in the rows' order; invisible rows are
    /// left out. `known` are index entries the caller already read (`mod_seq -> seq`, at or
    /// below `head.last_mod`), which saves looking them up again.
    pub(crate) async fn visible_versions<'r>(
        &self,
        conversation: ConversationId,
        head: SequenceHead,
        rows: &'r [StoredMessage],
        known: &HashMap<i64, i64>,
    ) -> StoreResult<Vec<(&'r StoredMessage, &'r Version)>> {
        let missing: Vec<i64> = rows
            .iter()
            .filter(|row| needs_index(row, head) && !known.contains_key(&row.current.mod_seq))
            .map(|row| row.current.mod_seq)
            .collect();
        let mut index = known.clone();
        if !missing.is_empty() {
            index.extend(self.change_entries_at(conversation, &missing).await?);
        }
        Ok(rows
            .iter()
            .filter_map(|row| pick(row, head, &index).map(|version| (row, version)))
            .collect())
    }

    /// [`Self::visible_versions`] as messages.
    pub(crate) async fn visible(
        &self,
        conversation: ConversationId,
        head: SequenceHead,
        rows: &[StoredMessage],
        known: &HashMap<i64, i64>,
    ) -> StoreResult<Vec<Message>> {
        self.visible_versions(conversation, head, rows, known)
            .await?
            .into_iter()
            .map(|(row, version)| row.message(version))
            .collect()
    }

    /// The visible version of one row.
    pub(crate) async fn visible_one<'r>(
        &self,
        conversation: ConversationId,
        head: SequenceHead,
        row: &'r StoredMessage,
    ) -> StoreResult<Option<&'r Version>> {
        Ok(self
            .visible_versions(
                conversation,
                head,
                std::slice::from_ref(row),
                &HashMap::new(),
            )
            .await?
            .pop()
            .map(|(_, version)| version))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn version(mod_seq: i64, text: &str) -> Version {
        Version {
            mod_seq,
            text: text.into(),
            ..Version::none()
        }
    }

    fn row(seq: i64, current: Version, prev: Version) -> StoredMessage {
        StoredMessage {
            conversation_id: ConversationId(Uuid::nil()),
            seq,
            id: 1,
            sender_id: Uuid::nil(),
            client_msg_id: "c".into(),
            reply_to_seq: 0,
            created_at_ms: 1,
            current,
            prev,
        }
    }

    fn head(last_seq: i64, last_mod: i64) -> SequenceHead {
        SequenceHead {
            last_seq,
            last_mod,
            write_stamp: 0,
        }
    }

    #[test]
    fn orphan_appends_are_invisible() {
        let appended = row(5, version(7, "new"), Version::none());
        let none = HashMap::new();
        assert_eq!(pick(&appended, head(4, 6), &none), None);
        assert_eq!(
            pick(&appended, head(5, 7), &none).map(|v| v.text.as_str()),
            Some("new")
        );
        assert!(!needs_index(&appended, head(5, 7)));
    }

    #[test]
    fn a_change_is_visible_once_committed_for_this_row() {
        let edited = row(3, version(9, "edited"), version(3, "original"));
        let text = |h, index: &HashMap<i64, i64>| pick(&edited, h, index).map(|v| v.text.clone());
        // Not committed yet: the version it replaced.
        assert_eq!(text(head(5, 8), &HashMap::new()), Some("original".into()));
        assert!(!needs_index(&edited, head(5, 8)));
        // Committed: mod 9 is this row's change.
        assert!(needs_index(&edited, head(5, 9)));
        assert_eq!(
            text(head(5, 9), &HashMap::from([(9, 3)])),
            Some("edited".into())
        );
        // Mod 9 was committed by a change to another message: this one is an orphan.
        assert_eq!(
            text(head(5, 10), &HashMap::from([(9, 4)])),
            Some("original".into())
        );
        assert_eq!(text(head(5, 10), &HashMap::new()), Some("original".into()));
    }
}
