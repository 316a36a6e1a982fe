//! Cases for the [`FileStore`] port: uploads become files once, the quota holds under
//! concurrency, only incomplete uploads can be deleted or collected.

use std::any::Any;
use std::sync::Arc;

use natter_domain::files::{
    Collectable, CreateUpload, FileContent, FileId, FileName, FileRecord, FileReference, FileStore,
    MediaInfo, NewUpload, ObjectHash, Pin, Thumbnail, ThumbnailSize,
};
use natter_domain::values::ClientMsgId;
use natter_domain::{ConversationId, StoreError, UserId};

use crate::support::T0;

/// A backend's file store and what must stay alive while a case runs.
pub struct Files {
    pub store: Arc<dyn FileStore>,
    pub guard: Option<Box<dyn Any + Send + Sync>>,
}

const QUOTA: u64 = 1_000;

fn upload(owner: UserId, size: u64, created_at_ms: i64) -> NewUpload {
    NewUpload {
        id: FileId::new(),
        owner,
        name: FileName::parse("report.pdf").expect("name"),
        size,
        created_at_ms,
    }
}

async fn create(files: &Files, new: NewUpload) -> FileRecord {
    match files.store.create_upload(new, QUOTA).await.expect("create") {
        CreateUpload::Created(record) => record,
        other => panic!("expected Created, got {other:?}"),
    }
}

fn content(byte: u8) -> FileContent {
    FileContent {
        sha256: [byte; 32],
        size: 10,
        mime: "application/pdf".into(),
        completed_at_ms: T0 + 5,
        media: None,
    }
}

/// A picture's content: every media field set, so a store that drops one fails.
fn picture(byte: u8) -> FileContent {
    let thumbnail = |size, side: u32| Thumbnail {
        size,
        sha256: [byte.wrapping_add(side as u8); 32],
        mime: "image/webp".into(),
        width: side,
        height: side * 3 / 4,
        bytes: u64::from(side) * 10,
    };
    FileContent {
        sha256: [byte; 32],
        size: 7,
        mime: "image/jpeg".into(),
        completed_at_ms: T0 + 6,
        media: Some(MediaInfo {
            width: Some(4000),
            height: Some(3000),
            duration_ms: Some(1_500),
            thumbhash: Some(vec![0x5a; 25]),
            thumbnails: vec![
                thumbnail(ThumbnailSize::Small, 320),
                thumbnail(ThumbnailSize::Large, 1280),
            ],
        }),
    }
}

pub async fn media_facts_are_kept_as_given(files: Files) {
    let owner = UserId::new();
    let new = upload(owner, 10, T0);
    create(&files, new.clone()).await;
    let done = files.store.complete(new.id, picture(9)).await.unwrap();
    assert_eq!(done.content, Some(picture(9)));
    assert_eq!(done.size, 10, "the uploaded size stays what counts");
    let read = files.store.file(new.id).await.unwrap().expect("file");
    assert_eq!(read.content, Some(picture(9)));
}

pub async fn upload_becomes_a_file_once(files: Files) {
    let owner = UserId::new();
    let new = upload(owner, 10, T0);
    let created = create(&files, new.clone()).await;
    assert_eq!(created.content, None);
    assert_eq!(
        files.store.file(new.id).await.unwrap(),
        Some(created.clone())
    );
    let done = files.store.complete(new.id, content(1)).await.unwrap();
    assert_eq!(done.content, Some(content(1)));
    assert_eq!((done.owner, done.size, &done.name), (owner, 10, &new.name));
    // Completing again changes nothing: the first content stays.
    let again = files.store.complete(new.id, content(2)).await.unwrap();
    assert_eq!(again, done);
    assert_eq!(files.store.file(new.id).await.unwrap(), Some(done));
    assert_eq!(
        files.store.complete(FileId::new(), content(1)).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(files.store.file(FileId::new()).await.unwrap(), None);
}

pub async fn files_returns_those_that_exist(files: Files) {
    let owner = UserId::new();
    let a = create(&files, upload(owner, 10, T0)).await;
    let b = create(&files, upload(owner, 20, T0)).await;
    files.store.complete(b.id, content(4)).await.unwrap();
    let b = files.store.file(b.id).await.unwrap().expect("b");
    let mut found = files
        .store
        .files(&[b.id, FileId::new(), a.id])
        .await
        .unwrap();
    found.sort_by_key(|record| record.size);
    assert_eq!(found, vec![a, b]);
    assert_eq!(files.store.files(&[]).await.unwrap(), vec![]);
}

fn reference(
    file: FileId,
    conversation: ConversationId,
    sender: UserId,
    key: &str,
) -> FileReference {
    FileReference {
        file,
        conversation,
        sender,
        client_msg_id: ClientMsgId::parse(key).expect("client id"),
        at_ms: T0 + 10,
    }
}

pub async fn references_show_a_file_until_their_messages_are_deleted(files: Files) {
    let owner = UserId::new();
    let file = create(&files, upload(owner, 10, T0)).await.id;
    let (here, there) = (ConversationId::new(), ConversationId::new());
    assert_eq!(
        files.store.showing_conversations(file).await.unwrap(),
        vec![]
    );

    let first = reference(file, here, owner, "m1");
    let second = reference(file, here, owner, "m2");
    let elsewhere = reference(file, there, owner, "m3");
    files
        .store
        .add_references(&[first.clone(), second.clone(), elsewhere.clone()])
        .await
        .unwrap();
    // Recording one again (a retried send) changes nothing.
    files
        .store
        .add_references(std::slice::from_ref(&first))
        .await
        .unwrap();
    let mut showing = files.store.showing_conversations(file).await.unwrap();
    showing.sort();
    let mut both = vec![here, there];
    both.sort();
    assert_eq!(showing, both);

    // One of the two messages here is deleted: the other still shows the file here.
    async fn release(files: &Files, r: &FileReference) {
        files
            .store
            .release_references(r.conversation, r.sender, &r.client_msg_id, T0 + 20)
            .await
            .expect("release");
    }
    release(&files, &first).await;
    let mut showing = files.store.showing_conversations(file).await.unwrap();
    showing.sort();
    assert_eq!(showing, both);
    release(&files, &second).await;
    assert_eq!(
        files.store.showing_conversations(file).await.unwrap(),
        vec![there]
    );
    // Releasing twice, or what was never recorded, changes nothing.
    release(&files, &second).await;
    release(&files, &reference(file, here, UserId::new(), "m9")).await;
    assert_eq!(
        files.store.showing_conversations(file).await.unwrap(),
        vec![there]
    );
    // A deleted message stays deleted: recording its reference again does not revive it.
    files.store.add_references(&[first]).await.unwrap();
    assert_eq!(
        files.store.showing_conversations(file).await.unwrap(),
        vec![there]
    );
    release(&files, &elsewhere).await;
    assert_eq!(
        files.store.showing_conversations(file).await.unwrap(),
        vec![]
    );
}

pub async fn quota_counts_files_and_uploads_of_the_owner(files: Files) {
    let owner = UserId::new();
    let first = create(&files, upload(owner, 600, T0)).await;
    files.store.complete(first.id, content(3)).await.unwrap();
    create(&files, upload(owner, 300, T0)).await;
    let refused = files
        .store
        .create_upload(upload(owner, 101, T0), QUOTA)
        .await
        .unwrap();
    assert_eq!(refused, CreateUpload::OverQuota { used_bytes: 900 });
    // Exactly up to the quota is allowed; another user has a quota of their own.
    create(&files, upload(owner, 100, T0)).await;
    create(&files, upload(UserId::new(), QUOTA, T0)).await;
}

pub async fn concurrent_uploads_never_pass_the_quota(files: Files) {
    let owner = UserId::new();
    let store = files.store.clone();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.create_upload(upload(owner, 300, T0), QUOTA).await })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        if let CreateUpload::Created(_) = task.await.expect("task").expect("create") {
            created += 1;
        }
    }
    assert_eq!(created, 3, "300 bytes fit 3 times in 1000");
}

pub async fn only_incomplete_uploads_are_deleted(files: Files) {
    let owner = UserId::new();
    let pending = create(&files, upload(owner, 10, T0)).await;
    let done = create(&files, upload(owner, 10, T0)).await;
    files.store.complete(done.id, content(4)).await.unwrap();
    files.store.delete_upload(pending.id).await.unwrap();
    assert_eq!(files.store.file(pending.id).await.unwrap(), None);
    assert_eq!(
        files.store.delete_upload(pending.id).await,
        Err(StoreError::NotFound)
    );
    assert!(matches!(
        files.store.delete_upload(done.id).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(files.store.file(done.id).await.unwrap().is_some());
    // A deleted upload no longer counts against the quota.
    create(&files, upload(owner, QUOTA - 10, T0)).await;
}

pub async fn stale_uploads_are_the_old_incomplete_ones(files: Files) {
    let owner = UserId::new();
    // Times far in the past so uploads of concurrent cases sharing a database never count.
    let old = 1_000 + i64::from(rand_small());
    let oldest = create(&files, upload(owner, 1, old)).await;
    let older = create(&files, upload(owner, 1, old + 1)).await;
    let complete = create(&files, upload(owner, 1, old + 2)).await;
    files.store.complete(complete.id, content(5)).await.unwrap();
    let young = create(&files, upload(owner, 1, old + 100)).await;
    let stale = files.store.stale_uploads(old + 50, 100).await.unwrap();
    let mine: Vec<FileId> = stale
        .into_iter()
        .filter(|id| [oldest.id, older.id, complete.id, young.id].contains(id))
        .collect();
    assert_eq!(mine, vec![oldest.id, older.id]);
    let limited = files.store.stale_uploads(old + 50, 1).await.unwrap();
    assert_eq!(limited.len(), 1);
}

/// A hash no other case uses (cases may share a database).
pub(crate) fn fresh_hash() -> ObjectHash {
    let mut hash = [0u8; 32];
    hash[..16].copy_from_slice(UserId::new().0.as_bytes());
    hash[16..].copy_from_slice(UserId::new().0.as_bytes());
    hash
}

/// A complete file of `owner` whose content names `objects` (pinned first, as the file service
/// does): the first is its bytes, the others its thumbnails.
async fn complete_with(files: &Files, owner: UserId, objects: &[ObjectHash]) -> FileId {
    let id = create(files, upload(owner, 10, T0)).await.id;
    assert_eq!(
        files.store.pin_objects(id, objects).await.unwrap(),
        Pin::Pinned
    );
    let mut done = content(0);
    done.sha256 = objects[0];
    done.media = Some(MediaInfo {
        thumbnails: objects[1..]
            .iter()
            .map(|hash| Thumbnail {
                size: ThumbnailSize::Small,
                sha256: *hash,
                mime: "image/webp".into(),
                width: 1,
                height: 1,
                bytes: 1,
            })
            .collect(),
        ..MediaInfo::default()
    });
    files.store.complete(id, done).await.unwrap();
    id
}

/// Which of `mine` the store lists as orphaned (other cases' objects are ignored).
async fn orphaned_among(files: &Files, mine: &[ObjectHash]) -> Vec<ObjectHash> {
    let mut orphaned: Vec<ObjectHash> = files
        .store
        .orphaned_objects(100_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|hash| mine.contains(hash))
        .collect();
    orphaned.sort_unstable();
    orphaned
}

/// Everything collectable: files completed at `T0 + 5` count as long unattached and long released.
const EVERYTHING: Collectable = Collectable {
    unattached_before_ms: T0 + 1_000,
    released_before_ms: T0 + 1_000,
};

pub async fn an_object_is_deleted_only_once_nothing_pins_it(files: Files) {
    let owner = UserId::new();
    let (shared, own) = (fresh_hash(), fresh_hash());
    let first = complete_with(&files, owner, &[own, shared]).await;
    let second = complete_with(&files, owner, &[shared]).await;
    assert!(orphaned_among(&files, &[shared, own]).await.is_empty());
    assert!(
        !files.store.begin_object_deletion(own).await.unwrap(),
        "pinned"
    );

    // The first file goes: its own object is orphaned, the shared one is still pinned.
    assert!(files.store.delete_file(first, EVERYTHING).await.unwrap());
    assert_eq!(files.store.file(first).await.unwrap(), None);
    assert_eq!(orphaned_among(&files, &[shared, own]).await, vec![own]);
    assert!(!files.store.begin_object_deletion(shared).await.unwrap());
    assert!(files.store.begin_object_deletion(own).await.unwrap());
    // A collector that died here is finished by the next one: still listed, marked again.
    assert_eq!(orphaned_among(&files, &[shared, own]).await, vec![own]);
    assert!(files.store.begin_object_deletion(own).await.unwrap());

    // While its bytes are being deleted, an upload with the same bytes cannot pin it...
    let third = create(&files, upload(owner, 10, T0)).await.id;
    assert_eq!(
        files.store.pin_objects(third, &[own]).await.unwrap(),
        Pin::BeingDeleted
    );
    // ...and once the deletion is over, it can (and writes the bytes anew).
    files.store.end_object_deletion(own).await.unwrap();
    assert!(orphaned_among(&files, &[shared, own]).await.is_empty());
    assert_eq!(
        files.store.pin_objects(third, &[own]).await.unwrap(),
        Pin::Pinned
    );
    assert!(!files.store.begin_object_deletion(own).await.unwrap());

    // Deleting an upload unpins its objects too.
    files.store.delete_upload(third).await.unwrap();
    assert_eq!(orphaned_among(&files, &[shared, own]).await, vec![own]);
    // An object orphaned and then pinned again is not deleted (and is no longer listed).
    let fourth = create(&files, upload(owner, 10, T0)).await.id;
    files.store.pin_objects(fourth, &[own]).await.unwrap();
    assert!(!files.store.begin_object_deletion(own).await.unwrap());
    assert!(orphaned_among(&files, &[shared, own]).await.is_empty());
    assert!(files.store.file(second).await.unwrap().is_some());
}

pub async fn pinning_needs_the_upload(files: Files) {
    assert_eq!(
        files
            .store
            .pin_objects(FileId::new(), &[fresh_hash()])
            .await,
        Err(StoreError::NotFound)
    );
}

pub async fn only_files_no_message_shows_are_collectable(files: Files) {
    let owner = UserId::new();
    let unattached = complete_with(&files, owner, &[fresh_hash()]).await;
    let attached = complete_with(&files, owner, &[fresh_hash()]).await;
    let pending = create(&files, upload(owner, 10, T0 - 100)).await.id;
    let conversation = ConversationId::new();
    let shown = reference(attached, conversation, owner, "m1");
    files
        .store
        .add_references(std::slice::from_ref(&shown))
        .await
        .unwrap();
    let collectable = |rule: Collectable| {
        let files = &files;
        async move {
            let mut mine: Vec<FileId> = files
                .store
                .collectable_files(rule, 100_000)
                .await
                .unwrap()
                .into_iter()
                .filter(|id| [unattached, attached, pending].contains(id))
                .collect();
            mine.sort();
            mine
        }
    };
    // Completed at T0 + 5: unattached since then.
    let young = Collectable {
        unattached_before_ms: T0 + 5,
        released_before_ms: T0 + 1_000,
    };
    assert_eq!(collectable(young).await, vec![]);
    assert!(!files.store.delete_file(unattached, young).await.unwrap());
    assert_eq!(collectable(EVERYTHING).await, vec![unattached]);

    // Released at T0 + 20: collectable once the retention before T0 + 20 is over.
    files
        .store
        .release_references(conversation, owner, &shown.client_msg_id, T0 + 20)
        .await
        .unwrap();
    let retained = Collectable {
        unattached_before_ms: T0 + 1_000,
        released_before_ms: T0 + 20,
    };
    assert_eq!(collectable(retained).await, vec![unattached]);
    assert!(!files.store.delete_file(attached, retained).await.unwrap());
    let mut both = vec![unattached, attached];
    both.sort();
    assert_eq!(collectable(EVERYTHING).await, both);

    // Attached again before the collector got to it: it stays.
    let again = reference(attached, conversation, owner, "m2");
    files.store.add_references(&[again]).await.unwrap();
    assert!(!files.store.delete_file(attached, EVERYTHING).await.unwrap());
    assert!(files.store.file(attached).await.unwrap().is_some());
    assert_eq!(
        files.store.showing_conversations(attached).await.unwrap(),
        vec![conversation]
    );
    // Collected: the file, and its references with it.
    assert!(
        files
            .store
            .delete_file(unattached, EVERYTHING)
            .await
            .unwrap()
    );
    assert!(
        !files
            .store
            .delete_file(unattached, EVERYTHING)
            .await
            .unwrap()
    );
    assert_eq!(files.store.file(unattached).await.unwrap(), None);
    // Nothing shows a deleted file, and it cannot be attached any more.
    assert_eq!(
        files
            .store
            .add_references(&[reference(unattached, conversation, owner, "m3")])
            .await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        files.store.showing_conversations(unattached).await.unwrap(),
        vec![]
    );
    // An incomplete upload is never a collectable file (stale_uploads is its collector).
    assert!(!files.store.delete_file(pending, EVERYTHING).await.unwrap());
}

pub async fn references_to_a_missing_file_record_nothing(files: Files) {
    let owner = UserId::new();
    let file = create(&files, upload(owner, 10, T0)).await.id;
    let conversation = ConversationId::new();
    assert_eq!(
        files
            .store
            .add_references(&[
                reference(file, conversation, owner, "m1"),
                reference(FileId::new(), conversation, owner, "m1"),
            ])
            .await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        files.store.showing_conversations(file).await.unwrap(),
        vec![]
    );
}

/// Some spread between cases that share a database.
fn rand_small() -> u16 {
    let id = UserId::new().0;
    u16::from_le_bytes([id.as_bytes()[15], id.as_bytes()[14]]) % 10_000
}

/// Expands to one `#[tokio::test]` per file case. The factory returns a future of [`Files`],
/// called once per case.
#[macro_export]
macro_rules! files_conformance_suite {
    ($factory:expr) => {
        mod files_conformance {
            #[allow(unused_imports)]
            use super::*;
            $crate::__files_tests!(
                ($factory)
                upload_becomes_a_file_once,
                media_facts_are_kept_as_given,
                files_returns_those_that_exist,
                references_show_a_file_until_their_messages_are_deleted,
                quota_counts_files_and_uploads_of_the_owner,
                concurrent_uploads_never_pass_the_quota,
                only_incomplete_uploads_are_deleted,
                stale_uploads_are_the_old_incomplete_ones,
                an_object_is_deleted_only_once_nothing_pins_it,
                pinning_needs_the_upload,
                only_files_no_message_shows_are_collectable,
                references_to_a_missing_file_record_nothing,
            );
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __files_tests {
    (($factory:expr) $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let files: $crate::files::Files = ($factory)().await;
                $crate::files::$case(files).await;
            }
        )*
    };
}
