//! Push notifications end to end: the real binary against natter-push-lab's FCM, APNs and Web
//! Push services, configured through `NATTER__PUSH__...`. Who gets a push (offline members, once per
//! device; not the sender, a connected member, a muted conversation without a mention, a user
//! who wants nothing), a provider outage retried until delivered once, a dead token forgotten,
//! withdraw on read, edits updating and deletes withdrawing what is shown (an edit's update
//! also while the first push is on its way), a `kill -9` between a message's commit and its push or while its send is in
//! flight, and a flood to one device that holds back nobody else's pushes. In cluster mode (`NATTER_E2E_CLUSTER=1`) each test runs three notifier
//! processes sharing the Kafka consumer group and the PostgreSQL pipeline, and every count the
//! tests assert (the lab's accepted pushes) says nothing was sent twice.

use std::time::Duration;

use natter_protocol::{
    ApnsEnvironment, NotificationSettingsBody, NotifyLevelView, PreviewView, QuietHoursView,
    RegisterDeviceRequest, SendMessageRequest, WebPushKeys, WebPushSubscription,
};
use natter_push_lab::{Lab, Pushed, Service, WebSubscription};
use natter_sdk::Client;
use uuid::Uuid;

use crate::server::TestServer;
use crate::support::{raw_authenticated, raw_json, user};

/// Bounds every wait for pushes (the drain polls every 100 ms; retries back off for seconds).
const WITHIN: Duration = Duration::from_secs(60);

struct Rig {
    lab: Lab,
    server: TestServer,
    dir: tempfile::TempDir,
}

impl Rig {
    /// A server sending to a new lab. In cluster mode on a database of its own, `name`: the
    /// notifiers send whatever is due in their database, and the shared one holds other tests'
    /// devices (and an earlier run's deliveries).
    async fn start(name: &str, paused: bool) -> Self {
        let lab = Lab::start().await.expect("lab");
        let dir = tempfile::tempdir().expect("tempdir");
        let pause = dir.path().join("pause");
        if paused {
            std::fs::write(&pause, b"").unwrap();
        }
        let mut env = lab.natter_env(dir.path()).expect("lab files");
        env.push(("NATTER__NOTIFIER__PAUSE_FILE", pause.display().to_string()));
        if crate::cluster::enabled() {
            env.extend(crate::cluster::own_database(name));
        }
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let server = TestServer::spawn_with_env(&[], &env);
        Self { lab, server, dir }
    }

    fn resume(&self) {
        std::fs::remove_file(self.dir.path().join("pause")).unwrap();
    }

    async fn wait_for(&self, count: usize) -> Vec<Pushed> {
        match self.lab.wait_for_pushes(count, WITHIN).await {
            Ok(pushes) => pushes,
            Err(got) => panic!("expected {count} pushes, got {got:#?}"),
        }
    }
}

fn fcm() -> (String, RegisterDeviceRequest) {
    let token = format!("fcm-{}", Uuid::now_v7().simple());
    let request = RegisterDeviceRequest::Fcm {
        token: token.clone(),
    };
    (token, request)
}

fn web(subscription: &WebSubscription) -> RegisterDeviceRequest {
    RegisterDeviceRequest::WebPush {
        subscription: WebPushSubscription {
            endpoint: subscription.endpoint.clone(),
            expiration_time: None,
            keys: WebPushKeys {
                p256dh: subscription.p256dh.clone(),
                auth: subscription.auth.clone(),
            },
        },
    }
}

async fn with_fcm(client: &Client) -> String {
    let (token, request) = fcm();
    client.register_device(&request).await.expect("register");
    token
}

/// The direct conversation of `client` and `peer`.
async fn open_direct(client: &Client, peer: Uuid) -> Uuid {
    client
        .create_direct(peer)
        .await
        .expect("direct conversation")
        .conversation
        .id
}

async fn send(client: &Client, conversation: Uuid, text: &str, mentions: Vec<Uuid>) {
    client
        .send_message(
            conversation,
            &SendMessageRequest {
                client_msg_id: natter_sdk::new_client_msg_id(),
                text: text.into(),
                reply_to_seq: None,
                mentions,
                attachments: Vec::new(),
            },
        )
        .await
        .expect("send");
}

fn bodies(pushes: &[Pushed]) -> Vec<String> {
    pushes
        .iter()
        .map(|push| match push.service {
            Service::Fcm => push.payload["notification"]["body"].as_str(),
            Service::Apns => push.payload["aps"]["alert"]["body"].as_str(),
            _ => push.payload["body"].as_str(),
        })
        .map(|body| body.unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_members_get_one_push_per_device_and_nobody_else_does() {
    let rig = Rig::start("push_offline", false).await;
    let server = &rig.server;
    let (ada, ada_view) = user(server, "ada").await;
    let (bob, bob_view) = user(server, "bob").await;
    let (carol, carol_view) = user(server, "carol").await;
    let (dave, dave_view) = user(server, "dave").await;
    let (erin, erin_view) = user(server, "erin").await;
    let (frank, frank_view) = user(server, "frank").await;
    let ada_token = with_fcm(&ada).await;
    let bob_token = with_fcm(&bob).await;
    let browser = rig.lab.subscribe();
    bob.register_device(&web(&browser)).await.expect("web push");
    let bob_iphone = format!("{}{}", bob_view.id.simple(), bob_view.id.simple());
    bob.register_device(&RegisterDeviceRequest::Apns {
        token: bob_iphone.clone(),
        topic: natter_push_lab::APNS_TOPIC.into(),
        environment: ApnsEnvironment::Sandbox,
    })
    .await
    .expect("apns");
    let carol_token = with_fcm(&carol).await;
    let dave_token = with_fcm(&dave).await;
    let erin_token = with_fcm(&erin).await;
    let frank_token = with_fcm(&frank).await;

    let members = [bob_view.id, carol_view.id, dave_view.id, erin_view.id];
    let group = ada
        .create_group("general", None, &members)
        .await
        .expect("group")
        .conversation
        .id;
    dave.set_muted(group, true).await.expect("mute");
    erin.set_notification_settings(&NotificationSettingsBody {
        level: NotifyLevelView::Nothing,
        preview: PreviewView::Full,
        quiet_hours: None,
    })
    .await
    .expect("settings");
    // Frank is in do-not-disturb all day and shows only who wrote.
    frank
        .set_notification_settings(&NotificationSettingsBody {
            level: NotifyLevelView::All,
            preview: PreviewView::SenderOnly,
            quiet_hours: Some(QuietHoursView {
                start: "00:00".into(),
                end: "00:00".into(),
                time_zone: "UTC".into(),
            }),
        })
        .await
        .expect("settings");
    // Carol reads live: connected over the WebSocket.
    let _carol_live = raw_authenticated(server, &carol).await;

    send(&ada, group, "hello team", vec![]).await;
    send(&ada, group, "dave, look", vec![dave_view.id]).await;
    // Planned and sent after the group's messages (commit order): when it has arrived, so has
    // every push of theirs.
    let direct = ada
        .create_direct(frank_view.id)
        .await
        .expect("direct")
        .conversation
        .id;
    send(&ada, direct, "last", vec![]).await;

    let all = rig.wait_for(8).await;
    let to_frank = rig.lab.pushes_to(&frank_token);
    assert_eq!(bodies(&to_frank), ["New message"]);
    let quiet = &to_frank[0].payload["android"];
    assert_eq!(quiet["priority"], "NORMAL");
    assert_eq!(quiet["notification"]["default_sound"], false);
    assert_eq!(
        to_frank[0].payload["notification"]["title"],
        ada_view.display_name
    );
    assert_eq!(all.len(), 8, "{all:#?}");
    let to_bob = rig.lab.pushes_to(&bob_token);
    assert_eq!(bodies(&to_bob), ["hello team", "dave, look"]);
    let collapse = to_bob[0].payload["android"]["collapse_key"].as_str();
    assert_eq!(collapse, Some(group.to_string().as_str()));
    let title = to_bob[0].payload["notification"]["title"].as_str().unwrap();
    assert_eq!(title, format!("{} in general", ada_view.display_name));
    // The lab decrypted the browser's pushes as the browser would.
    let to_browser = rig.lab.pushes_to(&browser.endpoint);
    assert_eq!(bodies(&to_browser), ["hello team", "dave, look"]);
    assert_eq!(to_browser[0].payload["tag"], group.to_string());
    // The badge is bob's unread count when the push was planned: the second message's sees
    // both (the first's may too, when both were committed before it was planned).
    assert!(
        to_browser[0].payload["badge"]
            .as_u64()
            .is_some_and(|n| n >= 1),
        "{:#?}",
        to_browser[0].payload
    );
    assert_eq!(to_browser[1].payload["badge"], 2);
    // The iPhone, through APNs' sandbox: collapsed per conversation, a thread per conversation.
    let to_iphone = rig.lab.pushes_to(&bob_iphone);
    assert_eq!(bodies(&to_iphone), ["hello team", "dave, look"]);
    assert!(to_iphone[0].path.starts_with("/sandbox/3/device/"));
    assert_eq!(
        to_iphone[0].headers["apns-topic"],
        natter_push_lab::APNS_TOPIC
    );
    assert_eq!(to_iphone[0].headers["apns-push-type"], "alert");
    assert_eq!(to_iphone[0].headers["apns-collapse-id"], group.to_string());
    assert_eq!(to_iphone[1].payload["aps"]["badge"], 2);
    assert_eq!(bodies(&rig.lab.pushes_to(&dave_token)), ["dave, look"]);
    for nobody in [&ada_token, &carol_token, &erin_token] {
        assert!(rig.lab.pushes_to(nobody).is_empty(), "{nobody}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_retried_until_delivered_once_and_dead_tokens_are_forgotten() {
    let rig = Rig::start("push_outage", false).await;
    let server = &rig.server;
    let (ada, _) = user(server, "ada").await;
    let (bob, bob_view) = user(server, "bob").await;
    let (carol, carol_view) = user(server, "carol").await;
    let bob_token = with_fcm(&bob).await;
    let carol_token = with_fcm(&carol).await;
    let to_bob = open_direct(&ada, bob_view.id).await;
    let to_carol = open_direct(&ada, carol_view.id).await;

    rig.lab.fail_next(Service::Fcm, 3, 503, Some(1));
    send(&ada, to_bob, "through the outage", vec![]).await;
    rig.wait_for(1).await;
    assert_eq!(
        bodies(&rig.lab.pushes_to(&bob_token)),
        ["through the outage"]
    );

    // Carol uninstalled the app: FCM says UNREGISTERED, natter forgets the token.
    rig.lab.unregister(&carol_token);
    send(&ada, to_carol, "anyone there?", vec![]).await;
    send(&ada, to_bob, "after", vec![]).await;
    rig.wait_for(2).await;
    let mut forgotten = false;
    for _ in 0..200 {
        if carol.devices().await.expect("devices").devices.is_empty() {
            forgotten = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(forgotten, "the unregistered token is still listed");
    assert_eq!(
        bodies(&rig.lab.pushes_to(&bob_token)),
        ["through the outage", "after"],
        "delivered exactly once"
    );
    assert!(rig.lab.pushes_to(&carol_token).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_committed_before_a_kill_arrives_once_after_the_restart() {
    let mut rig = Rig::start("push_committed_kill", true).await;
    let (ada, _) = user(&rig.server, "ada").await;
    let (bob, bob_view) = user(&rig.server, "bob").await;
    let bob_token = with_fcm(&bob).await;
    let direct = open_direct(&ada, bob_view.id).await;
    // Committed; the notifier is paused, so nothing has been planned or sent.
    send(&ada, direct, "before the crash", vec![]).await;
    rig.server.kill();
    assert_eq!(rig.lab.accepted(), 0);

    rig.resume();
    rig.server.restart();
    rig.wait_for(1).await;
    // Sent, and planned, after the restart: once it has arrived, a second copy of the first
    // would have too.
    send(&ada, direct, "after", vec![]).await;
    rig.wait_for(2).await;
    assert_eq!(
        bodies(&rig.lab.pushes_to(&bob_token)),
        ["before the crash", "after"],
        "{:#?}",
        rig.lab.pushes()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vapid_public_key_is_served_when_web_push_is_configured() {
    let rig = Rig::start("push_vapid", false).await;
    let anonymous = rig.server.client();
    let key = raw_json(
        &anonymous,
        natter_sdk::Method::GET,
        "/push/vapid-public-key",
        None,
    )
    .await;
    assert_eq!(key.status, 200);
    let key: serde_json::Value = serde_json::from_slice(&key.body).unwrap();
    assert_eq!(key["public_key"], rig.lab.keys().vapid_public_key);

    let plain = TestServer::spawn();
    let off = raw_json(
        &plain.client(),
        natter_sdk::Method::GET,
        "/push/vapid-public-key",
        None,
    )
    .await;
    assert_eq!(off.status, 404);
    let off: serde_json::Value = serde_json::from_slice(&off.body).unwrap();
    assert_eq!(off["code"], "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_on_any_device_withdraws_what_the_others_show() {
    let rig = Rig::start("push_withdraw", false).await;
    let (ada, _) = user(&rig.server, "ada").await;
    let (bob, bob_view) = user(&rig.server, "bob").await;
    let phone = with_fcm(&bob).await;
    let browser = rig.lab.subscribe();
    bob.register_device(&web(&browser)).await.expect("web push");
    let direct = open_direct(&ada, bob_view.id).await;
    send(&ada, direct, "one", vec![]).await;
    send(&ada, direct, "two", vec![]).await;
    rig.wait_for(4).await;

    // Bob reads both (on a third device, over REST): his phone and browser are told.
    bob.mark_read(direct, 2).await.expect("read");
    let pushes = rig.wait_for(6).await;
    assert_eq!(pushes.len(), 6, "{pushes:#?}");
    let on_phone = rig.lab.pushes_to(&phone);
    let withdraw = &on_phone[2].payload;
    assert_eq!(withdraw["data"]["type"], "withdraw");
    assert_eq!(withdraw["data"]["read_seq"], "2");
    assert_eq!(withdraw["data"]["badge"], "0");
    assert_eq!(withdraw["android"]["collapse_key"], direct.to_string());
    let in_browser = rig.lab.pushes_to(&browser.endpoint);
    assert_eq!(in_browser[2].payload["type"], "withdraw");
    assert_eq!(in_browser[2].payload["read_seq"], 2);

    // Read again, nothing new pushed since: no other withdraw. A new message is pushed, and
    // is the next (and only) push after the withdraws.
    bob.mark_read(direct, 2).await.expect("read again");
    send(&ada, direct, "three", vec![]).await;
    rig.wait_for(8).await;
    assert_eq!(bodies(&rig.lab.pushes_to(&phone)[3..]), ["three"]);
    assert_eq!(rig.lab.accepted(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_in_flight_at_a_kill_is_sent_again_after_the_restart() {
    let mut rig = Rig::start("push_in_flight_kill", false).await;
    let (ada, _) = user(&rig.server, "ada").await;
    let (bob, bob_view) = user(&rig.server, "bob").await;
    let bob_token = with_fcm(&bob).await;
    let direct = open_direct(&ada, bob_view.id).await;
    // The provider holds the send: the delivery is in flight when natter dies.
    rig.lab.hang_next(Service::Fcm, 1);
    send(&ada, direct, "in flight", vec![]).await;
    assert!(
        rig.lab.wait_for_hung(1, WITHIN).await,
        "the send never started"
    );
    rig.server.kill();
    rig.lab.release_hung();
    assert_eq!(rig.lab.accepted(), 0);

    rig.server.restart();
    rig.wait_for(1).await;
    send(&ada, direct, "after", vec![]).await;
    rig.wait_for(2).await;
    assert_eq!(
        bodies(&rig.lab.pushes_to(&bob_token)),
        ["in flight", "after"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_while_the_first_push_is_on_its_way_is_pushed_after_it() {
    let rig = Rig::start("push_edit_in_flight", false).await;
    let (ada, _) = user(&rig.server, "ada").await;
    let (bob, bob_view) = user(&rig.server, "bob").await;
    let phone = with_fcm(&bob).await;
    let direct = open_direct(&ada, bob_view.id).await;
    // The provider holds the first push: it is in flight (then retried after the 503 its
    // release answers) while the edit's update is planned beside it.
    rig.lab.hang_next(Service::Fcm, 1);
    send(&ada, direct, "helo", vec![]).await;
    assert!(
        rig.lab.wait_for_hung(1, WITHIN).await,
        "the push never started"
    );
    ada.edit_message(direct, 1, "hello").await.expect("edit");
    rig.lab.release_hung();
    rig.wait_for(2).await;
    let pushes = rig.lab.pushes_to(&phone);
    assert_eq!(bodies(&pushes), ["helo", "hello"]);
    assert_eq!(pushes[1].payload["android"]["priority"], "NORMAL");
    assert_eq!(rig.lab.accepted(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_to_one_device_holds_back_nobody_else_and_arrives_in_order_once() {
    const FLOOD: usize = 40;
    let rig = Rig::start("push_flood", true).await;
    let (ada, _) = user(&rig.server, "ada").await;
    let (bob, bob_view) = user(&rig.server, "bob").await;
    let (carol, carol_view) = user(&rig.server, "carol").await;
    let browser = rig.lab.subscribe();
    bob.register_device(&web(&browser)).await.expect("web push");
    let carol_token = with_fcm(&carol).await;
    let to_bob = open_direct(&ada, bob_view.id).await;
    let to_carol = open_direct(&ada, carol_view.id).await;
    // Queued while the notifier is paused: bob's flood first, then carol's one message.
    for i in 0..FLOOD {
        send(&ada, to_bob, &format!("flood {i}"), vec![]).await;
    }
    send(&ada, to_carol, "for carol", vec![]).await;

    // Bob's first push hangs at his push service: his device is busy, and the rest of his
    // flood waits behind it, but nobody else's pushes do.
    rig.lab.hang_next(Service::WebPush, 1);
    rig.resume();
    assert!(
        rig.lab.wait_for_hung(1, WITHIN).await,
        "bob's push never started"
    );
    rig.wait_for(1).await;
    assert_eq!(bodies(&rig.lab.pushes_to(&carol_token)), ["for carol"]);
    assert!(rig.lab.pushes_to(&browser.endpoint).is_empty());

    // Released (answered 503): retried, then the whole flood, in order, each once.
    rig.lab.release_hung();
    rig.wait_for(FLOOD + 1).await;
    let expected: Vec<String> = (0..FLOOD).map(|i| format!("flood {i}")).collect();
    assert_eq!(bodies(&rig.lab.pushes_to(&browser.endpoint)), expected);
    assert_eq!(rig.lab.accepted(), FLOOD + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_updates_the_alert_shown_and_a_delete_withdraws_it() {
    let rig = Rig::start("push_changes", false).await;
    let (ada, _) = user(&rig.server, "ada").await;
    let (bob, bob_view) = user(&rig.server, "bob").await;
    let phone = with_fcm(&bob).await;
    let direct = open_direct(&ada, bob_view.id).await;
    send(&ada, direct, "helo", vec![]).await;
    rig.wait_for(1).await;

    // Edited after it was pushed: pushed again with the new text, silently, under the same
    // collapse key (so it replaces what the phone shows).
    ada.edit_message(direct, 1, "hello").await.expect("edit");
    rig.wait_for(2).await;
    let updated = &rig.lab.pushes_to(&phone)[1].payload;
    assert_eq!(updated["notification"]["body"], "hello");
    assert_eq!(updated["android"]["priority"], "NORMAL");
    assert_eq!(updated["android"]["collapse_key"], direct.to_string());

    // A reaction changes nothing shown; a delete withdraws it.
    ada.react(direct, 1, "👍").await.expect("react");
    ada.delete_message(direct, 1).await.expect("delete");
    let pushes = rig.wait_for(3).await;
    let withdraw = &rig.lab.pushes_to(&phone)[2].payload;
    assert_eq!(withdraw["data"]["type"], "withdraw", "{pushes:#?}");
    assert_eq!(withdraw["data"]["read_seq"], "1");

    // Nothing more about message 1: the next message is the next push.
    send(&ada, direct, "two", vec![]).await;
    rig.wait_for(4).await;
    assert_eq!(bodies(&rig.lab.pushes_to(&phone)[3..]), ["two"]);
    assert_eq!(rig.lab.accepted(), 4);
}
