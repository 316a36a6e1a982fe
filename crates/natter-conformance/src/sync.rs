//! Cases for `ConversationStore::changed_since`: the sync cursor a reconnecting client uses to
//! learn which conversations changed for it (and which it lost) while it was away.

use natter_domain::model::*;
use natter_domain::values::GroupName;
use natter_domain::{ConversationId, UserId};

use crate::Stores;
use crate::support::*;

impl Fixture {
    async fn sync(&self, user: UserId, since: i64) -> SyncPage {
        self.conversations
            .changed_since(user, since)
            .await
            .expect("changed_since")
    }
}

fn changed_ids(page: &SyncPage) -> Vec<ConversationId> {
    sorted(page.changed.iter().map(|s| s.conversation.id).collect())
}

pub async fn initial_sync_returns_all_current(stores: Stores) {
    let f = Fixture::new(stores);
    let [alice, bob, carol] = f.users(&["alice", "bob", "carol"]).await[..] else {
        unreachable!()
    };
    let g1 = f.group(alice, &[bob]).await;
    let g2 = f.group(carol, &[alice]).await;
    let direct = f.direct(alice, carol).await;
    f.send(g1.id, bob, "hello").await;

    let page = f.sync(alice, 0).await;
    assert_eq!(changed_ids(&page), sorted(vec![g1.id, g2.id, direct.id]));
    assert!(page.removed.is_empty());
    assert!(page.cursor > 0);
    for summary in &page.changed {
        let fresh = f
            .conversations
            .summary(summary.conversation.id, alice)
            .await
            .unwrap();
        assert_eq!(Some(summary), fresh.as_ref());
    }
    assert_eq!(changed_ids(&f.sync(bob, 0).await), vec![g1.id]);
}

pub async fn cursor_advances_past_seen_changes(stores: Stores) {
    let f = Fixture::new(stores);
    let [alice, bob] = f.users(&["alice", "bob"]).await[..] else {
        unreachable!()
    };
    let g1 = f.group(alice, &[bob]).await;
    let g2 = f.group(alice, &[bob]).await;
    let first = f.sync(alice, 0).await;

    let quiet = f.sync(alice, first.cursor).await;
    assert!(
        quiet.changed.is_empty() && quiet.removed.is_empty(),
        "{quiet:?}"
    );
    assert!(quiet.cursor >= first.cursor);

    let message = f.send(g1.id, bob, "while you were away").await;
    let next = f.sync(alice, first.cursor).await;
    assert_eq!(changed_ids(&next), vec![g1.id]);
    assert_eq!(next.changed[0].last_message, Some(message));
    assert_eq!(next.changed[0].unread_count, 1);
    assert!(next.cursor > first.cursor);
    assert!(f.sync(alice, next.cursor).await.changed.is_empty());

    f.send(g2.id, alice, "mine").await;
    assert_eq!(changed_ids(&f.sync(alice, next.cursor).await), vec![g2.id]);
    assert_eq!(changed_ids(&f.sync(bob, next.cursor).await), vec![g2.id]);
}

pub async fn own_cursor_changes_sync_only_to_self(stores: Stores) {
    let f = Fixture::new(stores);
    let [alice, bob] = f.users(&["alice", "bob"]).await[..] else {
        unreachable!()
    };
    let group = f.group(alice, &[bob]).await;
    f.send(group.id, alice, "one").await;
    f.send(group.id, alice, "two").await;
    let cursor = f.sync(bob, 0).await.cursor;

    f.conversations
        .mark_read(group.id, bob, 1, T0)
        .await
        .unwrap();
    let bobs = f.sync(bob, cursor).await;
    assert_eq!(changed_ids(&bobs), vec![group.id]);
    assert_eq!(
        (bobs.changed[0].me.read_seq, bobs.changed[0].unread_count),
        (1, 1)
    );
    assert!(
        f.sync(alice, cursor).await.changed.is_empty(),
        "bob's cursor is not alice's business"
    );

    // A cursor move that changes nothing is not a change.
    let after = bobs.cursor;
    f.conversations
        .mark_read(group.id, bob, 1, T0)
        .await
        .unwrap();
    f.conversations
        .mark_delivered(group.id, bob, 1, T0)
        .await
        .unwrap();
    assert!(f.sync(bob, after).await.changed.is_empty());
    f.conversations
        .mark_delivered(group.id, bob, 2, T0)
        .await
        .unwrap();
    let delivered = f.sync(bob, after).await;
    assert_eq!(delivered.changed[0].me.delivered_seq, 2);

    let before_mute = delivered.cursor;
    f.conversations
        .set_muted(group.id, bob, true, T0)
        .await
        .unwrap();
    let muted = f.sync(bob, before_mute).await;
    assert!(muted.changed[0].me.muted);
}

pub async fn removal_is_reported_then_rejoin(stores: Stores) {
    let f = Fixture::new(stores);
    let [alice, bob] = f.users(&["alice", "bob"]).await[..] else {
        unreachable!()
    };
    let g1 = f.group(alice, &[bob]).await;
    let g2 = f.group(alice, &[bob]).await;
    let cursor = f.sync(bob, 0).await.cursor;

    f.conversations
        .remove_member(g1.id, bob, T0 + 1)
        .await
        .unwrap();
    let bobs = f.sync(bob, cursor).await;
    assert_eq!(bobs.removed, vec![g1.id]);
    assert!(bobs.changed.is_empty(), "{:?}", bobs.changed);
    let alices = f.sync(alice, cursor).await;
    assert_eq!(changed_ids(&alices), vec![g1.id]);
    assert_eq!(alices.changed[0].conversation.member_count, 1);
    assert!(alices.removed.is_empty());

    // Later activity in a conversation bob left is not his.
    f.send(g1.id, alice, "bob is gone").await;
    let later = f.sync(bob, bobs.cursor).await;
    assert!(
        later.changed.is_empty() && later.removed.is_empty(),
        "{later:?}"
    );
    assert_eq!(changed_ids(&f.sync(bob, 0).await), vec![g2.id]);

    f.conversations
        .add_member(g1.id, bob, Role::Member, T0 + 2)
        .await
        .unwrap();
    let back = f.sync(bob, later.cursor).await;
    assert_eq!(changed_ids(&back), vec![g1.id]);
    assert!(back.removed.is_empty());
    assert_eq!(back.changed[0].me.read_seq, 1);
}

pub async fn metadata_and_membership_changes_sync(stores: Stores) {
    let f = Fixture::new(stores);
    let [alice, bob, carol] = f.users(&["alice", "bob", "carol"]).await[..] else {
        unreachable!()
    };
    let group = f.group(alice, &[bob]).await;
    let other = f.group(alice, &[bob]).await;
    let c1 = f.sync(bob, 0).await.cursor;

    let name = GroupName::parse("New name").unwrap();
    f.conversations
        .update_conversation(group.id, Some(name.clone()), None, T0)
        .await
        .unwrap();
    let renamed = f.sync(bob, c1).await;
    assert_eq!(changed_ids(&renamed), vec![group.id]);
    assert_eq!(renamed.changed[0].conversation.name, Some(name));

    let c2 = renamed.cursor;
    f.conversations
        .add_member(group.id, carol, Role::Member, T0)
        .await
        .unwrap();
    let grown = f.sync(bob, c2).await;
    assert_eq!(changed_ids(&grown), vec![group.id]);
    assert_eq!(grown.changed[0].conversation.member_count, 3);
    assert_eq!(changed_ids(&f.sync(carol, c2).await), vec![group.id]);
    assert!(!changed_ids(&f.sync(carol, 0).await).contains(&other.id));

    let c3 = grown.cursor;
    f.conversations
        .set_role(other.id, bob, Role::Admin, T0)
        .await
        .unwrap();
    let promoted = f.sync(bob, c3).await;
    assert_eq!(changed_ids(&promoted), vec![other.id]);
    assert_eq!(promoted.changed[0].me.role, Role::Admin);
}

pub async fn message_changes_sync(stores: Stores) {
    let f = Fixture::new(stores);
    let [alice, bob] = f.users(&["alice", "bob"]).await[..] else {
        unreachable!()
    };
    let group = f.group(alice, &[bob]).await;
    let message = f.send(group.id, alice, "react to this").await;
    let cursor = f.sync(bob, 0).await.cursor;

    let react = MessageChange::AddReaction {
        user_id: alice,
        emoji: emoji("👍"),
    };
    let reacted = f
        .messages
        .change(group.id, message.seq, react, T0)
        .await
        .unwrap();
    let page = f.sync(bob, cursor).await;
    assert_eq!(changed_ids(&page), vec![group.id]);
    assert_eq!(page.changed[0].last_message, Some(reacted));
    assert_eq!(page.changed[0].conversation.last_mod, 2);

    // A no-op change is not a change.
    let again = MessageChange::AddReaction {
        user_id: alice,
        emoji: emoji("👍"),
    };
    f.messages
        .change(group.id, message.seq, again, T0)
        .await
        .unwrap();
    assert!(f.sync(bob, page.cursor).await.changed.is_empty());
}

/// `change_cursor`, the cursor a client that has nothing yet starts from: every change after it
/// is reported, and (from a single writer) nothing committed before it is replayed.
pub async fn a_new_clients_cursor_is_current_and_loses_nothing(stores: Stores) {
    let f = Fixture::new(stores);
    let [alice, bob] = f.users(&["alice", "bob"]).await[..] else {
        unreachable!()
    };
    let g1 = f.group(alice, &[bob]).await;
    f.send(g1.id, bob, "before").await;
    let cursor = f.conversations.change_cursor().await.expect("cursor");
    assert!(
        f.sync(alice, cursor).await.changed.is_empty(),
        "what was committed before is not replayed"
    );
    let after = f.send(g1.id, bob, "after").await;
    let page = f.sync(alice, cursor).await;
    assert_eq!(changed_ids(&page), vec![g1.id]);
    assert_eq!(page.changed[0].last_message, Some(after));
    assert!(f.conversations.change_cursor().await.expect("cursor") > cursor);
}
