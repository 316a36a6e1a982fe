//! The search index is written a few hundred messages at a time (`search_index.rs`). Read from
//! the file itself, beside the store: what the index is owed is not in it until a search asks
//! for it or enough has piled up; it survives a close (as it would a crash: nothing is written at
//! close) through `meta.search_from`; another store on the same file finds it too; and an edit
//! of a message already in the index is written at the edit's commit.

use std::path::{Path, PathBuf};

use natter_conformance::Stores;
use natter_conformance::search::query;
use natter_conformance::support::{Fixture, T0, text};
use natter_domain::model::MessageChange;
use natter_domain::ports::MessageSearch;
use natter_domain::search::HitPage;
use natter_domain::{ConversationId, UserId};
use natter_store_sqlite::SqliteStore;
use rusqlite::{Connection, OpenFlags};

fn file(path: &Path) -> Connection {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open read-only")
}

/// The messages (ids) the file's index holds for `word`.
fn indexed(path: &Path, word: &str) -> Vec<i64> {
    let conn = file(path);
    let mut statement = conn
        .prepare("SELECT rowid FROM message_search WHERE message_search MATCH ? ORDER BY rowid")
        .unwrap();
    statement
        .query_map([format!("\"{word}\"")], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn search_from(path: &Path) -> Option<i64> {
    file(path)
        .query_row("SELECT search_from FROM meta WHERE id = 1", [], |row| {
            row.get(0)
        })
        .unwrap()
}

async fn found(store: &SqliteStore, user: UserId, word: &str) -> Vec<i64> {
    let page: HitPage = store.search_messages(user, &query(word)).await.unwrap();
    page.hits.iter().map(|hit| hit.seq).collect()
}

async fn open(path: &Path) -> (SqliteStore, Fixture) {
    let store = SqliteStore::open(path).await.unwrap();
    let f = Fixture::new(Stores::from_backend(store.clone()));
    (store, f)
}

/// A store on a new file, and alice alone in a group.
struct Bed {
    _dir: tempfile::TempDir,
    path: PathBuf,
    store: SqliteStore,
    f: Fixture,
    alice: UserId,
    group: ConversationId,
}

async fn bed() -> Bed {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("natter.db");
    let (store, f) = open(&path).await;
    let alice = f.user("alice").await.id;
    let group = f.group(alice, &[]).await.id;
    Bed {
        _dir: dir,
        path,
        store,
        f,
        alice,
        group,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_owed_survives_a_close_and_a_search_finds_it() {
    let Bed {
        _dir,
        path,
        store,
        f,
        alice,
        group,
    } = bed().await;
    let first = f.send(group, alice, "owed one").await;
    f.send(group, alice, "owed two").await;
    f.send(group, alice, "owed three").await;
    f.messages
        .change(group, 3, MessageChange::Delete, T0)
        .await
        .unwrap();
    assert_eq!(indexed(&path, "owed"), Vec::<i64>::new(), "written at once");
    assert_eq!(search_from(&path), Some(first.id.0));
    store.close().await;
    drop(f);

    let (reopened, _g) = open(&path).await;
    assert_eq!(found(&reopened, alice, "owed").await, vec![2, 1]);
    assert_eq!(indexed(&path, "owed").len(), 2);
    assert_eq!(search_from(&path), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enough_owed_entries_are_written_together() {
    let Bed {
        _dir,
        path,
        f,
        alice,
        group,
        ..
    } = bed().await;
    let mut sent = 0;
    while indexed(&path, "piled").is_empty() {
        assert!(sent < 2_000, "nothing written after {sent} messages");
        f.send(group, alice, "piled up").await;
        sent += 1;
    }
    assert!(sent > 100, "written after only {sent} messages");
    assert_eq!(indexed(&path, "piled").len(), sent, "all at once");
    assert_eq!(search_from(&path), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_of_an_indexed_message_is_written_at_its_commit() {
    let Bed {
        _dir,
        path,
        store,
        f,
        alice,
        group,
    } = bed().await;
    let first = f.send(group, alice, "alpha").await;
    assert_eq!(found(&store, alice, "alpha").await, vec![1]);
    let second = f.send(group, alice, "beta").await;
    assert_eq!(indexed(&path, "beta"), Vec::<i64>::new());
    let edit = MessageChange::Edit {
        text: text("gamma"),
        mentions: Vec::new(),
    };
    f.messages.change(group, 1, edit, T0).await.unwrap();
    assert_eq!(indexed(&path, "alpha"), Vec::<i64>::new());
    assert_eq!(indexed(&path, "gamma"), vec![first.id.0]);
    assert_eq!(
        indexed(&path, "beta"),
        vec![second.id.0],
        "what was owed before it too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_store_on_the_file_finds_what_the_first_owes() {
    let Bed {
        _dir,
        path,
        f,
        alice,
        group,
        ..
    } = bed().await;
    f.send(group, alice, "shared words").await;
    let (two, _g) = open(&path).await;
    assert_eq!(found(&two, alice, "shared").await, vec![1]);
    f.send(group, alice, "more shared words").await;
    assert_eq!(found(&two, alice, "shared").await, vec![2, 1]);
}
