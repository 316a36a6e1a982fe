//! The servers of a push run, all pointed at one in-process lab (`Lab::natter_env`), with a
//! pause file the backlog run creates and removes (`notifier.pause_file`):
//!
//! - embedded: one `natter serve` (SQLite, the in-process notifier), as every other scenario
//!   starts it (`targets::Server`); the notifier's CPU is that process's;
//! - cluster: on the servers of `scripts/services` (their `NATTER_TEST_*` addresses, as the e2e
//!   suite reads them), a PostgreSQL database and Cassandra keyspace of the bench's own
//!   (`natter_bench_push`, dropped and migrated first: notifiers send whatever is due in their
//!   database), a Kafka topic and notifier group of this run's own; one node with the `api` and
//!   `gateway` roles that the clients talk to, and `--notifiers` nodes with the `notifier` role
//!   only, whose CPU is the notifier's.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use natter_push_lab::Lab;
use tokio::process::{Child, Command};

use crate::procfs;
use crate::targets::{self, Bins, Kind, Server};

/// The database and keyspace of the cluster runs.
const DATABASE: &str = "natter_bench_push";

pub struct Rig {
    pub lab: Lab,
    /// The URL clients use.
    pub url: String,
    /// The processes whose CPU is the notifier's.
    pub notifier_pids: Vec<u32>,
    pause: PathBuf,
    servers: Servers,
    _dir: tempfile::TempDir,
}

enum Servers {
    Embedded(Box<Server>),
    Cluster(Vec<Child>),
}

impl Rig {
    pub async fn embedded(bins: &Bins) -> anyhow::Result<Self> {
        let (lab, dir, env) = lab().await?;
        let server = Server::start_with_env(Kind::Natter, bins, &env).await?;
        Ok(Self {
            lab,
            url: server.base_url(),
            notifier_pids: vec![server.pid],
            pause: pause_file(dir.path()),
            servers: Servers::Embedded(Box::new(server)),
            _dir: dir,
        })
    }

    pub async fn cluster(bins: &Bins, notifiers: usize) -> anyhow::Result<Self> {
        let (lab, dir, mut env) = lab().await?;
        let config = cluster_config(dir.path())?;
        let postgres = format!("{}/{DATABASE}", postgres_server());
        admin(&format!("DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))?;
        admin(&format!("CREATE DATABASE {DATABASE}"))?;
        let run = std::process::id();
        env.extend([
            ("NATTER_CONFIG".to_owned(), config.display().to_string()),
            ("NATTER__POSTGRES__URL".to_owned(), postgres),
            (
                "NATTER__KAFKA__TOPIC".to_owned(),
                format!("natter.bench.push.{run}"),
            ),
            (
                "NATTER__KAFKA__NOTIFIER_GROUP".to_owned(),
                format!("natter-notifier-bench-{run}"),
            ),
            (
                "NATTER__REDIS__CHANNEL".to_owned(),
                format!("natter:bench:push:{run}"),
            ),
        ]);
        let migrated = std::process::Command::new(&bins.natter)
            .args(["migrate", "--config"])
            .arg(&config)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", "warn")
            .status()
            .context("run natter migrate")?;
        if !migrated.success() {
            bail!("natter migrate failed: are the servers up? (scripts/services start)");
        }
        let mut children = Vec::new();
        let mut notifier_pids = Vec::new();
        let mut url = String::new();
        for node in 0..=notifiers {
            let roles = if node == 0 { "api,gateway" } else { "notifier" };
            let (child, addr) = start_node(bins, dir.path(), node, roles, &env).await?;
            let pid = child.id().context("a node exited at once")?;
            if node == 0 {
                url = format!("http://{addr}");
            } else {
                notifier_pids.push(pid);
            }
            children.push(child);
        }
        Ok(Self {
            lab,
            url,
            notifier_pids,
            pause: pause_file(dir.path()),
            servers: Servers::Cluster(children),
            _dir: dir,
        })
    }

    /// The notifier processes' CPU seconds so far.
    pub fn notifier_cpu_s(&self) -> f64 {
        self.notifier_pids
            .iter()
            .map(|pid| procfs::cpu_s(*pid).unwrap_or(0.0))
            .sum()
    }

    pub fn pause(&self) -> anyhow::Result<()> {
        Ok(std::fs::write(&self.pause, b"")?)
    }

    pub fn resume(&self) -> anyhow::Result<()> {
        Ok(std::fs::remove_file(&self.pause)?)
    }

    pub async fn stop(self) {
        match self.servers {
            Servers::Embedded(server) => server.stop().await,
            Servers::Cluster(children) => {
                for mut child in children {
                    let _ = child.kill().await;
                }
            }
        }
    }
}

fn pause_file(dir: &Path) -> PathBuf {
    dir.join("pause")
}

/// A lab, a directory with its files, and the environment that points natter at both.
async fn lab() -> anyhow::Result<(Lab, tempfile::TempDir, Vec<(String, String)>)> {
    let lab = Lab::start().await.context("start the push lab")?;
    let dir = tempfile::Builder::new()
        .prefix("natter-bench-push-")
        .tempdir()?;
    let mut env: Vec<(String, String)> = lab
        .natter_env(dir.path())?
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    env.push((
        "NATTER__NOTIFIER__PAUSE_FILE".to_owned(),
        pause_file(dir.path()).display().to_string(),
    ));
    Ok((lab, dir, env))
}

fn var(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// `postgres://user@host:port` of `NATTER_TEST_POSTGRES_URL` (`scripts/services env`).
fn postgres_server() -> String {
    let url = var(
        "NATTER_TEST_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:55432/natter",
    );
    url.rsplit_once('/')
        .map_or(url.clone(), |(server, _)| server.to_owned())
}

/// The scaled-out configuration (as the e2e suite's cluster mode writes it).
fn cluster_config(dir: &Path) -> anyhow::Result<PathBuf> {
    let cassandra = var("NATTER_TEST_CASSANDRA_NODES", "127.0.0.1:59042")
        .split(',')
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let toml = format!(
        "[backends]\naccounts = \"postgres\"\nmessages = \"cassandra\"\n\
         realtime = \"redis\"\nevent_log = \"kafka\"\n\
         [postgres]\nurl = \"{server}/{DATABASE}\"\npool_size = 8\nlock_pool_size = 8\n\
         [cassandra]\nnodes = [{cassandra}]\nkeyspace = \"{DATABASE}\"\n\
         [redis]\nurl = \"{redis}\"\n\
         [kafka]\nbrokers = \"{kafka}\"\n\
         [files]\nstore = \"s3\"\ns3_endpoint = \"{s3}\"\ns3_bucket = \"{bucket}\"\n\
         s3_access_key_id = \"{key}\"\ns3_secret_access_key = \"{secret}\"\ns3_allow_http = true\n",
        server = postgres_server(),
        redis = var("NATTER_TEST_REDIS_URL", "redis://127.0.0.1:56379"),
        kafka = var("NATTER_TEST_KAFKA_BROKERS", "127.0.0.1:59092"),
        s3 = var("NATTER_TEST_S3_ENDPOINT", "http://127.0.0.1:58333"),
        bucket = var("NATTER_TEST_S3_BUCKET", "natter"),
        key = var("NATTER_TEST_S3_ACCESS_KEY_ID", "natter"),
        secret = var("NATTER_TEST_S3_SECRET_ACCESS_KEY", "natter-test-secret"),
    );
    let file = dir.join("cluster.toml");
    std::fs::write(&file, toml)?;
    Ok(file)
}

/// One statement in the PostgreSQL server's `postgres` database (psql).
fn admin(statement: &str) -> anyhow::Result<()> {
    let out = std::process::Command::new("psql")
        .arg(format!("{}/postgres", postgres_server()))
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", statement])
        .output()
        .context("run psql")?;
    if !out.status.success() {
        bail!(
            "psql {statement}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

async fn start_node(
    bins: &Bins,
    dir: &Path,
    node: usize,
    roles: &str,
    env: &[(String, String)],
) -> anyhow::Result<(Child, std::net::SocketAddr)> {
    let data = dir.join(format!("node-{node}"));
    std::fs::create_dir_all(&data)?;
    let log_path = data.join("log");
    let log = std::fs::File::create(&log_path)?;
    // Node ids embed in message ids: unique among this run's nodes, apart from other runs'.
    let node_id = (std::process::id() % 60) as usize * 16 + node;
    let mut cmd = Command::new(&bins.natter);
    cmd.arg("serve")
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(&data)
        .arg("--node-id")
        .arg(node_id.to_string())
        .arg("--roles")
        .arg(roles)
        .args(targets::natter_flags())
        .env("RUST_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (k, v)));
    let child = targets::spawn(cmd, &log)?;
    let addr = targets::wait_for_natter_addr(&log_path)
        .await
        .with_context(|| format!("node {node} ({roles}); log in {}", log_path.display()))?;
    Ok((child, addr))
}
