//! The WebSocket gateway at `/api/v1/ws`: the upgrade handler, the per-connection task, the hub
//! that routes bus events to local connections, and catch-up for resuming clients.

mod commands;
mod connection;
mod frames;
mod hub;
mod origin;
mod resume;

use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use natter_domain::DomainError;

use crate::error::ApiError;
use crate::state::AppState;

pub use hub::Hub;

/// Upgrade to a WebSocket. Buffers are sized so an idle connection costs a few KiB (tungstenite's
/// defaults allocate ~128 KiB per connection): a 1 KiB read buffer (chat frames are small; larger
/// ones are read in several steps), no write buffering, and a bounded write backlog.
/// A browser page of another origin is refused with 403 (`origin.rs`).
pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
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
    let limits = &state.config.limits;
    // Frames are written as they are fed (WRITE_BUFFER_BYTES says why).
    ws.read_buffer_size(1024)
        .write_buffer_size(connection::WRITE_BUFFER_BYTES)
        .max_write_buffer_size(connection::WRITE_BUFFER_BYTES + limits.ws_max_message_bytes * 4)
        .max_message_size(limits.ws_max_message_bytes)
        // A frame up to twice the message limit is read to its end before it is refused as a
        // message too long (1009): a client still writing it would otherwise have its
        // connection reset under it and never see the close frame. Larger frames are refused
        // from their header, unread.
        .max_frame_size(limits.ws_max_message_bytes * 2)
        .on_upgrade(move |socket| async move {
            connection::serve(socket, state).await;
            drop(permit);
        })
}
