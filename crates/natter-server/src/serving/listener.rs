//! The listening socket, with an accept queue deep enough for a reconnect storm.
//!
//! `tokio::net::TcpListener::bind` listens with a backlog of 128 (mio follows the standard
//! library). When thousands of clients come back at once (a node restarted, a network
//! blipped), connections whose handshake the kernel completed wait in that queue until the
//! accept loop takes them; past 128 the kernel drops the handshake's last step and the client
//! retransmits its SYN a second later, then three, then seven. Measured with `natter-bench idle`
//! (10,000 clients, 1,000 connecting at once): 1,215 listen overflows and 870 SYN retransmits
//! per run (`nstat`), some connections taking over a second to open while both cores sat 40%
//! idle. The queue asked for here is [`BACKLOG`], which the kernel caps at
//! `net.core.somaxconn` (4,096 by default since Linux 5.4), as Go's and NGINX's servers do.

use std::io;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket};

/// The accept queue asked for; the kernel caps it at `net.core.somaxconn`.
pub const BACKLOG: u32 = 65_535;

/// Listen on `addr` (address reuse on, so a restart does not wait for old connections'
/// TIME_WAIT) with an accept queue of [`BACKLOG`].
pub fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    use tokio::net::TcpStream;

    use super::*;

    /// The kernel's view of a listening socket: (connections waiting to be accepted, the most
    /// it keeps). For a socket in LISTEN, Linux reports them in `tcpi_unacked` and
    /// `tcpi_sacked` (`tcp_get_info`).
    fn accept_queue(listener: &TcpListener) -> (u32, u32) {
        // SAFETY: `tcp_info` is plain data; the kernel writes at most `len` bytes into it.
        let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        // SAFETY: a valid descriptor, and a buffer of `len` bytes.
        let rc = unsafe {
            libc::getsockopt(
                listener.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                (&raw mut info).cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0, "TCP_INFO: {}", io::Error::last_os_error());
        (info.tcpi_unacked, info.tcpi_sacked)
    }

    fn somaxconn() -> u32 {
        std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .expect("somaxconn")
            .trim()
            .parse()
            .expect("a number")
    }

    #[tokio::test]
    async fn many_connections_wait_to_be_accepted_without_being_dropped() {
        let listener = listen("127.0.0.1:0".parse().unwrap()).expect("listen");
        let addr = listener.local_addr().unwrap();
        let (_, most) = accept_queue(&listener);
        assert_eq!(most, BACKLOG.min(somaxconn()));

        // More than the 128 of a plain `TcpListener::bind`, none of them accepted yet.
        let waiting = 256.min(somaxconn() as usize);
        // Past a full queue the kernel drops SYNs and a connect waits for retransmits (1 s,
        // 3 s, 7 s...): bounded here, so that failure comes in seconds, not minutes.
        let mut clients = Vec::with_capacity(waiting);
        for _ in 0..waiting {
            let connect = tokio::time::timeout(Duration::from_secs(20), TcpStream::connect(addr));
            clients.push(connect.await.expect("a SYN was dropped").expect("connect"));
        }
        // The client's side of a handshake ends before the server's side is queued; on
        // loopback that is a moment. A queue of 128 never holds more than 129.
        let mut queued = 0;
        for _ in 0..200 {
            queued = accept_queue(&listener).0;
            if queued as usize == waiting {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            queued as usize, waiting,
            "connections were dropped from the queue"
        );
        for _ in 0..waiting {
            listener.accept().await.expect("accept");
        }
    }
}
