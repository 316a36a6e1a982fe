//! Orphans: cells written for a ticket that never commits (the process died, its commit
//! failed, or a timed-out write landed late). Readers never see them, the next committed
//! write of the same row replaces every one of their cells, and an orphan change never passes
//! for committed, not even once its mod_seq is committed by a change to another message.

use natter_domain::model::*;
use natter_domain::ports::MessageStore;
use natter_domain::values::{MessageText, Reaction};
use natter_domain::{ConversationId, StoreError, UserId};

use crate::support::*;

fn edit(text: &str, mentions: Vec<UserId>) -> MessageChange {
    MessageChange::Edit {
        text: MessageText::parse(text).unwrap(),
        mentions,
    }
}

fn react(user: UserId, emoji: &str) -> MessageChange {
    MessageChange::AddReaction {
        user_id: user,
        emoji: Reaction::parse(emoji).unwrap(),
    }
}

/// Every way of reading, so an orphan showing up anywhere fails the case.
async fn everything(env: &Env, conversation: ConversationId, last_seq: i64) -> Vec<Message> {
    let store = &env.messages;
    let history = store
        .history(conversation, HistoryQuery::Latest { limit: 100 })
        .await
        .unwrap();
    let after = store
        .history(
            conversation,
            HistoryQuery::After {
                after: 0,
                limit: 100,
            },
        )
        .await
        .unwrap();
    assert_eq!(after, history);
    let mut one_by_one = Vec::new();
    for seq in 1..=last_seq + 1 {
        one_by_one.extend(store.message(conversation, seq).await.unwrap());
    }
    assert_eq!(one_by_one, history);
    let mut feed = store.changes_since(conversation, 0, 100).await.unwrap();
    feed.sort_by_key(|m| m.seq);
    assert_eq!(
        feed, history,
        "the feed holds each message once, as history does"
    );
    history
}

/// The raw `text` cell at `seq` (whatever its commit state).
async fn raw_text(conversation: ConversationId, bucket: i64, seq: i64) -> Option<String> {
    let raw = raw_session().await;
    let rows = raw
        .query_unpaged(
            format!(
                "SELECT text FROM {KEYSPACE}.messages \
                 WHERE conversation_id = ? AND bucket = ? AND seq = ?"
            ),
            (conversation.0, bucket, seq),
        )
        .await
        .unwrap()
        .into_rows_result()
        .unwrap();
    rows.maybe_first_row::<(String,)>().unwrap().map(|(t,)| t)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orphan_append_is_never_read_and_the_next_append_replaces_it() {
    let env = Env::new(10).await;
    let (alice, bob) = (UserId::new(), UserId::new());
    let conversation = env.conversation().await;
    let first = env.send(conversation, alice, "first").await;
    let second = env.send(conversation, alice, "second").await;

    // The ghost has everything a real message can have, so a partial overwrite would show.
    let mut ghost = env.new_message(conversation, bob, "ghost");
    ghost.mentions = vec![alice, bob];
    ghost.reply_to_seq = Some(1);
    env.faults.fail_next_commit();
    let failed = env.messages.append(ghost.clone()).await;
    assert!(
        matches!(failed, Err(StoreError::Unavailable(_))),
        "{failed:?}"
    );
    assert_eq!(env.head(conversation).await, (2, 2), "nothing committed");
    assert_eq!(
        raw_text(conversation, 0, 3).await.as_deref(),
        Some("ghost"),
        "the orphan's cells are in Cassandra"
    );
    assert_eq!(
        everything(&env, conversation, 2).await,
        vec![first.clone(), second.clone()]
    );

    // The next append takes seq 3 and replaces every cell of the ghost.
    let real = env.send(conversation, alice, "real").await;
    assert_eq!((real.seq, real.mod_seq), (3, 3));
    assert_eq!((real.reply_to_seq, real.mentions.clone()), (None, vec![]));
    assert_eq!(raw_text(conversation, 0, 3).await.as_deref(), Some("real"));
    assert_eq!(
        everything(&env, conversation, 3).await,
        vec![first, second, real.clone()]
    );

    // The ghost's idempotency key points at seq 3, which is now another message: a retry of
    // the ghost is a new message, not a duplicate of `real`.
    let retried = env.messages.append(ghost).await.unwrap();
    let AppendOutcome::Created(retried) = retried else {
        panic!("a retry of an uncommitted send must be stored: {retried:?}");
    };
    assert_eq!((retried.seq, retried.text.as_str()), (4, "ghost"));
    assert_eq!(retried.mentions, vec![alice, bob]);
    // And now it is a duplicate.
    let mut again = env.new_message(conversation, bob, "ghost again");
    again.client_msg_id = retried.client_msg_id.clone();
    assert_eq!(
        env.messages.append(again).await.unwrap(),
        AppendOutcome::Duplicate(retried)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orphan_change_never_passes_for_committed() {
    let env = Env::new(10).await;
    let (alice, bob) = (UserId::new(), UserId::new());
    let conversation = env.conversation().await;
    let target = env.send(conversation, alice, "original").await;
    let other = env.send(conversation, bob, "other").await;

    // An edit that never commits: its row is written with mod_seq 3.
    env.faults.fail_next_commit();
    let failed = env
        .messages
        .change(
            conversation,
            target.seq,
            edit("ghost edit", vec![bob]),
            T0 + 1,
        )
        .await;
    assert!(
        matches!(failed, Err(StoreError::Unavailable(_))),
        "{failed:?}"
    );
    assert_eq!(env.head(conversation).await, (2, 2), "nothing committed");
    assert_eq!(
        raw_text(conversation, 0, target.seq).await.as_deref(),
        Some("ghost edit")
    );
    assert_eq!(
        everything(&env, conversation, 2).await,
        vec![target.clone(), other.clone()]
    );

    // mod_seq 3 is now committed, by a change to the *other* message.
    let reacted = env
        .messages
        .change(conversation, other.seq, react(alice, "👍"), T0 + 2)
        .await
        .unwrap();
    assert_eq!(reacted.mod_seq, 3);
    assert_eq!(
        everything(&env, conversation, 2).await,
        vec![target.clone(), reacted.clone()],
        "the orphan edit at mod 3 must not show now that mod 3 is committed"
    );

    // A later change starts from the committed version, not from the orphan.
    let reacted_target = env
        .messages
        .change(conversation, target.seq, react(bob, "🎉"), T0 + 3)
        .await
        .unwrap();
    assert_eq!(reacted_target.text, "original");
    assert_eq!(reacted_target.edited_at_ms, None);
    assert!(reacted_target.mentions.is_empty());
    assert_eq!(reacted_target.mod_seq, 4);
    assert_eq!(
        everything(&env, conversation, 2).await,
        vec![reacted_target, reacted]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orphan_delete_is_not_final() {
    let env = Env::new(10).await;
    let alice = UserId::new();
    let conversation = env.conversation().await;
    let message = env.send(conversation, alice, "keep me").await;

    env.faults.fail_next_commit();
    let failed = env
        .messages
        .change(conversation, message.seq, MessageChange::Delete, T0)
        .await;
    assert!(failed.is_err());
    assert_eq!(
        env.messages.message(conversation, 1).await.unwrap(),
        Some(message.clone())
    );
    // Were the orphan taken as the base, this would be a no-op on a deleted message.
    let edited = env
        .messages
        .change(conversation, 1, edit("kept", vec![]), T0 + 1)
        .await
        .unwrap();
    assert!(!edited.deleted);
    assert_eq!((edited.text.as_str(), edited.mod_seq), ("kept", 2));
    // And deleting for real is final, as always.
    let deleted = env
        .messages
        .change(conversation, 1, MessageChange::Delete, T0 + 2)
        .await
        .unwrap();
    assert!(deleted.deleted);
    assert_eq!(everything(&env, conversation, 1).await, vec![deleted]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphans_of_orphans() {
    // Two failed writes in a row at the same seq / mod_seq, then committed ones.
    let env = Env::new(10).await;
    let alice = UserId::new();
    let conversation = env.conversation().await;
    let base = env.send(conversation, alice, "base").await;
    for text in ["ghost one", "ghost two"] {
        env.faults.fail_next_commit();
        assert!(
            env.messages
                .append(env.new_message(conversation, alice, text))
                .await
                .is_err()
        );
        env.faults.fail_next_commit();
        assert!(
            env.messages
                .change(conversation, 1, edit(text, vec![]), T0)
                .await
                .is_err()
        );
    }
    assert_eq!(everything(&env, conversation, 1).await, vec![base.clone()]);
    let next = env.send(conversation, alice, "next").await;
    assert_eq!((next.seq, next.mod_seq), (2, 2));
    assert_eq!(everything(&env, conversation, 2).await, vec![base, next]);
}
