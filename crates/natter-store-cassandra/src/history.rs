//! Reads by seq: one message, and history pages.
//!
//! Every read starts from the sequencer's committed head: rows past `head.last_seq` are orphans
//! and never read, and since committed seqs are gap-free, a page is a known seq range. Its
//! buckets follow by arithmetic (`layout`), so a page reads exactly the one or two partitions it
//! covers (concurrently), each with a range and a `LIMIT`, and never probes an empty bucket.

use std::collections::HashMap;

use natter_domain::model::{HistoryQuery, Message};
use natter_domain::ports::{SequenceHead, StoreResult};
use natter_domain::{ConversationId, StoreError};

use crate::Inner;

/// The seqs `lo..=hi` a page covers in a conversation whose newest committed seq is
/// `last_seq`; `None` for an empty page.
pub(crate) fn page_range(query: HistoryQuery, last_seq: i64) -> Option<(i64, i64)> {
    let (lo, hi) = match query {
        HistoryQuery::Latest { limit } => before(last_seq.saturating_add(1), limit, last_seq)?,
        HistoryQuery::Before { before: b, limit } => before(b, limit, last_seq)?,
        HistoryQuery::After { after, limit } => {
            if limit == 0 {
                return None;
            }
            let lo = after.saturating_add(1).max(1);
            let hi = lo.saturating_add(i64::from(limit) - 1).min(last_seq);
            (lo, hi)
        }
    };
    (lo <= hi).then_some((lo, hi))
}

fn before(before: i64, limit: u32, last_seq: i64) -> Option<(i64, i64)> {
    if limit == 0 {
        return None;
    }
    let hi = before.saturating_sub(1).min(last_seq);
    let lo = hi.saturating_sub(i64::from(limit) - 1).max(1);
    Some((lo, hi))
}

impl Inner {
    /// The committed head, `None` if the conversation does not exist.
    pub(crate) async fn committed_head(
        &self,
        conversation: ConversationId,
    ) -> StoreResult<Option<SequenceHead>> {
        match self.sequencer.head(conversation).await {
            Ok(head) => Ok(Some(head)),
            Err(StoreError::NotFound) => Ok(None),
            Err(other) => Err(other),
        }
    }

    pub(crate) async fn message(
        &self,
        conversation: ConversationId,
        seq: i64,
    ) -> StoreResult<Option<Message>> {
        let Some(head) = self.committed_head(conversation).await? else {
            return Ok(None);
        };
        if seq < 1 || seq > head.last_seq {
            return Ok(None);
        }
        let Some(row) = self.load_row(conversation, seq).await? else {
            return Ok(None);
        };
        self.visible_one(conversation, head, &row)
            .await?
            .map(|version| row.message(version))
            .transpose()
    }

    pub(crate) async fn history(
        &self,
        conversation: ConversationId,
        query: HistoryQuery,
    ) -> StoreResult<Vec<Message>> {
        let Some(head) = self.committed_head(conversation).await? else {
            return Ok(Vec::new());
        };
        let Some((lo, hi)) = page_range(query, head.last_seq) else {
            return Ok(Vec::new());
        };
        let rows = self.load_range(conversation, lo, hi).await?;
        self.visible(conversation, head, &rows, &HashMap::new())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_seq_ranges_clamped_to_the_committed_head() {
        use HistoryQuery::*;
        let cases = [
            (Latest { limit: 4 }, 10, Some((7, 10))),
            (Latest { limit: 50 }, 10, Some((1, 10))),
            (Latest { limit: 0 }, 10, None),
            (Latest { limit: 5 }, 0, None),
            (
                Before {
                    before: 7,
                    limit: 4,
                },
                10,
                Some((3, 6)),
            ),
            (
                Before {
                    before: 3,
                    limit: 4,
                },
                10,
                Some((1, 2)),
            ),
            (
                Before {
                    before: 1,
                    limit: 4,
                },
                10,
                None,
            ),
            (
                Before {
                    before: 500,
                    limit: 3,
                },
                10,
                Some((8, 10)),
            ),
            (
                Before {
                    before: i64::MIN,
                    limit: 3,
                },
                10,
                None,
            ),
            (After { after: 0, limit: 4 }, 10, Some((1, 4))),
            (After { after: 8, limit: 4 }, 10, Some((9, 10))),
            (
                After {
                    after: 10,
                    limit: 4,
                },
                10,
                None,
            ),
            (
                After {
                    after: -5,
                    limit: 3,
                },
                10,
                Some((1, 3)),
            ),
            (
                After {
                    after: i64::MAX,
                    limit: 3,
                },
                10,
                None,
            ),
            (
                Before {
                    before: 1_001,
                    limit: 3,
                },
                2_000,
                Some((998, 1_000)),
            ),
            (
                After {
                    after: 998,
                    limit: u32::MAX,
                },
                1_001,
                Some((999, 1_001)),
            ),
        ];
        for (query, last_seq, expected) in cases {
            assert_eq!(
                page_range(query, last_seq),
                expected,
                "{query:?} at {last_seq}"
            );
        }
    }
}
