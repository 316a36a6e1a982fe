//! Summaries through the message port stop counting at `UNREAD_SCAN_MAX` scanned messages (the
//! documented cap); from SQL they are exact. Both agree below the cap.

use std::sync::Arc;

use natter_domain::ConversationId;
use natter_domain::model::{HistoryQuery, Message};
use natter_domain::ports::{ConversationStore, MessageStore, StoreResult};
use natter_store_postgres::UNREAD_SCAN_MAX;

use crate::support;

/// A message store that counts the calls going through it, to show the port is what is used.
struct Counting {
    inner: natter_store_postgres::PgStore,
    calls: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl MessageStore for Counting {
    async fn append(
        &self,
        message: natter_domain::model::NewMessage,
    ) -> StoreResult<natter_domain::model::AppendOutcome> {
        self.inner.append(message).await
    }
    async fn change(
        &self,
        conversation: ConversationId,
        seq: i64,
        change: natter_domain::model::MessageChange,
        now_ms: i64,
    ) -> StoreResult<Message> {
        self.inner.change(conversation, seq, change, now_ms).await
    }
    async fn message(
        &self,
        conversation: ConversationId,
        seq: i64,
    ) -> StoreResult<Option<Message>> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.message(conversation, seq).await
    }
    async fn history(
        &self,
        conversation: ConversationId,
        query: HistoryQuery,
    ) -> StoreResult<Vec<Message>> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.history(conversation, query).await
    }
    async fn changes_since(
        &self,
        conversation: ConversationId,
        after_mod: i64,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        self.inner
            .changes_since(conversation, after_mod, limit)
            .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_counts_stop_at_the_scan_cap() {
    let store = support::store(4).await;
    let f = support::fixture(&store);
    let [alice, bob] = f.users(&["alice", "bob"]).await[..] else {
        unreachable!()
    };
    let group = f.group(alice, &[bob]).await.id;
    let total = UNREAD_SCAN_MAX + 5;
    for n in 0..total {
        if n % 10 == 0 {
            f.send_mentioning(group, alice, "@bob", &[bob]).await;
        } else {
            f.send(group, alice, "hi").await;
        }
    }
    let counting = Arc::new(Counting {
        inner: store.clone(),
        calls: Default::default(),
    });
    let split = store.clone().with_messages(counting.clone());

    let exact = store.summary(group, bob).await.unwrap().unwrap();
    assert_eq!(
        (exact.unread_count, exact.mention_count),
        (total, (total + 9) / 10)
    );
    let capped = split.summary(group, bob).await.unwrap().unwrap();
    assert_eq!(
        (capped.unread_count, capped.mention_count),
        (UNREAD_SCAN_MAX, UNREAD_SCAN_MAX / 10),
        "the first {UNREAD_SCAN_MAX} unread messages are counted"
    );
    assert!(counting.calls.load(std::sync::atomic::Ordering::SeqCst) > 0);
    assert_eq!(capped.last_message, exact.last_message);
    assert_eq!(capped.conversation, exact.conversation);

    // Below the cap the two agree, with and without a read cursor.
    store.mark_read(group, bob, total - 15, 0).await.unwrap();
    let exact = store.summary(group, bob).await.unwrap().unwrap();
    let ported = split.summary(group, bob).await.unwrap().unwrap();
    assert_eq!(exact, ported);
    assert_eq!(exact.unread_count, 15);
    assert_eq!(
        split.conversations_of(alice, None, 10).await.unwrap(),
        store.conversations_of(alice, None, 10).await.unwrap()
    );
}
