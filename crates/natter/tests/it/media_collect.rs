//! The collector, end to end (docs/media.md "Collection"): files whose messages were deleted, and
//! files never attached, disappear for everyone (owner, members, signed URLs, the CDN's cached
//! bytes), while bytes another file shares stay, and the object goes when the last file does; a
//! user's avatar stays while it is one.
//! In both modes: embedded (SQLite, objects on disk) and, with `NATTER_E2E_CLUSTER=1`, three
//! nodes' collectors at once on PostgreSQL and S3 behind the NGINX edge.

use std::time::{Duration, Instant};

use image::ImageFormat;
use reqwest::StatusCode;

use crate::attachments::{direct_chat, person, with_files};
use crate::avatars::picture;
use crate::media::scaled::object_in_s3;
use crate::media::{Files, MP3_MAGIC, error_code, pattern, sha256_hex};
use crate::server::TestServer;
use crate::support::api_error;

/// How long the collector (every second here) may take to get to something.
const COLLECTED_WITHIN: Duration = Duration::from_secs(30);

/// Whether the object of `sha256` is stored: on the embedded node's disk, or in the cluster's S3.
async fn object_exists(server: &TestServer, sha256: &str) -> bool {
    if crate::cluster::enabled() {
        object_in_s3(sha256).await.is_some()
    } else {
        server
            .data_dir
            .path()
            .join("files/objects/blobs")
            .join(&sha256[..2])
            .join(sha256)
            .exists()
    }
}

/// Waits until the owner's `GET /files/{id}` is 404, then returns.
async fn until_collected(owner: &Files, id: uuid::Uuid) {
    let deadline = Instant::now() + COLLECTED_WITHIN;
    loop {
        if owner.file(id).await.status() == StatusCode::NOT_FOUND {
            return;
        }
        assert!(Instant::now() < deadline, "file {id} never collected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn until_object_gone(server: &TestServer, sha256: &str) {
    let deadline = Instant::now() + COLLECTED_WITHIN;
    while object_exists(server, sha256).await {
        assert!(Instant::now() < deadline, "object {sha256} never deleted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Bytes stored as they are (typed as MP3), unique to this test run.
fn song() -> Vec<u8> {
    let mut bytes = MP3_MAGIC.to_vec();
    bytes.extend(uuid::Uuid::now_v7().as_bytes());
    bytes.extend(pattern(40_000));
    bytes
}

/// A server whose collector runs every second with `settings`. A cluster gets a database of its
/// own: its collector would otherwise delete the files of every other test sharing one.
fn collecting_server(database: &str, settings: &[(&'static str, &str)]) -> TestServer {
    let mut env: Vec<(&str, String)> = vec![("NATTER__FILES__COLLECT_INTERVAL_S", "1".into())];
    env.extend(settings.iter().map(|(k, v)| (*k, v.to_string())));
    if crate::cluster::enabled() {
        env.extend(crate::cluster::own_database(database));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    TestServer::spawn_with_env(&[], &env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_collect_a_deleted_messages_file_goes_and_shared_bytes_stay_until_the_last() {
    let server = collecting_server("deleted", &[("NATTER__FILES__DELETED_RETENTION_S", "0")]);
    let (alice_files, alice, _) = person(&server).await;
    let (bob_files, _, bob_id) = person(&server).await;
    let direct = direct_chat(&alice, bob_id).await;
    // Two files with the same bytes: one object.
    let bytes = song();
    let sha256 = sha256_hex(&bytes);
    let first = alice_files.upload("a.mp3", &bytes, 20_000).await.id;
    let second = alice_files.upload("b.mp3", &bytes, 20_000).await.id;
    let shown_first = alice
        .send_message(direct, &with_files("", &[first]))
        .await
        .expect("send");
    alice
        .send_message(direct, &with_files("again", &[second]))
        .await
        .expect("send");
    assert!(object_exists(&server, &sha256).await);
    // Bob fetches the first through its signed URL (through the edge in a cluster: cached then).
    let url = shown_first.attachments[0].url.clone();
    for _ in 0..2 {
        let fetched = bob_files.get(&url, &[]).await;
        assert_eq!(fetched.status(), StatusCode::OK);
        assert_eq!(fetched.bytes().await.unwrap().as_ref(), bytes.as_slice());
    }

    alice
        .delete_message(direct, shown_first.seq)
        .await
        .expect("delete");
    until_collected(&alice_files, first).await;
    // Gone for everyone: the URL Bob still holds (unexpired, its bytes cached at the edge)...
    assert_eq!(
        error_code(bob_files.get(&url, &[]).await).await,
        (StatusCode::NOT_FOUND, "not_found".into())
    );
    // ...and it cannot be attached again.
    assert_eq!(
        api_error(alice.send_message(direct, &with_files("", &[first])).await),
        (400, "invalid".into())
    );
    // The other file with the same bytes is untouched, object included.
    let kept = alice_files.view(second).await;
    let fetched = bob_files.get(&kept.url, &[]).await;
    assert_eq!(fetched.status(), StatusCode::OK);
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), bytes.as_slice());
    assert!(object_exists(&server, &sha256).await);

    // Its message deleted too: the file goes, and with it the object nobody uses any more.
    let messages = crate::support::all_messages(&alice, direct).await;
    let last = messages.iter().find(|m| m.text == "again").expect("second");
    alice
        .delete_message(direct, last.seq)
        .await
        .expect("delete");
    until_collected(&alice_files, second).await;
    until_object_gone(&server, &sha256).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_collect_an_upload_never_attached_goes_after_its_age_and_frees_the_quota() {
    let server = collecting_server(
        "unattached",
        &[
            ("NATTER__FILES__UNATTACHED_MAX_AGE_S", "0"),
            ("NATTER__FILES__QUOTA_BYTES", "100000"),
        ],
    );
    let (files, _) = Files::new(&server).await;
    let bytes = song();
    let sha256 = sha256_hex(&bytes);
    let upload = files.upload("draft.mp3", &bytes, 50_000).await;
    until_collected(&files, upload.id).await;
    until_object_gone(&server, &sha256).await;
    // Its 40 KB no longer count: 100 KB fit again.
    files.create(100_000, "big.bin").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_collect_an_avatar_stays_while_it_is_one_and_goes_after() {
    // Files never shown in a message go 3 s after they completed, unless they are an avatar.
    let server = collecting_server("avatars", &[("NATTER__FILES__UNATTACHED_MAX_AGE_S", "3")]);
    let (alice_files, alice, _) = person(&server).await;
    let (bob_files, bob, _) = person(&server).await;
    let alice_id = alice.me().await.expect("me").id;
    let first_bytes = picture(40, 30, ImageFormat::Png);
    let first = alice_files.upload("me.png", &first_bytes, 1 << 20).await.id;
    alice.set_avatar(Some(first)).await.expect("set");
    let sha256 = sha256_hex(&first_bytes);

    // Well past its age, through several passes: still there, for everyone.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let seen = bob
        .user(alice_id)
        .await
        .expect("user")
        .avatar
        .expect("avatar");
    assert_eq!(seen.file_id, first);
    let fetched = bob_files.get(&seen.url_large, &[]).await;
    assert_eq!(fetched.status(), StatusCode::OK);
    assert_eq!(
        fetched.bytes().await.unwrap().as_ref(),
        first_bytes.as_slice()
    );
    assert!(object_exists(&server, &sha256).await);

    // Replaced: the first one is collected at the next pass, its bytes with it, and the URL
    // Bob still holds stops working.
    let second = alice_files
        .upload("me2.png", &picture(40, 30, ImageFormat::Png), 1 << 20)
        .await
        .id;
    alice.set_avatar(Some(second)).await.expect("replace");
    until_collected(&alice_files, first).await;
    until_object_gone(&server, &sha256).await;
    assert_eq!(
        error_code(bob_files.get(&seen.url_large, &[]).await).await,
        (StatusCode::NOT_FOUND, "not_found".into())
    );
    // ...and a file that is gone cannot become the avatar again.
    assert_eq!(
        api_error(alice.set_avatar(Some(first)).await),
        (400, "invalid".into())
    );

    // Removed: the second goes too, once its age is up.
    alice.set_avatar(None).await.expect("remove");
    until_collected(&alice_files, second).await;
    assert_eq!(bob.user(alice_id).await.expect("user").avatar, None);
}
