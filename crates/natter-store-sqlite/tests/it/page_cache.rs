//! The store's page cache is the one SQLite runs with here: every case of this binary opens its
//! connections through the store, so the conformance suite exercises SQLite through it.

use natter_store_sqlite::SqliteStore;

#[tokio::test]
async fn sqlite_runs_with_the_stores_page_cache() {
    let dir = tempfile::tempdir().expect("temp dir");
    let _store = SqliteStore::open(&dir.path().join("natter.db"))
        .await
        .expect("open store");
    assert!(natter_store_sqlite::sqlite_uses_the_stores_page_cache());
}
