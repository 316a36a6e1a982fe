//! What only a cluster can show (run with `NATTER_E2E_CLUSTER=1 ... -- --include-ignored`, as
//! `scripts/test` does): clients on different nodes exchange messages, typing, presence and
//! receipts; a send retried on another node is not duplicated; SIGKILL of one node while
//! clients send through NGINX loses and duplicates nothing, its clients resuming on the others.

use std::collections::HashMap;
use std::time::Duration;

use natter_sdk::protocol::{MessageView, SendMessageRequest, ServerFrame};
use natter_sdk::{Client, Session};
use uuid::Uuid;

use crate::server::TestServer;
use crate::support::{all_messages, expect_event, username};

const WAIT: Duration = Duration::from_secs(15);
const NEEDS_CLUSTER: &str = "needs the cluster: NATTER_E2E_CLUSTER=1 (scripts/test runs it)";

fn cluster() -> TestServer {
    assert!(
        crate::cluster::enabled(),
        "{NEEDS_CLUSTER}; run with NATTER_E2E_CLUSTER=1 after scripts/services start"
    );
    let server = TestServer::spawn();
    assert_eq!(server.node_count(), 3);
    server
}

/// A new user registered through one node; the client talks to that node only.
async fn user_on(server: &TestServer, node: usize, prefix: &str) -> (Client, Uuid) {
    let client = server.node_client(node);
    let tokens = client
        .register(&username(prefix), "correct horse battery staple")
        .await
        .expect("register");
    (client, tokens.user.id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the cluster: NATTER_E2E_CLUSTER=1 (scripts/test runs it)"]
async fn clients_on_different_nodes_exchange_messages_typing_presence_and_receipts() {
    let server = cluster();
    let (alice, alice_id) = user_on(&server, 0, "alice").await;
    let (bob, bob_id) = user_on(&server, 1, "bob").await;
    let (carol, _) = user_on(&server, 2, "carol").await;
    let carol_id = carol.me().await.unwrap().id;
    let group = alice
        .create_group("across", None, &[bob_id, carol_id])
        .await
        .expect("group")
        .conversation
        .id;

    let a = alice.connect().await.expect("alice on node 0");
    let c = carol.connect().await.expect("carol on node 2");
    // Presence crosses nodes: bob comes online on node 1, alice (node 0) is told.
    let b = bob.connect().await.expect("bob on node 1");
    expect_event(&a, WAIT, |e| match e {
        ServerFrame::Presence {
            user_id, online, ..
        } if *user_id == bob_id && *online => Some(()),
        _ => None,
    })
    .await;

    // A message sent on node 0 reaches node 1 and node 2, once, in order.
    let mut sent = Vec::new();
    for i in 0..5 {
        sent.push(
            a.send(group, natter_sdk::new_client_msg_id(), &format!("hop {i}"))
                .await
                .expect("send"),
        );
    }
    for session in [&b, &c] {
        let got = crate::support::collect_new_messages(session, group, 5, WAIT).await;
        assert_eq!(
            got.iter().map(|m| m.seq).collect::<Vec<_>>(),
            sent.iter().map(|m| m.seq).collect::<Vec<_>>()
        );
    }

    // Typing on node 1 shows on node 0.
    b.typing(group).await.expect("typing");
    expect_event(&a, WAIT, |e| match e {
        ServerFrame::Typing {
            conversation_id,
            user_id,
            ..
        } if *conversation_id == group && *user_id == bob_id => Some(()),
        _ => None,
    })
    .await;

    // A read receipt on node 2 shows on node 0 and node 1.
    let last = sent.last().unwrap().seq;
    c.read(group, last).await.expect("read");
    for session in [&a, &b] {
        expect_event(session, WAIT, |e| match e {
            ServerFrame::Receipt {
                conversation_id,
                user_id,
                read_seq,
                ..
            } if *conversation_id == group && *user_id == carol_id && *read_seq == last => Some(()),
            _ => None,
        })
        .await;
    }

    // Bob leaves (closes on node 1): alice on node 0 sees him go offline.
    b.close().await;
    expect_event(&a, WAIT, |e| match e {
        ServerFrame::Presence {
            user_id, online, ..
        } if *user_id == bob_id && !*online => Some(()),
        _ => None,
    })
    .await;
    assert_ne!(alice_id, bob_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the cluster: NATTER_E2E_CLUSTER=1 (scripts/test runs it)"]
async fn a_send_retried_on_another_node_is_not_duplicated() {
    let server = cluster();
    let (alice, _) = user_on(&server, 0, "alice").await;
    let token = alice.access_token().expect("token");
    let (_, bob_id) = user_on(&server, 1, "bob").await;
    let group = alice
        .create_group("retry", None, &[bob_id])
        .await
        .expect("group")
        .conversation
        .id;
    let request = SendMessageRequest {
        client_msg_id: "only-once".into(),
        text: "once".into(),
        reply_to_seq: None,
        mentions: Vec::new(),
        attachments: Vec::new(),
    };
    let first = alice.send_message(group, &request).await.expect("node 0");
    // The same device retries on node 1 (REST) and node 2 (WebSocket).
    let on_1 = server.node_client(1).with_token(token.clone());
    let again = on_1.send_message(group, &request).await.expect("node 1");
    let on_2 = server.node_client(2).with_token(token);
    let session = on_2.connect().await.expect("node 2");
    let third = session
        .send(group, "only-once".to_owned(), "once")
        .await
        .expect("node 2 ws");
    for retry in [&again, &third] {
        assert_eq!(
            (retry.id.as_str(), retry.seq),
            (first.id.as_str(), first.seq)
        );
    }
    let history = all_messages(&alice, group).await;
    assert_eq!(history.len(), 1, "one message: {history:?}");
}

const SENDERS: usize = 3;
const PER_SENDER: usize = 60;

/// Sends `PER_SENDER` messages through NGINX on its own session, each acknowledged before the
/// next; the session reconnects (through NGINX, to a live node) and re-sends what was in flight.
async fn send_all(session: Session, group: Uuid, who: usize) -> HashMap<String, MessageView> {
    let mut acked = HashMap::new();
    for i in 0..PER_SENDER {
        let cmid = format!("s{who}-{i}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let message = loop {
            match session
                .send(group, cmid.clone(), &format!("m {who} {i}"))
                .await
            {
                Ok(message) => break message,
                Err(err) if tokio::time::Instant::now() < deadline => {
                    eprintln!("sender {who} retries {cmid}: {err}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(err) => panic!("sender {who} gave up on {cmid}: {err}"),
            }
        };
        acked.insert(cmid, message);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the cluster: NATTER_E2E_CLUSTER=1 (scripts/test runs it)"]
async fn sigkill_of_one_node_while_clients_send_loses_and_duplicates_nothing() {
    let mut server = cluster();
    let owner = server.client();
    owner
        .register(&username("owner"), "correct horse battery staple")
        .await
        .expect("owner");
    let mut senders = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..SENDERS {
        let client = server.client();
        let id = client
            .register(&username("sender"), "correct horse battery staple")
            .await
            .expect("sender")
            .user
            .id;
        ids.push(id);
        senders.push(client);
    }
    let group = owner
        .create_group("failover", None, &ids)
        .await
        .expect("group")
        .conversation
        .id;
    // Through NGINX, round robin: the sessions land on different nodes.
    let listener = owner.connect().await.expect("listener");
    let mut tasks = Vec::new();
    for (who, client) in senders.into_iter().enumerate() {
        let session = client.connect().await.expect("sender session");
        tasks.push(tokio::spawn(send_all(session, group, who)));
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    server.kill_node(0);
    let mut acked = HashMap::new();
    for task in tasks {
        acked.extend(task.await.expect("sender"));
    }
    let total = SENDERS * PER_SENDER;
    assert_eq!(acked.len(), total);

    let history = all_messages(&owner, group).await;
    assert_eq!(
        history.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (1..=total as i64).collect::<Vec<_>>(),
        "every acknowledged message once, seqs gap-free"
    );
    for message in &history {
        let ack = &acked[&message.client_msg_id];
        assert_eq!(
            (ack.id.as_str(), ack.seq),
            (message.id.as_str(), message.seq)
        );
    }
    // The listener (whichever node it was on) got every message once, in order.
    let live = crate::support::collect_new_messages(&listener, group, total, WAIT * 4).await;
    assert_eq!(
        live.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (1..=total as i64).collect::<Vec<_>>()
    );
    server.restart_node(0);
}
