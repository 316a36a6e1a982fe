//! SQLite runs here as the store configures it before it starts: with the store's page cache and
//! without memory statistics. Every case of this binary opens its connections through the store,
//! so the conformance suite exercises SQLite so configured.

use natter_store_sqlite::SqliteStore;

#[tokio::test]
async fn sqlite_runs_with_the_stores_page_cache() {
    let dir = tempfile::tempdir().expect("temp dir");
    let _store = SqliteStore::open(&dir.path().join("natter.db"))
        .await
        .expect("open store");
    assert!(natter_store_sqlite::sqlite_uses_the_stores_page_cache());
}

#[tokio::test]
async fn sqlite_does_not_count_its_memory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let _store = SqliteStore::open(&dir.path().join("natter.db"))
        .await
        .expect("open store");
    // The store's migrations allocated plenty; counted, this would be their bytes.
    // SAFETY: reads a counter, from any thread.
    let counted = unsafe { rusqlite::ffi::sqlite3_memory_used() };
    assert_eq!(counted, 0, "SQLite counts its allocations (and locks to)");
}
