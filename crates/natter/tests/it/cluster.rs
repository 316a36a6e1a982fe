//! Cluster mode of the end-to-end suite (`NATTER_E2E_CLUSTER=1`): each `TestServer` is three
//! natter nodes sharing PostgreSQL, Cassandra, Redis, Kafka and S3 (SeaweedFS: file bytes), with
//! NGINX in front on its own port (also the download cache), built from the same template as
//! `scripts/cluster` (`deploy/nginx/natter.conf.template`).
//! The servers are the ones `scripts/services start` runs; their addresses come from the
//! `NATTER_TEST_*` variables that `scripts/services env` prints (defaults: its ports).
//! Tests share one database and keyspace (`natter_e2e`); they never collide because every test
//! creates its own users and conversations.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU16, AtomicU32, Ordering};

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
        let s3 = var("NATTER_TEST_S3_ENDPOINT", "http://127.0.0.1:58333");
        let s3_bucket = var("NATTER_TEST_S3_BUCKET", "natter");
        let s3_key = var("NATTER_TEST_S3_ACCESS_KEY_ID", "natter");
        let s3_secret = var("NATTER_TEST_S3_SECRET_ACCESS_KEY", "natter-test-secret");
        // NGINX runs here, as in deploy/cluster/natter.toml: its connections are exempt from
        // the per-address socket cap.
        let toml = format!(
            "[server]\ntrusted_proxies = [\"127.0.0.1\"]\n\
             [backends]\naccounts = \"postgres\"\nmessages = \"cassandra\"\n\
             realtime = \"redis\"\nevent_log = \"kafka\"\n\
             [postgres]\nurl = \"{postgres}\"\npool_size = 8\nlock_pool_size = 8\n\
             [cassandra]\nnodes = [{nodes}]\nkeyspace = \"natter_e2e\"\n\
             [redis]\nurl = \"{redis}\"\nchannel = \"natter:e2e:{pid}\"\npresence_ttl_ms = 3000\n\
             [kafka]\nbrokers = \"{kafka}\"\ntopic = \"natter.e2e.{pid}\"\n\
             notifier_group = \"natter-notifier-e2e-{pid}\"\n\
             indexer_group = \"natter-indexer-e2e-{pid}\"\n\
             [files]\nstore = \"s3\"\ns3_endpoint = \"{s3}\"\ns3_bucket = \"{s3_bucket}\"\n\
             s3_access_key_id = \"{s3_key}\"\ns3_secret_access_key = \"{s3_secret}\"\n\
             s3_allow_http = true\n",
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

/// Environment that points a cluster at a PostgreSQL database of its own, `natter_e2e_<name>`
/// (dropped, created and migrated here, so an earlier run leaves nothing in it): for a test whose
/// servers act on every row of the database (a collector told to delete what other tests' files
/// are, notifiers sending whatever push is due), which must not reach the shared one.
#[allow(dead_code)] // Only the e2e suite uses it; tests/faults includes this file too.
pub fn own_database(name: &str) -> Vec<(&'static str, String)> {
    let file = config_file();
    let postgres = var(
        "NATTER_TEST_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:55432/natter",
    );
    let (server, _) = postgres.rsplit_once('/').expect("database url");
    let database = format!("natter_e2e_{name}");
    drop_database(server, &database);
    create_database(server, &database);
    let env = vec![("NATTER__POSTGRES__URL", format!("{server}/{database}"))];
    let migrated = Command::new(env!("CARGO_BIN_EXE_natter"))
        .args(["migrate", "--config"])
        .arg(file)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .status()
        .expect("run natter migrate");
    assert!(migrated.success(), "natter migrate of {database} failed");
    env
}

/// `DROP DATABASE IF EXISTS`, closing its connections.
fn drop_database(server_url: &str, name: &str) {
    let (ok, stderr) = admin(
        server_url,
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    );
    assert!(ok, "cannot drop database {name}: {stderr}");
}

/// `CREATE DATABASE`, tolerating "already exists".
fn create_database(server_url: &str, name: &str) {
    let (ok, stderr) = admin(server_url, &format!("CREATE DATABASE {name}"));
    assert!(
        ok || stderr.contains("already exists"),
        "cannot create database {name}: {stderr}"
    );
}

/// Run one statement in the server's `postgres` database: whether it succeeded, and psql's
/// error output.
fn admin(server_url: &str, statement: &str) -> (bool, String) {
    let out = Command::new("psql")
        .arg(format!("{server_url}/postgres"))
        .args(["-v", "ON_ERROR_STOP=1", "-c", statement])
        .output()
        .expect("run psql");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A free port on loopback (released before use, so NGINX may lose a race for it: retried).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Environments of a cluster's nodes. Node ids are unique within this test process (message
/// ids embed them). Each cluster has a Kafka topic and notifier group of its own (overriding the
/// file's, which only `natter migrate` uses): test clusters are killed, so their members linger
/// in a shared group until their session times out, every later cluster's rebalances wait for
/// them and hand them partitions nobody reads; and a new group on a shared topic would read
/// every earlier cluster's records again.
pub fn node_envs() -> Vec<Vec<(String, String)>> {
    static NEXT_NODE_ID: AtomicU16 = AtomicU16::new(0);
    static NEXT_CLUSTER: AtomicU32 = AtomicU32::new(0);
    let config = config_file();
    // `c` keeps the names apart from Kafka's `<topic>-<partition>` in its logs and data dir.
    let cluster = format!(
        "{}.c{}",
        std::process::id(),
        NEXT_CLUSTER.fetch_add(1, Ordering::Relaxed)
    );
    (0..NODES)
        .map(|_| {
            let id = (std::process::id() as u16 % 64) * 16
                + NEXT_NODE_ID.fetch_add(1, Ordering::Relaxed) % 16;
            vec![
                ("NATTER_CONFIG".to_owned(), config.display().to_string()),
                ("NATTER__SERVER__NODE_ID".to_owned(), id.to_string()),
                (
                    "NATTER__KAFKA__TOPIC".to_owned(),
                    format!("natter.e2e.{cluster}"),
                ),
                (
                    "NATTER__KAFKA__NOTIFIER_GROUP".to_owned(),
                    format!("natter-notifier-e2e-{cluster}"),
                ),
            ]
        })
        .collect()
}

/// An NGINX in front of one test cluster.
pub struct Nginx {
    prefix: std::path::PathBuf,
    node_ports: Vec<u16>,
    port: u16,
    pub base_url: String,
}

impl Nginx {
    /// On a free port (another one if the first is taken meanwhile).
    pub fn start(data_dir: &Path, node_ports: &[u16]) -> Self {
        let prefix = data_dir.join("nginx");
        for _ in 0..5 {
            if let Some(nginx) = Self::try_start(&prefix, node_ports, free_port()) {
                return nginx;
            }
        }
        panic!("nginx did not start; see {}/error.log", prefix.display());
    }

    fn try_start(prefix: &Path, node_ports: &[u16], port: u16) -> Option<Self> {
        std::fs::create_dir_all(prefix.join("tmp")).expect("nginx dir");
        let template = include_str!("../../../../deploy/nginx/natter.conf.template");
        let servers: String = node_ports
            .iter()
            .map(|p| format!("        server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;\n"))
            .collect();
        let conf = template
            .replace("@PREFIX@", &prefix.display().to_string())
            .replace("@LISTEN@", &format!("127.0.0.1:{port}"))
            .replace("@UPSTREAM_SERVERS@", servers.trim_end());
        std::fs::write(prefix.join("nginx.conf"), conf).expect("write nginx.conf");
        let nginx = Self {
            prefix: prefix.to_owned(),
            node_ports: node_ports.to_vec(),
            port,
            base_url: format!("http://127.0.0.1:{port}"),
        };
        if !nginx.run(&[]).success() {
            return None;
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "nginx not listening");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Some(nginx)
    }

    fn run(&self, extra: &[&str]) -> std::process::ExitStatus {
        Command::new("nginx")
            .arg("-p")
            .arg(&self.prefix)
            .arg("-c")
            .arg(self.prefix.join("nginx.conf"))
            .args(extra)
            .status()
            .expect("run nginx (apt-get install nginx)")
    }

    /// Stop, then start a new NGINX on the same port (it forgets which nodes had failed).
    pub fn restart(self) -> Self {
        let (prefix, node_ports, port) = (self.prefix.clone(), self.node_ports.clone(), self.port);
        self.stop();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Some(nginx) = Self::try_start(&prefix, &node_ports, port) {
                return nginx;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "nginx did not restart"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// Fast stop; waits until the master has exited.
    pub fn stop(self) {
        let pid_file = self.prefix.join("nginx.pid");
        let _ = self.run(&["-s", "stop"]);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while pid_file.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}
