//! Cases for [`ConversationStore`](natter_domain::ports::ConversationStore): creation, direct
//! uniqueness, metadata, membership (including rejoining), cursors, list order and summaries.

use natter_domain::model::*;
use natter_domain::names::ConversationTitle;
use natter_domain::values::DisplayName;
use natter_domain::values::{GroupName, Topic};
use natter_domain::{ConversationId, StoreError, UserId};

use crate::Stores;
use crate::support::*;

pub async fn create_group_with_members(stores: Stores) {
    let f = Fixture::new(stores);
    let [alice, bob, carol, dave] = f.users(&["alice", "bob", "carol", "dave"]).await[..] else {
        unreachable!()
    };
    let mut new = f.new_group(alice, &[bob], T0 + 7);
    new.members.push((carol, Role::Admin));
    let created = f
        .conversations
        .create_conversation(new.clone())
        .await
        .unwrap();
    assert_eq!(
        created,
        Conversation {
            id: new.id,
            kind: ConversationKind::Group,
            name: new.name.clone(),
            topic: new.topic.clone(),
            created_by: alice,
            created_at_ms: T0 + 7,
            last_seq: 0,
            last_mod: 0,
            last_activity_ms: T0 + 7,
            member_count: 3,
        }
    );
    assert_eq!(
        f.conversations.conversation(new.id).await.unwrap(),
        Some(created.clone())
    );
    assert_eq!(
        f.conversations
            .conversation(ConversationId::new())
            .await
            .unwrap(),
        None
    );

    let members = f.conversations.members(new.id).await.unwrap();
    let expected: Vec<Member> = [
        (alice, Role::Owner),
        (bob, Role::Member),
        (carol, Role::Admin),
    ]
    .into_iter()
    .map(|(user_id, role)| Member {
        conversation_id: new.id,
        user_id,
        role,
        muted: false,
        read_seq: 0,
        delivered_seq: 0,
        joined_at_ms: T0 + 7,
        replied: user_id == alice,
    })
    .collect();
    assert_eq!(members, expected);
    assert_eq!(
        f.conversations.member(new.id, carol).await.unwrap(),
        Some(expected[2].clone())
    );
    assert_eq!(f.conversations.member(new.id, dave).await.unwrap(), None);
    assert_eq!(
        f.conversations.conversation_ids_of(bob).await.unwrap(),
        vec![new.id]
    );
    assert!(
        f.conversations
            .conversation_ids_of(dave)
            .await
            .unwrap()
            .is_empty()
    );

    let again = f.conversations.create_conversation(new).await;
    assert!(
        matches!(again, Err(StoreError::Conflict(_))),
        "same id twice: {again:?}"
    );
}

pub async fn direct_is_unique_per_pair(stores: Stores) {
    let f = Fixture::new(stores);
    let [alice, bob, carol] = f.users(&["alice", "bob", "carol"]).await[..] else {
        unreachable!()
    };
    let direct = f.direct(alice, bob).await;
    assert_eq!(direct.kind, ConversationKind::Direct);
    assert_eq!(direct.member_count, 2);
    assert_eq!(
        f.conversations.direct_between(alice, bob).await.unwrap(),
        Some(direct.id)
    );
    assert_eq!(
        f.conversations.direct_between(bob, alice).await.unwrap(),
        Some(direct.id)
    );
    assert_eq!(
        f.conversations.direct_between(alice, carol).await.unwrap(),
        None
    );

    for (a, b) in [(alice, bob), (bob, alice)] {
        let again = f
            .conversations
            .create_conversation(Fixture::new_direct(a, b))
            .await;
        assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    }
    let other = f.direct(carol, alice).await;
    assert_eq!(
        f.conversations.direct_between(alice, carol).await.unwrap(),
        Some(other.id)
    );

    let peer_of = async |conversation, user| {
        f.conversations
            .summary(conversation, user)
            .await
            .unwrap()
            .unwrap()
            .peer
    };
    assert_eq!(peer_of(direct.id, alice).await, Some(bob));
    assert_eq!(peer_of(direct.id, bob).await, Some(alice));
    let group = f.group(alice, &[bob]).await;
    assert_eq!(peer_of(group.id, alice).await, None);
}

pub async fn update_conversation_metadata(stores: Stores) {
    let f = Fixture::new(stores);
    let alice = f.user("alice").await.id;
    let group = f.group(alice, &[]).await;
    let name = GroupName::parse("Renamed").unwrap();
    let renamed = f
        .conversations
        .update_conversation(group.id, Some(name.clone()), None, T0 + 1)
        .await
        .unwrap();
    assert_eq!(
        renamed,
        Conversation {
            name: Some(name.clone()),
            ..group.clone()
        }
    );
    let topic = Topic::parse("new topic").unwrap();
    let retopiced = f
        .conversations
        .update_conversation(group.id, None, Some(topic.clone()), T0 + 2)
        .await
        .unwrap();
    assert_eq!(
        retopiced,
        Conversation {
            name: Some(name),
            topic: Some(topic),
            ..group.clone()
        }
    );
    assert_eq!(f.conversation(group.id).await, retopiced);

    let missing = f
        .conversations
        .update_conversation(ConversationId::new(), None, None, T0)
        .await;
    assert_eq!(missing, Err(StoreError::NotFound));
}

pub async fn add_and_remove_members(stores: Stores) {
    let f = Fixture::new(stores);
    let [alice, bob, dave] = f.users(&["alice", "bob", "dave"]).await[..] else {
        unreachable!()
    };
    let group = f.group(alice, &[bob]).await;

    let added = f
        .conversations
        .add_member(group.id, dave, Role::Member, T0 + 50)
        .await
        .unwrap();
    assert_eq!(
        (added.user_id, added.role, added.joined_at_ms),
        (dave, Role::Member, T0 + 50)
    );
    assert_eq!(
        f.conversations.member(group.id, dave).await.unwrap(),
        Some(added)
    );
    assert_eq!(f.conversation(group.id).await.member_count, 3);
    let twice = f
        .conversations
        .add_member(group.id, dave, Role::Admin, T0 + 51)
        .await;
    assert!(matches!(twice, Err(StoreError::Conflict(_))), "{twice:?}");
    assert_eq!(
        f.conversations
            .member(group.id, dave)
            .await
            .unwrap()
            .unwrap()
            .role,
        Role::Member
    );

    f.conversations
        .remove_member(group.id, bob, T0 + 60)
        .await
        .unwrap();
    assert_eq!(f.conversations.member(group.id, bob).await.unwrap(), None);
    let remaining: Vec<UserId> = f
        .conversations
        .members(group.id)
        .await
        .unwrap()
        .iter()
        .map(|m| m.user_id)
        .collect();
    assert_eq!(remaining, vec![alice, dave]);
    assert_eq!(f.conversation(group.id).await.member_count, 2);
    assert_eq!(f.conversations.summary(group.id, bob).await.unwrap(), None);
    assert!(
        f.conversations
            .conversation_ids_of(bob)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        f.conversations
            .conversations_of(bob, None, 100)
            .await
            .unwrap()
            .is_empty()
    );

    assert_eq!(
        f.conversations.remove_member(group.id, bob, T0 + 61).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        f.conversations
            .remove_member(group.id, UserId::new(), T0 + 61)
            .await,
        Err(StoreError::NotFound)
    );
}

pub async fn rejoin_gets_fresh_cursors_and_moves_to_end(stores: Stores) {
    let f = Fixture::new(stores);
    let [alice, bob, carol] = f.users(&["alice", "bob", "carol"]).await[..] else {
        unreachable!()
    };
    let group = f.group(alice, &[bob, carol]).await;
    for n in 0..3 {
        f.send(group.id, alice, &format!("before {n}")).await;
    }
    f.conversations
        .mark_read(group.id, bob, 1, T0 + 10)
        .await
        .unwrap();
    f.conversations
        .remove_member(group.id, bob, T0 + 20)
        .await
        .unwrap();
    for n in 0..2 {
        f.send(group.id, alice, &format!("while away {n}")).await;
    }

    let back = f
        .conversations
        .add_member(group.id, bob, Role::Admin, T0 + 30)
        .await
        .unwrap();
    assert_eq!(
        (
            back.role,
            back.read_seq,
            back.delivered_seq,
            back.joined_at_ms
        ),
        (Role::Admin, 5, 5, T0 + 30)
    );
    let order: Vec<UserId> = f
        .conversations
        .members(group.id)
        .await
        .unwrap()
        .iter()
        .map(|m| m.user_id)
        .collect();
    assert_eq!(order, vec![alice, carol, bob]);
    assert_eq!(f.conversation(group.id).await.member_count, 3);

    let summary = f
        .conversations
        .summary(group.id, bob)
        .await
        .unwrap()
        .expect("member again");
    assert_eq!(summary.unread_count, 0);
    f.send(group.id, alice, "welcome back").await;
    assert_eq!(
        f.conversations
            .summary(group.id, bob)
            .await
            .unwrap()
            .unwrap()
            .unread_count,
        1
    );
}

pub async fn new_member_starts_at_current_seq(stores: Stores) {
    let f = Fixture::new(stores);
    let [alice, bob, carol] = f.users(&["alice", "bob", "carol"]).await[..] else {
        unreachable!()
    };
    let group = f.group(alice, &[bob]).await;
    for n in 0..3 {
        f.send(group.id, alice, &format!("old {n}")).await;
    }
    let carol_member = f
        .conversations
        .add_member(group.id, carol, Role::Member, T0 + 9)
        .await
        .unwrap();
    assert_eq!((carol_member.read_seq, carol_member.delivered_seq), (3, 3));
    assert_eq!(
        f.conversations
            .summary(group.id, carol)
            .await
            .unwrap()
            .unwrap()
            .unread_count,
        0
    );
    assert_eq!(
        f.conversations
            .summary(group.id, bob)
            .await
            .unwrap()
            .unwrap()
            .unread_count,
        3
    );
}

pub async fn set_role_and_mute(stores: Stores) {
    let f = Fixture::new(stores);
    let [alice, bob, carol] = f.users(&["alice", "bob", "carol"]).await[..] else {
        unreachable!()
    };
    let group = f.group(alice, &[bob]).await;

    let promoted = f
        .conversations
        .set_role(group.id, bob, Role::Admin, T0 + 1)
        .await
        .unwrap();
    assert_eq!(
        (promoted.user_id, promoted.role, promoted.muted),
        (bob, Role::Admin, false)
    );
    let muted = f
        .conversations
        .set_muted(group.id, bob, true, T0 + 2)
        .await
        .unwrap();
    assert_eq!((muted.role, muted.muted), (Role::Admin, true));
    assert_eq!(
        f.conversations.member(group.id, bob).await.unwrap(),
        Some(muted)
    );
    let unmuted = f
        .conversations
        .set_muted(group.id, bob, false, T0 + 3)
        .await
        .unwrap();
    assert!(!unmuted.muted);

    assert_eq!(
        f.conversations
            .set_role(group.id, carol, Role::Admin, T0)
            .await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        f.conversations.set_muted(group.id, carol, true, T0).await,
        Err(StoreError::NotFound)
    );
}

pub async fn mark_read_clamps_and_never_lowers(stores: Stores) {
    let f = Fixture::new(stores);
    let [alice, bob, carol, dave] = f.users(&["alice", "bob", "carol", "dave"]).await[..] else {
        unreachable!()
    };
    let group = f.group(alice, &[bob, carol]).await;
    for n in 0..3 {
        f.send(group.id, alice, &format!("m{n}")).await;
    }
    let cursors = |m: Member| (m.read_seq, m.delivered_seq);
    let c = &f.conversations;
    assert_eq!(
        cursors(c.mark_read(group.id, bob, 2, T0).await.unwrap()),
        (2, 2)
    );
    assert_eq!(
        cursors(c.mark_read(group.id, bob, 1, T0).await.unwrap()),
        (2, 2)
    );
    assert_eq!(
        cursors(c.mark_read(group.id, bob, 99, T0).await.unwrap()),
        (3, 3)
    );
    assert_eq!(
        cursors(c.mark_delivered(group.id, bob, 1, T0).await.unwrap()),
        (3, 3)
    );
    assert_eq!(
        cursors(c.member(group.id, bob).await.unwrap().unwrap()),
        (3, 3)
    );

    assert_eq!(
        cursors(c.mark_delivered(group.id, carol, 2, T0).await.unwrap()),
        (0, 2)
    );
    assert_eq!(
        cursors(c.mark_delivered(group.id, carol, 1, T0).await.unwrap()),
        (0, 2)
    );
    assert_eq!(
        cursors(c.mark_delivered(group.id, carol, 50, T0).await.unwrap()),
        (0, 3)
    );
    assert_eq!(
        cursors(c.mark_read(group.id, carol, 1, T0).await.unwrap()),
        (1, 3)
    );

    assert_eq!(
        c.mark_read(group.id, dave, 1, T0).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        c.mark_delivered(group.id, dave, 1, T0).await,
        Err(StoreError::NotFound)
    );
    c.remove_member(group.id, carol, T0).await.unwrap();
    assert_eq!(
        c.mark_read(group.id, carol, 3, T0).await,
        Err(StoreError::NotFound)
    );
}

pub async fn conversations_ordered_by_activity(stores: Stores) {
    let f = Fixture::new(stores);
    let [alice, bob] = f.users(&["alice", "bob"]).await[..] else {
        unreachable!()
    };
    let g1 = f.group_at(alice, &[bob], T0 + 1).await;
    let g2 = f.group_at(alice, &[bob], T0 + 2).await;
    let g3 = f.group_at(alice, &[], T0 + 3).await;
    let ids = |page: Vec<ConversationSummary>| {
        page.into_iter()
            .map(|s| s.conversation.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(f
            .conversations
            .conversations_of(alice, None, 10)
            .await
            .unwrap()),
        vec![g3.id, g2.id, g1.id]
    );

    let mut message = f.new_message(g1.id, bob, "bump");
    message.created_at_ms = T0 + 10;
    f.send_new(message).await;
    assert_eq!(f.conversation(g1.id).await.last_activity_ms, T0 + 10);
    // An old message gets an edit: edits are not activity.
    let mut old = f.new_message(g2.id, bob, "old");
    old.created_at_ms = T0 + 2;
    let old = f.send_new(old).await;
    let change = MessageChange::Edit {
        text: text("edited"),
        mentions: vec![],
    };
    f.messages
        .change(g2.id, old.seq, change, T0 + 20)
        .await
        .unwrap();
    assert_eq!(f.conversation(g2.id).await.last_activity_ms, T0 + 2);

    let all = f
        .conversations
        .conversations_of(alice, None, 10)
        .await
        .unwrap();
    assert_eq!(all[0].conversation.last_activity_ms, T0 + 10);
    assert_eq!(ids(all), vec![g1.id, g3.id, g2.id]);
    assert_eq!(
        ids(f
            .conversations
            .conversations_of(alice, None, 2)
            .await
            .unwrap()),
        vec![g1.id, g3.id]
    );
    assert_eq!(
        ids(f
            .conversations
            .conversations_of(alice, Some(T0 + 3), 10)
            .await
            .unwrap()),
        vec![g2.id]
    );
    assert_eq!(
        ids(f
            .conversations
            .conversations_of(alice, Some(T0 + 2), 10)
            .await
            .unwrap()),
        vec![]
    );
    assert_eq!(
        ids(f
            .conversations
            .conversations_of(bob, None, 10)
            .await
            .unwrap()),
        vec![g1.id, g2.id]
    );
}

pub async fn summary_counts_unread_and_mentions(stores: Stores) {
    let f = Fixture::new(stores);
    let [alice, bob, carol] = f.users(&["alice", "bob", "carol"]).await[..] else {
        unreachable!()
    };
    let group = f.group(alice, &[bob, carol]).await;
    f.send_mentioning(group.id, alice, "hi @bob", &[bob]).await; // 1: unread, mention
    f.send(group.id, alice, "plain").await; // 2: unread
    f.send_mentioning(group.id, bob, "own", &[bob]).await; // 3: own, never unread
    f.send_mentioning(group.id, carol, "@bob @alice", &[alice, bob])
        .await; // 4: unread, mention
    let doomed = f
        .send_mentioning(group.id, alice, "oops @bob", &[bob])
        .await; // 5: deleted
    let deleted = f
        .messages
        .change(group.id, doomed.seq, MessageChange::Delete, T0 + 99)
        .await
        .unwrap();

    let summary = f
        .conversations
        .summary(group.id, bob)
        .await
        .unwrap()
        .expect("bob's summary");
    assert_eq!((summary.unread_count, summary.mention_count), (3, 2));
    assert_eq!(summary.last_message, Some(deleted));
    assert_eq!(
        summary.me,
        f.conversations
            .member(group.id, bob)
            .await
            .unwrap()
            .unwrap()
    );
    assert_eq!(summary.conversation, f.conversation(group.id).await);
    assert_eq!(summary.peer, None);
    let listed = f
        .conversations
        .conversations_of(bob, None, 10)
        .await
        .unwrap();
    assert_eq!(listed, vec![summary]);

    let for_alice = f
        .conversations
        .summary(group.id, alice)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((for_alice.unread_count, for_alice.mention_count), (2, 1));

    f.conversations
        .mark_read(group.id, bob, 2, T0)
        .await
        .unwrap();
    let after = f
        .conversations
        .summary(group.id, bob)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (after.me.read_seq, after.unread_count, after.mention_count),
        (2, 1, 1)
    );
    f.conversations
        .mark_read(group.id, bob, 5, T0)
        .await
        .unwrap();
    let done = f
        .conversations
        .summary(group.id, bob)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((done.unread_count, done.mention_count), (0, 0));

    let empty = f.group(alice, &[bob]).await;
    let fresh = f
        .conversations
        .summary(empty.id, bob)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (fresh.last_message, fresh.unread_count, fresh.mention_count),
        (None, 0, 0)
    );
}

pub async fn contacts_are_current_co_members(stores: Stores) {
    let f = Fixture::new(stores);
    let [alice, bob, carol, dave] = f.users(&["alice", "bob", "carol", "dave"]).await[..] else {
        unreachable!()
    };
    f.direct(alice, bob).await;
    let group = f.group(carol, &[alice, bob]).await;
    assert_eq!(
        sorted(f.conversations.contacts_of(alice, None).await.unwrap()),
        sorted(vec![bob, carol])
    );
    assert_eq!(
        sorted(f.conversations.contacts_of(carol, None).await.unwrap()),
        sorted(vec![alice, bob])
    );
    assert!(
        f.conversations
            .contacts_of(dave, None)
            .await
            .unwrap()
            .is_empty()
    );

    // Only conversations up to the size limit count when one is given.
    assert_eq!(
        f.conversations.contacts_of(carol, Some(2)).await.unwrap(),
        Vec::<UserId>::new()
    );
    assert_eq!(
        sorted(f.conversations.contacts_of(alice, Some(2)).await.unwrap()),
        vec![bob]
    );
    assert_eq!(
        sorted(f.conversations.contacts_of(alice, Some(3)).await.unwrap()),
        sorted(vec![bob, carol])
    );

    f.conversations
        .remove_member(group.id, carol, T0)
        .await
        .unwrap();
    assert_eq!(
        f.conversations.contacts_of(alice, None).await.unwrap(),
        vec![bob]
    );
    // A former member does not count towards a group's size either: erin's group of three is
    // one of two once dave has left it.
    let [erin] = f.users(&["erin"]).await[..] else {
        unreachable!()
    };
    let erins = f.group(erin, &[alice, dave]).await;
    f.conversations
        .remove_member(erins.id, dave, T0)
        .await
        .unwrap();
    assert_eq!(
        sorted(f.conversations.contacts_of(alice, Some(2)).await.unwrap()),
        sorted(vec![bob, erin])
    );
    assert!(
        f.conversations
            .contacts_of(dave, Some(2))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        f.conversations
            .contacts_of(carol, None)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Contacts within a size limit follow every change of membership made after they were read
/// (a store may keep conversations' members in memory for presence; it must keep up).
pub async fn contacts_within_a_limit_follow_joins_and_leaves(stores: Stores) {
    let f = Fixture::new(stores);
    let [alice, bob, carol, dave, erin] =
        f.users(&["alice", "bob", "carol", "dave", "erin"]).await[..]
    else {
        unreachable!()
    };
    let contacts = |user, max| {
        let conversations = f.conversations.clone();
        async move { sorted(conversations.contacts_of(user, Some(max)).await.unwrap()) }
    };
    let group = f.group(carol, &[alice, bob]).await;
    assert_eq!(contacts(alice, 3).await, sorted(vec![bob, carol]));
    assert_eq!(contacts(dave, 3).await, Vec::<UserId>::new());

    // Dave joins: a contact within 4, and the group is now too big for 3.
    f.conversations
        .add_member(group.id, dave, Role::Member, T0)
        .await
        .unwrap();
    assert_eq!(contacts(alice, 4).await, sorted(vec![bob, carol, dave]));
    assert_eq!(contacts(alice, 3).await, Vec::<UserId>::new());
    assert_eq!(contacts(dave, 4).await, sorted(vec![alice, bob, carol]));

    // Bob is removed: three again, and no longer anyone's contact there.
    f.conversations
        .remove_member(group.id, bob, T0)
        .await
        .unwrap();
    assert_eq!(contacts(alice, 3).await, sorted(vec![carol, dave]));
    assert_eq!(contacts(bob, 3).await, Vec::<UserId>::new());

    // A conversation created after the reads counts at once.
    f.group(erin, &[alice]).await;
    assert_eq!(contacts(alice, 3).await, sorted(vec![carol, dave, erin]));

    // Alice leaves the first group: its members are no longer hers, nor she theirs.
    f.conversations
        .remove_member(group.id, alice, T0)
        .await
        .unwrap();
    assert_eq!(contacts(alice, 3).await, vec![erin]);
    assert_eq!(contacts(carol, 3).await, vec![dave]);

    // Bob comes back: the group's members are read anew.
    f.conversations
        .add_member(group.id, bob, Role::Member, T0)
        .await
        .unwrap();
    assert_eq!(contacts(carol, 3).await, sorted(vec![bob, dave]));
}

pub async fn a_direct_conversation_counts_for_presence_once_replied(stores: Stores) {
    let f = Fixture::new(stores);
    let [stranger, victim] = f.users(&["stranger", "victim"]).await[..] else {
        unreachable!()
    };
    // The stranger opened it: the victim may see the stranger, not the other way round.
    let direct = f.direct(stranger, victim).await;
    assert_eq!(
        f.conversations.contacts_of(stranger, None).await.unwrap(),
        vec![victim]
    );
    assert!(
        f.conversations
            .contacts_of(victim, None)
            .await
            .unwrap()
            .is_empty()
    );
    let member = |user| f.conversations.member(direct.id, user);
    assert!(member(stranger).await.unwrap().unwrap().replied);
    assert!(!member(victim).await.unwrap().unwrap().replied);

    // The victim answers: now both ways. Marking again changes nothing.
    for _ in 0..2 {
        f.conversations
            .mark_replied(direct.id, victim)
            .await
            .unwrap();
    }
    assert!(member(victim).await.unwrap().unwrap().replied);
    assert_eq!(
        f.conversations.contacts_of(victim, None).await.unwrap(),
        vec![stranger]
    );
    // A non-member is not made one.
    let other = f.user("other").await;
    f.conversations
        .mark_replied(direct.id, other.id)
        .await
        .unwrap();
    assert_eq!(member(other.id).await.unwrap(), None);
}

/// Titles: every current conversation of the user once, a group by its name, a direct
/// conversation by the other member as they are named now; none of those the user left.
pub async fn titles_name_groups_and_direct_peers(stores: Stores) {
    let f = Fixture::new(stores);
    let [alice, bob, carol] = f.users(&["alice", "bob", "carol"]).await[..] else {
        unreachable!()
    };
    let group = f.group_at(alice, &[bob], T0 + 1).await;
    let direct = f.direct(alice, carol).await;
    let left = f.group_at(alice, &[bob], T0 + 2).await;
    f.conversations
        .remove_member(left.id, alice, T0 + 3)
        .await
        .unwrap();
    let mut message = f.new_message(direct.id, carol, "hi");
    message.created_at_ms = T0 + 5;
    f.send_new(message).await;
    let carol_renamed = DisplayName::parse("Caroline Smith").unwrap();
    f.accounts
        .set_display_name(carol, &carol_renamed)
        .await
        .unwrap();

    let titles = |user| {
        let conversations = f.conversations.clone();
        async move {
            let mut titles = conversations.conversation_titles(user).await.unwrap();
            titles.sort_by_key(|t| t.id);
            titles
        }
    };
    let mut expected = vec![
        ConversationTitle {
            id: group.id,
            last_activity_ms: T0 + 1,
            name: Some("Team".into()),
            peer_display_name: None,
            peer_username: None,
        },
        ConversationTitle {
            id: direct.id,
            last_activity_ms: T0 + 5,
            name: None,
            peer_display_name: Some("Caroline Smith".into()),
            peer_username: Some(f.username("carol").into_inner()),
        },
    ];
    expected.sort_by_key(|t| t.id);
    assert_eq!(titles(alice).await, expected);
    assert_eq!(
        titles(carol).await,
        [ConversationTitle {
            id: direct.id,
            last_activity_ms: T0 + 5,
            name: None,
            peer_display_name: Some("User alice".into()),
            peer_username: Some(f.username("alice").into_inner()),
        }]
    );
    let mut of_bob: Vec<ConversationId> = titles(bob).await.into_iter().map(|t| t.id).collect();
    of_bob.sort();
    assert_eq!(of_bob, sorted(vec![group.id, left.id]));
    assert!(titles(UserId::new()).await.is_empty());
}

/// The summaries of a set of conversations are those the user is a current member of, each as
/// `summary` reads it.
pub async fn summaries_of_a_set_of_conversations(stores: Stores) {
    let f = Fixture::new(stores);
    let [alice, bob] = f.users(&["alice", "bob"]).await[..] else {
        unreachable!()
    };
    let group = f.group_at(alice, &[bob], T0 + 1).await;
    let direct = f.direct(alice, bob).await;
    let left = f.group_at(alice, &[bob], T0 + 2).await;
    let others = f.group_at(bob, &[], T0 + 3).await;
    f.send(group.id, bob, "unread").await;
    f.conversations
        .remove_member(left.id, alice, T0 + 4)
        .await
        .unwrap();

    let mut found = f
        .conversations
        .summaries(
            alice,
            &[
                group.id,
                direct.id,
                left.id,
                others.id,
                ConversationId::new(),
            ],
        )
        .await
        .unwrap();
    found.sort_by_key(|s| s.conversation.id);
    let mut expected = Vec::new();
    for id in sorted(vec![group.id, direct.id]) {
        expected.push(f.conversations.summary(id, alice).await.unwrap().unwrap());
    }
    assert_eq!(found, expected);
    let group_summary = found
        .iter()
        .find(|s| s.conversation.id == group.id)
        .unwrap();
    assert_eq!(group_summary.unread_count, 1);
    assert_eq!(
        found
            .iter()
            .find(|s| s.conversation.id == direct.id)
            .unwrap()
            .peer,
        Some(bob)
    );
    assert!(
        f.conversations
            .summaries(alice, &[])
            .await
            .unwrap()
            .is_empty()
    );
}
