//! The resume promise on the embedded server (real SQLite store, real WebSockets): a live message
//! event at or below the cursor a client gave in `hello` is never sent to that connection.
//!
//! The race it guards against: a message is committed (so a replay can already read it) but its
//! event is still on its way to the bus when a device says hello with a cursor that includes it.
//! The event is then queued as a live event after the hello ack. A bus decorator holds the event
//! between commit and publish, which makes the race deterministic.

mod support;

use natter_protocol::{MessageView, ServerFrame};
use serde_json::json;
use support::{WAIT, hello, next_frame, start, user};

fn replayed_message(frames: &[ServerFrame]) -> Vec<&MessageView> {
    frames
        .iter()
        .filter_map(|frame| match frame {
            ServerFrame::MessageNew { message } | ServerFrame::MessageUpdated { message } => {
                Some(message)
            }
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_published_after_the_hello_ack_is_not_sent_again_at_or_below_the_cursor() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, bus) = start(&dir).await;
    let base = format!("http://{}", server.addr);
    let (alice, _) = user(&base, "alice").await;
    let (bob, bob_id) = user(&base, "bob").await;
    let group = alice
        .create_group("g", None, &[bob_id])
        .await
        .expect("group")
        .conversation
        .id;

    // Alice's message is committed; its event is held before the bus.
    let (reached, release) = bus.hold_next_message();
    let sending = tokio::spawn({
        let alice = alice.clone();
        async move { alice.send_text(group, "held").await }
    });
    tokio::time::timeout(WAIT, reached)
        .await
        .expect("the send reached the bus in time")
        .expect("held");

    // Bob's first device reads it from the store during its replay...
    let (mut replaying, frames, sync_cursor) = hello(
        &bob,
        json!({"sync_cursor": 0, "cursors": {group.to_string(): 0}}),
    )
    .await;
    let held = match replayed_message(&frames)[..] {
        [message] if message.text == "held" => message.clone(),
        ref other => panic!("expected the held message replayed, got {other:?}"),
    };
    // ... so his devices resume with cursors that include it: with the sync cursor that first
    // hello returned (the conversation has not changed since: nothing is replayed), and without
    // any sync cursor (no replay at all).
    let cursors = json!({group.to_string(): held.mod_seq});
    let (mut resumed, frames, _) = hello(
        &bob,
        json!({"sync_cursor": sync_cursor, "cursors": cursors}),
    )
    .await;
    assert!(frames.is_empty(), "nothing changed since: {frames:?}");
    let (mut cursors_only, frames, _) = hello(&bob, json!({"cursors": cursors})).await;
    assert!(
        frames.is_empty(),
        "no replay without a sync cursor: {frames:?}"
    );

    // The held event reaches the bus after all three hello acks; then a normal message follows.
    release.send(()).expect("release");
    let sent = sending.await.expect("send task").expect("send");
    assert_eq!(sent.id, held.id);
    let later = alice.send_text(group, "later").await.expect("send later");

    for (device, ws) in [
        ("replayed it", &mut replaying),
        ("resumed with a sync cursor", &mut resumed),
        ("resumed with cursors only", &mut cursors_only),
    ] {
        match next_frame(ws).await {
            ServerFrame::MessageNew { message } if message.id == later.id => {}
            other => panic!("the device that {device} got {other:?}, not the later message"),
        }
    }
    server.shutdown().await.expect("shutdown");
}
