//! One record per service: what it takes to install, start, probe, stop and report each server.
//! The flows every server shares (already running? a foreign process on the port? the status
//! line) live here; each module holds only what is particular to its server.

mod cassandra;
mod java;
mod kafka;
mod postgres;
mod redis;
mod seaweedfs;

use std::path::Path;
use std::time::Duration;

use crate::context::Ctx;
use crate::process::{port_open, rss_of};
use crate::say;
use crate::settings::Settings;
use crate::wait::wait_ready;

pub use seaweedfs::{
    BUCKET as S3_BUCKET, DEFAULT_ACCESS_KEY_ID as S3_DEFAULT_ACCESS_KEY_ID,
    DEFAULT_SECRET_ACCESS_KEY as S3_DEFAULT_SECRET_ACCESS_KEY, PORT_COUNT as S3_PORT_COUNT,
};

pub trait Service {
    fn name(&self) -> &'static str;
    /// The port clients use (the one `status` shows).
    fn port(&self) -> u16;
    /// The log a failed start shows the tail of.
    fn log(&self) -> &Path;
    fn start_timeout(&self, ctx: &Ctx) -> Duration;
    /// Installs what the server needs; skips what is present.
    fn install(&self, ctx: &Ctx) -> anyhow::Result<()>;
    /// The pid of the server started from this services dir, if it is alive (stale pid guard).
    fn pid(&self) -> Option<u32>;
    /// Ready for the tests: a real exchange through the server's client crate, bounded in time.
    fn probe(&self, ctx: &Ctx) -> bool;
    /// Installs if needed, starts, waits until ready; a no-op when already running.
    fn start(&self, ctx: &Ctx) -> anyhow::Result<()>;
    /// Stops gracefully (data kept); a no-op when not running.
    fn stop(&self, ctx: &Ctx) -> anyhow::Result<()>;
    /// One aligned line: name, state, address, pid and resident memory.
    fn status(&self, ctx: &Ctx) -> String;
}

/// Every service, in the order `status` and `down` use.
pub fn all(settings: &Settings) -> [Box<dyn Service>; 5] {
    [
        Box::new(postgres::Postgres::new(settings)),
        Box::new(redis::Redis::new(settings)),
        Box::new(kafka::Kafka::new(settings)),
        Box::new(cassandra::Cassandra::new(settings)),
        Box::new(seaweedfs::SeaweedFs::new(settings)),
    ]
}

/// When the server of this services dir is alive: reports it, or waits until it is ready (a
/// start in progress), and gives `true`; `false` when there is nothing running to reuse.
fn reuse_running(service: &dyn Service, ctx: &Ctx) -> anyhow::Result<bool> {
    let Some(pid) = service.pid() else {
        return Ok(false);
    };
    if service.probe(ctx) {
        say!(
            "{} already running (pid {pid}, 127.0.0.1:{})",
            service.name(),
            service.port()
        );
    } else {
        wait_until_ready(service, ctx, 0)?;
    }
    Ok(true)
}

/// Waits (bounded) for a server just started, reporting the log from `offset` on failure.
fn wait_until_ready(service: &dyn Service, ctx: &Ctx, offset: u64) -> anyhow::Result<()> {
    wait_ready(
        service.name(),
        service.start_timeout(ctx),
        || service.pid(),
        || service.probe(ctx),
        service.log(),
        offset,
    )
}

/// The pid to stop, or `None` after saying why there is nothing to stop.
fn pid_to_stop(service: &dyn Service) -> Option<u32> {
    let pid = service.pid();
    if pid.is_none() {
        if port_open(service.port()) {
            say!(
                "{}: port {} is held by a process this script did not start; left alone",
                service.name(),
                service.port()
            );
        } else {
            say!("{} not running", service.name());
        }
    }
    pid
}

/// What `status` shows of one server.
struct StatusInputs<'a> {
    /// Why a live process is not ready yet, e.g. "not answering PING yet".
    not_ready: &'a str,
    /// What a foreign server on the port is, e.g. "not started by this script".
    foreign: &'a str,
    /// The processes whose memory counts (the server's workers too).
    pids: fn(u32) -> Vec<u32>,
}

fn status_of(service: &dyn Service, ctx: &Ctx, inputs: &StatusInputs<'_>) -> String {
    let (state, detail) = match service.pid() {
        Some(pid) if service.probe(ctx) => (
            "running",
            format!("pid {pid} rss {}", rss_of(&(inputs.pids)(pid))),
        ),
        Some(pid) => ("starting", format!("pid {pid} ({})", inputs.not_ready)),
        None if port_open(service.port()) => ("running", format!("({})", inputs.foreign)),
        None => ("stopped", String::new()),
    };
    status_line(service.name(), state, service.port(), &detail)
}

pub fn status_line(name: &str, state: &str, port: u16, detail: &str) -> String {
    format!("{name:<9} {state:<8} 127.0.0.1:{port:<5} {detail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_are_aligned_columns() {
        assert_eq!(
            status_line("redis", "running", 56379, "pid 12 rss 7 MiB"),
            "redis     running  127.0.0.1:56379 pid 12 rss 7 MiB"
        );
        assert_eq!(
            status_line("cassandra", "stopped", 9042, ""),
            "cassandra stopped  127.0.0.1:9042  "
        );
    }

    #[test]
    fn there_is_one_record_per_name_in_the_order_of_the_names() {
        let settings = Settings::from_lookup(|_| None).unwrap();
        let records: Vec<&str> = all(&settings).iter().map(|s| s.name()).collect();
        let names: Vec<&str> = crate::cli::ALL.iter().map(|n| n.as_str()).collect();
        assert_eq!(records, names);
    }
}
