//! The WebSocket wire, one frame at a time: open a connection, write a `ClientFrame`, turn
//! whatever the socket yields into one [`Incoming`] the driver can match on. No state here; the
//! reconnect and resume logic lives in `driver.rs`.

use futures_util::SinkExt;
use natter_protocol::{ClientFrame, ServerFrame};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::error::{Error, Result};

pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens the WebSocket. Nagle is off: frames are small and latency is what we measure.
pub(crate) async fn open(url: &str) -> Result<Ws> {
    let (ws, _response) = tokio_tungstenite::connect_async_with_config(url, None, true).await?;
    Ok(ws)
}

/// Writes one frame as a JSON text message (and flushes, which also sends any pong tungstenite
/// queued in answer to a server ping).
pub(crate) async fn write(ws: &mut Ws, frame: &ClientFrame) -> Result<()> {
    let json = serde_json::to_string(frame)
        .map_err(|e| Error::Protocol(format!("encoding a frame: {e}")))?;
    write_text(ws, json).await
}

pub(crate) async fn write_text(ws: &mut Ws, text: String) -> Result<()> {
    ws.send(Message::text(text)).await.map_err(Error::from)
}

/// Starts a clean close (1000) as the client.
pub(crate) async fn close_normally(ws: &mut Ws) {
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: "client closed".into(),
    };
    if let Err(error) = ws.close(Some(frame)).await {
        tracing::debug!(%error, "close handshake failed");
    }
}

/// One thing read from the socket.
// Lives for one match on the stack; boxing the frame would cost an allocation per frame.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Incoming {
    Frame(ServerFrame),
    /// The server closed (with a close frame, or just dropped the TCP stream: `code` None).
    Closed {
        code: Option<u16>,
        reason: String,
    },
    /// A transport error.
    Failed(Error),
    /// Nothing for the driver: control frames, or a frame we cannot parse (logged; a newer
    /// server may send event types we do not know, which must not kill the session).
    Skip,
}

impl Incoming {
    pub(crate) fn from_read(item: Option<Result<Message, tungstenite::Error>>) -> Self {
        match item {
            None => Self::Closed {
                code: None,
                reason: "connection closed without a close frame".into(),
            },
            Some(Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed)) => {
                Self::Closed {
                    code: None,
                    reason: "connection closed".into(),
                }
            }
            Some(Err(error)) => Self::Failed(Error::from(error)),
            Some(Ok(Message::Text(text))) => Self::parse(text.as_str()),
            Some(Ok(Message::Close(frame))) => match frame {
                Some(frame) => Self::Closed {
                    code: Some(u16::from(frame.code)),
                    reason: frame.reason.to_string(),
                },
                None => Self::Closed {
                    code: None,
                    reason: "close frame without a code".into(),
                },
            },
            Some(Ok(Message::Binary(_))) => {
                tracing::warn!("ignoring a binary frame: the protocol is JSON text");
                Self::Skip
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => Self::Skip,
        }
    }

    fn parse(text: &str) -> Self {
        match serde_json::from_str::<ServerFrame>(text) {
            Ok(frame) => Self::Frame(frame),
            Err(error) => {
                let start: String = text.chars().take(200).collect();
                tracing::warn!(%error, frame = %start, "ignoring an unparsable server frame");
                Self::Skip
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_classified() {
        let pong = Incoming::from_read(Some(Ok(Message::text(r#"{"type":"pong","id":"r1"}"#))));
        assert!(matches!(pong, Incoming::Frame(ServerFrame::Pong { id }) if id == "r1"));
        let unknown = Incoming::from_read(Some(Ok(Message::text(r#"{"type":"future.thing"}"#))));
        assert!(matches!(unknown, Incoming::Skip));
        let close = CloseFrame {
            code: CloseCode::from(4002),
            reason: "revoked".into(),
        };
        let closed = Incoming::from_read(Some(Ok(Message::Close(Some(close)))));
        assert!(
            matches!(closed, Incoming::Closed { code: Some(4002), reason } if reason == "revoked")
        );
        assert!(matches!(
            Incoming::from_read(None),
            Incoming::Closed { code: None, .. }
        ));
    }
}
