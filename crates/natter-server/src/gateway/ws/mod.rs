//! natter's own WebSocket server side (RFC 6455), in place of tungstenite's, so that:
//! - an event is framed once and the same bytes go to every recipient (server frames are
//!   unmasked), written with vectored writes, every pending frame of a connection in one call;
//! - an idle connection owns no read or write buffer: reads go into a buffer shared by the
//!   thread and only the bytes of an incomplete frame are kept.
//!
//! `handshake` checks the upgrade request and answers it, `parser` reads client frames,
//! `frame` builds server frames, `socket` reads one connection's stream and closes it; writes
//! go through the connection's outlet (`gateway/outlet.rs`), which the hub writes to as well.
//! natter-sdk, natter-bench and the tests, the clients, keep tokio-tungstenite.

pub mod frame;
pub mod handshake;
pub mod parser;
pub mod socket;

#[cfg(test)]
mod parser_tests;

pub use parser::Incoming;
pub use socket::Socket;
