//! `Idempotency-Key` for REST writes: a client that retries a `POST`, `PUT`, `PATCH` or `DELETE`
//! with the same key (after a timeout, a dropped connection, on another node) gets the first
//! answer again instead of a second effect: one group, not two. Messages need no header (their
//! `client_msg_id` already makes sends idempotent, durably); this covers everything else.
//!
//! The first request with a key claims it (atomically: one node, one request wins), runs, and
//! stores its answer for [`KEY_TTL`]; a retry replays that answer with `Idempotent-Replayed:
//! true`. A retry while the first is still running gets 409; a key reused with a different
//! request (method, path or body) gets 409 too. Server errors (5xx) are not stored, so a retry
//! runs again, and neither is a 401. Keys are scoped to the caller's credentials, so one user cannot read another's
//! answers; requests without an `Authorization` header are never kept. The store is in memory
//! (one node) or Redis (a cluster: `backends/redis.rs`).
//!
//! Upload chunks (tus `PATCH`) ignore it too: their body is streamed, never buffered, and
//! `Upload-Offset` already makes a retry safe (a repeated chunk gets 409 with the offset).
//!
//! `/auth/*` ignores the header: replaying a token pair would hand live credentials to whoever
//! repeats the request, and a replayed refresh would hide the reuse of a spent refresh token.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use natter_domain::DomainError;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::state::AppState;

/// How long an answer is kept for retries.
pub const KEY_TTL: Duration = Duration::from_secs(24 * 3600);
/// How long a claim may stay unanswered (a node died mid-request) before a retry may run.
pub const CLAIM_TTL: Duration = Duration::from_secs(60);
/// Longest key accepted.
const KEY_MAX: usize = 255;
/// Answers larger than this are not kept (write answers are small).
const ANSWER_MAX: usize = 256 * 1024;
/// Keys the in-memory store holds at most; the oldest go first.
const MEMORY_KEYS_MAX: usize = 100_000;

/// Where claims and answers live.
#[async_trait]
pub trait IdempotencyStore: Send + Sync + 'static {
    /// Claim `key` with `value` unless it exists; the existing value if it does.
    async fn claim(&self, key: &str, value: &[u8]) -> Result<Option<Vec<u8>>, DomainError>;
    /// Replace the value (the final answer).
    async fn store(&self, key: &str, value: &[u8]) -> Result<(), DomainError>;
    /// Drop the claim so a retry runs again.
    async fn release(&self, key: &str) -> Result<(), DomainError>;
}

/// One process: a bounded map with expiry.
#[derive(Default)]
pub struct MemoryIdempotency {
    entries: Mutex<HashMap<String, (Instant, Vec<u8>)>>,
}

#[async_trait]
impl IdempotencyStore for MemoryIdempotency {
    async fn claim(&self, key: &str, value: &[u8]) -> Result<Option<Vec<u8>>, DomainError> {
        let mut entries = self.entries.lock().map_err(|_| DomainError::Internal)?;
        let now = Instant::now();
        if let Some((expires, existing)) = entries.get(key)
            && *expires > now
        {
            return Ok(Some(existing.clone()));
        }
        if entries.len() >= MEMORY_KEYS_MAX {
            entries.retain(|_, (expires, _)| *expires > now);
            if entries.len() >= MEMORY_KEYS_MAX
                && let Some(oldest) = entries
                    .iter()
                    .min_by_key(|(_, (expires, _))| *expires)
                    .map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
            }
        }
        entries.insert(key.to_owned(), (now + CLAIM_TTL, value.to_vec()));
        Ok(None)
    }

    async fn store(&self, key: &str, value: &[u8]) -> Result<(), DomainError> {
        let mut entries = self.entries.lock().map_err(|_| DomainError::Internal)?;
        entries.insert(key.to_owned(), (Instant::now() + KEY_TTL, value.to_vec()));
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), DomainError> {
        let mut entries = self.entries.lock().map_err(|_| DomainError::Internal)?;
        entries.remove(key);
        Ok(())
    }
}

/// What is stored under a key: a claim (request still running) or the answer.
#[derive(Debug, PartialEq, Eq)]
enum Entry {
    Claimed {
        fingerprint: [u8; 32],
    },
    Answered {
        fingerprint: [u8; 32],
        status: u16,
        content_type: String,
        body: Vec<u8>,
    },
}

impl Entry {
    fn encode(&self) -> Vec<u8> {
        match self {
            Self::Claimed { fingerprint } => [&[0u8][..], fingerprint].concat(),
            Self::Answered {
                fingerprint,
                status,
                content_type,
                body,
            } => {
                let mut out = vec![1u8];
                out.extend_from_slice(fingerprint);
                out.extend_from_slice(&status.to_be_bytes());
                out.extend_from_slice(&(content_type.len() as u16).to_be_bytes());
                out.extend_from_slice(content_type.as_bytes());
                out.extend_from_slice(body);
                out
            }
        }
    }

    fn decode(raw: &[u8]) -> Option<Self> {
        let (&kind, rest) = raw.split_first()?;
        let fingerprint: [u8; 32] = rest.get(..32)?.try_into().ok()?;
        let rest = &rest[32..];
        match kind {
            0 => Some(Self::Claimed { fingerprint }),
            1 => {
                let status = u16::from_be_bytes(rest.get(..2)?.try_into().ok()?);
                let type_len = u16::from_be_bytes(rest.get(2..4)?.try_into().ok()?) as usize;
                let content_type = String::from_utf8(rest.get(4..4 + type_len)?.to_vec()).ok()?;
                let body = rest.get(4 + type_len..)?.to_vec();
                Some(Self::Answered {
                    fingerprint,
                    status,
                    content_type,
                    body,
                })
            }
            _ => None,
        }
    }

    fn fingerprint(&self) -> &[u8; 32] {
        match self {
            Self::Claimed { fingerprint } | Self::Answered { fingerprint, .. } => fingerprint,
        }
    }
}

fn is_write(method: &Method) -> bool {
    [Method::POST, Method::PUT, Method::PATCH, Method::DELETE].contains(method)
}

/// Routes that hand out or spend credentials (under `/api/v1`, whether or not the prefix was
/// stripped by nesting): never answered from the store.
fn is_auth(path: &str) -> bool {
    path.strip_prefix("/api/v1")
        .unwrap_or(path)
        .starts_with("/auth/")
}

/// The middleware: a pass-through for reads and for writes without the header.
pub async fn idempotent_writes(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(raw_key) = request.headers().get("idempotency-key").cloned() else {
        return next.run(request).await;
    };
    // Keys are scoped to the caller's credentials; a request without any has no scope, so it is
    // never kept nor replayed (a route that needs a token answers 401, not another caller's 409).
    if !is_write(request.method())
        || is_auth(request.uri().path())
        || crate::serving::body::is_upload_chunk(&request)
        || !request.headers().contains_key(header::AUTHORIZATION)
    {
        return next.run(request).await;
    }
    match guarded(&state, raw_key, request, next).await {
        Ok(response) | Err(response) => response,
    }
}

async fn guarded(
    state: &AppState,
    raw_key: HeaderValue,
    request: Request,
    next: Next,
) -> Result<Response, Response> {
    let refuse = |err: ApiError| err.into_response();
    let key = raw_key
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= KEY_MAX && k.chars().all(|c| c.is_ascii_graphic()))
        .ok_or_else(|| {
            refuse(ApiError::BadRequest(format!(
                "Idempotency-Key must be 1 to {KEY_MAX} visible ASCII characters"
            )))
        })?;
    // Scoped to the credentials: the same key from two users is two keys.
    let caller = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes().to_vec())
        .unwrap_or_default();
    let scoped = hex(&Sha256::new()
        .chain_update(&caller)
        .chain_update([0])
        .chain_update(key.as_bytes())
        .finalize());
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, state.config.limits.max_body_bytes)
        .await
        .map_err(|_| refuse(ApiError::PayloadTooLarge))?;
    let fingerprint: [u8; 32] = Sha256::new()
        .chain_update(parts.method.as_str())
        .chain_update([0])
        .chain_update(parts.uri.path())
        .chain_update([0])
        .chain_update(&body)
        .finalize()
        .into();
    let store = &state.idempotency;
    let claim = Entry::Claimed { fingerprint }.encode();
    match store
        .claim(&scoped, &claim)
        .await
        .map_err(|e| refuse(e.into()))?
    {
        None => {}
        Some(existing) => {
            let entry = Entry::decode(&existing)
                .ok_or_else(|| refuse(ApiError::Domain(DomainError::Internal)))?;
            if entry.fingerprint() != &fingerprint {
                return Err(refuse(ApiError::Domain(DomainError::Conflict(
                    "this Idempotency-Key was used for a different request".into(),
                ))));
            }
            return match entry {
                Entry::Claimed { .. } => Err(refuse(ApiError::Domain(DomainError::Conflict(
                    "a request with this Idempotency-Key is still running; retry later".into(),
                )))),
                Entry::Answered {
                    status,
                    content_type,
                    body,
                    ..
                } => Ok(replay(status, &content_type, body)),
            };
        }
    }

    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    let status = response.status();
    // Nor a 401: credentials that did not authenticate scope nothing, and a later request under
    // the same bad token must get its own 401, not a 409 about the first one.
    if status.is_server_error() || status == StatusCode::UNAUTHORIZED {
        let _ = store.release(&scoped).await;
        return Ok(response);
    }
    let (mut parts, body) = response.into_parts();
    let Ok(body) = to_bytes(body, ANSWER_MAX).await else {
        let _ = store.release(&scoped).await;
        return Ok(refuse(ApiError::Domain(DomainError::Internal)));
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let answer = Entry::Answered {
        fingerprint,
        status: status.as_u16(),
        content_type,
        body: body.to_vec(),
    };
    if let Err(err) = store.store(&scoped, &answer.encode()).await {
        // The request happened; a retry after the claim expires would run it again.
        tracing::warn!(%err, "idempotent answer not stored");
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Ok(Response::from_parts(parts, Body::from(body)))
}

fn replay(status: u16, content_type: &str, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_garbage_is_refused() {
        let answered = Entry::Answered {
            fingerprint: [7; 32],
            status: 201,
            content_type: "application/json".into(),
            body: b"{\"a\":1}".to_vec(),
        };
        assert_eq!(Entry::decode(&answered.encode()), Some(answered));
        let claimed = Entry::Claimed {
            fingerprint: [9; 32],
        };
        assert_eq!(Entry::decode(&claimed.encode()), Some(claimed));
        assert_eq!(Entry::decode(b""), None);
        assert_eq!(Entry::decode(&[1, 2, 3]), None);
        assert_eq!(Entry::decode(&[5; 40]), None);
    }

    #[test]
    fn auth_routes_are_recognised_with_or_without_the_prefix() {
        assert!(is_auth("/auth/refresh"));
        assert!(is_auth("/api/v1/auth/login"));
        assert!(!is_auth("/conversations"));
        assert!(!is_auth("/api/v1/users/me"));
    }

    #[tokio::test]
    async fn memory_store_claims_once_and_releases() {
        let store = MemoryIdempotency::default();
        assert_eq!(store.claim("k", b"first").await.unwrap(), None);
        assert_eq!(
            store.claim("k", b"second").await.unwrap().as_deref(),
            Some(&b"first"[..])
        );
        store.store("k", b"answer").await.unwrap();
        assert_eq!(
            store.claim("k", b"third").await.unwrap().as_deref(),
            Some(&b"answer"[..])
        );
        store.release("k").await.unwrap();
        assert_eq!(store.claim("k", b"again").await.unwrap(), None);
    }
}
