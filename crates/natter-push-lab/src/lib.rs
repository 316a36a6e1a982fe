//! natter-push-lab: FCM, APNs and a Web Push service on loopback, over TLS and HTTP/2, that
//! behave like the real providers as far as natter can tell: they verify every JWT with the
//! lab's keys (FCM's OAuth assertion and access tokens, the APNs provider token and its age,
//! VAPID), run the OAuth token exchange, check the headers and payload limits the real ones
//! check, and decrypt each Web Push message with the subscription's private key as a browser
//! would. Every accepted push is recorded (per device, in order, with headers and payload) for
//! assertions; the lab can be told to answer 429/503 (with `Retry-After`) for the next N
//! requests, to drop a device (404/410), to hang, or to expire the tokens it issued.
//!
//! Point natter-push at it through its ordinary configuration: the endpoints
//! ([`Lab::base_url`]), the key files ([`Lab::write_files`]) and the lab's CA as an extra root.

mod apns;
mod browser;
mod fault;
mod fcm;
mod keys;
mod state;
mod tls;
mod web_push;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use browser::BrowserKeys;
pub use keys::{APNS_KEY_ID, APNS_TEAM_ID, APNS_TOPIC, FCM_CLIENT_EMAIL, FCM_PROJECT, LabKeys};
pub use state::{Pushed, Refusal, Service};

use state::{Fault, Inner, Shared, Subscription};

/// The connection a request came on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ConnectionId(pub u64);

/// A browser's push subscription, as its `PushSubscription.toJSON()` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSubscription {
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
}

/// Where [`Lab::write_files`] put the credentials and the CA.
#[derive(Debug, Clone)]
pub struct LabFiles {
    pub ca: PathBuf,
    pub fcm_service_account: PathBuf,
    pub apns_key: PathBuf,
    pub vapid_key: PathBuf,
}

/// A running lab; stops (and ends every connection) when dropped.
pub struct Lab {
    shared: Arc<Shared>,
    ca_pem: String,
    server: JoinHandle<()>,
    connections: Arc<AtomicU64>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Lab {
    /// A lab on a free loopback port.
    pub async fn start() -> std::io::Result<Lab> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    pub async fn start_on(addr: SocketAddr) -> std::io::Result<Lab> {
        let listener = TcpListener::bind(addr).await?;
        let base_url = format!("https://{}", listener.local_addr()?);
        let certs = tls::certs().map_err(std::io::Error::other)?;
        let keys = LabKeys::generate(&format!("{base_url}/token"));
        let shared = Arc::new(Shared {
            keys,
            base_url,
            token_lifetime: Mutex::new(Duration::from_secs(3600)),
            inner: Mutex::new(Inner::default()),
            release: tokio::sync::Notify::new(),
            accepted: tokio::sync::watch::channel(0).0,
            hung: tokio::sync::watch::channel(0).0,
        });
        let router = Router::new()
            .route("/token", post(fcm::token))
            .route("/v1/projects/{project}/messages:send", post(fcm::send))
            .route("/3/device/{token}", post(apns::production))
            .route("/sandbox/3/device/{token}", post(apns::sandbox))
            .route("/wp/{id}", post(web_push::push))
            .with_state(shared.clone());
        let connections = Arc::new(AtomicU64::new(0));
        let server = tokio::spawn(tls::serve(
            listener,
            certs.server,
            router,
            connections.clone(),
        ));
        Ok(Lab {
            shared,
            ca_pem: certs.ca_pem,
            server,
            connections,
        })
    }

    /// `https://127.0.0.1:<port>`: the FCM endpoint, the APNs production endpoint; the APNs
    /// sandbox is under `/sandbox`, the OAuth token endpoint at `/token`.
    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }

    pub fn apns_sandbox_url(&self) -> String {
        format!("{}/sandbox", self.shared.base_url)
    }

    /// The CA the lab's certificate is signed by (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The credentials the lab trusts.
    pub fn keys(&self) -> &LabKeys {
        &self.shared.keys
    }

    /// Writes the CA and the lab's credentials into `dir`.
    pub fn write_files(&self, dir: &Path) -> std::io::Result<LabFiles> {
        write_files(&self.shared.keys, &self.ca_pem, dir)
    }

    /// The environment that points a natter server's FCM, APNs and Web Push senders at this lab
    /// (`NATTER__PUSH__...`), with its files written into `dir`.
    pub fn natter_env(&self, dir: &Path) -> std::io::Result<Vec<(&'static str, String)>> {
        let files = self.write_files(dir)?;
        let path = |p: &Path| p.display().to_string();
        Ok(vec![
            ("NATTER__PUSH__EXTRA_ROOT_CA_FILE", path(&files.ca)),
            (
                "NATTER__PUSH__FCM__SERVICE_ACCOUNT_FILE",
                path(&files.fcm_service_account),
            ),
            ("NATTER__PUSH__FCM__ENDPOINT", self.base_url().to_owned()),
            (
                "NATTER__PUSH__WEB_PUSH__VAPID_KEY_FILE",
                path(&files.vapid_key),
            ),
            (
                "NATTER__PUSH__WEB_PUSH__SUBJECT",
                "mailto:push@natter.example".to_owned(),
            ),
            ("NATTER__PUSH__APNS__KEY_FILE", path(&files.apns_key)),
            (
                "NATTER__PUSH__APNS__KEY_ID",
                self.shared.keys.apns_key_id.clone(),
            ),
            (
                "NATTER__PUSH__APNS__TEAM_ID",
                self.shared.keys.apns_team_id.clone(),
            ),
            (
                "NATTER__PUSH__APNS__PRODUCTION_ENDPOINT",
                self.base_url().to_owned(),
            ),
            (
                "NATTER__PUSH__APNS__SANDBOX_ENDPOINT",
                self.apns_sandbox_url(),
            ),
            // The lab's subscriptions are on its own host.
            (
                "NATTER__PUSH__WEB_PUSH__ALLOWED_HOSTS",
                "[\"127.0.0.1\"]".to_owned(),
            ),
        ])
    }

    /// Writes `keys` (another set: a sender the lab must refuse) with the lab's CA into `dir`.
    pub fn write_other_files(&self, keys: &LabKeys, dir: &Path) -> std::io::Result<LabFiles> {
        write_files(keys, &self.ca_pem, dir)
    }

    /// A new browser subscription (its own key pair and auth secret), made with the lab's VAPID
    /// public key as `applicationServerKey`.
    pub fn subscribe(&self) -> WebSubscription {
        let keys = BrowserKeys::generate();
        let id = URL_SAFE_NO_PAD.encode(keys::random_bytes::<12>());
        let subscription = WebSubscription {
            endpoint: format!("{}/wp/{id}", self.shared.base_url),
            p256dh: URL_SAFE_NO_PAD.encode(&keys.public),
            auth: URL_SAFE_NO_PAD.encode(keys.auth),
        };
        self.shared.lock().subscriptions.insert(
            id,
            Subscription {
                keys,
                unsubscribed: false,
            },
        );
        subscription
    }

    /// The device (FCM or APNs token, Web Push endpoint) is gone: FCM answers 404
    /// `UNREGISTERED`, APNs 410 `Unregistered`, the push service 410.
    pub fn unregister(&self, device: &str) {
        self.shared.lock().unregistered.insert(device.to_owned());
    }

    /// The next `count` requests to `service` answer `status` (in the service's error format),
    /// with `Retry-After: <seconds>` when given.
    pub fn fail_next(&self, service: Service, count: usize, status: u16, retry_after: Option<u64>) {
        self.queue(
            service,
            count,
            Fault::Status {
                status,
                retry_after,
            },
        );
    }

    /// The next `count` requests to `service` hang until [`Lab::release_hung`].
    pub fn hang_next(&self, service: Service, count: usize) {
        self.queue(service, count, Fault::Hang);
    }

    /// Waits until at least `count` requests have started hanging since the start (a sender is
    /// then mid-send), at most `within`; whether they had.
    pub async fn wait_for_hung(&self, count: usize, within: Duration) -> bool {
        let mut hung = self.shared.hung.subscribe();
        matches!(
            tokio::time::timeout(within, hung.wait_for(|&n| n >= count)).await,
            Ok(Ok(_))
        )
    }

    /// Hung requests answer 503 now.
    pub fn release_hung(&self) {
        self.shared.release.notify_waiters();
    }

    fn queue(&self, service: Service, count: usize, fault: Fault) {
        let mut inner = self.shared.lock();
        let queue = inner.faults.entry(service).or_default();
        queue.extend(std::iter::repeat_n(fault, count));
    }

    /// How long the access tokens issued from now on live (`expires_in`).
    pub fn set_access_token_lifetime(&self, lifetime: Duration) {
        *self
            .shared
            .token_lifetime
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()) = lifetime;
    }

    /// Every access token issued so far is refused from now on (401), as after a revocation.
    pub fn expire_access_tokens(&self) {
        for token in self.shared.lock().access_tokens.values_mut() {
            token.revoked = true;
        }
    }

    /// Every APNs provider token seen so far is `ExpiredProviderToken` from now on.
    pub fn expire_apns_tokens(&self) {
        let mut inner = self.shared.lock();
        let newest = inner.apns_tokens.values().map(|token| token.iat).max();
        inner.apns_expired_through = inner.apns_expired_through.max(newest.unwrap_or(0));
    }

    /// Every accepted push, in order.
    pub fn pushes(&self) -> Vec<Pushed> {
        self.shared.lock().pushes.clone()
    }

    /// Hands over the pushes recorded so far and forgets them (a long bench run keeps its memory
    /// bounded this way); [`Lab::accepted`] still counts them.
    pub fn take_pushes(&self) -> Vec<Pushed> {
        std::mem::take(&mut self.shared.lock().pushes)
    }

    /// How many pushes were accepted since the start.
    pub fn accepted(&self) -> usize {
        self.shared.lock().accepted_total
    }

    /// Waits until at least `count` pushes were accepted since the start, at most `within`: the
    /// recorded pushes, or `Err` with them when the time ran out.
    pub async fn wait_for_pushes(
        &self,
        count: usize,
        within: Duration,
    ) -> Result<Vec<Pushed>, Vec<Pushed>> {
        let mut accepted = self.shared.accepted.subscribe();
        let reached = tokio::time::timeout(within, accepted.wait_for(|&n| n >= count)).await;
        match reached {
            Ok(Ok(_)) => Ok(self.pushes()),
            _ => Err(self.pushes()),
        }
    }

    /// The accepted pushes to one device (token or endpoint), in order.
    pub fn pushes_to(&self, device: &str) -> Vec<Pushed> {
        let inner = self.shared.lock();
        inner
            .pushes
            .iter()
            .filter(|push| push.device == device)
            .cloned()
            .collect()
    }

    /// The requests the lab's own checks refused.
    pub fn refusals(&self) -> Vec<Refusal> {
        self.shared.lock().refusals.clone()
    }

    /// How many TCP connections were accepted (APNs asks providers to keep theirs open rather
    /// than connect per push).
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// How many OAuth token exchanges succeeded.
    pub fn oauth_exchanges(&self) -> u64 {
        self.shared.lock().oauth_exchanges
    }

    /// How many distinct APNs provider tokens were accepted.
    pub fn apns_tokens_seen(&self) -> usize {
        self.shared.lock().apns_tokens_seen.len()
    }
}

fn write_files(keys: &LabKeys, ca_pem: &str, dir: &Path) -> std::io::Result<LabFiles> {
    let files = LabFiles {
        ca: dir.join("lab-ca.pem"),
        fcm_service_account: dir.join("fcm-service-account.json"),
        apns_key: dir.join("apns-key.p8"),
        vapid_key: dir.join("vapid-key.pem"),
    };
    std::fs::write(&files.ca, ca_pem)?;
    std::fs::write(&files.fcm_service_account, &keys.fcm_service_account_json)?;
    std::fs::write(&files.apns_key, &keys.apns_key_pem)?;
    std::fs::write(&files.vapid_key, &keys.vapid_key_pem)?;
    Ok(files)
}

/// Request headers for the record, `authorization` left out.
pub(crate) fn headers_of(headers: &HeaderMap) -> BTreeMap<String, String> {
    headers
        .iter()
        .filter(|(name, _)| name.as_str() != "authorization")
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}
