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

/// A JWT signed with one of the lab's P-256 keys (PKCS#8 PEM), made by hand.
fn es256(pem: &str, kid: Option<&str>, claims: &Value) -> String {
    use base64::Engine;
    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_ec_der(&der),
    )
    .unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn apns_checks_the_provider_token_age_and_how_often_it_changes() {
    let lab = Lab::start().await.unwrap();
    let client = client(&lab, false);
    let keys = lab.keys();
    let token = |iat: u64| {
        es256(
            &keys.apns_key_pem,
            Some(&keys.apns_key_id),
            &serde_json::json!({ "iss": keys.apns_team_id, "iat": iat }),
        )
    };
    let push = |bearer: String| {
        client
            .post(format!("{}/3/device/ab12", lab.base_url()))
            .bearer_auth(bearer)
            .header("apns-topic", natter_push_lab::APNS_TOPIC)
            .header("apns-push-type", "alert")
            .body("{\"aps\":{\"alert\":\"hi\"}}")
            .send()
    };
    let reason = |answer: reqwest::Response| async move {
        let status = answer.status().as_u16();
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        (
            status,
            body["reason"].as_str().unwrap_or_default().to_owned(),
        )
    };
    let now = now();
    assert_eq!(
        reason(push(token(now - 3700)).await.unwrap()).await,
        (403, "ExpiredProviderToken".into())
    );
    assert_eq!(
        reason(push(token(now + 600)).await.unwrap()).await,
        (403, "InvalidProviderToken".into())
    );
    assert_eq!(push(token(now - 10)).await.unwrap().status().as_u16(), 200);
    // A new token on the same connection minutes after the last: too many updates.
    assert_eq!(
        reason(push(token(now - 5)).await.unwrap()).await,
        (429, "TooManyProviderTokenUpdates".into())
    );
    assert_eq!(push(token(now - 10)).await.unwrap().status().as_u16(), 200);
    // Without the team as issuer, or without the key id, the signature alone is not enough.
    let foreign = es256(
        &keys.apns_key_pem,
        Some(&keys.apns_key_id),
        &serde_json::json!({ "iss": "OTHERTEAM1", "iat": now }),
    );
    assert_eq!(
        reason(push(foreign).await.unwrap()).await,
        (403, "InvalidProviderToken".into())
    );
    let no_kid = es256(
        &keys.apns_key_pem,
        None,
        &serde_json::json!({ "iss": keys.apns_team_id, "iat": now }),
    );
    assert_eq!(
        reason(push(no_kid).await.unwrap()).await,
        (403, "InvalidProviderToken".into())
    );
    assert_eq!(lab.pushes().len(), 2);
}

#[tokio::test]
async fn the_push_service_refuses_vapid_tokens_for_another_audience_or_over_24_hours() {
    let lab = Lab::start().await.unwrap();
    let client = client(&lab, false);
    let subscription = lab.subscribe();
    let keys = lab.keys();
    let send = |claims: Value| {
        let jwt = es256(&keys.vapid_key_pem, None, &claims);
        client
            .post(&subscription.endpoint)
            .header(
                "authorization",
                format!("vapid t={jwt}, k={}", keys.vapid_public_key),
            )
            .header("ttl", "60")
            .send()
    };
    let contact = "mailto:ops@natter.example";
    let status = |claims: Value| async { send(claims).await.unwrap().status().as_u16() };
    assert_eq!(
        status(serde_json::json!({ "aud": lab.base_url(), "exp": now() + 3600, "sub": contact }))
            .await,
        201
    );
    assert_eq!(status(serde_json::json!({ "aud": "https://push.example", "exp": now() + 3600, "sub": contact })).await, 401);
    assert_eq!(
        status(
            serde_json::json!({ "aud": lab.base_url(), "exp": now() + 25 * 3600, "sub": contact })
        )
        .await,
        401
    );
    assert_eq!(
        status(serde_json::json!({ "aud": lab.base_url(), "exp": now() - 120, "sub": contact }))
            .await,
        401
    );
    assert_eq!(
        status(serde_json::json!({ "aud": lab.base_url(), "exp": now() + 3600 })).await,
        401
    );
    assert_eq!(
        lab.pushes().len(),
        1,
        "a push without payload is accepted as such"
    );
}
