//! The Web Push sender (RFC 8030): `POST` the encrypted message (RFC 8291, see [`crate::ece`]) to
//! the subscription's endpoint with `TTL`, `Urgency` and `Topic`, and a VAPID authorization
//! (RFC 8292): an ES256 JWT for the endpoint's origin (`aud`), expiring within 24 hours, with our
//! contact (`sub`), plus our public key: `Authorization: vapid t=<jwt>, k=<key>`. One JWT per
//! push service origin is reused until an hour before it expires.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_lc_rs::agreement::{self, ECDH_P256, PrivateKey, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use serde::Serialize;
use serde_json::json;

use crate::collapse::web_push_topic;
use crate::config::{ConfigError, WebPushConfig, file_error, read_file};
use crate::ece::{self, EceError, MAX_PLAINTEXT};
use crate::fit::fit;
use crate::http::{retry_after, unix_now};
use crate::jwt::{JwtKey, SignError};
use crate::model::{DeviceError, Notification, Outcome, Urgency};

/// A VAPID JWT lives this long (RFC 8292 allows at most 24 hours)...
const JWT_LIFETIME_S: u64 = 12 * 3600;
/// ...and is replaced when it has less than this left.
const JWT_MARGIN_S: u64 = 3600;
/// Push service origins whose JWT is kept (there are a handful of real push services).
const MAX_ORIGINS: usize = 64;

pub struct WebPushSender {
    client: reqwest::Client,
    key: JwtKey,
    /// Our public key, base64url (`k=` and the browsers' `applicationServerKey`).
    public_key: String,
    subject: String,
    jwts: Mutex<HashMap<String, (String, u64)>>,
}

impl WebPushSender {
    pub(crate) fn new(
        config: &WebPushConfig,
        client: reqwest::Client,
    ) -> Result<Self, ConfigError> {
        let path = &config.vapid_key_file;
        if !(config.subject.starts_with("mailto:") || config.subject.starts_with("https://")) {
            return Err(ConfigError::Invalid(
                "push.web_push.subject must be a mailto: or https: URI".into(),
            ));
        }
        let pem = read_file(path)?;
        let key = JwtKey::es256(&pem).map_err(|err| file_error(path, err))?;
        Ok(Self {
            client,
            public_key: URL_SAFE_NO_PAD.encode(key.public_key()),
            key,
            subject: config.subject.clone(),
            jwts: Mutex::new(HashMap::new()),
        })
    }

    /// The VAPID public key browsers subscribe with (base64url, uncompressed P-256 point).
    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    pub async fn send(
        &self,
        endpoint: &str,
        p256dh: &str,
        auth: &str,
        notification: &Notification,
    ) -> Outcome {
        let Ok((url, ua_public, auth)) = subscription(endpoint, p256dh, auth) else {
            return Outcome::Unregistered;
        };
        let Some(plaintext) = plaintext(notification) else {
            return Outcome::Rejected {
                reason: "web push: the notification does not fit one record".into(),
            };
        };
        let body = match ece::encrypt(&plaintext, &ua_public, &auth) {
            Ok(body) => body,
            // A subscription whose keys cannot be used will never receive anything.
            Err(EceError::BadPublicKey | EceError::BadAuthSecret) => return Outcome::Unregistered,
            Err(err @ EceError::TooLarge(_)) => {
                return Outcome::Rejected {
                    reason: format!("web push: {err}"),
                };
            }
            Err(EceError::Crypto) => return Outcome::Retry { after: None },
        };
        let origin = url.origin().ascii_serialization();
        let jwt = match self.jwt(&origin) {
            Ok(jwt) => jwt,
            Err(err) => {
                return Outcome::Rejected {
                    reason: format!("vapid: {err}"),
                };
            }
        };
        let urgency = match notification {
            Notification::Alert(alert) if alert.urgency == Urgency::High => "high",
            _ => "normal",
        };
        let response = match self
            .client
            .post(url)
            .header(
                "authorization",
                format!("vapid t={jwt}, k={}", self.public_key),
            )
            .header("ttl", notification.ttl().as_secs().to_string())
            .header("urgency", urgency)
            .header("topic", web_push_topic(notification.collapse_key()))
            .header("content-encoding", "aes128gcm")
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
            .await
        {
            Ok(response) => response,
            Err(err) => {
                tracing::warn!(error = %err.without_url(), "web push send failed");
                return Outcome::Retry { after: None };
            }
        };
        let status = response.status();
        let after = retry_after(response.headers());
        classify(status.as_u16(), after)
    }

    fn jwt(&self, origin: &str) -> Result<String, SignError> {
        let now = unix_now();
        let mut jwts = self
            .jwts
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if let Some((jwt, exp)) = jwts.get(origin)
            && *exp > now + JWT_MARGIN_S
        {
            return Ok(jwt.clone());
        }
        #[derive(Serialize)]
        struct Claims<'a> {
            aud: &'a str,
            exp: u64,
            sub: &'a str,
        }
        let exp = now + JWT_LIFETIME_S;
        let claims = Claims {
            aud: origin,
            exp,
            sub: &self.subject,
        };
        let jwt = self.key.sign(None, &claims)?;
        if jwts.len() >= MAX_ORIGINS {
            // Endpoints come from browsers: bound what a flood of made-up origins can hold.
            jwts.retain(|_, (_, exp)| *exp > now + JWT_MARGIN_S);
            if jwts.len() >= MAX_ORIGINS {
                jwts.clear();
            }
        }
        jwts.insert(origin.to_owned(), (jwt.clone(), exp));
        Ok(jwt)
    }
}

/// What a push service's answer means (RFC 8030 §5, §8.3; RFC 8292 §4.1).
fn classify(status: u16, after: Option<std::time::Duration>) -> Outcome {
    match status {
        200..=299 => Outcome::Accepted,
        404 | 410 => Outcome::Unregistered,
        429 | 500..=599 => Outcome::Retry { after },
        _ => Outcome::Rejected {
            reason: format!("web push {status}"),
        },
    }
}

fn plaintext(notification: &Notification) -> Option<Vec<u8>> {
    match notification {
        Notification::Alert(alert) => {
            fit(&alert.title, &alert.body, MAX_PLAINTEXT, |title, body| {
                serde_json::to_vec(&json!({
                    "type": "message",
                    "title": title,
                    "body": body,
                    "conversation_id": alert.conversation_id,
                    "message_id": alert.message_id,
                    "seq": alert.seq,
                    "badge": alert.badge,
                    "tag": alert.collapse_key,
                    "silent": alert.silent,
                }))
                .unwrap_or_default()
            })
        }
        Notification::Withdraw(withdraw) => {
            let body = serde_json::to_vec(&json!({
                "type": "withdraw",
                "conversation_id": withdraw.conversation_id,
                "read_seq": withdraw.read_seq,
                "badge": withdraw.badge,
                "tag": withdraw.collapse_key,
            }))
            .ok()?;
            (body.len() <= MAX_PLAINTEXT).then_some(body)
        }
    }
}

/// The longest endpoint natter stores (push services' are under 300 characters).
const MAX_ENDPOINT: usize = 2048;

/// A subscription's endpoint, user agent public key and auth secret, checked: an `https` URL, an
/// uncompressed point on P-256 (base64url), 16 bytes.
pub(crate) fn subscription(
    endpoint: &str,
    p256dh: &str,
    auth: &str,
) -> Result<(reqwest::Url, Vec<u8>, Vec<u8>), DeviceError> {
    if endpoint.len() > MAX_ENDPOINT {
        return Err(DeviceError::Endpoint);
    }
    let url = reqwest::Url::parse(endpoint).map_err(|_| DeviceError::Endpoint)?;
    if url.scheme() != "https" || url.host_str().is_none() {
        return Err(DeviceError::Endpoint);
    }
    let ua_public = decode(p256dh).ok_or(DeviceError::P256dh)?;
    let probe = PrivateKey::generate(&ECDH_P256).map_err(|_| DeviceError::P256dh)?;
    let on_curve = ua_public.len() == 65
        && ua_public[0] == 4
        && agreement::agree(
            &probe,
            UnparsedPublicKey::new(&ECDH_P256, &ua_public),
            (),
            |_| Ok(()),
        )
        .is_ok();
    if !on_curve {
        return Err(DeviceError::P256dh);
    }
    let auth = decode(auth)
        .filter(|auth| auth.len() == 16)
        .ok_or(DeviceError::Auth)?;
    Ok((url, ua_public, auth))
}

/// Browsers hand out base64url without padding; some libraries add it.
fn decode(value: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(value)
        .or_else(|_| URL_SAFE.decode(value))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_service_answers_are_classified() {
        let after = Some(std::time::Duration::from_secs(5));
        assert_eq!(classify(201, after), Outcome::Accepted);
        assert_eq!(classify(202, after), Outcome::Accepted);
        assert_eq!(classify(404, after), Outcome::Unregistered);
        assert_eq!(classify(410, after), Outcome::Unregistered);
        assert_eq!(classify(429, after), Outcome::Retry { after });
        assert_eq!(classify(503, after), Outcome::Retry { after });
        for status in [400, 401, 403, 413] {
            assert!(
                matches!(classify(status, after), Outcome::Rejected { .. }),
                "{status}"
            );
        }
    }
}
