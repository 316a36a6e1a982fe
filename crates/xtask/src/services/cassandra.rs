//! Apache Cassandra 5 (jars from `deploy/cassandra/pom.xml`, Java 17): the daemon run directly
//! with the flags of Cassandra's own `jvm17-server.options` and a small `cassandra.yaml`; ready
//! when a scylla session reads `release_version` from `system.local`; stopped with SIGTERM,
//! which runs Cassandra's drain hook (memtables flushed) before the JVM exits.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use scylla::client::session_builder::SessionBuilder;

use super::java::{append_marker, spawn_jvm};
use super::{Service, StatusInputs, pid_to_stop, reuse_running, status_of, wait_until_ready};
use crate::context::Ctx;
use crate::install::{maven_libs, need_java, render};
use crate::process::{pid_from_file, port_open, stop_pid};
use crate::say;
use crate::settings::{STOP_TIMEOUT_JAVA, Settings};
use crate::wait::log_size;

const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
const DIRS: [&str; 8] = [
    "conf",
    "data",
    "commitlog",
    "saved_caches",
    "hints",
    "cdc_raw",
    "logs",
    "triggers",
];

pub struct Cassandra {
    root: PathBuf,
    dir: PathBuf,
    log: PathBuf,
    pid_file: PathBuf,
    port: u16,
    storage_port: u16,
}

impl Cassandra {
    pub fn new(settings: &Settings) -> Self {
        let dir = settings.service_dir("cassandra");
        Self {
            root: settings.root.clone(),
            log: dir.join("cassandra.log"),
            pid_file: dir.join("cassandra.pid"),
            dir,
            port: settings.ports.cassandra,
            storage_port: settings.ports.cassandra_storage,
        }
    }

    fn java(&self, libs: &Path, jvm_options: &str) -> anyhow::Result<Command> {
        let jamm = jamm_jar(libs)?;
        let d = self.dir.display();
        let mut command = Command::new("java");
        command
            .arg(format!("-javaagent:{}", jamm.display()))
            .args(["-Xms1g", "-Xmx1g", "-Xss256k", "-ea", "-da:net.openhft..."])
            .args([
                "-XX:+UseThreadPriorities",
                "-XX:+UseTLAB",
                "-XX:+ResizeTLAB",
            ])
            .args([
                "-XX:+PerfDisableSharedMem",
                "-XX:+HeapDumpOnOutOfMemoryError",
            ])
            .arg(format!("-XX:HeapDumpPath={d}/logs"))
            .args([
                "-XX:+ExitOnOutOfMemoryError",
                "-Djava.net.preferIPv4Stack=true",
            ])
            .args(jvm_option_args(jvm_options))
            .arg("-Dcassandra-foreground=yes")
            .arg(format!("-Dcassandra-pidfile={}", self.pid_file.display()))
            .arg(format!("-Dcassandra.config=file://{d}/conf/cassandra.yaml"))
            .arg(format!("-Dcassandra.storagedir={d}"))
            .arg(format!("-Dcassandra.logdir={d}/logs"))
            .arg(format!("-Dcassandra.triggers_dir={d}/triggers"))
            .arg(format!("-Dlogback.configurationFile={d}/conf/logback.xml"))
            .arg("-Dcassandra.skip_wait_for_gossip_to_settle=0")
            .arg("-Dcassandra.ring_delay_ms=100")
            .arg("-Dcassandra.superuser_setup_delay_ms=0")
            .arg("-cp")
            .arg(format!("{}/*", libs.display()))
            .arg("org.apache.cassandra.service.CassandraDaemon");
        Ok(command)
    }
}

/// The arguments in a JVM options file: the words of every line starting with `-`, comments
/// (`#` to the end of the line) dropped.
fn jvm_option_args(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or_default().trim())
        .filter(|line| line.starts_with('-'))
        .flat_map(|line| line.split_whitespace().map(str::to_owned))
        .collect()
}

/// jamm's jar (Cassandra's memory meter, loaded as a Java agent).
fn jamm_jar(libs: &Path) -> anyhow::Result<PathBuf> {
    let mut jars: Vec<PathBuf> = fs::read_dir(libs)
        .with_context(|| format!("read {}", libs.display()))?
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let name = path.file_name()?.to_str()?;
            (name.starts_with("jamm-") && name.ends_with(".jar")).then_some(path)
        })
        .collect();
    jars.sort();
    jars.into_iter()
        .next()
        .with_context(|| format!("no jamm jar in {}", libs.display()))
}

impl Service for Cassandra {
    fn name(&self) -> &'static str {
        "cassandra"
    }

    fn port(&self) -> u16 {
        self.port
    }

    fn log(&self) -> &Path {
        &self.log
    }

    fn start_timeout(&self, ctx: &Ctx) -> Duration {
        ctx.settings.cassandra_start_timeout
    }

    fn install(&self, ctx: &Ctx) -> anyhow::Result<()> {
        maven_libs(ctx, "cassandra").map(drop)
    }

    fn pid(&self) -> Option<u32> {
        pid_from_file(
            &self.pid_file,
            "org.apache.cassandra.service.CassandraDaemon",
        )
    }

    fn probe(&self, ctx: &Ctx) -> bool {
        if !port_open(self.port) {
            return false;
        }
        let select = async {
            let session = SessionBuilder::new()
                .known_node(format!("127.0.0.1:{}", self.port))
                .connection_timeout(Duration::from_secs(3))
                .fetch_schema_metadata(false)
                .build()
                .await
                .ok()?;
            let rows = session
                .query_unpaged("SELECT release_version FROM system.local", ())
                .await
                .ok()?
                .into_rows_result()
                .ok()?;
            let (version,) = rows.first_row::<(String,)>().ok()?;
            Some(!version.is_empty())
        };
        ctx.block_on(PROBE_TIMEOUT, select)
            .flatten()
            .unwrap_or(false)
    }

    fn start(&self, ctx: &Ctx) -> anyhow::Result<()> {
        if reuse_running(self, ctx)? {
            return Ok(());
        }
        for port in [self.port, self.storage_port] {
            if port_open(port) {
                bail!("port {port} is taken by a process this script did not start");
            }
        }
        need_java(ctx)?;
        let libs = maven_libs(ctx, "cassandra")?;
        for sub in DIRS {
            fs::create_dir_all(self.dir.join(sub))?;
        }
        let deploy = self.root.join("deploy/cassandra");
        let dir = self.dir.to_string_lossy();
        render(
            &deploy.join("cassandra.yaml.in"),
            &self.dir.join("conf/cassandra.yaml"),
            &[
                ("DIR", &dir),
                ("NATIVE_PORT", &self.port.to_string()),
                ("STORAGE_PORT", &self.storage_port.to_string()),
            ],
        )?;
        fs::copy(
            deploy.join("logback.xml"),
            self.dir.join("conf/logback.xml"),
        )?;
        let options = fs::read_to_string(deploy.join("jvm17-server.options"))?;
        let mut java = self.java(&libs, &options)?;
        let offset = log_size(&self.log);
        append_marker("cassandra", &self.log)?;
        let _ = fs::remove_file(&self.pid_file);
        say!(
            "starting cassandra on 127.0.0.1:{} (log: {})",
            self.port,
            self.log.display()
        );
        spawn_jvm("cassandra", &mut java, &self.dir, &self.log, &self.pid_file)?;
        wait_until_ready(self, ctx, offset)
    }

    fn stop(&self, _: &Ctx) -> anyhow::Result<()> {
        let Some(pid) = pid_to_stop(self) else {
            return Ok(());
        };
        say!("stopping cassandra (pid {pid})");
        stop_pid("cassandra", pid, STOP_TIMEOUT_JAVA)?;
        let _ = fs::remove_file(&self.pid_file);
        Ok(())
    }

    fn status(&self, ctx: &Ctx) -> String {
        status_of(
            self,
            ctx,
            &StatusInputs {
                not_ready: "CQL not answering yet",
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
    fn jvm_options_are_the_words_of_option_lines() {
        let text = "# comment\n-ea\n  --add-exports java.base/x=ALL  # why\n\n-XX:+UseG1GC\nnot an option\n";
        assert_eq!(
            jvm_option_args(text),
            ["-ea", "--add-exports", "java.base/x=ALL", "-XX:+UseG1GC"]
        );
    }

    #[test]
    fn the_shipped_options_file_gives_options_only() {
        let text = fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../deploy/cassandra/jvm17-server.options"),
        )
        .unwrap();
        let args = jvm_option_args(&text);
        assert!(args.iter().any(|a| a == "--add-exports"));
        assert!(args.iter().all(|a| !a.contains('#')));
    }

    #[test]
    fn the_cassandra_template_renders_completely() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("cassandra.yaml");
        let template =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/cassandra/cassandra.yaml.in");
        render(
            &template,
            &out,
            &[
                ("DIR", "/s/c"),
                ("NATIVE_PORT", "39042"),
                ("STORAGE_PORT", "37000"),
            ],
        )
        .unwrap();
        let text = fs::read_to_string(&out).unwrap();
        assert!(text.contains("native_transport_port: 39042"));
        assert!(text.contains("storage_port: 37000"));
        assert!(text.contains("commitlog_directory: /s/c/commitlog"));
        assert!(!text.contains("@DIR@") && !text.contains("_PORT@"));
    }
}
