//! Integration tests (one binary, per the workspace convention): the storage conformance suite
//! against a fresh SQLite file per case, plus what only a file-backed store can show.

mod append_bench;
mod durability;
mod page_cache;
mod rosters;
mod search_owed;
mod syncs;
mod writer_priority;

use natter_conformance::Stores;
use natter_store_sqlite::SqliteStore;

/// The `/proc` entry of one of this process's SQLite writer threads (each store has one).
fn writer_thread() -> std::path::PathBuf {
    std::fs::read_dir("/proc/self/task")
        .expect("tasks")
        .map(|task| task.expect("task").path())
        .find(|task| {
            std::fs::read_to_string(task.join("comm"))
                .is_ok_and(|comm| comm.starts_with("natter-sqlite-w"))
        })
        .expect("a writer thread")
}

/// A fresh database in its own temporary directory, removed when the case's `Stores` drop.
async fn fresh_stores() -> Stores {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("natter.db"))
        .await
        .expect("open store");
    Stores::from_backend(store).with_guard(dir)
}

natter_conformance::conformance_suite!(fresh_stores);

/// The search cases, each on a fresh database: the store writes the index itself (a search first
/// has the writer write what it owes), so there is nothing to feed it.
async fn fresh_search() -> natter_conformance::search::SearchBed {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("natter.db"))
        .await
        .expect("open store");
    natter_conformance::search::SearchBed {
        stores: Stores::from_backend(store.clone()).with_guard(dir),
        search: std::sync::Arc::new(store),
        index: None,
    }
}

natter_conformance::search_conformance_suite!(fresh_search);

/// The file-metadata cases, each on a fresh database.
async fn fresh_files() -> natter_conformance::files::Files {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("natter.db"))
        .await
        .expect("open store");
    natter_conformance::files::Files {
        store: std::sync::Arc::new(store),
        guard: Some(Box::new(dir)),
    }
}

natter_conformance::files_conformance_suite!(fresh_files);

/// The avatar cases (users and files in one database), each on a fresh database.
async fn fresh_avatars() -> natter_conformance::avatars::AvatarBed {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("natter.db"))
        .await
        .expect("open store");
    natter_conformance::avatars::AvatarBed {
        stores: Stores::from_backend(store.clone()).with_guard(dir),
        files: std::sync::Arc::new(store),
    }
}

natter_conformance::avatars_conformance_suite!(fresh_avatars);

/// The push-device cases, each on a fresh database.
async fn fresh_push() -> natter_conformance::push::Push {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("natter.db"))
        .await
        .expect("open store");
    natter_conformance::push::Push {
        stores: Stores::from_backend(store.clone()).with_guard(dir),
        devices: std::sync::Arc::new(store),
    }
}

natter_conformance::push_conformance_suite!(fresh_push);

/// The push pipeline cases, each on a fresh database.
async fn fresh_push_pipeline() -> natter_conformance::push_queue::PushPipeline {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("natter.db"))
        .await
        .expect("open store");
    natter_conformance::push_queue::PushPipeline {
        stores: Stores::from_backend(store.clone()).with_guard(dir),
        devices: std::sync::Arc::new(store.clone()),
        queue: std::sync::Arc::new(store),
    }
}

natter_conformance::push_queue_conformance_suite!(fresh_push_pipeline);
