//! What natter pushes and where: a [`PushTarget`] (one provider's address of one app install, the
//! domain's type, validated when registered), a
//! [`Notification`] (an alert, or a silent withdraw), and the [`Outcome`] every provider answer
//! is classified into. The caller (the notifier) owns retries and device pruning; this crate only
//! says which one each answer calls for.

use std::time::Duration;

pub use natter_domain::push::{PushKind, PushTarget};

/// Why a Web Push subscription cannot be pushed to (checked again at send time: a key that is
/// not a point on P-256 passes the shape check of registration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    #[error("the push token is empty, too long or malformed")]
    Token,
    #[error("the APNs topic (bundle id) is malformed")]
    Topic,
    #[error("the Web Push endpoint is not an https URL (of at most 2048 characters)")]
    Endpoint,
    #[error("p256dh is not a base64url uncompressed P-256 public key")]
    P256dh,
    #[error("auth is not a base64url 16-byte secret")]
    Auth,
}

/// What to push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// Shown to the user: a new message (or the new text of an edited one, with the same
    /// collapse key so it replaces what is shown).
    Alert(Alert),
    /// Silent (background / data-only): "conversation X is read up to seq N", so the app removes
    /// what it still shows of that conversation (and updates the badge).
    Withdraw(Withdraw),
}

impl Notification {
    pub fn collapse_key(&self) -> &str {
        match self {
            Notification::Alert(alert) => &alert.collapse_key,
            Notification::Withdraw(withdraw) => &withdraw.collapse_key,
        }
    }

    pub fn ttl(&self) -> Duration {
        match self {
            Notification::Alert(alert) => alert.ttl,
            Notification::Withdraw(withdraw) => withdraw.ttl,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub title: String,
    /// Cut to fit the provider's payload limit (never the JSON around it).
    pub body: String,
    pub conversation_id: String,
    pub message_id: String,
    pub seq: i64,
    /// The user's total unread count; `None` leaves the badge as it is.
    pub badge: Option<u32>,
    /// Notifications with the same key replace each other (one per conversation).
    pub collapse_key: String,
    /// How long the provider keeps it for an offline device; zero: now or never.
    pub ttl: Duration,
    pub urgency: Urgency,
    /// Do not disturb: shown without sound (APNs: no `sound`; FCM: Android
    /// `PRIORITY_LOW` and no default sound; Web Push: `"silent": true` for the service
    /// worker's `showNotification`). Pair it with `Urgency::Normal`.
    pub silent: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Withdraw {
    pub conversation_id: String,
    /// Everything up to and including this seq has been read.
    pub read_seq: i64,
    pub badge: Option<u32>,
    pub collapse_key: String,
    pub ttl: Duration,
}

/// How urgently the provider should wake the device (APNs priority 10/5, FCM HIGH/NORMAL, Web
/// Push `Urgency`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    High,
    Normal,
}

/// What one provider answer means to natter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The provider took it; it delivers (or drops on TTL) from here.
    Accepted,
    /// Temporary (throttled, provider unavailable, network, timeout): try again, not before
    /// `after` when the provider said (`Retry-After`).
    Retry { after: Option<Duration> },
    /// The device is gone (app uninstalled, token expired or not ours): delete it, never retry.
    Unregistered,
    /// Permanent for this notification (bad request, too large, our credentials refused): do
    /// not retry it; the reason is for the logs.
    Rejected { reason: String },
}

#[cfg(test)]
mod tests {
    use super::DeviceError;
    use crate::web_push::subscription;

    /// What registration's shape check lets through and only a send can tell: a key that is
    /// not a point on P-256.
    #[test]
    fn subscriptions_are_checked_before_sending() {
        let p256dh = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
        let auth = "BTBZMqHH6r4Tts7J_aSIgg";
        let endpoint = "https://fcm.googleapis.com/fcm/send/abc";
        let check = |endpoint: &str, p256dh: &str, auth: &str| {
            subscription(endpoint, p256dh, auth).map(|_| ())
        };
        assert_eq!(check(endpoint, p256dh, auth), Ok(()));
        assert_eq!(check(endpoint, p256dh, "BTBZMqHH6r4Tts7J_aSIgg=="), Ok(()));
        assert_eq!(
            check("http://push.example/x", p256dh, auth),
            Err(DeviceError::Endpoint)
        );
        assert_eq!(check("not a url", p256dh, auth), Err(DeviceError::Endpoint));
        let off_curve = format!("{}A", &p256dh[..p256dh.len() - 1]);
        assert_eq!(check(endpoint, &off_curve, auth), Err(DeviceError::P256dh));
        assert_eq!(check(endpoint, "AAAA", auth), Err(DeviceError::P256dh));
        assert_eq!(check(endpoint, p256dh, "AAAA"), Err(DeviceError::Auth));
    }
}
