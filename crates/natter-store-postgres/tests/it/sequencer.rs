//! The [`MessageSequencer`] tickets: exclusive per conversation across processes ("nodes" are
//! separate `PgStore`s with their own pools), gap-free, rolled back when dropped, with write
//! stamps that strictly increase in the order tickets are granted.

use std::sync::Arc;
use std::time::Duration;

use natter_domain::ports::{MessageSequencer, SequenceHead};
use natter_domain::{ConversationId, StoreError, UserId};
use natter_store_postgres::PgStore;
use sqlx::Connection;

use crate::support;

/// A conversation row written directly, so these cases need nothing but the sequencer.
async fn conversation() -> ConversationId {
    let id = ConversationId::new();
    let mut conn = sqlx::PgConnection::connect(&support::url())
        .await
        .expect("connect");
    sqlx::query(
        "INSERT INTO conversations (id, kind, created_by, created_at_ms, last_activity_ms, \
         member_count, changed_at) VALUES ($1, 'group', $2, 0, 0, 0, 0)",
    )
    .bind(id.0)
    .bind(UserId::new().0)
    .execute(&mut conn)
    .await
    .expect("insert conversation");
    id
}

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
    let id = conversation().await;

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
                    ticket
                        .commit_append(1_000 + n as i64)
                        .await
                        .expect("append");
                } else {
                    ticket.commit_change().await.expect("change");
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

    // Tickets were granted one at a time: ordering them by the change counter they saw gives
    // 0, 1, 2... with no gaps, each append moving last_seq by one.
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
    let activity: i64 =
        sqlx::query_scalar("SELECT last_activity_ms FROM conversations WHERE id = $1")
            .bind(id.0)
            .fetch_one(&mut sqlx::PgConnection::connect(&support::url()).await.unwrap())
            .await
            .unwrap();
    assert_eq!(
        activity,
        1_000 + COMMITS as i64 - 1,
        "the newest append's time"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_excludes_other_nodes_until_committed() {
    let a = support::store(2).await;
    let b = support::store(2).await;
    let id = conversation().await;

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
    let b = Arc::new(support::store(2).await);
    let id = conversation().await;

    let first = a.begin(id).await.expect("begin");
    let abandoned = first.head();
    let waiting = {
        let b = b.clone();
        tokio::spawn(async move { b.begin(id).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished());
    drop(first);

    let next = tokio::time::timeout(Duration::from_secs(2), waiting)
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
    next.commit_append(1).await.expect("commit");
    assert_eq!(head(&a, id).await, (1, 1));
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
    let id = conversation().await;
    assert_eq!(head(&store, id).await, (0, 0));
}
