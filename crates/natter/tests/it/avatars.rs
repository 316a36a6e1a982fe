//! A user's picture, end to end: `PATCH /users/me` with `avatar_file_id` (set, replace, remove,
//! and every refusal), what other users see of it (`GET /users/{id}`, people search, the
//! `user.updated` a contact gets, the signed URLs without a token), and that the picture is
//! everyone's to read only while it is the avatar. What the collector does with it:
//! `media_collect.rs`.

use std::io::Cursor;
use std::time::Duration;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use natter_protocol::{AvatarView, ServerFrame, UpdateProfileRequest, UserView};
use natter_sdk::Client;
use reqwest::StatusCode;
use uuid::Uuid;

use crate::attachments::{direct_chat, person};
use crate::media::{Files, error_code, png};
use crate::server::TestServer;
use crate::support::{api_error, expect_event};

const WAIT: Duration = Duration::from_secs(20);

/// A `width` x `height` picture in `format` whose pixels no other call makes: its bytes, its
/// thumbnails and so its objects are its own.
pub(crate) fn picture(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
    let seed = Uuid::now_v7();
    let seed = seed.as_bytes();
    let picture = RgbImage::from_fn(width, height, |x, y| {
        let at = (x as usize + y as usize) % 16;
        Rgb([seed[at], (x % 256) as u8, (y % 256) as u8])
    });
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(picture)
        .write_to(&mut out, format)
        .expect("picture");
    out.into_inner()
}

/// The message of a refused REST call (panics when it succeeded).
fn refusal<T: std::fmt::Debug>(result: natter_sdk::Result<T>) -> (u16, String, String) {
    match result {
        Err(natter_sdk::Error::Api { status, body }) => (status, body.code, body.message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// `user`'s avatar as `viewer` finds it: `GET /users/{id}` and a people search.
async fn seen_by(viewer: &Client, user: &UserView) -> [Option<AvatarView>; 2] {
    let fetched = viewer.user(user.id).await.expect("user").avatar;
    let found = viewer
        .search_users(&user.username, None)
        .await
        .expect("search")
        .users
        .into_iter()
        .find(|found| found.id == user.id)
        .expect("found by username")
        .avatar;
    [fetched, found]
}

/// The next `user.updated` of `user` on `session`.
async fn updated(session: &natter_sdk::Session, user: Uuid) -> UserView {
    expect_event(session, WAIT, |frame| match frame {
        ServerFrame::UserUpdated { user: updated } if updated.id == user => Some(updated.clone()),
        _ => None,
    })
    .await
}

/// Fetches both URLs of `avatar` without a token: the small thumbnail (a JPEG, at most
/// 320x320) and the large rendering's bytes.
async fn fetch(files: &Files, avatar: &AvatarView) -> (image::DynamicImage, Vec<u8>) {
    let small = files.get(&avatar.url_small, &[]).await;
    assert_eq!(small.status(), StatusCode::OK, "{}", avatar.url_small);
    let small = image::load_from_memory(&small.bytes().await.unwrap()).expect("small thumbnail");
    assert!(small.width() <= 320 && small.height() <= 320);
    let large = files.get(&avatar.url_large, &[]).await;
    assert_eq!(large.status(), StatusCode::OK, "{}", avatar.url_large);
    (small, large.bytes().await.unwrap().to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_avatar_is_seen_by_everyone_until_it_is_replaced_or_removed() {
    let server = TestServer::spawn();
    let (alice_files, alice, _) = person(&server).await;
    let alice_user = alice.me().await.expect("me");
    let (bob_files, bob, bob_id) = person(&server).await;
    // Carol shares no conversation with Alice: she still sees the picture, as anyone signed in.
    let (carol_files, carol, _) = person(&server).await;
    direct_chat(&alice, bob_id).await;
    let bob_live = bob.connect().await.expect("bob connects");

    // A small picture: its small thumbnail is its own size, and no large one is made, so the
    // large URL is the picture itself.
    let small_png = png();
    let first = alice_files.upload("me.png", &small_png, 1 << 20).await.id;
    let set = alice.set_avatar(Some(first)).await.expect("set");
    let avatar = set.avatar.clone().expect("an avatar");
    assert_eq!(avatar.file_id, first);
    assert!(avatar.thumbhash.is_some(), "a placeholder: {avatar:?}");
    assert!(
        avatar
            .url_small
            .contains(&format!("/files/{first}/content/"))
    );
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let ttl = avatar.url_expires_at_ms - now_ms;
    assert!(ttl > 200_000 && ttl <= 300_000, "five minutes: {ttl} ms");
    assert_eq!(
        set.display_name, alice_user.display_name,
        "the name unchanged"
    );
    // Her contact is told, with the picture.
    let told = updated(&bob_live, alice_user.id).await;
    assert_eq!(told.avatar.map(|a| a.file_id), Some(first));

    for (files, viewer) in [(&bob_files, &bob), (&carol_files, &carol)] {
        for seen in seen_by(viewer, &alice_user).await {
            let seen = seen.expect("seen");
            assert_eq!(seen.file_id, first);
            let (small, large) = fetch(files, &seen).await;
            assert_eq!((small.width(), small.height()), (8, 8));
            assert_eq!(large, small_png, "the picture itself");
        }
        // While it is her avatar, the file is anyone's to read.
        assert_eq!(files.view(first).await.id, first);
    }
    assert_eq!(alice.me().await.unwrap().avatar.unwrap().file_id, first);

    // Replaced by a large picture: a large thumbnail (at most 1280x1280) serves as the large
    // rendering, and the first picture is no longer anyone's but hers.
    let second = alice_files
        .upload("big.jpg", &picture(1600, 900, ImageFormat::Jpeg), 1 << 20)
        .await
        .id;
    let replaced = alice.set_avatar(Some(second)).await.expect("replace");
    assert_eq!(replaced.avatar.as_ref().map(|a| a.file_id), Some(second));
    let told = updated(&bob_live, alice_user.id).await;
    assert_eq!(told.avatar.map(|a| a.file_id), Some(second));
    let seen = seen_by(&carol, &alice_user).await[0].clone().expect("seen");
    let (small, large) = fetch(&carol_files, &seen).await;
    assert_eq!((small.width(), small.height()), (320, 180));
    let large = image::load_from_memory(&large).expect("large thumbnail");
    assert_eq!((large.width(), large.height()), (1280, 720));
    for files in [&bob_files, &carol_files] {
        assert_eq!(
            error_code(files.file(first).await).await,
            (StatusCode::NOT_FOUND, "not_found".into())
        );
    }
    assert_eq!(alice_files.view(first).await.id, first, "still hers");

    // Removed, with a rename in the same request: one event with both.
    let removed = alice
        .patch_me(&UpdateProfileRequest {
            display_name: Some("Alice Liddell".into()),
            avatar_file_id: Some(None),
        })
        .await
        .expect("remove");
    assert_eq!(removed.avatar, None);
    let told = updated(&bob_live, alice_user.id).await;
    assert_eq!(
        (told.avatar, told.display_name.as_str()),
        (None, "Alice Liddell")
    );
    assert_eq!(seen_by(&carol, &alice_user).await, [None, None]);
    assert_eq!(
        error_code(carol_files.file(second).await).await.0,
        StatusCode::NOT_FOUND
    );
    // The JSON has no `avatar` at all, rather than a null.
    let raw = crate::support::raw_json(
        &carol,
        natter_sdk::Method::GET,
        &format!("/users/{}", alice_user.id),
        None,
    )
    .await;
    let body: serde_json::Value = serde_json::from_slice(&raw.body).expect("json");
    assert!(body.get("avatar").is_none(), "{body}");
    bob_live.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_complete_picture_of_ones_own_becomes_an_avatar() {
    let server = TestServer::spawn();
    let (alice_files, alice, _) = person(&server).await;
    let (bob_files, _, _) = person(&server).await;
    let mine = alice_files.upload("me.png", &png(), 1 << 20).await.id;
    alice.set_avatar(Some(mine)).await.expect("set");
    let notes = alice_files
        .upload("notes.txt", b"remember the milk", 1024)
        .await
        .id;
    let bobs = bob_files.upload("bob.png", &png(), 1 << 20).await.id;
    let pending = alice_files.create(10, "pending.png").await.id;

    let (status, code, message) = refusal(alice.set_avatar(Some(notes)).await);
    assert_eq!((status, code.as_str()), (400, "invalid"));
    assert!(
        message.contains("not a picture") && message.contains("application/octet-stream"),
        "{message}"
    );
    for (what, id) in [
        ("another user's picture", bobs),
        ("an incomplete upload", pending),
        ("an unknown id", Uuid::now_v7()),
    ] {
        let (status, code, message) = refusal(alice.set_avatar(Some(id)).await);
        assert_eq!((status, code.as_str()), (400, "invalid"), "{what}");
        assert!(
            message.contains("not a complete upload of yours"),
            "{what}: {message}"
        );
    }
    // A refused picture changes nothing, not even the name sent with it.
    let both = UpdateProfileRequest {
        display_name: Some("Renamed".into()),
        avatar_file_id: Some(Some(notes)),
    };
    assert_eq!(
        api_error(alice.patch_me(&both).await),
        (400, "invalid".into())
    );
    let me = alice.me().await.expect("me");
    assert_ne!(me.display_name, "Renamed");
    assert_eq!(me.avatar.map(|a| a.file_id), Some(mine));
    // Not a file id at all.
    let raw = crate::support::raw_json(
        &alice,
        natter_sdk::Method::PATCH,
        "/users/me",
        Some(serde_json::json!({"avatar_file_id": "me.png"})),
    )
    .await;
    assert_eq!(raw.status, 400);
    // A body naming nothing changes nothing.
    let same = alice
        .patch_me(&UpdateProfileRequest::default())
        .await
        .expect("empty patch");
    assert_eq!(same.avatar.map(|a| a.file_id), Some(mine));
    // Bob's picture was never public: he alone reads it.
    assert_eq!(
        error_code(alice_files.file(bobs).await).await.0,
        StatusCode::NOT_FOUND
    );
}
