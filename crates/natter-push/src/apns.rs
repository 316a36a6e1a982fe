//! The APNs sender: HTTP/2 only (`POST /3/device/{token}` on the production or sandbox host),
//! token-based authentication with an ES256 provider token (`kid` = key id, `iss` = team id,
//! `iat`) signed with the `.p8` key. The token is reused and replaced every `token_refresh_s`
//! (APNs refuses one older than an hour, and new ones more often than every 20 minutes); when
//! APNs answers `ExpiredProviderToken` anyway (a clock jump), a new one is made and the push
//! tried once more.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::collapse::apns_collapse_id;
use crate::config::{ApnsConfig, ConfigError, file_error, read_file};
use crate::fcm::apns_expiration;
use crate::fit::fit;
use crate::http::{retry_after, unix_now};
use crate::jwt::{JwtKey, SignError};
use crate::model::{Alert, Notification, Outcome, Urgency, Withdraw};

/// The largest payload APNs takes for alert and background pushes.
pub const MAX_PAYLOAD_BYTES: usize = 4096;

pub struct ApnsSender {
    client: reqwest::Client,
    production: String,
    sandbox: String,
    default_topic: String,
    tokens: ProviderTokens,
}

impl ApnsSender {
    pub(crate) fn new(config: &ApnsConfig, client: reqwest::Client) -> Result<Self, ConfigError> {
        if config.key_id.is_empty() || config.team_id.is_empty() {
            return Err(ConfigError::Invalid(
                "push.apns: key_id and team_id are required with key_file".into(),
            ));
        }
        if !(20 * 60..60 * 60).contains(&config.token_refresh_s) {
            return Err(ConfigError::Invalid(
                "push.apns.token_refresh_s must be at least 1200 (APNs refuses new tokens more \
                 often) and under 3600 (it refuses older ones)"
                    .into(),
            ));
        }
        let pem = read_file(&config.key_file)?;
        let key = JwtKey::es256(&pem).map_err(|err| file_error(&config.key_file, err))?;
        Ok(Self {
            client,
            production: config.production_endpoint.trim_end_matches('/').to_owned(),
            sandbox: config.sandbox_endpoint.trim_end_matches('/').to_owned(),
            default_topic: config.topic.clone(),
            tokens: ProviderTokens {
                key,
                key_id: config.key_id.clone(),
                team_id: config.team_id.clone(),
                refresh: Duration::from_secs(config.token_refresh_s),
                current: Mutex::new(None),
            },
        })
    }

    pub async fn send(
        &self,
        token: &str,
        topic: &str,
        sandbox: bool,
        notification: &Notification,
    ) -> Outcome {
        if !valid_apns_token(token) {
            return Outcome::Unregistered;
        }
        let topic = if topic.is_empty() {
            &self.default_topic
        } else {
            topic
        };
        let Some(payload) = payload(notification) else {
            return Outcome::Rejected {
                reason: "apns: the notification does not fit 4096 bytes".into(),
            };
        };
        let host = if sandbox {
            &self.sandbox
        } else {
            &self.production
        };
        let url = format!("{host}/3/device/{token}");
        let (push_type, priority) = match notification {
            Notification::Alert(alert) if alert.urgency == Urgency::High => ("alert", "10"),
            Notification::Alert(_) => ("alert", "5"),
            Notification::Withdraw(_) => ("background", "5"),
        };
        for attempt in 0..2 {
            let bearer = match self.tokens.get(attempt > 0) {
                Ok(bearer) => bearer,
                Err(err) => {
                    return Outcome::Rejected {
                        reason: format!("apns provider token: {err}"),
                    };
                }
            };
            let response = match self
                .client
                .post(&url)
                .bearer_auth(&bearer)
                .header("apns-push-type", push_type)
                .header("apns-priority", priority)
                .header("apns-topic", topic)
                .header(
                    "apns-expiration",
                    apns_expiration(notification.ttl().as_secs()),
                )
                .header(
                    "apns-collapse-id",
                    apns_collapse_id(notification.collapse_key()),
                )
                .header("content-type", "application/json")
                .body(payload.clone())
                .send()
                .await
            {
                Ok(response) => response,
                Err(err) => {
                    tracing::warn!(error = %err.without_url(), "apns send failed");
                    return Outcome::Retry { after: None };
                }
            };
            let status = response.status();
            if status.is_success() {
                return Outcome::Accepted;
            }
            let after = retry_after(response.headers());
            let reason = response
                .json::<Reason>()
                .await
                .map(|answer| answer.reason)
                .unwrap_or_default();
            if status == StatusCode::FORBIDDEN && reason == "ExpiredProviderToken" && attempt == 0 {
                continue;
            }
            return classify(status, after, &reason);
        }
        Outcome::Retry { after: None }
    }
}

#[derive(Deserialize)]
struct Reason {
    #[serde(default)]
    reason: String,
}

/// What APNs' answer means (Apple: "Handling notification responses from APNs").
fn classify(status: StatusCode, after: Option<Duration>, reason: &str) -> Outcome {
    match (status.as_u16(), reason) {
        (410, _) => Outcome::Unregistered,
        // The token is not a token of this app in this environment: it will never work.
        (400, "BadDeviceToken" | "DeviceTokenNotForTopic") => Outcome::Unregistered,
        (429, _) | (500..=599, _) => Outcome::Retry { after },
        // ExpiredProviderToken again right after a new token: our clock is off; try later.
        (403, "ExpiredProviderToken") => Outcome::Retry { after },
        _ => Outcome::Rejected {
            reason: format!("apns {status} {reason}"),
        },
    }
}

struct ProviderTokens {
    key: JwtKey,
    key_id: String,
    team_id: String,
    refresh: Duration,
    current: Mutex<Option<Current>>,
}

struct Current {
    token: String,
    iat: u64,
    made: Instant,
}

impl ProviderTokens {
    /// The current token, or a new one when it is due or `renew` (APNs called it expired). A
    /// new token's `iat` is always later than the one it replaces, so it differs from it.
    fn get(&self, renew: bool) -> Result<String, SignError> {
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if let Some(token) = current.as_ref()
            && !renew
            && token.made.elapsed() < self.refresh
        {
            return Ok(token.token.clone());
        }
        #[derive(Serialize)]
        struct Claims<'a> {
            iss: &'a str,
            iat: u64,
        }
        let iat = unix_now().max(current.as_ref().map_or(0, |token| token.iat + 1));
        let claims = Claims {
            iss: &self.team_id,
            iat,
        };
        let token = self.key.sign(Some(&self.key_id), &claims)?;
        *current = Some(Current {
            token: token.clone(),
            iat,
            made: Instant::now(),
        });
        Ok(token)
    }
}

fn payload(notification: &Notification) -> Option<Vec<u8>> {
    match notification {
        Notification::Alert(alert) => fit(&alert.title, &alert.body, MAX_PAYLOAD_BYTES, |t, b| {
            serde_json::to_vec(&alert_payload(alert, t, b)).unwrap_or_default()
        }),
        Notification::Withdraw(withdraw) => {
            let body = serde_json::to_vec(&withdraw_payload(withdraw)).ok()?;
            (body.len() <= MAX_PAYLOAD_BYTES).then_some(body)
        }
    }
}

fn alert_payload(alert: &Alert, title: &str, body: &str) -> Value {
    let mut aps = json!({
        "alert": { "title": title, "body": body },
        "thread-id": alert.conversation_id,
        "mutable-content": 1,
    });
    if !alert.silent {
        aps["sound"] = json!("default");
    }
    if let Some(badge) = alert.badge {
        aps["badge"] = json!(badge);
    }
    json!({
        "aps": aps,
        "type": "message",
        "conversation_id": alert.conversation_id,
        "message_id": alert.message_id,
        "seq": alert.seq,
    })
}

fn withdraw_payload(withdraw: &Withdraw) -> Value {
    let mut aps = json!({ "content-available": 1 });
    if let Some(badge) = withdraw.badge {
        aps["badge"] = json!(badge);
    }
    json!({
        "aps": aps,
        "type": "withdraw",
        "conversation_id": withdraw.conversation_id,
        "read_seq": withdraw.read_seq,
    })
}

/// A device token as APNs issues them: hex, 64 characters today (registration checks the same).
fn valid_apns_token(token: &str) -> bool {
    !token.is_empty() && token.len() <= 200 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_answer_is_classified() {
        let s = |code| StatusCode::from_u16(code).unwrap();
        let after = Some(Duration::from_secs(3));
        assert_eq!(
            classify(s(410), after, "Unregistered"),
            Outcome::Unregistered
        );
        assert_eq!(
            classify(s(410), after, "ExpiredToken"),
            Outcome::Unregistered
        );
        assert_eq!(
            classify(s(400), after, "BadDeviceToken"),
            Outcome::Unregistered
        );
        assert_eq!(
            classify(s(400), after, "DeviceTokenNotForTopic"),
            Outcome::Unregistered
        );
        for (code, reason) in [
            (429, "TooManyRequests"),
            (429, "TooManyProviderTokenUpdates"),
            (500, "InternalServerError"),
            (503, "ServiceUnavailable"),
            (503, "Shutdown"),
            (403, "ExpiredProviderToken"),
        ] {
            assert_eq!(
                classify(s(code), after, reason),
                Outcome::Retry { after },
                "{reason}"
            );
        }
        for (code, reason) in [
            (400, "BadCollapseId"),
            (400, "BadExpirationDate"),
            (400, "BadPriority"),
            (400, "BadTopic"),
            (400, "InvalidPushType"),
            (400, "PayloadEmpty"),
            (400, "TopicDisallowed"),
            (403, "InvalidProviderToken"),
            (403, "MissingProviderToken"),
            (404, "BadPath"),
            (405, "MethodNotAllowed"),
            (413, "PayloadTooLarge"),
        ] {
            let outcome = classify(s(code), after, reason);
            assert!(
                matches!(outcome, Outcome::Rejected { .. }),
                "{reason}: {outcome:?}"
            );
        }
    }
}
