//! Redis (Debian `redis-server`): daemonized by itself with AOF on; ready when `PING` answers
//! `PONG` (redis crate); stopped with SIGTERM, Redis's graceful shutdown (AOF fsynced).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::Duration;

use anyhow::bail;

use super::{Service, StatusInputs, pid_to_stop, reuse_running, status_of, wait_until_ready};
use crate::context::Ctx;
use crate::install::{apt_install, on_path};
use crate::process::{detach, pid_from_file, port_open, stop_pid};
use crate::say;
use crate::settings::{START_TIMEOUT_SMALL, STOP_TIMEOUT_SMALL, Settings};
use crate::wait::{failed_with_log, log_size};

pub struct Redis {
    dir: PathBuf,
    log: PathBuf,
    pid_file: PathBuf,
    port: u16,
}

impl Redis {
    pub fn new(settings: &Settings) -> Self {
        let dir = settings.service_dir("redis");
        Self {
            log: dir.join("r.log"),
            pid_file: dir.join("r.pid"),
            dir,
            port: settings.ports.redis,
        }
    }
}

impl Service for Redis {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn port(&self) -> u16 {
        self.port
    }

    fn log(&self) -> &Path {
        &self.log
    }

    fn start_timeout(&self, _: &Ctx) -> Duration {
        START_TIMEOUT_SMALL
    }

    fn install(&self, ctx: &Ctx) -> anyhow::Result<()> {
        if !on_path("redis-server") || !on_path("redis-cli") {
            apt_install(ctx, &["redis-server"])?;
        }
        Ok(())
    }

    fn pid(&self) -> Option<u32> {
        pid_from_file(&self.pid_file, "redis-server")
    }

    fn probe(&self, _: &Ctx) -> bool {
        let ping = || -> redis::RedisResult<String> {
            let client = redis::Client::open(format!("redis://127.0.0.1:{}", self.port))?;
            let mut connection = client.get_connection_with_timeout(Duration::from_secs(3))?;
            connection.set_read_timeout(Some(Duration::from_secs(3)))?;
            connection.set_write_timeout(Some(Duration::from_secs(3)))?;
            redis::cmd("PING").query(&mut connection)
        };
        ping().is_ok_and(|answer| answer == "PONG")
    }

    fn start(&self, ctx: &Ctx) -> anyhow::Result<()> {
        self.install(ctx)?;
        if reuse_running(self, ctx)? {
            return Ok(());
        }
        if port_open(self.port) {
            if !self.probe(ctx) {
                bail!("port {} is taken by a process that is not Redis", self.port);
            }
            say!(
                "warning: a Redis not started by this script answers on {}; using it",
                self.port
            );
            return Ok(());
        }
        fs::create_dir_all(&self.dir)?;
        let offset = log_size(&self.log);
        let _ = fs::remove_file(&self.pid_file);
        say!(
            "starting redis on 127.0.0.1:{} (AOF on; log: {})",
            self.port,
            self.log.display()
        );
        // --daemonize: redis forks into its own session and writes the pid file itself.
        let status = detach(
            Command::new("redis-server")
                .args(["--daemonize", "yes", "--port", &self.port.to_string()])
                .args(["--bind", "127.0.0.1", "--dir"])
                .arg(&self.dir)
                .args(["--save", "", "--appendonly", "yes", "--pidfile"])
                .arg(&self.pid_file)
                .arg("--logfile")
                .arg(&self.log)
                .stdin(Stdio::null()),
        )
        .status()?;
        if !status.success() {
            return Err(failed_with_log(
                &self.log,
                offset,
                "redis-server did not start".into(),
            ));
        }
        for _ in 0..40 {
            if self.pid().is_some() {
                break;
            }
            sleep(Duration::from_millis(250));
        }
        wait_until_ready(self, ctx, offset)
    }

    fn stop(&self, _: &Ctx) -> anyhow::Result<()> {
        let Some(pid) = pid_to_stop(self) else {
            return Ok(());
        };
        say!("stopping redis (pid {pid})");
        // SIGTERM is Redis's graceful SHUTDOWN (fsyncs the AOF).
        stop_pid("redis", pid, STOP_TIMEOUT_SMALL)
    }

    fn status(&self, ctx: &Ctx) -> String {
        status_of(
            self,
            ctx,
            &StatusInputs {
                not_ready: "not answering PING yet",
                foreign: "not started by this script",
                pids: |pid| vec![pid],
            },
        )
    }
}
