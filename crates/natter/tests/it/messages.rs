//! Messages over REST: idempotent sends, gap-free seqs, history paging, replies and mentions,
//! edits, soft deletes, reactions, read and delivered cursors, text limits and the send rate
//! limit.

use natter_sdk::protocol::{EditMessageRequest, HistoryParams, MessageView, SendMessageRequest};
use natter_sdk::{Client, Method, new_client_msg_id};
use serde_json::json;
use uuid::Uuid;

use crate::server::TestServer;
use crate::support::{all_messages, api_error, raw_json, user};

fn request(text: &str) -> SendMessageRequest {
    SendMessageRequest {
        client_msg_id: new_client_msg_id(),
        text: text.into(),
        reply_to_seq: None,
        mentions: Vec::new(),
        attachments: Vec::new(),
    }
}

async fn page(
    client: &Client,
    conversation: Uuid,
    before: Option<i64>,
    after: Option<i64>,
    limit: Option<u32>,
) -> Vec<i64> {
    let params = HistoryParams {
        before,
        after,
        limit,
    };
    client
        .history(conversation, &params)
        .await
        .expect("history")
        .messages
        .iter()
        .map(|m| m.seq)
        .collect()
}

/// Alice (owner), bob and carol in a group; returns their clients and ids and the group id.
struct Group {
    alice: Client,
    bob: Client,
    carol: Client,
    alice_id: Uuid,
    bob_id: Uuid,
    carol_id: Uuid,
    id: Uuid,
}

async fn group(server: &TestServer) -> Group {
    let (alice, alice_user) = user(server, "alice").await;
    let (bob, bob_user) = user(server, "bob").await;
    let (carol, carol_user) = user(server, "carol").await;
    let id = alice
        .create_group("g", None, &[bob_user.id, carol_user.id])
        .await
        .expect("group")
        .conversation
        .id;
    Group {
        alice,
        bob,
        carol,
        alice_id: alice_user.id,
        bob_id: bob_user.id,
        carol_id: carol_user.id,
        id,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_client_msg_id_returns_the_original() {
    let server = TestServer::spawn();
    let g = group(&server).await;
    let path = format!("/conversations/{}/messages", g.id);
    let body = json!({"client_msg_id": "retry-me-1", "text": "only once"});

    let first = raw_json(&g.alice, Method::POST, &path, Some(body.clone())).await;
    assert_eq!(first.status, 201);
    let first: MessageView = first.json().unwrap();
    assert_eq!(
        (first.seq, first.text.as_str(), first.sender_id),
        (1, "only once", g.alice_id)
    );
    assert_eq!(first.client_msg_id, "retry-me-1");

    let again = raw_json(&g.alice, Method::POST, &path, Some(body)).await;
    assert_eq!(again.status, 200, "a retry is not a new message");
    assert_eq!(
        again.json::<MessageView>().unwrap(),
        first,
        "identical: same id, seq, everything"
    );
    // Even with a different text, the key wins: the original comes back.
    let changed = raw_json(
        &g.alice,
        Method::POST,
        &path,
        Some(json!({"client_msg_id": "retry-me-1", "text": "other"})),
    )
    .await;
    assert_eq!(changed.status, 200);
    assert_eq!(changed.json::<MessageView>().unwrap(), first);

    // The key is per sender: bob using the same string gets his own message.
    let bobs = raw_json(
        &g.bob,
        Method::POST,
        &path,
        Some(json!({"client_msg_id": "retry-me-1", "text": "mine"})),
    )
    .await;
    assert_eq!(bobs.status, 201);
    assert_eq!(bobs.json::<MessageView>().unwrap().seq, 2);

    // And per conversation: the same key in another conversation is a new message there.
    let direct = g
        .alice
        .create_direct(g.bob_id)
        .await
        .expect("direct")
        .conversation
        .id;
    let elsewhere = raw_json(
        &g.alice,
        Method::POST,
        &format!("/conversations/{direct}/messages"),
        Some(json!({"client_msg_id": "retry-me-1", "text": "elsewhere"})),
    )
    .await;
    assert_eq!(elsewhere.status, 201);
    let elsewhere: MessageView = elsewhere.json().unwrap();
    assert_eq!(
        (
            elsewhere.conversation_id,
            elsewhere.seq,
            elsewhere.text.as_str()
        ),
        (direct, 1, "elsewhere")
    );

    let history = all_messages(&g.carol, g.id).await;
    assert_eq!(
        history
            .iter()
            .map(|m| (m.seq, m.text.as_str()))
            .collect::<Vec<_>>(),
        vec![(1, "only once"), (2, "mine")]
    );
    assert_eq!(history[0], first);
    assert_eq!(
        g.carol
            .conversation(g.id)
            .await
            .unwrap()
            .conversation
            .last_seq,
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seqs_are_gap_free_and_history_pages() {
    let server = TestServer::spawn();
    let g = group(&server).await;
    let senders = [&g.alice, &g.bob, &g.carol];
    for i in 1..=25 {
        let sent = senders[i % 3]
            .send_text(g.id, &format!("m{i}"))
            .await
            .expect("send");
        assert_eq!(sent.seq, i as i64, "seqs run 1, 2, 3... without gaps");
        assert_eq!(sent.mod_seq, i as i64, "no other change yet");
    }
    let all = all_messages(&g.bob, g.id).await;
    assert_eq!(
        all.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (1..=25).collect::<Vec<_>>()
    );
    assert!(
        all.iter()
            .enumerate()
            .all(|(i, m)| m.text == format!("m{}", i + 1))
    );

    let c = g.id;
    assert_eq!(
        page(&g.alice, c, None, None, Some(10)).await,
        (16..=25).collect::<Vec<_>>(),
        "latest page, ascending"
    );
    assert_eq!(
        page(&g.alice, c, None, None, None).await,
        (1..=25).collect::<Vec<_>>(),
        "default page holds all 25"
    );
    assert_eq!(
        page(&g.alice, c, Some(16), None, Some(10)).await,
        (6..=15).collect::<Vec<_>>(),
        "before"
    );
    assert_eq!(
        page(&g.alice, c, Some(4), None, Some(10)).await,
        vec![1, 2, 3],
        "before, near the start"
    );
    assert_eq!(
        page(&g.alice, c, None, Some(20), Some(10)).await,
        vec![21, 22, 23, 24, 25],
        "after"
    );
    assert_eq!(
        page(&g.alice, c, None, Some(0), Some(5)).await,
        vec![1, 2, 3, 4, 5],
        "after 0"
    );
    assert!(
        page(&g.alice, c, None, Some(25), None).await.is_empty(),
        "nothing after the last"
    );
    assert!(
        page(&g.alice, c, Some(1), None, None).await.is_empty(),
        "nothing before the first"
    );

    let both = HistoryParams {
        before: Some(10),
        after: Some(2),
        limit: None,
    };
    let (status, code) = api_error(g.alice.history(c, &both).await);
    assert_eq!((status, code.as_str()), (400, "invalid"));
    let bad = raw_json(
        &g.alice,
        Method::GET,
        &format!("/conversations/{c}/messages?before=abc"),
        None,
    )
    .await;
    assert_eq!(bad.status, 400);
    let unknown = raw_json(
        &g.alice,
        Method::GET,
        &format!("/conversations/{c}/messages?from=3"),
        None,
    )
    .await;
    assert_eq!(unknown.status, 400, "unknown query parameters are refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_need_an_existing_message_and_mentions_keep_only_members() {
    let server = TestServer::spawn();
    let g = group(&server).await;
    let (_outsider, outsider) = user(&server, "outsider").await;
    g.alice.send_text(g.id, "first").await.unwrap();

    let mut reply = request("re: first");
    reply.reply_to_seq = Some(1);
    let sent = g.bob.send_message(g.id, &reply).await.expect("reply");
    assert_eq!(sent.reply_to_seq, Some(1));

    for missing in [3, 99, 0, -1] {
        let mut bad = request("re: nothing");
        bad.reply_to_seq = Some(missing);
        let (status, code) = api_error(g.bob.send_message(g.id, &bad).await);
        assert_eq!(
            (status, code.as_str()),
            (400, "invalid"),
            "reply_to_seq {missing}"
        );
    }
    assert_eq!(
        all_messages(&g.alice, g.id).await.len(),
        2,
        "refused replies created nothing"
    );

    let mut mentioning = request("hey all");
    mentioning.mentions = vec![
        g.carol_id,
        outsider.id,
        g.alice_id,
        g.carol_id,
        Uuid::now_v7(),
    ];
    let sent = g.alice.send_message(g.id, &mentioning).await.expect("send");
    assert_eq!(
        sent.mentions,
        vec![g.carol_id],
        "non-members, the sender and duplicates are dropped"
    );
    assert_eq!(g.carol.conversation(g.id).await.unwrap().mention_count, 1);
    assert_eq!(g.bob.conversation(g.id).await.unwrap().mention_count, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_sender_edits() {
    let server = TestServer::spawn();
    let g = group(&server).await;
    let original = g.alice.send_text(g.id, "helo").await.unwrap();
    g.bob.send_text(g.id, "something else").await.unwrap();

    let (status, code) = api_error(g.bob.edit_message(g.id, 1, "hijacked").await);
    assert_eq!((status, code.as_str()), (403, "forbidden"));
    // The owner cannot edit others' words either.
    let (status, _) = api_error(g.alice.edit_message(g.id, 2, "hijacked").await);
    assert_eq!(status, 403);

    let edited = g
        .alice
        .edit_message_with(
            g.id,
            1,
            &EditMessageRequest {
                text: "hello @bob".into(),
                mentions: vec![g.bob_id],
            },
        )
        .await
        .expect("edit");
    assert_eq!(edited.text, "hello @bob");
    assert_eq!(edited.mentions, vec![g.bob_id]);
    assert!(edited.edited_at_ms.is_some());
    assert!(edited.edited_at_ms.unwrap() >= original.created_at_ms);
    assert!(
        edited.mod_seq > original.mod_seq && edited.mod_seq > 2,
        "mod_seq moves past every earlier change"
    );
    assert_eq!(
        (edited.id.as_str(), edited.seq, edited.created_at_ms),
        (original.id.as_str(), 1, original.created_at_ms)
    );
    assert_eq!(
        g.carol
            .conversation(g.id)
            .await
            .unwrap()
            .conversation
            .last_mod,
        edited.mod_seq
    );

    let history = all_messages(&g.carol, g.id).await;
    assert_eq!(history[0], edited);
    assert_eq!(history[1].text, "something else");
    for bad in ["", "  ", "bell\u{7}"] {
        let (status, code) = api_error(g.alice.edit_message(g.id, 1, bad).await);
        assert_eq!((status, code.as_str()), (400, "invalid"), "{bad:?}");
    }
    let (status, code) = api_error(g.alice.edit_message(g.id, 42, "no such").await);
    assert_eq!((status, code.as_str()), (404, "not_found"));
    assert_eq!(
        all_messages(&g.carol, g.id).await[0],
        edited,
        "refused edits change nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_are_soft_and_follow_roles() {
    let server = TestServer::spawn();
    let g = group(&server).await;
    g.alice
        .update_member_role(g.id, g.carol_id, "admin")
        .await
        .unwrap();
    let a1 = g.alice.send_text(g.id, "alice's").await.unwrap();
    let b2 = g.bob.send_text(g.id, "bob's").await.unwrap();
    let b3 = g.bob.send_text(g.id, "bob's too").await.unwrap();
    g.bob.react(g.id, a1.seq, "👍").await.unwrap();

    let (status, code) = api_error(g.bob.delete_message(g.id, a1.seq).await);
    assert_eq!(
        (status, code.as_str()),
        (403, "forbidden"),
        "a plain member cannot delete someone else's"
    );

    let own = g
        .bob
        .delete_message(g.id, b2.seq)
        .await
        .expect("the sender deletes");
    assert!(own.deleted);
    assert_eq!(own.text, "");
    assert!(own.mod_seq > b3.mod_seq);
    let by_admin = g
        .carol
        .delete_message(g.id, b3.seq)
        .await
        .expect("an admin deletes");
    assert!(by_admin.deleted);
    let by_owner = g
        .alice
        .delete_message(g.id, a1.seq)
        .await
        .expect("the owner (own message)");
    assert!(by_owner.deleted && by_owner.reactions.is_empty() && by_owner.text.is_empty());

    let history = all_messages(&g.bob, g.id).await;
    assert_eq!(
        history
            .iter()
            .map(|m| (m.seq, m.deleted, m.text.as_str()))
            .collect::<Vec<_>>(),
        vec![(1, true, ""), (2, true, ""), (3, true, "")],
        "deleted messages keep their place"
    );
    assert_eq!(history[0].id, a1.id);

    let (status, code) = api_error(g.bob.edit_message(g.id, b2.seq, "resurrect").await);
    assert_eq!(
        (status, code.as_str()),
        (404, "not_found"),
        "editing a deleted message"
    );
    let (status, _) = api_error(g.bob.delete_message(g.id, b2.seq).await);
    assert_eq!(status, 404, "deleting twice");
    let (status, _) = api_error(g.bob.react(g.id, b2.seq, "👍").await);
    assert_eq!(status, 404, "reacting to a deleted message");
    let summary = g.alice.conversation(g.id).await.unwrap();
    assert_eq!(summary.unread_count, 0, "deleted messages are not unread");
    assert_eq!(summary.last_message.map(|m| m.deleted), Some(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reactions_are_idempotent_per_user() {
    let server = TestServer::spawn();
    let g = group(&server).await;
    let message = g.alice.send_text(g.id, "react to me").await.unwrap();
    let thumbs = "👍";

    let once = g.alice.react(g.id, 1, thumbs).await.expect("react");
    assert_eq!(once.reactions.len(), 1);
    assert_eq!(
        (
            once.reactions[0].emoji.as_str(),
            once.reactions[0].user_ids.clone()
        ),
        (thumbs, vec![g.alice_id])
    );
    assert!(once.mod_seq > message.mod_seq);
    let twice = g.alice.react(g.id, 1, thumbs).await.expect("react again");
    assert_eq!(twice, once, "reacting twice changes nothing");

    let raw = raw_json(
        &g.bob,
        Method::PUT,
        &format!("/conversations/{}/messages/1/reactions/%F0%9F%91%8D", g.id),
        None,
    )
    .await;
    assert_eq!(raw.status, 200, "percent-encoded emoji in the path");
    let both: MessageView = raw.json().unwrap();
    let mut users = both.reactions[0].user_ids.clone();
    users.sort();
    let mut expected = vec![g.alice_id, g.bob_id];
    expected.sort();
    assert_eq!((both.reactions.len(), users), (1, expected));
    let plain = g
        .carol
        .react(g.id, 1, ":tada:")
        .await
        .expect("a short code");
    assert_eq!(plain.reactions.len(), 2);

    let removed = g.alice.unreact(g.id, 1, thumbs).await.expect("unreact");
    let thumbs_users = &removed
        .reactions
        .iter()
        .find(|r| r.emoji == thumbs)
        .unwrap()
        .user_ids;
    assert_eq!(thumbs_users, &vec![g.bob_id]);
    assert_eq!(
        g.alice
            .unreact(g.id, 1, thumbs)
            .await
            .expect("unreact again"),
        removed,
        "idempotent"
    );
    let gone = g.bob.unreact(g.id, 1, thumbs).await.unwrap();
    assert!(
        gone.reactions.iter().all(|r| r.emoji != thumbs),
        "an emoji with no users disappears: {gone:?}"
    );

    for bad in ["x".repeat(33), "a b".to_owned(), "🎉".repeat(33)] {
        let (status, code) = api_error(g.alice.react(g.id, 1, &bad).await);
        assert_eq!((status, code.as_str()), (400, "invalid"), "{bad:?}");
    }
    let (status, _) = api_error(g.alice.react(g.id, 2, thumbs).await);
    assert_eq!(status, 404, "no message 2");
    assert_eq!(
        all_messages(&g.carol, g.id).await[0],
        gone,
        "history shows the final state"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_and_delivered_cursors_only_move_forward() {
    let server = TestServer::spawn();
    let g = group(&server).await;
    for i in 1..=5 {
        g.bob.send_text(g.id, &format!("m{i}")).await.unwrap();
    }
    let read = g.alice.mark_read(g.id, 3).await.expect("read");
    assert_eq!(
        (read.read_seq, read.delivered_seq),
        (3, 3),
        "read implies delivered"
    );
    assert_eq!(read.user_id, g.alice_id);
    let lower = g.alice.mark_read(g.id, 2).await.expect("lower read");
    assert_eq!(
        (lower.read_seq, lower.delivered_seq),
        (3, 3),
        "lowering is ignored"
    );
    let delivered_lower = g
        .alice
        .mark_delivered(g.id, 1)
        .await
        .expect("lower delivered");
    assert_eq!(
        (delivered_lower.read_seq, delivered_lower.delivered_seq),
        (3, 3)
    );
    let delivered = g.alice.mark_delivered(g.id, 4).await.expect("delivered");
    assert_eq!((delivered.read_seq, delivered.delivered_seq), (3, 4));
    let clamped = g
        .alice
        .mark_delivered(g.id, 1_000)
        .await
        .expect("far delivered");
    assert_eq!(
        (clamped.read_seq, clamped.delivered_seq),
        (3, 5),
        "clamped to last_seq"
    );
    let clamped = g.alice.mark_read(g.id, i64::MAX).await.expect("far read");
    assert_eq!((clamped.read_seq, clamped.delivered_seq), (5, 5));
    let negative = g.alice.mark_read(g.id, -7).await.expect("negative");
    assert_eq!(negative.read_seq, 5);

    let members = g.bob.members(g.id).await.unwrap().members;
    let alice = members.iter().find(|m| m.user_id == g.alice_id).unwrap();
    assert_eq!(
        (alice.read_seq, alice.delivered_seq),
        (5, 5),
        "others see the cursors"
    );
    let carol = members.iter().find(|m| m.user_id == g.carol_id).unwrap();
    assert_eq!(
        (carol.read_seq, carol.delivered_seq),
        (0, 0),
        "cursors are per member"
    );
    assert_eq!(g.alice.conversation(g.id).await.unwrap().unread_count, 0);
    assert_eq!(g.carol.conversation(g.id).await.unwrap().unread_count, 5);
    let bad = raw_json(
        &g.alice,
        Method::POST,
        &format!("/conversations/{}/read", g.id),
        Some(json!({"seq": "3"})),
    )
    .await;
    assert_eq!(bad.status, 400);
    g.alice
        .typing(g.id)
        .await
        .expect("typing is accepted (204)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_text_limits() {
    let server = TestServer::spawn();
    let g = group(&server).await;
    let longest = "é".repeat(4_000);
    let sent = g
        .alice
        .send_text(g.id, &longest)
        .await
        .expect("4000 characters are fine, whatever their bytes");
    assert_eq!(sent.text.chars().count(), 4_000);
    let kept = g
        .alice
        .send_text(g.id, "  line one\n\tline two  ")
        .await
        .expect("newlines and tabs");
    assert_eq!(
        kept.text, "  line one\n\tline two  ",
        "text is stored as sent"
    );

    let bad_texts = [
        "x".repeat(4_001),
        String::new(),
        " \n\t ".to_owned(),
        "null\u{0}byte".to_owned(),
        "esc\u{1b}[31m".to_owned(),
        "del\u{7f}".to_owned(),
    ];
    for bad in &bad_texts {
        let (status, code) = api_error(g.alice.send_text(g.id, bad).await);
        assert_eq!(
            (status, code.as_str()),
            (400, "invalid"),
            "{:?}",
            bad.chars().take(20).collect::<String>()
        );
    }
    for bad_id in [String::new(), "has space".to_owned(), "k".repeat(65)] {
        let request = SendMessageRequest {
            client_msg_id: bad_id.clone(),
            text: "fine".into(),
            reply_to_seq: None,
            mentions: vec![],
            attachments: Vec::new(),
        };
        let (status, code) = api_error(g.alice.send_message(g.id, &request).await);
        assert_eq!(
            (status, code.as_str()),
            (400, "invalid"),
            "client_msg_id {bad_id:?}"
        );
    }
    let history = all_messages(&g.bob, g.id).await;
    assert_eq!(history.len(), 2, "refused sends created nothing");
    assert_eq!(history[0].text, longest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_are_rate_limited_per_user() {
    // 2 per second with a burst of 10.
    let server = TestServer::spawn_with(&["--sends-per-second", "2"]);
    let g = group(&server).await;
    let mut accepted = 0;
    let limited = loop {
        match g.alice.send_text(g.id, "spam").await {
            Ok(message) => {
                accepted += 1;
                assert_eq!(message.seq, accepted);
            }
            Err(err) => break err,
        }
        assert!(accepted < 40, "never rate limited");
    };
    assert!(
        accepted >= 2,
        "the burst allows a few sends first ({accepted})"
    );
    assert_eq!(limited.status(), Some(429));
    assert_eq!(limited.code(), Some("rate_limited"));
    assert!(
        limited
            .retry_after_ms()
            .is_some_and(|ms| ms > 0 && ms <= 10_000),
        "{limited:?}"
    );

    // A raw retry shows the header too, and the limit is per user: bob still sends.
    let raw = raw_json(
        &g.alice,
        Method::POST,
        &format!("/conversations/{}/messages", g.id),
        Some(json!({"client_msg_id": new_client_msg_id(), "text": "more spam"})),
    )
    .await;
    if raw.status == 429 {
        assert!(
            raw.headers.get("retry-after").is_some(),
            "Retry-After on 429"
        );
    }
    g.bob
        .send_text(g.id, "not me")
        .await
        .expect("bob is not limited");
    let history = all_messages(&g.carol, g.id).await;
    let extra = if raw.status == 201 { 1 } else { 0 };
    assert_eq!(
        history.len() as i64,
        accepted + extra + 1,
        "exactly the accepted sends were stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reaction_is_one_emoji_or_a_shortcode() {
    let server = TestServer::spawn();
    let g = group(&server).await;
    g.alice.send_text(g.id, "react to me").await.unwrap();
    for good in ["🎉", "👍🏽", ":party_parrot:"] {
        g.bob.react(g.id, 1, good).await.expect(good);
    }
    for bad in ["../..", "lol", "👍 nice", ":Not Allowed:", "\u{7}"] {
        let (status, code) = api_error(g.bob.react(g.id, 1, bad).await);
        assert_eq!((status, code.as_str()), (400, "invalid"), "{bad:?}");
    }
    // Over the WebSocket too; nothing was added by any refusal.
    let session = g.bob.connect().await.expect("connect");
    let refused = session.react(g.id, 1, &"x".repeat(40)).await;
    assert_eq!(refused.unwrap_err().code(), Some("invalid"));
    let history = all_messages(&g.alice, g.id).await;
    let mut emojis: Vec<_> = history[0]
        .reactions
        .iter()
        .map(|r| r.emoji.clone())
        .collect();
    emojis.sort();
    let mut expected = vec!["🎉", "👍🏽", ":party_parrot:"];
    expected.sort();
    assert_eq!(emojis, expected);
    session.close().await;
}
