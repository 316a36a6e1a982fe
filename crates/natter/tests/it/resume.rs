//! Gap-free resume: after a dropped connection or a graceful server restart, the SDK session
//! delivers exactly what was missed (once, in order), then live events; conversations created
//! meanwhile show up; the REST sync path reports only what changed.

use std::collections::HashMap;
use std::time::Duration;

use natter_sdk::protocol::{Ack, MessageView, ServerFrame};
use natter_sdk::{ConnectionState, SessionConfig};

use crate::server::TestServer;
use crate::support::{
    RawRead, RawWs, all_messages, api_error, assert_no_event, collect_new_messages, expect_event,
    raw_authenticated, raw_close_code, raw_connect, raw_read, raw_send, user,
};

const WAIT: Duration = Duration::from_secs(10);

/// A session that waits long enough before reconnecting for the test to act while it is away.
fn slow_reconnect() -> SessionConfig {
    SessionConfig {
        backoff_initial: Duration::from_secs(4),
        backoff_max: Duration::from_secs(4),
        ..SessionConfig::default()
    }
}

/// Message events (new or updated) of `conversation`, until `done` says stop.
async fn message_events(
    session: &natter_sdk::Session,
    conversation: uuid::Uuid,
    mut done: impl FnMut(&[(bool, MessageView)]) -> bool,
) -> Vec<(bool, MessageView)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut out = Vec::new();
    while !done(&out) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match session.next_event_timeout(left).await {
            Ok(ServerFrame::MessageNew { message }) if message.conversation_id == conversation => {
                out.push((true, message))
            }
            Ok(ServerFrame::MessageUpdated { message })
                if message.conversation_id == conversation =>
            {
                out.push((false, message))
            }
            Ok(_) => {}
            Err(err) => panic!("after {} message events: {err}; got {out:#?}", out.len()),
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_resumes_with_exactly_what_was_missed() {
    let server = TestServer::spawn();
    let (alice, _) = user(&server, "alice").await;
    let (bob, bob_user) = user(&server, "bob").await;
    let group = alice
        .create_group("g", None, &[bob_user.id])
        .await
        .expect("group")
        .conversation
        .id;
    let b = bob.connect_with(slow_reconnect()).await.expect("bob");

    for i in 1..=3 {
        alice
            .send_text(group, &format!("seen {i}"))
            .await
            .expect("send");
    }
    let seen = collect_new_messages(&b, group, 3, WAIT).await;
    assert_eq!(
        seen.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );

    b.force_disconnect().await;
    assert_eq!(b.state(), ConnectionState::Connecting);
    const MISSED: i64 = 10;
    for i in 0..MISSED {
        alice
            .send_text(group, &format!("missed {i}"))
            .await
            .expect("send");
    }
    alice
        .edit_message(group, 6, "missed, then edited")
        .await
        .expect("edit a missed message");
    alice
        .react(group, 2, "🔥")
        .await
        .expect("react to a seen message");
    assert_eq!(b.reconnects(), 0, "the changes happened while bob was away");
    assert_ne!(b.state(), ConnectionState::Connected);

    // Resume: seqs 4..=13 (one of them edited) and the reaction to seq 2, each once.
    let expected_changes = MISSED as usize + 1;
    let replay = message_events(&b, group, |got| got.len() >= expected_changes).await;
    // A command round trip: the driver counts the reconnect after handing over the replay.
    b.ping().await.expect("ping");
    assert!(b.reconnects() >= 1);
    let mod_seqs: Vec<i64> = replay.iter().map(|(_, m)| m.mod_seq).collect();
    assert!(
        mod_seqs.windows(2).all(|w| w[0] < w[1]),
        "replay in mod_seq order: {mod_seqs:?}"
    );
    let mut by_seq: HashMap<i64, Vec<&MessageView>> = HashMap::new();
    for (_, message) in &replay {
        by_seq.entry(message.seq).or_default().push(message);
    }
    let mut seqs: Vec<i64> = by_seq.keys().copied().collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        [2].into_iter().chain(4..=3 + MISSED).collect::<Vec<_>>(),
        "each change once"
    );
    assert!(by_seq.values().all(|v| v.len() == 1));
    assert_eq!(by_seq[&6][0].text, "missed, then edited");
    assert_eq!(
        by_seq[&2][0].reactions.len(),
        1,
        "the reaction to an old message arrives"
    );
    let new_seqs: Vec<i64> = replay
        .iter()
        .filter(|(new, _)| *new)
        .map(|(_, m)| m.seq)
        .collect();
    assert!(
        new_seqs.windows(2).all(|w| w[0] < w[1]),
        "new messages in seq order: {new_seqs:?}"
    );

    // Then live.
    let live = alice.send_text(group, "live").await.expect("send");
    let got = collect_new_messages(&b, group, 1, WAIT).await;
    assert_eq!(got[0].seq, live.seq);
    assert_eq!(live.seq, 4 + MISSED);
    assert_no_event(&b, Duration::from_millis(300), |e| {
        matches!(
            e,
            ServerFrame::MessageNew { .. } | ServerFrame::MessageUpdated { .. }
        )
    })
    .await;
    assert_eq!(b.gaps_seen(), 0);
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_restart_closes_with_1001_and_sessions_resume() {
    let mut server = TestServer::spawn();
    let (alice, _) = user(&server, "alice").await;
    let (bob, bob_user) = user(&server, "bob").await;
    let group = alice
        .create_group("g", None, &[bob_user.id])
        .await
        .expect("group")
        .conversation
        .id;
    let b = bob.connect().await.expect("bob");
    let mut raw = raw_authenticated(&server, &bob).await;

    for i in 1..=3 {
        alice
            .send_text(group, &format!("before {i}"))
            .await
            .expect("send");
    }
    collect_new_messages(&b, group, 3, WAIT).await;

    let status = tokio::task::spawn_blocking(move || {
        let status = server.terminate();
        (server, status)
    });
    // The raw client sees the server's going-away close.
    let code = raw_close_code(&mut raw, Duration::from_secs(15)).await;
    assert_eq!(code, Some(1001), "graceful shutdown closes with 1001");
    let (mut server, status) = status.await.expect("terminate");
    assert!(status.success(), "graceful exit: {status:?}");
    server.restart();

    // Sent right after the restart, maybe before bob's session is back: it must still get
    // them exactly once, after what it had.
    let mut sent = Vec::new();
    for i in 1..=5 {
        sent.push(
            alice
                .send_text(group, &format!("after {i}"))
                .await
                .expect("send after restart")
                .seq,
        );
    }
    assert_eq!(sent, vec![4, 5, 6, 7, 8]);
    let got = collect_new_messages(&b, group, 5, Duration::from_secs(20)).await;
    assert_eq!(got.iter().map(|m| m.seq).collect::<Vec<_>>(), sent);
    // A command round trip: the driver counts the reconnect after handing over the replay.
    b.ping().await.expect("ping");
    assert!(b.reconnects() >= 1);
    assert_no_event(&b, Duration::from_millis(300), |e| {
        matches!(e, ServerFrame::MessageNew { .. })
    })
    .await;
    assert_eq!(all_messages(&alice, group).await.len(), 8);
    let live = b
        .send(group, natter_sdk::new_client_msg_id(), "bob is back")
        .await
        .expect("send");
    assert_eq!(live.seq, 9);
    assert_eq!(b.gaps_seen(), 0);
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_created_while_away_shows_up_on_resume() {
    let server = TestServer::spawn();
    let (alice, _) = user(&server, "alice").await;
    let (bob, bob_user) = user(&server, "bob").await;
    let b = bob.connect_with(slow_reconnect()).await.expect("bob");
    b.force_disconnect().await;

    let group = alice
        .create_group("made while away", None, &[bob_user.id])
        .await
        .expect("group")
        .conversation
        .id;
    alice.send_text(group, "one").await.expect("send");
    alice.send_text(group, "two").await.expect("send");
    assert_eq!(b.reconnects(), 0, "created while bob was away");

    let summary = expect_event(&b, Duration::from_secs(15), |e| match e {
        ServerFrame::Conversation { summary } if summary.conversation.id == group => {
            Some(summary.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(
        summary.conversation.name.as_deref(),
        Some("made while away")
    );
    assert_eq!(summary.conversation.last_seq, 2);
    assert_eq!(
        summary.last_message.as_ref().map(|m| m.text.as_str()),
        Some("two")
    );
    assert_eq!(summary.unread_count, 2);

    let live = alice.send_text(group, "three").await.expect("send");
    let got = collect_new_messages(&b, group, 1, WAIT).await;
    assert_eq!((got[0].seq, got[0].id.as_str()), (3, live.id.as_str()));
    let reply = b
        .send(group, natter_sdk::new_client_msg_id(), "hi")
        .await
        .expect("bob replies");
    assert_eq!(reply.seq, 4);
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_process_resumes_from_saved_cursors() {
    let server = TestServer::spawn();
    let (alice, _) = user(&server, "alice").await;
    let (bob, bob_user) = user(&server, "bob").await;
    let group = alice
        .create_group("g", None, &[bob_user.id])
        .await
        .expect("group")
        .conversation
        .id;
    let b = bob.connect().await.expect("bob");
    alice.send_text(group, "1").await.expect("send");
    alice.send_text(group, "2").await.expect("send");
    collect_new_messages(&b, group, 2, WAIT).await;
    let (sync_cursor, cursors) = (b.sync_cursor(), b.cursors());
    b.close().await;

    for i in 3..=6 {
        alice.send_text(group, &i.to_string()).await.expect("send");
    }
    alice.delete_message(group, 1).await.expect("delete");

    let config = SessionConfig {
        sync_cursor,
        cursors,
        ..SessionConfig::default()
    };
    let b2 = bob
        .connect_with(config)
        .await
        .expect("resume in a new session");
    let replay = message_events(&b2, group, |got| got.len() >= 5).await;
    let seqs: Vec<(bool, i64)> = replay.iter().map(|(new, m)| (*new, m.seq)).collect();
    assert_eq!(
        seqs,
        vec![(true, 3), (true, 4), (true, 5), (true, 6), (false, 1)]
    );
    assert!(replay[4].1.deleted);
    assert_eq!(b2.reconnects(), 0);
    assert_no_event(&b2, Duration::from_millis(300), |e| {
        matches!(
            e,
            ServerFrame::MessageNew { .. } | ServerFrame::MessageUpdated { .. }
        )
    })
    .await;
    b2.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_sync_returns_only_changed_conversations() {
    let server = TestServer::spawn();
    let (alice, _) = user(&server, "alice").await;
    let (bob, _) = user(&server, "bob").await;
    let (carol, carol_user) = user(&server, "carol").await;
    let direct = bob
        .create_direct(alice_id(&alice).await)
        .await
        .expect("direct")
        .conversation
        .id;
    let quiet = carol
        .create_group("quiet", None, &[alice_id(&alice).await])
        .await
        .expect("g1")
        .conversation
        .id;
    let busy = bob
        .create_group("busy", None, &[alice_id(&alice).await, carol_user.id])
        .await
        .expect("g2")
        .conversation
        .id;
    bob.send_text(direct, "hello").await.expect("send");

    let everything = alice.sync(None).await.expect("sync all");
    let mut all: Vec<_> = everything
        .changed
        .iter()
        .map(|s| s.conversation.id)
        .collect();
    all.sort_unstable();
    let mut want = vec![direct, quiet, busy];
    want.sort_unstable();
    assert_eq!(all, want);

    // Cursors start at 0: a negative one is refused, not read as 0.
    let (status, code) = api_error(alice.sync(Some(-1)).await);
    assert_eq!((status, code.as_str()), (400, "invalid"));

    // Nothing changed: nothing reported.
    let unchanged = alice.sync(Some(everything.cursor)).await.expect("sync");
    assert!(
        unchanged.changed.is_empty() && unchanged.removed.is_empty(),
        "{unchanged:?}"
    );

    // Away: activity in one conversation only.
    bob.send_text(busy, "news").await.expect("send");
    bob.send_text(busy, "more news").await.expect("send");
    let changed = alice.sync(Some(unchanged.cursor)).await.expect("sync");
    assert_eq!(
        changed
            .changed
            .iter()
            .map(|s| s.conversation.id)
            .collect::<Vec<_>>(),
        vec![busy]
    );
    let summary = &changed.changed[0];
    assert_eq!(
        summary.last_message.as_ref().map(|m| m.text.as_str()),
        Some("more news")
    );
    assert_eq!(summary.unread_count, 2);
    assert!(changed.removed.is_empty());
    assert!(changed.cursor >= unchanged.cursor);

    // Removed from one: reported as removed, not changed.
    carol
        .remove_member(quiet, alice_id(&alice).await)
        .await
        .expect("remove alice");
    let after_removal = alice.sync(Some(changed.cursor)).await.expect("sync");
    assert_eq!(after_removal.removed, vec![quiet]);
    assert!(
        after_removal
            .changed
            .iter()
            .all(|s| s.conversation.id != quiet && s.conversation.id != busy)
    );
}

async fn alice_id(alice: &natter_sdk::Client) -> uuid::Uuid {
    alice.me().await.expect("me").id
}

/// A raw socket that said `hello` with `resume` (its `sync_cursor` and `cursors`): the frames
/// replayed before the ack, and the ack's `sync_cursor`.
async fn raw_resume(
    server: &TestServer,
    client: &natter_sdk::Client,
    resume: serde_json::Value,
) -> (RawWs, Vec<ServerFrame>, i64) {
    let mut ws = raw_connect(server).await;
    let mut hello = serde_json::json!({"type": "hello", "id": "h", "token": client.access_token()});
    for (key, value) in resume.as_object().expect("resume fields") {
        hello[key] = value.clone();
    }
    raw_send(&mut ws, &hello.to_string()).await;
    let mut replayed = Vec::new();
    for _ in 0..100 {
        match raw_read(&mut ws, WAIT).await {
            RawRead::Frame(ServerFrame::Ack {
                id,
                body: Ack::Hello(hello),
            }) if id == "h" => return (ws, replayed, hello.sync_cursor),
            RawRead::Frame(ServerFrame::Ack { id, body }) if id == "h" => {
                panic!("hello acked with {body:?}")
            }
            RawRead::Frame(frame) => replayed.push(frame),
            RawRead::Closed(code) => panic!("closed ({code:?}) after {replayed:?}"),
        }
    }
    panic!("no hello ack after 100 frames: {replayed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_whose_changes_cancel_out_while_away_is_replayed_as_new() {
    let server = TestServer::spawn();
    let (alice, _) = user(&server, "alice").await;
    let (bob, bob_user) = user(&server, "bob").await;
    let group = alice
        .create_group("g", None, &[bob_user.id])
        .await
        .expect("group")
        .conversation
        .id;
    let sent = alice.send_text(group, "hi").await.expect("send");
    let (_, _, sync_cursor) = raw_resume(
        &server,
        &bob,
        serde_json::json!({"sync_cursor": 0, "cursors": {group.to_string(): 0}}),
    )
    .await;

    // While bob is away, a reaction comes and goes: the message is as bob last saw it, but it
    // changed twice.
    alice.react(group, sent.seq, "👍").await.expect("react");
    let unreacted = alice.unreact(group, sent.seq, "👍").await.expect("unreact");
    assert_eq!(unreacted.mod_seq, sent.mod_seq + 2);

    let (_, replayed, _) = raw_resume(
        &server,
        &bob,
        serde_json::json!({"sync_cursor": sync_cursor, "cursors": {group.to_string(): sent.mod_seq}}),
    )
    .await;
    let messages: Vec<_> = replayed
        .into_iter()
        .filter(|frame| !matches!(frame, ServerFrame::Conversation { .. }))
        .collect();
    assert_eq!(
        messages,
        vec![ServerFrame::MessageNew { message: unreacted }],
        "replayed once, as message.new, at its latest mod_seq"
    );
}
