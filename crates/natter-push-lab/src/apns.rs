//! The APNs lab: `POST /3/device/{token}` (production) and `/sandbox/3/device/{token}`, HTTP/2
//! only. Checks the provider token (ES256 signature with the lab's `.p8` key, `kid`, `iss`, age:
//! older than an hour is `ExpiredProviderToken`; a connection that switches to a new token less
//! than 20 minutes after its last is `TooManyProviderTokenUpdates`), the `apns-*` headers and the
//! 4096-byte payload, and answers with APNs' reasons.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::keys::{APNS_TOPIC, random_bytes};
use crate::state::{ProviderToken, Pushed, Service, Shared};
use crate::{ConnectionId, fault, headers_of, unix_now};

pub const MAX_PAYLOAD: usize = 4096;
const TOKEN_MAX_AGE_S: u64 = 3600;
const TOKEN_MIN_INTERVAL_S: u64 = 20 * 60;
const PUSH_TYPES: [&str; 9] = [
    "alert",
    "background",
    "voip",
    "complication",
    "fileprovider",
    "mdm",
    "location",
    "liveactivity",
    "pushtotalk",
];

pub(crate) async fn production(
    state: State<Arc<Shared>>,
    connection: Extension<ConnectionId>,
    token: Path<String>,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    send(state, connection, token, version, headers, body, false).await
}

pub(crate) async fn sandbox(
    state: State<Arc<Shared>>,
    connection: Extension<ConnectionId>,
    token: Path<String>,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    send(state, connection, token, version, headers, body, true).await
}

async fn send(
    State(shared): State<Arc<Shared>>,
    Extension(connection): Extension<ConnectionId>,
    Path(token): Path<String>,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
    sandbox: bool,
) -> Response {
    if version != Version::HTTP_2 {
        shared.refuse(Service::Apns, 505, "APNs speaks HTTP/2 only");
        return StatusCode::HTTP_VERSION_NOT_SUPPORTED.into_response();
    }
    if let Some(response) = fault::apply(&shared, Service::Apns).await {
        return response;
    }
    if let Err((status, reason)) = check_provider_token(&shared, connection, &headers) {
        return refuse(&shared, status, reason);
    }
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    match header("apns-topic") {
        None => return refuse(&shared, 400, "MissingTopic"),
        Some(topic) if topic != APNS_TOPIC => return refuse(&shared, 400, "TopicDisallowed"),
        Some(_) => {}
    }
    let push_type = header("apns-push-type").unwrap_or_default();
    if !PUSH_TYPES.contains(&push_type) {
        return refuse(&shared, 400, "InvalidPushType");
    }
    match header("apns-priority") {
        None | Some("5") | Some("1") => {}
        Some("10") if push_type != "background" => {}
        Some(_) => return refuse(&shared, 400, "BadPriority"),
    }
    if header("apns-expiration").is_some_and(|value| value.parse::<u64>().is_err()) {
        return refuse(&shared, 400, "BadExpirationDate");
    }
    if header("apns-collapse-id").is_some_and(|value| value.len() > 64) {
        return refuse(&shared, 400, "BadCollapseId");
    }
    if body.is_empty() {
        return refuse(&shared, 400, "PayloadEmpty");
    }
    if body.len() > MAX_PAYLOAD {
        return refuse(&shared, 413, "PayloadTooLarge");
    }
    let payload = match serde_json::from_slice::<Value>(&body) {
        Ok(payload) if payload.get("aps").is_some_and(Value::is_object) => payload,
        _ => return refuse(&shared, 400, "BadPayload"),
    };
    if token.is_empty() || !token.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return refuse(&shared, 400, "BadDeviceToken");
    }
    if shared.lock().unregistered.contains(&token) {
        shared.refuse(Service::Apns, 410, "Unregistered");
        let body = json!({ "reason": "Unregistered", "timestamp": unix_now() * 1000 });
        return (StatusCode::GONE, axum::Json(body)).into_response();
    }
    let path = if sandbox {
        format!("/sandbox/3/device/{token}")
    } else {
        format!("/3/device/{token}")
    };
    shared.record(Pushed {
        service: Service::Apns,
        device: token,
        path,
        headers: headers_of(&headers),
        payload,
        http2: true,
        accepted_at: std::time::SystemTime::now(),
    });
    let id = random_bytes::<16>();
    let apns_id = format!(
        "{:08X}-{:04X}-{:04X}-{:04X}-{:012X}",
        u32::from_be_bytes(id[0..4].try_into().expect("4")),
        u16::from_be_bytes(id[4..6].try_into().expect("2")),
        u16::from_be_bytes(id[6..8].try_into().expect("2")),
        u16::from_be_bytes(id[8..10].try_into().expect("2")),
        u64::from_be_bytes([0, 0, id[10], id[11], id[12], id[13], id[14], id[15]]),
    );
    (StatusCode::OK, [("apns-id", apns_id)]).into_response()
}

fn check_provider_token(
    shared: &Shared,
    connection: ConnectionId,
    headers: &HeaderMap,
) -> Result<(), (u16, &'static str)> {
    #[derive(Deserialize)]
    struct Claims {
        iss: String,
        iat: u64,
    }
    let Some(token) = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            value
                .strip_prefix("bearer ")
                .or_else(|| value.strip_prefix("Bearer "))
        })
    else {
        return Err((403, "MissingProviderToken"));
    };
    let header = jsonwebtoken::decode_header(token).map_err(|_| (403, "InvalidProviderToken"))?;
    if header.alg != Algorithm::ES256
        || header.kid.as_deref() != Some(shared.keys.apns_key_id.as_str())
    {
        return Err((403, "InvalidProviderToken"));
    }
    let key = shared
        .keys
        .apns_decoding_key()
        .ok_or((500, "InternalServerError"))?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map_err(|_| (403, "InvalidProviderToken"))?
        .claims;
    if claims.iss != shared.keys.apns_team_id {
        return Err((403, "InvalidProviderToken"));
    }
    let now = unix_now();
    if claims.iat > now + 60 {
        return Err((403, "InvalidProviderToken"));
    }
    let mut inner = shared.lock();
    if claims.iat + TOKEN_MAX_AGE_S < now || claims.iat <= inner.apns_expired_through {
        return Err((403, "ExpiredProviderToken"));
    }
    let expired_through = inner.apns_expired_through;
    let previous = inner.apns_tokens.get(&connection.0);
    if let Some(previous) = previous
        && previous.token != token
        && previous.iat > expired_through
        && previous.iat + TOKEN_MAX_AGE_S >= now
        && claims.iat < previous.iat + TOKEN_MIN_INTERVAL_S
    {
        return Err((429, "TooManyProviderTokenUpdates"));
    }
    if previous.is_none_or(|previous| previous.token != token) {
        inner.apns_tokens_seen.insert(token.to_owned());
        inner.apns_tokens.insert(
            connection.0,
            ProviderToken {
                token: token.to_owned(),
                iat: claims.iat,
            },
        );
    }
    Ok(())
}

fn refuse(shared: &Shared, status: u16, reason: &str) -> Response {
    shared.refuse(Service::Apns, status, reason);
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(json!({ "reason": reason }))).into_response()
}
