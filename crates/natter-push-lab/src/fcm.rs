//! The FCM lab: Google's OAuth token endpoint (JWT bearer grant: the assertion's RS256 signature,
//! issuer, audience, scope and lifetime checked) and the HTTP v1 `messages:send` endpoint (bearer
//! token, project, message shape, data values as strings, the 4096-byte payload limit), with
//! FCM's error format (`google.rpc.Status` with an `FcmError` detail).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Form;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::keys::{FCM_CLIENT_EMAIL, FCM_PROJECT, random_bytes};
use crate::state::{AccessToken, Pushed, Service, Shared};
use crate::{fault, headers_of, unix_now};

/// FCM's limit on a message's `notification` and `data` together.
pub const MAX_PAYLOAD: usize = 4096;

pub(crate) async fn token(
    State(shared): State<Arc<Shared>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    #[derive(Deserialize)]
    struct Claims {
        scope: String,
        iat: u64,
        exp: u64,
    }
    let refuse = |description: &str| {
        shared.refuse(Service::Fcm, 400, format!("oauth: {description}"));
        (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({ "error": "invalid_grant", "error_description": description })),
        )
            .into_response()
    };
    if form.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return refuse("unsupported grant_type");
    }
    let Some(assertion) = form.get("assertion") else {
        return refuse("no assertion");
    };
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[format!("{}/token", shared.base_url)]);
    validation.set_issuer(&[FCM_CLIENT_EMAIL]);
    validation.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
    let claims = match jsonwebtoken::decode::<Claims>(
        assertion,
        &shared.keys.fcm_decoding_key(),
        &validation,
    ) {
        Ok(data) => data.claims,
        Err(err) => return refuse(&format!("Invalid JWT: {err}")),
    };
    if !claims
        .scope
        .split(' ')
        .any(|scope| scope == "https://www.googleapis.com/auth/firebase.messaging")
    {
        return refuse("scope does not include firebase.messaging");
    }
    if claims.exp.saturating_sub(claims.iat) > 3600 || claims.iat > unix_now() + 60 {
        return refuse(
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe",
        );
    }
    let lifetime = *shared
        .token_lifetime
        .lock()
        .unwrap_or_else(|poison| poison.into_inner());
    let access = format!("ya29.lab-{}", URL_SAFE_NO_PAD.encode(random_bytes::<24>()));
    {
        let mut inner = shared.lock();
        inner.oauth_exchanges += 1;
        inner.access_tokens.insert(
            access.clone(),
            AccessToken {
                expires: Instant::now() + lifetime,
                revoked: false,
            },
        );
    }
    axum::Json(json!({
        "access_token": access,
        "expires_in": lifetime.as_secs(),
        "token_type": "Bearer",
    }))
    .into_response()
}

pub(crate) async fn send(
    State(shared): State<Arc<Shared>>,
    Path(project): Path<String>,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(response) = fault::apply(&shared, Service::Fcm).await {
        return response;
    }
    let bearer = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    let authorized = bearer.is_some_and(|token| {
        shared
            .lock()
            .access_tokens
            .get(token)
            .is_some_and(|access| !access.revoked && access.expires > Instant::now())
    });
    if !authorized {
        return refuse(
            &shared,
            401,
            "UNAUTHENTICATED",
            None,
            "Request had invalid authentication credentials.",
        );
    }
    if project != FCM_PROJECT {
        return refuse(
            &shared,
            403,
            "PERMISSION_DENIED",
            None,
            "Permission denied on the project",
        );
    }
    let message = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(mut request)) => match request.remove("message") {
            Some(message @ Value::Object(_)) => message,
            _ => return invalid(&shared, "no message object"),
        },
        _ => return invalid(&shared, "the body is not a JSON object"),
    };
    if let Err(problem) = check_message(&message) {
        return invalid(&shared, &problem);
    }
    let token = message["token"].as_str().unwrap_or_default().to_owned();
    if shared.lock().unregistered.contains(&token) {
        return refuse(
            &shared,
            404,
            "NOT_FOUND",
            Some("UNREGISTERED"),
            "Requested entity was not found.",
        );
    }
    let id = u64::from_be_bytes(random_bytes());
    shared.record(Pushed {
        service: Service::Fcm,
        device: token,
        path: format!("/v1/projects/{project}/messages:send"),
        headers: headers_of(&headers),
        payload: message,
        http2: version == Version::HTTP_2,
        accepted_at: std::time::SystemTime::now(),
    });
    axum::Json(json!({ "name": format!("projects/{project}/messages/{id}") })).into_response()
}

/// The checks FCM makes that natter could get wrong.
fn check_message(message: &Value) -> Result<(), String> {
    let token = message
        .get("token")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if token.is_empty() {
        return Err("message.token is required".into());
    }
    if let Some(data) = message.get("data") {
        let Some(data) = data.as_object() else {
            return Err("message.data must be a map".into());
        };
        if let Some((key, _)) = data.iter().find(|(_, value)| !value.is_string()) {
            return Err(format!(
                "Invalid value at 'message.data[{key}].value' (TYPE_STRING)"
            ));
        }
    }
    let size = |key: &str| message.get(key).map_or(0, |value| value.to_string().len());
    if size("notification") + size("data") > MAX_PAYLOAD {
        return Err("Message is too big".into());
    }
    if let Some(android) = message.get("android") {
        if let Some(priority) = android.get("priority")
            && priority != "HIGH"
            && priority != "NORMAL"
        {
            return Err("Invalid value at 'message.android.priority'".into());
        }
        if let Some(ttl) = android.get("ttl") {
            let valid = ttl
                .as_str()
                .and_then(|ttl| ttl.strip_suffix('s'))
                .is_some_and(|seconds| seconds.parse::<f64>().is_ok_and(|seconds| seconds >= 0.0));
            if !valid {
                return Err("Invalid value at 'message.android.ttl' (type.googleapis.com/google.protobuf.Duration)".into());
            }
        }
    }
    for platform in ["apns", "webpush"] {
        if let Some(headers) = message.get(platform).and_then(|value| value.get("headers")) {
            let all_strings = headers
                .as_object()
                .is_some_and(|headers| headers.values().all(Value::is_string));
            if !all_strings {
                return Err(format!("Invalid value at 'message.{platform}.headers'"));
            }
        }
    }
    Ok(())
}

fn invalid(shared: &Shared, message: &str) -> Response {
    refuse(
        shared,
        400,
        "INVALID_ARGUMENT",
        Some("INVALID_ARGUMENT"),
        message,
    )
}

fn refuse(
    shared: &Shared,
    status: u16,
    canonical: &str,
    fcm: Option<&str>,
    message: &str,
) -> Response {
    shared.refuse(Service::Fcm, status, format!("{canonical}: {message}"));
    error_response(status, canonical, fcm, message, None)
}

/// An answer in FCM's error format.
pub(crate) fn error_response(
    status: u16,
    canonical: &str,
    fcm: Option<&str>,
    message: &str,
    retry_after: Option<u64>,
) -> Response {
    let details = fcm.map_or(json!([]), |code| {
        json!([{ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code }])
    });
    let body = json!({ "error": {
        "code": status, "message": message, "status": canonical, "details": details,
    }});
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert("retry-after", seconds.to_string().parse().expect("digits"));
    }
    response
}

/// The canonical status and FCM error code FCM answers with for an HTTP status.
pub(crate) fn codes_for(status: u16) -> (&'static str, Option<&'static str>) {
    match status {
        400 => ("INVALID_ARGUMENT", Some("INVALID_ARGUMENT")),
        401 => ("UNAUTHENTICATED", Some("THIRD_PARTY_AUTH_ERROR")),
        403 => ("PERMISSION_DENIED", Some("SENDER_ID_MISMATCH")),
        404 => ("NOT_FOUND", Some("UNREGISTERED")),
        429 => ("RESOURCE_EXHAUSTED", Some("QUOTA_EXCEEDED")),
        503 => ("UNAVAILABLE", Some("UNAVAILABLE")),
        _ => ("INTERNAL", Some("INTERNAL")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_fcm_would_refuse_are_refused() {
        let ok = json!({ "token": "t", "data": { "a": "1" }, "android": { "ttl": "3600s", "priority": "HIGH" } });
        assert_eq!(check_message(&ok), Ok(()));
        let bad = [
            json!({ "data": {} }),
            json!({ "token": "t", "data": { "seq": 42 } }),
            json!({ "token": "t", "data": { "big": "x".repeat(MAX_PAYLOAD) } }),
            json!({ "token": "t", "android": { "ttl": "3600" } }),
            json!({ "token": "t", "android": { "priority": "high" } }),
            json!({ "token": "t", "apns": { "headers": { "apns-priority": 10 } } }),
        ];
        for message in bad {
            assert!(check_message(&message).is_err(), "{message}");
        }
    }
}
