//! The scenarios of issue 5 (and issue 12's isolation), one file each, each written once for
//! every target through [`Target`]; each runs on a fresh server. This module holds what they
//! share: the context, the server counters over a measured phase, and the load drivers (open
//! loop at a fixed rate, saturation with a bounded window).

pub mod fanout;
pub mod history;
pub mod idle;
pub mod isolation;
pub mod latency;
pub mod requests;
pub mod search;
pub mod storm;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::bail;

use crate::conn::Cmd;
use crate::fleet::Fleet;
use crate::procfs::{self, ProcSample};
use crate::report::Measured;
use crate::sched::{Ticks, intended_offset, total_events};
use crate::stats::{Summary, summarize};
use crate::synapse::SynapseServer;
use crate::targets::{Bins, Kind, Target};

/// Connections that publish in fan-out rooms (round robin).
pub const PUBLISHERS_MAX: usize = 64;

pub struct Ctx {
    pub bins: Bins,
    pub duration: Duration,
    pub run_tag: String,
    /// Smoke runs fail when any message is not delivered; measured runs record the shortfall.
    pub strict: bool,
    /// Largest fan-out (and isolation) room natter is run with (`--natter-room-max`).
    pub natter_room_max: usize,
    /// Where scripts/bench installed the peers (Synapse's venv among them).
    pub peers_dir: std::path::PathBuf,
}

impl Ctx {
    /// A fresh server of `kind` for one scenario (or one case of it).
    pub async fn start(&self, kind: Kind) -> anyhow::Result<Arc<dyn Target>> {
        kind.start(&self.bins).await
    }
}

/// Server counters over one measured phase (summed over the target's processes).
pub struct Phase {
    pids: Vec<u32>,
    start: ProcSample,
    t0: Instant,
}

pub struct PhaseEnd {
    pub cpu_s: f64,
    pub rss_mib: f64,
    pub wall_s: f64,
}

impl Phase {
    pub fn start(target: &dyn Target) -> Self {
        let pids = target.pids();
        Self {
            start: procfs::sample_all(&pids),
            pids,
            t0: Instant::now(),
        }
    }

    pub fn end(&self) -> PhaseEnd {
        let now = procfs::sample_all(&self.pids);
        PhaseEnd {
            cpu_s: now.cpu_s - self.start.cpu_s,
            rss_mib: now.rss_kib as f64 / 1024.0,
            wall_s: self.t0.elapsed().as_secs_f64(),
        }
    }
}

pub fn measured(value: f64, p: &PhaseEnd) -> Measured {
    let round = |x: f64| (x * 1000.0).round() / 1000.0;
    Measured {
        value: round(value),
        server_cpu_s: round(p.cpu_s),
        server_rss_mib: round(p.rss_mib),
    }
}

pub fn log(target: &str, what: impl std::fmt::Display) {
    eprintln!("[{target:>10}] {what}");
}

// ---------------------------------------------------------------------------------------------
// Load drivers shared by fan-out, latency and isolation

pub struct Outcome {
    pub phase: PhaseEnd,
    pub delivered: u64,
    pub completed: u64,
    pub sent: u64,
    pub errors: u64,
    pub per_delivery: Summary,
    pub last_member: Summary,
    pub drained: bool,
}

/// Open loop: message `i` is due at `i / rate` and is sent then, whatever happened before;
/// latency counts from that intended time. `pick(i)` gives (connection, room, recipients).
///
/// The messages are planned up front and released by a task on the fleet's own runtime, so a
/// fleet on a [`crate::fleet::Lane`] is paced by its own thread: the quiet room's devices do not
/// wait for the client's busy runtime (where a flood's publishers and readers run) to send on
/// time, which would charge the client's queueing to the server.
pub async fn open_loop(
    fleet: &mut Fleet,
    target: &dyn Target,
    rate: f64,
    duration: Duration,
    next_g: &mut u64,
    mut pick: impl FnMut(u64) -> (usize, usize, u32),
) -> anyhow::Result<Outcome> {
    let total = total_events(duration, rate).min(fleet.tracker().capacity() - *next_g);
    // Planned before the clock starts: at 20,000/s a run plans 200,000 sends.
    let plan: Vec<(usize, usize, u32)> = (0..total).map(&mut pick).collect();
    let first_g = *next_g;
    *next_g += total;
    let senders = fleet.senders();
    fleet.tracker().start_phase(0);
    let phase = Phase::start(target);
    let start = Instant::now();
    let start_us = fleet.tracker().now_us();
    let mut released = fleet.runtime().spawn(async move {
        let ticks = Ticks::start(start, rate, total);
        let mut plan = plan.into_iter().zip(0u64..);
        let mut sent = 0;
        while sent < total {
            let due = ticks.due(sent).await;
            for ((conn, room, n), i) in plan.by_ref().take((due - sent) as usize) {
                let cmd = Cmd::Publish {
                    room,
                    g: first_g + i,
                    n,
                    t_us: start_us + intended_offset(i, rate).as_micros() as u64,
                };
                let _ = senders[conn].send(cmd);
            }
            sent = due;
        }
    });
    loop {
        tokio::select! {
            done = &mut released => {
                done?;
                break;
            }
            () = tokio::time::sleep(Duration::from_millis(100)) => fleet.check()?,
        }
    }
    let drained = drain(fleet, total, Duration::from_secs(10)).await?;
    let end = phase.end();
    Ok(outcome(fleet, end, total, drained))
}

/// Saturation: at most `window` messages not yet received by every member; a new one goes out
/// as soon as one completes. Throughput is what the server sustains; latency here is queueing.
#[allow(clippy::too_many_arguments)]
pub async fn saturate(
    fleet: &mut Fleet,
    target: &dyn Target,
    window: usize,
    duration: Duration,
    next_g: &mut u64,
    publishers: usize,
    room: usize,
    n: u32,
) -> anyhow::Result<Outcome> {
    fleet.tracker().start_phase(window);
    let phase = Phase::start(target);
    let start = Instant::now();
    let deadline = start + duration;
    let mut sent = 0u64;
    while Instant::now() < deadline && *next_g < fleet.tracker().capacity() {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, fleet.tracker().window.acquire()).await {
            Ok(permit) => permit?.forget(),
            Err(_) => break,
        }
        let publisher = (sent as usize) % publishers;
        let t_us = fleet.tracker().now_us();
        fleet.send(
            publisher,
            Cmd::Publish {
                room,
                g: *next_g,
                n,
                t_us,
            },
        );
        *next_g += 1;
        sent += 1;
        if sent.is_multiple_of(256) {
            fleet.check()?;
        }
    }
    // Throughput is what was delivered within the window of time, not after it.
    let end = phase.end();
    let delivered = fleet.tracker().delivered.load(Ordering::Acquire);
    let mut out = outcome(fleet, end, sent, true);
    out.delivered = delivered;
    out.drained = drain(fleet, sent, Duration::from_secs(20)).await?;
    Ok(out)
}

async fn drain(fleet: &mut Fleet, expected: u64, timeout: Duration) -> anyhow::Result<bool> {
    let deadline = Instant::now() + timeout;
    loop {
        fleet.check()?;
        let t = fleet.tracker();
        if t.completed.load(Ordering::Acquire) + t.errors.load(Ordering::Acquire) >= expected {
            return Ok(true);
        }
        if Instant::now() > deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

pub fn completed_pct(o: &Outcome) -> f64 {
    o.completed as f64 * 100.0 / o.sent.max(1) as f64
}

pub fn outcome(fleet: &Fleet, phase: PhaseEnd, sent: u64, drained: bool) -> Outcome {
    let t = fleet.tracker();
    Outcome {
        phase,
        delivered: t.delivered.load(Ordering::Acquire),
        completed: t.completed.load(Ordering::Acquire),
        sent,
        errors: t.errors.load(Ordering::Acquire),
        per_delivery: summarize(&t.per_delivery.merged()),
        last_member: summarize(&t.last_member.merged()),
        drained,
    }
}

pub fn require_complete(ctx: &Ctx, target: &str, what: &str, o: &Outcome) -> anyhow::Result<()> {
    eprintln!(
        "[{target:>10}] {what}: sent {} completed {} delivered {} errors {} in {:.2} s, cpu {:.2} s; last member p50 {:.2} ms p99 {:.2} ms",
        o.sent,
        o.completed,
        o.delivered,
        o.errors,
        o.phase.wall_s,
        o.phase.cpu_s,
        o.last_member.p50_ms,
        o.last_member.p99_ms
    );
    if o.errors > 0 || o.completed == 0 || (ctx.strict && !o.drained) {
        bail!(
            "{what}: {} of {} messages refused, all delivered: {}",
            o.errors,
            o.sent,
            o.drained
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Synapse: its own driver (HTTP sends, `/sync` long-polls), in the scenarios it applies to.

/// Synapse's counters over a phase (Synapse and its PostgreSQL).
pub struct SynapsePhase {
    start: ProcSample,
    t0: Instant,
}

impl SynapsePhase {
    pub fn start(server: &SynapseServer) -> Self {
        Self {
            start: server.sample(),
            t0: Instant::now(),
        }
    }

    pub fn end(&self, server: &SynapseServer) -> PhaseEnd {
        let now = server.sample();
        PhaseEnd {
            cpu_s: now.cpu_s - self.start.cpu_s,
            rss_mib: now.rss_kib as f64 / 1024.0,
            wall_s: self.t0.elapsed().as_secs_f64(),
        }
    }
}

/// The HTTP client of Synapse's scenarios.
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(4096)
        // Below natter's keep-alive idle timeout (15 s), so no request races a server-side close.
        .pool_idle_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(90))
        .build()?)
}
