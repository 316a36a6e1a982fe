//! Scenario 3, end-to-end latency: every user in one direct conversation and one group, messages at
//! fixed offered rates, from the intended send time to each device (and to every member). Synapse
//! runs it with its own driver (HTTP sends, `/sync` long-polls), at its own load.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{
    Ctx, Outcome, SynapsePhase, completed_pct, http_client, log, measured, open_loop,
    require_complete,
};
use crate::disk;
use crate::fleet::Fleet;
use crate::report::Results;
use crate::sched::{SplitMix, Ticks, intended_offset, total_events};
use crate::stats::summarize;
use crate::synapse::{self, SynapseServer, Syncers};
use crate::targets::Kind;
use crate::world;

/// How long the disk's fdatasync latency is probed (shorter if the phases are).
const FDATASYNC_PROBE: Duration = Duration::from_secs(2);

pub struct LatencyOpts {
    pub users: usize,
    pub group_size: usize,
    pub rates: Vec<f64>,
}

pub async fn run(
    ctx: &Ctx,
    kind: Kind,
    opts: &LatencyOpts,
    results: &mut Results,
) -> anyhow::Result<()> {
    let target = ctx.start(kind).await?;
    // The disk's own fdatasync latency, on the filesystem of the data, before any load.
    let disk = match target.data_dir() {
        Some(dir) => {
            let probe = ctx.duration.min(FDATASYNC_PROBE);
            let disk =
                tokio::task::spawn_blocking(move || disk::fdatasync_probe(&dir, probe)).await??;
            log(
                kind.name(),
                format!(
                    "disk: {} fdatasyncs of 4 KiB, p50 {:.3} ms p99 {:.3} ms",
                    disk.count, disk.p50_ms, disk.p99_ms
                ),
            );
            Some(disk)
        }
        None => None,
    };
    let rooms = world::directs_and_groups(opts.users, opts.group_size);
    let world = world::build(&*target, opts.users, rooms).await?;
    let mut fleet = Fleet::open(&target, &world, &ctx.run_tag).await?;
    log(
        kind.name(),
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
        let o = open_loop(&mut fleet, &*target, rate, ctx.duration, &mut g, |_| {
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
        require_complete(ctx, kind.name(), &format!("latency at {rate} msg/s"), &o)?;
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
                kind.name(),
                measured(v, p),
            );
        }
        if let Some(disk) = &disk {
            for (metric, v) in [
                ("disk fdatasync, p50", disk.p50_ms),
                ("disk fdatasync, p99", disk.p99_ms),
                (
                    "send to each device p99 - disk fdatasync p99",
                    o.per_delivery.p99_ms - disk.p99_ms,
                ),
            ] {
                results.add(
                    scen,
                    &case,
                    metric,
                    "ms",
                    false,
                    kind.name(),
                    measured(v, p),
                );
            }
            log(
                kind.name(),
                format!(
                    "at {rate} msg/s: p99 {:.3} ms, {:.3} ms above the disk's fdatasync p99",
                    o.per_delivery.p99_ms,
                    o.per_delivery.p99_ms - disk.p99_ms
                ),
            );
        }
        results.add(
            scen,
            &case,
            "deliveries per server CPU-second",
            "1/s",
            true,
            kind.name(),
            measured(o.delivered as f64 / p.cpu_s.max(0.01), p),
        );
        results.add(
            scen,
            &case,
            "messages every member had within 10 s of the run's end",
            "%",
            true,
            kind.name(),
            measured(completed_pct(&o), p),
        );
    }
    fleet.close().await;
    target.stop().await;
    Ok(())
}

pub async fn synapse(ctx: &Ctx, opts: &LatencyOpts, results: &mut Results) -> anyhow::Result<()> {
    let server = SynapseServer::start(&ctx.peers_dir).await?;
    let http = http_client()?;
    let started = Instant::now();
    let users = synapse::register(&http, &server.base, opts.users).await?;
    let rooms = world::directs_and_groups(opts.users, opts.group_size);
    let room_ids = synapse::create_rooms(&http, &server.base, &users, &rooms).await?;
    let tracker = crate::track::Tracker::new(crate::fleet::TRACKER_CAPACITY);
    let syncers = Syncers::start(&http, &server.base, &users, tracker.clone()).await?;
    log(
        "synapse",
        format!(
            "latency: {} users, {} rooms, setup {:.1} s",
            opts.users,
            rooms.len(),
            started.elapsed().as_secs_f64()
        ),
    );
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
        let ticks = Ticks::start(start, rate, total);
        for i in 0..total {
            ticks.release(i).await;
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
        log(
            "synapse",
            format!("sync errors {sync_errors}, limited timelines {limited}"),
        );
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
