//! Denial of service and brute force without an account: a flood of silent sockets, a slowloris,
//! early refusals on keep-alive connections, attacker-chosen metric labels, login floods from one
//! address, a victim's lockout and a full password-hash queue. Each test talks to one node
//! directly (in cluster mode NGINX would stand between the attacker and natter).
//!
//! Attackers use source addresses 127.0.0.2-127.0.0.9 (all of 127.0.0.0/8 is loopback on Linux);
//! the healthy client and the victim use 127.0.0.1.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::Duration;

use futures_util::future::join_all;
use natter_sdk::{Client, Method, RawBody};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::server::TestServer;
use crate::support::username;

/// Silent sockets opened by each flood process, and how many processes: 20,000 in all. One
/// process cannot hold them all (its open-file limit is 20,000 and it needs a few more), and
/// the test binary must keep descriptors for the tests running beside this one.
const FLOOD_PER_PROCESS: usize = 10_000;
const FLOOD_PROCESSES: usize = 2;

fn node_addr(server: &TestServer) -> SocketAddr {
    server
        .node_url(0)
        .trim_start_matches("http://")
        .parse()
        .expect("node address")
}

fn attacker_source(i: usize) -> IpAddr {
    IpAddr::from([127, 0, 0, 2 + (i % 8) as u8])
}

/// A TCP connection from `source` to `to` (bounded in time).
async fn connect_from(source: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    tokio::time::timeout(Duration::from_secs(10), socket.connect(to))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
}

/// Not a test: the body of one flood process, started by
/// [`silent_sockets_do_not_starve_a_healthy_client`] (it does nothing when run on its own).
/// Opens `FLOOD_PER_PROCESS` sockets that never send a byte, prints how many connected, and
/// holds them until its stdin closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a helper process of silent_sockets_do_not_starve_a_healthy_client"]
async fn flood_process() {
    let Ok(target) = std::env::var("NATTER_FLOOD_TARGET") else {
        return;
    };
    let target: SocketAddr = target.parse().expect("target");
    // As many descriptors as this process may have (the hard limit).
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let mut held = Vec::with_capacity(FLOOD_PER_PROCESS);
    for batch in (0..FLOOD_PER_PROCESS).collect::<Vec<_>>().chunks(500) {
        let opened = join_all(
            batch
                .iter()
                .map(|i| connect_from(attacker_source(*i), target)),
        )
        .await;
        held.extend(opened.into_iter().filter_map(Result::ok));
    }
    println!("flood connected {}", held.len());
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_sockets_do_not_starve_a_healthy_client() {
    // A header timeout far beyond the test's bounds: only the socket caps protect the node.
    let server =
        TestServer::spawn_with_env(&[], &[("NATTER__LIMITS__HTTP_HEADER_TIMEOUT_MS", "600000")]);
    let target = node_addr(&server);
    let mut floods = Vec::new();
    for _ in 0..FLOOD_PROCESSES {
        let child = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "denial::flood_process",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env("NATTER_FLOOD_TARGET", target.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start a flood process");
        floods.push(child);
    }
    let mut connected = 0;
    for child in &mut floods {
        let stdout = child.stdout.take().expect("stdout");
        let line = tokio::task::spawn_blocking(move || {
            use std::io::BufRead;
            std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .find_map(|l| {
                    // The test harness prints its own prefix on the same line.
                    l.split("flood connected ")
                        .nth(1)
                        .map(|n| n.trim().parse::<usize>().expect("count"))
                })
        });
        connected += tokio::time::timeout(Duration::from_secs(300), line)
            .await
            .expect("the flood connects in time")
            .expect("flood reader")
            .expect("the flood reports");
    }
    eprintln!(
        "{connected} of {} silent sockets connected",
        FLOOD_PER_PROCESS * FLOOD_PROCESSES
    );
    assert!(
        connected >= FLOOD_PER_PROCESS,
        "only {connected} sockets connected"
    );

    // The node holds at most its per-address cap from each of the 8 attacking addresses (512
    // each by default), not one descriptor per socket: it can never run out.
    let held_by_node = std::fs::read_dir(format!("/proc/{}/fd", server.node_pid(0)))
        .expect("the node's descriptors")
        .count();
    assert!(
        held_by_node < 8 * 512 + 256,
        "the node holds {held_by_node} descriptors"
    );
    // While they are all open, a healthy client is served.
    healthy_client_is_served(&server).await;

    for mut child in floods {
        drop(child.stdin.take());
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Register, log in, create a group and send, on fresh clients of node 0 (bounded in time).
async fn healthy_client_is_served(server: &TestServer) {
    let healthy = async {
        let client = Client::new(server.node_url(0)).expect("client");
        client.health().await.expect("/healthz answers");
        let name = username("healthy");
        client
            .register(&name, "correct horse battery staple")
            .await
            .expect("register");
        let fresh = Client::new(server.node_url(0)).expect("client");
        fresh
            .login(&name, "correct horse battery staple")
            .await
            .expect("log in");
        let group = fresh
            .create_group("g", None, &[])
            .await
            .expect("create")
            .conversation
            .id;
        fresh.send_text(group, "still here").await.expect("send");
    };
    tokio::time::timeout(Duration::from_secs(60), healthy)
        .await
        .expect("the healthy client is served in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_socket_limit_waiting_sockets_make_room_for_new_ones() {
    // Many attacking addresses, each under its cap, fill the node's 100 sockets three times over.
    let server = TestServer::spawn_with_env(
        &[],
        &[
            ("NATTER__LIMITS__MAX_SOCKETS", "100"),
            ("NATTER__LIMITS__MAX_SOCKETS_PER_ADDRESS", "1000"),
        ],
    );
    let target = node_addr(&server);
    let opened = join_all((0..300).map(|i| connect_from(attacker_source(i), target))).await;
    let held: Vec<_> = opened.into_iter().filter_map(Result::ok).collect();
    assert!(held.len() >= 200, "only {} connected", held.len());
    healthy_client_is_served(&server).await;
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_is_cut_by_the_header_timeout() {
    let server =
        TestServer::spawn_with_env(&[], &[("NATTER__LIMITS__HTTP_HEADER_TIMEOUT_MS", "1000")]);
    let mut socket = connect_from(attacker_source(0), node_addr(&server))
        .await
        .expect("connect");
    socket
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("request line");
    // One header line every 100 ms, never the blank line that ends the head: at most 100
    // lines (10 s), well beyond the 1 s timeout and short of hyper's own default (30 s).
    let mut cut = false;
    for i in 0..100 {
        let mut buf = [0u8; 256];
        match tokio::time::timeout(Duration::from_millis(100), socket.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                cut = true;
                break;
            }
            Ok(Ok(_)) => {} // a 408 or similar before the close
            Err(_) => {
                if socket
                    .write_all(format!("X-Trickle-{i}: y\r\n").as_bytes())
                    .await
                    .is_err()
                {
                    cut = true;
                    break;
                }
            }
        }
    }
    assert!(cut, "the trickling connection was never closed");
    // And the server still answers.
    Client::new(server.node_url(0))
        .expect("client")
        .health()
        .await
        .expect("health");
}

/// Send `requests` on one connection in one write; read until the server closes or `want`
/// responses' status lines arrived; the raw text.
async fn exchange(to: SocketAddr, requests: &[u8], want: usize) -> String {
    let mut socket = TcpStream::connect(to).await.expect("connect");
    socket.write_all(requests).await.expect("write");
    let mut text = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    for _ in 0..1000 {
        match tokio::time::timeout(Duration::from_secs(10), socket.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => text.extend_from_slice(&buf[..n]),
        }
        let got = String::from_utf8_lossy(&text);
        if got.matches("HTTP/1.1 ").count() >= want && got.ends_with("ok") {
            break;
        }
    }
    String::from_utf8_lossy(&text).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_refusals_keep_the_keep_alive_connection_usable() {
    let server = TestServer::spawn();
    let to = node_addr(&server);
    // Bodies big enough not to arrive with the head (under the 64 KiB limit).
    let body = format!("{{\"name\":\"{}\"}}", "x".repeat(60_000));
    let cases = [
        ("POST", "/api/v1/conversations", "401"),
        ("POST", "/api/v1/nowhere", "404"),
        ("PUT", "/healthz", "405"),
        ("POST", "/api/v1/conversations/not-a-uuid/messages", "40"),
    ];
    for (method, path, status) in cases {
        let mut requests = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes();
        requests.extend_from_slice(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        let answer = exchange(to, &requests, 2).await;
        let first = answer.lines().next().unwrap_or_default();
        assert!(
            first.starts_with(&format!("HTTP/1.1 {status}")),
            "{method} {path}: {first:?}"
        );
        let closes = answer
            .split("\r\n\r\n")
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase()
            .contains("connection: close");
        assert!(
            closes || (answer.matches("HTTP/1.1 200").count() == 1 && answer.ends_with("ok")),
            "{method} {path}: the next request on the connection got no answer:\n{}",
            &answer[..answer.len().min(600)]
        );
    }
    // A body over the limit is refused without reading it, and the connection says it closes.
    let big = "y".repeat(100_000);
    let requests = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{big}GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        big.len()
    );
    let answer = exchange(to, requests.as_bytes(), 2).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer:?}");
    let head = answer
        .split("\r\n\r\n")
        .next()
        .unwrap()
        .to_ascii_lowercase();
    assert!(head.contains("connection: close"), "{head}");
}

/// The sample lines of a Prometheus text page, values stripped: the series it holds.
fn series(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            l.rsplit_once(' ')
                .map_or(l, |(series, _)| series)
                .to_owned()
        })
        .collect()
}

async fn scrape(server: &TestServer) -> String {
    let url = server.metrics_url(0).expect("metrics listener");
    let page = Client::new(url.trim_end_matches("/metrics"))
        .expect("client")
        .raw_request(Method::GET, "/metrics", RawBody::Empty, None)
        .await
        .expect("scrape");
    assert_eq!(page.status, 200);
    String::from_utf8(page.body).expect("UTF-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_method_names_do_not_grow_the_metrics() {
    let server = TestServer::spawn();
    let client = Client::new(server.node_url(0)).expect("client");
    const PATHS: [&str; 4] = ["/healthz", "/api/v1/users/me", "/api/v1/nowhere", "/x"];
    let request = move |i: usize| {
        let client = client.clone();
        async move {
            let method = Method::from_bytes(format!("M{i:05}X").as_bytes()).expect("method");
            let _ = client
                .raw_request(method, PATHS[i % PATHS.len()], RawBody::Empty, None)
                .await
                .expect("answered");
        }
    };
    for i in 0..100 {
        request(i).await;
    }
    let before = series(&scrape(&server).await);
    let total = 20_000;
    let tasks: Vec<_> = (0..8)
        .map(|worker| {
            let request = request.clone();
            tokio::spawn(async move {
                for i in (100 + worker..total).step_by(8) {
                    request(i).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("worker");
    }
    let page = scrape(&server).await;
    let after = series(&page);
    let new: Vec<_> = after.difference(&before).collect();
    assert!(new.is_empty(), "new series after random methods: {new:?}");
    assert!(page.contains("method=\"other\""), "{page}");
}

/// A client whose requests leave from `source`.
fn client_from(source: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(source)
        .build()
        .expect("reqwest client")
}

async fn login_status(
    http: &reqwest::Client,
    server: &TestServer,
    username: &str,
    password: &str,
) -> (u16, Option<String>) {
    let response = http
        .post(format!("{}/api/v1/auth/login", server.node_url(0)))
        .json(&serde_json::json!({"username": username, "password": password}))
        .send()
        .await
        .expect("login answered");
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (response.status().as_u16(), retry_after)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_from_one_address_are_limited_whatever_the_username() {
    let server = TestServer::spawn_with(&["--login-per-address-per-minute", "20"]);
    let attacker = client_from(attacker_source(1));
    let mut limited = 0;
    for i in 0..100 {
        let (status, retry_after) = login_status(
            &attacker,
            &server,
            &format!("nobody{i}"),
            "correct horse battery staple",
        )
        .await;
        match status {
            401 => {}
            429 => {
                assert!(retry_after.is_some(), "429 without Retry-After");
                limited += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    // A burst of 10 is answered; a refill of 20 a minute adds a few at most.
    assert!(limited >= 80, "only {limited} of 100 logins were limited");
    // Another address is not affected.
    let (status, _) = login_status(
        &client_from(attacker_source(2)),
        &server,
        "nobody",
        "correct horse battery staple",
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attacker_cannot_lock_the_owner_out() {
    let server = TestServer::spawn_with(&["--auth-per-minute", "20"]);
    let name = username("victim");
    Client::new(server.node_url(0))
        .expect("client")
        .register(&name, "correct horse battery staple")
        .await
        .expect("register");
    let attacker = client_from(attacker_source(3));
    let mut locked = 0;
    for _ in 0..12 {
        let (status, retry_after) = login_status(&attacker, &server, &name, "wrong-guess").await;
        match status {
            401 => {}
            429 => {
                assert!(retry_after.is_some(), "429 without Retry-After");
                locked += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(locked >= 1, "12 wrong passwords never locked the attacker");
    let owner = client_from(IpAddr::from([127, 0, 0, 1]));
    let (status, _) = login_status(&owner, &server, &name, "correct horse battery staple").await;
    assert_eq!(status, 200, "the owner is locked out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_hash_queue_answers_503_with_retry_after() {
    // One slow hash at a time and no queue: concurrent logins beyond it are refused at once.
    let server = TestServer::spawn_with_env(
        &["--argon2-memory-kib", "65536"],
        &[
            ("NATTER__AUTH__ARGON2_CONCURRENCY", "1"),
            ("NATTER__AUTH__ARGON2_QUEUE", "0"),
            ("NATTER__AUTH__ARGON2_ITERATIONS", "8"),
        ],
    );
    let http = client_from(IpAddr::from([127, 0, 0, 1]));
    let answers = join_all((0..16).map(|i| {
        let http = http.clone();
        let server = &server;
        async move {
            login_status(
                &http,
                server,
                &format!("queue{i}"),
                "correct horse battery staple",
            )
            .await
        }
    }))
    .await;
    let refused: Vec<_> = answers
        .iter()
        .filter(|(status, _)| *status == 503)
        .collect();
    assert!(!refused.is_empty(), "no login was refused: {answers:?}");
    for (_, retry_after) in refused {
        assert_eq!(retry_after.as_deref(), Some("1"));
    }
    assert!(
        answers
            .iter()
            .all(|(status, _)| [401, 503].contains(status)),
        "{answers:?}"
    );
}
