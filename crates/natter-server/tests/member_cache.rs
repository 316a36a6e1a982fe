//! The membership cache of the embedded deployment (`natter-domain/src/service/membership.rs`)
//! on a real SQLite store: a change of membership is seen by the next check, even before its
//! event is published.
//!
//! A bus decorator holds the `MemberRemoved` event between the store's commit and the publish,
//! which makes "refused from the moment the removal is stored" deterministic.

mod support;

use std::sync::Arc;

use natter_domain::events::Event;
use natter_domain::model::{HistoryQuery, Role};
use natter_domain::service::NewGroup;
use natter_domain::values::GroupName;
use natter_domain::{Chat, ConversationId, DomainError, UserId};
use support::{HoldingBus, WAIT, embedded_backends, greeting, stored_user};

async fn chat(dir: &tempfile::TempDir) -> (Chat, Arc<HoldingBus>) {
    let mut backends = embedded_backends(dir).await;
    let bus = HoldingBus::wrap(backends.ports.bus.clone());
    backends.ports.bus = bus.clone();
    (Chat::with_member_cache(backends.ports, 1, 100), bus)
}

/// A group of `owner` and `member`.
async fn group(chat: &Chat, owner: UserId, member: UserId) -> ConversationId {
    chat.create_group(
        owner,
        NewGroup {
            name: GroupName::parse("g").expect("name"),
            topic: None,
            member_ids: vec![member],
        },
    )
    .await
    .expect("group")
    .conversation
    .id
}

async fn page(chat: &Chat, user: UserId, id: ConversationId) -> Result<usize, DomainError> {
    chat.history(user, id, HistoryQuery::Latest { limit: 50 })
        .await
        .map(|messages| messages.len())
}

#[tokio::test]
async fn a_removed_member_is_refused_once_the_removal_is_stored() {
    let dir = tempfile::tempdir().expect("dir");
    let (chat, bus) = chat(&dir).await;
    let (alice, bob) = (
        stored_user(&chat, "alice").await,
        stored_user(&chat, "bob").await,
    );
    let id = group(&chat, alice, bob).await;
    chat.send_message(bob, id, greeting("1"))
        .await
        .expect("send");
    assert_eq!(page(&chat, bob, id).await, Ok(1), "bob's membership cached");

    let (reached, release) = bus.hold_next(|event| matches!(event, Event::MemberRemoved { .. }));
    let removal = tokio::spawn({
        let chat = chat.clone();
        async move { chat.remove_member(alice, id, bob).await }
    });
    tokio::time::timeout(WAIT, reached)
        .await
        .expect("the removal is stored in time")
        .expect("held");
    // Stored, its event not yet published: refused already.
    assert_eq!(page(&chat, bob, id).await, Err(DomainError::NotFound));
    assert_eq!(chat.typing(bob, id).await, Err(DomainError::NotFound));
    let _ = release.send(());
    tokio::time::timeout(WAIT, removal)
        .await
        .expect("removal in time")
        .expect("task")
        .expect("removed");
    assert_eq!(
        chat.send_message(bob, id, greeting("2")).await.err(),
        Some(DomainError::NotFound)
    );
    assert_eq!(
        page(&chat, alice, id).await,
        Ok(1),
        "the refused send stored nothing"
    );

    chat.add_member(alice, id, bob, Role::Member)
        .await
        .expect("added back");
    assert_eq!(page(&chat, bob, id).await, Ok(1));
}

#[tokio::test]
async fn a_role_change_and_a_first_reply_show_in_the_next_check() {
    let dir = tempfile::tempdir().expect("dir");
    let (chat, _bus) = chat(&dir).await;
    let (alice, bob) = (
        stored_user(&chat, "alice").await,
        stored_user(&chat, "bob").await,
    );
    let id = group(&chat, alice, bob).await;
    let before = chat.check_member(id, bob).await.expect("member");
    assert_eq!((before.role, before.replied), (Role::Member, false));
    chat.send_message(bob, id, greeting("1"))
        .await
        .expect("send");
    assert!(chat.check_member(id, bob).await.expect("member").replied);
    chat.set_role(alice, id, bob, Role::Admin)
        .await
        .expect("promoted");
    assert_eq!(
        chat.check_member(id, bob).await.expect("member").role,
        Role::Admin
    );
    // The store agrees with what the cache answered.
    let stored = chat.require_member(id, bob).await.expect("member");
    assert_eq!((stored.role, stored.replied), (Role::Admin, true));
}
