//! Cluster mode of the end-to-end suite (`NATTER_E2E_CLUSTER=1`): each `TestServer` is three
//! natter nodes sharing PostgreSQL, Cassandra, Redis and Kafka, with NGINX in front on its own
//! port, built from the same template as `scripts/cluster` (`deploy/nginx/natter.conf.template`).
//! The servers are the ones `scripts/services start` runs; their addresses come from the
//! `NATTER_TEST_*` variables that `scripts/services env` prints (defaults: its ports).
//! Tests share one database and keyspace (`natter_e2e`); they never collide because every test
//! creates its own users and conversations.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU16, Ordering};

pub fn enabled() -> bool {
    std::env::var("NATTER_E2E_CLUSTER").is_ok_and(|v| v == "1")
}

fn var(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

const NODES: usize = 3;

/// The shared configuration of every test cluster, written once per test process.
fn config_file() -> &'static Path {
    static FILE: OnceLock<std::path::PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let postgres = var(
            "NATTER_TEST_POSTGRES_URL",
            "postgres://postgres@127.0.0.1:55432/natter",
        );
        // Same server, own database.
        let (server, _) = postgres.rsplit_once('/').expect("database url");
        let postgres = format!("{server}/natter_e2e");
        let cassandra = var("NATTER_TEST_CASSANDRA_NODES", "127.0.0.1:59042");
        let redis = var("NATTER_TEST_REDIS_URL", "redis://127.0.0.1:56379");
        let kafka = var("NATTER_TEST_KAFKA_BROKERS", "127.0.0.1:59092");
        let toml = format!(
            "[backends]\naccounts = \"postgres\"\nmessages = \"cassandra\"\n\
             realtime = \"redis\"\nevent_log = \"kafka\"\n\
             [postgres]\nurl = \"{postgres}\"\npool_size = 8\nlock_pool_size = 8\n\
             [cassandra]\nnodes = [{nodes}]\nkeyspace = \"natter_e2e\"\n\
             [redis]\nurl = \"{redis}\"\nchannel = \"natter:e2e:{pid}\"\npresence_ttl_ms = 3000\n\
             [kafka]\nbrokers = \"{kafka}\"\ntopic = \"natter.e2e.{pid}\"\n\
             notifier_group = \"natter-notifier-e2e-{pid}\"\n",
            nodes = cassandra
                .split(',')
                .map(|n| format!("\"{n}\""))
                .collect::<Vec<_>>()
                .join(", "),
            pid = std::process::id(),
        );
        let dir = std::env::temp_dir().join(format!("natter-e2e-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("config dir");
        let file = dir.join("cluster.toml");
        std::fs::write(&file, toml).expect("write cluster config");
        create_database(server, "natter_e2e");
        let migrated = Command::new(env!("CARGO_BIN_EXE_natter"))
            .args(["migrate", "--config"])
            .arg(&file)
            .status()
            .expect("run natter migrate");
        assert!(
            migrated.success(),
            "natter migrate failed: are the servers up? (scripts/services start)"
        );
        file
    })
}

/// `CREATE DATABASE`, tolerating "already exists".
fn create_database(server_url: &str, name: &str) {
    let out = Command::new("psql")
        .arg(format!("{server_url}/postgres"))
        .args([
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            &format!("CREATE DATABASE {name}"),
        ])
        .output()
        .expect("run psql");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() || stderr.contains("already exists"),
        "cannot create database {name}: {stderr}"
    );
}

/// A free port on loopback (released before use; a collision fails the test loudly).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Ports and environments of a cluster's nodes. Node ids are unique within this test process
/// (message ids embed them).
pub fn node_envs(_data_dir: &Path) -> Vec<(u16, Vec<(String, String)>)> {
    static NEXT_NODE_ID: AtomicU16 = AtomicU16::new(0);
    let config = config_file();
    (0..NODES)
        .map(|_| {
            let id = (std::process::id() as u16 % 64) * 16
                + NEXT_NODE_ID.fetch_add(1, Ordering::Relaxed) % 16;
            let env = vec![
                ("NATTER_CONFIG".to_owned(), config.display().to_string()),
                ("NATTER__SERVER__NODE_ID".to_owned(), id.to_string()),
            ];
            (free_port(), env)
        })
        .collect()
}

/// An NGINX in front of one test cluster.
pub struct Nginx {
    prefix: std::path::PathBuf,
    pub base_url: String,
}

impl Nginx {
    pub fn start(data_dir: &Path, node_ports: &[u16]) -> Self {
        let prefix = data_dir.join("nginx");
        std::fs::create_dir_all(prefix.join("tmp")).expect("nginx dir");
        let port = free_port();
        let template = include_str!("../../../../deploy/nginx/natter.conf.template");
        let servers: String = node_ports
            .iter()
            .map(|p| format!("        server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;\n"))
            .collect();
        let conf = template
            .replace("@PREFIX@", &prefix.display().to_string())
            .replace("@LISTEN@", &format!("127.0.0.1:{port}"))
            .replace("@UPSTREAM_SERVERS@", servers.trim_end());
        let conf_file = prefix.join("nginx.conf");
        std::fs::write(&conf_file, conf).expect("write nginx.conf");
        let status = Command::new("nginx")
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(&conf_file)
            .status()
            .expect("run nginx (apt-get install nginx)");
        assert!(status.success(), "nginx did not start");
        let base_url = format!("http://127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "nginx not listening");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Self { prefix, base_url }
    }

    fn signal(&self, signal: &str) -> std::process::ExitStatus {
        Command::new("nginx")
            .arg("-p")
            .arg(&self.prefix)
            .arg("-c")
            .arg(self.prefix.join("nginx.conf"))
            .args(["-s", signal])
            .status()
            .expect("run nginx")
    }

    /// New workers with a fresh view of the upstreams; waits until they answer.
    pub fn reload(&self) {
        assert!(self.signal("reload").success(), "nginx reload");
        let url = format!("{}/readyz", self.base_url);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let ok = Command::new("curl")
                .args(["-fsS", "-o", "/dev/null", &url])
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "cluster not ready after restart"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    pub fn stop(self) {
        let _ = self.signal("stop");
    }
}
