//! `changes_since`: the messages whose latest committed change is after a cursor, in change
//! order, read from the change index (`changes`, bucketed by `mod_seq`) as range scans.
//!
//! The index keeps an entry for every change, so most old entries are stale (their message
//! changed again later). An entry `mod_seq -> seq` is used only if the message's visible
//! version has exactly that `mod_seq`; the message appears again at its later entry. Entries
//! above the committed `head.last_mod` are orphans and never read.

use std::collections::HashMap;

use natter_domain::ConversationId;
use natter_domain::model::Message;
use natter_domain::ports::StoreResult;

use crate::Inner;

impl Inner {
    pub(crate) async fn changes_since(
        &self,
        conversation: ConversationId,
        after_mod: i64,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        let Some(head) = self.committed_head(conversation).await? else {
            return Ok(Vec::new());
        };
        let limit = limit as usize;
        let mut feed = Vec::new();
        let mut cursor = after_mod.saturating_add(1).max(1);
        while feed.len() < limit && cursor <= head.last_mod {
            let want = i32::try_from(limit - feed.len()).unwrap_or(i32::MAX);
            let entries = self
                .change_entries(conversation, cursor, head.last_mod, want)
                .await?;
            // Fewer than asked: this bucket is exhausted up to the head; go on to the next one.
            cursor = match entries.last() {
                Some((mod_seq, _)) if entries.len() == want as usize => mod_seq + 1,
                _ => self
                    .layout
                    .bucket_end(self.layout.bucket(cursor))
                    .saturating_add(1),
            };
            if entries.is_empty() {
                continue;
            }
            let seqs: Vec<i64> = entries.iter().map(|(_, seq)| *seq).collect();
            let rows = self.load_rows(conversation, &seqs).await?;
            // Entries at or below the committed head are the committed history: no need to
            // look them up again to check the rows' versions.
            let known: HashMap<i64, i64> = entries.iter().copied().collect();
            let mut visible: HashMap<i64, Message> = self
                .visible(conversation, head, &rows, &known)
                .await?
                .into_iter()
                .map(|m| (m.seq, m))
                .collect();
            for (mod_seq, seq) in entries {
                if visible.get(&seq).is_some_and(|m| m.mod_seq == mod_seq)
                    && let Some(message) = visible.remove(&seq)
                {
                    feed.push(message);
                }
            }
        }
        feed.truncate(limit);
        Ok(feed)
    }
}
