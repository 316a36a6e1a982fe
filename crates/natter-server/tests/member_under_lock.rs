//! A lock that reads the membership with itself (`ConversationLocks::lock_reading_member`, what
//! PostgreSQL's advisory locks do scaled out): the message writes take the member the lock read
//! and do not ask the store again, so the lock's answer is the one that counts, a refusal
//! included. Embedded SQLite stores under a lock decorator that answers from the store and can
//! be told to deny a user.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use natter_domain::ports::{
    ConversationLocks, ConversationStore, MemberUnderLock, OrderGuard, StoreResult,
};
use natter_domain::service::NewGroup;
use natter_domain::values::{GroupName, MessageText};
use natter_domain::{Chat, ConversationId, DomainError, UserId};
use support::{embedded_backends, greeting, stored_user};

mod support;

/// Locks with the wrapped locks, then reads the member from the store, like PostgreSQL's one
/// round trip; users in `denied` are answered `NotAMember` whatever the store says.
struct ReadingLocks {
    locks: Arc<dyn ConversationLocks>,
    conversations: Arc<dyn ConversationStore>,
    denied: Mutex<HashSet<UserId>>,
    reads: AtomicUsize,
}

#[async_trait]
impl ConversationLocks for ReadingLocks {
    async fn lock(&self, conversation: ConversationId) -> StoreResult<OrderGuard> {
        self.locks.lock(conversation).await
    }

    async fn lock_reading_member(
        &self,
        conversation: ConversationId,
        user: UserId,
    ) -> StoreResult<(OrderGuard, MemberUnderLock)> {
        let guard = self.locks.lock(conversation).await?;
        self.reads.fetch_add(1, Ordering::SeqCst);
        if self.denied.lock().unwrap().contains(&user) {
            return Ok((guard, MemberUnderLock::NotAMember));
        }
        let read = match self.conversations.member(conversation, user).await? {
            Some(member) => MemberUnderLock::Member(member),
            None => MemberUnderLock::NotAMember,
        };
        Ok((guard, read))
    }
}

async fn chat(dir: &tempfile::TempDir) -> (Chat, Arc<ReadingLocks>) {
    let mut backends = embedded_backends(dir).await;
    let locks = Arc::new(ReadingLocks {
        locks: backends.ports.locks.clone(),
        conversations: backends.ports.conversations.clone(),
        denied: Mutex::default(),
        reads: AtomicUsize::new(0),
    });
    backends.ports.locks = locks.clone();
    (Chat::new(backends.ports, 1), locks)
}

fn edit() -> MessageText {
    MessageText::parse("edited").expect("text")
}

#[tokio::test]
async fn message_writes_take_the_membership_the_lock_read() {
    let dir = tempfile::tempdir().expect("dir");
    let (chat, locks) = chat(&dir).await;
    let (alice, bob, carol) = (
        stored_user(&chat, "alice").await,
        stored_user(&chat, "bob").await,
        stored_user(&chat, "carol").await,
    );
    let id = chat
        .create_group(
            alice,
            NewGroup {
                name: GroupName::parse("g").expect("name"),
                topic: None,
                member_ids: vec![bob],
            },
        )
        .await
        .expect("group")
        .conversation
        .id;

    let reads = locks.reads.load(Ordering::SeqCst);
    let sent = chat
        .send_message(bob, id, greeting("1"))
        .await
        .expect("send");
    assert_eq!(locks.reads.load(Ordering::SeqCst), reads + 1);
    // The lock read `replied: false`, so the first message records the reply.
    assert!(chat.require_member(id, bob).await.expect("member").replied);
    assert_eq!(
        chat.send_message(carol, id, greeting("2")).await.err(),
        Some(DomainError::NotFound),
        "not a member"
    );

    // Bob is a member in the store, but the lock says otherwise: its answer counts.
    locks.denied.lock().unwrap().insert(bob);
    assert_eq!(
        chat.send_message(bob, id, greeting("3")).await.err(),
        Some(DomainError::NotFound)
    );
    assert_eq!(
        chat.edit_message(bob, id, sent.message.seq, edit(), Vec::new())
            .await
            .err(),
        Some(DomainError::NotFound)
    );
    locks.denied.lock().unwrap().clear();
    let edited = chat
        .edit_message(bob, id, sent.message.seq, edit(), Vec::new())
        .await
        .expect("edit");
    assert_eq!(edited.text, "edited");
}
