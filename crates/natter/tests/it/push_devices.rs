//! Push devices and notification settings over REST, end to end: each kind registered as the
//! docs show it, a device dying with its session, one address being one device, the per-user
//! maximum, and every refusal (which changes nothing).

use natter_protocol::{
    ApnsEnvironment, NotificationSettingsBody, NotifyLevelView, PreviewView, QuietHoursView,
    RegisterDeviceRequest, WebPushKeys, WebPushSubscription,
};
use reqwest::StatusCode;

use crate::server::TestServer;
use crate::support::{api_error, raw_json, user};

const P256DH: &str =
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";

fn fcm(token: &str) -> RegisterDeviceRequest {
    RegisterDeviceRequest::Fcm {
        token: token.into(),
    }
}

fn web(endpoint: &str) -> RegisterDeviceRequest {
    RegisterDeviceRequest::WebPush {
        subscription: WebPushSubscription {
            endpoint: endpoint.into(),
            expiration_time: None,
            keys: WebPushKeys {
                p256dh: P256DH.into(),
                auth: AUTH.into(),
            },
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_devices_live_and_die_with_their_session() {
    let server = TestServer::spawn();
    let (phone, me) = user(&server, "pushy").await;
    let token = format!("fcm-token-{}", me.id.simple());
    let apns = RegisterDeviceRequest::Apns {
        token: format!("{}{}", me.id.simple(), me.id.simple()),
        topic: "chat.natter.ios".into(),
        environment: ApnsEnvironment::Sandbox,
    };
    let on_phone = phone.register_device(&fcm(&token)).await.expect("fcm");
    assert_eq!(on_phone.kind, "fcm");
    assert!(on_phone.current);
    assert_eq!(on_phone.hint, token[token.len() - 8..]);
    let ios = phone.register_device(&apns).await.expect("apns");
    // The same token again (the app restarted): the same device.
    let again = phone.register_device(&fcm(&token)).await.expect("again");
    assert_eq!(again.id, on_phone.id);

    // A second session (a laptop) registers a browser and sees every device.
    let laptop = server.client();
    laptop
        .login(&me.username, "correct horse battery staple")
        .await
        .expect("login");
    let browser = laptop
        .register_device(&web(
            "https://updates.push.services.mozilla.com/wpush/v2/abc",
        ))
        .await
        .expect("web push");
    assert_eq!(browser.hint, "updates.push.services.mozilla.com");
    let listed = laptop.devices().await.expect("devices").devices;
    let ids: Vec<_> = listed.iter().map(|d| d.id).collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.contains(&on_phone.id) && ids.contains(&ios.id) && ids.contains(&browser.id));
    assert_eq!(
        listed
            .iter()
            .filter(|d| d.current)
            .map(|d| d.id)
            .collect::<Vec<_>>(),
        vec![browser.id]
    );

    // The phone logs out: its devices go with its session.
    phone.logout().await.expect("logout");
    let left: Vec<_> = laptop
        .devices()
        .await
        .unwrap()
        .devices
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(left, vec![browser.id]);
    // Another user cannot remove it; its owner can, once.
    let (stranger, _) = user(&server, "other").await;
    assert_eq!(
        api_error(stranger.remove_device(browser.id).await),
        (404, "not_found".into())
    );
    laptop.remove_device(browser.id).await.expect("remove");
    assert_eq!(
        api_error(laptop.remove_device(browser.id).await),
        (404, "not_found".into())
    );
    assert!(laptop.devices().await.unwrap().devices.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_devices_are_refused_and_register_nothing() {
    let server = TestServer::spawn();
    let (client, _) = user(&server, "picky").await;
    let refused = [
        ("an empty FCM token", fcm("")),
        ("a token with a space", fcm("a b")),
        (
            "an APNs token that is not hex",
            RegisterDeviceRequest::Apns {
                token: "zz".repeat(32),
                topic: "chat.natter.ios".into(),
                environment: ApnsEnvironment::Production,
            },
        ),
        ("a plain-http endpoint", web("http://push.example.net/x")),
        (
            "an endpoint of no known push service",
            web("https://push.example.net/x"),
        ),
        ("an endpoint on loopback", web("https://127.0.0.1:8443/x")),
        ("an endpoint without a host", web("https:///x")),
    ];
    for (what, request) in &refused {
        assert_eq!(
            api_error(client.register_device(request).await),
            (400, "invalid".into()),
            "{what}"
        );
    }
    // What no typed client sends: an unknown kind, an unknown field, a wrong type.
    let token = client.access_token().unwrap();
    let url = format!("{}/api/v1/push/devices", server.base_url);
    for body in [
        r#"{"kind":"pager","token":"x"}"#,
        r#"{"kind":"fcm","token":"x","extra":1}"#,
        r#"{"kind":"fcm","token":7}"#,
        r#"{"kind":"web_push","subscription":{"endpoint":"https://p.example/x","keys":{"p256dh":"B","auth":"a","x":1}}}"#,
    ] {
        let response = reqwest::Client::new()
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    let anonymous = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .body(r#"{"kind":"fcm","token":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert!(client.devices().await.unwrap().devices.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_oldest_device_goes_past_twenty() {
    let server = TestServer::spawn();
    let (client, me) = user(&server, "many").await;
    let mut ids = Vec::new();
    for n in 0..21 {
        let token = format!("fcm-{}-{n}", me.id.simple());
        ids.push(client.register_device(&fcm(&token)).await.unwrap().id);
    }
    let listed: Vec<_> = client
        .devices()
        .await
        .unwrap()
        .devices
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(listed, ids[1..].to_vec());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_settings_default_round_trip_and_refuse_nonsense() {
    let server = TestServer::spawn();
    let (client, _) = user(&server, "settings").await;
    let defaults = client.notification_settings().await.expect("defaults");
    assert_eq!(
        defaults,
        NotificationSettingsBody {
            level: NotifyLevelView::All,
            preview: PreviewView::Full,
            quiet_hours: None,
        }
    );
    let chosen = NotificationSettingsBody {
        level: NotifyLevelView::MentionsAndDirect,
        preview: PreviewView::SenderOnly,
        quiet_hours: Some(QuietHoursView {
            start: "22:30".into(),
            end: "07:00".into(),
            time_zone: "America/New_York".into(),
        }),
    };
    assert_eq!(
        client.set_notification_settings(&chosen).await.unwrap(),
        chosen
    );
    assert_eq!(client.notification_settings().await.unwrap(), chosen);

    for (start, end, zone) in [
        ("24:00", "07:00", "Europe/Paris"),
        ("7:00", "08:00", "Europe/Paris"),
        ("22:00", "07:60", "Europe/Paris"),
        ("22:00", "07:00", "Mars/Olympus_Mons"),
    ] {
        let bad = NotificationSettingsBody {
            quiet_hours: Some(QuietHoursView {
                start: start.into(),
                end: end.into(),
                time_zone: zone.into(),
            }),
            ..chosen.clone()
        };
        assert_eq!(
            api_error(client.set_notification_settings(&bad).await),
            (400, "invalid".into()),
            "{start}-{end} {zone}"
        );
    }
    assert_eq!(client.notification_settings().await.unwrap(), chosen);
}

/// `PUT /users/me/notifications` replaces the settings whole, so it takes every field:
/// `quiet_hours` is written `null` to have none, and a body that leaves it out is refused (it
/// used to be read as `null`, clearing the quiet hours of a client that did not know the field).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_settings_put_takes_every_field() {
    let server = TestServer::spawn();
    let (client, _) = user(&server, "whole").await;
    let chosen = NotificationSettingsBody {
        level: NotifyLevelView::Nothing,
        preview: PreviewView::Hidden,
        quiet_hours: Some(QuietHoursView {
            start: "23:00".into(),
            end: "06:30".into(),
            time_zone: "Europe/Paris".into(),
        }),
    };
    client.set_notification_settings(&chosen).await.unwrap();

    for partial in [
        serde_json::json!({"level": "all", "preview": "full"}),
        serde_json::json!({"preview": "full", "quiet_hours": null}),
        serde_json::json!({"level": "all", "quiet_hours": null}),
    ] {
        let response = raw_json(
            &client,
            natter_sdk::Method::PUT,
            "/users/me/notifications",
            Some(partial.clone()),
        )
        .await;
        assert_eq!(response.status, 400, "{partial}");
        let body: natter_protocol::ErrorBody = response.json().expect("error body");
        assert_eq!(body.code, "invalid", "{partial}");
        assert!(body.message.contains("missing field"), "{}", body.message);
    }
    assert_eq!(client.notification_settings().await.unwrap(), chosen);

    // `null` is how a client says "no quiet hours".
    let response = raw_json(
        &client,
        natter_sdk::Method::PUT,
        "/users/me/notifications",
        Some(serde_json::json!({"level": "all", "preview": "full", "quiet_hours": null})),
    )
    .await;
    assert_eq!(response.status, 200);
    let cleared = NotificationSettingsBody {
        level: NotifyLevelView::All,
        preview: PreviewView::Full,
        quiet_hours: None,
    };
    assert_eq!(
        response
            .json::<NotificationSettingsBody>()
            .expect("settings"),
        cleared
    );
    assert_eq!(client.notification_settings().await.unwrap(), cleared);
    // And what the server answers has the field, `null` included.
    let got = raw_json(
        &client,
        natter_sdk::Method::GET,
        "/users/me/notifications",
        None,
    )
    .await;
    let got: serde_json::Value = got.json().expect("JSON");
    assert!(
        got["quiet_hours"].is_null() && got.get("quiet_hours").is_some(),
        "{got}"
    );
}
