//! The push configuration natter-server embeds (`[push]`): where each provider is and which key
//! files prove who we are. Only paths and names live here, never key material, so the structs can
//! be printed; the loaded keys redact themselves. Every endpoint can be pointed elsewhere (a
//! proxy, or natter-push-lab in tests and the bench) together with an extra root CA to trust:
//! certificate verification is never turned off.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushConfig {
    /// A PEM file of root certificates trusted in addition to the system's (empty: none).
    pub extra_root_ca_file: String,
    /// One request to a provider (connect, send, answer) takes at most this long; after that the
    /// push is retried later.
    pub request_timeout_s: u64,
    pub fcm: FcmConfig,
    pub apns: ApnsConfig,
    pub web_push: WebPushConfig,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            extra_root_ca_file: String::new(),
            request_timeout_s: 10,
            fcm: FcmConfig::default(),
            apns: ApnsConfig::default(),
            web_push: WebPushConfig::default(),
        }
    }
}

/// Firebase Cloud Messaging (HTTP v1 API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FcmConfig {
    /// The Google service account JSON key (`client_email`, `private_key`, `token_uri`,
    /// `project_id`). Empty: FCM is off.
    pub service_account_file: String,
    /// The Firebase project; empty: the key's `project_id`.
    pub project_id: String,
    /// The FCM API (the OAuth token endpoint is the key's `token_uri`).
    pub endpoint: String,
}

impl Default for FcmConfig {
    fn default() -> Self {
        Self {
            service_account_file: String::new(),
            project_id: String::new(),
            endpoint: "https://fcm.googleapis.com".into(),
        }
    }
}

/// Apple Push Notification service, token-based authentication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApnsConfig {
    /// The `.p8` signing key (PKCS#8 PEM) from the Apple developer account. Empty: APNs is off.
    pub key_file: String,
    /// The key's 10-character id (`kid` of the provider token).
    pub key_id: String,
    /// The developer team id (`iss` of the provider token).
    pub team_id: String,
    /// `apns-topic` (the app's bundle id) for devices registered without one.
    pub topic: String,
    pub production_endpoint: String,
    pub sandbox_endpoint: String,
    /// A provider token is reused this long, then replaced. APNs refuses tokens older than an
    /// hour and new ones more often than every 20 minutes.
    pub token_refresh_s: u64,
}

impl Default for ApnsConfig {
    fn default() -> Self {
        Self {
            key_file: String::new(),
            key_id: String::new(),
            team_id: String::new(),
            topic: String::new(),
            production_endpoint: "https://api.push.apple.com".into(),
            sandbox_endpoint: "https://api.sandbox.push.apple.com".into(),
            token_refresh_s: 40 * 60,
        }
    }
}

/// Standard Web Push (RFC 8030) with VAPID (RFC 8292).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebPushConfig {
    /// The application server's P-256 key (PKCS#8 PEM); its public half is what browsers
    /// subscribe with (`applicationServerKey`). Empty: Web Push is off.
    pub vapid_key_file: String,
    /// Who push services contact about our traffic: `mailto:` or `https:` (the VAPID `sub`).
    pub subject: String,
    /// The push services subscriptions may point at: hosts, each also admitting its subdomains
    /// (`endpoints.rs`). Registering another endpoint is refused.
    pub allowed_hosts: Vec<String>,
}

impl Default for WebPushConfig {
    fn default() -> Self {
        Self {
            vapid_key_file: String::new(),
            subject: String::new(),
            allowed_hosts: crate::endpoints::KNOWN_PUSH_SERVICES
                .iter()
                .map(|host| host.to_string())
                .collect(),
        }
    }
}

/// A configuration that cannot work: natter refuses to start with it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

pub(crate) fn read_file(path: &str) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|err| ConfigError::File {
        path: path.to_owned(),
        message: err.to_string(),
    })
}

pub(crate) fn file_error(path: &str, message: impl std::fmt::Display) -> ConfigError {
    ConfigError::File {
        path: path.to_owned(),
        message: message.to_string(),
    }
}
