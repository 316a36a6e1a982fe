//! The FCM HTTP v1 sender: `POST {endpoint}/v1/projects/{project}/messages:send` with a bearer
//! access token (see [`crate::fcm_auth`]). An alert carries `notification` (title, body) plus
//! `data` (the ids the app opens), with each platform's collapse key (`android.collapse_key` and
//! `tag`, `apns-collapse-id`, Web Push `Topic`); a withdraw is data-only with the same collapse
//! key, so it also replaces a still-undelivered alert of that conversation.

use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::collapse::{apns_collapse_id, web_push_topic};
use crate::config::{ConfigError, FcmConfig};
use crate::fcm_auth::{AccessTokens, ServiceAccount};
use crate::fit::fit;
use crate::http::{retry_after, unix_now};
use crate::model::{Alert, Notification, Outcome, Urgency, Withdraw};

/// FCM's limit on a message's payload (4096 bytes); natter keeps the whole request under it.
pub const MAX_MESSAGE_BYTES: usize = 4096;

pub struct FcmSender {
    client: reqwest::Client,
    url: String,
    tokens: AccessTokens,
}

impl FcmSender {
    pub(crate) fn new(config: &FcmConfig, client: reqwest::Client) -> Result<Self, ConfigError> {
        let account = ServiceAccount::load(&config.service_account_file)?;
        let project = if config.project_id.is_empty() {
            account.project_id.clone()
        } else {
            config.project_id.clone()
        };
        if project.is_empty() {
            return Err(ConfigError::Invalid(
                "push.fcm: no project_id in the key file nor in the configuration".into(),
            ));
        }
        let url = format!(
            "{}/v1/projects/{project}/messages:send",
            config.endpoint.trim_end_matches('/')
        );
        Ok(Self {
            tokens: AccessTokens::new(account, client.clone()),
            client,
            url,
        })
    }

    /// Sends to one registration token. A 401 (the access token expired or was revoked early)
    /// gets one more try with a new token.
    pub async fn send(&self, token: &str, notification: &Notification) -> Outcome {
        let Some(body) = message(token, notification) else {
            return Outcome::Rejected {
                reason: "fcm: the notification does not fit 4096 bytes".into(),
            };
        };
        for attempt in 0..2 {
            let access = match self.tokens.get().await {
                Ok(access) => access,
                Err(outcome) => return outcome,
            };
            let response = match self
                .client
                .post(&self.url)
                .bearer_auth(&access)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
            {
                Ok(response) => response,
                Err(err) => {
                    tracing::warn!(error = %err.without_url(), "fcm send failed");
                    return Outcome::Retry { after: None };
                }
            };
            let status = response.status();
            if status.is_success() {
                return Outcome::Accepted;
            }
            let after = retry_after(response.headers());
            let text = response.text().await.unwrap_or_default();
            if status == StatusCode::UNAUTHORIZED && attempt == 0 && !is_third_party(&text) {
                self.tokens.invalidate(&access).await;
                continue;
            }
            return classify(status, after, &text);
        }
        Outcome::Retry { after: None }
    }
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    status: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    details: Vec<Value>,
}

/// The `FcmError.errorCode` of an error answer, else its canonical `status`.
fn error_code(text: &str) -> (String, String) {
    let Ok(answer) = serde_json::from_str::<ErrorAnswer>(text) else {
        return (String::new(), text.chars().take(200).collect());
    };
    let fcm_code = answer.error.details.iter().find_map(|detail| {
        detail
            .get("errorCode")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    (
        fcm_code.unwrap_or(answer.error.status),
        answer.error.message,
    )
}

fn is_third_party(text: &str) -> bool {
    error_code(text).0 == "THIRD_PARTY_AUTH_ERROR"
}

/// What FCM's answer means (https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode).
fn classify(status: StatusCode, after: Option<std::time::Duration>, text: &str) -> Outcome {
    let (code, message) = error_code(text);
    match (status.as_u16(), code.as_str()) {
        (_, "UNREGISTERED") | (404, _) => Outcome::Unregistered,
        // The token belongs to another sender (project): it can never be ours.
        (_, "SENDER_ID_MISMATCH") => Outcome::Unregistered,
        (429, _) | (_, "QUOTA_EXCEEDED") => Outcome::Retry { after },
        (500..=599, _) | (_, "UNAVAILABLE") | (_, "INTERNAL") => Outcome::Retry { after },
        _ => Outcome::Rejected {
            reason: format!("fcm {status} {code}: {message}"),
        },
    }
}

/// The request body, `None` when even an empty alert is over the limit.
fn message(token: &str, notification: &Notification) -> Option<Vec<u8>> {
    match notification {
        Notification::Alert(alert) => fit(&alert.title, &alert.body, MAX_MESSAGE_BYTES, |t, b| {
            serde_json::to_vec(&alert_message(token, alert, t, b)).unwrap_or_default()
        }),
        Notification::Withdraw(withdraw) => {
            let body = serde_json::to_vec(&withdraw_message(token, withdraw)).ok()?;
            (body.len() <= MAX_MESSAGE_BYTES).then_some(body)
        }
    }
}

fn alert_message(token: &str, alert: &Alert, title: &str, body: &str) -> Value {
    let ttl = alert.ttl.as_secs();
    let high = alert.urgency == Urgency::High;
    let mut android_notification = json!({ "tag": alert.collapse_key });
    if alert.silent {
        android_notification["notification_priority"] = json!("PRIORITY_LOW");
        android_notification["default_sound"] = json!(false);
        android_notification["default_vibrate_timings"] = json!(false);
    }
    let mut aps = json!({ "thread-id": alert.conversation_id });
    if let Some(badge) = alert.badge {
        android_notification["notification_count"] = json!(badge);
        aps["badge"] = json!(badge);
    }
    json!({ "message": {
        "token": token,
        "notification": { "title": title, "body": body },
        "data": {
            "type": "message",
            "conversation_id": alert.conversation_id,
            "message_id": alert.message_id,
            "seq": alert.seq.to_string(),
        },
        "android": {
            "collapse_key": alert.collapse_key,
            "priority": if high { "HIGH" } else { "NORMAL" },
            "ttl": format!("{ttl}s"),
            "notification": android_notification,
        },
        "apns": {
            "headers": {
                "apns-push-type": "alert",
                "apns-priority": if high { "10" } else { "5" },
                "apns-expiration": apns_expiration(ttl),
                "apns-collapse-id": apns_collapse_id(&alert.collapse_key),
            },
            "payload": { "aps": aps },
        },
        "webpush": {
            "headers": {
                "TTL": ttl.to_string(),
                "Urgency": if high { "high" } else { "normal" },
                "Topic": web_push_topic(&alert.collapse_key),
            },
            "notification": { "tag": alert.collapse_key },
        },
    }})
}

fn withdraw_message(token: &str, withdraw: &Withdraw) -> Value {
    let ttl = withdraw.ttl.as_secs();
    let mut data = json!({
        "type": "withdraw",
        "conversation_id": withdraw.conversation_id,
        "read_seq": withdraw.read_seq.to_string(),
    });
    let mut aps = json!({ "content-available": 1 });
    if let Some(badge) = withdraw.badge {
        data["badge"] = json!(badge.to_string());
        aps["badge"] = json!(badge);
    }
    json!({ "message": {
        "token": token,
        "data": data,
        "android": {
            "collapse_key": withdraw.collapse_key,
            "priority": "NORMAL",
            "ttl": format!("{ttl}s"),
        },
        "apns": {
            "headers": {
                "apns-push-type": "background",
                "apns-priority": "5",
                "apns-expiration": apns_expiration(ttl),
                "apns-collapse-id": apns_collapse_id(&withdraw.collapse_key),
            },
            "payload": { "aps": aps },
        },
        "webpush": {
            "headers": {
                "TTL": ttl.to_string(),
                "Urgency": "normal",
                "Topic": web_push_topic(&withdraw.collapse_key),
            },
        },
    }})
}

/// `apns-expiration`: a Unix time, or 0 for "now or never".
pub(crate) fn apns_expiration(ttl_s: u64) -> String {
    if ttl_s == 0 {
        "0".into()
    } else {
        (unix_now() + ttl_s).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(code: u16, status: &str, fcm: Option<&str>) -> String {
        let details = fcm.map_or(json!([]), |code| {
            json!([{ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code }])
        });
        json!({ "error": { "code": code, "message": "m", "status": status, "details": details } })
            .to_string()
    }

    #[test]
    fn every_documented_error_is_classified() {
        let s = |code| StatusCode::from_u16(code).unwrap();
        let after = Some(std::time::Duration::from_secs(7));
        let cases = [
            (
                404,
                "NOT_FOUND",
                Some("UNREGISTERED"),
                Outcome::Unregistered,
            ),
            (
                403,
                "PERMISSION_DENIED",
                Some("SENDER_ID_MISMATCH"),
                Outcome::Unregistered,
            ),
            (
                429,
                "RESOURCE_EXHAUSTED",
                Some("QUOTA_EXCEEDED"),
                Outcome::Retry { after },
            ),
            (
                503,
                "UNAVAILABLE",
                Some("UNAVAILABLE"),
                Outcome::Retry { after },
            ),
            (500, "INTERNAL", Some("INTERNAL"), Outcome::Retry { after }),
            (502, "", None, Outcome::Retry { after }),
        ];
        for (code, status, fcm, expected) in cases {
            assert_eq!(
                classify(s(code), after, &error(code, status, fcm)),
                expected,
                "{code}"
            );
        }
        for (code, status, fcm) in [
            (400, "INVALID_ARGUMENT", Some("INVALID_ARGUMENT")),
            (400, "INVALID_ARGUMENT", None),
            (401, "UNAUTHENTICATED", Some("THIRD_PARTY_AUTH_ERROR")),
        ] {
            let outcome = classify(s(code), after, &error(code, status, fcm));
            assert!(
                matches!(outcome, Outcome::Rejected { .. }),
                "{code}: {outcome:?}"
            );
        }
        assert!(is_third_party(&error(
            401,
            "UNAUTHENTICATED",
            Some("THIRD_PARTY_AUTH_ERROR")
        )));
        assert!(!is_third_party(&error(401, "UNAUTHENTICATED", None)));
    }
}
