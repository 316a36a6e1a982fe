//! Where and how the services run: the services dir, the jar and binary cache, the ports, the
//! start timeouts and the S3 keys, each with its `NATTER_*` override. Read once from the environment; a value that does
//! not parse is an error, never a silent default.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};

/// Waits of PostgreSQL and Redis, and stop waits (no overrides, as before).
pub const START_TIMEOUT_SMALL: Duration = Duration::from_secs(60);
pub const STOP_TIMEOUT_SMALL: Duration = Duration::from_secs(60);
pub const STOP_TIMEOUT_JAVA: Duration = Duration::from_secs(90);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ports {
    pub postgres: u16,
    pub redis: u16,
    pub kafka: u16,
    pub kafka_controller: u16,
    pub cassandra: u16,
    pub cassandra_storage: u16,
    /// SeaweedFS's S3 port, the first of the `PORT_COUNT` ports `weed mini` uses.
    pub s3: u16,
}

impl Ports {
    /// Every port the services listen on.
    pub fn all(&self) -> Vec<u16> {
        let mut all = vec![
            self.postgres,
            self.redis,
            self.kafka,
            self.kafka_controller,
            self.cassandra,
            self.cassandra_storage,
        ];
        all.extend(self.s3..self.s3 + crate::services::S3_PORT_COUNT);
        all
    }
}

#[derive(Clone, Debug)]
pub struct Settings {
    /// The checkout: deploy/ holds the templates and poms.
    pub root: PathBuf,
    /// `NATTER_SERVICES_DIR`: data, logs, pid files, locks.
    pub dir: PathBuf,
    /// `NATTER_CACHE_DIR`: the Kafka and Cassandra jars, kept by `down`.
    pub cache: PathBuf,
    /// `NATTER_PG_VERSION`: the Debian PostgreSQL major version.
    pub pg_version: String,
    pub ports: Ports,
    pub cassandra_start_timeout: Duration,
    pub kafka_start_timeout: Duration,
    /// `NATTER_S3_ACCESS_KEY_ID` / `NATTER_S3_SECRET_ACCESS_KEY`: the S3 identity SeaweedFS
    /// creates and the tests use.
    pub s3_access_key_id: String,
    pub s3_secret_access_key: String,
}

impl Settings {
    /// Reads every setting through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let get = |key: &str| lookup(key).filter(|v| !v.is_empty());
        let port = |key: &str, default: u16| -> anyhow::Result<u16> {
            match get(key) {
                None => Ok(default),
                Some(v) => match v.parse::<u16>() {
                    Ok(port) if port > 0 => Ok(port),
                    _ => bail!("{key}={v:?} is not a TCP port"),
                },
            }
        };
        let seconds = |key: &str, default: u64| -> anyhow::Result<Duration> {
            get(key)
                .map_or(Ok(default), |v| {
                    v.parse::<u64>()
                        .ok()
                        .filter(|s| *s > 0)
                        .with_context(|| format!("{key}={v:?} is not a number of seconds"))
                })
                .map(Duration::from_secs)
        };
        let home = get("HOME").unwrap_or_else(|| "/root".to_owned());
        let s3 = port("NATTER_S3_PORT", 58333)?;
        if s3 > u16::MAX - crate::services::S3_PORT_COUNT {
            bail!(
                "NATTER_S3_PORT={s3}: SeaweedFS also uses the {} ports after it",
                crate::services::S3_PORT_COUNT - 1
            );
        }
        Ok(Self {
            root: Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."),
            dir: get("NATTER_SERVICES_DIR")
                .unwrap_or_else(|| "/tmp/natter-services".into())
                .into(),
            cache: get("NATTER_CACHE_DIR")
                .map_or_else(|| Path::new(&home).join(".cache/natter"), PathBuf::from),
            pg_version: get("NATTER_PG_VERSION").unwrap_or_else(|| "15".into()),
            ports: Ports {
                postgres: port("NATTER_POSTGRES_PORT", 55432)?,
                redis: port("NATTER_REDIS_PORT", 56379)?,
                kafka: port("NATTER_KAFKA_PORT", 59092)?,
                kafka_controller: port("NATTER_KAFKA_CONTROLLER_PORT", 59093)?,
                cassandra: port("NATTER_CASSANDRA_PORT", 59042)?,
                cassandra_storage: port("NATTER_CASSANDRA_STORAGE_PORT", 57000)?,
                s3,
            },
            cassandra_start_timeout: seconds("NATTER_CASSANDRA_START_TIMEOUT", 180)?,
            kafka_start_timeout: seconds("NATTER_KAFKA_START_TIMEOUT", 120)?,
            s3_access_key_id: get("NATTER_S3_ACCESS_KEY_ID")
                .unwrap_or_else(|| crate::services::S3_DEFAULT_ACCESS_KEY_ID.into()),
            s3_secret_access_key: get("NATTER_S3_SECRET_ACCESS_KEY")
                .unwrap_or_else(|| crate::services::S3_DEFAULT_SECRET_ACCESS_KEY.into()),
        })
    }

    /// `env`: the variables the tests read, as shell export lines.
    pub fn env_lines(&self) -> String {
        let p = &self.ports;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "export NATTER_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:{}/natter",
            p.postgres
        );
        let _ = writeln!(
            out,
            "export NATTER_TEST_REDIS_URL=redis://127.0.0.1:{}",
            p.redis
        );
        let _ = writeln!(
            out,
            "export NATTER_TEST_KAFKA_BROKERS=127.0.0.1:{}",
            p.kafka
        );
        let _ = writeln!(
            out,
            "export NATTER_TEST_CASSANDRA_NODES=127.0.0.1:{}",
            p.cassandra
        );
        let _ = writeln!(
            out,
            "export NATTER_TEST_S3_ENDPOINT=http://127.0.0.1:{}",
            p.s3
        );
        let _ = writeln!(
            out,
            "export NATTER_TEST_S3_BUCKET={}",
            crate::services::S3_BUCKET
        );
        let _ = writeln!(
            out,
            "export NATTER_TEST_S3_ACCESS_KEY_ID={}",
            self.s3_access_key_id
        );
        let _ = writeln!(
            out,
            "export NATTER_TEST_S3_SECRET_ACCESS_KEY={}",
            self.s3_secret_access_key
        );
        out
    }

    /// The directory of one service: `<dir>/<name>`.
    pub fn service_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// `down` deletes the services dir: never a directory that obviously holds other things.
pub fn check_deletable(dir: &Path) -> anyhow::Result<()> {
    let home = std::env::var("HOME").unwrap_or_default();
    let text = dir.to_string_lossy();
    let text = text.trim_end_matches('/');
    if ["", "/tmp", "/root", "/home", home.trim_end_matches('/')].contains(&text) {
        bail!("refusing to delete '{}'", dir.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(|key| map.get(key).cloned())
    }

    #[test]
    fn defaults_are_the_tests_ports_and_dirs() {
        let s = settings(&[("HOME", "/home/dev")]).unwrap();
        assert_eq!(
            s.ports,
            Ports {
                postgres: 55432,
                redis: 56379,
                kafka: 59092,
                kafka_controller: 59093,
                cassandra: 59042,
                cassandra_storage: 57000,
                s3: 58333,
            }
        );
        assert_eq!(s.dir, Path::new("/tmp/natter-services"));
        assert_eq!(s.cache, Path::new("/home/dev/.cache/natter"));
        assert_eq!(s.pg_version, "15");
        assert_eq!(s.cassandra_start_timeout, Duration::from_secs(180));
        assert_eq!(s.kafka_start_timeout, Duration::from_secs(120));
        assert!(s.root.join("deploy/kafka/pom.xml").is_file());
    }

    #[test]
    fn every_override_is_read() {
        let s = settings(&[
            ("NATTER_SERVICES_DIR", "/tmp/other"),
            ("NATTER_CACHE_DIR", "/var/cache/n"),
            ("NATTER_PG_VERSION", "16"),
            ("NATTER_POSTGRES_PORT", "35432"),
            ("NATTER_REDIS_PORT", "36379"),
            ("NATTER_KAFKA_PORT", "39092"),
            ("NATTER_KAFKA_CONTROLLER_PORT", "39093"),
            ("NATTER_CASSANDRA_PORT", "39042"),
            ("NATTER_CASSANDRA_STORAGE_PORT", "37000"),
            ("NATTER_CASSANDRA_START_TIMEOUT", "300"),
            ("NATTER_KAFKA_START_TIMEOUT", "30"),
            ("NATTER_S3_PORT", "38333"),
            ("NATTER_S3_ACCESS_KEY_ID", "ak"),
            ("NATTER_S3_SECRET_ACCESS_KEY", "sk"),
        ])
        .unwrap();
        assert_eq!(s.dir, Path::new("/tmp/other"));
        assert_eq!(s.cache, Path::new("/var/cache/n"));
        assert_eq!(s.pg_version, "16");
        assert_eq!(
            s.ports,
            Ports {
                postgres: 35432,
                redis: 36379,
                kafka: 39092,
                kafka_controller: 39093,
                cassandra: 39042,
                cassandra_storage: 37000,
                s3: 38333,
            }
        );
        assert_eq!(
            (s.s3_access_key_id.as_str(), s.s3_secret_access_key.as_str()),
            ("ak", "sk")
        );
        assert_eq!(s.cassandra_start_timeout, Duration::from_secs(300));
        assert_eq!(s.kafka_start_timeout, Duration::from_secs(30));
    }

    #[test]
    fn a_bad_port_or_timeout_is_an_error() {
        for (key, value) in [
            ("NATTER_REDIS_PORT", "abc"),
            ("NATTER_REDIS_PORT", "70000"),
            ("NATTER_POSTGRES_PORT", "0"),
            ("NATTER_KAFKA_START_TIMEOUT", "-1"),
            ("NATTER_S3_PORT", "65530"),
        ] {
            let err = settings(&[(key, value)]).unwrap_err().to_string();
            assert!(err.starts_with(key), "{err}");
        }
    }

    #[test]
    fn env_lines_follow_the_port_overrides() {
        let s = settings(&[
            ("NATTER_POSTGRES_PORT", "35432"),
            ("NATTER_CASSANDRA_PORT", "39042"),
        ])
        .unwrap();
        assert_eq!(
            s.env_lines(),
            "export NATTER_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:35432/natter\n\
             export NATTER_TEST_REDIS_URL=redis://127.0.0.1:56379\n\
             export NATTER_TEST_KAFKA_BROKERS=127.0.0.1:59092\n\
             export NATTER_TEST_CASSANDRA_NODES=127.0.0.1:39042\n\
             export NATTER_TEST_S3_ENDPOINT=http://127.0.0.1:58333\n\
             export NATTER_TEST_S3_BUCKET=natter\n\
             export NATTER_TEST_S3_ACCESS_KEY_ID=natter\n\
             export NATTER_TEST_S3_SECRET_ACCESS_KEY=natter-test-secret\n"
        );
    }

    #[test]
    fn down_refuses_shared_directories() {
        for dir in ["/", "/tmp", "/tmp/", "/root", "/home"] {
            assert!(check_deletable(Path::new(dir)).is_err(), "{dir}");
        }
        assert!(check_deletable(Path::new("/tmp/natter-services")).is_ok());
    }
}
