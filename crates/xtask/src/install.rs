//! Getting the servers onto the machine: Debian packages (PostgreSQL, Redis, Java, Maven) with
//! apt, and the Kafka and Cassandra jars from Maven Central into the cache, once per version
//! (the version is read from the pom in deploy/, its single source).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};

use crate::context::Ctx;
use crate::say;

/// Whether `program` is on the PATH.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| is_executable(&dir.join(program)))
    })
}

pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn run_quiet(command: &mut Command, what: &str) -> anyhow::Result<()> {
    let status = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .with_context(|| format!("run {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// `apt-get install` of `packages` (after one `apt-get update` per run).
pub fn apt_install(ctx: &Ctx, packages: &[&str]) -> anyhow::Result<()> {
    if !on_path("apt-get") {
        bail!("apt-get not found; install {} by hand", packages.join(" "));
    }
    if !ctx.apt_updated.get() {
        say!("apt-get update");
        run_quiet(
            Command::new("apt-get")
                .args(["update", "-qq"])
                .env("DEBIAN_FRONTEND", "noninteractive"),
            "apt-get update",
        )?;
        ctx.apt_updated.set(true);
    }
    say!("apt-get install {}", packages.join(" "));
    run_quiet(
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
        "apt-get install",
    )
}

/// Java 17 and Maven, which Kafka and Cassandra need.
pub fn need_java(ctx: &Ctx) -> anyhow::Result<()> {
    if !on_path("java") || !on_path("mvn") {
        apt_install(ctx, &["openjdk-17-jdk-headless", "maven"])?;
    }
    let output = Command::new("java").arg("-version").output()?;
    let text = String::from_utf8_lossy(&output.stderr);
    let version = java_version(&text).unwrap_or_default();
    if version.split('.').next() != Some("17") {
        say!("warning: java on PATH is {version}; Cassandra 5.0 needs Java 17");
    }
    Ok(())
}

/// The quoted version in `java -version`'s first lines.
fn java_version(text: &str) -> Option<String> {
    let line = text.lines().find(|line| line.contains("version"))?;
    Some(line.split('"').nth(1)?.to_owned())
}

/// The `<property>` value of a pom (the first one).
pub fn pom_version(pom: &str, property: &str) -> Option<String> {
    let open = format!("<{property}>");
    let close = format!("</{property}>");
    let start = pom.find(&open)? + open.len();
    let end = start + pom[start..].find(&close)?;
    Some(pom[start..end].trim().to_owned())
}

/// A directory holding the runtime jars of `deploy/<name>/pom.xml`, fetched once into the cache
/// (kept across `down`); concurrent runs each fetch into a directory of their own and the first
/// to finish wins.
pub fn maven_libs(ctx: &Ctx, name: &str) -> anyhow::Result<PathBuf> {
    let pom = ctx.settings.root.join(format!("deploy/{name}/pom.xml"));
    let text = fs::read_to_string(&pom).with_context(|| format!("read {}", pom.display()))?;
    let version = pom_version(&text, &format!("{name}.version"))
        .with_context(|| format!("no <{name}.version> in {}", pom.display()))?;
    let home = ctx.settings.cache.join(format!("{name}-{version}"));
    let dest = home.join("libs");
    if dest.join(".complete").is_file() {
        return Ok(dest);
    }
    need_java(ctx)?;
    fs::create_dir_all(&home).with_context(|| format!("create {}", home.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix("libs.tmp.")
        .tempdir_in(&home)?;
    say!(
        "fetching {name} {version} jars from Maven Central into {}",
        dest.display()
    );
    let start = Instant::now();
    let output = Command::new("mvn")
        .args(["-q", "-B", "-f"])
        .arg(&pom)
        .args(["dependency:copy-dependencies", "-DincludeScope=runtime"])
        .arg(format!("-DoutputDirectory={}", tmp.path().display()))
        .stdin(Stdio::null())
        .output()
        .context("run mvn")?;
    if !output.status.success() {
        let log = String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = log.lines().collect();
        eprintln!("{}", lines[lines.len().saturating_sub(40)..].join("\n"));
        bail!("mvn could not fetch the {name} jars");
    }
    fs::write(tmp.path().join(".complete"), "")?;
    if dest.join(".complete").is_file() {
        // Another run got there first; `tmp` is deleted on drop.
        return Ok(dest);
    }
    if dest.exists() {
        fs::remove_dir_all(&dest)?;
    }
    fs::rename(tmp.keep(), &dest)
        .with_context(|| format!("move the jars to {}", dest.display()))?;
    say!(
        "{name} jars fetched in {}s ({} MB)",
        start.elapsed().as_secs(),
        dir_size(&dest) / 1_000_000
    );
    Ok(dest)
}

fn dir_size(dir: &Path) -> u64 {
    fs::read_dir(dir).map_or(0, |entries| {
        entries
            .filter_map(|e| e.ok()?.metadata().ok())
            .map(|m| m.len())
            .sum()
    })
}

/// Copies `template` to `out` with each `@KEY@` replaced by its value (written atomically).
pub fn render(template: &Path, out: &Path, values: &[(&str, &str)]) -> anyhow::Result<()> {
    let text =
        fs::read_to_string(template).with_context(|| format!("read {}", template.display()))?;
    let tmp = out.with_extension("tmp");
    fs::write(&tmp, substitute(&text, values))?;
    fs::rename(&tmp, out).with_context(|| format!("write {}", out.display()))
}

fn substitute(text: &str, values: &[(&str, &str)]) -> String {
    values.iter().fold(text.to_owned(), |text, (key, value)| {
        text.replace(&format!("@{key}@"), value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_comes_from_the_pom_property() {
        let pom = fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kafka/pom.xml"),
        )
        .unwrap();
        let version = pom_version(&pom, "kafka.version").unwrap();
        assert!(version.starts_with("4."), "{version}");
        assert_eq!(pom_version(&pom, "nothing.version"), None);
        assert_eq!(
            pom_version("<p><a.version> 1.2 </a.version></p>", "a.version").as_deref(),
            Some("1.2")
        );
    }

    #[test]
    fn every_placeholder_is_replaced() {
        assert_eq!(
            substitute(
                "dir=@DIR@/data\nlisteners=@PORT@,@PORT@\nkeep @OTHER@\n",
                &[("DIR", "/tmp/s/kafka"), ("PORT", "39092")]
            ),
            "dir=/tmp/s/kafka/data\nlisteners=39092,39092\nkeep @OTHER@\n"
        );
    }

    #[test]
    fn the_kafka_template_renders_completely() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("server.properties");
        let template =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kafka/server.properties.in");
        render(
            &template,
            &out,
            &[
                ("DIR", "/x"),
                ("PORT", "39092"),
                ("CONTROLLER_PORT", "39093"),
            ],
        )
        .unwrap();
        let text = fs::read_to_string(&out).unwrap();
        for key in ["@DIR@", "@PORT@", "@CONTROLLER_PORT@"] {
            assert!(!text.contains(key), "{key} left in {text}");
        }
        assert!(
            text.contains("listeners=PLAINTEXT://127.0.0.1:39092,CONTROLLER://127.0.0.1:39093")
        );
        assert!(!dir.path().join("server.tmp").exists());
    }

    #[test]
    fn java_version_reads_the_quoted_version() {
        let text = "openjdk version \"17.0.13\" 2024-10-15\nOpenJDK Runtime Environment\n";
        assert_eq!(java_version(text).as_deref(), Some("17.0.13"));
        assert_eq!(java_version("nothing"), None);
    }
}
