//! The APNs sender against the lab's APNs: TLS, HTTP/2 only, token authentication.

mod common;

use std::time::Duration;

use common::{alert, apns, setup, withdraw};
use natter_push::{Outcome, PushSender, PushTarget};
use natter_push_lab::Service;

const TOKEN: &str = "5f3a9c0e1b2d4f6a8c0e1b2d4f6a8c0e1b2d4f6a8c0e1b2d4f6a8c0e1b2d4f6a";

#[tokio::test]
async fn an_alert_goes_over_http2_with_every_apns_header() {
    let s = setup().await;
    assert_eq!(
        s.send(&apns(TOKEN, false), &alert("hello")).await,
        Outcome::Accepted
    );
    let pushes = s.lab.pushes_to(TOKEN);
    assert_eq!(pushes.len(), 1);
    let push = &pushes[0];
    assert!(push.http2);
    assert_eq!(push.path, format!("/3/device/{TOKEN}"));
    assert_eq!(push.headers["apns-push-type"], "alert");
    assert_eq!(push.headers["apns-priority"], "10");
    assert_eq!(push.headers["apns-topic"], "org.natter.app");
    assert_eq!(
        push.headers["apns-collapse-id"],
        "0190f2a4-5b6c-7d8e-9f00-112233445566"
    );
    let expiration: u64 = push.headers["apns-expiration"].parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(expiration > now + 3000 && expiration <= now + 3600);
    let aps = &push.payload["aps"];
    assert_eq!(aps["alert"]["title"], "Ada in #general");
    assert_eq!(aps["alert"]["body"], "hello");
    assert_eq!(aps["badge"], 3);
    assert_eq!(aps["thread-id"], "0190f2a4-5b6c-7d8e-9f00-112233445566");
    assert_eq!(push.payload["seq"], 42);
}

#[tokio::test]
async fn a_withdraw_is_a_background_push_at_priority_5_and_sandbox_tokens_go_to_the_sandbox() {
    let s = setup().await;
    assert_eq!(
        s.send(&apns(TOKEN, true), &withdraw()).await,
        Outcome::Accepted
    );
    let push = &s.lab.pushes_to(TOKEN)[0];
    assert_eq!(push.path, format!("/sandbox/3/device/{TOKEN}"));
    assert_eq!(push.headers["apns-push-type"], "background");
    assert_eq!(push.headers["apns-priority"], "5");
    assert_eq!(push.payload["aps"]["content-available"], 1);
    assert!(push.payload["aps"].get("alert").is_none());
    assert_eq!(push.payload["type"], "withdraw");
    assert_eq!(push.payload["read_seq"], 42);
}

#[tokio::test]
async fn the_provider_token_is_reused_across_sends() {
    let s = setup().await;
    for _ in 0..10 {
        assert_eq!(
            s.send(&apns(TOKEN, false), &alert("hi")).await,
            Outcome::Accepted
        );
    }
    assert_eq!(s.lab.apns_tokens_seen(), 1);
    assert!(s.lab.refusals().is_empty());
}

#[tokio::test]
async fn an_expired_provider_token_is_replaced_and_the_push_tried_once_more() {
    let s = setup().await;
    assert_eq!(
        s.send(&apns(TOKEN, false), &alert("one")).await,
        Outcome::Accepted
    );
    s.lab.expire_apns_tokens();
    assert_eq!(
        s.send(&apns(TOKEN, false), &alert("two")).await,
        Outcome::Accepted
    );
    assert_eq!(s.lab.apns_tokens_seen(), 2);
    let refusals = s.lab.refusals();
    assert_eq!(refusals.len(), 1);
    assert_eq!(refusals[0].reason, "ExpiredProviderToken");
    assert_eq!(s.lab.pushes_to(TOKEN).len(), 2);
    // The new token is reused in turn.
    assert_eq!(
        s.send(&apns(TOKEN, false), &alert("three")).await,
        Outcome::Accepted
    );
    assert_eq!(s.lab.apns_tokens_seen(), 2);
}

#[tokio::test]
async fn throttling_and_outages_ask_for_a_retry() {
    let s = setup().await;
    s.lab.fail_next(Service::Apns, 1, 429, Some(30));
    s.lab.fail_next(Service::Apns, 1, 503, None);
    s.lab.fail_next(Service::Apns, 1, 500, None);
    let device = apns(TOKEN, false);
    assert_eq!(
        s.send(&device, &alert("hi")).await,
        Outcome::Retry {
            after: Some(Duration::from_secs(30))
        }
    );
    assert_eq!(
        s.send(&device, &alert("hi")).await,
        Outcome::Retry { after: None }
    );
    assert_eq!(
        s.send(&device, &alert("hi")).await,
        Outcome::Retry { after: None }
    );
    assert_eq!(s.send(&device, &alert("hi")).await, Outcome::Accepted);
    assert_eq!(s.lab.pushes().len(), 1);
}

#[tokio::test]
async fn unregistered_and_malformed_tokens_are_reported_for_removal() {
    let s = setup().await;
    s.lab.unregister(TOKEN);
    assert_eq!(
        s.send(&apns(TOKEN, false), &alert("hi")).await,
        Outcome::Unregistered
    );
    assert_eq!(
        s.send(&apns("not-hex", false), &alert("hi")).await,
        Outcome::Unregistered
    );
    let wrong_topic = PushTarget::Apns {
        token: "ab12".into(),
        topic: "com.example.other".into(),
        sandbox: false,
    };
    let outcome = s.send(&wrong_topic, &alert("hi")).await;
    assert!(
        matches!(outcome, Outcome::Rejected { ref reason } if reason.contains("TopicDisallowed")),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn an_oversized_alert_is_cut_to_the_4096_byte_payload() {
    let s = setup().await;
    let long = "日本語のテキスト ".repeat(1000);
    assert_eq!(
        s.send(&apns(TOKEN, false), &alert(&long)).await,
        Outcome::Accepted
    );
    let push = &s.lab.pushes_to(TOKEN)[0];
    let body = push.payload["aps"]["alert"]["body"].as_str().unwrap();
    assert!(body.ends_with('…'));
    let size = serde_json::to_vec(&push.payload).unwrap().len();
    assert!(size <= 4096 && size > 3900, "{size}");
}

#[tokio::test]
async fn a_sender_with_another_key_is_refused() {
    let s = setup().await;
    let outcome = s.impostor().send(&apns(TOKEN, false), &alert("hi")).await;
    assert!(
        matches!(outcome, Outcome::Rejected { ref reason } if reason.contains("InvalidProviderToken")),
        "{outcome:?}"
    );
    assert!(s.lab.pushes().is_empty());
}

#[tokio::test]
async fn expired_twice_in_a_row_is_retried_later_not_looped() {
    let s = setup().await;
    s.lab.fail_next(Service::Apns, 2, 403, None);
    assert_eq!(
        s.send(&apns(TOKEN, false), &alert("hi")).await,
        Outcome::Retry { after: None }
    );
    assert_eq!(
        s.send(&apns(TOKEN, false), &alert("hi")).await,
        Outcome::Accepted
    );
    assert_eq!(s.lab.pushes().len(), 1);
}

#[tokio::test]
async fn concurrent_pushes_share_one_http2_connection_and_one_provider_token() {
    let s = setup().await;
    let device = apns(TOKEN, false);
    let notification = alert("hi");
    let sends = (0..50).map(|_| s.pusher.send(&device, &notification));
    let outcomes = futures_util::future::join_all(sends).await;
    assert!(
        outcomes.iter().all(|outcome| *outcome == Outcome::Accepted),
        "{outcomes:?}"
    );
    assert_eq!(s.lab.apns_tokens_seen(), 1);
    assert_eq!(s.lab.connections(), 1, "multiplexed over one connection");
    for _ in 0..5 {
        assert_eq!(s.send(&device, &notification).await, Outcome::Accepted);
    }
    assert_eq!(s.lab.connections(), 1, "kept open between pushes");
}

/// Do not disturb: shown without sound, at priority 5.
#[tokio::test]
async fn a_silent_alert_has_no_sound() {
    let s = setup().await;
    let mut quiet = alert("shh");
    if let natter_push::Notification::Alert(alert) = &mut quiet {
        alert.silent = true;
        alert.urgency = natter_push::Urgency::Normal;
    }
    assert_eq!(s.send(&apns(TOKEN, false), &quiet).await, Outcome::Accepted);
    assert_eq!(
        s.send(&apns(TOKEN, false), &alert("ring")).await,
        Outcome::Accepted
    );
    let pushes = s.lab.pushes_to(TOKEN);
    assert_eq!(pushes[0].headers["apns-priority"], "5");
    assert!(pushes[0].payload["aps"].get("sound").is_none());
    assert_eq!(pushes[1].payload["aps"]["sound"], "default");
}
