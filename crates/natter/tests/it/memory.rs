//! Memory a node gives back: password hashing at its production cost (argon2id, 19 MiB per
//! hash) must not leave the hashes' buffers in the process once they are done (see
//! crates/natter/src/allocator.rs). Measured as the node's resident memory, which a leak or a
//! retained arena both raise by ~19 MiB per hash.

use crate::server::TestServer;
use crate::support::username;

const REGISTRATIONS: usize = 16;
/// A fresh debug node holds ~30-40 MiB; retained buffers would add up to 19 MiB per hash.
const RSS_LIMIT_KIB: u64 = 150 * 1024;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .expect("VmRSS")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_hashing_buffers_are_returned_after_each_hash() {
    let server = TestServer::spawn_with(&["--argon2-memory-kib", "19456"]);
    let mut batch = Vec::new();
    for i in 0..REGISTRATIONS {
        let client = server.node_client(0);
        batch.push(tokio::spawn(async move {
            client
                .register(&username("argon"), "correct horse battery staple")
                .await
                .expect("register")
        }));
        if batch.len() == 4 || i + 1 == REGISTRATIONS {
            for task in batch.drain(..) {
                task.await.expect("registration task");
            }
        }
    }
    let rss = rss_kib(server.node_pid(0));
    assert!(
        rss < RSS_LIMIT_KIB,
        "node holds {} MiB after {REGISTRATIONS} password hashes (limit {} MiB)",
        rss / 1024,
        RSS_LIMIT_KIB / 1024
    );
}
