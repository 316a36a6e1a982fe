//! The state every handler and connection shares. One `Arc`, so each request and each
//! WebSocket connection holds a pointer rather than its own copy of every handle.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use natter_domain::Chat;
use tokio::sync::{Semaphore, watch};

use crate::auth::Auth;
use crate::config::ServerConfig;
use crate::gateway::Hub;
use crate::limiter::RateLimits;

#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub chat: Chat,
    pub auth: Auth,
    pub hub: Hub,
    /// Uploads and downloads; `None` where the backends have no file metadata store yet.
    pub files: Option<crate::media::FileService>,
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
