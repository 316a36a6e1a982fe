//! natter's wire format, shared by the server and every Rust client: REST request and response
//! bodies ([`rest`]) and WebSocket frames ([`ws`]). This is the only crate that knows JSON shapes.
//!
//! Conventions: ids of users, conversations and sessions are UUID strings; message ids are 64-bit
//! integers sent as decimal strings; times are Unix milliseconds; unknown fields in requests are
//! rejected (`deny_unknown_fields`), so a typo is an error rather than a silent no-op.

pub mod ack;
pub mod push;
pub mod rest;
mod whole;
pub mod ws;

pub use ack::Ack;
pub use push::*;
pub use rest::*;
pub use ws::*;

/// The body of every error response and the payload of every WebSocket error frame.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// Stable machine-readable code: `invalid`, `unauthenticated`, `bad_credentials`,
    /// `forbidden`, `not_found`, `conflict`, `rate_limited`, `payload_too_large`,
    /// `unsupported_media_type`, `method_not_allowed`, `unavailable`, `internal`, and over the
    /// WebSocket also `bad_frame`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// For `rate_limited`: when to retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub retry_after_ms: Option<u64>,
}
