//! What survives closing the store: data written and acknowledged before a close is there after
//! reopening, and the counters continue where they stopped (no reused seqs).

use natter_conformance::Stores;
use natter_conformance::support::{Fixture, T0};
use natter_domain::model::HistoryQuery;
use natter_store_sqlite::SqliteStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    // A nested path: `open` creates the missing parent directories.
    let path = dir.path().join("nested/deeper/natter.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let f = Fixture::new(Stores::from_backend(store.clone()));
    let [alice, bob] = f.users(&["alice", "bob"]).await[..] else {
        unreachable!()
    };
    let group = f.group(alice, &[bob]).await;
    let first = f.send(group.id, alice, "before the restart").await;
    f.conversations
        .mark_read(group.id, bob, 1, T0)
        .await
        .unwrap();
    let cursor = f.conversations.changed_since(bob, 0).await.unwrap().cursor;
    store.close().await;
    drop(f);

    let reopened = SqliteStore::open(&path).await.unwrap();
    let g = Fixture::new(Stores::from_backend(reopened));
    assert_eq!(
        g.accounts.user(alice).await.unwrap().map(|u| u.id),
        Some(alice)
    );
    assert_eq!(g.messages.message(group.id, 1).await.unwrap(), Some(first));
    assert_eq!(
        g.conversations
            .member(group.id, bob)
            .await
            .unwrap()
            .unwrap()
            .read_seq,
        1
    );
    let second = g.send(group.id, bob, "after the restart").await;
    assert_eq!((second.seq, second.mod_seq), (2, 2));
    let page = g.conversations.changed_since(bob, cursor).await.unwrap();
    assert!(
        page.cursor > cursor,
        "the sync counter continues: {} <= {cursor}",
        page.cursor
    );
    assert_eq!(page.changed.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_open_of_the_same_file_shares_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("natter.db");
    let one = SqliteStore::open(&path).await.unwrap();
    let two = SqliteStore::open(&path).await.unwrap();
    let f1 = Fixture::new(Stores::from_backend(one));
    let f2 = Fixture::new(Stores::from_backend(two));
    let alice = f1.user("alice").await.id;
    let group = f1.group(alice, &[]).await;

    // Both handles write to the same conversation, interleaved and concurrently.
    let (a, b) = tokio::join!(
        async {
            let mut seqs = Vec::new();
            for n in 0..20 {
                seqs.push(f1.send(group.id, alice, &format!("one {n}")).await.seq);
            }
            seqs
        },
        async {
            let mut seqs = Vec::new();
            for n in 0..20 {
                seqs.push(f2.send(group.id, alice, &format!("two {n}")).await.seq);
            }
            seqs
        }
    );
    let mut all: Vec<i64> = a.into_iter().chain(b).collect();
    all.sort();
    assert_eq!(all, (1..=40).collect::<Vec<_>>());
    let seen_by_two = f2
        .messages
        .history(group.id, HistoryQuery::Latest { limit: 100 })
        .await
        .unwrap();
    assert_eq!(seen_by_two.len(), 40);
}
