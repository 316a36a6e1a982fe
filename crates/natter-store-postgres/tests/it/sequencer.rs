//! The [`MessageSequencer`] tickets: exclusive per conversation across processes ("nodes" are
//! separate `PgStore`s with their own pools), gap-free, rolled back when dropped, with write
//! stamps that strictly increase in the order tickets are granted, and commits that stamp the
//! conversation for sync.

use std::time::Duration;

use natter_domain::ports::{ConversationStore, MessageSequencer, SequenceHead};
use natter_domain::{ConversationId, StoreError};
use natter_store_postgres::PgStore;

use crate::support;

async fn head(store: &PgStore, id: ConversationId) -> (i64, i64) {
    let head = store.head(id).await.expect("head");
    assert_eq!(head.write_stamp, 0, "head() takes no stamp");
    (head.last_seq, head.last_mod)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_from_two_nodes_are_gap_free() {
    const TASKS: usize = 8;
    const COMMITS: usize = 12;
    let nodes = [support::store(4).await, support::store(4).await];
    let id = support::group(&support::fixture(&nodes[0])).await;

    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let node = nodes[task % 2].clone();
        tasks.push(tokio::spawn(async move {
            let mut granted: Vec<(SequenceHead, bool)> = Vec::new();
            for n in 0..COMMITS {
                let ticket = node.begin(id).await.expect("begin");
                let head = ticket.head();
                // The body store would write here; give the other tasks a chance to pile up.
                tokio::task::yield_now().await;
                let append = (task + n) % 3 != 0;
                if append {
                    let at = 2_000_000_000_000 + n as i64;
                    ticket.commit_append(at).await.expect("append");
                } else {
                    ticket.commit_change(1).await.expect("change");
                }
                granted.push((head, append));
            }
            granted
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("task panicked"));
    }

    // Tickets were granted one at a time: ordered by the change counter they saw, they read
    // 0, 1, 2... with no gaps and no repeats, each append moving last_seq by one.
    all.sort_by_key(|(head, _)| head.last_mod);
    let total = (TASKS * COMMITS) as i64;
    assert_eq!(
        all.iter().map(|(h, _)| h.last_mod).collect::<Vec<_>>(),
        (0..total).collect::<Vec<_>>()
    );
    let mut expected_seq = 0;
    for (head, append) in &all {
        assert_eq!(head.last_seq, expected_seq, "{head:?}");
        if *append {
            expected_seq += 1;
        }
    }
    assert!(
        all.windows(2)
            .all(|w| w[0].0.write_stamp < w[1].0.write_stamp),
        "write stamps increase in grant order"
    );
    assert_eq!(head(&nodes[1], id).await, (expected_seq, total));
    let conversation = nodes[1].conversation(id).await.unwrap().unwrap();
    assert_eq!(
        conversation.last_activity_ms,
        2_000_000_000_000 + COMMITS as i64 - 1,
        "the newest append's time (never moved back by an older one)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_excludes_other_nodes_until_committed() {
    let a = support::store(2).await;
    let b = support::store(2).await;
    let id = support::group(&support::fixture(&a)).await;

    let held = a.begin(id).await.expect("begin on a");
    let waiting = tokio::spawn(async move { b.begin(id).await.map(|t| t.head()) });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "b got a ticket while a held one");

    held.commit_append(5).await.expect("commit");
    let next = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("b gets the ticket once a commits")
        .unwrap()
        .expect("begin on b");
    assert_eq!((next.last_seq, next.last_mod), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_ticket_rolls_back_and_lets_the_next_in() {
    let a = support::store(2).await;
    let b = support::store(2).await;
    let f = support::fixture(&a);
    let [alice, bob] = f.users(&["alice", "bob"]).await[..] else {
        unreachable!()
    };
    let id = f.group(alice, &[bob]).await.id;
    let cursor = a.changed_since(bob, 0).await.unwrap().cursor;

    let first = a.begin(id).await.expect("begin");
    let abandoned = first.head();
    let waiting = {
        let b = b.clone();
        tokio::spawn(async move { b.begin(id).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished());
    drop(first);

    let next = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the rollback releases the row promptly")
        .unwrap()
        .expect("begin");
    assert_eq!(
        (next.head().last_seq, next.head().last_mod),
        (0, 0),
        "nothing of the dropped ticket was committed"
    );
    assert!(next.head().write_stamp > abandoned.write_stamp);
    assert!(
        b.changed_since(bob, cursor)
            .await
            .unwrap()
            .changed
            .is_empty(),
        "a dropped ticket is not a change"
    );
    next.commit_append(1).await.expect("commit");
    assert_eq!(head(&a, id).await, (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_stamp_the_conversation_for_sync() {
    let store = support::store(2).await;
    let f = support::fixture(&store);
    let [alice, bob] = f.users(&["alice", "bob"]).await[..] else {
        unreachable!()
    };
    let id = f.group(alice, &[bob]).await.id;
    let quiet = f.group(alice, &[bob]).await.id;
    let cursor = store.changed_since(bob, 0).await.unwrap().cursor;

    store
        .begin(id)
        .await
        .unwrap()
        .commit_append(7)
        .await
        .unwrap();
    let page = store.changed_since(bob, cursor).await.unwrap();
    assert_eq!(
        page.changed
            .iter()
            .map(|s| s.conversation.id)
            .collect::<Vec<_>>(),
        vec![id]
    );
    assert!(page.cursor > cursor);

    store
        .begin(quiet)
        .await
        .unwrap()
        .commit_change(1)
        .await
        .unwrap();
    let page2 = store.changed_since(bob, page.cursor).await.unwrap();
    assert_eq!(page2.changed.len(), 1);
    assert_eq!(page2.changed[0].conversation.id, quiet);
    assert_eq!(
        (
            page2.changed[0].conversation.last_seq,
            page2.changed[0].conversation.last_mod
        ),
        (0, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_conversation_is_not_found() {
    let store = support::store(1).await;
    let missing = ConversationId::new();
    assert!(matches!(
        store.begin(missing).await.map(|t| t.head()),
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.head(missing).await, Err(StoreError::NotFound));
    // The pool's only connection was given back: the store still works.
    let id = support::group(&support::fixture(&store)).await;
    assert_eq!(head(&store, id).await, (0, 0));
}
