//! The search index's backfill: it indexes every message the index has no row for, through the
//! message port, in bounded steps that resume where the last one stopped (whichever process
//! takes them), one walker at a time, and never over a state the live indexer wrote.

use natter_domain::model::{Message, MessageChange};
use natter_domain::ports::{MessageSearch, MessageStore};
use natter_domain::{ConversationId, UserId};
use natter_store_postgres::{BackfillStep, PgStore, SearchEntry};
use sqlx::Connection;

use crate::support;

const DATABASE: &str = "search_backfill";

async fn found(store: &PgStore, user: UserId, text: &str) -> Vec<(ConversationId, i64)> {
    let page = store
        .search_messages(user, &natter_conformance::search::query(text))
        .await
        .expect("search");
    page.hits
        .iter()
        .map(|h| (h.conversation_id, h.seq))
        .collect()
}

async fn step(store: &PgStore, budget: u32) -> natter_store_postgres::BackfillProgress {
    match store
        .backfill_search_step(store, budget)
        .await
        .expect("step")
    {
        BackfillStep::Walked(progress) => progress,
        BackfillStep::Busy => panic!("busy"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backfill_indexes_what_the_index_lacks_resumably_and_never_over_newer_states() {
    // A database of its own: the walk covers every conversation.
    let store = support::own_store(DATABASE, 4).await;
    let f = support::fixture(&store);
    let [alice, bob] = f.users(&["alice", "bob"]).await[..] else {
        unreachable!()
    };
    let one = f.group(alice, &[bob]).await.id;
    let _empty = f.group(alice, &[bob]).await.id;
    let two = f.group(alice, &[bob]).await.id;
    let mut first: Vec<Message> = Vec::new();
    for n in 1..=7 {
        first.push(f.send(one, alice, &format!("first room word{n}")).await);
    }
    let mut second: Vec<Message> = Vec::new();
    for n in 1..=4 {
        second.push(f.send(two, alice, &format!("second room item{n}")).await);
    }
    let edit = MessageChange::Edit {
        text: natter_conformance::support::text("second room edited"),
        mentions: Vec::new(),
    };
    store.change(two, 1, edit, 1).await.expect("edit");
    let deleted = store
        .change(two, 2, MessageChange::Delete, 1)
        .await
        .expect("delete");
    // What the live indexer wrote already: one message as sent, and a state of another that
    // is newer than the one the backfill will read.
    store.index_message(&first[2]).await.expect("index");
    let newer = SearchEntry {
        mod_seq: second[3].mod_seq + 100,
        text: "from the log".into(),
        ..SearchEntry::from_message(&second[3])
    };
    store.index(&newer).await.expect("index");

    // Another process holds the walk: busy.
    let mut holder = support::connection_to(&support::own_url(DATABASE)).await;
    let mut held = holder.begin().await.expect("begin");
    sqlx::query("SELECT 1 FROM search_backfill FOR UPDATE")
        .execute(&mut *held)
        .await
        .expect("lock the walk");
    assert_eq!(
        store.backfill_search_step(&store, 3).await.expect("step"),
        BackfillStep::Busy
    );
    held.rollback().await.expect("rollback");

    // Steps of at most 3 messages, taken by two processes in turn (as after a restart): each
    // goes on where the last one stopped, so every message is read exactly once.
    let other = PgStore::connect(&support::own_url(DATABASE), 2)
        .await
        .expect("connect");
    let mut steps = 0;
    let last = loop {
        let by = if steps % 2 == 0 { &store } else { &other };
        let progress = step(by, 3).await;
        assert!(progress.read <= 3, "{progress:?}");
        steps += 1;
        assert!(steps < 20, "the walk does not end: {progress:?}");
        if progress.done {
            break progress;
        }
    };
    assert!(steps >= 4, "{steps} steps");
    assert_eq!((last.total_read, last.total_indexed), (11, 9), "{last:?}");

    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM message_search")
        .fetch_one(&mut holder)
        .await
        .expect("count");
    assert_eq!(rows, 11);
    assert_eq!(found(&store, bob, "word5").await, [(one, 5)]);
    assert_eq!(found(&store, bob, "first").await.len(), 7);
    assert_eq!(found(&store, bob, "edited").await, [(two, 1)]);
    assert!(found(&store, bob, "item1").await.is_empty());
    assert!(found(&store, bob, "item2").await.is_empty(), "deleted");
    let tombstone: (i64, bool) =
        sqlx::query_as("SELECT mod_seq, deleted FROM message_search WHERE id = $1")
            .bind(deleted.id.0)
            .fetch_one(&mut holder)
            .await
            .expect("the tombstone");
    assert_eq!(tombstone, (deleted.mod_seq, true));
    assert_eq!(
        found(&store, bob, "log").await,
        [(two, 4)],
        "the newer state"
    );
    assert!(found(&store, bob, "item4").await.is_empty());

    // Over: a step reads nothing, even after new messages (the live indexer's).
    f.send(two, alice, "after the walk").await;
    let after = step(&store, 3).await;
    assert!(after.done);
    assert_eq!((after.read, after.total_read), (0, 11));
    // The port is all the walk needs: PostgreSQL's own table here, Cassandra scaled out.
    let _: &dyn MessageStore = &store;
}
