//! Scenario 2, fan-out: one room of each size, at a fixed offered rate of deliveries and at
//! saturation.

use std::time::Duration;

use anyhow::bail;

use super::{
    Ctx, PUBLISHERS_MAX, completed_pct, log, measured, open_loop, require_complete, saturate,
};
use crate::fleet::Fleet;
use crate::report::Results;
use crate::targets::Kind;
use crate::world::{self, RoomSpec};

pub struct FanoutOpts {
    pub sizes: Vec<usize>,
    /// Offered deliveries per second in the fixed-rate run (messages/s = this / room size).
    pub fixed_deliveries_per_s: f64,
}

pub async fn run(
    ctx: &Ctx,
    kind: Kind,
    opts: &FanoutOpts,
    results: &mut Results,
) -> anyhow::Result<()> {
    for &size in &opts.sizes {
        if kind == Kind::Natter && size > ctx.natter_room_max {
            bail!(
                "room of {size}: not run (above --natter-room-max {}; see BENCHMARKS.md)",
                ctx.natter_room_max
            );
        }
        let target = ctx.start(kind).await?;
        let world = world::build(
            &*target,
            size,
            vec![RoomSpec {
                members: (0..size).collect(),
                direct: false,
            }],
        )
        .await?;
        let mut fleet = Fleet::open(&target, &world, &ctx.run_tag).await?;
        log(
            kind.name(),
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
        let o = open_loop(&mut fleet, &*target, rate, ctx.duration, &mut g, |i| {
            ((i as usize) % publishers, 0, n)
        })
        .await?;
        require_complete(ctx, kind.name(), &format!("{case}, {rate} msg/s"), &o)?;
        let fixed = format!("{case}, {} msg/s fixed", rate);
        let p = &o.phase;
        results.add(
            scen,
            &fixed,
            "deliveries per server CPU-second",
            "1/s",
            true,
            kind.name(),
            measured(o.delivered as f64 / p.cpu_s.max(0.01), p),
        );
        results.add(
            scen,
            &fixed,
            "last member has it, p50",
            "ms",
            false,
            kind.name(),
            measured(o.last_member.p50_ms, p),
        );
        results.add(
            scen,
            &fixed,
            "last member has it, p99",
            "ms",
            false,
            kind.name(),
            measured(o.last_member.p99_ms, p),
        );
        results.add(
            scen,
            &fixed,
            "messages every member had within 10 s of the run's end",
            "%",
            true,
            kind.name(),
            measured(completed_pct(&o), p),
        );

        let window = (200_000 / size).clamp(4, 2048);
        let o = saturate(
            &mut fleet,
            &*target,
            window,
            ctx.duration,
            &mut g,
            publishers,
            0,
            n,
        )
        .await?;
        require_complete(ctx, kind.name(), &format!("{case}, saturation"), &o)?;
        let sat = format!("{case}, saturation");
        let p = &o.phase;
        results.add(
            scen,
            &sat,
            "deliveries/s",
            "1/s",
            true,
            kind.name(),
            measured(o.delivered as f64 / p.wall_s, p),
        );
        results.add(
            scen,
            &sat,
            "deliveries per server CPU-second",
            "1/s",
            true,
            kind.name(),
            measured(o.delivered as f64 / p.cpu_s.max(0.01), p),
        );
        results.add(
            scen,
            &sat,
            "last member has it, p99",
            "ms",
            false,
            kind.name(),
            measured(o.last_member.p99_ms, p),
        );
        fleet.close().await;
        target.stop().await;
    }
    Ok(())
}
