//! `TestServer`: the real `natter` binary on a free port with a temporary data directory, driven
//! through the SDK. It can be killed with SIGKILL or stopped with SIGTERM and restarted on the same
//! data directory and port. In cluster mode (`NATTER_E2E_CLUSTER=1`, see [`crate::cluster`]) it is
//! three nodes behind NGINX, so the whole suite runs against a scaled-out deployment.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use natter_sdk::Client;

pub struct TestServer {
    /// One process, or three behind NGINX in cluster mode.
    nodes: Vec<Node>,
    nginx: Option<crate::cluster::Nginx>,
    pub base_url: String,
    pub data_dir: tempfile::TempDir,
    extra_args: Vec<String>,
}

/// One `natter serve` process and the port it keeps across restarts.
struct Node {
    child: Option<Child>,
    port: u16,
    /// Environment of this node (cluster mode: its node id, data dir, the shared config).
    env: Vec<(String, String)>,
    /// A command the binary runs under (`ip netns exec NS`), or empty: how the fault tests put
    /// one node in a network namespace of its own.
    wrapper: Vec<String>,
    base_url: String,
    /// `http://addr/metrics` of this node's metrics listener, when it has one.
    metrics_url: Option<String>,
}

impl TestServer {
    /// Cheap argon2 parameters and generous send limits unless `extra_args` override them.
    pub fn spawn() -> Self {
        Self::spawn_with(&[])
    }

    /// With `NATTER_E2E_CLUSTER=1` the "server" is a cluster: three nodes on PostgreSQL,
    /// Cassandra, Redis and Kafka (from `scripts/services`) behind NGINX, and every method
    /// (kill, restart, terminate) applies to all three nodes.
    pub fn spawn_with(extra_args: &[&str]) -> Self {
        Self::spawn_with_env(extra_args, &[])
    }

    /// [`Self::spawn_with`], with `NATTER__*` variables for keys that have no flag.
    pub fn spawn_with_env(extra_args: &[&str], extra_env: &[(&str, &str)]) -> Self {
        Self::spawn_wrapped(extra_args, extra_env, None)
    }

    /// A cluster whose node 0 runs under `wrapper` (e.g. `ip netns exec NS`) on the fixed
    /// `port`, which something must forward from the root namespace's loopback to it.
    #[allow(dead_code)] // Only the fault tests (tests/faults/partition.rs) use it.
    pub fn spawn_with_node0_wrapped(wrapper: &[String], port: u16) -> Self {
        Self::spawn_wrapped(&[], &[], Some((wrapper, port)))
    }

    fn spawn_wrapped(
        extra_args: &[&str],
        extra_env: &[(&str, &str)],
        node0: Option<(&[String], u16)>,
    ) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let nodes = if crate::cluster::enabled() {
            crate::cluster::node_envs()
                .into_iter()
                .map(|env| Node::new(restartable_port(), env))
                .collect()
        } else {
            vec![Node::new(restartable_port(), Vec::new())]
        };
        let mut nodes = nodes;
        for node in &mut nodes {
            node.env.extend(
                extra_env
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string())),
            );
        }
        if let Some((wrapper, port)) = node0 {
            nodes[0].wrapper = wrapper.to_vec();
            nodes[0].port = port;
        }
        let mut server = Self {
            nodes,
            nginx: None,
            base_url: String::new(),
            data_dir,
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
        };
        server.start();
        if crate::cluster::enabled() {
            let ports: Vec<u16> = server.nodes.iter().map(|n| n.port).collect();
            let nginx = crate::cluster::Nginx::start(server.data_dir.path(), &ports);
            server.base_url = nginx.base_url.clone();
            server.nginx = Some(nginx);
        } else {
            server.base_url = server.nodes[0].base_url.clone();
        }
        server
    }

    fn start(&mut self) {
        let data_dir = self.data_dir.path().display().to_string();
        for node in &mut self.nodes {
            node.start(&data_dir, &self.extra_args);
        }
    }

    pub fn client(&self) -> Client {
        Client::new(&self.base_url).expect("client")
    }

    /// A client of one node directly (cluster mode: node 0, 1 or 2), bypassing NGINX.
    /// The process id of one node.
    pub fn node_pid(&self, node: usize) -> u32 {
        self.nodes[node].child.as_ref().expect("running").id()
    }

    /// The base URL of one node (cluster mode: bypassing NGINX).
    pub fn node_url(&self, node: usize) -> &str {
        &self.nodes[node].base_url
    }

    pub fn node_client(&self, node: usize) -> Client {
        Client::new(&self.nodes[node].base_url).expect("client")
    }

    /// The metrics endpoint of `node` (the harness serves metrics on a port of their own
    /// unless `--metrics-listen ""` is passed).
    pub fn metrics_url(&self, node: usize) -> Option<String> {
        self.nodes[node].metrics_url.clone()
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
    }

    /// SIGKILL one node only.
    pub fn kill_node(&mut self, node: usize) {
        self.nodes[node].kill();
    }

    /// Start one node again (after [`Self::kill_node`]).
    pub fn restart_node(&mut self, node: usize) {
        let data_dir = self.data_dir.path().display().to_string();
        self.nodes[node].restart(&data_dir, &self.extra_args);
    }

    /// SIGTERM, then wait for a graceful exit (bounded); the first failure status, if any.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut statuses: Vec<_> = self.nodes.iter_mut().map(Node::terminate).collect();
        statuses.sort_by_key(|s| s.success());
        statuses.remove(0)
    }

    /// Start again on the same data directory and port.
    pub fn restart(&mut self) {
        let data_dir = self.data_dir.path().display().to_string();
        for node in &mut self.nodes {
            node.restart(&data_dir, &self.extra_args);
        }
        // NGINX marked every node failed while they were all down (for fail_timeout); a fresh
        // NGINX forgets that, as an operator restarting a whole cluster would make it.
        if let Some(nginx) = self.nginx.take() {
            self.nginx = Some(nginx.restart());
        }
    }
}

/// A free loopback port below the kernel's ephemeral range, for a server that tests kill and
/// start again on the same port. A port the kernel hands out (`:0`) is one every outgoing
/// connection on the machine may take as its local port in the moment between the kill and
/// the restart: under a load of many connections (a benchmark beside the tests) the restart
/// found it taken ("stays busy").
fn restartable_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let low = ephemeral_start.saturating_sub(12_000).max(1024);
    let span = u64::from(ephemeral_start.saturating_sub(low)).max(1);
    for _ in 0..200 {
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let port = low + u16::try_from(random % span).expect("within the span");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {low}..{ephemeral_start}");
}

impl Node {
    fn new(port: u16, env: Vec<(String, String)>) -> Self {
        Self {
            child: None,
            port,
            env,
            wrapper: Vec::new(),
            base_url: String::new(),
            metrics_url: None,
        }
    }

    fn start(&mut self, data_dir: &str, extra_args: &[String]) {
        // Another test may take the port between its choice and the first start: choose again.
        let mut attempts = if self.base_url.is_empty() && self.wrapper.is_empty() {
            5
        } else {
            1
        };
        loop {
            attempts -= 1;
            match self.try_start(data_dir, extra_args) {
                Ok(()) => return,
                Err(line) if attempts > 0 => {
                    eprintln!(
                        "natter did not start on port {} ({line:?}); another port",
                        self.port
                    );
                    self.port = restartable_port();
                }
                Err(line) => panic!("unexpected first line {line:?}"),
            }
        }
    }

    /// Start the server; `Err` with its first line of output if it did not listen.
    fn try_start(&mut self, data_dir: &str, extra_args: &[String]) -> Result<(), String> {
        let mut args: Vec<String> = vec![
            "serve".into(),
            "--listen".into(),
            format!("127.0.0.1:{}", self.port),
            "--data-dir".into(),
            data_dir.into(),
        ];
        let defaults = [
            ("--argon2-memory-kib", "512"),
            ("--sends-per-second", "10000"),
            ("--auth-per-minute", "10000"),
            ("--login-per-address-per-minute", "10000"),
            ("--metrics-listen", "127.0.0.1:0"),
        ];
        for (flag, value) in defaults {
            if !extra_args.iter().any(|a| a == flag) {
                args.push(flag.into());
                args.push(value.into());
            }
        }
        args.extend(extra_args.iter().cloned());
        let binary = env!("CARGO_BIN_EXE_natter");
        let mut command = match self.wrapper.split_first() {
            Some((program, wrapper_args)) => {
                let mut command = Command::new(program);
                command.args(wrapper_args).arg(binary);
                command
            }
            None => Command::new(binary),
        };
        let mut child = command
            .args(&args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start natter");
        let stdout = child.stdout.take().expect("stdout");
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .expect("read the listening line");
        let Some(url) = line.trim().strip_prefix("natter listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(line);
        };
        let url = url.to_owned();
        let metrics_off = args
            .windows(2)
            .rev()
            .find(|pair| pair[0] == "--metrics-listen")
            .is_some_and(|pair| pair[1].is_empty());
        self.metrics_url = (!metrics_off).then(|| {
            let mut metrics = String::new();
            reader
                .read_line(&mut metrics)
                .expect("read the metrics line");
            metrics
                .trim()
                .strip_prefix("natter metrics on ")
                .unwrap_or_else(|| panic!("unexpected second line {metrics:?}"))
                .to_owned()
        });
        // Keep draining stdout so the server's later writes never hit a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        self.port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        self.base_url = url;
        self.child = Some(child);
        Ok(())
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        send_sigterm(child.id());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "natter did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn restart(&mut self, data_dir: &str, extra_args: &[String]) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // The port may linger briefly; retry the bind until it is free.
            match std::net::TcpListener::bind(("127.0.0.1", self.port)) {
                Ok(probe) => {
                    drop(probe);
                    break;
                }
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Err(err) => panic!("port {} stays busy: {err}", self.port),
            }
        }
        self.start(data_dir, extra_args);
    }
}

fn send_sigterm(pid: u32) {
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
        if let Some(nginx) = self.nginx.take() {
            nginx.stop();
        }
    }
}
