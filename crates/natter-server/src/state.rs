//! The state every handler and connection shares. One `Arc`, so each request and each
//! WebSocket connection holds a pointer rather than its own copy of every handle. A handler
//! takes only the part it uses (axum's `FromRef`): `State<Chat>`, `State<MessagingState>`...,
//! so its signature says what it can reach.

use std::sync::Arc;

use axum::extract::FromRef;
use metrics_exporter_prometheus::PrometheusHandle;
use natter_domain::Chat;
use tokio::sync::{Semaphore, watch};

use crate::auth::Auth;
use crate::config::ServerConfig;
use crate::gateway::Hub;
use crate::limiter::RateLimits;
use crate::media::FileService;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    shared: Shared,
    /// `shared`'s chat, rate limits and file service grouped once at start, so a WebSocket
    /// command borrows them (`AppState::messaging`) instead of cloning every handle.
    messaging: MessagingState,
}

impl AppState {
    pub fn new(shared: Shared) -> Self {
        let messaging = MessagingState {
            chat: shared.chat.clone(),
            rate_limits: shared.rate_limits.clone(),
            files: shared.files.clone(),
        };
        Self(Arc::new(Inner { shared, messaging }))
    }

    /// What the message operations use, borrowed.
    pub fn messaging(&self) -> &MessagingState {
        &self.0.messaging
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0.shared
    }
}

pub struct Shared {
    pub chat: Chat,
    pub auth: Auth,
    pub hub: Hub,
    /// Uploads and downloads; `None` where the backends have no file metadata store yet.
    pub files: Option<FileService>,
    pub rate_limits: RateLimits,
    /// `Idempotency-Key` answers (in memory, or Redis across nodes).
    pub idempotency: Arc<dyn crate::idempotency::IdempotencyStore>,
    /// The push senders (the VAPID public key the web app subscribes with).
    pub pusher: Arc<natter_push::Pusher>,
    pub config: Arc<ServerConfig>,
    pub metrics: PrometheusHandle,
    /// Flips to `true` when the server starts shutting down; connections then close with 1001.
    pub shutdown: watch::Receiver<bool>,
    /// One permit per open WebSocket: bounds connections per node.
    pub connection_permits: Arc<Semaphore>,
}

/// What the message operations (`operations/`) use: the domain, the send and typing rate
/// limits, and the file service that signs attachment URLs.
#[derive(Clone)]
pub struct MessagingState {
    pub chat: Chat,
    pub rate_limits: RateLimits,
    /// `None` where no files are kept (then no message has attachments).
    pub files: Option<FileService>,
}

impl FromRef<AppState> for MessagingState {
    fn from_ref(state: &AppState) -> Self {
        state.messaging().clone()
    }
}

/// `impl FromRef<AppState>` for handles a handler takes alone (`State<Chat>`), each cloned out
/// of its field.
macro_rules! handles {
    ($($field:ident: $handle:ty),* $(,)?) => {$(
        impl FromRef<AppState> for $handle {
            fn from_ref(state: &AppState) -> Self {
                state.$field.clone()
            }
        }
    )*};
}

handles!(
    chat: Chat,
    files: Option<FileService>,
    auth: Auth,
    rate_limits: RateLimits,
    pusher: Arc<natter_push::Pusher>,
    config: Arc<ServerConfig>,
);
