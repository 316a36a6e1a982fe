//! The state every handler and connection shares: a cheap-to-clone bundle of handles.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use natter_domain::Chat;
use tokio::sync::{Semaphore, watch};

use crate::auth::Auth;
use crate::config::ServerConfig;
use crate::gateway::Hub;
use crate::limiter::RateLimits;

#[derive(Clone)]
pub struct AppState {
    pub chat: Chat,
    pub auth: Auth,
    pub hub: Hub,
    pub rate_limits: RateLimits,
    pub config: Arc<ServerConfig>,
    pub metrics: PrometheusHandle,
    /// Flips to `true` when the server starts shutting down; connections then close with 1001.
    pub shutdown: watch::Receiver<bool>,
    /// One permit per open WebSocket: bounds connections per node.
    pub connection_permits: Arc<Semaphore>,
}
