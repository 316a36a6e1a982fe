//! Files in messages, end to end: sending complete uploads as attachments over REST and the
//! WebSocket, what members and strangers can fetch, every refusal (and that it stores nothing),
//! and deletion hiding a message's files.

use std::time::Duration;

use natter_protocol::{FileView, MessageView, SendMessageRequest, ServerFrame};
use natter_sdk::{Client, new_client_msg_id};
use reqwest::StatusCode;
use uuid::Uuid;

use crate::media::{Files, error_code, png};
use crate::server::TestServer;
use crate::support::{all_messages, api_error, expect_event};

const WAIT: Duration = Duration::from_secs(20);

pub(crate) fn with_files(text: &str, attachments: &[Uuid]) -> SendMessageRequest {
    SendMessageRequest {
        client_msg_id: new_client_msg_id(),
        text: text.into(),
        reply_to_seq: None,
        mentions: Vec::new(),
        attachments: attachments.to_vec(),
    }
}

/// A user with their file routes, and their id.
pub(crate) async fn person(server: &TestServer) -> (Files, Client, Uuid) {
    let (files, client) = Files::new(server).await;
    let id = client.me().await.expect("me").id;
    (files, client, id)
}

/// The direct conversation of `me` with `other`.
pub(crate) async fn direct_chat(me: &Client, other: Uuid) -> Uuid {
    me.create_direct(other)
        .await
        .expect("direct")
        .conversation
        .id
}

/// A small PNG-typed file and a plain one, uploaded by `files`.
async fn two_files(files: &Files) -> (FileView, FileView) {
    let picture = files.upload("cat.png", &png(), 64).await;
    let notes = files.upload("notes.txt", b"remember the milk", 1024).await;
    (files.view(picture.id).await, files.view(notes.id).await)
}

/// The parts of a file view that do not change from one signing to the next.
fn facts(view: &FileView) -> (Uuid, String, u64, String, String, bool) {
    (
        view.id,
        view.name.clone(),
        view.size,
        view.mime.clone(),
        view.sha256.clone(),
        view.inline,
    )
}

fn assert_same_files(got: &[FileView], want: &[&FileView]) {
    assert_eq!(
        got.iter().map(facts).collect::<Vec<_>>(),
        want.iter().map(|v| facts(v)).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_reach_members_and_only_them() {
    let server = TestServer::spawn();
    let (alice_files, alice, _) = person(&server).await;
    let (bob_files, bob, bob_id) = person(&server).await;
    let (carol_files, _, _) = person(&server).await;
    let (picture, notes) = two_files(&alice_files).await;
    let group = alice
        .create_group("photos", None, &[bob_id])
        .await
        .expect("group")
        .conversation
        .id;
    let bob_live = bob.connect().await.expect("bob connects");

    // No caption: the text may be empty when files are attached; the order is the sender's.
    let sent = alice
        .send_message(group, &with_files("", &[notes.id, picture.id]))
        .await
        .expect("send with files");
    assert_eq!(sent.text, "");
    assert_same_files(&sent.attachments, &[&notes, &picture]);

    let live: MessageView = expect_event(&bob_live, WAIT, |frame| match frame {
        ServerFrame::MessageNew { message } if message.seq == sent.seq => Some(message.clone()),
        _ => None,
    })
    .await;
    assert_same_files(&live.attachments, &[&notes, &picture]);
    // The URLs in the event work for the member, without a token.
    let download = bob_files.get(&live.attachments[1].url, &[]).await;
    assert_eq!(download.status(), StatusCode::OK);
    assert_eq!(download.bytes().await.unwrap().as_ref(), png().as_slice());

    // History carries them too, with fresh URLs; a member may ask for the file itself.
    let history = all_messages(&bob, group).await;
    assert_same_files(&history[0].attachments, &[&notes, &picture]);
    assert_same_files(&[bob_files.view(notes.id).await], &[&notes]);
    // A stranger: the same 404 as for a file that does not exist.
    for id in [notes.id, picture.id] {
        assert_eq!(
            error_code(carol_files.file(id).await).await,
            (StatusCode::NOT_FOUND, "not_found".into())
        );
    }

    // Over the WebSocket too, with a caption.
    let (photo, _) = two_files(&bob_files).await;
    let request = with_files("from my phone", &[photo.id]);
    let acked = bob_live.send_with(group, request).await.expect("ws send");
    assert_eq!(acked.text, "from my phone");
    assert_same_files(&acked.attachments, &[&photo]);
    assert_same_files(&[alice_files.view(photo.id).await], &[&photo]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_attachments_are_refused_and_change_nothing() {
    let server = TestServer::spawn();
    let (alice_files, alice, _) = person(&server).await;
    let (bob_files, _, bob_id) = person(&server).await;
    let direct = direct_chat(&alice, bob_id).await;
    let (picture, _) = two_files(&alice_files).await;
    let (bobs, _) = two_files(&bob_files).await;
    let pending = alice_files.create(10, "pending.bin").await;
    let mut eleven = Vec::new();
    for n in 0..11 {
        eleven.push(alice_files.upload(&format!("{n}.txt"), b"x", 8).await.id);
    }
    let refused = [
        ("over ten files", with_files("", &eleven)),
        ("a file twice", with_files("", &[picture.id, picture.id])),
        ("another user's file", with_files("", &[bobs.id])),
        ("an incomplete upload", with_files("", &[pending.id])),
        ("an unknown id", with_files("", &[Uuid::now_v7()])),
        ("a caption of spaces", with_files("   ", &[picture.id])),
        ("no text and no files", with_files("", &[])),
    ];
    for (what, request) in &refused {
        let result = alice.send_message(direct, request).await;
        assert_eq!(api_error(result), (400, "invalid".into()), "{what}");
    }
    assert!(
        all_messages(&alice, direct).await.is_empty(),
        "a refused send stores nothing"
    );
    // Bob's file was never shown to Alice: she still cannot read it.
    assert_eq!(
        error_code(alice_files.file(bobs.id).await).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_message_hides_its_attachments() {
    let server = TestServer::spawn();
    let (alice_files, alice, _) = person(&server).await;
    let (bob_files, bob, bob_id) = person(&server).await;
    let direct = direct_chat(&alice, bob_id).await;
    let (picture, _) = two_files(&alice_files).await;
    let sent = alice
        .send_message(direct, &with_files("look", &[picture.id]))
        .await
        .expect("send");
    assert_eq!(bob_files.view(picture.id).await.id, picture.id);

    let bob_live = bob.connect().await.expect("bob connects");
    let deleted = alice
        .delete_message(direct, sent.seq)
        .await
        .expect("delete");
    assert!(deleted.deleted && deleted.attachments.is_empty());
    let update: MessageView = expect_event(&bob_live, WAIT, |frame| match frame {
        ServerFrame::MessageUpdated { message } if message.seq == sent.seq => Some(message.clone()),
        _ => None,
    })
    .await;
    assert!(update.attachments.is_empty(), "{update:?}");
    assert!(all_messages(&bob, direct).await[0].attachments.is_empty());
    // The member no longer reaches the file; its owner still does.
    assert_eq!(
        error_code(bob_files.file(picture.id).await).await,
        (StatusCode::NOT_FOUND, "not_found".into())
    );
    assert_eq!(alice_files.view(picture.id).await.id, picture.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caption_can_be_cleared_but_a_text_only_message_keeps_its_text() {
    let server = TestServer::spawn();
    let (alice_files, alice, _) = person(&server).await;
    let (_, _, bob_id) = person(&server).await;
    let direct = direct_chat(&alice, bob_id).await;
    let (picture, _) = two_files(&alice_files).await;
    let with_picture = alice
        .send_message(direct, &with_files("look at this", &[picture.id]))
        .await
        .expect("send");
    let text_only = alice
        .send_message(direct, &with_files("just words", &[]))
        .await
        .expect("send");

    // REST: the caption goes, the attachments stay.
    let cleared = alice
        .edit_message(direct, with_picture.seq, "")
        .await
        .expect("clear the caption");
    assert_eq!(cleared.text, "");
    assert!(cleared.edited_at_ms.is_some());
    assert_same_files(&cleared.attachments, &[&picture]);
    // A caption of spaces is still refused, and so is emptying a message without files.
    for (what, seq, text) in [
        ("spaces", with_picture.seq, "  "),
        ("text only", text_only.seq, ""),
    ] {
        let refused = alice.edit_message(direct, seq, text).await;
        assert_eq!(api_error(refused), (400, "invalid".into()), "{what}");
    }

    // The WebSocket: a caption back, cleared again; a text-only message still refuses.
    let live = alice.connect().await.expect("alice connects");
    let captioned = live
        .edit(direct, with_picture.seq, "a cat")
        .await
        .expect("ws caption");
    assert_eq!(captioned.text, "a cat");
    let cleared = live
        .edit(direct, with_picture.seq, "")
        .await
        .expect("ws clear");
    assert_eq!(cleared.text, "");
    assert_same_files(&cleared.attachments, &[&picture]);
    let refused = live.edit(direct, text_only.seq, "").await.unwrap_err();
    assert_eq!((refused.status(), refused.code()), (None, Some("invalid")));
    let history = all_messages(&alice, direct).await;
    assert_eq!(
        history.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
        ["", "just words"]
    );
}
