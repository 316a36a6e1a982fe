//! The members of small conversations kept in memory for presence, with a second handle on the
//! same file: its changes reach the first handle's contacts by its next write at the latest.

use natter_domain::UserId;
use natter_domain::ports::ConversationStore;
use natter_store_sqlite::SqliteStore;

use natter_conformance::support::Fixture;

#[tokio::test]
async fn another_handles_removal_is_seen_by_the_next_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("natter.db");
    let first = SqliteStore::open(&path).await.unwrap();
    let second = SqliteStore::open(&path).await.unwrap();
    let f = Fixture::new(natter_conformance::Stores::from_backend(first.clone()));
    let [alice, bob, carol] = f.users(&["alice", "bob", "carol"]).await[..] else {
        unreachable!()
    };
    let group = f.group(alice, &[bob, carol]).await;
    let contacts = |store: SqliteStore, user: UserId| async move {
        let mut found = store.contacts_of(user, Some(10)).await.unwrap();
        found.sort();
        found
    };
    let mut bob_and_carol = vec![bob, carol];
    bob_and_carol.sort();
    assert_eq!(contacts(first.clone(), alice).await, bob_and_carol);

    second.remove_member(group.id, bob, 1).await.unwrap();
    assert_eq!(contacts(second.clone(), alice).await, vec![carol]);
    // Any write of the first handle notices the other's commit.
    first.mark_replied(group.id, carol).await.unwrap();
    assert_eq!(contacts(first.clone(), alice).await, vec![carol]);
}
