//! The five scenarios of issue 5, each run against one target at a time on a fresh server.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{StreamExt, TryStreamExt, stream};

use crate::conn::{Cmd, Endpoint, Proto};
use crate::fleet::Fleet;
use crate::procfs::{self, ProcSample};
use crate::report::{Measured, Results};
use crate::sched::{SplitMix, due_by, intended_offset, total_events};
use crate::stats::{Sharded, Summary, summarize};
use crate::targets::{Bins, Server};
use crate::world::{self, RoomSpec};

/// natter refuses more than 200 commands per second on one connection (and closes it after 20
/// refusals): publishers stay under that.
const NATTER_COMMANDS_PER_CONN_PER_S: f64 = 180.0;
/// Connections that publish in fan-out rooms (round robin).
const PUBLISHERS_MAX: usize = 64;

pub struct Ctx {
    pub bins: Bins,
    pub duration: Duration,
    pub run_tag: String,
    /// Smoke runs fail when any message is not delivered; measured runs record the shortfall.
    pub strict: bool,
    /// Largest fan-out room natter is run with (see BENCHMARKS.md: connecting a room's members
    /// costs natter O(members²) presence deliveries).
    pub natter_room_max: usize,
    /// Where scripts/bench installed the peers (Synapse's venv among them).
    pub peers_dir: std::path::PathBuf,
}

/// Server counters over one measured phase.
pub struct Phase {
    pid: u32,
    start: ProcSample,
    t0: Instant,
}

pub struct PhaseEnd {
    pub cpu_s: f64,
    pub rss_mib: f64,
    pub wall_s: f64,
}

impl Phase {
    pub fn start(server: &Server) -> Self {
        Self {
            pid: server.pid,
            start: server.sample(),
            t0: Instant::now(),
        }
    }

    pub fn end(&self) -> PhaseEnd {
        let now = procfs::sample(self.pid);
        PhaseEnd {
            cpu_s: now.cpu_s - self.start.cpu_s,
            rss_mib: now.rss_kib as f64 / 1024.0,
            wall_s: self.t0.elapsed().as_secs_f64(),
        }
    }
}

fn measured(value: f64, p: &PhaseEnd) -> Measured {
    let round = |x: f64| (x * 1000.0).round() / 1000.0;
    Measured {
        value: round(value),
        server_cpu_s: round(p.cpu_s),
        server_rss_mib: round(p.rss_mib),
    }
}

fn endpoint(server: &Server) -> Endpoint {
    Endpoint {
        proto: server.proto,
        addr: server.addr,
    }
}

fn log(proto: Proto, what: impl std::fmt::Display) {
    eprintln!("[{:>10}] {what}", proto.name());
}

// ---------------------------------------------------------------------------------------------
// 1. Idle connections

pub async fn idle(ctx: &Ctx, proto: Proto, n: usize, results: &mut Results) -> anyhow::Result<()> {
    let server = Server::start(proto, &ctx.bins).await?;
    let world = world::build(&server, n, world::groups(n, 100)).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (rss0, sock0, slab0) = (
        server.sample().rss_kib,
        procfs::sockstat(),
        procfs::slab_kib(),
    );
    let phase = Phase::start(&server);
    let fleet = Fleet::open(endpoint(&server), &world, &ctx.run_tag).await?;
    let connect = phase.end();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rss1, sock1, slab1) = (
        server.sample().rss_kib,
        procfs::sockstat(),
        procfs::slab_kib(),
    );
    let settled = phase.end();
    let per = |a: u64, b: u64| (b as f64 - a as f64) / n as f64;
    let case = format!("{n} connections");
    let add = |r: &mut Results, metric: &str, unit: &str, hib: bool, v: f64, p: &PhaseEnd| {
        r.add(
            "1. idle connections",
            &case,
            metric,
            unit,
            hib,
            proto.name(),
            measured(v, p),
        )
    };
    add(
        results,
        "server RSS per connection",
        "KiB",
        false,
        per(rss0, rss1),
        &settled,
    );
    add(
        results,
        "kernel TCP buffers per connection, both ends",
        "KiB",
        false,
        per(sock0.tcp_mem_pages, sock1.tcp_mem_pages) * 4.0,
        &settled,
    );
    add(
        results,
        "kernel slab per connection, both ends",
        "KiB",
        false,
        per(slab0, slab1),
        &settled,
    );
    add(
        results,
        "connect + authenticate + subscribe",
        "conn/s",
        true,
        n as f64 / fleet.connect_s,
        &connect,
    );
    log(
        proto,
        format!(
            "idle {n}: {:.2} KiB RSS/conn, connected in {:.2} s",
            per(rss0, rss1),
            fleet.connect_s
        ),
    );
    fleet.close().await;
    server.stop().await;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Load drivers shared by fan-out and latency

struct Outcome {
    phase: PhaseEnd,
    delivered: u64,
    completed: u64,
    sent: u64,
    errors: u64,
    per_delivery: Summary,
    last_member: Summary,
    drained: bool,
}

/// Open loop: message `i` is due at `i / rate` and is sent then, whatever happened before;
/// latency counts from that intended time. `pick(i)` gives (connection, room, recipients).
async fn open_loop(
    fleet: &mut Fleet,
    server: &Server,
    rate: f64,
    duration: Duration,
    next_g: &mut u64,
    mut pick: impl FnMut(u64) -> (usize, usize, u32),
) -> anyhow::Result<Outcome> {
    let total = total_events(duration, rate).min(fleet.tracker().capacity() - *next_g);
    fleet.tracker().start_phase(0);
    let phase = Phase::start(server);
    let start = Instant::now();
    let start_us = fleet.tracker().now_us();
    let mut i = 0;
    while i < total {
        let due = due_by(start.elapsed(), rate).min(total);
        while i < due {
            let t_us = start_us + intended_offset(i, rate).as_micros() as u64;
            let (conn, room, n) = pick(i);
            fleet.send(
                conn,
                Cmd::Publish {
                    room,
                    g: *next_g,
                    n,
                    t_us,
                },
            );
            *next_g += 1;
            i += 1;
        }
        fleet.check()?;
        if i < total {
            tokio::time::sleep_until((start + intended_offset(i, rate)).into()).await;
        }
    }
    let drained = drain(fleet, total, Duration::from_secs(10)).await?;
    let end = phase.end();
    Ok(outcome(fleet, end, total, drained))
}

/// Saturation: at most `window` messages not yet received by every member; a new one goes out
/// as soon as one completes. Throughput is what the server sustains; latency here is queueing.
#[allow(clippy::too_many_arguments)]
async fn saturate(
    fleet: &mut Fleet,
    server: &Server,
    window: usize,
    duration: Duration,
    next_g: &mut u64,
    publishers: usize,
    per_conn_rate: Option<f64>,
    room: usize,
    n: u32,
) -> anyhow::Result<Outcome> {
    fleet.tracker().start_phase(window);
    let phase = Phase::start(server);
    let start = Instant::now();
    let deadline = start + duration;
    let mut sent = 0u64;
    let mut next_allowed = vec![start; publishers];
    let min_gap = per_conn_rate.map(|r| Duration::from_secs_f64(1.0 / r));
    while Instant::now() < deadline && *next_g < fleet.tracker().capacity() {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, fleet.tracker().window.acquire()).await {
            Ok(permit) => permit?.forget(),
            Err(_) => break,
        }
        let publisher = (sent as usize) % publishers;
        if let Some(gap) = min_gap {
            tokio::time::sleep_until(next_allowed[publisher].into()).await;
            next_allowed[publisher] = Instant::now().max(next_allowed[publisher]) + gap;
        }
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

fn completed_pct(o: &Outcome) -> f64 {
    o.completed as f64 * 100.0 / o.sent.max(1) as f64
}

fn outcome(fleet: &Fleet, phase: PhaseEnd, sent: u64, drained: bool) -> Outcome {
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

fn require_complete(ctx: &Ctx, target: &str, what: &str, o: &Outcome) -> anyhow::Result<()> {
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
// 2. Fan-out

pub struct FanoutOpts {
    pub sizes: Vec<usize>,
    /// Offered deliveries per second in the fixed-rate run (messages/s = this / room size).
    pub fixed_deliveries_per_s: f64,
}

pub async fn fanout(
    ctx: &Ctx,
    proto: Proto,
    opts: &FanoutOpts,
    results: &mut Results,
) -> anyhow::Result<()> {
    for &size in &opts.sizes {
        if proto == Proto::Natter && size > ctx.natter_room_max {
            bail!(
                "room of {size}: not run (above --natter-room-max {}; see BENCHMARKS.md)",
                ctx.natter_room_max
            );
        }
        let server = Server::start(proto, &ctx.bins).await?;
        let world = world::build(
            &server,
            size,
            vec![RoomSpec {
                members: (0..size).collect(),
                direct: false,
            }],
        )
        .await?;
        let mut fleet = Fleet::open(endpoint(&server), &world, &ctx.run_tag).await?;
        log(
            proto,
            format!(
                "room of {size}: setup {:.1} s, connected in {:.1} s",
                world.setup_s, fleet.connect_s
            ),
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        let publishers = size.min(PUBLISHERS_MAX);
        let n = size as u32;
        let mut g = 0u64;
        let case = format!("room of {size}");
        let scen = "2. fan-out";

        let rate = (opts.fixed_deliveries_per_s / size as f64).max(1.0);
        let o = open_loop(&mut fleet, &server, rate, ctx.duration, &mut g, |i| {
            ((i as usize) % publishers, 0, n)
        })
        .await?;
        require_complete(ctx, proto.name(), &format!("{case}, {rate} msg/s"), &o)?;
        let fixed = format!("{case}, {} msg/s fixed", rate);
        let p = &o.phase;
        results.add(
            scen,
            &fixed,
            "deliveries per server CPU-second",
            "1/s",
            true,
            proto.name(),
            measured(o.delivered as f64 / p.cpu_s.max(0.01), p),
        );
        results.add(
            scen,
            &fixed,
            "last member has it, p50",
            "ms",
            false,
            proto.name(),
            measured(o.last_member.p50_ms, p),
        );
        results.add(
            scen,
            &fixed,
            "last member has it, p99",
            "ms",
            false,
            proto.name(),
            measured(o.last_member.p99_ms, p),
        );
        results.add(
            scen,
            &fixed,
            "messages every member had within 10 s of the run's end",
            "%",
            true,
            proto.name(),
            measured(completed_pct(&o), p),
        );

        let window = (200_000 / size).clamp(4, 2048);
        let per_conn = (proto == Proto::Natter).then_some(NATTER_COMMANDS_PER_CONN_PER_S);
        let o = saturate(
            &mut fleet,
            &server,
            window,
            ctx.duration,
            &mut g,
            publishers,
            per_conn,
            0,
            n,
        )
        .await?;
        require_complete(ctx, proto.name(), &format!("{case}, saturation"), &o)?;
        let sat = format!("{case}, saturation");
        let p = &o.phase;
        results.add(
            scen,
            &sat,
            "deliveries/s",
            "1/s",
            true,
            proto.name(),
            measured(o.delivered as f64 / p.wall_s, p),
        );
        results.add(
            scen,
            &sat,
            "deliveries per server CPU-second",
            "1/s",
            true,
            proto.name(),
            measured(o.delivered as f64 / p.cpu_s.max(0.01), p),
        );
        results.add(
            scen,
            &sat,
            "last member has it, p99",
            "ms",
            false,
            proto.name(),
            measured(o.last_member.p99_ms, p),
        );
        fleet.close().await;
        server.stop().await;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 3. End-to-end latency

pub struct LatencyOpts {
    pub users: usize,
    pub group_size: usize,
    pub rates: Vec<f64>,
}

pub async fn latency(
    ctx: &Ctx,
    proto: Proto,
    opts: &LatencyOpts,
    results: &mut Results,
) -> anyhow::Result<()> {
    let server = Server::start(proto, &ctx.bins).await?;
    let rooms = world::directs_and_groups(opts.users, opts.group_size);
    let world = world::build(&server, opts.users, rooms).await?;
    let mut fleet = Fleet::open(endpoint(&server), &world, &ctx.run_tag).await?;
    log(
        proto,
        format!(
            "latency: {} users, {} conversations, setup {:.1} s",
            opts.users,
            world.rooms.len(),
            world.setup_s
        ),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let directs = world.rooms.iter().filter(|r| r.direct).count();
    let mut g = 0u64;
    for &rate in &opts.rates {
        let mut rng = SplitMix::new(rate as u64);
        let rooms = &world.rooms;
        let o = open_loop(&mut fleet, &server, rate, ctx.duration, &mut g, |_| {
            // Half the messages in direct conversations, half in groups.
            let room = if rng.below(2) == 0 || directs == rooms.len() {
                rng.below(directs as u64) as usize
            } else {
                directs + rng.below((rooms.len() - directs) as u64) as usize
            };
            let members = &rooms[room].members;
            (
                members[rng.below(members.len() as u64) as usize],
                room,
                members.len() as u32,
            )
        })
        .await?;
        require_complete(ctx, proto.name(), &format!("latency at {rate} msg/s"), &o)?;
        let case = format!("{} users, {rate} msg/s offered", opts.users);
        let p = &o.phase;
        let scen = "3. end-to-end latency";
        for (metric, v) in [
            ("send to each device, p50", o.per_delivery.p50_ms),
            ("send to each device, p99", o.per_delivery.p99_ms),
            ("send to each device, p99.9", o.per_delivery.p999_ms),
            ("send to every member, p99", o.last_member.p99_ms),
        ] {
            results.add(
                scen,
                &case,
                metric,
                "ms",
                false,
                proto.name(),
                measured(v, p),
            );
        }
        results.add(
            scen,
            &case,
            "deliveries per server CPU-second",
            "1/s",
            true,
            proto.name(),
            measured(o.delivered as f64 / p.cpu_s.max(0.01), p),
        );
        results.add(
            scen,
            &case,
            "messages every member had within 10 s of the run's end",
            "%",
            true,
            proto.name(),
            measured(completed_pct(&o), p),
        );
    }
    fleet.close().await;
    server.stop().await;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 4. Reconnect storm

pub async fn reconnect(
    ctx: &Ctx,
    proto: Proto,
    n: usize,
    results: &mut Results,
) -> anyhow::Result<()> {
    let server = Server::start(proto, &ctx.bins).await?;
    let world = world::build(&server, n, world::groups(n, 100)).await?;
    let mut fleet = Fleet::open(endpoint(&server), &world, &ctx.run_tag).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    fleet.broadcast(|| Cmd::Drop);
    let deadline = Instant::now() + Duration::from_secs(30);
    while fleet.shared.ready.load(Ordering::Acquire) > 0 {
        if Instant::now() > deadline {
            bail!("connections did not drop");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    if proto == Proto::Natter {
        // Something to resume: one message per conversation while everyone is away.
        stream::iter(world.rooms.iter().enumerate())
            .map(|(r, room)| {
                let client = world.clients[room.members[0]].clone();
                let conv: uuid::Uuid = world.room_names[r].parse().expect("natter rooms are uuids");
                async move {
                    client
                        .send_text(conv, "missed while away")
                        .await
                        .context("send while away")
                }
            })
            .buffer_unordered(16)
            .try_collect::<Vec<_>>()
            .await?;
    }
    let phase = Phase::start(&server);
    let started = Instant::now();
    fleet.broadcast(|| Cmd::Reconnect);
    fleet.wait_ready(Duration::from_secs(120)).await?;
    let all_back_s = started.elapsed().as_secs_f64();
    let p = phase.end();
    let per_conn = summarize(&fleet.shared.reconnect_times.merged());
    let replayed = fleet.shared.replayed.load(Ordering::Acquire);
    log(
        proto,
        format!(
            "storm of {n}: all back in {all_back_s:.2} s, p99 {:.1} ms, {replayed} frames replayed",
            per_conn.p99_ms
        ),
    );
    if proto == Proto::Natter && replayed < n * 2 {
        bail!(
            "expected each client to resume a conversation and a message, got {replayed} frames for {n} clients"
        );
    }
    let case = format!("{n} clients dropped at once");
    let scen = "4. reconnect storm";
    results.add(
        scen,
        &case,
        "until all are back and resumed",
        "s",
        false,
        proto.name(),
        measured(all_back_s, &p),
    );
    results.add(
        scen,
        &case,
        "one client's reconnect, p99",
        "ms",
        false,
        proto.name(),
        measured(per_conn.p99_ms, &p),
    );
    fleet.close().await;
    server.stop().await;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 5. History (natter only: the peers keep no history to page through)

pub struct HistoryOpts {
    pub messages: usize,
    pub rate: f64,
}

pub async fn history(ctx: &Ctx, opts: &HistoryOpts, results: &mut Results) -> anyhow::Result<()> {
    let server = Server::start(Proto::Natter, &ctx.bins).await?;
    let world = world::build(
        &server,
        2,
        vec![RoomSpec {
            members: vec![0, 1],
            direct: true,
        }],
    )
    .await?;
    let conv: uuid::Uuid = world.room_names[0].parse()?;
    let sender = world.clients[0].clone();
    stream::iter(0..opts.messages)
        .map(|i| {
            let sender = sender.clone();
            async move {
                sender
                    .send_text(
                        conv,
                        &format!("history message {i}: a line of ordinary chat text"),
                    )
                    .await
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await
        .context("preloading history")?;
    let http = reqwest::Client::new();
    let token = world.clients[1].access_token().unwrap_or_default();
    let base = format!("{}/api/v1/conversations/{conv}/messages", server.base_url());
    let histogram = Arc::new(Sharded::default());
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let total = total_events(ctx.duration, opts.rate);
    let mut rng = SplitMix::new(5);
    let mut tasks = tokio::task::JoinSet::new();
    let phase = Phase::start(&server);
    let start = Instant::now();
    for i in 0..total {
        let intended = start + intended_offset(i, opts.rate);
        tokio::time::sleep_until(intended.into()).await;
        let before = 51 + rng.below((opts.messages as u64).saturating_sub(50).max(1)) as i64;
        let request = http
            .get(format!("{base}?before={before}&limit=50"))
            .bearer_auth(&token);
        let (histogram, errors) = (histogram.clone(), errors.clone());
        tasks.spawn(async move {
            let ok = match request.send().await {
                Ok(response) if response.status().is_success() => response.bytes().await.is_ok(),
                _ => false,
            };
            if !ok {
                errors.fetch_add(1, Ordering::Relaxed);
            }
            histogram.record(i as usize, intended.elapsed().as_micros() as u64);
        });
    }
    while tasks.join_next().await.is_some() {}
    let p = phase.end();
    let s = summarize(&histogram.merged());
    let errors = errors.load(Ordering::Acquire);
    log(
        Proto::Natter,
        format!(
            "history: {} pages, p50 {:.2} ms p99 {:.2} ms, {errors} errors",
            s.count, s.p50_ms, s.p99_ms
        ),
    );
    if errors > 0 {
        bail!("{errors} history requests failed");
    }
    let case = format!(
        "pages of 50 of {} messages, {} pages/s",
        opts.messages, opts.rate
    );
    for (metric, v) in [
        ("page, p50", s.p50_ms),
        ("page, p99", s.p99_ms),
        ("page, p99.9", s.p999_ms),
    ] {
        results.add(
            "5. history",
            &case,
            metric,
            "ms",
            false,
            "natter",
            measured(v, &p),
        );
    }
    results.add(
        "5. history",
        &case,
        "pages per server CPU-second",
        "1/s",
        true,
        "natter",
        measured(s.count as f64 / p.cpu_s.max(0.01), &p),
    );
    server.stop().await;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Synapse: latency (send by PUT, delivery by each member's /sync long-poll) and history.

use crate::synapse::{self, SynapseServer, Syncers};

struct SynapsePhase {
    start: ProcSample,
    t0: Instant,
}

impl SynapsePhase {
    fn start(server: &SynapseServer) -> Self {
        Self {
            start: server.sample(),
            t0: Instant::now(),
        }
    }

    fn end(&self, server: &SynapseServer) -> PhaseEnd {
        let now = server.sample();
        PhaseEnd {
            cpu_s: now.cpu_s - self.start.cpu_s,
            rss_mib: now.rss_kib as f64 / 1024.0,
            wall_s: self.t0.elapsed().as_secs_f64(),
        }
    }
}

fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(4096)
        // Below natter's keep-alive idle timeout (15 s), so no request races a server-side close.
        .pool_idle_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(90))
        .build()?)
}

pub async fn synapse_latency(
    ctx: &Ctx,
    opts: &LatencyOpts,
    results: &mut Results,
) -> anyhow::Result<()> {
    let server = SynapseServer::start(&ctx.peers_dir).await?;
    let http = http_client()?;
    let started = Instant::now();
    let users = synapse::register(&http, &server.base, opts.users).await?;
    let rooms = world::directs_and_groups(opts.users, opts.group_size);
    let room_ids = synapse::create_rooms(&http, &server.base, &users, &rooms).await?;
    let tracker = crate::track::Tracker::new(crate::fleet::TRACKER_CAPACITY);
    let syncers = Syncers::start(&http, &server.base, &users, tracker.clone()).await?;
    log_synapse(format!(
        "latency: {} users, {} rooms, setup {:.1} s",
        opts.users,
        rooms.len(),
        started.elapsed().as_secs_f64()
    ));
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let directs = rooms.iter().filter(|r| r.direct).count();
    let mut g = 0u64;
    let users = Arc::new(users);
    let room_ids = Arc::new(room_ids);
    for &rate in &opts.rates {
        let mut rng = SplitMix::new(rate as u64);
        let total = total_events(ctx.duration, rate);
        tracker.start_phase(0);
        let (errors0, limited0) = (
            syncers.errors.load(Ordering::Acquire),
            syncers.limited.load(Ordering::Acquire),
        );
        let phase = SynapsePhase::start(&server);
        let start = Instant::now();
        let start_us = tracker.now_us();
        let mut sends = tokio::task::JoinSet::new();
        for i in 0..total {
            let intended = start + intended_offset(i, rate);
            tokio::time::sleep_until(intended.into()).await;
            let room = if rng.below(2) == 0 || directs == rooms.len() {
                rng.below(directs as u64) as usize
            } else {
                directs + rng.below((rooms.len() - directs) as u64) as usize
            };
            let members = &rooms[room].members;
            let sender = members[rng.below(members.len() as u64) as usize];
            let t_us = start_us + intended_offset(i, rate).as_micros() as u64;
            let text = crate::track::payload(g, members.len() as u32, t_us);
            let req = synapse::send(
                &http,
                &server.base,
                &users[sender],
                &room_ids[room],
                &format!("{}-{g}", ctx.run_tag),
                &text,
            );
            let tracker = tracker.clone();
            sends.spawn(async move {
                match req.send().await {
                    Ok(r) if r.status().is_success() => {}
                    _ => tracker.on_error(),
                }
            });
            g += 1;
        }
        while sends.join_next().await.is_some() {}
        // Everything delivered, or 10 s after the last send.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut drained = false;
        while Instant::now() < deadline {
            if tracker.completed.load(Ordering::Acquire) + tracker.errors.load(Ordering::Acquire)
                >= total
            {
                drained = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let p = phase.end(&server);
        let o = Outcome {
            phase: p,
            delivered: tracker.delivered.load(Ordering::Acquire),
            completed: tracker.completed.load(Ordering::Acquire),
            sent: total,
            errors: tracker.errors.load(Ordering::Acquire),
            per_delivery: summarize(&tracker.per_delivery.merged()),
            last_member: summarize(&tracker.last_member.merged()),
            drained,
        };
        let sync_errors = syncers.errors.load(Ordering::Acquire) - errors0;
        let limited = syncers.limited.load(Ordering::Acquire) - limited0;
        log_synapse(format!(
            "sync errors {sync_errors}, limited timelines {limited}"
        ));
        require_complete(ctx, "synapse", &format!("latency at {rate} msg/s"), &o)?;
        let case = format!("{} users, {rate} msg/s offered", opts.users);
        let p = &o.phase;
        let scen = "3. end-to-end latency";
        for (metric, v) in [
            ("send to each device, p50", o.per_delivery.p50_ms),
            ("send to each device, p99", o.per_delivery.p99_ms),
            ("send to each device, p99.9", o.per_delivery.p999_ms),
            ("send to every member, p99", o.last_member.p99_ms),
        ] {
            results.add(scen, &case, metric, "ms", false, "synapse", measured(v, p));
        }
        results.add(
            scen,
            &case,
            "deliveries per server CPU-second",
            "1/s",
            true,
            "synapse",
            measured(o.delivered as f64 / p.cpu_s.max(0.01), p),
        );
        results.add(
            scen,
            &case,
            "messages every member had within 10 s of the run's end",
            "%",
            true,
            "synapse",
            measured(completed_pct(&o), p),
        );
    }
    syncers.close().await;
    server.stop().await;
    Ok(())
}

fn log_synapse(what: impl std::fmt::Display) {
    eprintln!("[{:>10}] {what}", "synapse");
}

pub async fn synapse_history(
    ctx: &Ctx,
    opts: &HistoryOpts,
    results: &mut Results,
) -> anyhow::Result<()> {
    let server = SynapseServer::start(&ctx.peers_dir).await?;
    let http = http_client()?;
    let users = synapse::register(&http, &server.base, 2).await?;
    let room_ids = synapse::create_rooms(
        &http,
        &server.base,
        &users,
        &[RoomSpec {
            members: vec![0, 1],
            direct: true,
        }],
    )
    .await?;
    let room = room_ids[0].clone();
    stream::iter(0..opts.messages)
        .map(|i| {
            let req = synapse::send(
                &http,
                &server.base,
                &users[0],
                &room,
                &format!("h{i}"),
                &format!("history message {i}: a line of ordinary chat text"),
            );
            async move {
                let r = req.send().await?;
                if !r.status().is_success() {
                    bail!("send: {}", r.status());
                }
                anyhow::Ok(())
            }
        })
        .buffer_unordered(8)
        .try_collect::<Vec<_>>()
        .await
        .context("preloading history")?;
    let tokens = Arc::new(synapse::page_tokens(&http, &server.base, &users[1], &room).await?);
    if tokens.is_empty() {
        bail!("no history pages to read");
    }
    let url = format!(
        "{}/_matrix/client/v3/rooms/{}/messages",
        server.base,
        synapse::enc(&room)
    );
    let token = users[1].token.clone();
    let histogram = Arc::new(Sharded::default());
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let total = total_events(ctx.duration, opts.rate);
    let mut rng = SplitMix::new(5);
    let mut tasks = tokio::task::JoinSet::new();
    let phase = SynapsePhase::start(&server);
    let start = Instant::now();
    for i in 0..total {
        let intended = start + intended_offset(i, opts.rate);
        tokio::time::sleep_until(intended.into()).await;
        let from = &tokens[rng.below(tokens.len() as u64) as usize];
        let q = [("dir", "b"), ("limit", "50"), ("from", from.as_str())];
        let request = http.get(&url).bearer_auth(&token).query(&q);
        let (histogram, errors) = (histogram.clone(), errors.clone());
        tasks.spawn(async move {
            let ok = match request.send().await {
                Ok(response) if response.status().is_success() => response.bytes().await.is_ok(),
                _ => false,
            };
            if !ok {
                errors.fetch_add(1, Ordering::Relaxed);
            }
            histogram.record(i as usize, intended.elapsed().as_micros() as u64);
        });
    }
    while tasks.join_next().await.is_some() {}
    let p = phase.end(&server);
    let s = summarize(&histogram.merged());
    let errors = errors.load(Ordering::Acquire);
    log_synapse(format!(
        "history: {} pages from {} start points, p50 {:.2} ms p99 {:.2} ms, {errors} errors",
        s.count,
        tokens.len(),
        s.p50_ms,
        s.p99_ms
    ));
    if errors > 0 {
        bail!("{errors} history requests failed");
    }
    let case = format!(
        "pages of 50 of {} messages, {} pages/s",
        opts.messages, opts.rate
    );
    for (metric, v) in [
        ("page, p50", s.p50_ms),
        ("page, p99", s.p99_ms),
        ("page, p99.9", s.p999_ms),
    ] {
        results.add(
            "5. history",
            &case,
            metric,
            "ms",
            false,
            "synapse",
            measured(v, &p),
        );
    }
    results.add(
        "5. history",
        &case,
        "pages per server CPU-second",
        "1/s",
        true,
        "synapse",
        measured(s.count as f64 / p.cpu_s.max(0.01), &p),
    );
    server.stop().await;
    Ok(())
}
