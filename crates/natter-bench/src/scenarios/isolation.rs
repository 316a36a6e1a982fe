//! Scenario 6, isolation: a quiet room beside a flooded one on the same server. Room B (a few
//! members) sends at a low fixed rate, open loop, first alone and then while room A is at
//! saturation (as in fan-out); B's p99 under the flood over its p99 alone says how much one busy
//! room costs the others (issue 12's target: at most 2x). The two rooms' clients are separate
//! fleets, so their deliveries are counted apart.

use std::time::Duration;

use anyhow::bail;

use super::{Ctx, Outcome, PUBLISHERS_MAX, log, measured, open_loop, require_complete, saturate};
use crate::fleet::{Fleet, Lane};
use crate::report::Results;
use crate::stats::ratio;
use crate::targets::Kind;
use crate::world::{self, RoomSpec};

pub struct IsolationOpts {
    /// Members of the flooded room A.
    pub flooded: usize,
    /// Members of the quiet room B.
    pub quiet: usize,
    /// Messages per second offered in room B.
    pub quiet_rate: f64,
}

const SCENARIO: &str = "6. isolation";

pub async fn run(
    ctx: &Ctx,
    kind: Kind,
    opts: &IsolationOpts,
    results: &mut Results,
) -> anyhow::Result<()> {
    if kind == Kind::Natter && opts.flooded > ctx.natter_room_max {
        bail!(
            "room of {}: not run (above --natter-room-max {})",
            opts.flooded,
            ctx.natter_room_max
        );
    }
    let (a, b) = (opts.flooded, opts.quiet);
    let target = ctx.start(kind).await?;
    let rooms = vec![
        RoomSpec {
            members: (0..a).collect(),
            direct: false,
        },
        RoomSpec {
            members: (a..a + b).collect(),
            direct: false,
        },
    ];
    let world = world::build(&*target, a + b, rooms).await?;
    let mut flood = Fleet::open_users(&target, &world, 0..a, &format!("{}a", ctx.run_tag)).await?;
    let lane = Lane::start()?;
    let mut quiet = Fleet::open_users_on(
        &target,
        &world,
        a..a + b,
        &format!("{}b", ctx.run_tag),
        lane.handle(),
    )
    .await?;
    log(
        kind.name(),
        format!(
            "isolation: rooms of {a} and {b}, setup {:.1} s, connected in {:.1} s",
            world.setup_s,
            flood.connect_s + quiet.connect_s
        ),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (mut g_flood, mut g_quiet) = (0u64, 0u64);
    let quiet_pick = |i: u64| ((i as usize) % b, 1, b as u32);

    let alone = open_loop(
        &mut quiet,
        &*target,
        opts.quiet_rate,
        ctx.duration,
        &mut g_quiet,
        quiet_pick,
    )
    .await?;
    require_complete(ctx, kind.name(), "quiet room alone", &alone)?;

    let publishers = a.min(PUBLISHERS_MAX);
    let window = (200_000 / a).clamp(4, 2048);
    let (flooded, beside) = tokio::join!(
        saturate(
            &mut flood,
            &*target,
            window,
            ctx.duration,
            &mut g_flood,
            publishers,
            0,
            a as u32,
        ),
        open_loop(
            &mut quiet,
            &*target,
            opts.quiet_rate,
            ctx.duration,
            &mut g_quiet,
            quiet_pick,
        ),
    );
    let (flooded, beside) = (flooded?, beside?);
    require_complete(ctx, kind.name(), "flooded room", &flooded)?;
    require_complete(ctx, kind.name(), "quiet room under the flood", &beside)?;
    record(results, kind, opts, &alone, &beside, &flooded);
    flood.close().await;
    quiet.close().await;
    target.stop().await;
    Ok(())
}

fn record(
    results: &mut Results,
    kind: Kind,
    opts: &IsolationOpts,
    alone: &Outcome,
    beside: &Outcome,
    flooded: &Outcome,
) {
    let case = format!(
        "room of {} at {} msg/s beside a room of {} at saturation",
        opts.quiet, opts.quiet_rate, opts.flooded
    );
    let slowdown = ratio(
        Some(beside.per_delivery.p99_ms),
        Some(alone.per_delivery.p99_ms),
    );
    log(
        kind.name(),
        format!(
            "quiet room p99 {:.2} ms alone, {:.2} ms under the flood ({:.2}x); flood {:.0} deliveries/s; RSS {:.1} -> {:.1} MiB",
            alone.per_delivery.p99_ms,
            beside.per_delivery.p99_ms,
            slowdown.unwrap_or(0.0),
            flooded.delivered as f64 / flooded.phase.wall_s,
            alone.phase.rss_mib,
            beside.phase.rss_mib.max(flooded.phase.rss_mib)
        ),
    );
    let rows = [
        (
            "quiet room alone, send to each device, p50",
            "ms",
            false,
            alone.per_delivery.p50_ms,
            alone,
        ),
        (
            "quiet room alone, send to each device, p99",
            "ms",
            false,
            alone.per_delivery.p99_ms,
            alone,
        ),
        (
            "quiet room under the flood, send to each device, p50",
            "ms",
            false,
            beside.per_delivery.p50_ms,
            beside,
        ),
        (
            "quiet room under the flood, send to each device, p99",
            "ms",
            false,
            beside.per_delivery.p99_ms,
            beside,
        ),
        (
            "quiet room p99, under the flood / alone",
            "x",
            false,
            slowdown.unwrap_or(0.0),
            beside,
        ),
        (
            "flooded room, deliveries/s",
            "1/s",
            true,
            flooded.delivered as f64 / flooded.phase.wall_s,
            flooded,
        ),
        (
            "server RSS at the end of the quiet phase",
            "MiB",
            false,
            alone.phase.rss_mib,
            alone,
        ),
        (
            "server RSS at the end of the flood",
            "MiB",
            false,
            flooded.phase.rss_mib,
            flooded,
        ),
    ];
    for (metric, unit, higher, value, o) in rows {
        results.add(
            SCENARIO,
            &case,
            metric,
            unit,
            higher,
            kind.name(),
            measured(value, &o.phase),
        );
    }
}
