//! The REST client's machinery: the shared HTTP pool, the current tokens, authenticated calls
//! with one automatic refresh on 401, and the raw escape hatch for tests. The typed route
//! methods live in `routes.rs`; this file only knows how to send a request and decode a reply.

use std::sync::{Arc, Mutex, MutexGuard};

use natter_protocol::{AuthTokens, ErrorBody, RefreshRequest};
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::limits::{ERROR_TEXT_MAX_CHARS, HTTP_POOL_IDLE, HTTP_TIMEOUT};
use crate::urls::BaseUrl;

/// The tokens a client authenticates with. Held behind a std `Mutex` (never across an await):
/// every request reads them, register/login/refresh replace them.
#[derive(Debug, Clone, Default)]
struct Tokens {
    access_token: Option<String>,
    refresh_token: Option<String>,
}

#[derive(Debug)]
struct Inner {
    base: BaseUrl,
    /// Cloned by [`Client::with_token`] and friends so every client built from one shares
    /// the connection pool.
    http: reqwest::Client,
    tokens: Mutex<Tokens>,
    /// Serialises refreshes. A refresh token is single-use and presenting a spent one revokes
    /// the session, so two requests that both see a 401 must not both refresh: the second
    /// waits here, then sees that the token already changed and just retries. A tokio mutex
    /// because it is held across the refresh request.
    refresh_lock: tokio::sync::Mutex<()>,
}

/// A natter REST client: cheap to clone (clones share tokens and the connection pool).
///
/// After [`register`](Client::register) or [`login`](Client::login) it holds the session's
/// tokens and sends the access token with every call. When a call gets a 401 and the client has
/// a refresh token, it refreshes once (serialised across clones) and retries the call once.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

/// The body of a [`Client::raw_request`].
#[derive(Debug, Clone, Default)]
pub enum RawBody {
    /// No body.
    #[default]
    Empty,
    /// Serialised as JSON; the content type defaults to `application/json`.
    Json(serde_json::Value),
    /// Sent as-is (malformed JSON, invalid UTF-8, oversized payloads...); no default content
    /// type.
    Bytes(Vec<u8>),
}

impl From<serde_json::Value> for RawBody {
    fn from(value: serde_json::Value) -> Self {
        Self::Json(value)
    }
}
impl From<Vec<u8>> for RawBody {
    fn from(bytes: Vec<u8>) -> Self {
        Self::Bytes(bytes)
    }
}
impl From<&[u8]> for RawBody {
    fn from(bytes: &[u8]) -> Self {
        Self::Bytes(bytes.to_vec())
    }
}
impl From<&str> for RawBody {
    fn from(text: &str) -> Self {
        Self::Bytes(text.as_bytes().to_vec())
    }
}

/// What a [`Client::raw_request`] got back, whatever the status.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// The HTTP status.
    pub status: u16,
    /// The response headers (`Retry-After`, `Content-Type`...).
    pub headers: HeaderMap,
    /// The response body, as received.
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The body decoded as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::Protocol(format!("response body: {e}")))
    }

    /// The body decoded as the server's [`ErrorBody`], if it is one.
    pub fn error_body(&self) -> Option<ErrorBody> {
        serde_json::from_slice(&self.body).ok()
    }
}

impl Client {
    /// A client for the server at `base_url`, e.g. `http://127.0.0.1:8080` (the SDK appends
    /// `/api/v1/...`). Holds no tokens yet.
    pub fn new(base_url: &str) -> Result<Self> {
        let base = BaseUrl::parse(base_url)?;
        let http = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .pool_idle_timeout(HTTP_POOL_IDLE)
            .build()?;
        Ok(Self::from_parts(base, http, Tokens::default()))
    }

    fn from_parts(base: BaseUrl, http: reqwest::Client, tokens: Tokens) -> Self {
        Self {
            inner: Arc::new(Inner {
                base,
                http,
                tokens: Mutex::new(tokens),
                refresh_lock: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// A new, independent client for the same server that authenticates with `access_token`
    /// (and cannot refresh it). Shares the connection pool, not the tokens.
    pub fn with_token(&self, access_token: impl Into<String>) -> Self {
        let tokens = Tokens {
            access_token: Some(access_token.into()),
            refresh_token: None,
        };
        Self::from_parts(self.inner.base.clone(), self.inner.http.clone(), tokens)
    }

    /// A new, independent client holding `tokens` (so it can refresh). Shares the pool.
    ///
    /// Refresh tokens are single-use and the server treats reuse as theft (it revokes the
    /// session). Two independent clients holding the same refresh token can race into that;
    /// to use one session from several places, `clone()` a single client instead (clones
    /// share tokens and serialise their refreshes).
    pub fn with_tokens(&self, tokens: &AuthTokens) -> Self {
        let tokens = Tokens {
            access_token: Some(tokens.access_token.clone()),
            refresh_token: Some(tokens.refresh_token.clone()),
        };
        Self::from_parts(self.inner.base.clone(), self.inner.http.clone(), tokens)
    }

    /// A new client for the same server with no tokens (to register another user, or to test
    /// unauthenticated access). Shares the pool.
    pub fn anonymous(&self) -> Self {
        Self::from_parts(
            self.inner.base.clone(),
            self.inner.http.clone(),
            Tokens::default(),
        )
    }

    /// The base URL this client talks to (normalised, without a trailing slash).
    pub fn base_url(&self) -> &str {
        self.inner.base.as_str()
    }

    /// The WebSocket URL [`connect`](Client::connect) uses.
    pub fn websocket_url(&self) -> String {
        self.inner.base.websocket()
    }

    /// The current access token, if any.
    pub fn access_token(&self) -> Option<String> {
        self.tokens().access_token.clone()
    }

    /// The current refresh token, if any.
    pub fn refresh_token(&self) -> Option<String> {
        self.tokens().refresh_token.clone()
    }

    /// Replaces the tokens with those of `tokens` (what register, login and refresh do).
    pub fn set_tokens(&self, tokens: &AuthTokens) {
        let mut guard = self.tokens();
        guard.access_token = Some(tokens.access_token.clone());
        guard.refresh_token = Some(tokens.refresh_token.clone());
    }

    /// Forgets the tokens (what logout does).
    pub fn clear_tokens(&self) {
        *self.tokens() = Tokens::default();
    }

    fn tokens(&self) -> MutexGuard<'_, Tokens> {
        // A poisoned lock only means another thread panicked while swapping two strings;
        // the strings are still whole, so keep going.
        self.inner
            .tokens
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Refreshes the tokens now with the stored refresh token (single-use: the new one replaces
    /// it). Fails with `Error::Api` 401 when the server refuses it.
    pub async fn refresh(&self) -> Result<AuthTokens> {
        let _serialised = self.inner.refresh_lock.lock().await;
        self.refresh_locked().await
    }

    /// Refreshes unless the access token already changed from `stale` (another caller
    /// refreshed while we waited for the lock). Returns whether a usable new token exists.
    pub(crate) async fn refresh_if_stale(&self, stale: Option<&str>) -> Result<()> {
        let _serialised = self.inner.refresh_lock.lock().await;
        if self.access_token().as_deref() != stale {
            return Ok(());
        }
        self.refresh_locked().await.map(|_| ())
    }

    async fn refresh_locked(&self) -> Result<AuthTokens> {
        let refresh_token = self.refresh_token().ok_or_else(|| Error::Api {
            status: 401,
            body: ErrorBody {
                code: "unauthenticated".into(),
                message: "the client holds no refresh token".into(),
                retry_after_ms: None,
            },
        })?;
        let body = RefreshRequest { refresh_token };
        let url = self.inner.base.api("/auth/refresh");
        let response = self.inner.http.post(&url).json(&body).send().await?;
        let tokens: AuthTokens = decode(response).await?;
        self.set_tokens(&tokens);
        Ok(tokens)
    }

    /// Sends the request `build` makes (called again for the retry) with the current access
    /// token; on a 401, refreshes once if possible and retries once.
    pub(crate) async fn send_authed(
        &self,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Response> {
        let token = self.access_token();
        let response = with_bearer(build(&self.inner.http), token.as_deref())
            .send()
            .await?;
        if response.status() != StatusCode::UNAUTHORIZED
            || token.is_none()
            || self.refresh_token().is_none()
        {
            return Ok(response);
        }
        let original = error_from(response).await;
        // Only an expired or revoked token is worth a refresh; a wrong password (on
        // `/auth/password`) is not, and retrying it would count as a second attempt.
        if original.code() != Some("unauthenticated") {
            return Err(original);
        }
        if let Err(refresh_error) = self.refresh_if_stale(token.as_deref()).await {
            tracing::debug!(%refresh_error, "token refresh after 401 failed");
            return Err(original);
        }
        let token = self.access_token();
        Ok(with_bearer(build(&self.inner.http), token.as_deref())
            .send()
            .await?)
    }

    /// An authenticated call to `path` under `/api/v1`, decoding a JSON answer.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        build: impl Fn(&reqwest::Client, &str) -> RequestBuilder,
        path: &str,
    ) -> Result<T> {
        let url = self.inner.base.api(path);
        decode(self.send_authed(|http| build(http, &url)).await?).await
    }

    /// An authenticated call to `path` under `/api/v1` whose answer has no body (204).
    pub(crate) async fn call_empty(
        &self,
        build: impl Fn(&reqwest::Client, &str) -> RequestBuilder,
        path: &str,
    ) -> Result<()> {
        let url = self.inner.base.api(path);
        let response = self.send_authed(|http| build(http, &url)).await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(error_from(response).await)
        }
    }

    /// An unauthenticated call under `/api/v1` (register, login), decoding a JSON answer.
    pub(crate) async fn call_anonymous<T: DeserializeOwned>(
        &self,
        build: impl FnOnce(&reqwest::Client, &str) -> RequestBuilder,
        path: &str,
    ) -> Result<T> {
        let url = self.inner.base.api(path);
        decode(build(&self.inner.http, &url).send().await?).await
    }

    /// Sends exactly what you give it, for tests of malformed input: `path` is relative to the
    /// base URL (so `/api/v1/users/me` or `/healthz`), the access token is sent if the client
    /// has one (no refresh), `content_type` overrides the default (`application/json` for
    /// [`RawBody::Json`], none otherwise). Any status is returned, not turned into an error.
    ///
    /// ```no_run
    /// # async fn demo(client: natter_sdk::Client) -> natter_sdk::Result<()> {
    /// use natter_sdk::{Method, RawBody};
    /// let response = client
    ///     .raw_request(Method::POST, "/api/v1/auth/login", RawBody::from("{not json"), Some("application/json"))
    ///     .await?;
    /// assert_eq!(response.status, 400);
    /// # Ok(()) }
    /// ```
    pub async fn raw_request(
        &self,
        method: Method,
        path: &str,
        body: RawBody,
        content_type: Option<&str>,
    ) -> Result<RawResponse> {
        let url = self.inner.base.join(path);
        let token = self.access_token();
        let mut request = with_bearer(self.inner.http.request(method, &url), token.as_deref());
        let (bytes, default_type) = match body {
            RawBody::Empty => (None, None),
            RawBody::Json(value) => {
                let bytes =
                    serde_json::to_vec(&value).map_err(|e| Error::Protocol(e.to_string()))?;
                (Some(bytes), Some("application/json"))
            }
            RawBody::Bytes(bytes) => (Some(bytes), None),
        };
        if let Some(content_type) = content_type.or(default_type) {
            request = request.header(CONTENT_TYPE, content_type);
        }
        if let Some(bytes) = bytes {
            request = request.body(bytes);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await?.to_vec();
        Ok(RawResponse {
            status,
            headers,
            body,
        })
    }

    /// The shared HTTP pool, for the file transfers (`files/`), which build their own requests.
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// A URL the server handed out (`upload_url`, a download `url`): relative ones are joined
    /// to the base URL, absolute ones (a CDN's) are kept.
    pub(crate) fn resolve(&self, url: &str) -> String {
        if url.starts_with("http://") || url.starts_with("https://") {
            url.to_owned()
        } else {
            self.inner.base.join(url)
        }
    }

    /// `GET /healthz`: Ok when the server answers 2xx.
    pub async fn health(&self) -> Result<()> {
        let response = self
            .inner
            .http
            .get(self.inner.base.join("/healthz"))
            .send()
            .await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(error_from(response).await)
        }
    }
}

fn with_bearer(request: RequestBuilder, token: Option<&str>) -> RequestBuilder {
    match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    }
}

/// A 2xx answer decoded as `T`, or the error the answer describes.
async fn decode<T: DeserializeOwned>(response: Response) -> Result<T> {
    if !response.status().is_success() {
        return Err(error_from(response).await);
    }
    let bytes = response.bytes().await?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Error::Protocol(format!(
            "undecodable response ({e}): {}",
            truncated(&String::from_utf8_lossy(&bytes))
        ))
    })
}

/// The [`Error::Api`] for a non-2xx answer. A body that is not an `ErrorBody` is kept (truncated)
/// as the message with an empty code; `Retry-After` fills `retry_after_ms` when the body has none.
pub(crate) async fn error_from(response: Response) -> Error {
    let status = response.status().as_u16();
    let retry_after_ms = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map(|seconds| seconds.saturating_mul(1000));
    let bytes = match response.bytes().await {
        Ok(bytes) => bytes,
        Err(error) => return Error::from(error),
    };
    let mut body = serde_json::from_slice::<ErrorBody>(&bytes).unwrap_or_else(|_| ErrorBody {
        code: String::new(),
        message: truncated(&String::from_utf8_lossy(&bytes)),
        retry_after_ms: None,
    });
    body.retry_after_ms = body.retry_after_ms.or(retry_after_ms);
    Error::Api { status, body }
}

fn truncated(text: &str) -> String {
    text.chars().take(ERROR_TEXT_MAX_CHARS).collect()
}
