//! Which TCP connections a node takes: at most `max_sockets` at once, and at most
//! `max_sockets_per_address` from one client address, so that silent or trickling sockets from a
//! few hosts cannot take every file descriptor. A connection over either limit is closed as soon
//! as it is accepted, before anything is read from it.
//!
//! The count is held by a [`Ticket`] that lives inside the connection's I/O ([`Admitted`]), so a
//! connection upgraded to a WebSocket keeps counting until the socket closes.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The counts of open connections, overall and per client address.
pub struct Admission {
    max_total: usize,
    per_address: usize,
    /// Trusted proxies carry many clients: only the overall limit applies to them.
    exempt: Vec<IpAddr>,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

impl Admission {
    pub fn new(max_total: usize, per_address: usize, exempt: Vec<IpAddr>) -> Arc<Self> {
        Arc::new(Self {
            max_total,
            per_address,
            exempt,
            open: Mutex::default(),
        })
    }

    /// A ticket for one more connection from `peer`, or `None` when a limit is reached.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Option<Ticket> {
        let key = address_key(peer);
        let exempt = self.exempt.contains(&peer);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.total >= self.max_total {
            return None;
        }
        let from_peer = open.by_address.entry(key).or_default();
        if !exempt && *from_peer >= self.per_address {
            return None;
        }
        *from_peer += 1;
        open.total += 1;
        Some(Ticket {
            admission: self.clone(),
            key,
        })
    }

    fn release(&self, key: IpAddr) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(count) = open.by_address.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                open.by_address.remove(&key);
            }
        }
    }
}

/// IPv4 addresses count one by one; IPv6 ones by /64, the block one host usually holds.
fn address_key(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V4(_) => peer,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(v6.to_bits() & !u128::from(u64::MAX))),
        },
    }
}

/// One admitted connection; dropping it frees the slot.
pub struct Ticket {
    admission: Arc<Admission>,
    key: IpAddr,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.admission.release(self.key);
    }
}

/// A TCP stream that holds its [`Ticket`] for as long as it is open.
pub struct Admitted {
    stream: TcpStream,
    /// Held, never read: dropped with the stream.
    _ticket: Ticket,
}

impl Admitted {
    pub fn new(stream: TcpStream, ticket: Ticket) -> Self {
        Self {
            stream,
            _ticket: ticket,
        }
    }
}

impl AsyncRead for Admitted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Admitted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// The overall limit, lowered to 90% of the open-file limit (raised to its hard maximum
/// first), so the process keeps descriptors for its stores and logs and accepting never fails
/// for want of one.
pub fn socket_budget(configured: usize) -> usize {
    let files = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(files) => files,
        Err(err) => {
            tracing::warn!(%err, "cannot read the open-file limit");
            return configured;
        }
    };
    let usable = usize::try_from(files / 10 * 9).unwrap_or(usize::MAX).max(1);
    if usable < configured {
        tracing::info!(
            configured,
            usable,
            "limits.max_sockets lowered to fit the open-file limit"
        );
    }
    configured.min(usable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_address_and_overall_and_frees_on_drop() {
        let proxy: IpAddr = "10.0.0.9".parse().unwrap();
        let admission = Admission::new(4, 2, vec![proxy]);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let first = admission.admit(a).expect("first");
        let _second = admission.admit(a).expect("second");
        assert!(admission.admit(a).is_none(), "third from one address");
        drop(first);
        let _third = admission.admit(a).expect("a slot was freed");
        let _p1 = admission.admit(proxy).expect("proxy exempt");
        let _p2 = admission.admit(proxy).expect("proxy exempt");
        assert!(admission.admit(proxy).is_none(), "overall limit");
    }

    #[test]
    fn ipv6_counts_per_64() {
        let admission = Admission::new(10, 1, Vec::new());
        let _one = admission.admit("2001:db8::1".parse().unwrap()).unwrap();
        assert!(admission.admit("2001:db8::2".parse().unwrap()).is_none());
        assert!(
            admission
                .admit("2001:db8:0:1::1".parse().unwrap())
                .is_some()
        );
    }
}
