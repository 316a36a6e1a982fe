//! What the server leaves on disk: private (the database holds password hashes and every
//! message, `token.key` signs every access token), and a token key that rotates.

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

/// `natter rotate-token-key` between restarts: the new key signs, and access tokens signed with
/// the old one keep working, so nobody is logged out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_the_token_key_logs_nobody_out() {
    if crate::cluster::enabled() {
        return; // the nodes share a key file the cluster harness owns
    }
    let mut server = TestServer::spawn();
    let (alice, alice_user) = user(&server, "alice").await;
    let before = alice.access_token().expect("token");
    let kid = |token: &str| {
        let header = token.split('.').next().expect("header");
        let json = base64_url(header);
        serde_json::from_slice::<serde_json::Value>(&json).expect("JSON header")["kid"].clone()
    };
    server.terminate();
    let rotated = std::process::Command::new(env!("CARGO_BIN_EXE_natter"))
        .args(["rotate-token-key", "--data-dir"])
        .arg(server.data_dir.path())
        .output()
        .expect("run natter");
    assert!(rotated.status.success(), "{rotated:?}");
    server.restart();

    let me = alice
        .with_token(&before)
        .me()
        .await
        .expect("the old token still works");
    assert_eq!(me.id, alice_user.id);
    let fresh = server
        .client()
        .login(&alice_user.username, "correct horse battery staple")
        .await
        .expect("login")
        .access_token;
    assert!(kid(&before).is_string());
    assert_ne!(kid(&fresh), kid(&before), "the new key signs");
}

fn base64_url(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .expect("base64url")
}
