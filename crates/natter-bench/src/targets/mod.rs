//! The servers under test behind one trait, so that each scenario is written once for every
//! peer: natter (the release binary, embedded storage, a temporary data directory), the bare Bun
//! relay and Centrifugo, each started fresh for every scenario on 127.0.0.1 and killed after it,
//! and natter-cluster (three nodes behind NGINX, `scripts/cluster`; see `cluster`), kept running.
//!
//! A [`Target`] knows its processes (for CPU and RSS), how to set up users and rooms, how a
//! client connects and authenticates, how it publishes and how a delivery looks on the wire.
//! [`Server`] is the process underneath (also used directly by `media`, `push` and the soak).

pub mod bun;
mod centrifugo;
mod cluster;
mod natter;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use async_trait::async_trait;
use tokio::process::{Child, Command};

use crate::conn::{Identity, ResumeState, Ws};
use crate::procfs::{self, ProcSample};
use crate::track::Tracker;
use crate::world::{RoomSpec, World};

pub use natter::{natter_env, natter_flags};

/// Where the binaries are (and what the relay is given to relay).
#[derive(Debug, Clone)]
pub struct Bins {
    pub natter: PathBuf,
    pub bun: PathBuf,
    pub relay_js: PathBuf,
    pub relay_frame: bun::RelayFrame,
    pub centrifugo: PathBuf,
    /// scripts/cluster, which starts the natter-cluster target.
    pub cluster_script: PathBuf,
}

/// Which server a scenario runs against (`--targets`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Natter,
    Bun,
    Centrifugo,
    /// Three natter nodes behind NGINX on the scale-out backends (`scripts/cluster`).
    NatterCluster,
}

impl Kind {
    pub fn parse(name: &str) -> anyhow::Result<Self> {
        Ok(match name {
            "natter" => Kind::Natter,
            "bun" => Kind::Bun,
            "centrifugo" => Kind::Centrifugo,
            "natter-cluster" => Kind::NatterCluster,
            other => bail!("unknown target {other}"),
        })
    }

    /// The name in the results (a column of the tables).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Natter => "natter",
            Kind::Bun => "bun",
            Kind::Centrifugo => "centrifugo",
            Kind::NatterCluster => "natter-cluster",
        }
    }

    /// The binary this target needs, to report a peer that is not installed.
    pub fn binary(self, bins: &Bins) -> &Path {
        match self {
            Kind::Natter => &bins.natter,
            Kind::Bun => &bins.bun,
            Kind::Centrifugo => &bins.centrifugo,
            Kind::NatterCluster => &bins.cluster_script,
        }
    }

    /// Starts a fresh server of this kind.
    pub async fn start(self, bins: &Bins) -> anyhow::Result<Arc<dyn Target>> {
        Ok(match self {
            Kind::Natter => Arc::new(natter::Natter::new(Server::start(self, bins).await?)),
            Kind::Bun => Arc::new(bun::Relay {
                server: Server::start(self, bins).await?,
                frame: bins.relay_frame,
            }),
            Kind::Centrifugo => Arc::new(centrifugo::Centrifugo {
                server: Server::start(self, bins).await?,
            }),
            Kind::NatterCluster => Arc::new(cluster::Cluster::start(bins).await?),
        })
    }
}

/// What `setup` created: per user a credential, per room its wire name.
pub struct Setup {
    /// natter access token, Centrifugo JWT, nothing for the relay.
    pub tokens: Vec<String>,
    /// A conversation id for natter, `r<i>` for the peers.
    pub room_names: Vec<String>,
    /// natter only: a REST client per user, for setup-time writes in scenarios.
    pub clients: Vec<natter_sdk::Client>,
}

/// One server under test, as every scenario sees it.
#[async_trait]
pub trait Target: Send + Sync {
    fn kind(&self) -> Kind;

    fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// Where clients connect.
    fn addr(&self) -> SocketAddr;

    /// The server's processes: their CPU is summed, and so is their RSS.
    fn pids(&self) -> Vec<u32>;

    fn sample(&self) -> ProcSample {
        procfs::sample_all(&self.pids())
    }

    /// The directory the server keeps its data in (the disk its writes wait for), if any.
    fn data_dir(&self) -> Option<PathBuf> {
        None
    }

    /// The REST API's base URL (natter), for history pages.
    fn base_url(&self) -> Option<String> {
        None
    }

    /// Whether a reconnecting client is sent what it missed.
    fn resumes(&self) -> bool {
        false
    }

    /// Registers `n_users` users and creates `rooms` (natter), or names them (peers).
    async fn setup(&self, n_users: usize, rooms: &[RoomSpec]) -> anyhow::Result<Setup>;

    /// The WebSocket URL a user's connection opens.
    fn ws_url(&self, ident: &Identity, room_names: &[String]) -> String;

    /// After the handshake: authenticate and subscribe (resuming where the protocol can).
    /// Returns how many frames were replayed before the answer.
    async fn authenticate(
        &self,
        ws: &mut Ws,
        ident: &Identity,
        room_names: &[String],
        resume: &mut ResumeState,
    ) -> anyhow::Result<usize>;

    /// The text frame that publishes `text` into a room; `g` is the message's index in the run.
    fn publish_frame(&self, room_name: &str, g: u64, text: &str, run_tag: &str) -> String;

    /// Accounts for one text frame a client received; maybe returns an answer to send (a pong).
    fn on_text(&self, tracker: &Tracker, shard: usize, text: &str) -> Option<&'static str>;

    /// Sends `text` into `room` outside the clients' connections (while they are away).
    async fn send_aside(&self, world: &World, room: usize, text: &str) -> anyhow::Result<()> {
        let _ = (world, room, text);
        bail!("{} cannot send outside a connection", self.name())
    }

    async fn stop(&self);
}

/// A server process in a temporary directory of its own.
pub struct Server {
    pub addr: SocketAddr,
    pub pid: u32,
    child: tokio::sync::Mutex<Child>,
    dir: tempfile::TempDir,
}

impl Server {
    pub async fn start(kind: Kind, bins: &Bins) -> anyhow::Result<Self> {
        Self::start_with_env(kind, bins, &[]).await
    }

    /// [`start`](Self::start) with extra environment for natter (`NATTER__...` settings).
    pub async fn start_with_env(
        kind: Kind,
        bins: &Bins,
        env: &[(String, String)],
    ) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("natter-bench-").tempdir()?;
        let log = std::fs::File::create(dir.path().join("server.log"))?;
        let (child, addr) = match kind {
            Kind::Natter => natter::spawn(bins, dir.path(), &log, env).await?,
            Kind::Bun => bun::spawn(bins, &log)?,
            Kind::Centrifugo => centrifugo::spawn(bins, dir.path(), &log)?,
            Kind::NatterCluster => bail!("the cluster is three processes: see Kind::start"),
        };
        wait_for_port(addr).await.with_context(|| {
            format!(
                "{} did not start; log in {}",
                kind.name(),
                dir.path().display()
            )
        })?;
        let pid = child.id().context("server exited at once")?;
        Ok(Self {
            addr,
            pid,
            child: tokio::sync::Mutex::new(child),
            dir,
        })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The server's temporary directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub async fn stop(self) {
        self.kill().await;
    }

    /// Kills the process and waits for it (its directory goes when the `Server` is dropped).
    pub async fn kill(&self) {
        let _ = self.child.lock().await.kill().await;
    }
}

pub fn spawn(mut cmd: Command, log: &std::fs::File) -> anyhow::Result<Child> {
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log.try_clone()?)
        .kill_on_drop(true);
    Ok(cmd.spawn()?)
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

pub async fn wait_for_natter_addr(log: &Path) -> anyhow::Result<SocketAddr> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(rest) = text.split("natter listening on http://").nth(1) {
            let addr = rest.lines().next().unwrap_or_default().trim();
            return Ok(addr.parse()?);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!(
        "natter did not print its address; log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    )
}

async fn wait_for_port(addr: SocketAddr) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!("nothing listens on {addr}")
}

/// `<binary> <args>`'s first output line, for the results' version table.
pub fn version_of(bin: &Path, args: &[&str]) -> String {
    std::process::Command::new(bin)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_string()
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "not installed".into())
}

/// Channel names of the peers' rooms.
fn peer_room_names(n: usize) -> Vec<String> {
    (0..n).map(|r| format!("r{r}")).collect()
}
