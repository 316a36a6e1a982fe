//! Push devices and notification settings over REST (`/push/devices`,
//! `/users/me/notifications`).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// A device to register for push notifications, by provider. It belongs to the session that
/// registers it: logging out or revoking that session unregisters it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RegisterDeviceRequest {
    /// Firebase Cloud Messaging (Android; browsers through FCM).
    Fcm {
        /// The FCM registration token (printable ASCII).
        #[cfg_attr(
            feature = "openapi",
            schema(min_length = 1, max_length = 4096, pattern = "^[!-~]+$")
        )]
        token: String,
    },
    /// Apple Push Notification service (iOS, macOS).
    Apns {
        /// The device token, in hexadecimal.
        #[cfg_attr(
            feature = "openapi",
            schema(
                min_length = 64,
                max_length = 200,
                pattern = "^([0-9a-fA-F]{2}){32,100}$"
            )
        )]
        token: String,
        /// The app's bundle id (`apns-topic`).
        #[cfg_attr(
            feature = "openapi",
            schema(min_length = 1, max_length = 255, pattern = "^[A-Za-z0-9.-]+$")
        )]
        topic: String,
        environment: ApnsEnvironment,
    },
    /// Standard Web Push (RFC 8030), as the browser's `PushSubscription.toJSON()` gives it.
    WebPush { subscription: WebPushSubscription },
}

/// Which APNs servers the token belongs to: development builds get sandbox tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ApnsEnvironment {
    Sandbox,
    Production,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WebPushSubscription {
    /// The push service's URL for this subscription (https).
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 9,
            max_length = 2048,
            pattern = "^https://[!-.0-~][!-~]*$"
        )
    )]
    pub endpoint: String,
    /// What browsers send (`null` or a time in milliseconds); accepted and not used: an expired
    /// subscription is dropped when its push service answers 404 or 410.
    #[serde(default, rename = "expirationTime")]
    pub expiration_time: Option<f64>,
    pub keys: WebPushKeys,
}

/// RFC 8291 keys, base64url as browsers give them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WebPushKeys {
    /// The subscription's P-256 public key (65 bytes, uncompressed: 0x04 first, so `B` in
    /// base64url).
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 87, max_length = 88, pattern = "^B[A-Za-z0-9_-]{86}=?$")
    )]
    pub p256dh: String,
    /// The 16-byte authentication secret.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 22, max_length = 24, pattern = "^[A-Za-z0-9_-]{22}(==)?$")
    )]
    pub auth: String,
}

// The values of `DeviceView::kind`, stated in the OpenAPI document (the field stays a string).
/// Which push service a device is reached through: the `kind` it was registered with.
#[cfg(feature = "openapi")]
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum DeviceKind {
    Fcm,
    Apns,
    WebPush,
}

/// A registered device, as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DeviceView {
    pub id: Uuid,
    /// `fcm`, `apns` or `web_push`.
    #[cfg_attr(feature = "openapi", schema(value_type = DeviceKind))]
    pub kind: String,
    /// The session that registered it.
    pub session_id: Uuid,
    /// True when that session is the one making the request.
    pub current: bool,
    /// Enough to tell devices apart, never the whole address: the last 8 characters of a token,
    /// or the push service's host for Web Push.
    pub hint: String,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DeviceList {
    /// Oldest first.
    pub devices: Vec<DeviceView>,
}

/// The server's VAPID public key: the web app subscribes with it
/// (`pushManager.subscribe({applicationServerKey})`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct VapidPublicKey {
    /// The uncompressed P-256 public key, base64url without padding.
    pub public_key: String,
}

/// What a user wants to be notified of. The body of `PUT /users/me/notifications` too (every
/// field required).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NotificationSettingsBody {
    /// `all` messages; `mentions_and_direct`: messages that mention me and those of direct
    /// conversations; `nothing`. A muted conversation notifies only mentions either way.
    pub level: NotifyLevelView,
    /// What a notification shows: `full` (sender and text), `sender_only`, `hidden` ("New
    /// message").
    pub preview: PreviewView,
    /// Do not disturb: notifications arrive silently in this daily window; `null` for none.
    /// Never left out: a `PUT` without it is refused (400 `invalid`), not read as `null`.
    #[serde(deserialize_with = "Option::deserialize")]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub quiet_hours: Option<QuietHoursView>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum NotifyLevelView {
    All,
    MentionsAndDirect,
    Nothing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PreviewView {
    Full,
    SenderOnly,
    Hidden,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct QuietHoursView {
    /// Local time of day, `HH:MM` (24 h).
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$", example = "22:00")
    )]
    pub start: String,
    /// Local time of day, `HH:MM`; before `start` means the next morning. Equal to `start`:
    /// all day.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$", example = "07:00")
    )]
    pub end: String,
    /// IANA time zone name, so the window follows daylight saving time.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 64, example = "Europe/Paris")
    )]
    pub time_zone: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_hours_may_be_null_but_not_missing() {
        let null: NotificationSettingsBody =
            serde_json::from_str(r#"{"level":"all","preview":"full","quiet_hours":null}"#)
                .expect("null quiet hours");
        assert_eq!(null.quiet_hours, None);
        let set: NotificationSettingsBody = serde_json::from_str(
            r#"{"level":"all","preview":"full","quiet_hours":{"start":"22:00","end":"07:00","time_zone":"Europe/Paris"}}"#,
        )
        .expect("quiet hours");
        assert_eq!(set.quiet_hours.map(|q| q.start), Some("22:00".into()));
        let missing =
            serde_json::from_str::<NotificationSettingsBody>(r#"{"level":"all","preview":"full"}"#)
                .expect_err("missing quiet hours");
        assert!(
            missing.to_string().contains("missing field `quiet_hours`"),
            "{missing}"
        );
    }
}
