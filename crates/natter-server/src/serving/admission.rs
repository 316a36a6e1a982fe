//! Which TCP connections a node takes: at most `max_sockets_per_address` from one client
//! address, so that silent or trickling sockets from a few hosts cannot take every file
//! descriptor, and at most `max_sockets` in all. A connection over the per-address limit is
//! closed as soon as it is accepted, before anything is read from it. At the overall limit a new
//! connection takes the place of the one that has waited longest for a request head (silent,
//! trickling, or idle between keep-alive requests), so many attacking addresses cannot lock
//! healthy clients out either; only when no connection is waiting is the new one closed.
//!
//! The count is held by a [`Ticket`] that lives inside the connection's I/O ([`Admitted`]), so a
//! connection upgraded to a WebSocket keeps counting until the socket closes (then as a bare
//! [`Slot`]: a WebSocket never waits for a request head, so it is never evicted and keeps nothing
//! of the eviction's).

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// The counts of open connections, overall and per client address, and which are waiting.
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
    /// Source of connection ids and waiting stamps (increasing, so the first stamp is the oldest).
    next: u64,
    /// Connections waiting for a request head, oldest first: stamp to connection id.
    waiting: BTreeMap<u64, u64>,
    connections: HashMap<u64, Connection>,
}

struct Connection {
    /// Its key in `waiting` while it waits for a request head.
    waiting_since: Option<u64>,
    evict: Arc<Notify>,
}

impl Open {
    fn stamp(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// Forget connection `id`'s eviction bookkeeping (its entry, its place in the waiting line).
    fn forget(&mut self, id: u64) {
        if let Some(stamp) = self.connections.remove(&id).and_then(|c| c.waiting_since) {
            self.waiting.remove(&stamp);
        }
    }
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

    fn lock(&self) -> MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A ticket for one more connection from `peer`, or `None` when it must be closed. At the
    /// overall limit the connection waiting longest is told to close (see [`Ticket::evicted`]).
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Option<Ticket> {
        let key = address_key(peer);
        let mut open = self.lock();
        let from_peer = open.by_address.get(&key).copied().unwrap_or(0);
        if !self.exempt.contains(&peer) && from_peer >= self.per_address {
            return None;
        }
        if open.total >= self.max_total {
            let (_, oldest) = open.waiting.pop_first()?;
            if let Some(connection) = open.connections.get_mut(&oldest) {
                connection.waiting_since = None;
                connection.evict.notify_one();
            }
        }
        *open.by_address.entry(key).or_default() += 1;
        open.total += 1;
        let id = open.stamp();
        let stamp = open.stamp();
        open.waiting.insert(stamp, id);
        let evict = Arc::new(Notify::new());
        open.connections.insert(
            id,
            Connection {
                waiting_since: Some(stamp),
                evict: evict.clone(),
            },
        );
        Some(Ticket {
            slot: Slot {
                admission: self.clone(),
                key,
                id,
            },
            evict,
        })
    }

    /// Connection `id` no longer serves requests: it no longer waits, and is never evicted.
    fn upgraded(&self, id: u64) {
        self.lock().forget(id);
    }

    fn busy(&self, id: u64) {
        let mut open = self.lock();
        if let Some(stamp) = open
            .connections
            .get_mut(&id)
            .and_then(|c| c.waiting_since.take())
        {
            open.waiting.remove(&stamp);
        }
    }

    fn waiting(&self, id: u64) {
        let mut open = self.lock();
        let stamp = open.stamp();
        if let Some(connection) = open.connections.get_mut(&id)
            && connection.waiting_since.is_none()
        {
            connection.waiting_since = Some(stamp);
            open.waiting.insert(stamp, id);
        }
    }

    fn release(&self, key: IpAddr, id: u64) {
        let mut open = self.lock();
        open.total = open.total.saturating_sub(1);
        if let Some(count) = open.by_address.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                open.by_address.remove(&key);
            }
        }
        open.forget(id);
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

/// One admitted connection serving requests; dropping it frees its slot.
pub struct Ticket {
    slot: Slot,
    evict: Arc<Notify>,
}

/// One admitted connection's place in the counts; dropping it frees the place.
pub struct Slot {
    admission: Arc<Admission>,
    key: IpAddr,
    id: u64,
}

impl Ticket {
    /// The handle the connection's request handling uses to say when it is busy.
    pub fn activity(&self) -> Activity {
        Activity {
            admission: self.slot.admission.clone(),
            id: self.slot.id,
        }
    }

    /// Notified when this connection must close to make room for a new one.
    pub fn evicted(&self) -> Arc<Notify> {
        self.evict.clone()
    }

    /// The connection was upgraded to a WebSocket: it keeps its place in the counts, and
    /// nothing else.
    pub fn into_slot(self) -> Slot {
        self.slot.admission.upgraded(self.slot.id);
        self.slot
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.admission.release(self.key, self.id);
    }
}

/// Marks one connection busy (a request is being answered) or waiting for its next request.
#[derive(Clone)]
pub struct Activity {
    admission: Arc<Admission>,
    id: u64,
}

impl Activity {
    pub fn busy(&self) {
        self.admission.busy(self.id);
    }

    pub fn waiting(&self) {
        self.admission.waiting(self.id);
    }
}

/// A TCP stream that holds its [`Ticket`] for as long as it is open.
pub struct Admitted {
    stream: TcpStream,
    /// Dropped with the stream, freeing its slot.
    ticket: Ticket,
}

impl Admitted {
    pub fn new(stream: TcpStream, ticket: Ticket) -> Self {
        Self { stream, ticket }
    }

    pub fn activity(&self) -> Activity {
        self.ticket.activity()
    }

    pub fn evicted(&self) -> Arc<Notify> {
        self.ticket.evicted()
    }

    /// The stream and its slot, for a connection upgraded to a WebSocket (which drives the
    /// stream itself and keeps the slot as long as it is open).
    pub fn into_parts(self) -> (TcpStream, Slot) {
        (self.stream, self.ticket.into_slot())
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

/// Descriptors kept back from sockets, at most: the stores' files, logs, uploads being written,
/// the pools to other servers. A tenth of the open-file limit when that is smaller.
const RESERVED_FILES_MAX: u64 = 512;

/// The overall limit, lowered to fit the open-file limit (raised to its hard maximum first)
/// less what [`sockets_within`] keeps back, so accepting never fails for want of a descriptor.
pub fn socket_budget(configured: usize) -> usize {
    let files = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(files) => files,
        Err(err) => {
            tracing::warn!(%err, "cannot read the open-file limit");
            return configured;
        }
    };
    let usable = sockets_within(files);
    if usable < configured {
        tracing::info!(
            configured,
            usable,
            "limits.max_sockets lowered to fit the open-file limit"
        );
    }
    configured.min(usable)
}

/// Sockets that fit an open-file limit of `files`: all but a tenth of it, or but
/// [`RESERVED_FILES_MAX`] when a tenth is more (a fixed number of files, not a share of them).
fn sockets_within(files: u64) -> usize {
    let reserved = (files / 10).min(RESERVED_FILES_MAX);
    usize::try_from(files - reserved)
        .unwrap_or(usize::MAX)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_leave_a_tenth_of_a_small_file_limit_and_a_fixed_reserve_of_a_large_one() {
        assert_eq!(sockets_within(1_024), 922);
        assert_eq!(sockets_within(5_120), 4_608);
        assert_eq!(sockets_within(20_000), 19_488);
        assert_eq!(sockets_within(1_048_576), 1_048_064);
        assert_eq!(sockets_within(5), 5);
        assert_eq!(sockets_within(0), 1);
    }

    #[test]
    fn limits_per_address_and_overall_and_frees_on_drop() {
        let proxy: IpAddr = "10.0.0.9".parse().unwrap();
        let admission = Admission::new(4, 2, vec![proxy]);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let first = admission.admit(a).expect("first");
        let second = admission.admit(a).expect("second");
        assert!(admission.admit(a).is_none(), "third from one address");
        drop(first);
        let third = admission.admit(a).expect("a slot was freed");
        let p1 = admission.admit(proxy).expect("proxy exempt");
        let p2 = admission.admit(proxy).expect("proxy exempt");
        for ticket in [&second, &third, &p1, &p2] {
            ticket.activity().busy();
        }
        assert!(
            admission.admit(proxy).is_none(),
            "overall limit, every connection busy"
        );
    }

    #[test]
    fn at_the_overall_limit_the_longest_waiting_connection_makes_room() {
        let admission = Admission::new(2, 10, Vec::new());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let silent = admission.admit(a).unwrap();
        let served = admission.admit(a).unwrap();
        served.activity().busy();
        let newcomer = admission.admit(a).expect("room made");
        let evicted = silent.evicted();
        assert!(
            futures_util::FutureExt::now_or_never(evicted.notified()).is_some(),
            "the silent one is told to close"
        );
        drop(silent);
        newcomer.activity().busy();
        assert!(
            admission.admit(a).is_none(),
            "every connection busy: refused"
        );
        served.activity().waiting();
        assert!(admission.admit(a).is_some(), "a connection waits again");
    }

    #[test]
    fn an_upgraded_connection_counts_until_dropped_and_is_never_evicted() {
        let admission = Admission::new(2, 10, Vec::new());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let socket = admission.admit(a).unwrap().into_slot();
        assert!(
            admission.lock().connections.is_empty(),
            "nothing kept for eviction"
        );
        let waiting = admission.admit(a).unwrap();
        let newcomer = admission.admit(a).expect("the waiting one makes room");
        drop(waiting);
        newcomer.activity().busy();
        assert!(
            admission.admit(a).is_none(),
            "the socket still counts and is not evicted"
        );
        drop(socket);
        assert!(admission.admit(a).is_some(), "its place freed");
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
