//! Scenario 1, idle connections: server RSS and kernel memory per connection, and the connect +
//! authenticate + subscribe rate.
//!
//! The RSS before and after the connections is read once it has stopped moving
//! ([`settled_rss`]): allocators return freed memory on clocks of their own (natter's jemalloc
//! over about a second, Bun's and Go's on theirs), and a single sample at a fixed delay counted or
//! missed that by chance (natter 1.15-1.61 KiB per connection over eleven runs).

use std::time::{Duration, Instant};

use super::{Ctx, Phase, PhaseEnd, log, measured};
use crate::fleet::Fleet;
use crate::procfs;
use crate::report::Results;
use crate::targets::{Kind, Target};
use crate::world;

pub async fn run(ctx: &Ctx, kind: Kind, n: usize, results: &mut Results) -> anyhow::Result<()> {
    let target = ctx.start(kind).await?;
    let world = world::build(&*target, n, world::groups(n, 100)).await?;
    let (rss0, sock0, slab0) = (
        settled_rss(&*target).await,
        procfs::sockstat(),
        procfs::slab_kib(),
    );
    let phase = Phase::start(&*target);
    let fleet = Fleet::open(&target, &world, &ctx.run_tag).await?;
    let connect = phase.end();
    // The connect burst's memory is returned over about a second and in steps: give it that
    // before looking for two close samples, which a pause between steps could otherwise be.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rss1, sock1, slab1) = (
        settled_rss(&*target).await,
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

/// Between two samples of a settled RSS.
const SETTLE_STEP: Duration = Duration::from_millis(500);
/// Two samples this close (0.025 KiB per connection at 10,000) are settled.
const STEADY_KIB: u64 = 256;
/// The longest wait for a settled RSS; past it the last sample is taken.
const SETTLE_MAX: Duration = Duration::from_secs(15);

/// The target's RSS once two samples [`SETTLE_STEP`] apart differ by at most [`STEADY_KIB`],
/// waiting at most [`SETTLE_MAX`].
async fn settled_rss(target: &dyn Target) -> u64 {
    let deadline = Instant::now() + SETTLE_MAX;
    let mut last = target.sample().rss_kib;
    while Instant::now() < deadline {
        tokio::time::sleep(SETTLE_STEP).await;
        let now = target.sample().rss_kib;
        if steady(last, now) {
            return now;
        }
        last = now;
    }
    last
}

fn steady(before: u64, after: u64) -> bool {
    before.abs_diff(after) <= STEADY_KIB
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_is_settled_only_when_two_samples_are_close_either_way() {
        assert!(steady(60_000, 60_000 + STEADY_KIB));
        assert!(steady(60_000 + STEADY_KIB, 60_000));
        assert!(!steady(60_000, 60_000 + STEADY_KIB + 1));
        assert!(!steady(70_000, 60_000));
    }
}
