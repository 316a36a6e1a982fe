//! Integration tests (one binary, per the workspace convention) against a running PostgreSQL
//! server (`NATTER_TEST_POSTGRES_URL`, default in `support`): the storage conformance suite,
//! twice (message facts of summaries from SQL, and through the `MessageStore` port as in a split
//! deployment), the file metadata suite, the avatar suite, the message search suite, plus what
//! only this adapter has: the sequencer, sync cursors under concurrent commits, the advisory
//! locks, the search index's terms, upserts and backfill, the display-name word index's backfill.

mod locks;
mod search;
mod search_backfill;
mod sequencer;
mod summaries;
mod support;
mod sync_cursor;
mod user_words;

use std::sync::Arc;

use natter_conformance::Stores;

/// Every case shares the database (cases use random ids); each gets its own small pool.
async fn fresh_stores() -> Stores {
    Stores::from_backend(support::store(4).await)
}

/// Summaries read their message facts through the port: the conversation store is told the
/// bodies live in "another" store (a second handle, so only the port connects the two).
async fn split_stores() -> Stores {
    let bodies = support::store(4).await;
    let store = support::store(4)
        .await
        .with_messages(Arc::new(bodies.clone()));
    Stores {
        accounts: Arc::new(store.clone()),
        conversations: Arc::new(store),
        messages: Arc::new(bodies),
        guard: None,
    }
}

mod native {
    natter_conformance::conformance_suite!(crate::fresh_stores);
}

mod through_port {
    natter_conformance::conformance_suite!(crate::split_stores);
}

async fn fresh_files() -> natter_conformance::files::Files {
    natter_conformance::files::Files {
        store: Arc::new(support::store(4).await),
        guard: None,
    }
}

natter_conformance::files_conformance_suite!(fresh_files);

/// The avatar cases: users and files in the one database, as scaled out (Cassandra keeps only
/// message bodies).
async fn fresh_avatars() -> natter_conformance::avatars::AvatarBed {
    let store = support::store(4).await;
    natter_conformance::avatars::AvatarBed {
        stores: Stores::from_backend(store.clone()),
        files: Arc::new(store),
    }
}

natter_conformance::avatars_conformance_suite!(fresh_avatars);

async fn fresh_push() -> natter_conformance::push::Push {
    let store = support::store(4).await;
    natter_conformance::push::Push {
        stores: Stores::from_backend(store.clone()),
        devices: Arc::new(store),
    }
}

natter_conformance::push_conformance_suite!(fresh_push);

/// Each case on a database of its own: claims take whatever is due in the whole table.
async fn fresh_push_pipeline() -> natter_conformance::push_queue::PushPipeline {
    static CASES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let case = CASES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!("push_{case}");
    let store = support::own_store(&name, 4).await;
    natter_conformance::push_queue::PushPipeline {
        stores: Stores::from_backend(store.clone()),
        devices: Arc::new(store.clone()),
        queue: Arc::new(store),
    }
}

natter_conformance::push_queue_conformance_suite!(fresh_push_pipeline);

/// The search cases: the hook indexes each message state as the indexer does from its log
/// record. Every case shares the database (fresh users: each finds only its own case's
/// messages).
async fn fresh_search() -> natter_conformance::search::SearchBed {
    let store = support::store(4).await;
    let indexer = store.clone();
    natter_conformance::search::SearchBed {
        stores: Stores::from_backend(store.clone()),
        search: Arc::new(store),
        index: Some(Arc::new(move |message| {
            let indexer = indexer.clone();
            Box::pin(async move { indexer.index_message(&message).await.expect("index") })
        })),
    }
}

natter_conformance::search_conformance_suite!(fresh_search);
