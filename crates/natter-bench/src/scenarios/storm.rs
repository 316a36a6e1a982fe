//! Scenario 4, reconnect storm: every client dropped at once (no close frame); time until all are
//! back, authenticated and (natter) resumed with what was sent while they were away.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{StreamExt, TryStreamExt, stream};

use super::{Ctx, Phase, log, measured};
use crate::conn::Cmd;
use crate::fleet::Fleet;
use crate::report::Results;
use crate::stats::summarize;
use crate::targets::Kind;
use crate::world;

pub async fn run(ctx: &Ctx, kind: Kind, n: usize, results: &mut Results) -> anyhow::Result<()> {
    let target = ctx.start(kind).await?;
    let world = world::build(&*target, n, world::groups(n, 100)).await?;
    let mut fleet = Fleet::open(&target, &world, &ctx.run_tag).await?;
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
    if target.resumes() {
        // Something to resume: one message per conversation while everyone is away.
        let (target, world) = (&*target, &world);
        stream::iter(0..world.rooms.len())
            .map(|r| async move {
                target
                    .send_aside(world, r, "missed while away")
                    .await
                    .context("send while away")
            })
            .buffer_unordered(16)
            .try_collect::<Vec<_>>()
            .await?;
    }
    let phase = Phase::start(&*target);
    let started = Instant::now();
    fleet.broadcast(|| Cmd::Reconnect);
    fleet.wait_ready(Duration::from_secs(120)).await?;
    let all_back_s = started.elapsed().as_secs_f64();
    let p = phase.end();
    let per_conn = summarize(&fleet.shared.reconnect_times.merged());
    let replayed = fleet.shared.replayed.load(Ordering::Acquire);
    log(
        kind.name(),
        format!(
            "storm of {n}: all back in {all_back_s:.2} s, p99 {:.1} ms, {replayed} frames replayed",
            per_conn.p99_ms
        ),
    );
    if target.resumes() && replayed < n * 2 {
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
        kind.name(),
        measured(all_back_s, &p),
    );
    results.add(
        scen,
        &case,
        "one client's reconnect, p99",
        "ms",
        false,
        kind.name(),
        measured(per_conn.p99_ms, &p),
    );
    fleet.close().await;
    target.stop().await;
    Ok(())
}
