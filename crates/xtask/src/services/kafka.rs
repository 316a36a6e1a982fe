//! Apache Kafka (jars from `deploy/kafka/pom.xml`): one KRaft node (broker and controller in one
//! JVM), storage formatted once with a random cluster id; ready when a metadata request through
//! rdkafka lists a broker (it has registered with the elected controller); stopped with SIGTERM.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, Producer};

use super::java::{append_marker, spawn_jvm};
use super::{Service, StatusInputs, pid_to_stop, reuse_running, status_of, wait_until_ready};
use crate::context::Ctx;
use crate::install::{maven_libs, need_java, render};
use crate::process::{pid_from_file, port_open, stop_pid};
use crate::say;
use crate::settings::{STOP_TIMEOUT_JAVA, Settings};
use crate::wait::{failed_with_log, log_size};

pub struct Kafka {
    root: PathBuf,
    dir: PathBuf,
    log: PathBuf,
    pid_file: PathBuf,
    port: u16,
    controller_port: u16,
}

impl Kafka {
    pub fn new(settings: &Settings) -> Self {
        let dir = settings.service_dir("kafka");
        Self {
            root: settings.root.clone(),
            log: dir.join("kafka.log"),
            pid_file: dir.join("kafka.pid"),
            dir,
            port: settings.ports.kafka,
            controller_port: settings.ports.kafka_controller,
        }
    }

    /// The JVM with Kafka's jars on its class path, before the main class.
    fn java(&self, libs: &Path) -> Command {
        let mut command = Command::new("java");
        command
            .args([
                "-Xms1g",
                "-Xmx1g",
                "-XX:+UseG1GC",
                "-XX:MaxGCPauseMillis=20",
            ])
            .args([
                "-XX:InitiatingHeapOccupancyPercent=35",
                "-XX:+ExplicitGCInvokesConcurrent",
            ])
            .args(["-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true"])
            .arg(format!(
                "-Dlog4j2.configurationFile={}",
                self.dir.join("conf/log4j2.xml").display()
            ))
            .arg(format!(
                "-Dkafka.logs.dir={}",
                self.dir.join("logs").display()
            ))
            .arg("-cp")
            .arg(format!("{}/*", libs.display()));
        command
    }

    fn properties(&self) -> PathBuf {
        self.dir.join("conf/server.properties")
    }

    /// Formats the storage on first start, with the cluster id kept in `cluster.id`.
    fn format_storage(&self, libs: &Path, offset: u64) -> anyhow::Result<()> {
        if self.dir.join("data/meta.properties").is_file() {
            return Ok(());
        }
        let id_file = self.dir.join("cluster.id");
        // An id kept from an earlier try that Kafka's tool refused is replaced.
        let id = match fs::read_to_string(&id_file) {
            Ok(id) if usable_cluster_id(id.trim()) => id.trim().to_owned(),
            _ => {
                let id = new_cluster_id()?;
                fs::write(&id_file, &id)?;
                id
            }
        };
        say!("formatting kafka storage (cluster id {id})");
        let out = OpenOptions::new().append(true).open(&self.log)?;
        let status = self
            .java(libs)
            .args(["kafka.tools.StorageTool", "format", "-t", &id, "-c"])
            .arg(self.properties())
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .status()
            .context("run kafka's storage tool")?;
        if !status.success() {
            return Err(failed_with_log(
                &self.log,
                offset,
                "kafka storage format failed".into(),
            ));
        }
        Ok(())
    }
}

/// A KRaft cluster id: a random UUID's 16 bytes, base64url without padding (22 characters), drawn
/// again when it is not [`usable_cluster_id`] (as Kafka's own `Uuid.randomUuid` does).
fn new_cluster_id() -> anyhow::Result<String> {
    loop {
        let mut bytes = [0u8; 16];
        random_bytes(&mut bytes)?;
        let id = cluster_id_of(bytes);
        if usable_cluster_id(&id) {
            return Ok(id);
        }
    }
}

fn cluster_id_of(bytes: [u8; 16]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Kafka's storage tool takes an id that begins with `-` for an option and refuses to format (one
/// random id in 64 does: CI failed on `-7Tpw_LFguI19MCgWt6SYw`).
fn usable_cluster_id(id: &str) -> bool {
    !id.is_empty() && !id.starts_with('-')
}

fn random_bytes(bytes: &mut [u8]) -> anyhow::Result<()> {
    use std::io::Read;
    fs::File::open("/dev/urandom")?.read_exact(bytes)?;
    Ok(())
}

impl Service for Kafka {
    fn name(&self) -> &'static str {
        "kafka"
    }

    fn port(&self) -> u16 {
        self.port
    }

    fn log(&self) -> &Path {
        &self.log
    }

    fn start_timeout(&self, ctx: &Ctx) -> Duration {
        ctx.settings.kafka_start_timeout
    }

    fn install(&self, ctx: &Ctx) -> anyhow::Result<()> {
        maven_libs(ctx, "kafka").map(drop)
    }

    fn pid(&self) -> Option<u32> {
        pid_from_file(&self.pid_file, "kafka.Kafka")
    }

    fn probe(&self, _: &Ctx) -> bool {
        // librdkafka retries a refused connection until the timeout: look at the port first.
        if !port_open(self.port) {
            return false;
        }
        let producer: Result<BaseProducer, _> = ClientConfig::new()
            .set("bootstrap.servers", format!("127.0.0.1:{}", self.port))
            .set("socket.connection.setup.timeout.ms", "3000")
            .create();
        producer.is_ok_and(|producer| {
            producer
                .client()
                .fetch_metadata(None, Duration::from_secs(3))
                .is_ok_and(|metadata| !metadata.brokers().is_empty())
        })
    }

    fn start(&self, ctx: &Ctx) -> anyhow::Result<()> {
        if reuse_running(self, ctx)? {
            return Ok(());
        }
        for port in [self.port, self.controller_port] {
            if port_open(port) {
                bail!("port {port} is taken by a process this script did not start");
            }
        }
        need_java(ctx)?;
        let libs = maven_libs(ctx, "kafka")?;
        for sub in ["conf", "data", "logs"] {
            fs::create_dir_all(self.dir.join(sub))?;
        }
        let dir = self.dir.to_string_lossy();
        render(
            &self.root.join("deploy/kafka/server.properties.in"),
            &self.properties(),
            &[
                ("DIR", &dir),
                ("PORT", &self.port.to_string()),
                ("CONTROLLER_PORT", &self.controller_port.to_string()),
            ],
        )?;
        fs::copy(
            self.root.join("deploy/kafka/log4j2.xml"),
            self.dir.join("conf/log4j2.xml"),
        )?;
        let offset = log_size(&self.log);
        append_marker("kafka", &self.log)?;
        self.format_storage(&libs, offset)?;
        let _ = fs::remove_file(&self.pid_file);
        say!(
            "starting kafka on 127.0.0.1:{} (controller {}; log: {})",
            self.port,
            self.controller_port,
            self.log.display()
        );
        spawn_jvm(
            "kafka",
            self.java(&libs).arg("kafka.Kafka").arg(self.properties()),
            &self.dir,
            &self.log,
            &self.pid_file,
        )?;
        wait_until_ready(self, ctx, offset)
    }

    fn stop(&self, _: &Ctx) -> anyhow::Result<()> {
        let Some(pid) = pid_to_stop(self) else {
            return Ok(());
        };
        say!("stopping kafka (pid {pid})");
        stop_pid("kafka", pid, STOP_TIMEOUT_JAVA)?;
        let _ = fs::remove_file(&self.pid_file);
        Ok(())
    }

    fn status(&self, ctx: &Ctx) -> String {
        status_of(
            self,
            ctx,
            &StatusInputs {
                not_ready: "metadata request not answered yet",
                foreign: "not started by this script",
                pids: |pid| vec![pid],
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_id_is_22_url_safe_characters_and_random() {
        let id = new_cluster_id().unwrap();
        assert_eq!(id.len(), 22, "{id}");
        assert!(
            id.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(id, new_cluster_id().unwrap());
    }

    #[test]
    fn an_id_that_the_storage_tool_would_take_for_an_option_is_not_used() {
        // 0xF8 = 0b111110..: the first base64url character is the 63rd, `-`.
        let dashed = cluster_id_of([0xF8; 16]);
        assert!(dashed.starts_with('-'), "{dashed}");
        assert!(!usable_cluster_id(&dashed));
        assert!(!usable_cluster_id(""));
        assert!(usable_cluster_id("7Tpw_LFguI19MCgWt6SYw-"));
        for _ in 0..1_000 {
            assert!(!new_cluster_id().unwrap().starts_with('-'));
        }
    }
}
