//! A real network partition (issue 9, section 5): node 0 of a cluster runs in a network
//! namespace of its own ([`crate::netns`]), and its link to one shared server (Redis, or
//! PostgreSQL) is cut at the kernel level for about ten seconds, packets dropped silently, while
//! a user on every node keeps sending. After the heal: every acknowledged message is stored
//! exactly once with gap-free seqs, and every user's WebSocket session (one per node) has received
//! every message, live or by resume, within a bounded wait.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use natter_sdk::protocol::{MessageView, ServerFrame};
use natter_sdk::{Client, Session};
use uuid::Uuid;

use crate::netns::Netns;
use crate::server::TestServer;
use crate::support::username;
use crate::{WAIT, assert_exactly, send_until_acked};

/// How long the partition lasts: long enough for natter's timeouts and health checks to fire.
const PARTITION: Duration = Duration::from_secs(10);
/// Pause between two sends of one user (keeps the load small on a shared machine).
const PACE: Duration = Duration::from_millis(200);
/// At most this many messages per user, whatever happens to the clock.
const MAX_PER_USER: usize = 200;

/// The port of a `host:port` or `scheme://user@host:port/path` address of a shared server,
/// which must be on 127.0.0.1 (the namespace mirrors the root namespace's loopback).
fn loopback_port(address: &str) -> u16 {
    let authority = address
        .split_once("://")
        .map_or(address, |(_, rest)| rest)
        .split('/')
        .next()
        .expect("authority");
    let host_port = authority.rsplit('@').next().expect("host");
    let (host, port) = host_port.rsplit_once(':').expect("host:port");
    assert_eq!(host, "127.0.0.1", "shared servers must listen on 127.0.0.1");
    port.parse().expect("port")
}

/// The shared servers a node uses, by name, and their ports (from `scripts/services env`).
fn shared_servers() -> Vec<(&'static str, u16)> {
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let cassandra = var("NATTER_TEST_CASSANDRA_NODES", "127.0.0.1:59042");
    assert!(!cassandra.contains(','), "one Cassandra node expected");
    vec![
        (
            "postgres",
            loopback_port(&var(
                "NATTER_TEST_POSTGRES_URL",
                "postgres://postgres@127.0.0.1:55432/natter",
            )),
        ),
        (
            "redis",
            loopback_port(&var("NATTER_TEST_REDIS_URL", "redis://127.0.0.1:56379")),
        ),
        (
            "kafka",
            loopback_port(&var("NATTER_TEST_KAFKA_BROKERS", "127.0.0.1:59092")),
        ),
        ("cassandra", loopback_port(&cassandra)),
    ]
}

/// A namespace that reaches every shared server and exposes a free port, and a cluster whose
/// node 0 runs inside it on that port. The namespace outlives the cluster (dropped after it).
fn partitionable_cluster() -> (Netns, TestServer) {
    assert!(
        crate::cluster::enabled(),
        "needs the cluster: NATTER_E2E_CLUSTER=1 after scripts/services start"
    );
    let mut netns = Netns::create();
    for (name, port) in shared_servers() {
        netns.reach(name, port);
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    netns.expose(port);
    let server = TestServer::spawn_with_node0_wrapped(&netns.wrapper(), port);
    (netns, server)
}

/// One user per node, all in one new group; their REST clients (each on its own node) and the
/// group.
async fn users_on_every_node(server: &TestServer) -> (Vec<Client>, Uuid) {
    let mut clients = Vec::new();
    let mut ids = Vec::new();
    for node in 0..server.node_count() {
        let client = server.node_client(node);
        let tokens = client
            .register(
                &username(&format!("n{node}")),
                "correct horse battery staple",
            )
            .await
            .expect("register");
        ids.push(tokens.user.id);
        clients.push(client);
    }
    let group = clients[0]
        .create_group("partition", None, &ids[1..])
        .await
        .expect("group")
        .conversation
        .id;
    (clients, group)
}

/// Send from `client` every `PACE` until `stop`, each message retried (same `client_msg_id`)
/// until acknowledged; the acknowledged messages, and a count of them for progress checks.
fn sender(
    client: Client,
    group: Uuid,
    node: usize,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<Vec<MessageView>> {
    tokio::spawn(async move {
        let mut messages = Vec::new();
        for k in 0..MAX_PER_USER {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let cmid = format!("node{node}-{k}");
            messages.push(send_until_acked(&client, group, &cmid).await);
            acked.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(PACE).await;
        }
        messages
    })
}

/// Wait (bounded) until every counter has moved past its value in `since` by at least `more`.
async fn progress(counters: &[Arc<AtomicUsize>], since: &[usize], more: usize) {
    let deadline = tokio::time::Instant::now() + WAIT * 4;
    while counters
        .iter()
        .zip(since)
        .any(|(c, s)| c.load(Ordering::Relaxed) < s + more)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "a sender made no progress: {:?} since {since:?}",
            counters
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn counts(counters: &[Arc<AtomicUsize>]) -> Vec<usize> {
    counters.iter().map(|c| c.load(Ordering::Relaxed)).collect()
}

/// Read `session`'s events until it has seen every acknowledged message of `group` (bounded);
/// each exactly once, with the acknowledged id.
async fn assert_converges(session: &Session, node: usize, group: Uuid, acked: &[MessageView]) {
    let by_seq: BTreeMap<i64, &MessageView> = acked.iter().map(|m| (m.seq, m)).collect();
    let mut seen: BTreeMap<i64, String> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + WAIT * 2;
    while seen.len() < by_seq.len() {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match session.next_event_timeout(left).await {
            Ok(ServerFrame::MessageNew { message }) if message.conversation_id == group => {
                let ack = by_seq
                    .get(&message.seq)
                    .unwrap_or_else(|| panic!("node {node}: unacknowledged seq {}", message.seq));
                assert_eq!(message.id, ack.id, "node {node}: seq {}", message.seq);
                let previous = seen.insert(message.seq, message.id);
                assert!(
                    previous.is_none(),
                    "node {node}: seq {} delivered twice",
                    message.seq
                );
            }
            Ok(_) => {}
            Err(err) => panic!(
                "node {node}: {} of {} messages, then {err}; missing {:?}",
                seen.len(),
                by_seq.len(),
                by_seq
                    .keys()
                    .filter(|s| !seen.contains_key(s))
                    .collect::<Vec<_>>()
            ),
        }
    }
}

/// The scenario, with the link from node 0 to `cut` (a name of [`shared_servers`]) cut.
async fn partition_from(cut: &str) {
    // Dropped in reverse order, also on a panic: the nodes stop before their namespace goes.
    let (netns, server) = partitionable_cluster();
    let (clients, group) = users_on_every_node(&server).await;
    let mut sessions = Vec::new();
    for client in &clients {
        sessions.push(client.connect().await.expect("session"));
    }
    let stop = Arc::new(AtomicBool::new(false));
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
            )
        })
        .collect();
    progress(&counters, &vec![0; counters.len()], 3).await;
    netns.cut(cut);
    eprintln!("cut node 0 from {cut} at {:?}", counts(&counters));
    // The partition's length is the fault itself, not a wait for something to happen.
    tokio::time::sleep(PARTITION).await;
    netns.heal(cut);
    let at_heal = counts(&counters);
    eprintln!("healed at {at_heal:?}");
    // Every user (node 0's too) gets messages acknowledged again after the heal.
    progress(&counters, &at_heal, 3).await;
    stop.store(true, Ordering::Relaxed);
    let mut acked = Vec::new();
    for handle in senders {
        acked.extend(handle.await.expect("sender"));
    }
    let by_cmid: HashMap<String, MessageView> = acked
        .iter()
        .map(|m| (m.client_msg_id.clone(), m.clone()))
        .collect();
    assert_eq!(by_cmid.len(), acked.len(), "one ack per client_msg_id");
    assert_exactly(&clients[1], group, &by_cmid).await;
    for (node, session) in sessions.iter().enumerate() {
        assert_converges(session, node, group, &acked).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root, iproute2, socat and the shared servers: run through scripts/test"]
async fn a_node_cut_off_from_redis_loses_nothing_and_every_client_converges() {
    partition_from("redis").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root, iproute2, socat and the shared servers: run through scripts/test"]
async fn a_node_cut_off_from_postgres_loses_nothing_and_every_client_converges() {
    partition_from("postgres").await;
}
