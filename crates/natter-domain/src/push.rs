//! Push notifications: the devices a user registered to be reached when not connected, and what
//! they want to be told. A device belongs to the session that registered it: once that session
//! is revoked (logout, revocation, a password change, refresh-token reuse), the device no longer
//! counts anywhere, without each of those paths having to know about devices.
//!
//! Addresses are validated here, once, so the senders (natter-push) can trust what they read
//! back: an FCM registration token, an APNs device token with the app's bundle id, or a Web Push
//! subscription (RFC 8030 endpoint over HTTPS, RFC 8291 keys).

use std::collections::HashSet;

use async_trait::async_trait;

use crate::error::DomainError;
pub use crate::ids::DeviceId;
use crate::ids::{ConversationId, SessionId, UserId};
use crate::ports::StoreResult;

/// Where a push goes, by provider.
#[derive(Clone, PartialEq, Eq)]
pub enum PushTarget {
    /// Firebase Cloud Messaging (Android, and browsers through FCM): a registration token.
    Fcm { token: String },
    /// Apple Push Notification service: a device token, the app's bundle id (`apns-topic`), and
    /// whether the token is from the sandbox (development builds) or production.
    Apns {
        token: String,
        topic: String,
        sandbox: bool,
    },
    /// Standard Web Push (RFC 8030): the subscription's endpoint and its RFC 8291 keys,
    /// base64url without padding as browsers give them.
    WebPush {
        endpoint: String,
        p256dh: String,
        auth: String,
    },
}

/// Tokens and subscription keys address one person's phone: logs show them shortened.
impl std::fmt::Debug for PushTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn short(value: &str) -> String {
            let head: String = value.chars().take(12).collect();
            if head.len() < value.len() {
                format!("{head}…")
            } else {
                head
            }
        }
        match self {
            Self::Fcm { token } => write!(f, "Fcm({})", short(token)),
            Self::Apns {
                token,
                topic,
                sandbox,
            } => write!(f, "Apns({}, {topic}, sandbox: {sandbox})", short(token)),
            Self::WebPush { endpoint, .. } => write!(f, "WebPush({})", short(endpoint)),
        }
    }
}

/// The providers, as stored and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PushKind {
    Fcm,
    Apns,
    WebPush,
}

impl PushKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fcm => "fcm",
            Self::Apns => "apns",
            Self::WebPush => "web_push",
        }
    }

    pub fn parse(kind: &str) -> Option<Self> {
        match kind {
            "fcm" => Some(Self::Fcm),
            "apns" => Some(Self::Apns),
            "web_push" => Some(Self::WebPush),
            _ => None,
        }
    }
}

/// Longest FCM token accepted (they are ~160-200 characters today; FCM documents no maximum).
pub const FCM_TOKEN_MAX: usize = 4096;
/// Longest Web Push endpoint accepted.
pub const ENDPOINT_MAX: usize = 2048;
/// Longest bundle id (`apns-topic`), with room for the `.voip`-style suffixes.
pub const APNS_TOPIC_MAX: usize = 255;

fn base64url_len(value: &str) -> Option<usize> {
    // Browsers give no padding; some libraries add it.
    let value = value.trim_end_matches('=');
    let valid = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    // Padding-free base64url: 4 characters per 3 bytes, a remainder of 1 is impossible.
    (valid && value.len() % 4 != 1).then_some(value.len() * 3 / 4)
}

impl PushTarget {
    pub fn kind(&self) -> PushKind {
        match self {
            Self::Fcm { .. } => PushKind::Fcm,
            Self::Apns { .. } => PushKind::Apns,
            Self::WebPush { .. } => PushKind::WebPush,
        }
    }

    /// What identifies the device at its provider: the token, or the endpoint. One address is
    /// one device: registering it again (another login on the same phone) moves it.
    pub fn address(&self) -> &str {
        match self {
            Self::Fcm { token } | Self::Apns { token, .. } => token,
            Self::WebPush { endpoint, .. } => endpoint,
        }
    }

    /// What stores keep beside the kind and the address: the APNs topic and sandbox flag, the
    /// Web Push keys (`None` where the provider has none).
    pub fn columns(&self) -> (Option<&str>, Option<bool>, Option<&str>, Option<&str>) {
        match self {
            Self::Fcm { .. } => (None, None, None, None),
            Self::Apns { topic, sandbox, .. } => (Some(topic), Some(*sandbox), None, None),
            Self::WebPush { p256dh, auth, .. } => (None, None, Some(p256dh), Some(auth)),
        }
    }

    /// Back from what a store kept ([`Self::kind`] as a string, [`Self::address`],
    /// [`Self::columns`]); `None` when they do not make a target (a corrupt row).
    pub fn from_columns(
        kind: &str,
        address: String,
        topic: Option<String>,
        sandbox: Option<bool>,
        p256dh: Option<String>,
        auth: Option<String>,
    ) -> Option<Self> {
        match (PushKind::parse(kind)?, topic, sandbox, p256dh, auth) {
            (PushKind::Fcm, None, None, None, None) => Some(Self::Fcm { token: address }),
            (PushKind::Apns, Some(topic), Some(sandbox), None, None) => Some(Self::Apns {
                token: address,
                topic,
                sandbox,
            }),
            (PushKind::WebPush, None, None, Some(p256dh), Some(auth)) => Some(Self::WebPush {
                endpoint: address,
                p256dh,
                auth,
            }),
            _ => None,
        }
    }

    /// Checks what a client sent; `field` names the offending part.
    pub fn validate(self) -> Result<Self, DomainError> {
        match &self {
            Self::Fcm { token } => {
                let printable = token.bytes().all(|b| b.is_ascii_graphic());
                if token.is_empty() || token.len() > FCM_TOKEN_MAX || !printable {
                    return Err(DomainError::invalid(
                        "token",
                        format!(
                            "an FCM registration token: 1-{FCM_TOKEN_MAX} printable ASCII characters"
                        ),
                    ));
                }
            }
            Self::Apns { token, topic, .. } => {
                // 32 bytes today, as hex; Apple says tokens may grow, so up to 100 bytes.
                let hex = token.bytes().all(|b| b.is_ascii_hexdigit());
                if !hex || token.len() < 64 || token.len() > 200 || token.len() % 2 != 0 {
                    return Err(DomainError::invalid(
                        "token",
                        "an APNs device token: 64-200 hexadecimal digits",
                    ));
                }
                let bundle = topic
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'));
                if topic.is_empty() || topic.len() > APNS_TOPIC_MAX || !bundle {
                    return Err(DomainError::invalid(
                        "topic",
                        "the app's bundle id: letters, digits, '.' and '-'",
                    ));
                }
            }
            Self::WebPush {
                endpoint,
                p256dh,
                auth,
            } => {
                let https = endpoint
                    .strip_prefix("https://")
                    .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'));
                let clean = endpoint.bytes().all(|b| b.is_ascii_graphic());
                if !https || !clean || endpoint.len() > ENDPOINT_MAX {
                    return Err(DomainError::invalid(
                        "endpoint",
                        format!("an https:// URL of at most {ENDPOINT_MAX} characters"),
                    ));
                }
                // An uncompressed P-256 point (65 bytes, 0x04 first) and a 16-byte secret.
                if base64url_len(p256dh) != Some(65) || !p256dh.starts_with('B') {
                    return Err(DomainError::invalid(
                        "keys.p256dh",
                        "the subscription's P-256 public key: 65 bytes, base64url",
                    ));
                }
                if base64url_len(auth) != Some(16) {
                    return Err(DomainError::invalid(
                        "keys.auth",
                        "the subscription's auth secret: 16 bytes, base64url",
                    ));
                }
            }
        }
        Ok(self)
    }
}

/// A device as registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushDevice {
    pub id: DeviceId,
    pub user: UserId,
    pub session: SessionId,
    pub target: PushTarget,
    pub created_at_ms: i64,
}

/// Which messages notify a user at all (a muted conversation notifies only mentions whatever
/// this says).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NotifyLevel {
    #[default]
    All,
    /// Messages that mention the user, and every message of a direct conversation.
    MentionsAndDirect,
    Nothing,
}

impl NotifyLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::MentionsAndDirect => "mentions_and_direct",
            Self::Nothing => "nothing",
        }
    }

    pub fn parse(level: &str) -> Option<Self> {
        [Self::All, Self::MentionsAndDirect, Self::Nothing]
            .into_iter()
            .find(|l| l.as_str() == level)
    }
}

/// How much of a message a notification shows on a lock screen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PreviewLevel {
    /// Sender, conversation and text.
    #[default]
    Full,
    /// Sender and conversation, no text.
    SenderOnly,
    /// "New message" only.
    Hidden,
}

impl PreviewLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::SenderOnly => "sender_only",
            Self::Hidden => "hidden",
        }
    }

    pub fn parse(preview: &str) -> Option<Self> {
        [Self::Full, Self::SenderOnly, Self::Hidden]
            .into_iter()
            .find(|p| p.as_str() == preview)
    }
}

/// Do not disturb: a daily window, in the user's time zone, during which notifications arrive
/// silently (no sound, no alert: the badge still counts). `start == end` means all day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuietHours {
    /// Minutes after local midnight, 0-1439.
    pub start_min: u16,
    pub end_min: u16,
    /// An IANA time zone name (`Europe/Paris`), so the window follows daylight saving time.
    pub time_zone: String,
}

const MINUTES_PER_DAY: u16 = 24 * 60;

impl QuietHours {
    pub fn validate(self) -> Result<Self, DomainError> {
        if self.start_min >= MINUTES_PER_DAY || self.end_min >= MINUTES_PER_DAY {
            return Err(DomainError::invalid(
                "quiet_hours",
                "start and end are times of day, 00:00-23:59",
            ));
        }
        if jiff::tz::TimeZone::get(&self.time_zone).is_err() {
            return Err(DomainError::invalid(
                "quiet_hours.time_zone",
                format!("{:?} is not an IANA time zone name", self.time_zone),
            ));
        }
        Ok(self)
    }

    /// Whether `at_ms` (Unix milliseconds) falls in the window. A zone that no longer exists
    /// (the time zone database changed) counts as UTC.
    pub fn contains(&self, at_ms: i64) -> bool {
        let zone = jiff::tz::TimeZone::get(&self.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
        let Ok(instant) = jiff::Timestamp::from_millisecond(at_ms) else {
            return false;
        };
        let local = zone.to_datetime(instant);
        let minute =
            u16::try_from(i32::from(local.hour()) * 60 + i32::from(local.minute())).unwrap_or(0);
        let (start, end) = (self.start_min, self.end_min);
        match start.cmp(&end) {
            std::cmp::Ordering::Equal => true,
            std::cmp::Ordering::Less => (start..end).contains(&minute),
            // Over midnight: 22:00-07:00.
            std::cmp::Ordering::Greater => minute >= start || minute < end,
        }
    }
}

/// What a user wants to be told, and how.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotificationSettings {
    pub level: NotifyLevel,
    pub preview: PreviewLevel,
    pub quiet_hours: Option<QuietHours>,
}

impl NotificationSettings {
    /// Back from what a store kept: the level and preview as [`NotifyLevel::as_str`] and
    /// [`PreviewLevel::as_str`] give them, quiet hours as start and end minutes and a zone (all
    /// three or none). `None` when they do not make settings (a corrupt row).
    pub fn from_columns(
        level: &str,
        preview: &str,
        quiet: (Option<i64>, Option<i64>, Option<String>),
    ) -> Option<Self> {
        let quiet_hours = match quiet {
            (Some(start), Some(end), Some(time_zone)) => Some(QuietHours {
                start_min: u16::try_from(start).ok()?,
                end_min: u16::try_from(end).ok()?,
                time_zone,
            }),
            (None, None, None) => None,
            _ => return None,
        };
        Some(Self {
            level: NotifyLevel::parse(level)?,
            preview: PreviewLevel::parse(preview)?,
            quiet_hours,
        })
    }
}

/// Registered devices and notification settings.
#[async_trait]
pub trait PushDevices: Send + Sync + 'static {
    /// Register `device` (its id and time are the caller's). An address already registered (by
    /// anyone) is moved to this user and session, keeping its id; the answer is the device as
    /// stored. A user with `max_per_user` devices of live sessions loses the oldest.
    async fn register_device(
        &self,
        device: PushDevice,
        max_per_user: u32,
    ) -> StoreResult<PushDevice>;
    /// The devices of `user` whose session is live, oldest first.
    async fn devices(&self, user: UserId) -> StoreResult<Vec<PushDevice>>;
    /// The devices of any of `users` whose session is live.
    async fn devices_of(&self, users: &[UserId]) -> StoreResult<Vec<PushDevice>>;
    /// The devices of the current members of `conversation` whose session is live: what a
    /// message there can be pushed to. One join from the members to their devices, so that a
    /// conversation where nobody has one costs the notifier an index probe per member and
    /// nothing else (not the members read, then their ids sent back for their devices).
    async fn member_devices(&self, conversation: ConversationId) -> StoreResult<Vec<PushDevice>>;
    /// Which of `conversations` have a device [`member_devices`](Self::member_devices) would
    /// find, in one read: the notifier asks once per look at its queue, so that a message where
    /// nobody can be pushed to costs it no read of its own.
    async fn with_member_devices(
        &self,
        conversations: &[ConversationId],
    ) -> StoreResult<HashSet<ConversationId>>;
    /// Remove a device of `user`; `NotFound` if `user` has no such device.
    async fn remove_device(&self, user: UserId, id: DeviceId) -> StoreResult<()>;
    /// The provider said this address is gone (uninstalled app, expired subscription).
    async fn forget_address(&self, kind: PushKind, address: &str) -> StoreResult<()>;
    /// Settings of each of `users`, the defaults for those who never set any.
    async fn notification_settings(
        &self,
        users: &[UserId],
    ) -> StoreResult<Vec<(UserId, NotificationSettings)>>;
    async fn set_notification_settings(
        &self,
        user: UserId,
        settings: &NotificationSettings,
    ) -> StoreResult<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paris(start_min: u16, end_min: u16) -> QuietHours {
        QuietHours {
            start_min,
            end_min,
            time_zone: "Europe/Paris".into(),
        }
    }

    /// 2026-01-15 (winter, UTC+1) and 2026-07-15 (summer, UTC+2), at `hour:00` UTC.
    fn winter(hour: i64) -> i64 {
        1_768_435_200_000 + hour * 3_600_000
    }
    fn summer(hour: i64) -> i64 {
        1_784_073_600_000 + hour * 3_600_000
    }

    #[test]
    fn quiet_hours_follow_the_users_zone_and_daylight_saving() {
        let night = paris(22 * 60, 7 * 60).validate().unwrap();
        // 21:30 UTC is 22:30 in Paris in winter (quiet), 23:30 in summer (quiet).
        assert!(night.contains(winter(21) + 1_800_000));
        assert!(night.contains(summer(21) + 1_800_000));
        // 05:30 UTC: 06:30 in winter (quiet), 07:30 in summer (not).
        assert!(night.contains(winter(5) + 1_800_000));
        assert!(!night.contains(summer(5) + 1_800_000));
        // Noon is never quiet; a window within a day; an all-day window.
        assert!(!night.contains(winter(12)));
        let lunch = paris(12 * 60, 14 * 60);
        assert!(lunch.contains(winter(12)) && !lunch.contains(winter(10)));
        assert!(paris(0, 0).contains(winter(3)));
    }

    #[test]
    fn bad_quiet_hours_are_refused() {
        assert!(paris(24 * 60, 0).validate().is_err());
        let mars = QuietHours {
            time_zone: "Mars/Olympus_Mons".into(),
            ..paris(0, 60)
        };
        assert!(mars.validate().is_err());
    }

    const P256DH: &str =
        "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";

    fn web(endpoint: &str, p256dh: &str, auth: &str) -> PushTarget {
        PushTarget::WebPush {
            endpoint: endpoint.into(),
            p256dh: p256dh.into(),
            auth: auth.into(),
        }
    }

    #[test]
    fn debug_shows_addresses_shortened() {
        let device = PushTarget::Fcm {
            token: "0123456789abcdefSECRET".into(),
        };
        assert_eq!(format!("{device:?}"), "Fcm(0123456789ab…)");
    }

    #[test]
    fn addresses_are_checked() {
        let good = [
            PushTarget::Fcm {
                token: "dXNlci10b2tlbg:APA91bH-x_y".into(),
            },
            PushTarget::Apns {
                token: "a".repeat(64),
                topic: "chat.natter.ios".into(),
                sandbox: true,
            },
            web("https://push.example.net/wpush/v2/abc", P256DH, AUTH),
            web(
                "https://push.example.net/x",
                P256DH,
                "BTBZMqHH6r4Tts7J_aSIgg==",
            ),
        ];
        for target in good {
            assert!(target.clone().validate().is_ok(), "{target:?}");
        }
        let bad = [
            (
                PushTarget::Fcm {
                    token: String::new(),
                },
                "token",
            ),
            (
                PushTarget::Fcm {
                    token: "has space".into(),
                },
                "token",
            ),
            (
                PushTarget::Apns {
                    token: "zz".repeat(32),
                    topic: "chat.natter".into(),
                    sandbox: false,
                },
                "token",
            ),
            (
                PushTarget::Apns {
                    token: "a".repeat(64),
                    topic: "chat/natter".into(),
                    sandbox: false,
                },
                "topic",
            ),
            (web("http://push.example.net/x", P256DH, AUTH), "endpoint"),
            (web("https:///x", P256DH, AUTH), "endpoint"),
            (
                web("https://push.example.net/x", &P256DH[1..], AUTH),
                "keys.p256dh",
            ),
            (
                web("https://push.example.net/x", P256DH, "c2hvcnQ"),
                "keys.auth",
            ),
        ];
        for (target, field) in bad {
            match target.clone().validate() {
                Err(DomainError::Invalid { field: got, .. }) => assert_eq!(got, field),
                other => panic!("{target:?}: {other:?}"),
            }
        }
    }
}
