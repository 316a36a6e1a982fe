//! Durability under SIGKILL: a client streams sends (each with its own client_msg_id) while the
//! server is killed and restarted, retrying every unacknowledged send with the same id until it is
//! acknowledged. Afterwards history holds every acknowledged message exactly once, with seqs
//! 1..=n and no client_msg_id twice.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use natter_sdk::protocol::{MessageView, SendMessageRequest};
use natter_sdk::{Client, Error, Session};
use uuid::Uuid;

use crate::server::TestServer;
use crate::support::{all_messages, user};

const TOTAL: usize = 300;

/// Ack counts at which to kill: varied per run, always inside the stream.
fn kill_points() -> [usize; 2] {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .subsec_nanos() as usize;
    let first = 30 + nanos % 90;
    [first, first + 60 + (nanos / 97) % 80]
}

/// Kills the server (SIGKILL) when `acked` reaches each kill point, then restarts it.
fn spawn_killer(
    server: Arc<Mutex<TestServer>>,
    acked: Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<usize> {
    let points = kill_points();
    tokio::task::spawn_blocking(move || {
        let mut kills = 0;
        for point in points {
            let deadline = std::time::Instant::now() + Duration::from_secs(120);
            while acked.load(Ordering::SeqCst) < point {
                assert!(
                    std::time::Instant::now() < deadline,
                    "acks stalled before {point}"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            let mut server = server.lock().expect("server");
            server.kill();
            kills += 1;
            // Let in-flight and new sends fail against the dead server for a moment.
            std::thread::sleep(Duration::from_millis(150));
            server.restart();
        }
        kills
    })
}

/// Everything acknowledged is in history exactly once; seqs are 1..=n; each client_msg_id
/// appears once and matches its ack.
fn assert_history_matches(
    history: &[MessageView],
    acked: &HashMap<String, MessageView>,
    total: usize,
) {
    assert_eq!(
        history.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (1..=history.len() as i64).collect::<Vec<_>>(),
        "seqs are gap-free from 1"
    );
    let mut seen = HashSet::new();
    for message in history {
        assert!(
            seen.insert(message.client_msg_id.clone()),
            "client_msg_id {} stored twice",
            message.client_msg_id
        );
    }
    assert_eq!(acked.len(), total, "every send was eventually acknowledged");
    assert_eq!(history.len(), total, "nothing lost, nothing duplicated");
    let by_cmid: HashMap<&str, &MessageView> = history
        .iter()
        .map(|m| (m.client_msg_id.as_str(), m))
        .collect();
    for (cmid, ack) in acked {
        let stored = by_cmid
            .get(cmid.as_str())
            .unwrap_or_else(|| panic!("acknowledged {cmid} is missing"));
        assert_eq!(
            (stored.id.as_str(), stored.seq, stored.text.as_str()),
            (ack.id.as_str(), ack.seq, ack.text.as_str())
        );
    }
}

fn retryable(error: &Error) -> bool {
    match error {
        Error::Http(_) | Error::Timeout | Error::WebSocket(_) | Error::Closed { .. } => true,
        Error::Api { status, .. } => *status >= 500,
        Error::Command { body } => body.code == "unavailable" || body.code == "internal",
        _ => false,
    }
}

async fn setup(server: &TestServer) -> (Client, Uuid) {
    let (alice, _) = user(server, "alice").await;
    let (_, bob) = user(server, "bob").await;
    let group = alice
        .create_group("durable", None, &[bob.id])
        .await
        .expect("group")
        .conversation
        .id;
    (alice, group)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_rest_sends_loses_and_duplicates_nothing() {
    let server = TestServer::spawn();
    let (alice, group) = setup(&server).await;
    let server = Arc::new(Mutex::new(server));
    let acked_count = Arc::new(AtomicUsize::new(0));
    let killer = spawn_killer(Arc::clone(&server), Arc::clone(&acked_count));

    let mut acked = HashMap::new();
    let mut retries = 0;
    for i in 0..TOTAL {
        let request = SendMessageRequest {
            client_msg_id: format!("rest-{i}"),
            text: format!("message {i}"),
            reply_to_seq: None,
            mentions: Vec::new(),
            attachments: Vec::new(),
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let message = loop {
            match alice.send_message(group, &request).await {
                Ok(message) => break message,
                Err(error) if retryable(&error) && tokio::time::Instant::now() < deadline => {
                    retries += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(error) => panic!("send {i} failed for good: {error}"),
            }
        };
        assert_eq!(message.client_msg_id, request.client_msg_id);
        assert!(
            acked
                .insert(request.client_msg_id.clone(), message)
                .is_none()
        );
        acked_count.fetch_add(1, Ordering::SeqCst);
    }
    let kills = tokio::time::timeout(Duration::from_secs(60), killer)
        .await
        .expect("killer done")
        .expect("killer");
    assert_eq!(kills, 2);
    assert!(
        retries > 0,
        "some sends hit the dead server and were retried"
    );

    let history = all_messages(&alice, group).await;
    assert_history_matches(&history, &acked, TOTAL);
    // Acks came in send order, so seqs follow the send order too.
    for (i, message) in history.iter().enumerate() {
        assert_eq!(message.client_msg_id, format!("rest-{i}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_websocket_sends_loses_and_duplicates_nothing() {
    let server = TestServer::spawn();
    let (alice, group) = setup(&server).await;
    let session = Arc::new(alice.connect().await.expect("session"));
    let server = Arc::new(Mutex::new(server));
    let acked_count = Arc::new(AtomicUsize::new(0));
    let killer = spawn_killer(Arc::clone(&server), Arc::clone(&acked_count));

    // Three concurrent streams of sends on one session, so several are in flight at a kill.
    const STREAMS: usize = 3;
    let mut tasks = Vec::new();
    for stream in 0..STREAMS {
        let session: Arc<Session> = Arc::clone(&session);
        let acked_count = Arc::clone(&acked_count);
        tasks.push(tokio::spawn(async move {
            let mut acked = HashMap::new();
            let mut failures = 0;
            for i in (stream..TOTAL).step_by(STREAMS) {
                let cmid = format!("ws-{i}");
                let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
                let message = loop {
                    match session
                        .send(group, cmid.clone(), format!("message {i}"))
                        .await
                    {
                        Ok(message) => break message,
                        // The session re-sends in-flight commands itself; if one still fails
                        // (its timeout), send it again with the same id.
                        Err(error)
                            if retryable(&error) && tokio::time::Instant::now() < deadline =>
                        {
                            failures += 1;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        Err(error) => panic!("send {cmid} failed for good: {error}"),
                    }
                };
                assert_eq!(message.client_msg_id, cmid);
                acked.insert(cmid, message);
                acked_count.fetch_add(1, Ordering::SeqCst);
            }
            (acked, failures)
        }));
    }
    let mut acked = HashMap::new();
    for task in tasks {
        let (part, _failures) = tokio::time::timeout(Duration::from_secs(180), task)
            .await
            .expect("stream done")
            .expect("task");
        acked.extend(part);
    }
    let kills = tokio::time::timeout(Duration::from_secs(60), killer)
        .await
        .expect("killer done")
        .expect("killer");
    assert_eq!(kills, 2);
    assert!(
        session.reconnects() >= 2,
        "the session reconnected after each kill ({})",
        session.reconnects()
    );

    let history = all_messages(&alice, group).await;
    assert_history_matches(&history, &acked, TOTAL);
    session.close().await;
}
