//! Integration tests (one binary, per the workspace convention): the storage conformance suite
//! against a fresh SQLite file per case, plus what only a file-backed store can show.

mod durability;

use natter_conformance::Stores;
use natter_store_sqlite::SqliteStore;

/// A fresh database in its own temporary directory, removed when the case's `Stores` drop.
async fn fresh_stores() -> Stores {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("natter.db"))
        .await
        .expect("open store");
    Stores::from_backend(store).with_guard(dir)
}

natter_conformance::conformance_suite!(fresh_stores);
