//! Typed reads and writes of the three tables: bucket arithmetic and driver calls live here, so
//! the operations (append, change, reads) speak in seqs and rows only.

use std::future::Future;

use futures_util::{StreamExt, TryStreamExt, stream};
use natter_domain::ConversationId;
use natter_domain::ports::StoreResult;
use scylla::response::query_result::QueryResult;
use uuid::Uuid;

use crate::Inner;
use crate::errors;
use crate::rows::{MessageRowRead, StoredMessage};

/// Values per `IN ?` list: keeps each request small whatever the caller asks for.
const IN_CHUNK: usize = 100;
/// Requests of one read in flight at once (a page usually needs one or two).
const CONCURRENT_REQUESTS: usize = 4;

/// Run `requests` with at most [`CONCURRENT_REQUESTS`] in flight; results in request order.
async fn bounded<T>(
    requests: impl IntoIterator<Item = impl Future<Output = StoreResult<Vec<T>>>>,
) -> StoreResult<Vec<T>> {
    let parts: Vec<Vec<T>> = stream::iter(requests)
        .buffered(CONCURRENT_REQUESTS)
        .try_collect()
        .await?;
    Ok(parts.into_iter().flatten().collect())
}

fn message_rows(
    result: QueryResult,
    conversation: ConversationId,
) -> StoreResult<Vec<StoredMessage>> {
    let rows = result.into_rows_result().map_err(errors::rows)?;
    rows.rows::<MessageRowRead>()
        .map_err(errors::rows)?
        .map(|row| {
            row.map(|r| r.into_stored(conversation))
                .map_err(errors::rows)
        })
        .collect()
}

fn change_rows(result: QueryResult) -> StoreResult<Vec<(i64, i64)>> {
    let rows = result.into_rows_result().map_err(errors::rows)?;
    rows.rows::<(i64, i64)>()
        .map_err(errors::rows)?
        .map(|row| row.map_err(errors::rows))
        .collect()
}

impl Inner {
    /// The seq an idempotency key points to, if any (it may be an orphan's: check the row).
    pub(crate) async fn client_id_seq(
        &self,
        conversation: ConversationId,
        sender: Uuid,
        client_msg_id: &str,
    ) -> StoreResult<Option<i64>> {
        let st = self.statements().await?;
        let result = self
            .session
            .execute_unpaged(
                &st.select_client_id,
                (conversation.0, sender, client_msg_id),
            )
            .await
            .map_err(errors::execution)?;
        let rows = result.into_rows_result().map_err(errors::rows)?;
        let seq = rows.maybe_first_row::<(i64,)>().map_err(errors::rows)?;
        Ok(seq.map(|(seq,)| seq))
    }

    /// The stored row at `seq`, whatever its commit state.
    pub(crate) async fn load_row(
        &self,
        conversation: ConversationId,
        seq: i64,
    ) -> StoreResult<Option<StoredMessage>> {
        let st = self.statements().await?;
        let bucket = self.layout.bucket(seq);
        let result = self
            .session
            .execute_unpaged(&st.select_message, (conversation.0, bucket, seq))
            .await
            .map_err(errors::execution)?;
        Ok(message_rows(result, conversation)?.pop())
    }

    /// The stored rows at `seqs` (any order, duplicates allowed), ascending by seq; missing
    /// ones are left out.
    pub(crate) async fn load_rows(
        &self,
        conversation: ConversationId,
        seqs: &[i64],
    ) -> StoreResult<Vec<StoredMessage>> {
        let st = self.statements().await?;
        let requests = self
            .in_lists(seqs)
            .into_iter()
            .map(|(bucket, chunk)| async move {
                let result = self
                    .session
                    .execute_unpaged(&st.select_messages_in, (conversation.0, bucket, chunk))
                    .await
                    .map_err(errors::execution)?;
                message_rows(result, conversation)
            });
        let mut rows = bounded(requests).await?;
        rows.sort_unstable_by_key(|r| r.seq);
        Ok(rows)
    }

    /// The stored rows with `lo <= seq <= hi`, ascending, one request per bucket.
    pub(crate) async fn load_range(
        &self,
        conversation: ConversationId,
        lo: i64,
        hi: i64,
    ) -> StoreResult<Vec<StoredMessage>> {
        let st = self.statements().await?;
        let requests = self
            .layout
            .split(lo, hi)
            .into_iter()
            .map(|range| async move {
                let limit = i32::try_from(range.len()).unwrap_or(i32::MAX);
                let result = self
                    .session
                    .execute_unpaged(
                        &st.select_message_range,
                        (conversation.0, range.bucket, range.lo, range.hi, limit),
                    )
                    .await
                    .map_err(errors::execution)?;
                message_rows(result, conversation)
            });
        let mut rows = bounded(requests).await?;
        rows.sort_unstable_by_key(|r| r.seq);
        Ok(rows)
    }

    /// Change-index entries `(mod_seq, seq)` with `lo <= mod_seq <= hi`, all in `lo`'s bucket
    /// (the caller walks buckets), ascending, at most `limit`.
    pub(crate) async fn change_entries(
        &self,
        conversation: ConversationId,
        lo: i64,
        hi: i64,
        limit: i32,
    ) -> StoreResult<Vec<(i64, i64)>> {
        let st = self.statements().await?;
        let bucket = self.layout.bucket(lo);
        let hi = hi.min(self.layout.bucket_end(bucket));
        let result = self
            .session
            .execute_unpaged(
                &st.select_change_range,
                (conversation.0, bucket, lo, hi, limit),
            )
            .await
            .map_err(errors::execution)?;
        change_rows(result)
    }

    /// Change-index entries at exactly these `mod_seqs` (those that exist).
    pub(crate) async fn change_entries_at(
        &self,
        conversation: ConversationId,
        mod_seqs: &[i64],
    ) -> StoreResult<Vec<(i64, i64)>> {
        let st = self.statements().await?;
        let requests = self
            .in_lists(mod_seqs)
            .into_iter()
            .map(|(bucket, chunk)| async move {
                let result = self
                    .session
                    .execute_unpaged(&st.select_changes_in, (conversation.0, bucket, chunk))
                    .await
                    .map_err(errors::execution)?;
                change_rows(result)
            });
        bounded(requests).await
    }

    /// `numbers` (seqs or mod_seqs; any order, duplicates allowed) sorted, deduplicated and
    /// grouped into `IN` lists of one bucket each, at most `IN_CHUNK` long: one request each.
    fn in_lists(&self, numbers: &[i64]) -> Vec<(i64, Vec<i64>)> {
        let mut sorted = numbers.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        sorted
            .chunk_by(|a, b| self.layout.bucket(*a) == self.layout.bucket(*b))
            .flat_map(|group| {
                let bucket = self.layout.bucket(group[0]);
                group
                    .chunks(IN_CHUNK)
                    .map(move |chunk| (bucket, chunk.to_vec()))
            })
            .collect()
    }

    /// A new message: its row, its change entry and its idempotency key, at `stamp`.
    pub(crate) async fn write_append(&self, row: &StoredMessage, stamp: i64) -> StoreResult<()> {
        let st = self.statements().await?;
        let conv = row.conversation_id.0;
        let mod_seq = row.current.mod_seq;
        let values = (
            row.values(self.layout.bucket(row.seq), stamp),
            (conv, self.layout.bucket(mod_seq), mod_seq, row.seq, stamp),
            (
                conv,
                row.sender_id,
                row.client_msg_id.as_str(),
                row.seq,
                stamp,
            ),
        );
        self.session
            .batch(&st.append_batch, values)
            .await
            .map_err(errors::execution)?;
        Ok(())
    }

    /// A changed message: the whole row and its new change entry, at `stamp`.
    pub(crate) async fn write_change(&self, row: &StoredMessage, stamp: i64) -> StoreResult<()> {
        let st = self.statements().await?;
        let mod_seq = row.current.mod_seq;
        let values = (
            row.values(self.layout.bucket(row.seq), stamp),
            (
                row.conversation_id.0,
                self.layout.bucket(mod_seq),
                mod_seq,
                row.seq,
                stamp,
            ),
        );
        self.session
            .batch(&st.change_batch, values)
            .await
            .map_err(errors::execution)?;
        Ok(())
    }
}
