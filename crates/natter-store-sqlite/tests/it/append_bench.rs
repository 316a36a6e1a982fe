//! A micro-benchmark of the append path (not a test: `#[ignore]`d, so CI never runs it). It
//! appends through the store's own API, a number of appends in flight at once (so the writer
//! commits about that many per transaction), round-robin over many conversations, and prints
//! appends per second, the writer thread's CPU per append (the figure that moves least with a
//! busy machine) and the bytes it wrote per append (its WAL frames: checkpoints run on a thread
//! of their own). Run it with
//! `cargo test --release -p natter-store-sqlite --test it append_bench -- --ignored --nocapture`;
//! `APPEND_BENCH_MESSAGES`, `APPEND_BENCH_CONVERSATIONS` and `APPEND_BENCH_IN_FLIGHT` (256)
//! change the workload: one conversation and 26 in flight is a saturated room of 100's commits.

use std::time::Instant;

use natter_conformance::Stores;
use natter_conformance::support::Fixture;
use natter_domain::ports::MessageStore;
use natter_store_sqlite::SqliteStore;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Bytes written by this process's SQLite writer thread so far (`wchar` of its `/proc` entry).
fn writer_bytes() -> u64 {
    let io = std::fs::read_to_string(super::writer_thread().join("io")).expect("io");
    io.lines()
        .find_map(|l| l.strip_prefix("wchar: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("wchar")
}

/// CPU seconds the writer thread has used so far (`utime + stime` of its `/proc` entry).
fn writer_cpu_s() -> f64 {
    let stat = std::fs::read_to_string(super::writer_thread().join("stat")).expect("stat");
    // The fields after the command name, which is in parentheses: utime and stime are the
    // 12th and 13th of them, in clock ticks.
    let fields: Vec<&str> = stat[stat.rfind(')').expect("comm") + 2..]
        .split(' ')
        .collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    // SAFETY: sysconf reads a constant of the system.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    ticks as f64 / per_second as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run it by hand"]
async fn append_bench() {
    let messages = setting("APPEND_BENCH_MESSAGES", 100_000);
    let conversations = setting("APPEND_BENCH_CONVERSATIONS", 1_000);
    let in_flight = setting("APPEND_BENCH_IN_FLIGHT", 256);
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("natter.db"))
        .await
        .unwrap();
    let f = Fixture::new(Stores::from_backend(store.clone()));
    let alice = f.user("alice").await.id;
    let mut ids = Vec::with_capacity(conversations);
    for _ in 0..conversations {
        ids.push(f.group(alice, &[]).await.id);
    }
    let text = "a message of about sixty bytes, like most chat messages are.";
    let before = writer_bytes();
    let cpu_before = writer_cpu_s();
    let started = Instant::now();
    let mut sent = 0;
    while sent < messages {
        let mut batch = tokio::task::JoinSet::new();
        for n in sent..(sent + in_flight).min(messages) {
            let message = f.new_message(ids[n % conversations], alice, text);
            let store = store.clone();
            batch.spawn(async move { store.append(message).await });
        }
        sent += batch.len();
        while let Some(done) = batch.join_next().await {
            done.unwrap().unwrap();
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let written = writer_bytes() - before;
    let cpu = writer_cpu_s() - cpu_before;
    println!(
        "{messages} appends to {conversations} conversations, {in_flight} in flight: {:.0} \
         appends/s, writer CPU {:.1} µs and {:.0} bytes written per append",
        messages as f64 / elapsed,
        cpu * 1e6 / messages as f64,
        written as f64 / messages as f64
    );
    store.close().await;
}
