//! What the lab remembers: every accepted push (in order), the refusals, the tokens it issued
//! and saw, the subscriptions it made, and the faults it was told to inject next.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{Notify, watch};

use crate::browser::BrowserKeys;
use crate::keys::LabKeys;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    Fcm,
    Apns,
    WebPush,
}

/// One accepted push, as the device would get it.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub service: Service,
    /// The FCM registration token, the APNs device token, or the Web Push endpoint.
    pub device: String,
    pub path: String,
    /// Request headers, names lower case (`authorization` left out).
    pub headers: BTreeMap<String, String>,
    /// FCM: the `message` object; APNs: the payload; Web Push: the decrypted payload (JSON, or a
    /// string when it is not JSON).
    pub payload: serde_json::Value,
    pub http2: bool,
    /// When the lab accepted it (the bench measures commit-to-provider latency with it).
    pub accepted_at: SystemTime,
}

/// One request the lab answered with an error of its own checks (not an injected fault).
#[derive(Debug, Clone)]
pub struct Refusal {
    pub service: Service,
    pub status: u16,
    pub reason: String,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Fault {
    Status {
        status: u16,
        retry_after: Option<u64>,
    },
    Hang,
}

pub(crate) struct Subscription {
    pub keys: BrowserKeys,
    pub unsubscribed: bool,
}

pub(crate) struct AccessToken {
    pub expires: Instant,
    pub revoked: bool,
}

/// The APNs provider token last accepted for the key.
pub(crate) struct ProviderToken {
    pub token: String,
    pub iat: u64,
}

#[derive(Default)]
pub(crate) struct Inner {
    pub pushes: Vec<Pushed>,
    /// Accepted since the start, including pushes already taken.
    pub accepted_total: usize,
    pub refusals: Vec<Refusal>,
    pub faults: HashMap<Service, VecDeque<Fault>>,
    pub unregistered: HashSet<String>,
    pub subscriptions: HashMap<String, Subscription>,
    pub access_tokens: HashMap<String, AccessToken>,
    pub oauth_exchanges: u64,
    /// Per connection (APNs tracks token updates per connection).
    pub apns_tokens: HashMap<u64, ProviderToken>,
    pub apns_tokens_seen: HashSet<String>,
    /// Provider tokens with an `iat` up to this are expired (`expire_apns_tokens`).
    pub apns_expired_through: u64,
}

pub(crate) struct Shared {
    pub keys: LabKeys,
    pub base_url: String,
    pub token_lifetime: Mutex<Duration>,
    pub inner: Mutex<Inner>,
    pub release: Notify,
    /// How many pushes were accepted so far (waiters watch it).
    pub accepted: watch::Sender<usize>,
    /// How many requests have started hanging (an injected `Hang`) since the start.
    pub hung: watch::Sender<usize>,
}

impl Shared {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Records an accepted push; its number (1-based).
    pub fn record(&self, push: Pushed) -> usize {
        let count = {
            let mut inner = self.lock();
            inner.pushes.push(push);
            inner.accepted_total += 1;
            inner.accepted_total
        };
        self.accepted.send_replace(count);
        count
    }

    pub fn take_fault(&self, service: Service) -> Option<Fault> {
        self.lock().faults.get_mut(&service)?.pop_front()
    }

    pub fn refuse(&self, service: Service, status: u16, reason: impl Into<String>) {
        let reason = reason.into();
        tracing::info!(?service, status, %reason, "push lab refused a request");
        self.lock().refusals.push(Refusal {
            service,
            status,
            reason,
        });
    }
}
