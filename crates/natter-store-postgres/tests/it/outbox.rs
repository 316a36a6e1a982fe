//! [`PushOutbox`]: enqueueing is idempotent per (user, message); pending pushes come oldest
//! first, per user.

use natter_domain::ports::{PendingPush, PushOutbox};
use natter_domain::{ConversationId, MessageId, UserId};

use crate::support;

fn push(user: UserId, message: i64, at: i64) -> PendingPush {
    PendingPush {
        user_id: user,
        conversation_id: ConversationId::new(),
        message_id: MessageId(message),
        seq: message % 1_000,
        sender_id: UserId::new(),
        preview: format!("message {message}"),
        mentioned: message % 2 == 0,
        created_at_ms: at,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_is_idempotent_and_pending_is_oldest_first() {
    let store = support::store(2).await;
    let (alice, bob) = (UserId::new(), UserId::new());
    let base = rand_base();
    let first = push(alice, base + 1, 300);
    let second = push(alice, base + 2, 100);
    let third = push(alice, base + 3, 200);
    let bobs = push(bob, base + 1, 50);

    store
        .enqueue(&[first.clone(), second.clone(), bobs.clone(), first.clone()])
        .await
        .expect("a batch with a repeat");
    // A replayed event: the same pushes again (with different content, which must not win),
    // plus a new one.
    let mut replayed = first.clone();
    replayed.preview = "replayed".into();
    store
        .enqueue(&[replayed, second.clone(), third.clone()])
        .await
        .expect("replay");
    store.enqueue(&[]).await.expect("empty batch");

    assert_eq!(
        store.pending(alice, 10).await.unwrap(),
        vec![second.clone(), third, first],
        "each once, oldest first, as first enqueued"
    );
    assert_eq!(store.pending(alice, 1).await.unwrap(), vec![second]);
    assert_eq!(store.pending(bob, 10).await.unwrap(), vec![bobs]);
    assert!(store.pending(UserId::new(), 10).await.unwrap().is_empty());
}

/// Message ids unlikely to meet another run's (the table is shared and never emptied).
fn rand_base() -> i64 {
    (UserId::new().0.as_u128() as i64 & 0x0fff_ffff_ffff) * 1_000
}
