//! SeaweedFS, the S3-compatible object store behind `files.store = "s3"`: `weed mini` (master,
//! volume server, filer and S3 gateway in one process) on 127.0.0.1, with the bucket `natter`
//! and one identity whose keys come from `NATTER_S3_ACCESS_KEY_ID` / `NATTER_S3_SECRET_ACCESS_KEY`
//! (defaults below: a local test server). Ready when a SigV4-signed listing of the bucket
//! succeeds through `object_store`'s S3 client, the one natter uses: that proves the gateway is
//! up, the bucket exists and the keys are accepted.
//!
//! The binary is built from SeaweedFS's Go module (no release binary is downloaded): `go install`
//! refuses the module (its go.mod has replace directives), so the module's source is fetched with
//! `go mod download`, copied somewhere writable and built there (about 3 minutes on 2 cores, a
//! 233 MB binary), then kept in `NATTER_CACHE_DIR`, which `down` keeps.
//!
//! `weed mini` opens a dozen ports and moves a busy one elsewhere unless told which: every port
//! is given explicitly, from the S3 port on (`ports`), so they are known, reserved from the
//! kernel's ephemeral range, and a clash is an error rather than a silent move.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

use super::java::append_marker;
use super::{Service, StatusInputs, pid_to_stop, reuse_running, status_of, wait_until_ready};
use crate::context::Ctx;
use crate::install::on_path;
use crate::process::{detach, pid_from_file, port_open, stop_pid};
use crate::say;
use crate::settings::{START_TIMEOUT_SMALL, STOP_TIMEOUT_SMALL, Settings};
use crate::wait::log_size;

/// The SeaweedFS revision built (its Go pseudo-version; verified in /work/shared/INFRA.md terms:
/// S3 with SigV4, multipart, ranges).
pub const VERSION: &str = "v0.0.0-20261109003541-7506e5f91cd6";
const MODULE: &str = "github.com/seaweedfs/seaweedfs";
pub const BUCKET: &str = "natter";
pub const DEFAULT_ACCESS_KEY_ID: &str = "natter";
pub const DEFAULT_SECRET_ACCESS_KEY: &str = "natter-test-secret";
/// How many ports from the S3 port on `weed mini` uses (see [`SeaweedFs::args`]).
pub const PORT_COUNT: u16 = 8;

pub struct SeaweedFs {
    dir: PathBuf,
    log: PathBuf,
    pid_file: PathBuf,
    binary: PathBuf,
    port: u16,
    access_key_id: String,
    secret_access_key: String,
}

impl SeaweedFs {
    pub fn new(settings: &Settings) -> Self {
        let dir = settings.service_dir("seaweedfs");
        Self {
            log: dir.join("weed.log"),
            pid_file: dir.join("weed.pid"),
            dir,
            binary: settings.cache.join(format!("seaweedfs-{VERSION}/weed")),
            port: settings.ports.s3,
            access_key_id: settings.s3_access_key_id.clone(),
            secret_access_key: settings.s3_secret_access_key.clone(),
        }
    }

    /// `weed mini`'s flags: every port explicit (P = the S3 port; P+1..P+7 for the master, the
    /// volume server and the filer with their gRPC ports, and the gateway's gRPC port), nothing
    /// it does not need (WebDAV, the admin UI, Iceberg and Lance catalogs, telemetry).
    fn args(&self) -> Vec<String> {
        let p = self.port;
        let dir = self.dir.join("data");
        vec![
            "mini".into(),
            format!("-dir={}", dir.display()),
            "-ip=127.0.0.1".into(),
            "-ip.bind=127.0.0.1".into(),
            format!("-s3.port={p}"),
            format!("-master.port={}", p + 1),
            format!("-master.port.grpc={}", p + 2),
            format!("-volume.port={}", p + 3),
            format!("-volume.port.grpc={}", p + 4),
            format!("-filer.port={}", p + 5),
            format!("-filer.port.grpc={}", p + 6),
            format!("-s3.port.grpc={}", p + 7),
            "-s3.port.iceberg=0".into(),
            "-s3.port.lance=0".into(),
            "-webdav=false".into(),
            "-admin.ui=false".into(),
            "-master.telemetry=false".into(),
            format!("-bucket={BUCKET}"),
        ]
    }

    /// Builds the binary into the cache unless it is there.
    fn build(&self) -> anyhow::Result<()> {
        if self.binary.is_file() {
            return Ok(());
        }
        let go = go()?;
        say!(
            "building SeaweedFS {VERSION} from its Go module (about 3 minutes; cached in {})",
            self.binary.display()
        );
        let out = Command::new(&go)
            .args(["mod", "download", "-json"])
            .arg(format!("{MODULE}@{VERSION}"))
            .output()
            .context("run go mod download")?;
        if !out.status.success() {
            bail!(
                "go mod download failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let source = module_dir(&String::from_utf8_lossy(&out.stdout))
            .context("go mod download did not name the module's Dir")?;
        let work = tempfile::tempdir()?;
        let tree = work.path().join("seaweedfs");
        run(
            Command::new("cp").arg("-r").arg(&source).arg(&tree),
            "copy the module",
        )?;
        run(
            Command::new("chmod").args(["-R", "u+w"]).arg(&tree),
            "chmod the module",
        )?;
        let parent = self.binary.parent().expect("binary in a directory");
        fs::create_dir_all(parent)?;
        let partial = parent.join("weed.partial");
        run(
            Command::new(&go)
                .args(["build", "-o"])
                .arg(&partial)
                .arg("./weed")
                .current_dir(&tree),
            "go build ./weed",
        )?;
        fs::rename(&partial, &self.binary)?;
        Ok(())
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// The Go toolchain: on `PATH` or where the official tarball puts it.
fn go() -> anyhow::Result<PathBuf> {
    if on_path("go") {
        return Ok("go".into());
    }
    let official = Path::new("/usr/local/go/bin/go");
    if official.is_file() {
        return Ok(official.to_owned());
    }
    bail!(
        "SeaweedFS is built from source and needs Go (https://go.dev/dl/) on PATH or in /usr/local/go"
    )
}

fn run(command: &mut Command, what: &str) -> anyhow::Result<()> {
    let status = command.status().with_context(|| what.to_owned())?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// `"Dir": "..."` from `go mod download -json` (a flat JSON object, one field a line).
fn module_dir(json: &str) -> Option<PathBuf> {
    json.lines().find_map(|line| {
        let value = line.trim().strip_prefix("\"Dir\":")?.trim();
        Some(PathBuf::from(value.trim_end_matches(',').trim_matches('"')))
    })
}

impl Service for SeaweedFs {
    fn name(&self) -> &'static str {
        "seaweedfs"
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

    fn install(&self, _: &Ctx) -> anyhow::Result<()> {
        self.build()
    }

    fn pid(&self) -> Option<u32> {
        pid_from_file(&self.pid_file, "weed")
    }

    fn probe(&self, ctx: &Ctx) -> bool {
        use object_store::aws::AmazonS3Builder;
        use object_store::{ClientOptions, ObjectStore, RetryConfig};

        if !port_open(self.port) {
            return false;
        }
        let store = AmazonS3Builder::new()
            .with_endpoint(self.endpoint())
            .with_region("us-east-1")
            .with_bucket_name(BUCKET)
            .with_access_key_id(&self.access_key_id)
            .with_secret_access_key(&self.secret_access_key)
            .with_client_options(
                ClientOptions::new()
                    .with_allow_http(true)
                    .with_timeout(Duration::from_secs(3)),
            )
            .with_retry(RetryConfig {
                max_retries: 0,
                ..RetryConfig::default()
            })
            .build();
        let Ok(store) = store else {
            return false;
        };
        ctx.block_on(Duration::from_secs(5), store.list_with_delimiter(None))
            .is_some_and(|listed| listed.is_ok())
    }

    fn start(&self, ctx: &Ctx) -> anyhow::Result<()> {
        self.install(ctx)?;
        if reuse_running(self, ctx)? {
            return Ok(());
        }
        for port in self.port..self.port + PORT_COUNT {
            if port_open(port) {
                bail!("port {port} is taken by a process this script did not start");
            }
        }
        fs::create_dir_all(self.dir.join("data"))?;
        let offset = log_size(&self.log);
        append_marker("seaweedfs", &self.log)?;
        let _ = fs::remove_file(&self.pid_file);
        say!(
            "starting seaweedfs (S3) on {} (ports {}-{}; log: {})",
            self.endpoint(),
            self.port,
            self.port + PORT_COUNT - 1,
            self.log.display()
        );
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let err = out.try_clone()?;
        // With these set, `weed mini` creates an admin identity with exactly these keys.
        let child = detach(
            Command::new(&self.binary)
                .args(self.args())
                .env("AWS_ACCESS_KEY_ID", &self.access_key_id)
                .env("AWS_SECRET_ACCESS_KEY", &self.secret_access_key)
                .current_dir(&self.dir)
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err),
        )
        .spawn()
        .context("start weed mini")?;
        fs::write(&self.pid_file, format!("{}\n", child.id()))?;
        wait_until_ready(self, ctx, offset)
    }

    fn stop(&self, _: &Ctx) -> anyhow::Result<()> {
        let Some(pid) = pid_to_stop(self) else {
            return Ok(());
        };
        say!("stopping seaweedfs (pid {pid})");
        stop_pid("seaweedfs", pid, STOP_TIMEOUT_SMALL)
    }

    fn status(&self, ctx: &Ctx) -> String {
        status_of(
            self,
            ctx,
            &StatusInputs {
                not_ready: "S3 not answering a signed request yet",
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
    fn the_module_dir_comes_from_go_mod_download() {
        let json = "{\n\t\"Path\": \"github.com/seaweedfs/seaweedfs\",\n\t\"Dir\": \"/root/go/pkg/mod/x@v1\",\n\t\"Sum\": \"h1:x\"\n}";
        assert_eq!(
            module_dir(json),
            Some(PathBuf::from("/root/go/pkg/mod/x@v1"))
        );
        assert_eq!(module_dir("{}"), None);
    }

    #[test]
    fn every_port_is_explicit_and_in_the_reserved_range() {
        let settings =
            Settings::from_lookup(|k| (k == "NATTER_S3_PORT").then(|| "40000".into())).unwrap();
        let weed = SeaweedFs::new(&settings);
        let args = weed.args().join(" ");
        for port in 40000..40000 + PORT_COUNT {
            assert!(args.contains(&format!("={port}")), "{port}: {args}");
        }
        assert!(!args.contains(&format!("={}", 40000 + PORT_COUNT)));
    }
}
