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
