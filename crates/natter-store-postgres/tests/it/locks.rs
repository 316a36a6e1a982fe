//! [`PgLocks`]: cluster-wide conversation locks ("nodes" are separate `PgLocks` pools).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use natter_domain::ConversationId;
use natter_domain::ports::{ConversationLocks, ConversationStore, MemberUnderLock};
use natter_store_postgres::{PgLocks, lock_key};
use uuid::Uuid;

use crate::support;

async fn locks(size: u32) -> PgLocks {
    let url = support::url();
    PgLocks::connect_with_size(&url, size)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url} is unreachable: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_conversation_serialises_across_nodes_and_drop_releases() {
    let (a, b) = (locks(2).await, locks(2).await);
    let id = ConversationId::new();

    let held = a.lock(id).await.expect("lock on a");
    let waiting = tokio::spawn(async move { b.lock(id).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "b took a lock that a holds");

    drop(held);
    let guard = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("dropping the guard lets the next one in promptly")
        .unwrap()
        .expect("lock on b");
    drop(guard);
    // And once more, so the lock really was released by the drop (not by a pool reset).
    let again = tokio::time::timeout(Duration::from_secs(10), a.lock(id)).await;
    assert!(again.expect("released again").is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn different_conversations_do_not_block() {
    let (a, b) = (locks(2).await, locks(2).await);
    let _first = a.lock(ConversationId::new()).await.expect("lock");
    let second = tokio::time::timeout(Duration::from_secs(10), b.lock(ConversationId::new()))
        .await
        .expect("another conversation's lock is free");
    assert!(second.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holders_run_one_at_a_time() {
    const TASKS: usize = 8;
    let nodes = [locks(4).await, locks(4).await];
    let id = ConversationId::new();
    let inside = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let node = nodes[task % 2].clone();
        let (inside, most) = (inside.clone(), most.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..3 {
                let guard = node.lock(id).await.expect("lock");
                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                inside.fetch_sub(1, Ordering::SeqCst);
                drop(guard);
            }
        }));
    }
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .expect("no lock is leaked")
            .expect("task panicked");
    }
    assert_eq!(most.load(Ordering::SeqCst), 1, "two holders at once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_gives_up_waiting_leaves_nothing_held() {
    // b has one connection: if giving up left its transaction open, that connection would hold
    // the lock once granted, and go on holding it under b's next lock.
    let (a, b, c) = (locks(2).await, locks(1).await, locks(2).await);
    let id = ConversationId::new();

    let held = a.lock(id).await.expect("lock on a");
    let gave_up = tokio::time::timeout(Duration::from_millis(300), b.lock(id)).await;
    assert!(gave_up.is_err(), "b took a lock that a holds");
    drop(held);

    let other = tokio::time::timeout(Duration::from_secs(10), b.lock(ConversationId::new()))
        .await
        .expect("b's connection is back in its pool")
        .expect("lock on b");
    let again = tokio::time::timeout(Duration::from_secs(10), c.lock(id))
        .await
        .expect("nobody holds the lock b gave up on");
    assert!(again.is_ok());
    drop(other);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_membership_read_with_the_lock_sees_what_changed_before_it_was_granted() {
    let store = support::store(2).await;
    let f = support::fixture(&store);
    let [ada, bob, cy] = f.users(&["ada", "bob", "cy"]).await[..] else {
        unreachable!()
    };
    let group = f.group(ada, &[bob]).await.id;
    let (a, b) = (locks(2).await, locks(2).await);

    let (held, read) = a.lock_reading_member(group, bob).await.expect("lock on a");
    match read {
        MemberUnderLock::Member(member) => {
            assert_eq!((member.conversation_id, member.user_id), (group, bob));
            assert!(!member.replied);
        }
        other => panic!("bob is a member: {other:?}"),
    }
    // b waits for the lock; meanwhile (under a's lock, as the services do) bob is removed.
    let waiting = tokio::spawn(async move { b.lock_reading_member(group, bob).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "b took a lock that a holds");
    store
        .remove_member(group, bob, 1_795_000_000_000)
        .await
        .expect("remove bob");
    drop(held);
    let (guard, read) = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("dropping the guard lets b in")
        .unwrap()
        .expect("lock on b");
    assert_eq!(
        read,
        MemberUnderLock::NotAMember,
        "b read the membership from before its lock was granted"
    );
    drop(guard);
    // Someone who never was a member, and a conversation that does not exist.
    let (_, never) = a.lock_reading_member(group, cy).await.expect("lock on a");
    assert_eq!(never, MemberUnderLock::NotAMember);
    let (_, nowhere) = a
        .lock_reading_member(ConversationId::new(), ada)
        .await
        .expect("lock on a");
    assert_eq!(nowhere, MemberUnderLock::NotAMember);
}

#[test]
fn lock_keys_are_stable() {
    // FNV-1a 64 of the uuid's bytes: every process and build must agree on the key, so the
    // value is pinned here.
    let id = ConversationId(Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef));
    assert_eq!(lock_key(id), 0x3d53_a237_62e9_e0a5_u64 as i64);
    assert_ne!(lock_key(id), lock_key(ConversationId(Uuid::nil())));
}
