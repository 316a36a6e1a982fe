//! What natter pushes and where: a [`Device`] (one provider's address of one app install), a
//! [`Notification`] (an alert, or a silent withdraw), and the [`Outcome`] every provider answer
//! is classified into. The caller (the notifier) owns retries and device pruning; this crate only
//! says which one each answer calls for.

use std::time::Duration;

/// One app install's push address, as the device registered it.
#[derive(Clone, PartialEq, Eq)]
pub enum Device {
    /// Android or a web app through Firebase: the FCM registration token.
    Fcm { token: String },
    /// iOS or macOS: the device token (hex), the app's bundle id (`apns-topic`), and whether the
    /// token comes from the sandbox (development builds) or the production environment.
    Apns {
        token: String,
        topic: String,
        sandbox: bool,
    },
    /// A browser's `PushSubscription`: the push service URL, the user agent's P-256 public key
    /// (`p256dh`, base64url, 65 bytes uncompressed) and its 16-byte auth secret (base64url).
    WebPush {
        endpoint: String,
        p256dh: String,
        auth: String,
    },
}

impl Device {
    /// The provider this device is reached through.
    pub fn provider(&self) -> Provider {
        match self {
            Device::Fcm { .. } => Provider::Fcm,
            Device::Apns { .. } => Provider::Apns,
            Device::WebPush { .. } => Provider::WebPush,
        }
    }
}

/// The longest FCM registration or APNs device token natter stores (today's are 64 to ~200
/// characters).
const MAX_TOKEN: usize = 4096;

impl Device {
    /// Whether this device can be pushed to at all: what device registration checks before
    /// storing one. A device that fails it is `Unregistered` at send time.
    pub fn validate(&self) -> Result<(), DeviceError> {
        match self {
            Device::Fcm { token } => {
                if token.is_empty()
                    || token.len() > MAX_TOKEN
                    || token.chars().any(char::is_whitespace)
                {
                    return Err(DeviceError::Token);
                }
            }
            Device::Apns { token, topic, .. } => {
                if !valid_apns_token(token) {
                    return Err(DeviceError::Token);
                }
                if topic.len() > 255 || topic.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(DeviceError::Topic);
                }
            }
            Device::WebPush {
                endpoint,
                p256dh,
                auth,
            } => {
                crate::web_push::subscription(endpoint, p256dh, auth)?;
            }
        }
        Ok(())
    }
}

pub(crate) fn valid_apns_token(token: &str) -> bool {
    !token.is_empty() && token.len() <= MAX_TOKEN && token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Why a device cannot be pushed to.
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

/// Tokens and subscription keys address one person's phone: shown shortened only.
impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Device::Fcm { token } => write!(f, "Fcm({})", short(token)),
            Device::Apns {
                token,
                topic,
                sandbox,
            } => {
                write!(f, "Apns({}, {topic}, sandbox: {sandbox})", short(token))
            }
            Device::WebPush { endpoint, .. } => write!(f, "WebPush({})", short(endpoint)),
        }
    }
}

fn short(value: &str) -> String {
    let head: String = value.chars().take(12).collect();
    if head.len() < value.len() {
        format!("{head}…")
    } else {
        head
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    Fcm,
    Apns,
    WebPush,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Fcm => "fcm",
            Provider::Apns => "apns",
            Provider::WebPush => "webpush",
        }
    }
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
    use super::*;

    #[test]
    fn devices_are_validated_before_they_are_stored() {
        let fcm = |token: &str| Device::Fcm {
            token: token.into(),
        };
        assert_eq!(fcm("dGVzdA:APA91b").validate(), Ok(()));
        assert_eq!(fcm("").validate(), Err(DeviceError::Token));
        assert_eq!(fcm("a b").validate(), Err(DeviceError::Token));
        assert_eq!(
            fcm(&"a".repeat(MAX_TOKEN + 1)).validate(),
            Err(DeviceError::Token)
        );
        let apns = |token: &str, topic: &str| Device::Apns {
            token: token.into(),
            topic: topic.into(),
            sandbox: false,
        };
        assert_eq!(apns("ab12", "org.natter.app").validate(), Ok(()));
        assert_eq!(
            apns("xyz", "org.natter.app").validate(),
            Err(DeviceError::Token)
        );
        assert_eq!(
            apns("ab12", "org natter").validate(),
            Err(DeviceError::Topic)
        );
        let p256dh = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
        let web = |endpoint: &str, p256dh: &str, auth: &str| Device::WebPush {
            endpoint: endpoint.into(),
            p256dh: p256dh.into(),
            auth: auth.into(),
        };
        let endpoint = "https://fcm.googleapis.com/fcm/send/abc";
        assert_eq!(
            web(endpoint, p256dh, "BTBZMqHH6r4Tts7J_aSIgg").validate(),
            Ok(())
        );
        assert_eq!(
            web(endpoint, p256dh, "BTBZMqHH6r4Tts7J_aSIgg==").validate(),
            Ok(())
        );
        assert_eq!(
            web("http://push.example/x", p256dh, "BTBZMqHH6r4Tts7J_aSIgg").validate(),
            Err(DeviceError::Endpoint)
        );
        assert_eq!(
            web("not a url", p256dh, "BTBZMqHH6r4Tts7J_aSIgg").validate(),
            Err(DeviceError::Endpoint)
        );
        let off_curve = format!("{}A", &p256dh[..p256dh.len() - 1]);
        assert_eq!(
            web(endpoint, &off_curve, "BTBZMqHH6r4Tts7J_aSIgg").validate(),
            Err(DeviceError::P256dh)
        );
        assert_eq!(
            web(endpoint, "AAAA", "BTBZMqHH6r4Tts7J_aSIgg").validate(),
            Err(DeviceError::P256dh)
        );
        assert_eq!(
            web(endpoint, p256dh, "AAAA").validate(),
            Err(DeviceError::Auth)
        );
    }

    #[test]
    fn debug_shows_devices_shortened() {
        let device = Device::Fcm {
            token: "0123456789abcdefSECRET".into(),
        };
        assert_eq!(format!("{device:?}"), "Fcm(0123456789ab…)");
    }
}
