//! Conversations over REST: direct and group creation, the list (order, last message, unread and
//! mention counts, filtered by title), metadata, membership and roles, mute, sync, and authorization (non-members
//! and removed members get the same 404 as for a conversation that does not exist).

use natter_sdk::Method;
use natter_sdk::protocol::{
    ConversationListQuery, ConversationSummaryView, MemberView, SendMessageRequest,
    UpdateConversationRequest,
};
use natter_sdk::{Client, new_client_msg_id};
use serde_json::json;
use uuid::Uuid;

use crate::server::TestServer;
use crate::support::{all_messages, api_error, next_millisecond, raw_json, user};

fn role_of(members: &[MemberView], user: Uuid) -> Option<&str> {
    members
        .iter()
        .find(|m| m.user_id == user)
        .map(|m| m.role.as_str())
}

async fn members_of(client: &Client, conversation: Uuid) -> Vec<MemberView> {
    client.members(conversation).await.expect("members").members
}

async fn send_mentioning(client: &Client, conversation: Uuid, text: &str, mentions: Vec<Uuid>) {
    let request = SendMessageRequest {
        client_msg_id: new_client_msg_id(),
        text: text.into(),
        reply_to_seq: None,
        mentions,
        attachments: Vec::new(),
    };
    client
        .send_message(conversation, &request)
        .await
        .expect("send");
}

fn update(name: Option<&str>, topic: Option<&str>) -> UpdateConversationRequest {
    UpdateConversationRequest {
        name: name.map(Into::into),
        topic: topic.map(Into::into),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_conversations_are_created_once() {
    let server = TestServer::spawn();
    let (alice, alice_user) = user(&server, "alice").await;
    let (bob, bob_user) = user(&server, "bob").await;

    let path = "/conversations/direct";
    let first = raw_json(
        &alice,
        Method::POST,
        path,
        Some(json!({ "user_id": bob_user.id })),
    )
    .await;
    assert_eq!(first.status, 201);
    let first: ConversationSummaryView = first.json().unwrap();
    assert_eq!(first.conversation.kind, "direct");
    assert_eq!(first.conversation.member_count, 2);
    assert_eq!(first.peer, Some(bob_user.id));
    assert_eq!(first.conversation.name, None);

    let again = raw_json(
        &alice,
        Method::POST,
        path,
        Some(json!({ "user_id": bob_user.id })),
    )
    .await;
    assert_eq!(again.status, 200, "the second open finds the existing one");
    assert_eq!(
        again
            .json::<ConversationSummaryView>()
            .unwrap()
            .conversation
            .id,
        first.conversation.id
    );
    let from_bob = raw_json(
        &bob,
        Method::POST,
        path,
        Some(json!({ "user_id": alice_user.id })),
    )
    .await;
    assert_eq!(from_bob.status, 200, "the other side opens the same one");
    let from_bob: ConversationSummaryView = from_bob.json().unwrap();
    assert_eq!(from_bob.conversation.id, first.conversation.id);
    assert_eq!(from_bob.peer, Some(alice_user.id));

    let (status, code) = api_error(alice.create_direct(alice_user.id).await);
    assert_eq!((status, code.as_str()), (400, "invalid"), "with yourself");
    let (status, code) = api_error(alice.create_direct(Uuid::now_v7()).await);
    assert_eq!(
        (status, code.as_str()),
        (404, "not_found"),
        "with an unknown user"
    );
    assert_eq!(
        alice
            .conversations(None, None)
            .await
            .unwrap()
            .conversations
            .len(),
        1,
        "no extra conversation"
    );

    // Direct conversations have exactly two members and no metadata.
    let (carol, carol_user) = user(&server, "carol").await;
    let (status, code) = api_error(
        alice
            .add_member(first.conversation.id, carol_user.id, None)
            .await,
    );
    assert_eq!((status, code.as_str()), (403, "forbidden"));
    let (status, code) = api_error(
        alice
            .update_conversation(first.conversation.id, &update(Some("x"), None))
            .await,
    );
    assert_eq!((status, code.as_str()), (403, "forbidden"));
    let (status, _) = api_error(
        alice
            .remove_member(first.conversation.id, bob_user.id)
            .await,
    );
    assert_eq!(status, 403);
    assert_eq!(members_of(&alice, first.conversation.id).await.len(), 2);
    assert!(
        carol
            .conversations(None, None)
            .await
            .unwrap()
            .conversations
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_start_with_an_owner_and_members() {
    let server = TestServer::spawn();
    let (alice, alice_user) = user(&server, "alice").await;
    let (bob, bob_user) = user(&server, "bob").await;
    let (_carol, carol_user) = user(&server, "carol").await;

    let response = raw_json(
        &alice,
        Method::POST,
        "/conversations",
        Some(json!({"name": "Book club", "topic": "Alice in Wonderland", "member_ids": [bob_user.id, carol_user.id, bob_user.id]})),
    )
    .await;
    assert_eq!(response.status, 201);
    let group: ConversationSummaryView = response.json().unwrap();
    assert_eq!(group.conversation.kind, "group");
    assert_eq!(group.conversation.name.as_deref(), Some("Book club"));
    assert_eq!(
        group.conversation.topic.as_deref(),
        Some("Alice in Wonderland")
    );
    assert_eq!(group.conversation.created_by, alice_user.id);
    assert_eq!(group.conversation.member_count, 3, "duplicates collapse");
    assert_eq!(group.conversation.last_seq, 0);
    assert_eq!(group.me.role, "owner");
    assert_eq!(group.peer, None);
    assert!(group.last_message.is_none());

    let members = members_of(&bob, group.conversation.id).await;
    assert_eq!(members.len(), 3);
    assert_eq!(role_of(&members, alice_user.id), Some("owner"));
    assert_eq!(role_of(&members, bob_user.id), Some("member"));
    assert_eq!(role_of(&members, carol_user.id), Some("member"));

    let seen_by_bob = bob.conversation(group.conversation.id).await.expect("get");
    assert_eq!(seen_by_bob.conversation, group.conversation);
    assert_eq!(seen_by_bob.me.role, "member");
    assert_eq!(seen_by_bob.me.user_id, bob_user.id);

    // Bad groups create nothing.
    let (status, code) = api_error(alice.create_group("Ghosts", None, &[Uuid::now_v7()]).await);
    assert_eq!((status, code.as_str()), (400, "invalid"), "unknown member");
    for bad in ["", "   ", &"n".repeat(101)] {
        let (status, code) = api_error(alice.create_group(bad, None, &[]).await);
        assert_eq!((status, code.as_str()), (400, "invalid"), "name {bad:?}");
    }
    assert_eq!(
        alice
            .conversations(None, None)
            .await
            .unwrap()
            .conversations
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_is_ordered_by_activity_with_counts() {
    let server = TestServer::spawn();
    let (alice, alice_user) = user(&server, "alice").await;
    let (bob, bob_user) = user(&server, "bob").await;
    let older = alice
        .create_group("older", None, &[bob_user.id])
        .await
        .unwrap()
        .conversation
        .id;
    next_millisecond().await;
    let newer = alice
        .create_group("newer", None, &[bob_user.id])
        .await
        .unwrap()
        .conversation
        .id;
    next_millisecond().await;
    let ids = |list: &[ConversationSummaryView]| {
        list.iter().map(|s| s.conversation.id).collect::<Vec<_>>()
    };
    assert_eq!(
        ids(&alice.conversations(None, None).await.unwrap().conversations),
        vec![newer, older]
    );

    // Bob writes into the older one: it moves to the top, with its counts.
    send_mentioning(&bob, older, "hello", vec![]).await;
    send_mentioning(&bob, older, "hey @alice", vec![alice_user.id]).await;
    send_mentioning(&bob, older, "anyone?", vec![]).await;
    let list = alice.conversations(None, None).await.unwrap().conversations;
    assert_eq!(ids(&list), vec![older, newer]);
    let top = &list[0];
    assert_eq!(
        top.last_message.as_ref().map(|m| m.text.as_str()),
        Some("anyone?")
    );
    assert_eq!(top.conversation.last_seq, 3);
    assert_eq!((top.unread_count, top.mention_count), (3, 1));
    assert_eq!((list[1].unread_count, list[1].mention_count), (0, 0));
    // Paging by activity.
    let page = alice
        .conversations(None, Some(1))
        .await
        .unwrap()
        .conversations;
    assert_eq!(ids(&page), vec![older]);
    let rest = alice
        .conversations(Some(page[0].conversation.last_activity_ms), Some(10))
        .await
        .unwrap()
        .conversations;
    assert_eq!(ids(&rest), vec![newer]);

    // Own messages are never unread, for either side of the count.
    send_mentioning(&alice, older, "here", vec![bob_user.id]).await;
    let mine = alice.conversation(older).await.unwrap();
    assert_eq!((mine.unread_count, mine.mention_count), (3, 1));
    let theirs = bob.conversation(older).await.unwrap();
    assert_eq!((theirs.unread_count, theirs.mention_count), (1, 1));

    // Reading resets them.
    alice.mark_read(older, 4).await.expect("read");
    let mine = alice.conversation(older).await.unwrap();
    assert_eq!(
        (mine.unread_count, mine.mention_count, mine.me.read_seq),
        (0, 0, 4)
    );
    bob.mark_read(older, 4).await.expect("read");
    let theirs = bob.conversation(older).await.unwrap();
    assert_eq!((theirs.unread_count, theirs.mention_count), (0, 0));

    // A newer message in the other group reorders the list again.
    next_millisecond().await;
    send_mentioning(&bob, newer, "over here", vec![]).await;
    let list = alice.conversations(None, None).await.unwrap().conversations;
    assert_eq!(ids(&list), vec![newer, older]);
    assert_eq!(list[0].unread_count, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_filters_by_title() {
    let server = TestServer::spawn();
    let (alice, alice_user) = user(&server, "alice").await;
    let (bob, bob_user) = user(&server, "bob").await;
    let (carol, carol_user) = user(&server, "carol").await;
    bob.update_profile("Robert Smith").await.unwrap();
    carol.update_profile("Éloïse Martin").await.unwrap();
    let lunch = alice
        .create_group("Lunch Crew", None, &[bob_user.id])
        .await
        .unwrap()
        .conversation
        .id;
    next_millisecond().await;
    let launch = alice
        .create_group("Launch plans", None, &[carol_user.id])
        .await
        .unwrap()
        .conversation
        .id;
    next_millisecond().await;
    let with_bob = alice
        .create_direct(bob_user.id)
        .await
        .unwrap()
        .conversation
        .id;
    next_millisecond().await;
    let with_carol = alice
        .create_direct(carol_user.id)
        .await
        .unwrap()
        .conversation
        .id;
    let find = |client: &Client, q: &str| {
        let client = client.clone();
        let q = q.to_owned();
        async move {
            client
                .find_conversations(&q, None)
                .await
                .expect("find")
                .conversations
                .iter()
                .map(|s| s.conversation.id)
                .collect::<Vec<_>>()
        }
    };

    assert_eq!(find(&alice, "lun").await, [lunch], "a group by its name");
    assert_eq!(find(&alice, "CREW lunch").await, [lunch]);
    assert_eq!(
        find(&alice, "rob").await,
        [with_bob],
        "a direct one by the peer's name"
    );
    assert_eq!(find(&alice, "smi ROB").await, [with_bob]);
    assert_eq!(
        find(&alice, &bob_user.username).await,
        [with_bob],
        "or username"
    );
    assert_eq!(find(&alice, "élo").await, [with_carol]);
    assert_eq!(find(&alice, "ELO").await, [with_carol]);
    assert!(
        find(&alice, "unch").await.is_empty(),
        "beginnings of words only"
    );
    assert_eq!(find(&carol, "lau").await, [launch]);
    assert!(
        find(&carol, "lun").await.is_empty(),
        "only the caller's own"
    );
    assert_eq!(
        find(&bob, &alice_user.username).await,
        [with_bob],
        "the peer seen from the other side"
    );

    // Most recent activity first, with limit and paging, and the same views as the list.
    assert_eq!(find(&alice, "l").await, [launch, lunch]);
    send_mentioning(&bob, lunch, "hey @alice", vec![alice_user.id]).await;
    let found = alice
        .find_conversations("l", None)
        .await
        .unwrap()
        .conversations;
    assert_eq!(
        found.iter().map(|s| s.conversation.id).collect::<Vec<_>>(),
        [lunch, launch]
    );
    let listed = alice.conversations(None, None).await.unwrap().conversations;
    assert_eq!(found[0], listed[0], "the list's own view, counts and all");
    assert_eq!((found[0].unread_count, found[0].mention_count), (1, 1));
    let first = alice
        .find_conversations("l", Some(1))
        .await
        .unwrap()
        .conversations;
    assert_eq!(first.len(), 1);
    let rest = alice
        .conversations_with(&ConversationListQuery {
            before_activity_ms: Some(first[0].conversation.last_activity_ms),
            q: Some("l".into()),
            limit: Some(10),
        })
        .await
        .unwrap()
        .conversations;
    assert_eq!(
        rest.iter().map(|s| s.conversation.id).collect::<Vec<_>>(),
        [launch]
    );

    // Renames show at once; a conversation left is not found.
    alice
        .update_conversation(lunch, &update(Some("Dinner Crew"), None))
        .await
        .unwrap();
    assert!(find(&alice, "lun").await.is_empty());
    assert_eq!(find(&alice, "din").await, [lunch]);
    bob.update_profile("Bobby Tables").await.unwrap();
    assert_eq!(find(&alice, "tab").await, [with_bob]);
    bob.remove_member(lunch, bob_user.id).await.unwrap();
    assert!(find(&bob, "din").await.is_empty());

    for bad in ["", "  ", "!!!", &"a ".repeat(17), &"a".repeat(257)] {
        let (status, code) = api_error(alice.find_conversations(bad, None).await);
        assert_eq!((status, code.as_str()), (400, "invalid"), "{bad:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_change_name_and_topic() {
    let server = TestServer::spawn();
    let (alice, _) = user(&server, "alice").await;
    let (bob, bob_user) = user(&server, "bob").await;
    let (carol, carol_user) = user(&server, "carol").await;
    let id = alice
        .create_group("start", None, &[bob_user.id, carol_user.id])
        .await
        .unwrap()
        .conversation
        .id;
    alice
        .update_member_role(id, carol_user.id, "admin")
        .await
        .expect("promote carol");

    let renamed = alice
        .update_conversation(id, &update(Some("Renamed"), Some("New topic")))
        .await
        .expect("owner");
    assert_eq!(
        (renamed.name.as_deref(), renamed.topic.as_deref()),
        (Some("Renamed"), Some("New topic"))
    );
    let by_admin = carol
        .update_conversation(id, &update(None, Some("Admin topic")))
        .await
        .expect("admin");
    assert_eq!(
        (by_admin.name.as_deref(), by_admin.topic.as_deref()),
        (Some("Renamed"), Some("Admin topic")),
        "name kept"
    );

    let (status, code) = api_error(
        bob.update_conversation(id, &update(Some("Mine now"), None))
            .await,
    );
    assert_eq!((status, code.as_str()), (403, "forbidden"));
    let (status, code) = api_error(
        alice
            .update_conversation(id, &update(Some("   "), None))
            .await,
    );
    assert_eq!((status, code.as_str()), (400, "invalid"));
    let now = bob.conversation(id).await.unwrap().conversation;
    assert_eq!(
        (now.name.as_deref(), now.topic.as_deref()),
        (Some("Renamed"), Some("Admin topic")),
        "refusals change nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_members_follows_roles() {
    let server = TestServer::spawn();
    let (alice, _) = user(&server, "alice").await;
    let (bob, bob_user) = user(&server, "bob").await;
    let (carol, carol_user) = user(&server, "carol").await;
    let (dave, dave_user) = user(&server, "dave").await;
    let (_erin, erin_user) = user(&server, "erin").await;
    let (_frank, frank_user) = user(&server, "frank").await;
    let id = alice
        .create_group("g", None, &[bob_user.id, carol_user.id])
        .await
        .unwrap()
        .conversation
        .id;
    alice
        .update_member_role(id, carol_user.id, "admin")
        .await
        .expect("promote carol");

    // An admin adds a member (201).
    let added = raw_json(
        &carol,
        Method::POST,
        &format!("/conversations/{id}/members"),
        Some(json!({"user_id": dave_user.id})),
    )
    .await;
    assert_eq!(added.status, 201);
    let added: MemberView = added.json().unwrap();
    assert_eq!(
        (added.user_id, added.role.as_str()),
        (dave_user.id, "member")
    );
    assert!(
        dave.conversation(id).await.is_ok(),
        "the new member sees it at once"
    );

    let (status, code) = api_error(carol.add_member(id, erin_user.id, Some("admin")).await);
    assert_eq!(
        (status, code.as_str()),
        (403, "forbidden"),
        "an admin cannot add an admin"
    );
    let (status, code) = api_error(bob.add_member(id, frank_user.id, None).await);
    assert_eq!(
        (status, code.as_str()),
        (403, "forbidden"),
        "a member cannot add anyone"
    );
    let (status, code) = api_error(alice.add_member(id, dave_user.id, None).await);
    assert_eq!(
        (status, code.as_str()),
        (409, "conflict"),
        "already a member"
    );
    let (status, code) = api_error(alice.add_member(id, Uuid::now_v7(), None).await);
    assert_eq!((status, code.as_str()), (400, "invalid"), "unknown user");
    let (status, code) = api_error(alice.add_member(id, frank_user.id, Some("owner")).await);
    assert_eq!(
        (status, code.as_str()),
        (403, "forbidden"),
        "there is one owner"
    );
    let (status, code) = api_error(alice.add_member(id, frank_user.id, Some("emperor")).await);
    assert_eq!((status, code.as_str()), (400, "invalid"), "unknown role");

    let erin = alice
        .add_member(id, erin_user.id, Some("admin"))
        .await
        .expect("the owner adds an admin");
    assert_eq!(erin.role, "admin");
    let members = members_of(&alice, id).await;
    assert_eq!(members.len(), 5, "{members:?}");
    assert_eq!(role_of(&members, frank_user.id), None);
    assert_eq!(
        alice
            .conversation(id)
            .await
            .unwrap()
            .conversation
            .member_count,
        5
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_owner_sets_roles() {
    let server = TestServer::spawn();
    let (alice, alice_user) = user(&server, "alice").await;
    let (bob, bob_user) = user(&server, "bob").await;
    let (carol, carol_user) = user(&server, "carol").await;
    let id = alice
        .create_group("g", None, &[bob_user.id, carol_user.id])
        .await
        .unwrap()
        .conversation
        .id;

    let promoted = alice
        .update_member_role(id, carol_user.id, "admin")
        .await
        .expect("owner promotes");
    assert_eq!(promoted.role, "admin");
    let (status, code) = api_error(carol.update_member_role(id, bob_user.id, "admin").await);
    assert_eq!(
        (status, code.as_str()),
        (403, "forbidden"),
        "an admin cannot change roles"
    );
    let (status, code) = api_error(bob.update_member_role(id, bob_user.id, "admin").await);
    assert_eq!(
        (status, code.as_str()),
        (403, "forbidden"),
        "nor a member, not even their own"
    );
    let (status, code) = api_error(alice.update_member_role(id, alice_user.id, "member").await);
    assert_eq!(
        (status, code.as_str()),
        (403, "forbidden"),
        "the owner's own role cannot change"
    );
    let (status, code) = api_error(alice.update_member_role(id, bob_user.id, "owner").await);
    assert_eq!(
        (status, code.as_str()),
        (403, "forbidden"),
        "ownership is not handed out by role change"
    );
    let (status, code) = api_error(alice.update_member_role(id, Uuid::now_v7(), "admin").await);
    assert_eq!((status, code.as_str()), (404, "not_found"), "not a member");

    let demoted = alice
        .update_member_role(id, carol_user.id, "member")
        .await
        .expect("owner demotes");
    assert_eq!(demoted.role, "member");
    let members = members_of(&bob, id).await;
    assert_eq!(role_of(&members, alice_user.id), Some("owner"));
    assert_eq!(role_of(&members, bob_user.id), Some("member"));
    assert_eq!(role_of(&members, carol_user.id), Some("member"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_and_leaving() {
    let server = TestServer::spawn();
    let (alice, _) = user(&server, "alice").await;
    let (bob, bob_user) = user(&server, "bob").await;
    let (carol, carol_user) = user(&server, "carol").await;
    let (dave, dave_user) = user(&server, "dave").await;
    let id = alice
        .create_group("g", None, &[bob_user.id, carol_user.id, dave_user.id])
        .await
        .unwrap()
        .conversation
        .id;
    alice
        .update_member_role(id, carol_user.id, "admin")
        .await
        .unwrap();

    let (status, code) = api_error(dave.remove_member(id, carol_user.id).await);
    assert_eq!(
        (status, code.as_str()),
        (403, "forbidden"),
        "a member cannot remove an admin"
    );
    let (status, _) = api_error(dave.remove_member(id, bob_user.id).await);
    assert_eq!(status, 403, "nor another member");

    let removed = raw_json(
        &carol,
        Method::DELETE,
        &format!("/conversations/{id}/members/{}", bob_user.id),
        None,
    )
    .await;
    assert_eq!(removed.status, 204, "an admin removes a member");
    assert_eq!(
        api_error(bob.conversation(id).await),
        (404, "not_found".to_owned())
    );
    let (status, code) = api_error(carol.remove_member(id, bob_user.id).await);
    assert_eq!((status, code.as_str()), (404, "not_found"), "already gone");

    dave.remove_member(id, dave_user.id)
        .await
        .expect("a member leaves");
    assert_eq!(api_error(dave.members(id).await).0, 404);
    assert!(
        dave.conversations(None, None)
            .await
            .unwrap()
            .conversations
            .is_empty()
    );

    let members = members_of(&alice, id).await;
    let mut left: Vec<Uuid> = members.iter().map(|m| m.user_id).collect();
    left.sort();
    let mut expected = vec![carol_user.id, alice.me().await.unwrap().id];
    expected.sort();
    assert_eq!(left, expected);
    assert_eq!(
        alice
            .conversation(id)
            .await
            .unwrap()
            .conversation
            .member_count,
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_who_leaves_hands_over_to_the_longest_standing_admin() {
    let server = TestServer::spawn();
    let (alice, alice_user) = user(&server, "alice").await;
    let (bob, bob_user) = user(&server, "bob").await;
    let (_carol, carol_user) = user(&server, "carol").await;
    let (_dave, dave_user) = user(&server, "dave").await;
    // Joining order: alice, bob, carol, dave. Dave is promoted first, but carol joined earlier.
    let id = alice
        .create_group("g", None, &[bob_user.id, carol_user.id, dave_user.id])
        .await
        .unwrap()
        .conversation
        .id;
    alice
        .update_member_role(id, dave_user.id, "admin")
        .await
        .unwrap();
    alice
        .update_member_role(id, carol_user.id, "admin")
        .await
        .unwrap();

    alice
        .remove_member(id, alice_user.id)
        .await
        .expect("the owner leaves");
    let members = members_of(&bob, id).await;
    assert_eq!(role_of(&members, alice_user.id), None);
    assert_eq!(
        role_of(&members, carol_user.id),
        Some("owner"),
        "{members:?}"
    );
    assert_eq!(role_of(&members, dave_user.id), Some("admin"));
    assert_eq!(role_of(&members, bob_user.id), Some("member"));
    assert_eq!(members.iter().filter(|m| m.role == "owner").count(), 1);
    assert_eq!(api_error(alice.conversation(id).await).0, 404);

    // Without admins, the longest-standing member inherits.
    let (erin, erin_user) = user(&server, "erin").await;
    let id = erin
        .create_group("h", None, &[bob_user.id, dave_user.id])
        .await
        .unwrap()
        .conversation
        .id;
    erin.remove_member(id, erin_user.id).await.expect("leave");
    assert_eq!(
        role_of(&members_of(&bob, id).await, bob_user.id),
        Some("owner")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn muting_is_per_member() {
    let server = TestServer::spawn();
    let (alice, alice_user) = user(&server, "alice").await;
    let (bob, bob_user) = user(&server, "bob").await;
    let id = alice
        .create_group("g", None, &[bob_user.id])
        .await
        .unwrap()
        .conversation
        .id;
    let muted = bob.set_muted(id, true).await.expect("mute");
    assert!(muted.muted);
    assert_eq!(muted.user_id, bob_user.id);
    assert!(bob.conversation(id).await.unwrap().me.muted);
    assert!(
        !alice.conversation(id).await.unwrap().me.muted,
        "only for bob"
    );
    let members = members_of(&alice, id).await;
    assert!(
        members
            .iter()
            .find(|m| m.user_id == bob_user.id)
            .unwrap()
            .muted
    );
    assert!(
        !members
            .iter()
            .find(|m| m.user_id == alice_user.id)
            .unwrap()
            .muted
    );
    assert!(!bob.set_muted(id, false).await.unwrap().muted);
    assert!(!bob.conversation(id).await.unwrap().me.muted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_returns_what_changed_since_the_cursor() {
    let server = TestServer::spawn();
    let (alice, _) = user(&server, "alice").await;
    let (bob, bob_user) = user(&server, "bob").await;
    let alice_id = alice.me().await.unwrap().id;
    let one = alice
        .create_group("one", None, &[bob_user.id])
        .await
        .unwrap()
        .conversation
        .id;
    let two = bob
        .create_group("two", None, &[alice_id])
        .await
        .unwrap()
        .conversation
        .id;

    let all = alice.sync(None).await.expect("sync");
    let mut changed: Vec<Uuid> = all.changed.iter().map(|s| s.conversation.id).collect();
    changed.sort();
    let mut expected = vec![one, two];
    expected.sort();
    assert_eq!(changed, expected);
    assert!(all.removed.is_empty());
    assert_eq!(
        alice.sync(Some(0)).await.unwrap().changed.len(),
        2,
        "since=0 is everything"
    );

    let quiet = alice.sync(Some(all.cursor)).await.expect("sync");
    assert!(
        quiet.changed.is_empty() && quiet.removed.is_empty(),
        "{quiet:?}"
    );
    assert!(quiet.cursor >= all.cursor);

    bob.send_text(one, "news").await.unwrap();
    let delta = alice.sync(Some(quiet.cursor)).await.expect("sync");
    assert_eq!(
        delta
            .changed
            .iter()
            .map(|s| s.conversation.id)
            .collect::<Vec<_>>(),
        vec![one]
    );
    let summary = &delta.changed[0];
    assert_eq!(
        summary.last_message.as_ref().map(|m| m.text.as_str()),
        Some("news")
    );
    assert_eq!(summary.unread_count, 1);
    assert!(delta.removed.is_empty());
    assert!(delta.cursor > quiet.cursor);

    bob.remove_member(two, alice_id)
        .await
        .expect("bob removes alice");
    let after_removal = alice.sync(Some(delta.cursor)).await.expect("sync");
    assert_eq!(after_removal.removed, vec![two]);
    assert!(
        after_removal
            .changed
            .iter()
            .all(|s| s.conversation.id != two),
        "{after_removal:?}"
    );
    let full = alice.sync(None).await.unwrap();
    assert!(full.changed.iter().all(|s| s.conversation.id != two));
    assert!(full.removed.contains(&two));
}

/// Every per-conversation route a non-member might try, with a body where one is needed.
fn probes(conversation: Uuid, someone: Uuid) -> Vec<(Method, String, Option<serde_json::Value>)> {
    let c = format!("/conversations/{conversation}");
    vec![
        (Method::GET, c.clone(), None),
        (
            Method::PATCH,
            c.clone(),
            Some(json!({"name": "taken over"})),
        ),
        (Method::GET, format!("{c}/members"), None),
        (
            Method::POST,
            format!("{c}/members"),
            Some(json!({"user_id": someone})),
        ),
        (Method::DELETE, format!("{c}/members/{someone}"), None),
        (
            Method::PUT,
            format!("{c}/mute"),
            Some(json!({"muted": true})),
        ),
        (Method::GET, format!("{c}/messages"), None),
        (Method::GET, format!("{c}/messages?after=0"), None),
        (
            Method::POST,
            format!("{c}/messages"),
            Some(json!({"client_msg_id": "intruder-1", "text": "hi"})),
        ),
        (
            Method::PATCH,
            format!("{c}/messages/1"),
            Some(json!({"text": "edited"})),
        ),
        (Method::DELETE, format!("{c}/messages/1"), None),
        (
            Method::PUT,
            format!("{c}/messages/1/reactions/%F0%9F%91%8D"),
            None,
        ),
        (
            Method::DELETE,
            format!("{c}/messages/1/reactions/%F0%9F%91%8D"),
            None,
        ),
        (Method::POST, format!("{c}/read"), Some(json!({"seq": 1}))),
        (
            Method::POST,
            format!("{c}/delivered"),
            Some(json!({"seq": 1})),
        ),
        (Method::POST, format!("{c}/typing"), None),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_members_get_the_same_404_as_for_nothing() {
    let server = TestServer::spawn();
    let (alice, _) = user(&server, "alice").await;
    let (_bob, bob_user) = user(&server, "bob").await;
    let (mallory, _) = user(&server, "mallory").await;
    let real = alice
        .create_group("secret", None, &[bob_user.id])
        .await
        .unwrap()
        .conversation
        .id;
    let direct = alice
        .create_direct(bob_user.id)
        .await
        .unwrap()
        .conversation
        .id;
    alice.send_text(real, "the plan").await.unwrap();
    alice.send_text(direct, "psst").await.unwrap();
    let missing = Uuid::now_v7();

    for target in [real, direct] {
        for ((method, path, body), (_, missing_path, _)) in probes(target, bob_user.id)
            .into_iter()
            .zip(probes(missing, bob_user.id))
        {
            let found = raw_json(&mallory, method.clone(), &path, body.clone()).await;
            let nothing = raw_json(&mallory, method.clone(), &missing_path, body).await;
            assert_eq!(
                found.status,
                404,
                "{method} {path}: {}",
                String::from_utf8_lossy(&found.body)
            );
            assert_eq!(
                found.error_body().expect("ErrorBody").code,
                "not_found",
                "{method} {path}"
            );
            assert_eq!(
                found.body, nothing.body,
                "{method} {path} must not differ from a missing conversation"
            );
            assert_eq!(nothing.status, 404);
        }
    }
    // Mallory changed nothing.
    for target in [real, direct] {
        let messages = all_messages(&alice, target).await;
        assert_eq!(messages.len(), 1);
        assert!(
            messages[0].edited_at_ms.is_none()
                && !messages[0].deleted
                && messages[0].reactions.is_empty()
        );
    }
    let group = alice.conversation(real).await.unwrap().conversation;
    assert_eq!(
        (group.name.as_deref(), group.member_count),
        (Some("secret"), 2)
    );
    assert!(
        mallory
            .conversations(None, None)
            .await
            .unwrap()
            .conversations
            .is_empty()
    );
    assert!(mallory.sync(None).await.unwrap().changed.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_member_loses_access_at_once() {
    let server = TestServer::spawn();
    let (alice, _) = user(&server, "alice").await;
    let (bob, bob_user) = user(&server, "bob").await;
    let id = alice
        .create_group("g", None, &[bob_user.id])
        .await
        .unwrap()
        .conversation
        .id;
    bob.send_text(id, "I am in").await.expect("bob can send");
    assert_eq!(all_messages(&bob, id).await.len(), 1);

    alice
        .remove_member(id, bob_user.id)
        .await
        .expect("remove bob");
    let history = raw_json(
        &bob,
        Method::GET,
        &format!("/conversations/{id}/messages"),
        None,
    )
    .await;
    assert_eq!(
        (history.status, history.error_body().unwrap().code.as_str()),
        (404, "not_found")
    );
    let (status, code) = api_error(bob.send_text(id, "still here?").await);
    assert_eq!((status, code.as_str()), (404, "not_found"));
    assert_eq!(api_error(bob.conversation(id).await).0, 404);
    assert_eq!(api_error(bob.members(id).await).0, 404);
    assert_eq!(api_error(bob.mark_read(id, 1).await).0, 404);
    assert_eq!(
        all_messages(&alice, id).await.len(),
        1,
        "the refused send created nothing"
    );

    // Added back, access returns (and history from before is readable again).
    alice
        .add_member(id, bob_user.id, None)
        .await
        .expect("re-add");
    assert_eq!(all_messages(&bob, id).await.len(), 1);
}
