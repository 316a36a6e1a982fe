//! FCM's OAuth 2.0 access token from a Google service account key: a JWT signed with the key
//! (RS256) is exchanged at the key's `token_uri` (the JWT bearer grant, RFC 7523) for an access
//! token that lives about an hour. The token is cached until a minute before it expires; the
//! exchange happens under a lock, so many concurrent sends wait for one exchange instead of each
//! making their own.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::config::{ConfigError, file_error, read_file};
use crate::http::{retry_after, unix_now};
use crate::jwt::{JwtKey, SignError};
use crate::model::Outcome;

const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// A cached token is replaced when it has less than this left.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// The assertion's lifetime (Google accepts at most one hour).
const ASSERTION_LIFETIME_S: u64 = 3600;

/// The fields of a service account JSON key natter uses.
#[derive(Deserialize)]
struct KeyFile {
    client_email: String,
    private_key: String,
    #[serde(default)]
    private_key_id: String,
    token_uri: String,
    #[serde(default)]
    project_id: String,
}

pub(crate) struct ServiceAccount {
    pub client_email: String,
    key: JwtKey,
    key_id: String,
    pub token_uri: String,
    pub project_id: String,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .field("project_id", &self.project_id)
            .finish_non_exhaustive()
    }
}

impl ServiceAccount {
    pub fn load(path: &str) -> Result<Self, ConfigError> {
        let file: KeyFile =
            serde_json::from_slice(&read_file(path)?).map_err(|err| file_error(path, err))?;
        let key = JwtKey::rs256(file.private_key.as_bytes())
            .map_err(|err| file_error(path, format!("private_key: {err}")))?;
        Ok(Self {
            client_email: file.client_email,
            key,
            key_id: file.private_key_id,
            token_uri: file.token_uri,
            project_id: file.project_id,
        })
    }

    fn assertion(&self) -> Result<String, SignError> {
        #[derive(Serialize)]
        struct Claims<'a> {
            iss: &'a str,
            scope: &'a str,
            aud: &'a str,
            iat: u64,
            exp: u64,
        }
        let now = unix_now();
        let claims = Claims {
            iss: &self.client_email,
            scope: SCOPE,
            aud: &self.token_uri,
            iat: now,
            exp: now + ASSERTION_LIFETIME_S,
        };
        let kid = (!self.key_id.is_empty()).then_some(self.key_id.as_str());
        self.key.sign(kid, &claims)
    }
}

struct Cached {
    token: String,
    expires: Instant,
}

pub(crate) struct AccessTokens {
    account: ServiceAccount,
    client: reqwest::Client,
    cached: Mutex<Option<Cached>>,
}

impl AccessTokens {
    pub fn new(account: ServiceAccount, client: reqwest::Client) -> Self {
        Self {
            account,
            client,
            cached: Mutex::new(None),
        }
    }

    /// A valid access token, or what the failed exchange means for the push.
    pub async fn get(&self) -> Result<String, Outcome> {
        let mut cached = self.cached.lock().await;
        if let Some(current) = cached.as_ref()
            && Instant::now() + REFRESH_MARGIN < current.expires
        {
            return Ok(current.token.clone());
        }
        let fresh = self.exchange().await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    /// Forgets `token` after FCM refused it, unless another send has already replaced it.
    pub async fn invalidate(&self, token: &str) {
        let mut cached = self.cached.lock().await;
        if cached
            .as_ref()
            .is_some_and(|current| current.token == token)
        {
            *cached = None;
        }
    }

    async fn exchange(&self) -> Result<Cached, Outcome> {
        #[derive(Deserialize)]
        struct Answer {
            access_token: String,
            expires_in: u64,
        }
        let assertion = self.account.assertion().map_err(|err| Outcome::Rejected {
            reason: format!("fcm oauth assertion: {err}"),
        })?;
        let started = Instant::now();
        let response = self
            .client
            .post(&self.account.token_uri)
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion.as_str()),
            ])
            .send()
            .await
            .map_err(|err| {
                tracing::warn!(error = %err.without_url(), "fcm oauth token exchange failed");
                Outcome::Retry { after: None }
            })?;
        let status = response.status();
        if status.is_success() {
            let answer: Answer = response.json().await.map_err(|err| {
                tracing::warn!(error = %err.without_url(), "fcm oauth token answer unreadable");
                Outcome::Retry { after: None }
            })?;
            return Ok(Cached {
                token: answer.access_token,
                expires: started + Duration::from_secs(answer.expires_in),
            });
        }
        let after = retry_after(response.headers());
        let text = response.text().await.unwrap_or_default();
        tracing::warn!(%status, answer = %text, "fcm oauth token exchange refused");
        if status.as_u16() == 429 || status.is_server_error() {
            Err(Outcome::Retry { after })
        } else {
            // invalid_grant, invalid_client: our key is wrong or revoked.
            Err(Outcome::Rejected {
                reason: format!("fcm oauth: {status} {text}"),
            })
        }
    }
}
