//! Cases that race writers against each other: the guarantees that matter most under load
//! (gap-free seqs, one message per idempotency key, one direct conversation per pair, one winner
//! per refresh token) are exactly the ones a naive read-then-write implementation breaks.
//!
//! Every spawned task is awaited; a panic inside one fails the case.

use std::sync::Arc;

use natter_domain::StoreError;
use natter_domain::model::*;
use natter_domain::values::ClientMsgId;
use tokio::task::JoinHandle;

use crate::Stores;
use crate::support::*;

async fn join_all<T>(handles: Vec<JoinHandle<T>>) -> Vec<T> {
    let mut results = Vec::with_capacity(handles.len());
    for handle in handles {
        results.push(handle.await.expect("task panicked"));
    }
    results
}

const TASKS: usize = 8;
const SENDS_PER_TASK: usize = 25;

pub async fn concurrent_appends_are_gap_free(stores: Stores) {
    let f = Arc::new(Fixture::new(stores));
    let senders = f.users(&["alice", "bob", "carol", "dave"]).await;
    let group = f.group(senders[0], &senders[1..]).await;

    let handles = (0..TASKS)
        .map(|task| {
            let f = f.clone();
            let sender = senders[task % senders.len()];
            tokio::spawn(async move {
                let mut mine = Vec::new();
                for n in 0..SENDS_PER_TASK {
                    let message = f
                        .send(group.id, sender, &format!("task {task} message {n}"))
                        .await;
                    mine.push(message);
                }
                mine
            })
        })
        .collect();
    let per_task = join_all(handles).await;

    for mine in &per_task {
        // One task's sends are sequential, so their seqs increase.
        assert!(
            mine.windows(2).all(|w| w[0].seq < w[1].seq),
            "{:?}",
            seqs(mine)
        );
    }
    let all: Vec<Message> = per_task.into_iter().flatten().collect();
    let total = (TASKS * SENDS_PER_TASK) as i64;
    assert_eq!(sorted(seqs(&all)), (1..=total).collect::<Vec<_>>());
    assert_eq!(
        sorted(all.iter().map(|m| m.mod_seq).collect()),
        (1..=total).collect::<Vec<_>>()
    );
    let conversation = f.conversation(group.id).await;
    assert_eq!(
        (conversation.last_seq, conversation.last_mod),
        (total, total)
    );

    let stored = f
        .messages
        .history(
            group.id,
            HistoryQuery::Latest {
                limit: total as u32,
            },
        )
        .await
        .unwrap();
    assert_eq!(seqs(&stored), (1..=total).collect::<Vec<_>>());
    let mut by_seq = all;
    by_seq.sort_by_key(|m| m.seq);
    assert_eq!(stored, by_seq, "what append returned is what was stored");
}

pub async fn concurrent_duplicate_sends_create_one(stores: Stores) {
    let f = Arc::new(Fixture::new(stores));
    let [alice, bob] = f.users(&["alice", "bob"]).await[..] else {
        unreachable!()
    };
    let group = f.group(alice, &[bob]).await;

    let handles = (0..16)
        .map(|n| {
            let f = f.clone();
            tokio::spawn(async move {
                let mut message = f.new_message(group.id, alice, &format!("attempt {n}"));
                message.client_msg_id = ClientMsgId::parse("same-key").unwrap();
                f.messages.append(message).await.expect("append")
            })
        })
        .collect();
    let outcomes = join_all(handles).await;
    let created: Vec<&Message> = outcomes
        .iter()
        .filter_map(|o| {
            if let AppendOutcome::Created(m) = o {
                Some(m)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(created.len(), 1, "{outcomes:?}");
    assert!(
        outcomes.iter().all(|o| o.message() == created[0]),
        "every retry sees the original"
    );
    assert_eq!(created[0].seq, 1);
    assert_eq!(f.conversation(group.id).await.last_seq, 1);
    assert_eq!(
        f.messages
            .history(group.id, HistoryQuery::Latest { limit: 50 })
            .await
            .unwrap()
            .len(),
        1
    );
}

pub async fn concurrent_direct_creation_has_one_winner(stores: Stores) {
    let f = Arc::new(Fixture::new(stores));
    let [alice, bob] = f.users(&["alice", "bob"]).await[..] else {
        unreachable!()
    };

    let handles = (0..8)
        .map(|n| {
            let f = f.clone();
            let (a, b) = if n % 2 == 0 {
                (alice, bob)
            } else {
                (bob, alice)
            };
            tokio::spawn(async move {
                f.conversations
                    .create_conversation(Fixture::new_direct(a, b))
                    .await
            })
        })
        .collect();
    let results = join_all(handles).await;
    let winners: Vec<&Conversation> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert!(
        results
            .iter()
            .filter(|r| r.is_err())
            .all(|r| matches!(r, Err(StoreError::Conflict(_)))),
        "{results:?}"
    );
    assert_eq!(
        f.conversations.direct_between(alice, bob).await.unwrap(),
        Some(winners[0].id)
    );
    assert_eq!(
        f.conversations.conversation_ids_of(alice).await.unwrap(),
        vec![winners[0].id]
    );
}

pub async fn concurrent_reactions_are_all_counted(stores: Stores) {
    let f = Arc::new(Fixture::new(stores));
    let names: Vec<String> = (0..10).map(|n| format!("user{n}")).collect();
    let users = f
        .users(&names.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    let group = f.group(users[0], &users[1..]).await;
    let target = f.send(group.id, users[0], "react to me").await;

    let mut handles = Vec::new();
    for user in users.clone() {
        let f = f.clone();
        handles.push(tokio::spawn(async move {
            let react = MessageChange::AddReaction {
                user_id: user,
                emoji: emoji("🎉"),
            };
            f.messages
                .change(group.id, target.seq, react, T0)
                .await
                .expect("react");
            f.send(group.id, user, "and a message").await;
        }));
    }
    join_all(handles).await;

    let message = f
        .messages
        .message(group.id, target.seq)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(message.reactions.len(), 1);
    assert_eq!(
        sorted(message.reactions[0].user_ids.clone()),
        sorted(users.clone())
    );
    let conversation = f.conversation(group.id).await;
    assert_eq!((conversation.last_seq, conversation.last_mod), (11, 21));

    let feed = f.messages.changes_since(group.id, 0, 100).await.unwrap();
    let mods: Vec<i64> = feed.iter().map(|m| m.mod_seq).collect();
    assert!(mods.windows(2).all(|w| w[0] < w[1]), "{mods:?}");
    assert_eq!(feed.len(), 11, "each message once, at its latest change");
}

pub async fn concurrent_refresh_rotation_has_one_winner(stores: Stores) {
    let f = Arc::new(Fixture::new(stores));
    let alice = f.user("alice").await.id;
    let presented = token(1);
    let session = f.new_session(alice, T0, presented).await;

    let handles = (0..2u8)
        .map(|n| {
            let f = f.clone();
            tokio::spawn(async move {
                f.accounts
                    .rotate_refresh(presented, token(10 + n), T0 + 1, SessionCutoff::NONE)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let outcomes = join_all(handles).await;
    let rotated = outcomes
        .iter()
        .filter(|o| matches!(o, RefreshOutcome::Rotated(_)))
        .count();
    let reused = outcomes
        .iter()
        .filter(|o| {
            **o == RefreshOutcome::Reused {
                session_id: session.id,
                user_id: session.user_id,
            }
        })
        .count();
    assert_eq!((rotated, reused), (1, 1), "{outcomes:?}");
    assert_eq!(
        f.accounts.session(session.id).await.unwrap(),
        None,
        "the race looks like theft"
    );
}

pub async fn concurrent_mark_read_never_lowers(stores: Stores) {
    let f = Arc::new(Fixture::new(stores));
    let [alice, bob] = f.users(&["alice", "bob"]).await[..] else {
        unreachable!()
    };
    let group = f.group(alice, &[bob]).await;
    for n in 0..10 {
        f.send(group.id, alice, &format!("m{n}")).await;
    }
    // Highest first, so a store that overwrites instead of raising ends below 10.
    let handles = (1..=10i64)
        .rev()
        .map(|seq| {
            let f = f.clone();
            tokio::spawn(async move {
                f.conversations
                    .mark_read(group.id, bob, seq, T0)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let results: Vec<Member> = join_all(handles).await;
    assert!(results.iter().all(|m| m.read_seq >= 1));
    let member: Member = f
        .conversations
        .member(group.id, bob)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((member.read_seq, member.delivered_seq), (10, 10));
}

pub async fn concurrent_failing_appends_do_not_disturb_others(stores: Stores) {
    let f = Arc::new(Fixture::new(stores));
    let alice = f.user("alice").await.id;
    let group = f.group(alice, &[]).await;
    let missing = natter_domain::ConversationId::new();

    let handles = (0..20)
        .map(|n| {
            let f = f.clone();
            let target = if n % 2 == 0 { group.id } else { missing };
            tokio::spawn(async move {
                (
                    target,
                    f.messages.append(f.new_message(target, alice, "hi")).await,
                )
            })
        })
        .collect();
    let results = join_all(handles).await;
    let mut stored = Vec::new();
    for (target, result) in results {
        if target == missing {
            assert!(
                result.is_err(),
                "append to a missing conversation: {result:?}"
            );
        } else {
            stored.push(
                result
                    .expect("append to an existing conversation")
                    .into_message()
                    .seq,
            );
        }
    }
    assert_eq!(sorted(stored), (1..=10).collect::<Vec<_>>());
    assert_eq!(f.conversation(group.id).await.last_seq, 10);
}
