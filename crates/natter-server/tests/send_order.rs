//! Sends to one busy conversation share commits, and their events keep seq order (embedded
//! server: real SQLite store, real WebSockets).
//!
//! The embedded store commits writes in the order they were queued, so a send releases the
//! conversation's order lock once its append is queued, not after its commit and publish; its
//! event still waits for the events of the writes before it (natter-domain's `order.rs`). A bus
//! decorator holds the first send's event between commit and publish, which makes both halves
//! deterministic: the second send must be stored meanwhile, and its event must come second.

mod support;

use natter_protocol::ServerFrame;
use natter_protocol::rest::HistoryParams;
use serde_json::json;
use support::{WAIT, hello, next_frame, start, user};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_is_stored_while_the_previous_event_is_held_and_events_keep_seq_order() {
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
    let (mut bob_ws, _, _) = hello(&bob, json!({})).await;

    // The first send is committed; its event is held before the bus.
    let (reached, release) = bus.hold_next_message();
    let first = tokio::spawn({
        let alice = alice.clone();
        async move { alice.send_text(group, "first").await }
    });
    tokio::time::timeout(WAIT, reached)
        .await
        .expect("the first send reached the bus in time")
        .expect("held");

    // The second send to the same conversation is stored meanwhile (it does not wait for the
    // first one's publish), but it is not answered before its event is published.
    let second = tokio::spawn({
        let alice = alice.clone();
        async move { alice.send_text(group, "second").await }
    });
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let page = alice
            .history(group, &HistoryParams::default())
            .await
            .expect("history");
        if page.messages.len() == 2 {
            assert_eq!(page.messages[1].text, "second");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the second send was not stored while the first one's event was held"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        !second.is_finished(),
        "answered before its event was published"
    );

    // Released: the events arrive in seq order, and both sends are answered.
    release.send(()).expect("release");
    let first = first.await.expect("first task").expect("first send");
    let second = second.await.expect("second task").expect("second send");
    assert_eq!((first.seq, second.seq), (1, 2));
    for expected in [&first, &second] {
        match next_frame(&mut bob_ws).await {
            ServerFrame::MessageNew { message } => assert_eq!(
                (message.seq, &message.text),
                (expected.seq, &expected.text),
                "events out of seq order"
            ),
            other => panic!("expected {:?}, got {other:?}", expected.text),
        }
    }
    server.shutdown().await.expect("shutdown");
}
