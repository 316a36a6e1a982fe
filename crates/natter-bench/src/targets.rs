//! The servers under test: natter (the release binary, embedded storage, a temporary data
//! directory), the bare Bun relay and Centrifugo, each started fresh for every scenario on
//! 127.0.0.1 and killed after it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

use crate::conn::Proto;
use crate::procfs;

/// Where the binaries are.
#[derive(Debug, Clone)]
pub struct Bins {
    pub natter: PathBuf,
    pub bun: PathBuf,
    pub relay_js: PathBuf,
    pub centrifugo: PathBuf,
}

/// The HS256 secret of Centrifugo's connection tokens (a local throwaway).
pub const CENTRIFUGO_SECRET: &str = "natter-bench-local-secret-not-for-production";

pub struct Server {
    pub proto: Proto,
    pub addr: SocketAddr,
    pub pid: u32,
    child: Child,
    _dir: tempfile::TempDir,
}

/// The natter flags the bench uses (recorded in the results): limits that would throttle a
/// load generator are opened up, and password hashing is cheap so thousands of users register
/// in seconds. Everything else (persistence, queues, fan-out) is the product's default path.
pub fn natter_flags() -> Vec<String> {
    [
        "--sends-per-second",
        "1000000",
        "--auth-per-minute",
        "100000000",
        "--login-per-address-per-minute",
        "100000000",
        "--metrics-listen",
        "",
        "--argon2-memory-kib",
        "64",
        "--ws-idle-timeout-ms",
        "3600000",
        "--ws-outbound-queue",
        "8192",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

impl Server {
    pub async fn start(proto: Proto, bins: &Bins) -> anyhow::Result<Self> {
        Self::start_with_env(proto, bins, &[]).await
    }

    /// [`start`](Self::start) with extra environment for natter (`NATTER__...` settings).
    pub async fn start_with_env(
        proto: Proto,
        bins: &Bins,
        env: &[(String, String)],
    ) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("natter-bench-").tempdir()?;
        let log = std::fs::File::create(dir.path().join("server.log"))?;
        let (child, addr) = match proto {
            Proto::Natter => {
                let mut cmd = Command::new(&bins.natter);
                cmd.arg("serve")
                    .arg("--listen")
                    .arg("127.0.0.1:0")
                    .arg("--data-dir")
                    .arg(dir.path().join("data"));
                cmd.args(natter_flags())
                    .env("RUST_LOG", "warn")
                    .envs(env.iter().map(|(k, v)| (k, v)));
                let child = spawn(cmd, &log)?;
                let addr = wait_for_natter_addr(&dir.path().join("server.log")).await?;
                (child, addr)
            }
            Proto::Bun => {
                let port = free_port()?;
                let mut cmd = Command::new(&bins.bun);
                cmd.arg(&bins.relay_js).env("PORT", port.to_string());
                (spawn(cmd, &log)?, SocketAddr::from(([127, 0, 0, 1], port)))
            }
            Proto::Centrifugo => {
                let port = free_port()?;
                let config = dir.path().join("config.json");
                std::fs::write(&config, centrifugo_config(port).to_string())?;
                let mut cmd = Command::new(&bins.centrifugo);
                cmd.arg("--config").arg(&config).current_dir(dir.path());
                (spawn(cmd, &log)?, SocketAddr::from(([127, 0, 0, 1], port)))
            }
        };
        wait_for_port(addr).await.with_context(|| {
            format!(
                "{} did not start; log in {}",
                proto.name(),
                dir.path().display()
            )
        })?;
        let pid = child.id().context("server exited at once")?;
        Ok(Self {
            proto,
            addr,
            pid,
            child,
            _dir: dir,
        })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn sample(&self) -> procfs::ProcSample {
        procfs::sample(self.pid)
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
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

/// Centrifugo v6: JSON protocol over WebSocket, HS256 connection tokens, clients may subscribe
/// to and publish into any channel without a namespace (so its publish path is the client's, as
/// natter's and the relay's are). No history or recovery: it persists nothing.
pub fn centrifugo_config(port: u16) -> serde_json::Value {
    serde_json::json!({
        "http_server": {"address": "127.0.0.1", "port": port},
        "log": {"level": "error"},
        "client": {
            "token": {"hmac_secret_key": CENTRIFUGO_SECRET},
            "allowed_origins": ["*"],
            "channel_limit": 1024,
            "queue_max_size": 16 * 1024 * 1024
        },
        "channel": {
            "without_namespace": {
                "allow_subscribe_for_client": true,
                "allow_publish_for_client": true
            }
        }
    })
}

/// A connection JWT for Centrifugo user `sub`.
pub fn centrifugo_token(sub: &str) -> anyhow::Result<String> {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        + 24 * 3600;
    let claims = serde_json::json!({"sub": sub, "exp": exp});
    Ok(jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(CENTRIFUGO_SECRET.as_bytes()),
    )?)
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
