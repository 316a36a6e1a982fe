//! A TCP proxy in front of a test server that cuts, once per arming, the connection carrying
//! the N-th byte in one direction: a connection dropped at an exact point of a transfer (the
//! middle of a `PATCH` body, of a download), with no sleeps and no timing.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

/// Bytes left before the cut in one direction; `None`: not armed.
type Budget = Arc<Mutex<Option<u64>>>;

pub struct Cutter {
    /// `http://127.0.0.1:<port>` of the proxy.
    pub base_url: String,
    upstream: Budget,
    downstream: Budget,
    cuts: Arc<AtomicU32>,
    accept: tokio::task::JoinHandle<()>,
}

impl Cutter {
    /// A proxy to the server at `base_url` (`http://host:port`).
    pub async fn start(base_url: &str) -> Self {
        let target = base_url.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (upstream, downstream): (Budget, Budget) = Default::default();
        let cuts = Arc::new(AtomicU32::new(0));
        let accept = {
            let (upstream, downstream, cuts) = (upstream.clone(), downstream.clone(), cuts.clone());
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    let Ok(server) = TcpStream::connect(&target).await else {
                        continue;
                    };
                    let (upstream, downstream, cuts) =
                        (upstream.clone(), downstream.clone(), cuts.clone());
                    tokio::spawn(async move {
                        let (client_read, client_write) = client.into_split();
                        let (server_read, server_write) = server.into_split();
                        // Whichever way ends or is cut first closes both sockets.
                        let cut = tokio::select! {
                            cut = pump(client_read, server_write, &upstream) => cut,
                            cut = pump(server_read, client_write, &downstream) => cut,
                        };
                        if cut {
                            cuts.fetch_add(1, Ordering::SeqCst);
                        }
                    });
                }
            })
        };
        Self {
            base_url: format!("http://127.0.0.1:{port}"),
            upstream,
            downstream,
            cuts,
            accept,
        }
    }

    /// Cuts the connection that carries the byte after the next `bytes` client-to-server bytes.
    pub fn cut_upstream_after(&self, bytes: u64) {
        *self.upstream.lock().unwrap() = Some(bytes);
    }

    /// Cuts the connection that carries the byte after the next `bytes` server-to-client bytes.
    pub fn cut_downstream_after(&self, bytes: u64) {
        *self.downstream.lock().unwrap() = Some(bytes);
    }

    /// Connections cut so far.
    pub fn cuts(&self) -> u32 {
        self.cuts.load(Ordering::SeqCst)
    }
}

impl Drop for Cutter {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Copies one way until the end, or until the armed budget runs out (true: cut there).
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, budget: &Budget) -> bool {
    let mut buf = vec![0; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        let pass = {
            let mut left = budget.lock().unwrap();
            match *left {
                Some(budget) if (n as u64) > budget => {
                    *left = None;
                    Some(budget as usize)
                }
                Some(budget) => {
                    *left = Some(budget - n as u64);
                    None
                }
                None => None,
            }
        };
        if let Some(pass) = pass {
            let _ = to.write_all(&buf[..pass]).await;
            let _ = to.flush().await;
            return true;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return false;
        }
    }
}
