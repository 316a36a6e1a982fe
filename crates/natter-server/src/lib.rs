//! natter's server: wires the domain services to their adapters (embedded ones by default) and
//! serves the REST API, the WebSocket gateway, health checks and the OpenAPI document on the
//! public listener, and Prometheus metrics on a listener of their own (loopback by default).
//!
//! Invariant: handlers translate between the wire and the domain and map errors; they hold no
//! business rules (those live in `natter-domain`).

pub mod auth;
pub mod backends;
pub mod config;
mod convert;
mod cors;
pub mod embedded;
pub mod error;
mod extract;
pub mod gateway;
mod idempotency;
mod limiter;
mod lockout;
mod media;
mod observability;
mod operations;
mod push;
mod rest;
pub mod secrets;
mod serving;
mod state;
mod web;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use natter_domain::{Chat, UserId};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

pub use config::{AuthConfig, Limits, Role, ServerConfig};

use crate::auth::{Auth, PasswordHashing, TokenKeys};
use crate::gateway::Hub;
use crate::limiter::RateLimits;
use crate::serving::Serving;
use crate::serving::admission::{self, Admission};
use crate::state::AppState;

/// A running server. Dropping it does not stop it; call [`RunningServer::shutdown`].
pub struct RunningServer {
    pub addr: SocketAddr,
    /// Where `GET /metrics` answers, unless `server.metrics_listen` turned it off.
    pub metrics_addr: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl RunningServer {
    /// Graceful shutdown: stop accepting, close every WebSocket with 1001 (clients reconnect
    /// elsewhere or later), finish in-flight requests, close the stores.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        self.task.await.context("server task panicked")?
    }

    /// Wait until the server stops (after [`Self::shutdown`] from elsewhere or a fatal error).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await.context("server task panicked")?
    }

    /// A handle that can trigger shutdown while another task waits.
    pub fn stopper(&self) -> watch::Sender<bool> {
        self.stop.clone()
    }
}

/// The process-wide Prometheus recorder (installed once, shared by every server in a process).
fn metrics_handle() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .context("cannot install metrics recorder")?;
    Ok(HANDLE.get_or_init(|| handle).clone())
}

/// Open the stores, bind the listener and serve in a background task.
pub async fn start(config: ServerConfig) -> anyhow::Result<RunningServer> {
    let backends = backends::open(&config).await?;
    start_with(config, backends).await
}

/// [`start`] on backends the caller opened with [`backends::open`] and may have decorated
/// (for example its event bus, as `backends/kafka.rs` does).
pub async fn start_with(
    config: ServerConfig,
    backends: backends::Backends,
) -> anyhow::Result<RunningServer> {
    // First: what starts below records metrics from its first step.
    let metrics = metrics_handle()?;
    let ports = backends.ports.clone();
    let bus = ports.bus.clone();
    let key_file = config.token_key_path();
    if let Some(dir) = key_file.parent() {
        secrets::create_private_dir(dir)?;
    }
    let keys = secrets::load_or_create(&key_file)?;
    let (signing, older) = keys.split_first().context("the token keyring is empty")?;
    // Memory caches in front of the stores only where this process alone writes them.
    let caching = |max: usize| if config.backends.shared() { 0 } else { max };
    let chat = Chat::with_member_cache(
        ports.clone(),
        config.server.node_id,
        caching(config.limits.member_cache_max),
    );
    let pusher =
        Arc::new(natter_push::Pusher::from_config(&config.push).context("the push configuration")?);
    let mut notifier = match &backends.push_queue {
        Some(queue) => Some(
            push::spawn(
                queue.clone(),
                ports.clone(),
                pusher.clone(),
                config.notifier.clone(),
                format!("node-{}", config.server.node_id),
                config.backends.event_log == config::EventLogBackend::Kafka,
            )
            .context("start the notifier's thread")?,
        ),
        None => None,
    };
    let hashing = PasswordHashing::new(
        config.auth.argon2_memory_kib,
        config.auth.argon2_iterations,
        config.auth.argon2_concurrency,
        config.auth.argon2_queue,
    )?;
    let auth = Auth::new(
        ports.accounts.clone(),
        bus.clone(),
        ports.clock.clone(),
        hashing,
        TokenKeys::with_older(signing, older, config.auth.access_ttl_s),
    )
    .with_session_lifetime(auth::SessionLifetime::from_secs(
        config.auth.session_max_age_s,
        config.auth.session_idle_s,
    ))
    .with_session_cache(caching(config.limits.session_cache_max));
    let files = match ports.files.clone() {
        Some(store) => Some(media::FileService::open(
            &config.server.data_dir.join("files"),
            store,
            &keys,
            config.files.clone(),
            Duration::from_millis(config.limits.http_header_timeout_ms),
        )?),
        None => None,
    };
    let hub = Hub::new(
        ports.conversations.clone(),
        files.clone(),
        config.limits.ws_outbound_queue,
        config.limits.hub_member_cache_max,
    );
    let (stop, shutdown) = watch::channel(false);
    let state = AppState::new(state::Shared {
        chat,
        auth,
        hub: hub.clone(),
        files: files.clone(),
        rate_limits: RateLimits::new(&config.limits, backends.rate_limiter.clone()),
        idempotency: backends.idempotency.clone(),
        pusher,
        connection_permits: Arc::new(Semaphore::new(config.limits.max_connections)),
        config: Arc::new(config.clone()),
        metrics,
        shutdown: shutdown.clone(),
    });
    let listener = serving::listener::listen(config.server.listen)
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    let addr = listener.local_addr()?;
    let serving = Serving {
        admission: Admission::new(
            admission::socket_budget(config.limits.max_sockets),
            config.limits.max_sockets_per_address,
            config.server.trusted_proxies.clone(),
        ),
        header_timeout: Duration::from_millis(config.limits.http_header_timeout_ms),
    };
    let metrics = match config.server.metrics_listen {
        Some(at) => {
            let listener = serving::listener::listen(at)
                .with_context(|| format!("cannot listen for metrics on {at}"))?;
            let metrics_addr = listener.local_addr()?;
            let scrapers = Serving {
                admission: Admission::new(METRICS_SOCKETS, METRICS_SOCKETS, Vec::new()),
                ..serving.clone()
            };
            let task = tokio::spawn(serving::serve(
                listener,
                metrics_router(state.metrics.clone()),
                scrapers,
                shutdown.clone(),
            ));
            tracing::info!(addr = %metrics_addr, "natter metrics listening");
            Some((metrics_addr, task))
        }
        None => None,
    };
    let metrics_addr = metrics.as_ref().map(|(addr, _)| *addr);
    let hub_task = config.runs(Role::Gateway).then(|| {
        let idle = Duration::from_millis(config.limits.ws_idle_timeout_ms);
        let mut stopping = shutdown.clone();
        let on_stop = hub.clone();
        [
            tokio::spawn(hub.clone().run(bus.subscribe())),
            tokio::spawn(hub.clone().sweep_forever(idle)),
            // Stopping: every WebSocket is closed with 1001 (clients reconnect elsewhere).
            tokio::spawn(async move {
                let _ = stopping.wait_for(|stopping| *stopping).await;
                on_stop.shut(1001);
            }),
        ]
    });
    let sweeper = tokio::spawn(sweep_rate_limits(state.rate_limits.clone()));
    let last_seen = tokio::spawn(flush_last_seen(state.chat.clone()));
    let collector = files
        .filter(|_| config.runs(Role::Api))
        .map(|files| tokio::spawn(media::collect_forever(files)));
    let app = router(state.clone());
    let task = tokio::spawn(async move {
        serving::serve(listener, app, serving, shutdown.clone()).await;
        drain_connections(&state).await;
        last_seen.abort();
        if let Some(collector) = collector {
            collector.abort();
        }
        if let Err(err) = state.chat.flush_last_seen().await {
            tracing::warn!(%err, "last-seen times not saved at shutdown");
        }
        for task in hub_task.into_iter().flatten() {
            task.abort();
        }
        if let Some((_, task)) = metrics {
            let _ = task.await;
        }
        sweeper.abort();
        if let Some(notifier) = notifier.as_mut() {
            notifier.stop().await;
        }
        backends.close().await;
        // Last: connections its tasks opened may serve the stores until they close.
        drop(notifier);
        Ok(())
    });
    tracing::info!(%addr, "natter listening");
    Ok(RunningServer {
        addr,
        metrics_addr,
        stop,
        task,
    })
}

/// Upgraded WebSockets outlive axum's graceful shutdown; give them a moment to send 1001.
async fn drain_connections(state: &AppState) {
    let max = state.config.limits.max_connections;
    for _ in 0..50 {
        if state.connection_permits.available_permits() >= max {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tracing::warn!("closing with WebSocket connections still open");
}

async fn flush_last_seen(chat: Chat) {
    let mut every = tokio::time::interval(Duration::from_millis(
        natter_domain::limits::LAST_SEEN_FLUSH_MS,
    ));
    loop {
        every.tick().await;
        if let Err(err) = chat.flush_last_seen().await {
            tracing::warn!(%err, "last-seen times not saved; will retry");
        }
    }
}

async fn sweep_rate_limits(limits: RateLimits) {
    let mut every = tokio::time::interval(Duration::from_secs(60));
    loop {
        every.tick().await;
        limits.sweep();
    }
}

/// Scrapers connected at once to the metrics listener.
const METRICS_SOCKETS: usize = 64;

/// The metrics listener's only route.
fn metrics_router(metrics: PrometheusHandle) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move { metrics.render() }
        }),
    )
}

/// The routes of this process's roles: the REST API and the web app with `api`, the WebSocket
/// endpoint with `gateway`; health and readiness always.
fn router(state: AppState) -> Router {
    let (api, mut openapi) = rest::router().split_for_parts();
    utoipa::Modify::modify(
        &rest::push_endpoints::EndpointPattern(state.pusher.web_push_endpoint_pattern()),
        &mut openapi,
    );
    let openapi = Arc::new(openapi);
    let max_body = state.config.limits.max_body_bytes;
    let body_within = Duration::from_millis(state.config.limits.http_header_timeout_ms);
    let mut v1 = Router::new();
    if state.config.runs(Role::Api) {
        let api = api.layer(axum::middleware::from_fn_with_state(
            state.clone(),
            idempotency::idempotent_writes,
        ));
        v1 = v1.merge(api).route(
            "/openapi.json",
            get(move || async move { axum::Json(openapi.as_ref().clone()) }),
        );
    }
    if state.config.runs(Role::Gateway) {
        v1 = v1.route("/ws", get(gateway::upgrade));
    }
    let mut app = Router::new()
        .nest("/api/v1", v1)
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .method_not_allowed_fallback(|| async { error::ApiError::MethodNotAllowed });
    if state.config.runs(Role::Api) {
        app = app.fallback(web::fallback);
    }
    let cors = cors::layer(&state.config.server.allowed_origins);
    let app = app
        .layer(DefaultBodyLimit::max(max_body))
        .route_layer(axum::middleware::from_fn(observability::record_http))
        .layer(axum::middleware::from_fn(move |request, next| {
            serving::body::read_body_first(max_body, body_within, request, next)
        }))
        .with_state(state);
    // Outermost: a preflight is answered before routing (most routes have no OPTIONS).
    match cors {
        Some(cors) => app.layer(cors),
        None => app,
    }
}

/// Ready when not shutting down and the store answers.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if *state.shutdown.borrow() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    match state
        .chat
        .ports()
        .accounts
        .user(UserId(uuid::Uuid::nil()))
        .await
    {
        Ok(_) => (StatusCode::OK, "ready"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "storage unavailable"),
    }
}
