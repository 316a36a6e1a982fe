//! Live events over WebSocket sessions: every device of every member gets every event of its
//! conversations; non-members and removed members get nothing and are refused with `not_found`;
//! a repeated `client_msg_id` yields one message and one event.

use std::time::Duration;

use natter_sdk::protocol::{HistoryParams, ServerFrame, UpdateConversationRequest};
use natter_sdk::{Client, Session};
use uuid::Uuid;

use crate::server::TestServer;
use crate::support::{assert_no_event, collect_new_messages, expect_event, user};

const WAIT: Duration = Duration::from_secs(10);

/// Waits on every session for the first event `pick` accepts.
async fn all_get<T>(sessions: &[&Session], pick: impl Fn(&ServerFrame) -> Option<T>) -> Vec<T> {
    let mut out = Vec::new();
    for (i, session) in sessions.iter().enumerate() {
        let found = tokio::time::timeout(
            WAIT + Duration::from_secs(1),
            expect_event(session, WAIT, &pick),
        )
        .await
        .unwrap_or_else(|_| panic!("session {i} did not get the event"));
        out.push(found);
    }
    out
}

/// The conversation an event belongs to, if any.
pub fn conversation_of(frame: &ServerFrame) -> Option<Uuid> {
    match frame {
        ServerFrame::MessageNew { message } | ServerFrame::MessageUpdated { message } => {
            Some(message.conversation_id)
        }
        ServerFrame::Conversation { summary } => Some(summary.conversation.id),
        ServerFrame::ConversationUpdated { conversation }
        | ServerFrame::MemberAdded { conversation, .. } => Some(conversation.id),
        ServerFrame::ConversationRemoved { conversation_id }
        | ServerFrame::MemberRemoved {
            conversation_id, ..
        }
        | ServerFrame::Receipt {
            conversation_id, ..
        }
        | ServerFrame::Typing {
            conversation_id, ..
        } => Some(*conversation_id),
        ServerFrame::MemberUpdated { member } => Some(member.conversation_id),
        _ => None,
    }
}

/// A second device of the user `client` is logged in as.
async fn second_device(server: &TestServer, client: &Client) -> Client {
    let me = client.me().await.expect("me");
    let device = server.client();
    device
        .login(&me.username, "correct horse battery staple")
        .await
        .expect("login second device");
    device
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_device_of_every_member_gets_every_event() {
    let server = TestServer::spawn();
    let (alice, alice_user) = user(&server, "alice").await;
    let (bob, bob_user) = user(&server, "bob").await;
    let (carol, carol_user) = user(&server, "carol").await;
    let alice2 = second_device(&server, &alice).await;

    let direct = alice
        .create_direct(bob_user.id)
        .await
        .expect("direct")
        .conversation
        .id;
    let group = alice
        .create_group("trio", None, &[bob_user.id, carol_user.id])
        .await
        .expect("group")
        .conversation
        .id;

    let a1 = alice.connect().await.expect("a1");
    let a2 = alice2.connect().await.expect("a2");
    let b = bob.connect().await.expect("b");
    let c = carol.connect().await.expect("c");

    // message.new over WS in the direct chat: both of alice's devices (the sender's other
    // device included) and bob.
    let sent = a1
        .send(direct, natter_sdk::new_client_msg_id(), "hi bob")
        .await
        .expect("ws send");
    assert_eq!(sent.seq, 1);
    for got in all_get(&[&a1, &a2, &b], |e| match e {
        ServerFrame::MessageNew { message } if message.conversation_id == direct => {
            Some(message.clone())
        }
        _ => None,
    })
    .await
    {
        assert_eq!(
            (got.id.as_str(), got.seq, got.text.as_str()),
            (sent.id.as_str(), 1, "hi bob")
        );
        assert_eq!(got.sender_id, alice_user.id);
    }

    // message.new over REST in the group: all four sessions.
    let rest_sent = bob.send_text(group, "hello trio").await.expect("rest send");
    for got in all_get(&[&a1, &a2, &b, &c], |e| match e {
        ServerFrame::MessageNew { message } if message.conversation_id == group => {
            Some(message.clone())
        }
        _ => None,
    })
    .await
    {
        assert_eq!(got.id, rest_sent.id);
        assert_eq!(got.text, "hello trio");
    }

    // message.updated for edit, react, delete.
    bob.edit_message(group, rest_sent.seq, "hello trio (edited)")
        .await
        .expect("edit");
    for got in all_get(&[&a1, &a2, &b, &c], |e| match e {
        ServerFrame::MessageUpdated { message } if message.conversation_id == group => {
            Some(message.clone())
        }
        _ => None,
    })
    .await
    {
        assert_eq!(got.text, "hello trio (edited)");
        assert!(got.edited_at_ms.is_some());
    }
    c.react(group, rest_sent.seq, "👍")
        .await
        .expect("react over ws");
    for got in all_get(&[&a1, &a2, &b, &c], |e| match e {
        ServerFrame::MessageUpdated { message } if message.conversation_id == group => {
            Some(message.clone())
        }
        _ => None,
    })
    .await
    {
        assert_eq!(got.reactions.len(), 1);
        assert_eq!(got.reactions[0].emoji, "👍");
        assert_eq!(got.reactions[0].user_ids, vec![carol_user.id]);
    }
    b.delete(group, rest_sent.seq)
        .await
        .expect("delete over ws");
    for got in all_get(&[&a1, &a2, &b, &c], |e| match e {
        ServerFrame::MessageUpdated { message } if message.conversation_id == group => {
            Some(message.clone())
        }
        _ => None,
    })
    .await
    {
        assert!(got.deleted);
        assert_eq!(got.text, "");
    }

    // receipts (read over WS, delivered over REST).
    b.read(group, rest_sent.seq).await.expect("read");
    for (user_id, read_seq) in all_get(&[&a1, &a2, &b, &c], |e| match e {
        ServerFrame::Receipt {
            conversation_id,
            user_id,
            read_seq,
            ..
        } if *conversation_id == group => Some((*user_id, *read_seq)),
        _ => None,
    })
    .await
    {
        assert_eq!((user_id, read_seq), (bob_user.id, rest_sent.seq));
    }
    carol
        .mark_delivered(group, rest_sent.seq)
        .await
        .expect("delivered");
    for (user_id, delivered_seq) in all_get(&[&a1, &a2, &b, &c], |e| match e {
        ServerFrame::Receipt {
            conversation_id,
            user_id,
            delivered_seq,
            ..
        } if *conversation_id == group => Some((*user_id, *delivered_seq)),
        _ => None,
    })
    .await
    {
        assert_eq!((user_id, delivered_seq), (carol_user.id, rest_sent.seq));
    }

    // typing (over WS) reaches the other members with an expiry.
    c.typing(group).await.expect("typing");
    for (user_id, expires) in all_get(&[&a1, &a2, &b], |e| match e {
        ServerFrame::Typing {
            conversation_id,
            user_id,
            expires_in_ms,
        } if *conversation_id == group => Some((*user_id, *expires_in_ms)),
        _ => None,
    })
    .await
    {
        assert_eq!(user_id, carol_user.id);
        assert!(
            expires > 0,
            "typing expires_in_ms must be positive, got {expires}"
        );
    }

    // member.updated (role).
    alice
        .update_member_role(group, bob_user.id, "admin")
        .await
        .expect("promote");
    for member in all_get(&[&a1, &a2, &b, &c], |e| match e {
        ServerFrame::MemberUpdated { member } if member.conversation_id == group => {
            Some(member.clone())
        }
        _ => None,
    })
    .await
    {
        assert_eq!(
            (member.user_id, member.role.as_str()),
            (bob_user.id, "admin")
        );
    }

    // conversation.updated.
    let rename = UpdateConversationRequest {
        name: Some("renamed trio".into()),
        topic: Some("news".into()),
    };
    alice
        .update_conversation(group, &rename)
        .await
        .expect("rename");
    for conversation in all_get(&[&a1, &a2, &b, &c], |e| match e {
        ServerFrame::ConversationUpdated { conversation } if conversation.id == group => {
            Some(conversation.clone())
        }
        _ => None,
    })
    .await
    {
        assert_eq!(conversation.name.as_deref(), Some("renamed trio"));
        assert_eq!(conversation.topic.as_deref(), Some("news"));
    }

    // member.removed: everyone, the removed member included.
    alice
        .remove_member(group, carol_user.id)
        .await
        .expect("remove carol");
    for (user_id, by) in all_get(&[&a1, &a2, &b, &c], |e| match e {
        ServerFrame::MemberRemoved {
            conversation_id,
            user_id,
            by,
        } if *conversation_id == group => Some((*user_id, *by)),
        _ => None,
    })
    .await
    {
        assert_eq!((user_id, by), (carol_user.id, alice_user.id));
    }

    // member.added: everyone, the new member included, who then gets the group's messages
    // on the same connection.
    alice
        .add_member(group, carol_user.id, None)
        .await
        .expect("add carol back");
    for (member, conversation) in all_get(&[&a1, &a2, &b, &c], |e| match e {
        ServerFrame::MemberAdded {
            conversation,
            member,
            ..
        } if conversation.id == group => Some((member.clone(), conversation.clone())),
        _ => None,
    })
    .await
    {
        assert_eq!(member.user_id, carol_user.id);
        assert_eq!(conversation.name.as_deref(), Some("renamed trio"));
    }
    let after_add = a2
        .send(group, natter_sdk::new_client_msg_id(), "welcome back")
        .await
        .expect("send");
    for got in all_get(&[&a1, &a2, &b, &c], |e| match e {
        ServerFrame::MessageNew { message } if message.conversation_id == group => {
            Some(message.clone())
        }
        _ => None,
    })
    .await
    {
        assert_eq!(got.id, after_add.id);
    }
    assert_eq!(c.reconnects(), 0, "carol got it without reconnecting");

    // user.updated reaches contacts (and the user's own devices).
    bob.update_profile("Bobby").await.expect("rename bob");
    for user in all_get(&[&a1, &a2, &b, &c], |e| match e {
        ServerFrame::UserUpdated { user } if user.id == bob_user.id => Some(user.clone()),
        _ => None,
    })
    .await
    {
        assert_eq!(user.display_name, "Bobby");
    }

    for session in [&a1, &a2, &b, &c] {
        assert_eq!(session.gaps_seen(), 0);
        session.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_follows_the_last_connection_of_a_contact() {
    let server = TestServer::spawn();
    let (alice, alice_user) = user(&server, "alice").await;
    let (bob, bob_user) = user(&server, "bob").await;
    let (stranger, stranger_user) = user(&server, "stranger").await;
    // Bob opens it, so alice may see his presence (an unsolicited one would not show it).
    bob.create_direct(alice_user.id).await.expect("direct");
    let a = alice.connect().await.expect("alice session");

    let bob1 = bob.connect().await.expect("bob device 1");
    let online = expect_event(&a, WAIT, |e| match e {
        ServerFrame::Presence {
            user_id, online, ..
        } if *user_id == bob_user.id => Some(*online),
        _ => None,
    })
    .await;
    assert!(online, "bob connecting makes him online");

    // A second connection, then closing only one: still online (no offline event).
    let bob2 = bob.connect().await.expect("bob device 2");
    bob1.close().await;
    assert_no_event(&a, Duration::from_millis(500), |e| {
        matches!(e, ServerFrame::Presence { user_id, online: false, .. } if *user_id == bob_user.id)
    })
    .await;

    let before_close = now_ms();
    bob2.close().await;
    let (online, last_seen) = expect_event(&a, WAIT, |e| match e {
        ServerFrame::Presence {
            user_id,
            online: false,
            last_seen_ms,
        } if *user_id == bob_user.id => Some((false, *last_seen_ms)),
        ServerFrame::Presence {
            user_id,
            online: true,
            ..
        } if *user_id == bob_user.id => Some((true, None)),
        _ => None,
    })
    .await;
    assert!(!online, "the last connection closing makes bob offline");
    let last_seen = last_seen.expect("offline presence carries last_seen_ms");
    assert!(
        last_seen >= before_close - 5_000 && last_seen <= now_ms() + 5_000,
        "last_seen_ms {last_seen} is now-ish"
    );

    // Someone who shares no conversation with alice: she hears nothing of them.
    let s = stranger.connect().await.expect("stranger");
    stranger.update_profile("Mysterious").await.expect("rename");
    assert_no_event(&a, Duration::from_millis(500), |e| match e {
        ServerFrame::Presence { user_id, .. } => *user_id == stranger_user.id,
        ServerFrame::UserUpdated { user } => user.id == stranger_user.id,
        _ => false,
    })
    .await;
    s.close().await;
    a.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_within_the_presence_grace_announces_nothing() {
    // A grace far longer than the test, so the reconnect is within it however slow the machine.
    let server =
        TestServer::spawn_with_env(&[], &[("NATTER__LIMITS__PRESENCE_GRACE_MS", "600000")]);
    let (alice, alice_user) = user(&server, "alice").await;
    let (bob, bob_user) = user(&server, "bob").await;
    bob.create_direct(alice_user.id).await.expect("direct");
    let a = alice.connect().await.expect("alice session");
    let bob1 = bob.connect().await.expect("bob");
    expect_event(&a, WAIT, |e| match e {
        ServerFrame::Presence {
            user_id,
            online: true,
            ..
        } if *user_id == bob_user.id => Some(()),
        _ => None,
    })
    .await;

    // Bob's only connection drops and a new one opens: alice hears nothing of it.
    bob1.close().await;
    let bob2 = bob.connect().await.expect("bob again");
    assert_no_event(
        &a,
        Duration::from_millis(1_000),
        |e| matches!(e, ServerFrame::Presence { user_id, .. } if *user_id == bob_user.id),
    )
    .await;
    // And he reads as online all along.
    let seen = alice.user(bob_user.id).await.expect("bob's profile");
    assert_eq!(seen.online, Some(true));
    bob2.close().await;
    a.close().await;
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_members_are_refused_and_see_nothing() {
    let server = TestServer::spawn();
    let (alice, _) = user(&server, "alice").await;
    let (bob, bob_user) = user(&server, "bob").await;
    let (eve, _) = user(&server, "eve").await;
    let group = alice
        .create_group("private", None, &[bob_user.id])
        .await
        .expect("group")
        .conversation
        .id;
    let first = alice.send_text(group, "secret").await.expect("send");

    let e = eve.connect().await.expect("eve session");
    let b = bob.connect().await.expect("bob session");

    let cmid = natter_sdk::new_client_msg_id();
    let refused = [
        (
            "send",
            e.send(group, cmid.clone(), "let me in").await.map(|_| ()),
        ),
        (
            "history",
            e.history(group, HistoryParams::default()).await.map(|_| ()),
        ),
        ("read", e.read(group, first.seq).await.map(|_| ())),
        ("delivered", e.delivered(group, first.seq).await.map(|_| ())),
        ("typing", e.typing(group).await),
        ("react", e.react(group, first.seq, "👀").await.map(|_| ())),
        (
            "edit",
            e.edit(group, first.seq, "mine now").await.map(|_| ()),
        ),
        ("delete", e.delete(group, first.seq).await.map(|_| ())),
    ];
    for (what, result) in refused {
        let err = result.expect_err(what);
        assert_eq!(err.code(), Some("not_found"), "{what}: {err}");
    }
    // A conversation that does not exist answers the same way (nothing leaks).
    let err = e
        .send(Uuid::now_v7(), natter_sdk::new_client_msg_id(), "x")
        .await
        .expect_err("unknown conversation");
    assert_eq!(err.code(), Some("not_found"));

    // Nothing changed.
    let history = crate::support::all_messages(&alice, group).await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].text, "secret");
    assert!(history[0].reactions.is_empty());

    // Activity in the group: bob sees it, eve sees none of it.
    for i in 0..5 {
        alice
            .send_text(group, &format!("m{i}"))
            .await
            .expect("send");
    }
    alice
        .update_conversation(
            group,
            &UpdateConversationRequest {
                name: Some("x".into()),
                topic: None,
            },
        )
        .await
        .expect("rename");
    collect_new_messages(&b, group, 5, WAIT).await;
    expect_event(&b, WAIT, |ev| {
        matches!(ev, ServerFrame::ConversationUpdated { .. }).then_some(())
    })
    .await;
    assert_no_event(&e, Duration::from_millis(500), |ev| {
        conversation_of(ev) == Some(group)
    })
    .await;
    e.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_member_stops_receiving_at_once() {
    let server = TestServer::spawn();
    let (alice, alice_user) = user(&server, "alice").await;
    let (bob, bob_user) = user(&server, "bob").await;
    let (carol, carol_user) = user(&server, "carol").await;
    let group = alice
        .create_group("g", None, &[bob_user.id, carol_user.id])
        .await
        .expect("group")
        .conversation
        .id;
    let b = bob.connect().await.expect("bob");
    let c = carol.connect().await.expect("carol");

    alice.send_text(group, "before").await.expect("send");
    collect_new_messages(&c, group, 1, WAIT).await;
    collect_new_messages(&b, group, 1, WAIT).await;

    alice
        .remove_member(group, carol_user.id)
        .await
        .expect("remove");
    let by = expect_event(&c, WAIT, |e| match e {
        ServerFrame::MemberRemoved {
            conversation_id,
            user_id,
            by,
        } if *conversation_id == group && *user_id == carol_user.id => Some(*by),
        _ => None,
    })
    .await;
    assert_eq!(by, alice_user.id);

    // Right after the removal: messages over REST and WS, an edit, a reaction, typing.
    let a = alice.connect().await.expect("alice");
    let mut sent = Vec::new();
    for i in 0..5 {
        sent.push(
            alice
                .send_text(group, &format!("after {i}"))
                .await
                .expect("send")
                .seq,
        );
        sent.push(
            a.send(
                group,
                natter_sdk::new_client_msg_id(),
                format!("ws after {i}"),
            )
            .await
            .expect("send")
            .seq,
        );
    }
    a.typing(group).await.expect("typing");
    a.react(group, 1, "🎉").await.expect("react");
    let got = collect_new_messages(&b, group, sent.len(), WAIT).await;
    assert_eq!(got.iter().map(|m| m.seq).collect::<Vec<_>>(), sent);
    expect_event(&b, WAIT, |e| {
        matches!(e, ServerFrame::MessageUpdated { .. }).then_some(())
    })
    .await;
    assert_no_event(&c, Duration::from_millis(700), |e| {
        conversation_of(e) == Some(group)
    })
    .await;

    // And carol's own commands are refused as for any non-member.
    let err = c
        .send(group, natter_sdk::new_client_msg_id(), "still here?")
        .await
        .expect_err("removed member send");
    assert_eq!(err.code(), Some("not_found"));
    let err = c
        .history(group, HistoryParams::default())
        .await
        .expect_err("removed member history");
    assert_eq!(err.code(), Some("not_found"));
    let err = c.typing(group).await.expect_err("removed member typing");
    assert_eq!(err.code(), Some("not_found"));
    assert_eq!(
        crate::support::all_messages(&alice, group).await.len(),
        1 + sent.len()
    );

    // After reconnecting, carol still gets nothing of the group.
    c.force_disconnect().await;
    c.wait_for_state(natter_sdk::ConnectionState::Connected, WAIT)
        .await
        .expect("reconnected");
    alice
        .send_text(group, "after reconnect")
        .await
        .expect("send");
    collect_new_messages(&b, group, 1, WAIT).await;
    assert_no_event(&c, Duration::from_millis(500), |e| {
        conversation_of(e) == Some(group) && !matches!(e, ServerFrame::ConversationRemoved { .. })
    })
    .await;
    for s in [&a, &b, &c] {
        s.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_client_msg_id_makes_one_message_and_one_event() {
    let server = TestServer::spawn();
    let (alice, _) = user(&server, "alice").await;
    let (bob, bob_user) = user(&server, "bob").await;
    let group = alice
        .create_group("g", None, &[bob_user.id])
        .await
        .expect("group")
        .conversation
        .id;
    let a = alice.connect().await.expect("alice");
    let b = bob.connect().await.expect("bob");

    let send = |cmid: &str, text: &str| {
        a.send_deduped(
            group,
            natter_sdk::protocol::SendMessageRequest {
                client_msg_id: cmid.to_owned(),
                text: text.to_owned(),
                reply_to_seq: None,
                mentions: Vec::new(),
                attachments: Vec::new(),
            },
        )
    };

    // WS twice.
    let cmid = natter_sdk::new_client_msg_id();
    let first = send(&cmid, "once").await.expect("first send");
    let second = send(&cmid, "once").await.expect("second send");
    let (first_msg, second_msg) = (first.message, second.message);
    assert!(!first.duplicate);
    assert!(second.duplicate, "the repeat is flagged as a duplicate");
    assert_eq!(
        (first_msg.id.as_str(), first_msg.seq),
        (second_msg.id.as_str(), second_msg.seq)
    );

    // WS then REST, with a different text (the original wins).
    let cmid2 = natter_sdk::new_client_msg_id();
    let over_ws = send(&cmid2, "ws first").await.expect("ws").message;
    let request = natter_sdk::protocol::SendMessageRequest {
        client_msg_id: cmid2.clone(),
        text: "rest second".into(),
        reply_to_seq: None,
        mentions: Vec::new(),
        attachments: Vec::new(),
    };
    let over_rest = alice.send_message(group, &request).await.expect("rest");
    assert_eq!(
        (over_rest.id.as_str(), over_rest.seq),
        (over_ws.id.as_str(), over_ws.seq)
    );
    assert_eq!(over_rest.text, "ws first");
    // REST first, then WS.
    let cmid3 = natter_sdk::new_client_msg_id();
    let request3 = natter_sdk::protocol::SendMessageRequest {
        client_msg_id: cmid3.clone(),
        ..request.clone()
    };
    let rest_first = alice.send_message(group, &request3).await.expect("rest");
    let ws_again = send(&cmid3, "again").await.expect("ws");
    assert!(ws_again.duplicate);
    assert_eq!(ws_again.message.seq, rest_first.seq);

    // One marker after them all; every member sees each message exactly once.
    let marker = alice.send_text(group, "marker").await.expect("marker");
    assert_eq!(marker.seq, 4, "three messages before the marker, no more");
    for session in [&a, &b] {
        let got = collect_new_messages(session, group, 4, WAIT).await;
        assert_eq!(
            got.iter().map(|m| m.seq).collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
        assert_eq!(
            got.iter()
                .map(|m| m.client_msg_id.as_str())
                .collect::<Vec<_>>(),
            vec![
                cmid.as_str(),
                cmid2.as_str(),
                cmid3.as_str(),
                marker.client_msg_id.as_str()
            ]
        );
        assert_no_event(session, Duration::from_millis(300), |e| {
            matches!(e, ServerFrame::MessageNew { .. })
        })
        .await;
    }
    assert_eq!(crate::support::all_messages(&alice, group).await.len(), 4);
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_skips_co_members_of_large_groups_only() {
    let server = TestServer::spawn();
    let (alice, _) = user(&server, "alice").await;
    let (bob, bob_user) = user(&server, "bob").await;
    let (peer, peer_user) = user(&server, "peer").await;
    // A group larger than the presence limit (100 members): alice, bob and 99 others.
    let mut others = Vec::new();
    for _ in 0..99 {
        others.push(user(&server, "crowd").await.1.id);
    }
    others.push(bob_user.id);
    alice
        .create_group("Town hall", None, &others)
        .await
        .expect("large group");
    bob.create_direct(peer_user.id).await.expect("direct");
    let a = alice.connect().await.expect("alice");
    let p = peer.connect().await.expect("peer");

    let _b = bob.connect().await.expect("bob");
    let online = expect_event(&p, WAIT, |e| match e {
        ServerFrame::Presence {
            user_id, online, ..
        } if *user_id == bob_user.id => Some(*online),
        _ => None,
    })
    .await;
    assert!(online, "a direct peer hears that bob is online");
    assert_no_event(
        &a,
        Duration::from_millis(700),
        |e| matches!(e, ServerFrame::Presence { user_id, .. } if *user_id == bob_user.id),
    )
    .await;
    // Alice can still ask: they share a conversation.
    let seen = alice
        .user(bob_user.id)
        .await
        .expect("bob as alice sees him");
    assert_eq!(seen.online, Some(true));
}

/// Typing indicators are throttled per user and conversation: extra ones are acknowledged and
/// dropped. The interval is long here, so the test does not depend on how fast the machine is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_is_published_once_per_interval_and_extra_ones_are_dropped() {
    let server = TestServer::spawn_with(&["--typing-interval-ms", "600000"]);
    let (alice, _) = user(&server, "alice").await;
    let (bob, bob_user) = user(&server, "bob").await;
    let (stranger, _) = user(&server, "stranger").await;
    let group = alice
        .create_group("g", None, &[bob_user.id])
        .await
        .expect("group")
        .conversation
        .id;
    let other = alice
        .create_group("h", None, &[bob_user.id])
        .await
        .expect("group")
        .conversation
        .id;
    let watcher = bob.connect().await.expect("connect");
    let typist = alice.connect().await.expect("connect");
    for _ in 0..3 {
        alice.typing(group).await.expect("REST typing");
        typist.typing(group).await.expect("WebSocket typing");
    }
    alice.typing(other).await.expect("another conversation");
    let (status, _) = crate::support::api_error(stranger.typing(group).await);
    assert_eq!(status, 404, "a non-member is refused, throttled or not");
    let (status, _) = crate::support::api_error(stranger.typing(group).await);
    assert_eq!(status, 404, "a non-member is refused, throttled or not");
    // A message after them: every typing event published before it has arrived by then.
    let last = alice.send_text(group, "done").await.expect("send");
    let mut typing = Vec::new();
    for _ in 0..20 {
        match watcher.next_event_timeout(WAIT).await.expect("event") {
            ServerFrame::Typing {
                conversation_id, ..
            } => typing.push(conversation_id),
            ServerFrame::MessageNew { message } if message.seq == last.seq => break,
            _ => {}
        }
    }
    assert_eq!(typing, vec![group, other], "one per conversation");
    watcher.close().await;
    typist.close().await;
}

/// A user may hold only so many sockets on a node; one more closes with 4010 after `hello`.
/// Every socket goes to the same node (in cluster mode too: the cap is per node).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_holds_at_most_the_configured_number_of_sockets() {
    use crate::support::{RawRead, RawWs, raw_read, raw_send};
    let server = TestServer::spawn_with(&["--ws-connections-per-user", "2"]);
    let (alice, _) = user(&server, "alice").await;
    let (bob, _) = user(&server, "bob").await;
    let url = server.node_client(0).websocket_url();
    let hello = |client: &Client| {
        serde_json::json!({"type": "hello", "id": "h", "token": client.access_token()}).to_string()
    };
    // The first answer to a hello on a fresh socket to node 0: the ack, or a close.
    let open = |hello: String| {
        let url = url.clone();
        async move {
            let (mut ws, _): (RawWs, _) =
                tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
                    .await
                    .expect("connect in time")
                    .expect("connect");
            raw_send(&mut ws, &hello).await;
            let answer = match raw_read(&mut ws, WAIT).await {
                RawRead::Frame(ServerFrame::Ack { .. }) => None,
                RawRead::Closed(code) => Some(code),
                other => panic!("unexpected {other:?}"),
            };
            (ws, answer)
        }
    };
    let (first, answer) = open(hello(&alice)).await;
    assert_eq!(answer, None, "admitted");
    let (_second, answer) = open(hello(&alice)).await;
    assert_eq!(answer, None, "admitted");
    let (_third, answer) = open(hello(&alice)).await;
    assert_eq!(answer, Some(Some(4010)), "one too many");
    // Another user is not affected.
    let (_bobs, answer) = open(hello(&bob)).await;
    assert_eq!(answer, None);
    // Once one closes, a new one is admitted (as soon as the server has seen the close).
    drop(first);
    let mut admitted = false;
    for _ in 0..100 {
        match open(hello(&alice)).await {
            (_, None) => {
                admitted = true;
                break;
            }
            (_, Some(Some(4010))) => tokio::task::yield_now().await,
            (_, other) => panic!("unexpected close {other:?}"),
        }
    }
    assert!(admitted, "a closed socket frees its place");
}

/// Muting is private: the member's other devices follow it live (`member.updated` to them
/// alone), the other members hear nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn muting_reaches_the_members_other_devices_and_no_one_else() {
    let server = TestServer::spawn();
    let (alice, alice_user) = user(&server, "alice").await;
    let (bob, bob_user) = user(&server, "bob").await;
    let group = alice
        .create_group("Quiet please", None, &[bob_user.id])
        .await
        .expect("group");
    let laptop = second_device(&server, &alice).await;
    let on_laptop = laptop.connect().await.expect("alice's laptop");
    let on_bobs = bob.connect().await.expect("bob");

    for muted in [true, false] {
        let answer = alice
            .set_muted(group.conversation.id, muted)
            .await
            .expect("mute");
        assert_eq!(answer.muted, muted);
        let seen = expect_event(&on_laptop, WAIT, |e| match e {
            ServerFrame::MemberUpdated { member }
                if member.conversation_id == group.conversation.id
                    && member.user_id == alice_user.id =>
            {
                Some(member.muted)
            }
            _ => None,
        })
        .await;
        assert_eq!(seen, muted, "the laptop follows");
    }
    assert_no_event(&on_bobs, Duration::from_millis(700), |e| {
        matches!(e, ServerFrame::MemberUpdated { .. })
    })
    .await;
}
