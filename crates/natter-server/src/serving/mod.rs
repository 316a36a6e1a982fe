//! The HTTP accept loop (hyper, HTTP/1.1 with upgrades), in place of `axum::serve`, because the
//! public listener must survive sockets that never send a request: every connection passes
//! [`admission`] (overall and per-address caps, checked before anything is read), and hyper's
//! header-read timeout cuts a socket whose request head is not complete in time, whether it is
//! silent, trickling (slowloris) or idle between keep-alive requests.
//!
//! Graceful stop: the listener closes, idle connections close, in-flight requests finish (bounded
//! by [`DRAIN_LIMIT`]); upgraded WebSockets are closed by the gateway with 1001.

pub mod admission;
pub mod body;
pub mod listener;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::Service;

use admission::{Admission, Admitted};

/// How long a stop waits for in-flight requests before dropping them.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// How to serve one listener.
#[derive(Clone)]
pub struct Serving {
    pub admission: Arc<Admission>,
    pub header_timeout: Duration,
}

/// Serve `app` on `listener` until `stop` turns true, then drain.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    serving: Serving,
    mut stop: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    // Over a limit: dropped here, closed before anything is read.
                    let Some(ticket) = serving.admission.admit(peer.ip()) else {
                        continue;
                    };
                    // Nagle off: events are small frames written as they happen; with Nagle
                    // on, a frame written while an earlier one is unacknowledged waits for the
                    // peer's delayed ACK (~40 ms).
                    if let Err(err) = stream.set_nodelay(true) {
                        tracing::debug!(%err, "cannot set TCP_NODELAY");
                    }
                    let io = Admitted::new(stream, ticket);
                    let header_timeout = serving.header_timeout;
                    connections.spawn(connection(io, peer, app.clone(), header_timeout, stop.clone()));
                }
                Err(err) => {
                    // Out of descriptors or memory: back off rather than spin.
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(DRAIN_LIMIT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            left = connections.len(),
            "stopping with requests still in flight"
        );
        connections.abort_all();
    }
}

async fn connection(
    io: Admitted,
    peer: SocketAddr,
    app: Router,
    header_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let activity = io.activity();
    let evicted = io.evicted();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        activity.busy();
        let activity = activity.clone();
        let mut app = app.clone();
        async move {
            let response = app.call(request).await.unwrap_or_else(|e| match e {});
            // An upgraded connection is a WebSocket now: never waiting for a request again.
            if response.status() != StatusCode::SWITCHING_PROTOCOLS {
                activity.waiting();
            }
            Ok::<_, Infallible>(response)
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        _ = evicted.notified() => Ok(()),
        _ = stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(err) = result {
        tracing::debug!(%err, %peer, "connection ended with an error");
    }
}

/// Resolves once the stop flag is up (the watch guard is not held across an await).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
