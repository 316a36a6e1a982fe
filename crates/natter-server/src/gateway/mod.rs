//! The WebSocket gateway at `/api/v1/ws`: the upgrade handler, the per-connection task, the hub
//! that routes bus events to local connections, and catch-up for resuming clients. The
//! WebSocket protocol itself is natter's own (`ws/`).

mod backlog;
mod commands;
mod connection;
mod forwarded;
mod frames;
mod hub;
pub(crate) mod origin;
mod outlet;
mod pacing;
mod pipeline;
mod resume;
mod ws;

use axum::extract::{Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use natter_domain::DomainError;

use crate::error::ApiError;
use crate::serving::admission::Admitted;
use crate::state::AppState;

pub use hub::Hub;

/// Upgrade to a WebSocket: a request that is not a valid upgrade is refused (`ws::handshake`),
/// so is a browser page of another origin (403, `origin.rs`) and one over the node's
/// connection limit (503). The connection then takes the TCP stream back from hyper, with the
/// bytes hyper read past the request.
pub async fn upgrade(State(state): State<AppState>, mut request: Request) -> Response {
    let accept = match ws::handshake::accept(request.method(), request.version(), request.headers())
    {
        Ok(accept) => accept,
        Err(refused) => return *refused,
    };
    let headers = request.headers();
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if !origin::allowed(
        header(header::ORIGIN),
        header(header::HOST),
        &state.config.server.allowed_origins,
    ) {
        return ApiError::Domain(DomainError::Forbidden(
            "this origin may not open a WebSocket",
        ))
        .into_response();
    }
    let Ok(permit) = state.connection_permits.clone().try_acquire_owned() else {
        return ApiError::Domain(DomainError::Unavailable).into_response();
    };
    let on_upgrade = hyper::upgrade::on(&mut request);
    let max_message = state.config.limits.ws_max_message_bytes;
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(err) => {
                tracing::debug!(%err, "WebSocket upgrade failed");
                return;
            }
        };
        let Some(socket) = take_socket(upgraded, max_message) else {
            tracing::error!("an upgraded connection is not an admitted TCP stream");
            return;
        };
        connection::serve(socket, state, permit).await;
    });
    ws::handshake::switching(&accept)
}

/// The TCP stream hyper served, with its admission slot and the bytes hyper read past the
/// request. hyper's read buffer is released here, not kept for the connection's life.
fn take_socket(upgraded: hyper::upgrade::Upgraded, max_message: usize) -> Option<ws::Socket> {
    let parts = upgraded.downcast::<TokioIo<Admitted>>().ok()?;
    let (stream, slot) = parts.io.into_inner().into_parts();
    Some(ws::Socket::new(stream, slot, &parts.read_buf, max_message))
}
