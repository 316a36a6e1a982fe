//! What the server leaves on disk is private: the database holds password hashes and every
//! message, `token.key` signs every access token.

#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;

use crate::server::TestServer;
use crate::support::user;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_and_the_token_key_are_private() {
    if crate::cluster::enabled() {
        return; // the nodes keep their data in PostgreSQL and Cassandra
    }
    let mut server = TestServer::spawn();
    user(&server, "alice").await;
    let dir = server.data_dir.path().to_owned();
    for name in ["natter.db", "natter.db-wal", "natter.db-shm", "token.key"] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    // A database made world-readable (by hand, or by an older version) is tightened at start.
    server.terminate();
    std::fs::set_permissions(
        dir.join("natter.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .expect("chmod");
    server.restart();
    user(&server, "bob").await;
    assert_eq!(mode(&dir.join("natter.db")), 0o600);
}
