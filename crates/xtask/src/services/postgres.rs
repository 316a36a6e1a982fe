//! PostgreSQL (Debian `postgresql-<NATTER_PG_VERSION>`): one cluster per services dir, created
//! with initdb on first start, run by `pg_ctl` as the `postgres` user (it refuses root); ready
//! when a sqlx connection answers `SELECT 1`, then database `natter` is created if missing;
//! stopped with `pg_ctl -m fast` (clients disconnected, checkpoint, clean exit).

use std::ffi::CString;
use std::fs;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use sqlx::{Connection, PgConnection};

use super::{Service, StatusInputs, pid_to_stop, reuse_running, status_of, wait_until_ready};
use crate::context::Ctx;
use crate::install::{apt_install, is_executable};
use crate::process::{children, detach, pid_from_file, port_open, stop_pid};
use crate::say;
use crate::settings::{START_TIMEOUT_SMALL, STOP_TIMEOUT_SMALL, Settings};
use crate::wait::{failed_with_log, log_size};

const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Postgres {
    dir: PathBuf,
    data: PathBuf,
    log: PathBuf,
    bin: PathBuf,
    version: String,
    port: u16,
}

impl Postgres {
    pub fn new(settings: &Settings) -> Self {
        let dir = settings.service_dir("postgres");
        Self {
            data: dir.join("data"),
            log: dir.join("log"),
            dir,
            bin: PathBuf::from(format!("/usr/lib/postgresql/{}/bin", settings.pg_version)),
            version: settings.pg_version.clone(),
            port: settings.ports.postgres,
        }
    }

    /// A command of the server's bin dir, run as the `postgres` user from `/` (root's working
    /// directory may not be readable by postgres).
    fn as_postgres(&self, program: &str) -> Command {
        let mut command = Command::new("runuser");
        command
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join(program))
            .current_dir("/")
            .stdin(Stdio::null());
        command
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates database `natter` unless it exists.
    fn ensure_db(&self, ctx: &Ctx) -> anyhow::Result<()> {
        let created = ctx
            .block_on(PROBE_TIMEOUT, async {
                let mut db = PgConnection::connect(&self.url("postgres")).await?;
                let have: Option<i32> =
                    sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = 'natter'")
                        .fetch_optional(&mut db)
                        .await?;
                if have.is_none() {
                    sqlx::raw_sql("CREATE DATABASE natter")
                        .execute(&mut db)
                        .await?;
                }
                db.close().await?;
                Ok::<_, sqlx::Error>(have.is_none())
            })
            .with_context(|| format!("postgres on {} did not answer in time", self.port))?
            .with_context(|| format!("could not query postgres on {}", self.port))?;
        if created {
            say!("created database natter");
        }
        Ok(())
    }

    fn initdb(&self) -> anyhow::Result<()> {
        say!("initdb {}", self.data.display());
        fs::create_dir_all(&self.data)?;
        chown_postgres(&self.data)?;
        fs::set_permissions(&self.data, fs::Permissions::from_mode(0o700))?;
        let log = self.dir.join("initdb.log");
        let output = self
            .as_postgres("initdb")
            .arg("-D")
            .arg(&self.data)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ])
            .output()?;
        fs::write(&log, [output.stdout, output.stderr].concat())?;
        if !output.status.success() {
            return Err(crate::wait::failed_with_log(
                &log,
                0,
                "initdb failed".into(),
            ));
        }
        Ok(())
    }
}

/// Gives `path` to the `postgres` user and group.
fn chown_postgres(path: &Path) -> anyhow::Result<()> {
    let name = CString::new("postgres")?;
    // SAFETY: getpwnam returns a pointer into static storage, read at once; this process is
    // single-threaded here, so nothing else calls it meanwhile.
    let (uid, gid) = unsafe {
        let entry = libc::getpwnam(name.as_ptr());
        if entry.is_null() {
            bail!("no user postgres (is the PostgreSQL package installed?)");
        }
        ((*entry).pw_uid, (*entry).pw_gid)
    };
    chown(path, Some(uid), Some(gid)).with_context(|| format!("chown {}", path.display()))
}

impl Service for Postgres {
    fn name(&self) -> &'static str {
        "postgres"
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
        let postgres = self.bin.join("postgres");
        if !is_executable(&postgres) {
            apt_install(ctx, &[&format!("postgresql-{}", self.version)])?;
        }
        if !is_executable(&postgres) {
            bail!(
                "no {} after installing postgresql-{}",
                postgres.display(),
                self.version
            );
        }
        Ok(())
    }

    fn pid(&self) -> Option<u32> {
        pid_from_file(&self.data.join("postmaster.pid"), "postgres")
    }

    fn probe(&self, ctx: &Ctx) -> bool {
        // Not `natter`: that database may not exist yet. "Starting up" is an error too.
        let select = async {
            let mut db = PgConnection::connect(&self.url("postgres")).await?;
            let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&mut db).await?;
            db.close().await?;
            Ok::<_, sqlx::Error>(one == 1)
        };
        ctx.block_on(PROBE_TIMEOUT, select)
            .is_some_and(|result| result.unwrap_or(false))
    }

    fn start(&self, ctx: &Ctx) -> anyhow::Result<()> {
        self.install(ctx)?;
        if reuse_running(self, ctx)? {
            return self.ensure_db(ctx);
        }
        if port_open(self.port) {
            if !self.probe(ctx) {
                bail!(
                    "port {} is taken by a process that is not PostgreSQL",
                    self.port
                );
            }
            say!(
                "warning: a PostgreSQL not started from {} answers on {}; using it",
                self.data.display(),
                self.port
            );
            return self.ensure_db(ctx);
        }
        fs::create_dir_all(&self.dir)?;
        chown_postgres(&self.dir)?;
        if fs::metadata(self.data.join("PG_VERSION")).map_or(true, |m| m.len() == 0) {
            self.initdb()?;
        }
        let offset = log_size(&self.log);
        say!(
            "starting postgres on 127.0.0.1:{} (socket dir /tmp; log: {})",
            self.port,
            self.log.display()
        );
        // pg_ctl -w waits (bounded by -t) until the server accepts connections; the postmaster
        // gets a session of its own and none of our descriptors.
        let status = detach(
            self.as_postgres("pg_ctl")
                .arg("-D")
                .arg(&self.data)
                .arg("-l")
                .arg(&self.log)
                .arg("-o")
                .arg(format!(
                    "-p {} -k /tmp -c listen_addresses=127.0.0.1",
                    self.port
                ))
                .args(["-w", "-t"])
                .arg(START_TIMEOUT_SMALL.as_secs().to_string())
                .arg("start")
                .stdout(Stdio::null()),
        )
        .status()?;
        if !status.success() {
            return Err(failed_with_log(
                &self.log,
                offset,
                format!("postgres did not start (log: {})", self.log.display()),
            ));
        }
        wait_until_ready(self, ctx, offset)?;
        self.ensure_db(ctx)
    }

    fn stop(&self, _: &Ctx) -> anyhow::Result<()> {
        let Some(pid) = pid_to_stop(self) else {
            return Ok(());
        };
        say!("stopping postgres (pid {pid})");
        // Fast mode: disconnect clients, checkpoint, exit cleanly (smart mode waits for every
        // client). If pg_ctl cannot, SIGTERM (the same fast shutdown) with a bounded wait.
        let stopped = self
            .as_postgres("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "-t"])
            .arg(STOP_TIMEOUT_SMALL.as_secs().to_string())
            .arg("stop")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if stopped {
            say!("postgres stopped");
            Ok(())
        } else {
            stop_pid("postgres", pid, STOP_TIMEOUT_SMALL)
        }
    }

    fn status(&self, ctx: &Ctx) -> String {
        let foreign = format!("not started from {}", self.data.display());
        status_of(
            self,
            ctx,
            &StatusInputs {
                not_ready: "not accepting connections yet",
                foreign: &foreign,
                pids: |pid| {
                    let mut pids = children(pid);
                    pids.push(pid);
                    pids
                },
            },
        )
    }
}
