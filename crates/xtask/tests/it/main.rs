//! `xtask services` end to end on Redis and PostgreSQL, on free ports and in a services dir of
//! its own (never the shared set): start (past a stale pid file), status, env, a second start
//! that reuses what runs, stop, down. Each server is checked through its own client, and every
//! command's output is read to the end through pipes, which would hang if a server kept them.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::mpsc;
use std::time::Duration;

use sqlx::{Connection, PgConnection};

/// No command may take longer (the cold start of both is a few seconds).
const COMMAND_LIMIT: Duration = Duration::from_secs(300);

struct Set {
    dir: tempfile::TempDir,
    postgres: u16,
    redis: u16,
    others: [u16; 5],
}

impl Set {
    fn new() -> Self {
        Self::with_listeners().0
    }

    /// A set and the listeners that reserved its ports, still bound (the caller drops them, or
    /// keeps one to hold a port: re-binding a port once released can fail, as a client of any
    /// other process may have been given it as its local port meanwhile).
    fn with_listeners() -> (Self, Vec<TcpListener>) {
        let dir = tempfile::Builder::new()
            .prefix("xtask-it-")
            .tempdir()
            .unwrap();
        // The postgres user must reach its data dir inside.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let listeners: Vec<TcpListener> = (0..7)
            .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let ports: Vec<u16> = listeners
            .iter()
            .map(|l| l.local_addr().unwrap().port())
            .collect();
        let set = Self {
            dir,
            postgres: ports[0],
            redis: ports[1],
            others: [ports[2], ports[3], ports[4], ports[5], ports[6]],
        };
        (set, listeners)
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("services")
    }

    /// Runs `xtask services ARGS` on this set; its output, read to the end (bounded).
    fn run(&self, args: &[&str]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
        command
            .arg("services")
            .args(args)
            .env("NATTER_SERVICES_DIR", self.path())
            .env("NATTER_POSTGRES_PORT", self.postgres.to_string())
            .env("NATTER_REDIS_PORT", self.redis.to_string())
            .env("NATTER_KAFKA_PORT", self.others[0].to_string())
            .env("NATTER_KAFKA_CONTROLLER_PORT", self.others[1].to_string())
            .env("NATTER_CASSANDRA_PORT", self.others[2].to_string())
            .env("NATTER_CASSANDRA_STORAGE_PORT", self.others[3].to_string())
            .env("NATTER_S3_PORT", self.others[4].to_string());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || tx.send(command.output()));
        rx.recv_timeout(COMMAND_LIMIT)
            .unwrap_or_else(|_| {
                panic!("`services {args:?}` still running (or a server holds its pipes)")
            })
            .expect("run xtask")
    }

    fn run_ok(&self, args: &[&str]) -> (String, String) {
        let output = self.run(args);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            output.status.success(),
            "services {args:?} failed:\n{stdout}\n{stderr}"
        );
        (stdout, stderr)
    }
}

impl Drop for Set {
    fn drop(&mut self) {
        if self.path().exists() {
            let _ = self.run(&["stop", "redis", "postgres"]);
        }
    }
}

fn status_of<'a>(status: &'a str, name: &str) -> &'a str {
    status
        .lines()
        .find(|line| line.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no {name} in status:\n{status}"))
}

fn redis_ping(port: u16) -> String {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    let mut connection = client
        .get_connection_with_timeout(Duration::from_secs(5))
        .unwrap();
    redis::cmd("PING").query(&mut connection).unwrap()
}

fn natter_db_answers(port: u16) -> bool {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let url = format!("postgres://postgres@127.0.0.1:{port}/natter");
        let connect = tokio::time::timeout(Duration::from_secs(10), PgConnection::connect(&url));
        let mut db = connect.await.expect("connect in time").expect("connect");
        let one: i32 = sqlx::query_scalar("SELECT 1")
            .fetch_one(&mut db)
            .await
            .unwrap();
        one == 1
    })
}

fn stale_pid_file(dir: &Path) {
    std::fs::create_dir_all(dir.join("redis")).unwrap();
    // A live pid that is not redis-server: left by a crash, since given to another process.
    std::fs::write(dir.join("redis/r.pid"), format!("{}\n", std::process::id())).unwrap();
}

#[test]
fn start_status_stop_and_down_of_redis_and_postgres() {
    let set = Set::new();
    stale_pid_file(&set.path());

    let (_, err) = set.run_ok(&["start", "redis", "postgres"]);
    assert!(err.contains("services: redis ready in"), "{err}");
    assert!(err.contains("services: postgres ready in"), "{err}");
    assert!(err.contains("services: created database natter"), "{err}");
    assert_eq!(redis_ping(set.redis), "PONG");
    assert!(natter_db_answers(set.postgres));

    let (status, _) = set.run_ok(&["status"]);
    let redis = status_of(&status, "redis");
    assert!(
        redis.starts_with(&format!("redis     running  127.0.0.1:{} pid ", set.redis)),
        "{status}"
    );
    assert!(
        status_of(&status, "postgres").contains(" running "),
        "{status}"
    );
    assert!(
        status_of(&status, "kafka").contains(" stopped "),
        "{status}"
    );
    assert!(
        status_of(&status, "cassandra").contains(" stopped "),
        "{status}"
    );
    assert!(
        status_of(&status, "seaweedfs").contains(" stopped "),
        "{status}"
    );

    let (env, _) = set.run_ok(&["env"]);
    assert!(env.contains(&format!(
        "export NATTER_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:{}/natter\n",
        set.postgres
    )));
    assert!(env.contains(&format!(
        "export NATTER_TEST_REDIS_URL=redis://127.0.0.1:{}\n",
        set.redis
    )));

    let (_, err) = set.run_ok(&["start", "redis", "postgres"]);
    assert!(err.contains("services: redis already running"), "{err}");
    assert!(err.contains("services: postgres already running"), "{err}");

    let (_, err) = set.run_ok(&["stop", "postgres", "redis"]);
    assert!(err.contains("services: postgres stopped"), "{err}");
    assert!(err.contains("services: redis stopped"), "{err}");
    let (status, _) = set.run_ok(&["status"]);
    assert!(
        status_of(&status, "redis").contains(" stopped "),
        "{status}"
    );
    assert!(
        status_of(&status, "postgres").contains(" stopped "),
        "{status}"
    );
    let (_, err) = set.run_ok(&["stop", "redis"]);
    assert!(err.contains("services: redis not running"), "{err}");

    // Data is kept across a stop: the database is still there after a restart.
    let (_, err) = set.run_ok(&["restart", "postgres"]);
    assert!(!err.contains("initdb"), "{err}");
    assert!(!err.contains("created database"), "{err}");
    assert!(natter_db_answers(set.postgres));

    set.run_ok(&["down"]);
    assert!(!set.path().exists());
}

#[test]
fn an_unknown_service_is_refused_and_nothing_is_created() {
    let set = Set::new();
    let output = set.run(&["start", "redis", "mysql"]);
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        err,
        "services: error: unknown service 'mysql' (one of: postgres redis kafka cassandra seaweedfs)\n"
    );
    assert!(!set.path().exists());
}

#[test]
fn two_concurrent_starts_start_one_server() {
    let set = std::sync::Arc::new(Set::new());
    let starts: Vec<_> = (0..2)
        .map(|_| {
            let set = set.clone();
            std::thread::spawn(move || set.run_ok(&["start", "redis"]).1)
        })
        .collect();
    let errs: Vec<String> = starts.into_iter().map(|t| t.join().unwrap()).collect();
    let started = errs
        .iter()
        .filter(|err| err.contains("services: starting redis"))
        .count();
    let reused = errs
        .iter()
        .filter(|err| err.contains("services: redis already running"))
        .count();
    assert_eq!((started, reused), (1, 1), "{errs:?}");
    assert_eq!(redis_ping(set.redis), "PONG");
    set.run_ok(&["down"]);
}

#[test]
fn a_port_held_by_something_else_is_refused() {
    let (set, mut listeners) = Set::with_listeners();
    // Accepts connections and never answers: not a Redis.
    let squatter = listeners.swap_remove(1);
    assert_eq!(squatter.local_addr().unwrap().port(), set.redis);
    drop(listeners);
    let output = set.run(&["start", "redis"]);
    drop(squatter);
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.ends_with(&format!(
            "services: error: port {} is taken by a process that is not Redis\n",
            set.redis
        )),
        "{err}"
    );
    assert!(!set.path().join("redis/r.pid").exists());
}
