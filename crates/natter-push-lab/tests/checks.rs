//! The lab's own checks refuse what the providers refuse (so a sender that gets them wrong fails
//! its tests): requests made by hand, without natter-push.

use natter_push_lab::{Lab, Service};
use serde_json::Value;

fn client(lab: &Lab, h1_only: bool) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(lab.ca_pem().as_bytes()).unwrap();
    let builder = reqwest::Client::builder().tls_certs_only([ca]);
    let builder = if h1_only {
        builder.http1_only()
    } else {
        builder
    };
    builder.build().unwrap()
}

#[tokio::test]
async fn apns_refuses_http1() {
    let lab = Lab::start().await.unwrap();
    let response = client(&lab, true)
        .post(format!("{}/3/device/ab12", lab.base_url()))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 505);
    assert_eq!(lab.refusals()[0].service, Service::Apns);
}

#[tokio::test]
async fn apns_refuses_a_missing_or_forged_provider_token() {
    let lab = Lab::start().await.unwrap();
    let client = client(&lab, false);
    let url = format!("{}/3/device/ab12", lab.base_url());
    let answer = client.post(&url).body("{\"aps\":{}}").send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 403);
    let reason: Value = answer.json().await.unwrap();
    assert_eq!(reason["reason"], "MissingProviderToken");
    let forged = "eyJhbGciOiJFUzI1NiIsImtpZCI6IkxBQjBLRVkwMDEifQ.eyJpc3MiOiJMQUIwVEVBTTAxIiwiaWF0IjoxfQ.c2ln";
    let answer = client
        .post(&url)
        .bearer_auth(forged)
        .body("{\"aps\":{}}")
        .send()
        .await
        .unwrap();
    let reason: Value = answer.json().await.unwrap();
    assert_eq!(reason["reason"], "InvalidProviderToken");
    assert!(lab.pushes().is_empty());
}

#[tokio::test]
async fn fcm_refuses_sends_without_a_valid_access_token_in_its_error_format() {
    let lab = Lab::start().await.unwrap();
    let client = client(&lab, false);
    let answer = client
        .post(format!(
            "{}/v1/projects/natter-lab/messages:send",
            lab.base_url()
        ))
        .bearer_auth("ya29.made-up")
        .json(&serde_json::json!({ "message": { "token": "t" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 401);
    let error: Value = answer.json().await.unwrap();
    assert_eq!(error["error"]["status"], "UNAUTHENTICATED");

    let answer = client
        .post(format!("{}/token", lab.base_url()))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", "a.b.c"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 400);
    let error: Value = answer.json().await.unwrap();
    assert_eq!(error["error"], "invalid_grant");
    assert_eq!(lab.oauth_exchanges(), 0);
}

#[tokio::test]
async fn the_push_service_refuses_unknown_subscriptions_and_missing_vapid() {
    let lab = Lab::start().await.unwrap();
    let client = client(&lab, false);
    let subscription = lab.subscribe();
    let answer = client
        .post(&subscription.endpoint)
        .header("ttl", "60")
        .body(vec![0u8; 100])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 401);
    let answer = client
        .post(format!("{}/wp/unknown", lab.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 404);
    assert!(lab.pushes().is_empty());
}
