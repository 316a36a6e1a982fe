//! The FCM sender against the lab's FCM: real TLS and HTTP/2 on loopback.

mod common;

use std::time::Duration;

use common::{alert, fcm, setup, withdraw};
use natter_push::{Outcome, PushSender};
use natter_push_lab::Service;

#[tokio::test]
async fn an_alert_is_accepted_and_recorded_with_its_collapse_keys() {
    let s = setup().await;
    assert_eq!(
        s.send(&fcm("tok-1"), &alert("hello")).await,
        Outcome::Accepted
    );
    let pushes = s.lab.pushes_to("tok-1");
    assert_eq!(pushes.len(), 1);
    let push = &pushes[0];
    assert!(push.http2, "FCM is reached over HTTP/2 (ALPN)");
    let message = &push.payload;
    assert_eq!(message["notification"]["title"], "Ada in #general");
    assert_eq!(message["notification"]["body"], "hello");
    assert_eq!(message["data"]["type"], "message");
    assert_eq!(message["data"]["seq"], "42");
    assert_eq!(message["data"]["message_id"], "7263514982736451");
    assert_eq!(
        message["android"]["collapse_key"],
        "0190f2a4-5b6c-7d8e-9f00-112233445566"
    );
    assert_eq!(message["android"]["priority"], "HIGH");
    assert_eq!(message["android"]["ttl"], "3600s");
    assert_eq!(message["android"]["notification"]["notification_count"], 3);
    assert_eq!(
        message["apns"]["headers"]["apns-collapse-id"],
        "0190f2a4-5b6c-7d8e-9f00-112233445566"
    );
    assert_eq!(message["apns"]["payload"]["aps"]["badge"], 3);
    let topic = message["webpush"]["headers"]["Topic"].as_str().unwrap();
    assert_eq!(
        topic.len(),
        32,
        "a UUID is not a valid Topic: hashed to 32 base64url characters"
    );
    assert_eq!(push.headers["content-type"], "application/json");
}

#[tokio::test]
async fn a_withdraw_is_data_only_with_the_same_collapse_key() {
    let s = setup().await;
    assert_eq!(
        s.send(&fcm("tok-1"), &alert("hello")).await,
        Outcome::Accepted
    );
    assert_eq!(s.send(&fcm("tok-1"), &withdraw()).await, Outcome::Accepted);
    let pushes = s.lab.pushes_to("tok-1");
    let message = &pushes[1].payload;
    assert!(message.get("notification").is_none());
    assert_eq!(message["data"]["type"], "withdraw");
    assert_eq!(message["data"]["read_seq"], "42");
    assert_eq!(message["android"]["priority"], "NORMAL");
    assert_eq!(message["apns"]["headers"]["apns-push-type"], "background");
    assert_eq!(message["apns"]["payload"]["aps"]["content-available"], 1);
    assert_eq!(
        message["android"]["collapse_key"],
        pushes[0].payload["android"]["collapse_key"]
    );
    assert_eq!(
        message["webpush"]["headers"]["Topic"],
        pushes[0].payload["webpush"]["headers"]["Topic"]
    );
}

#[tokio::test]
async fn one_oauth_exchange_serves_many_concurrent_sends() {
    let s = setup().await;
    let sends = (0..20).map(|i| {
        let pusher = &s.pusher;
        async move { pusher.send(&fcm(&format!("tok-{i}")), &alert("hi")).await }
    });
    let outcomes = futures_util::future::join_all(sends).await;
    assert!(
        outcomes.iter().all(|outcome| *outcome == Outcome::Accepted),
        "{outcomes:?}"
    );
    assert_eq!(s.lab.pushes().len(), 20);
    assert_eq!(s.lab.oauth_exchanges(), 1);
}

#[tokio::test]
async fn a_token_about_to_expire_is_replaced_before_use() {
    let s = setup().await;
    // Tokens living 30 s are inside the sender's one-minute margin: each send needs a new one.
    s.lab.set_access_token_lifetime(Duration::from_secs(30));
    for _ in 0..3 {
        assert_eq!(s.send(&fcm("tok-1"), &alert("hi")).await, Outcome::Accepted);
    }
    assert_eq!(s.lab.oauth_exchanges(), 3);
    s.lab.set_access_token_lifetime(Duration::from_secs(3600));
    for _ in 0..3 {
        assert_eq!(s.send(&fcm("tok-1"), &alert("hi")).await, Outcome::Accepted);
    }
    assert_eq!(s.lab.oauth_exchanges(), 4);
}

#[tokio::test]
async fn a_revoked_access_token_is_replaced_and_the_send_tried_once_more() {
    let s = setup().await;
    assert_eq!(
        s.send(&fcm("tok-1"), &alert("one")).await,
        Outcome::Accepted
    );
    s.lab.expire_access_tokens();
    assert_eq!(
        s.send(&fcm("tok-1"), &alert("two")).await,
        Outcome::Accepted
    );
    assert_eq!(s.lab.oauth_exchanges(), 2);
    assert_eq!(s.lab.pushes_to("tok-1").len(), 2);
    assert_eq!(s.lab.refusals().len(), 1, "the one 401");
}

#[tokio::test]
async fn throttling_and_outages_ask_for_a_retry_honouring_retry_after() {
    let s = setup().await;
    s.lab.fail_next(Service::Fcm, 1, 429, Some(17));
    s.lab.fail_next(Service::Fcm, 1, 503, Some(5));
    s.lab.fail_next(Service::Fcm, 1, 500, None);
    let device = fcm("tok-1");
    assert_eq!(
        s.send(&device, &alert("hi")).await,
        Outcome::Retry {
            after: Some(Duration::from_secs(17))
        }
    );
    assert_eq!(
        s.send(&device, &alert("hi")).await,
        Outcome::Retry {
            after: Some(Duration::from_secs(5))
        }
    );
    assert_eq!(
        s.send(&device, &alert("hi")).await,
        Outcome::Retry { after: None }
    );
    assert!(s.lab.pushes().is_empty());
    assert_eq!(s.send(&device, &alert("hi")).await, Outcome::Accepted);
    assert_eq!(s.lab.pushes().len(), 1);
}

#[tokio::test]
async fn an_unregistered_token_is_reported_for_removal() {
    let s = setup().await;
    s.lab.unregister("tok-gone");
    assert_eq!(
        s.send(&fcm("tok-gone"), &alert("hi")).await,
        Outcome::Unregistered
    );
    assert_eq!(
        s.send(&fcm("tok-here"), &alert("hi")).await,
        Outcome::Accepted
    );
}

#[tokio::test]
async fn an_oversized_body_is_cut_to_fit_4096_bytes() {
    let s = setup().await;
    let long = "Ünïcödé text, ".repeat(1000);
    assert_eq!(
        s.send(&fcm("tok-1"), &alert(&long)).await,
        Outcome::Accepted
    );
    let message = &s.lab.pushes_to("tok-1")[0].payload;
    let body = message["notification"]["body"].as_str().unwrap();
    assert!(body.ends_with('…'));
    assert!(long.starts_with(body.trim_end_matches('…')));
    assert!(
        body.len() > 2000,
        "the body fills what is left: {}",
        body.len()
    );
}

#[tokio::test]
async fn a_sender_with_another_key_is_refused() {
    let s = setup().await;
    let impostor = s.impostor();
    let outcome = impostor.send(&fcm("tok-1"), &alert("hi")).await;
    assert!(matches!(outcome, Outcome::Rejected { .. }), "{outcome:?}");
    assert!(s.lab.pushes().is_empty());
    assert_eq!(s.lab.oauth_exchanges(), 0);
    let refusals = s.lab.refusals();
    assert!(
        refusals[0].reason.contains("InvalidSignature"),
        "{refusals:?}"
    );
}

#[tokio::test]
async fn taken_pushes_are_forgotten_but_still_counted() {
    let s = setup().await;
    for _ in 0..3 {
        assert_eq!(s.send(&fcm("tok-1"), &alert("hi")).await, Outcome::Accepted);
    }
    assert_eq!(s.lab.take_pushes().len(), 3);
    assert!(s.lab.pushes().is_empty());
    assert_eq!(s.send(&fcm("tok-1"), &alert("hi")).await, Outcome::Accepted);
    assert_eq!(s.lab.accepted(), 4);
    let waited = s
        .lab
        .wait_for_pushes(4, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(waited.len(), 1);
}
