//! A micro-benchmark of the append path (not a test: `#[ignore]`d, so CI never runs it). It
//! appends through the store's own API, `BATCH` appends in flight at once (so the writer commits
//! about that many per transaction), round-robin over many conversations, and prints appends per
//! second and the bytes the writer thread wrote per append (its WAL frames: checkpoints run on a
//! thread of their own). Run it with
//! `cargo test --release -p natter-store-sqlite --test it append_bench -- --ignored --nocapture`;
//! `APPEND_BENCH_MESSAGES` and `APPEND_BENCH_CONVERSATIONS` change the workload.

use std::time::Instant;

use natter_conformance::Stores;
use natter_conformance::support::Fixture;
use natter_domain::ports::MessageStore;
use natter_store_sqlite::SqliteStore;

/// Appends in flight at once.
const BATCH: usize = 256;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run it by hand"]
async fn append_bench() {
    let messages = setting("APPEND_BENCH_MESSAGES", 100_000);
    let conversations = setting("APPEND_BENCH_CONVERSATIONS", 1_000);
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
    let started = Instant::now();
    let mut sent = 0;
    while sent < messages {
        let mut batch = tokio::task::JoinSet::new();
        for n in sent..(sent + BATCH).min(messages) {
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
    println!(
        "{messages} appends to {conversations} conversations, {BATCH} in flight: {:.0} appends/s, \
         {:.0} bytes written by the writer per append",
        messages as f64 / elapsed,
        written as f64 / messages as f64
    );
    store.close().await;
}
