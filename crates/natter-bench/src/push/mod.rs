//! `natter-bench push`: push notifications from a message's commit to the provider, against
//! natter-push-lab's FCM and Web Push services (in this process), embedded and scaled out
//! (`rig`). Users each have one device and stay offline (`load`); per mode:
//!
//! 1. fixed rate: `--rate` messages per second for `--duration-s`, open loop; for each push, the
//!    time from its message's `created_at_ms` (and from the acknowledgement) to the lab accepting
//!    it, p50/p99/max; the notifier processes' CPU seconds from the first send to the last push;
//! 2. backlog (saturation): the notifier paused (`notifier.pause_file`), `--backlog` messages
//!    queued, the pause lifted: time until the last push is accepted, pushes per second and per
//!    notifier CPU-second (the notifier does nothing else meanwhile).
//!
//! Each phase checks that every message produced exactly one push per owed device (`check`):
//! lost, duplicate and unexpected pushes are reported, and must be 0. Then `senders`: one
//! `Pusher` alone against the lab, the ceiling without the server.
//!
//! In embedded mode the notifier is a task of `natter serve`, so its CPU during the fixed-rate
//! phase includes accepting the messages; the backlog's figure is the notifier's alone. Scaled
//! out, the notifier nodes run nothing else.

mod check;
mod load;
mod rig;
mod senders;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::bail;
use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::stats::Summary;
use crate::targets::Bins;
use check::{Accepted, Delivery, check};
use load::{Sends, World};
use rig::Rig;
use senders::SenderRun;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// One `natter serve` (SQLite, in-process notifier).
    Embedded,
    /// PostgreSQL, Cassandra, Redis and Kafka of `scripts/services`: one API node and
    /// `--notifiers` notifier nodes.
    Cluster,
}

#[derive(Args, Clone, Debug, PartialEq)]
pub struct PushArgs {
    /// Modes to run, comma-separated (cluster needs `scripts/services start` and its
    /// `NATTER_TEST_*` addresses: `eval "$(scripts/services env)"`).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "embedded")]
    pub mode: Vec<Mode>,
    /// Users, each with one device (even: FCM, odd: Web Push), none connected.
    #[arg(long = "push-users", default_value_t = 200)]
    pub users: usize,
    /// Members per conversation: each message owes group-size - 1 pushes.
    #[arg(long = "push-group-size", default_value_t = 4)]
    pub group_size: usize,
    /// Messages per second in the fixed-rate phase (for --duration-s).
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    /// Sends outstanding at most.
    #[arg(long, default_value_t = 256)]
    pub in_flight: usize,
    /// Messages queued while the notifier is paused (0: no backlog phase).
    #[arg(long, default_value_t = 1000)]
    pub backlog: usize,
    /// Notifier nodes in cluster mode.
    #[arg(long, default_value_t = 2)]
    pub notifiers: usize,
    /// Pushes per provider sent by one `Pusher` alone (0: skip).
    #[arg(long, default_value_t = 2000)]
    pub sender_pushes: usize,
    /// Longest wait for a phase's pushes after its last send.
    #[arg(long, default_value_t = 120.0)]
    pub wait_s: f64,
    /// Time to keep listening after the last owed push (a duplicate arrives then).
    #[arg(long, default_value_t = 3.0)]
    pub settle_s: f64,
    /// Where to write the report (default bench/results/push/<time>.json).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FixedRun {
    pub rate: f64,
    pub seconds: f64,
    pub send_failures: usize,
    /// From each message's intended send time to its acknowledgement.
    pub ack: Summary,
    pub delivery: Delivery,
    /// Notifier processes, from the first send to the last push accepted.
    pub notifier_cpu_s: f64,
    pub pushes_per_notifier_cpu_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BacklogRun {
    pub messages: usize,
    pub send_failures: usize,
    /// Time to queue the messages (notifier paused).
    pub queue_s: f64,
    /// From lifting the pause to the last push accepted.
    pub drain_s: f64,
    pub pushes_per_s: f64,
    pub notifier_cpu_s: f64,
    pub pushes_per_notifier_cpu_s: f64,
    pub delivery: Delivery,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModeReport {
    pub mode: Mode,
    pub notifier_processes: usize,
    pub users: usize,
    pub group_size: usize,
    pub fixed: FixedRun,
    pub backlog: Option<BacklogRun>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PushReport {
    pub command: String,
    pub started_utc: String,
    pub modes: Vec<ModeReport>,
    pub senders_alone: Vec<SenderRun>,
}

impl PushReport {
    /// Pushes lost, duplicated or unexpected in any phase.
    pub fn defects(&self) -> usize {
        self.modes
            .iter()
            .flat_map(|m| {
                std::iter::once(&m.fixed.delivery).chain(m.backlog.as_ref().map(|b| &b.delivery))
            })
            .map(|d| d.lost + d.duplicates + d.unexpected)
            .sum()
    }
}

pub async fn command(args: &PushArgs, bins: &Bins, duration: Duration) -> anyhow::Result<()> {
    let report = run(args, bins, duration).await?;
    print_summary(&report);
    let out = args.out.clone().unwrap_or_else(|| {
        let stamp = report.started_utc.replace([':', '-'], "");
        PathBuf::from("bench/results/push").join(format!("{stamp}.json"))
    });
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&report)?)?;
    eprintln!("push: wrote {}", out.display());
    if report.defects() > 0 {
        bail!("push: pushes were lost, duplicated or unexpected (see the report)");
    }
    Ok(())
}

/// A second of every phase, embedded, at small sizes (`natter-bench smoke`).
pub async fn smoke(bins: &Bins) -> anyhow::Result<()> {
    let args = PushArgs {
        mode: vec![Mode::Embedded],
        users: 12,
        group_size: 3,
        rate: 20.0,
        in_flight: 16,
        backlog: 20,
        notifiers: 1,
        sender_pushes: 20,
        wait_s: 60.0,
        settle_s: 0.5,
        out: None,
    };
    let report = run(&args, bins, Duration::from_secs(1)).await?;
    print_summary(&report);
    if report.defects() > 0 {
        bail!("push smoke: pushes were lost, duplicated or unexpected: {report:?}");
    }
    Ok(())
}

async fn run(args: &PushArgs, bins: &Bins, duration: Duration) -> anyhow::Result<PushReport> {
    let started_utc = crate::soak::utc_now();
    let mut modes = Vec::new();
    for &mode in &args.mode {
        let rig = match mode {
            Mode::Embedded => Rig::embedded(bins).await?,
            Mode::Cluster => Rig::cluster(bins, args.notifiers).await?,
        };
        let outcome = run_mode(&rig, mode, args, duration).await;
        rig.stop().await;
        modes.push(outcome?);
    }
    let senders_alone = if args.sender_pushes > 0 {
        senders::measure(args.sender_pushes).await?
    } else {
        Vec::new()
    };
    Ok(PushReport {
        command: format!(
            "natter-bench {}",
            std::env::args().skip(1).collect::<Vec<_>>().join(" ")
        ),
        started_utc,
        modes,
        senders_alone,
    })
}

async fn run_mode(
    rig: &Rig,
    mode: Mode,
    args: &PushArgs,
    duration: Duration,
) -> anyhow::Result<ModeReport> {
    let world = Arc::new(World::build(&rig.url, &rig.lab, args.users, args.group_size).await?);
    eprintln!("push: {mode:?}: {} users ready", args.users);
    rig.lab.take_pushes();

    let cpu = rig.notifier_cpu_s();
    let sends = world
        .send_at_rate(args.rate, duration, args.in_flight)
        .await;
    let (pushes, cpu_at_last) = arrivals(rig, &sends, args).await;
    let delivery = check(&sends.sent, &pushes);
    let notifier_cpu_s = cpu_at_last - cpu;
    let fixed = FixedRun {
        rate: args.rate,
        seconds: sends.seconds,
        send_failures: sends.failed,
        ack: sends.ack,
        pushes_per_notifier_cpu_s: per(delivery.expected - delivery.lost, notifier_cpu_s),
        notifier_cpu_s,
        delivery,
    };
    eprintln!("push: {mode:?} fixed rate: {fixed:?}");

    let backlog = if args.backlog > 0 {
        rig.pause()?;
        let sends = world.send_burst(args.backlog, args.in_flight.min(64)).await;
        // Let the server finish what the sends started before the notifier's CPU is read.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let cpu = rig.notifier_cpu_s();
        let resumed = SystemTime::now();
        rig.resume()?;
        let (pushes, cpu_at_last) = arrivals(rig, &sends, args).await;
        let last = pushes
            .iter()
            .map(|p| p.accepted_at)
            .max()
            .unwrap_or(resumed);
        let drain_s = last
            .duration_since(resumed)
            .unwrap_or_default()
            .as_secs_f64();
        let delivery = check(&sends.sent, &pushes);
        let delivered = delivery.expected - delivery.lost;
        let notifier_cpu_s = cpu_at_last - cpu;
        let run = BacklogRun {
            messages: sends.sent.len(),
            send_failures: sends.failed,
            queue_s: sends.seconds,
            drain_s,
            pushes_per_s: delivered as f64 / drain_s.max(0.001),
            pushes_per_notifier_cpu_s: per(delivered, notifier_cpu_s),
            notifier_cpu_s,
            delivery,
        };
        eprintln!("push: {mode:?} backlog: {run:?}");
        Some(run)
    } else {
        None
    };
    Ok(ModeReport {
        mode,
        notifier_processes: rig.notifier_pids.len(),
        users: args.users,
        group_size: args.group_size,
        fixed,
        backlog,
    })
}

/// Waits (at most `--wait-s`) until the lab has accepted as many pushes as `sends` owes, reads
/// the notifier's CPU then, listens `--settle-s` more for duplicates, and takes the pushes.
async fn arrivals(rig: &Rig, sends: &Sends, args: &PushArgs) -> (Vec<Accepted>, f64) {
    let owed = sends.expected_pushes();
    let deadline = Instant::now() + Duration::from_secs_f64(args.wait_s);
    let mut taken = Vec::new();
    while taken.len() < owed && Instant::now() < deadline {
        taken.extend(rig.lab.take_pushes().iter().map(Accepted::of));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let cpu = rig.notifier_cpu_s();
    if taken.len() < owed {
        eprintln!(
            "push: only {} of {owed} pushes within {} s",
            taken.len(),
            args.wait_s
        );
    }
    tokio::time::sleep(Duration::from_secs_f64(args.settle_s)).await;
    taken.extend(rig.lab.take_pushes().iter().map(Accepted::of));
    (taken, cpu)
}

fn per(count: usize, cpu_s: f64) -> f64 {
    if cpu_s > 0.0 {
        (count as f64 / cpu_s).round()
    } else {
        0.0
    }
}

fn print_summary(r: &PushReport) {
    println!("push ({}), started {}", r.command, r.started_utc);
    println!(
        "| mode | phase | messages | pushes owed | lost | duplicates | unexpected | created → accepted p50 / p99 / max ms | ack → accepted p50 / p99 ms | pushes/s | notifier CPU s | pushes per notifier CPU-s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let row = |mode: &ModeReport,
               phase: String,
               d: &Delivery,
               rate: f64,
               cpu: f64,
               per_cpu: f64| {
        println!(
            "| {:?} ({} notifier process{}) | {phase} | {} | {} | {} | {} | {} | {:.1} / {:.1} / {:.1} | {:.1} / {:.1} | {:.0} | {:.2} | {:.0} |",
            mode.mode,
            mode.notifier_processes,
            if mode.notifier_processes == 1 {
                ""
            } else {
                "es"
            },
            d.messages,
            d.expected,
            d.lost,
            d.duplicates,
            d.unexpected,
            d.from_created.p50_ms,
            d.from_created.p99_ms,
            d.from_created.max_ms,
            d.from_ack.p50_ms,
            d.from_ack.p99_ms,
            rate,
            cpu,
            per_cpu
        );
    };
    for m in &r.modes {
        let f = &m.fixed;
        row(
            m,
            format!("{} msg/s for {:.0} s", f.rate, f.seconds),
            &f.delivery,
            f.delivery.accepted as f64 / f.seconds.max(0.001),
            f.notifier_cpu_s,
            f.pushes_per_notifier_cpu_s,
        );
        if let Some(b) = &m.backlog {
            row(
                m,
                format!("backlog of {}, drained in {:.2} s", b.messages, b.drain_s),
                &b.delivery,
                b.pushes_per_s,
                b.notifier_cpu_s,
                b.pushes_per_notifier_cpu_s,
            );
        }
    }
    for s in &r.senders_alone {
        println!(
            "senders alone: {} {} pushes in {:.2} s = {:.0}/s, {:.0} per CPU-second (sender and lab in one process)",
            s.provider, s.pushes, s.seconds, s.pushes_per_s, s.pushes_per_cpu_s
        );
    }
}
