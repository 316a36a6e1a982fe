//! Cases for a user's avatar, where the [`AccountStore`] and the [`FileStore`] meet: the
//! picture's snapshot is kept with the user and read back by every user lookup, it must name a
//! complete file, and the collector leaves a file alone while it is someone's avatar.
//!
//! [`AccountStore`]: natter_domain::ports::AccountStore

use std::sync::Arc;

use natter_domain::files::{
    Attachment, Collectable, CreateUpload, FileContent, FileId, FileName, FileStore, MediaInfo,
    NewUpload, Thumbnail, ThumbnailSize,
};
use natter_domain::model::User;
use natter_domain::names::UserQuery;
use natter_domain::values::DisplayName;
use natter_domain::{StoreError, UserId};

use crate::Stores;
use crate::files::fresh_hash;
use crate::support::{Fixture, T0};

/// A backend's stores and its file store (the same database).
pub struct AvatarBed {
    pub stores: Stores,
    pub files: Arc<dyn FileStore>,
}

/// Every complete file the collector would take by age alone.
const EVERYTHING: Collectable = Collectable {
    unattached_before_ms: T0 + 1_000,
    released_before_ms: T0 + 1_000,
};

/// An upload of `owner`'s, not complete.
async fn upload(files: &dyn FileStore, owner: UserId) -> FileId {
    let new = NewUpload {
        id: FileId::new(),
        owner,
        name: FileName::parse("me.jpg").expect("name"),
        size: 10,
        created_at_ms: T0,
    };
    match files.create_upload(new, u64::MAX).await.expect("create") {
        CreateUpload::Created(record) => record.id,
        other => panic!("expected Created, got {other:?}"),
    }
}

/// A complete picture of `owner`'s (every media field set, so a store that drops one fails),
/// as a snapshot.
async fn picture(files: &dyn FileStore, owner: UserId) -> Attachment {
    let id = upload(files, owner).await;
    let thumbnail = |size, side: u32| Thumbnail {
        size,
        sha256: fresh_hash(),
        mime: "image/jpeg".into(),
        width: side,
        height: side * 3 / 4,
        bytes: u64::from(side) * 10,
    };
    let content = FileContent {
        sha256: fresh_hash(),
        size: 7,
        mime: "image/jpeg".into(),
        completed_at_ms: T0 + 6,
        media: Some(MediaInfo {
            width: Some(2000),
            height: Some(1500),
            duration_ms: None,
            thumbhash: Some(vec![0x5a; 25]),
            thumbnails: vec![
                thumbnail(ThumbnailSize::Small, 320),
                thumbnail(ThumbnailSize::Large, 1280),
            ],
        }),
    };
    let record = files.complete(id, content).await.expect("complete");
    let content = record.content.clone().expect("complete");
    Attachment::of(record, content)
}

/// `user` as every lookup of the account store sees it.
async fn every_lookup(f: &Fixture, user: &User) -> Vec<User> {
    let by_id = f.accounts.user(user.id).await.unwrap().expect("by id");
    let many = f.accounts.users(&[user.id]).await.unwrap();
    let (by_name, _) = f
        .accounts
        .credentials(&user.username)
        .await
        .unwrap()
        .expect("by username");
    let query = UserQuery::parse(user.username.as_str()).expect("query");
    let found = f.accounts.search_users(&query, 10).await.unwrap();
    [vec![by_id], many, vec![by_name], found]
        .concat()
        .into_iter()
        .filter(|found| found.id == user.id)
        .collect()
}

pub async fn an_avatar_is_kept_with_the_user_until_removed(bed: AvatarBed) {
    let f = Fixture::new(bed.stores);
    let alice = f.user("alice").await;
    assert_eq!(alice.avatar, None, "a new user has none");
    let first = picture(&*bed.files, alice.id).await;
    let set = f.accounts.set_avatar(alice.id, Some(&first)).await.unwrap();
    let want = User {
        avatar: Some(first.clone()),
        ..alice.clone()
    };
    assert_eq!(set, want);
    assert_eq!(every_lookup(&f, &alice).await, vec![want.clone(); 4]);

    // A rename keeps it.
    let name = DisplayName::parse("Alice Liddell").unwrap();
    let renamed = f.accounts.set_display_name(alice.id, &name).await.unwrap();
    assert_eq!(renamed.avatar, Some(first.clone()));

    // Replaced, then removed.
    let second = picture(&*bed.files, alice.id).await;
    let replaced = f
        .accounts
        .set_avatar(alice.id, Some(&second))
        .await
        .unwrap();
    assert_eq!(replaced.avatar, Some(second));
    let removed = f.accounts.set_avatar(alice.id, None).await.unwrap();
    assert_eq!(removed.avatar, None);
    for found in every_lookup(&f, &alice).await {
        assert_eq!(found.avatar, None);
        assert_eq!(found.display_name, name);
    }

    // Someone who does not exist.
    assert_eq!(
        f.accounts.set_avatar(UserId::new(), Some(&first)).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        f.accounts.set_avatar(UserId::new(), None).await,
        Err(StoreError::NotFound)
    );
}

pub async fn an_avatar_names_a_complete_file(bed: AvatarBed) {
    let f = Fixture::new(bed.stores);
    let alice = f.user("alice").await;
    let kept = picture(&*bed.files, alice.id).await;
    f.accounts.set_avatar(alice.id, Some(&kept)).await.unwrap();

    // A file that does not exist (never did, or collected since the caller read it), and an
    // upload not yet complete: refused, and the avatar stays what it was.
    let mut missing = picture(&*bed.files, alice.id).await;
    missing.file_id = FileId::new();
    let mut pending = missing.clone();
    pending.file_id = upload(&*bed.files, alice.id).await;
    for wrong in [missing, pending] {
        assert_eq!(
            f.accounts.set_avatar(alice.id, Some(&wrong)).await,
            Err(StoreError::NotFound),
            "{}",
            wrong.file_id
        );
        let now = f.accounts.user(alice.id).await.unwrap().expect("alice");
        assert_eq!(now.avatar, Some(kept.clone()));
    }
}

pub async fn a_file_is_not_collectable_while_it_is_an_avatar(bed: AvatarBed) {
    let f = Fixture::new(bed.stores);
    let files = &*bed.files;
    let alice = f.user("alice").await;
    let first = picture(files, alice.id).await;
    let second = picture(files, alice.id).await;
    let ids = &[first.file_id, second.file_id];
    let collectable = move || async move {
        let mut mine: Vec<FileId> = files
            .collectable_files(EVERYTHING, 100_000)
            .await
            .unwrap()
            .into_iter()
            .filter(|id| ids.contains(id))
            .collect();
        mine.sort();
        mine
    };
    let mut both = ids.to_vec();
    both.sort();
    assert_eq!(collectable().await, both, "never shown: both old enough");

    f.accounts.set_avatar(alice.id, Some(&first)).await.unwrap();
    assert_eq!(collectable().await, vec![second.file_id]);
    assert!(!files.delete_file(first.file_id, EVERYTHING).await.unwrap());
    assert!(files.file(first.file_id).await.unwrap().is_some());

    // Replaced: the first goes back to the collector's rule (never shown, old enough).
    f.accounts
        .set_avatar(alice.id, Some(&second))
        .await
        .unwrap();
    assert_eq!(collectable().await, vec![first.file_id]);
    assert!(!files.delete_file(second.file_id, EVERYTHING).await.unwrap());
    assert!(files.delete_file(first.file_id, EVERYTHING).await.unwrap());
    assert_eq!(files.file(first.file_id).await.unwrap(), None);
    // ...and, deleted, it cannot become an avatar again.
    assert_eq!(
        f.accounts.set_avatar(alice.id, Some(&first)).await,
        Err(StoreError::NotFound)
    );

    // Removed: the second goes too.
    f.accounts.set_avatar(alice.id, None).await.unwrap();
    assert_eq!(collectable().await, vec![second.file_id]);
    assert!(files.delete_file(second.file_id, EVERYTHING).await.unwrap());
}

/// Expands to one `#[tokio::test]` per avatar case. The factory returns a future of
/// [`AvatarBed`], called once per case.
#[macro_export]
macro_rules! avatars_conformance_suite {
    ($factory:expr) => {
        mod avatars_conformance {
            #[allow(unused_imports)]
            use super::*;
            $crate::__avatars_tests!(
                ($factory)
                an_avatar_is_kept_with_the_user_until_removed,
                an_avatar_names_a_complete_file,
                a_file_is_not_collectable_while_it_is_an_avatar,
            );
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __avatars_tests {
    (($factory:expr) $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let bed: $crate::avatars::AvatarBed = ($factory)().await;
                $crate::avatars::$case(bed).await;
            }
        )*
    };
}
