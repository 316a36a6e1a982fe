//! Scenario 1, idle connections: server RSS and kernel memory per connection, and the connect +
//! authenticate + subscribe rate.

use std::time::Duration;

use super::{Ctx, Phase, PhaseEnd, log, measured};
use crate::fleet::Fleet;
use crate::procfs;
use crate::report::Results;
use crate::targets::Kind;
use crate::world;

pub async fn run(ctx: &Ctx, kind: Kind, n: usize, results: &mut Results) -> anyhow::Result<()> {
    let target = ctx.start(kind).await?;
    let world = world::build(&*target, n, world::groups(n, 100)).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (rss0, sock0, slab0) = (
        target.sample().rss_kib,
        procfs::sockstat(),
        procfs::slab_kib(),
    );
    let phase = Phase::start(&*target);
    let fleet = Fleet::open(&target, &world, &ctx.run_tag).await?;
    let connect = phase.end();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rss1, sock1, slab1) = (
        target.sample().rss_kib,
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
            kind.name(),
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
        kind.name(),
        format!(
            "idle {n}: {:.2} KiB RSS/conn, connected in {:.2} s",
            per(rss0, rss1),
            fleet.connect_s
        ),
    );
    fleet.close().await;
    target.stop().await;
    Ok(())
}
