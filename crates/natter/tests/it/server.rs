//! `TestServer`: the real `natter` binary on port 0 with a temporary data directory, driven
//! through the SDK. It can be killed with SIGKILL or stopped with SIGTERM and restarted on the same
//! data directory and port.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use natter_sdk::Client;

pub struct TestServer {
    child: Option<Child>,
    pub base_url: String,
    pub data_dir: tempfile::TempDir,
    extra_args: Vec<String>,
    port: u16,
}

impl TestServer {
    /// Cheap argon2 parameters and generous send limits unless `extra_args` override them.
    pub fn spawn() -> Self {
        Self::spawn_with(&[])
    }

    pub fn spawn_with(extra_args: &[&str]) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut server = Self {
            child: None,
            base_url: String::new(),
            data_dir,
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            port: 0,
        };
        server.start();
        server
    }

    fn start(&mut self) {
        let mut args: Vec<String> = vec![
            "serve".into(),
            "--listen".into(),
            format!("127.0.0.1:{}", self.port),
            "--data-dir".into(),
            self.data_dir.path().display().to_string(),
        ];
        let defaults = [
            ("--argon2-memory-kib", "512"),
            ("--sends-per-second", "10000"),
            ("--auth-per-minute", "10000"),
        ];
        for (flag, value) in defaults {
            if !self.extra_args.iter().any(|a| a == flag) {
                args.push(flag.into());
                args.push(value.into());
            }
        }
        args.extend(self.extra_args.iter().cloned());
        let mut child = Command::new(env!("CARGO_BIN_EXE_natter"))
            .args(&args)
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
        // Keep draining stdout so the server's later writes never hit a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        let url = line
            .trim()
            .strip_prefix("natter listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        self.port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        self.base_url = url.to_owned();
        self.child = Some(child);
    }

    pub fn client(&self) -> Client {
        Client::new(&self.base_url).expect("client")
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then wait for a graceful exit (bounded).
    pub fn terminate(&mut self) -> std::process::ExitStatus {
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

    /// Start again on the same data directory and port.
    pub fn restart(&mut self) {
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
        self.start();
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
    }
}
