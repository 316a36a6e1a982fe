//! What a client can do to messages, written once for both transports. Each operation takes the
//! caller, the raw inputs of a REST body or a WebSocket frame and only the state it uses; it
//! parses the inputs into the domain's terms, applies this node's limits, calls the domain and
//! returns what the client is shown (wire views, attachment URLs signed). `rest/` turns the
//! result into an HTTP answer and `gateway/commands.rs` into an ack frame; neither adds a step of
//! its own, so the two transports cannot drift apart.

pub mod cursors;
pub mod history;
pub mod messages;
pub mod typing;

/// The transport that carried a request: the `transport` label of the operations' metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Rest,
    WebSocket,
}

impl Transport {
    fn label(self) -> &'static str {
        match self {
            Self::Rest => "rest",
            Self::WebSocket => "ws",
        }
    }
}
