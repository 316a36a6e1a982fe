//! natter's push senders: one [`Pusher`] that sends a [`Notification`] to a [`PushTarget`] through
//! FCM (HTTP v1), APNs (HTTP/2, token auth) or Web Push (RFC 8030 + 8291 + 8292), and says what
//! the provider's answer means as an [`Outcome`]. Retrying, backing off and pruning devices are
//! the caller's (the notifier's outbox drain); this crate classifies every documented answer so
//! it can. Providers are configured by [`PushConfig`] (key files and endpoints, never key
//! material); a provider without keys is off and its devices are refused with `Rejected`.
//!
//! The wire of each provider as natter uses it: docs/push.md.

mod apns;
mod collapse;
mod config;
pub mod ece;
mod endpoints;
mod fcm;
mod fcm_auth;
mod fit;
mod http;
mod jwt;
mod model;
mod web_push;

use async_trait::async_trait;

pub use apns::ApnsSender;
pub use config::{ApnsConfig, ConfigError, FcmConfig, PushConfig, WebPushConfig};
pub use endpoints::{AllowedHosts, KNOWN_PUSH_SERVICES};
pub use fcm::FcmSender;
pub use model::{
    Alert, DeviceError, Notification, Outcome, PushKind, PushTarget, Urgency, Withdraw,
};
pub use web_push::WebPushSender;

/// Sends one notification to one device (the seam a notifier is tested through).
#[async_trait]
pub trait PushSender: Send + Sync {
    async fn send(&self, device: &PushTarget, notification: &Notification) -> Outcome;
}

/// The three senders, each present when configured.
pub struct Pusher {
    fcm: Option<FcmSender>,
    apns: Option<ApnsSender>,
    web_push: Option<WebPushSender>,
    web_push_hosts: AllowedHosts,
}

impl Pusher {
    /// Loads the key files of every configured provider; an error names the file or key.
    pub fn from_config(config: &PushConfig) -> Result<Self, ConfigError> {
        let clients = http::Clients::new(config)?;
        let fcm = (!config.fcm.service_account_file.is_empty())
            .then(|| FcmSender::new(&config.fcm, clients.any.clone()))
            .transpose()?;
        let apns = (!config.apns.key_file.is_empty())
            .then(|| ApnsSender::new(&config.apns, clients.h2_only.clone()))
            .transpose()?;
        let web_push = (!config.web_push.vapid_key_file.is_empty())
            .then(|| WebPushSender::new(&config.web_push, clients.any.clone()))
            .transpose()?;
        Ok(Self {
            fcm,
            apns,
            web_push,
            web_push_hosts: AllowedHosts::new(&config.web_push.allowed_hosts).ok_or_else(|| {
                ConfigError::Invalid("push.web_push.allowed_hosts must name a host".into())
            })?,
        })
    }

    /// The regular expression a Web Push endpoint must match (the OpenAPI document states it).
    pub fn web_push_endpoint_pattern(&self) -> &str {
        self.web_push_hosts.pattern()
    }

    /// Why natter will not send to `device` (registration refuses it): a Web Push endpoint
    /// that is not on `push.web_push.allowed_hosts`.
    pub fn refusal(&self, device: &PushTarget) -> Option<String> {
        match device {
            PushTarget::WebPush { endpoint, .. } => self.web_push_hosts.refusal(endpoint),
            PushTarget::Fcm { .. } | PushTarget::Apns { .. } => None,
        }
    }

    /// Whether devices of `provider` can be reached (registration refuses the others).
    pub fn supports(&self, provider: PushKind) -> bool {
        match provider {
            PushKind::Fcm => self.fcm.is_some(),
            PushKind::Apns => self.apns.is_some(),
            PushKind::WebPush => self.web_push.is_some(),
        }
    }

    /// The VAPID public key the web app subscribes with, when Web Push is on.
    pub fn vapid_public_key(&self) -> Option<&str> {
        self.web_push.as_ref().map(WebPushSender::public_key)
    }
}

impl std::fmt::Debug for Pusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pusher")
            .field("fcm", &self.fcm.is_some())
            .field("apns", &self.apns.is_some())
            .field("web_push", &self.web_push.is_some())
            .finish()
    }
}

#[async_trait]
impl PushSender for Pusher {
    async fn send(&self, device: &PushTarget, notification: &Notification) -> Outcome {
        let off = |provider: PushKind| Outcome::Rejected {
            reason: format!("{} is not configured", provider.as_str()),
        };
        match device {
            PushTarget::Fcm { token } => match &self.fcm {
                Some(fcm) => fcm.send(token, notification).await,
                None => off(PushKind::Fcm),
            },
            PushTarget::Apns {
                token,
                topic,
                sandbox,
            } => match &self.apns {
                Some(apns) => apns.send(token, topic, *sandbox, notification).await,
                None => off(PushKind::Apns),
            },
            PushTarget::WebPush {
                endpoint,
                p256dh,
                auth,
            } => match &self.web_push {
                // Registered before the list was narrowed: never sent to again.
                Some(_) if self.web_push_hosts.refusal(endpoint).is_some() => Outcome::Unregistered,
                Some(web_push) => web_push.send(endpoint, p256dh, auth, notification).await,
                None => off(PushKind::WebPush),
            },
        }
    }
}
