//! A network namespace for one natter node, so a test can partition it from one shared server
//! at the kernel level while the others stay reachable.
//!
//! The shared servers listen on the root namespace's 127.0.0.1 only, and Kafka and Cassandra
//! advertise 127.0.0.1 addresses, so the node must see each server on its *own* loopback with
//! the same port. Each server gets a veth pair of its own (link-local 169.254.x.y/30 addresses
//! only) and two `socat` forwarders: one inside the namespace (127.0.0.1:PORT to the host end of
//! the pair) and one outside (the host end to the real 127.0.0.1:PORT). Cutting a server is
//! taking the host end of its pair down: the namespace end keeps a permanent neighbour entry, so
//! its packets are dropped silently (no reset, no "unreachable"), as in a real partition, and the
//! other servers' pairs are untouched. The node's HTTP port is forwarded the other way on a pair
//! of its own, so NGINX and clients reach it from the root namespace. Everything is removed on
//! drop, also after a panic.

use std::net::Ipv4Addr;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long a forwarder may take to listen, and a command to finish.
const READY: Duration = Duration::from_secs(10);

/// One veth pair: `host` in the root namespace, its peer inside the namespace.
struct Link {
    name: String,
    host: String,
    host_addr: Ipv4Addr,
    ns_addr: Ipv4Addr,
}

/// A network namespace with forwarders; torn down on drop.
pub struct Netns {
    name: String,
    /// This namespace's number within the test process (names must be unique).
    serial: u32,
    /// A free third octet of 169.254.x.0/24 that this namespace's /30 pairs use.
    octet: u8,
    links: Vec<Link>,
    forwarders: Vec<Child>,
}

/// Run an `ip` command (or another from iproute2) and insist that it succeeds.
fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("run {program} (apt-get install iproute2): {err}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A third octet no interface of the root namespace uses in 169.254.0.0/16, so our /30 pairs
/// cannot clash with another test process's.
fn free_octet(seed: u32) -> u8 {
    let out = Command::new("ip")
        .args(["-o", "-4", "addr", "show"])
        .output()
        .expect("ip addr");
    let used = String::from_utf8_lossy(&out.stdout).into_owned();
    (0..254)
        .map(|k| ((seed % 253 + k * 37) % 253 + 1) as u8)
        .find(|o| !used.contains(&format!("169.254.{o}.")))
        .expect("a free 169.254.x.0/24")
}

impl Netns {
    /// A new namespace, named after this process and a counter, with its loopback up.
    pub fn create() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let name = format!("natter-{pid}-{n}");
        let octet = free_octet(pid.wrapping_mul(31).wrapping_add(n));
        run("ip", &["netns", "add", &name]);
        let netns = Self {
            name,
            serial: n,
            octet,
            links: Vec::new(),
            forwarders: Vec::new(),
        };
        run("ip", &["-n", &netns.name, "link", "set", "lo", "up"]);
        netns
    }

    /// The command prefix that runs a program inside the namespace.
    pub fn wrapper(&self) -> Vec<String> {
        ["ip", "netns", "exec", &self.name]
            .map(str::to_owned)
            .to_vec()
    }

    /// A new veth pair with a /30 of its own; the namespace end knows the host end's MAC
    /// permanently, so a cut host end drops packets silently instead of failing ARP.
    fn link(&mut self, name: &str) -> usize {
        let i = self.links.len();
        assert!(i < 60, "too many links");
        let base = (i * 4) as u8;
        let host_addr = Ipv4Addr::new(169, 254, self.octet, base + 1);
        let ns_addr = Ipv4Addr::new(169, 254, self.octet, base + 2);
        // Interface names have at most 15 bytes: "nh", the pid, the namespace's counter, `i`.
        let host = format!("nh{}-{}-{i}", std::process::id(), self.serial);
        let inner = format!("eth{i}");
        run(
            "ip",
            &[
                "link", "add", &host, "type", "veth", "peer", "name", &inner, "netns", &self.name,
            ],
        );
        self.links.push(Link {
            name: name.to_owned(),
            host: host.clone(),
            host_addr,
            ns_addr,
        });
        run(
            "ip",
            &["addr", "add", &format!("{host_addr}/30"), "dev", &host],
        );
        run("ip", &["link", "set", &host, "up"]);
        let ns = ["-n", self.name.as_str()];
        let ns_cidr = format!("{ns_addr}/30");
        run(
            "ip",
            &[&ns[..], &["addr", "add", &ns_cidr, "dev", &inner]].concat(),
        );
        run("ip", &[&ns[..], &["link", "set", &inner, "up"]].concat());
        let mac = std::fs::read_to_string(format!("/sys/class/net/{host}/address"))
            .expect("host end's MAC");
        let host_ip = host_addr.to_string();
        run(
            "ip",
            &[
                &ns[..],
                &[
                    "neigh",
                    "replace",
                    &host_ip,
                    "lladdr",
                    mac.trim(),
                    "dev",
                    &inner,
                    "nud",
                    "permanent",
                ],
            ]
            .concat(),
        );
        i
    }

    /// Start `socat` listening on `listen` (inside the namespace if `inside`) and forwarding each
    /// connection to `to`; waits until it listens.
    fn forward(&mut self, inside: bool, listen: (Ipv4Addr, u16), to: (Ipv4Addr, u16)) {
        let mut command = if inside {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", &self.name, "socat"]);
            c
        } else {
            Command::new("socat")
        };
        let child = command
            .arg(format!(
                "TCP-LISTEN:{},bind={},fork,reuseaddr",
                listen.1, listen.0
            ))
            .arg(format!("TCP:{}:{}", to.0, to.1))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // A group of its own, so drop can end the connections' forked children too.
            .process_group(0)
            .spawn()
            .expect("run socat (apt-get install socat)");
        self.forwarders.push(child);
        self.wait_listening(inside, listen);
    }

    /// Poll `ss` (in the right namespace) until something listens on `addr`, bounded by READY.
    fn wait_listening(&self, inside: bool, addr: (Ipv4Addr, u16)) {
        let wanted = format!("{}:{}", addr.0, addr.1);
        let deadline = Instant::now() + READY;
        loop {
            let out = if inside {
                Command::new("ip")
                    .args(["netns", "exec", &self.name, "ss", "-Hltn"])
                    .output()
            } else {
                Command::new("ss").arg("-Hltn").output()
            }
            .expect("run ss (apt-get install iproute2)");
            if String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .any(|field| field == wanted)
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "socat never listened on {wanted}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Make the root namespace's `127.0.0.1:port` (a shared server) appear on the namespace's
    /// own `127.0.0.1:port`, through a pair that [`Self::cut`] can take down.
    pub fn reach(&mut self, name: &str, port: u16) {
        let i = self.link(name);
        let host_addr = self.links[i].host_addr;
        self.forward(false, (host_addr, port), (Ipv4Addr::LOCALHOST, port));
        self.forward(true, (Ipv4Addr::LOCALHOST, port), (host_addr, port));
    }

    /// Make the namespace's `127.0.0.1:port` (the node's HTTP listener) appear on the root
    /// namespace's `127.0.0.1:port`, through a pair of its own.
    pub fn expose(&mut self, port: u16) {
        let i = self.link("http");
        let ns_addr = self.links[i].ns_addr;
        self.forward(true, (ns_addr, port), (Ipv4Addr::LOCALHOST, port));
        self.forward(false, (Ipv4Addr::LOCALHOST, port), (ns_addr, port));
    }

    fn host_end(&self, name: &str) -> &str {
        &self
            .links
            .iter()
            .find(|l| l.name == name)
            .unwrap_or_else(|| panic!("no link {name}"))
            .host
    }

    /// Partition the namespace from the server `name`: its packets are dropped from now on.
    pub fn cut(&self, name: &str) {
        run("ip", &["link", "set", self.host_end(name), "down"]);
    }

    /// Heal the partition made by [`Self::cut`].
    pub fn heal(&self, name: &str) {
        run("ip", &["link", "set", self.host_end(name), "up"]);
    }
}

impl Drop for Netns {
    /// Stop our forwarders and their forked children (by their own process groups), delete
    /// our pairs and the namespace. Best effort: a failure here must not hide the test's panic.
    fn drop(&mut self) {
        for child in &mut self.forwarders {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
        }
        for link in &self.links {
            let _ = Command::new("ip")
                .args(["link", "del", &link.host])
                .status();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}
