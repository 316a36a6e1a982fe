//! The Web Push sender against the lab's push service, which decrypts like a browser.

mod common;

use std::time::Duration;

use common::{alert, setup, setup_with, withdraw};
use natter_push::{Outcome, PushSender, PushTarget};
use natter_push_lab::{Service, WebSubscription};

fn device(subscription: &WebSubscription) -> PushTarget {
    PushTarget::WebPush {
        endpoint: subscription.endpoint.clone(),
        p256dh: subscription.p256dh.clone(),
        auth: subscription.auth.clone(),
    }
}

#[tokio::test]
async fn the_browser_decrypts_what_was_sent() {
    let s = setup().await;
    let subscription = s.lab.subscribe();
    assert_eq!(
        s.send(&device(&subscription), &alert("hello ✓")).await,
        Outcome::Accepted
    );
    let pushes = s.lab.pushes_to(&subscription.endpoint);
    assert_eq!(pushes.len(), 1);
    let push = &pushes[0];
    assert_eq!(
        push.payload,
        serde_json::json!({
            "type": "message",
            "title": "Ada in #general",
            "body": "hello ✓",
            "conversation_id": "0190f2a4-5b6c-7d8e-9f00-112233445566",
            "message_id": "7263514982736451",
            "seq": 42,
            "badge": 3,
            "tag": "0190f2a4-5b6c-7d8e-9f00-112233445566",
            "silent": false,
        })
    );
    assert!(push.http2);
    assert_eq!(push.headers["ttl"], "3600");
    assert_eq!(push.headers["urgency"], "high");
    assert_eq!(push.headers["content-encoding"], "aes128gcm");
    assert_eq!(push.headers["topic"].len(), 32);
}

#[tokio::test]
async fn a_withdraw_has_the_alert_topic_so_it_replaces_it() {
    let s = setup().await;
    let subscription = s.lab.subscribe();
    let device = device(&subscription);
    assert_eq!(s.send(&device, &alert("hello")).await, Outcome::Accepted);
    assert_eq!(s.send(&device, &withdraw()).await, Outcome::Accepted);
    let pushes = s.lab.pushes_to(&subscription.endpoint);
    assert_eq!(pushes[1].payload["type"], "withdraw");
    assert_eq!(pushes[1].payload["read_seq"], 42);
    assert_eq!(pushes[1].headers["urgency"], "normal");
    assert_eq!(pushes[1].headers["topic"], pushes[0].headers["topic"]);
}

#[tokio::test]
async fn throttling_and_outages_ask_for_a_retry_and_gone_subscriptions_for_removal() {
    let s = setup().await;
    let subscription = s.lab.subscribe();
    let device = device(&subscription);
    s.lab.fail_next(Service::WebPush, 1, 429, Some(60));
    s.lab.fail_next(Service::WebPush, 1, 503, Some(2));
    assert_eq!(
        s.send(&device, &alert("hi")).await,
        Outcome::Retry {
            after: Some(Duration::from_secs(60))
        }
    );
    assert_eq!(
        s.send(&device, &alert("hi")).await,
        Outcome::Retry {
            after: Some(Duration::from_secs(2))
        }
    );
    assert_eq!(s.send(&device, &alert("hi")).await, Outcome::Accepted);
    s.lab.unregister(&subscription.endpoint);
    assert_eq!(s.send(&device, &alert("hi")).await, Outcome::Unregistered);
    let unknown = PushTarget::WebPush {
        endpoint: format!("{}/wp/nobody", s.lab.base_url()),
        p256dh: subscription.p256dh.clone(),
        auth: subscription.auth.clone(),
    };
    assert_eq!(s.send(&unknown, &alert("hi")).await, Outcome::Unregistered);
    assert_eq!(s.lab.pushes().len(), 1);
}

#[tokio::test]
async fn an_oversized_alert_is_cut_to_one_4096_byte_record() {
    let s = setup().await;
    let subscription = s.lab.subscribe();
    let long = "Ω≈ç√∫ ".repeat(2000);
    assert_eq!(
        s.send(&device(&subscription), &alert(&long)).await,
        Outcome::Accepted
    );
    let push = &s.lab.pushes_to(&subscription.endpoint)[0];
    let body = push.payload["body"].as_str().unwrap();
    assert!(body.ends_with('…') && long.starts_with(body.trim_end_matches('…')));
    assert!(push.headers["content-length"].parse::<usize>().unwrap() <= 4096);
}

#[tokio::test]
async fn a_sender_with_another_vapid_key_is_refused() {
    let s = setup().await;
    let subscription = s.lab.subscribe();
    let outcome = s
        .impostor()
        .send(&device(&subscription), &alert("hi"))
        .await;
    assert!(matches!(outcome, Outcome::Rejected { .. }), "{outcome:?}");
    assert!(s.lab.pushes().is_empty());
    assert_eq!(s.lab.refusals()[0].status, 403);
}

#[tokio::test]
async fn a_subscription_with_unusable_keys_is_reported_for_removal() {
    let s = setup().await;
    let subscription = s.lab.subscribe();
    let broken = PushTarget::WebPush {
        endpoint: subscription.endpoint.clone(),
        p256dh: "AAAA".into(),
        auth: subscription.auth.clone(),
    };
    assert_eq!(s.send(&broken, &alert("hi")).await, Outcome::Unregistered);
    let plain_http = PushTarget::WebPush {
        endpoint: subscription.endpoint.replace("https://", "http://"),
        p256dh: subscription.p256dh.clone(),
        auth: subscription.auth.clone(),
    };
    assert_eq!(
        s.send(&plain_http, &alert("hi")).await,
        Outcome::Unregistered
    );
    assert!(s.lab.pushes().is_empty());
}

#[tokio::test]
async fn a_push_service_that_hangs_is_retried_later() {
    let s = setup_with(|config| config.request_timeout_s = 1).await;
    let subscription = s.lab.subscribe();
    s.lab.hang_next(Service::WebPush, 1);
    assert_eq!(
        s.send(&device(&subscription), &alert("hi")).await,
        Outcome::Retry { after: None }
    );
    s.lab.release_hung();
    assert_eq!(
        s.send(&device(&subscription), &alert("hi")).await,
        Outcome::Accepted
    );
}

#[tokio::test]
async fn the_lab_lets_a_test_wait_for_pushes_without_sleeping() {
    let s = setup().await;
    let subscription = s.lab.subscribe();
    let device = device(&subscription);
    let waiting = s.lab.wait_for_pushes(2, Duration::from_secs(30));
    let sending = async {
        for _ in 0..2 {
            assert_eq!(s.send(&device, &alert("hi")).await, Outcome::Accepted);
        }
    };
    let (pushes, ()) = tokio::join!(waiting, sending);
    let pushes = pushes.unwrap();
    assert_eq!(pushes.len(), 2);
    assert!(pushes[0].accepted_at <= pushes[1].accepted_at);
    let short = s.lab.wait_for_pushes(3, Duration::from_millis(50)).await;
    assert_eq!(short.unwrap_err().len(), 2);
}

/// Do not disturb: the service worker shows it with `silent: true`, at normal urgency.
#[tokio::test]
async fn a_silent_alert_says_so_to_the_service_worker() {
    let s = setup().await;
    let subscription = s.lab.subscribe();
    let mut quiet = alert("shh");
    if let natter_push::Notification::Alert(alert) = &mut quiet {
        alert.silent = true;
        alert.urgency = natter_push::Urgency::Normal;
    }
    assert_eq!(
        s.send(&device(&subscription), &quiet).await,
        Outcome::Accepted
    );
    let push = &s.lab.pushes_to(&subscription.endpoint)[0];
    assert_eq!(push.payload["silent"], true);
    assert_eq!(push.headers["urgency"], "normal");
}
