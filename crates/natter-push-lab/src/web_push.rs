//! The Web Push lab: a push service (RFC 8030) at `/wp/{id}` for the subscriptions the lab made.
//! Checks VAPID (RFC 8292: `Authorization: vapid t=, k=`, `k` the key the subscription was made
//! with, the JWT's ES256 signature, `aud` our origin, `exp` within 24 hours, `sub` a contact),
//! `TTL`, `Urgency`, `Topic`, `Content-Encoding: aes128gcm` and the 4096-byte body, then decrypts
//! the body with the subscription's private key as the browser would.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use serde_json::Value;

use crate::keys::ec_decoding_key;
use crate::state::{Pushed, Service, Shared};
use crate::{fault, headers_of, unix_now};

pub const MAX_BODY: usize = 4096;
const MAX_JWT_LIFETIME_S: u64 = 24 * 3600;

pub(crate) async fn push(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(response) = fault::apply(&shared, Service::WebPush).await {
        return response;
    }
    let endpoint = format!("{}/wp/{id}", shared.base_url);
    {
        let inner = shared.lock();
        match inner.subscriptions.get(&id) {
            None => {
                drop(inner);
                return refuse(&shared, 404, "no such subscription");
            }
            Some(subscription)
                if subscription.unsubscribed || inner.unregistered.contains(&endpoint) =>
            {
                drop(inner);
                return refuse(&shared, 410, "the subscription has expired");
            }
            Some(_) => {}
        }
    }
    if let Err((status, reason)) = check_vapid(&shared, &headers) {
        return refuse(&shared, status, &reason);
    }
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    if header("ttl").is_none_or(|ttl| ttl.parse::<u64>().is_err()) {
        return refuse(&shared, 400, "TTL header missing or not a number");
    }
    if header("urgency")
        .is_some_and(|urgency| !["very-low", "low", "normal", "high"].contains(&urgency))
    {
        return refuse(&shared, 400, "bad Urgency");
    }
    let topic_ok = |topic: &str| {
        topic.len() <= 32
            && topic
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if header("topic").is_some_and(|topic| !topic_ok(topic)) {
        return refuse(&shared, 400, "bad Topic");
    }
    if body.len() > MAX_BODY {
        return refuse(&shared, 413, "payload too large");
    }
    let payload = if body.is_empty() {
        Value::Null
    } else {
        if header("content-encoding") != Some("aes128gcm") {
            return refuse(&shared, 400, "Content-Encoding is not aes128gcm");
        }
        let decrypted = {
            let inner = shared.lock();
            let subscription = inner.subscriptions.get(&id).expect("checked above");
            subscription.keys.decrypt(&body)
        };
        match decrypted {
            Ok(plaintext) => serde_json::from_slice(&plaintext).unwrap_or_else(|_| {
                Value::String(String::from_utf8_lossy(&plaintext).into_owned())
            }),
            Err(reason) => return refuse(&shared, 400, &format!("undecryptable: {reason}")),
        }
    };
    let number = shared.record(Pushed {
        service: Service::WebPush,
        device: endpoint,
        path: format!("/wp/{id}"),
        headers: headers_of(&headers),
        payload,
        http2: version == Version::HTTP_2,
        accepted_at: std::time::SystemTime::now(),
    });
    let location = format!("{}/message/{id}-{number}", shared.base_url);
    (StatusCode::CREATED, [("location", location)]).into_response()
}

fn check_vapid(shared: &Shared, headers: &HeaderMap) -> Result<(), (u16, String)> {
    #[derive(Deserialize)]
    struct Claims {
        exp: u64,
        #[serde(default)]
        sub: String,
    }
    let unauthorized = |reason: &str| (401, format!("vapid: {reason}"));
    let value = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .ok_or_else(|| unauthorized("no Authorization"))?;
    let params = value
        .strip_prefix("vapid ")
        .ok_or_else(|| unauthorized("not the vapid scheme"))?;
    let (mut t, mut k) = (None, None);
    for param in params.split(',') {
        match param.trim().split_once('=') {
            Some(("t", value)) => t = Some(value.trim()),
            Some(("k", value)) => k = Some(value.trim()),
            _ => {}
        }
    }
    let (Some(t), Some(k)) = (t, k) else {
        return Err(unauthorized("t= and k= are required"));
    };
    let k = URL_SAFE_NO_PAD
        .decode(k.trim_end_matches('='))
        .map_err(|_| unauthorized("k is not base64url"))?;
    if k != shared.keys.vapid_public {
        return Err((
            403,
            "vapid: k is not the key the subscription was made with".into(),
        ));
    }
    let key = ec_decoding_key(&k).ok_or_else(|| unauthorized("k is not a P-256 point"))?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[shared.base_url.as_str()]);
    validation.set_required_spec_claims(&["exp", "aud"]);
    let claims = jsonwebtoken::decode::<Claims>(t, &key, &validation)
        .map_err(|err| unauthorized(&format!("JWT refused: {err}")))?
        .claims;
    if claims.exp > unix_now() + MAX_JWT_LIFETIME_S {
        return Err(unauthorized("exp more than 24 hours ahead"));
    }
    if !(claims.sub.starts_with("mailto:") || claims.sub.starts_with("https:")) {
        return Err(unauthorized("sub is not a mailto: or https: contact"));
    }
    Ok(())
}

fn refuse(shared: &Shared, status: u16, reason: &str) -> Response {
    shared.refuse(Service::WebPush, status, reason);
    StatusCode::from_u16(status)
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        .into_response()
}
