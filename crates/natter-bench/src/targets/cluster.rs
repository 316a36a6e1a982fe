//! natter-cluster: three natter nodes on PostgreSQL, Cassandra, Redis and Kafka behind NGINX,
//! as `scripts/cluster` runs them. The bench starts the cluster with `scripts/cluster up` (with
//! the bench's limits as `NATTER__*` settings) unless one already answers, and leaves it running
//! after the scenario: `scripts/cluster down` stops it, and its services set. Its directory and
//! port are scripts/cluster's (`NATTER_CLUSTER_DIR`, `NATTER_CLUSTER_PORT`); a services set of
//! one's own is chosen as for scripts/cluster (docs/services.md).
//!
//! The cluster is not fresh for every scenario, so each setup registers users under a prefix of
//! its own. CPU and RSS are the three nodes' summed (NGINX and the servers are not counted).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use async_trait::async_trait;

use super::natter::{self, natter_env};
use super::{Bins, Kind, Setup, Target};
use crate::conn::{Identity, ResumeState, Ws};
use crate::track::Tracker;
use crate::world::{RoomSpec, World};

const NODES: [u32; 3] = [1, 2, 3];
/// Setups against this cluster in this run (part of each user name prefix).
static SETUPS: AtomicU32 = AtomicU32::new(0);

/// The bench's natter flags as settings, for nodes started by `scripts/cluster`.
fn cluster_env() -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("NATTER__LIMITS__SENDS_PER_SECOND", "1000000"),
        ("NATTER__LIMITS__AUTH_PER_MINUTE", "100000000"),
        ("NATTER__LIMITS__AUTH_BURST", "100000000"),
        ("NATTER__LIMITS__LOGIN_PER_ADDRESS_PER_MINUTE", "100000000"),
        ("NATTER__LIMITS__LOGIN_PER_ADDRESS_BURST", "100000000"),
        ("NATTER__AUTH__ARGON2_MEMORY_KIB", "64"),
        ("NATTER__LIMITS__WS_IDLE_TIMEOUT_MS", "3600000"),
        ("NATTER__LIMITS__WS_OUTBOUND_QUEUE", "8192"),
        ("RUST_LOG", "warn"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    env.extend(natter_env());
    env
}

fn cluster_dir() -> PathBuf {
    std::env::var_os("NATTER_CLUSTER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/natter-cluster"))
}

fn cluster_port() -> anyhow::Result<u16> {
    match std::env::var("NATTER_CLUSTER_PORT") {
        Ok(port) => port.parse().context("NATTER_CLUSTER_PORT"),
        Err(_) => Ok(58080),
    }
}

/// The live node pids of the cluster's directory.
fn node_pids() -> Vec<u32> {
    NODES
        .iter()
        .filter_map(|n| {
            let text = std::fs::read_to_string(cluster_dir().join(format!("node-{n}/pid"))).ok()?;
            let pid: u32 = text.trim().parse().ok()?;
            std::path::Path::new(&format!("/proc/{pid}"))
                .exists()
                .then_some(pid)
        })
        .collect()
}

pub struct Cluster {
    addr: SocketAddr,
    pids: Vec<u32>,
}

impl Cluster {
    /// Attaches to the running cluster, or starts it with `scripts/cluster up`.
    pub async fn start(bins: &Bins) -> anyhow::Result<Self> {
        let addr = SocketAddr::from(([127, 0, 0, 1], cluster_port()?));
        if node_pids().len() < NODES.len() {
            let started = Instant::now();
            let status = tokio::process::Command::new(&bins.cluster_script)
                .arg("up")
                .env("NATTER_BIN", &bins.natter)
                .envs(cluster_env())
                .stdin(std::process::Stdio::null())
                .status()
                .await
                .with_context(|| format!("running {} up", bins.cluster_script.display()))?;
            if !status.success() {
                bail!("{} up failed: {status}", bins.cluster_script.display());
            }
            eprintln!(
                "[natter-cluster] started by scripts/cluster in {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
        let pids = node_pids();
        if pids.len() < NODES.len() {
            bail!(
                "only {} of 3 nodes running in {}",
                pids.len(),
                cluster_dir().display()
            );
        }
        super::wait_for_port(addr).await?;
        Ok(Self { addr, pids })
    }
}

#[async_trait]
impl Target for Cluster {
    fn kind(&self) -> Kind {
        Kind::NatterCluster
    }

    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn pids(&self) -> Vec<u32> {
        self.pids.clone()
    }

    fn base_url(&self) -> Option<String> {
        Some(format!("http://{}", self.addr))
    }

    fn resumes(&self) -> bool {
        true
    }

    async fn setup(&self, n_users: usize, rooms: &[RoomSpec]) -> anyhow::Result<Setup> {
        let epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs();
        let prefix = format!(
            "c{}x{}u",
            epoch % 100_000_000,
            SETUPS.fetch_add(1, Ordering::Relaxed)
        );
        let base_url = format!("http://{}", self.addr);
        natter::setup(&base_url, &prefix, n_users, rooms).await
    }

    fn ws_url(&self, _ident: &Identity, _room_names: &[String]) -> String {
        natter::ws_url(self.addr)
    }

    async fn authenticate(
        &self,
        ws: &mut Ws,
        ident: &Identity,
        room_names: &[String],
        resume: &mut ResumeState,
    ) -> anyhow::Result<usize> {
        natter::hello(ws, ident, room_names, resume).await
    }

    fn publish_frame(&self, room_name: &str, g: u64, text: &str, run_tag: &str) -> String {
        natter::publish_frame(room_name, g, text, run_tag)
    }

    fn on_text(&self, tracker: &Tracker, shard: usize, text: &str) -> Option<&'static str> {
        natter::on_text(tracker, shard, text)
    }

    async fn send_aside(&self, world: &World, room: usize, text: &str) -> anyhow::Result<()> {
        natter::send_aside(world, room, text).await
    }

    /// The cluster stays up for the next scenario (`scripts/cluster down` stops it).
    async fn stop(&self) {}
}
