//! Scenario 5, history: REST pages of 50 at a fixed rate from random points of a conversation
//! (natter; the relay and Centrifugo keep no history to page through), and Synapse's `/messages`.

use std::sync::Arc;

use anyhow::{Context, bail};
use futures_util::{StreamExt, TryStreamExt, stream};

use super::{Ctx, Phase, SynapsePhase, http_client, log, requests};
use crate::report::Results;
use crate::sched::{SplitMix, total_events};
use crate::stats::summarize;
use crate::synapse::{self, SynapseServer};
use crate::targets::Kind;
use crate::world::{self, RoomSpec};

pub struct HistoryOpts {
    pub messages: usize,
    pub rate: f64,
}

const SCENARIO: &str = "5. history";
const PER_CPU: &str = "pages per server CPU-second";

fn case(opts: &HistoryOpts) -> String {
    format!(
        "pages of 50 of {} messages, {} pages/s",
        opts.messages, opts.rate
    )
}

pub async fn run(ctx: &Ctx, opts: &HistoryOpts, results: &mut Results) -> anyhow::Result<()> {
    let target = ctx.start(Kind::Natter).await?;
    let world = world::build(
        &*target,
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
    let base_url = target.base_url().context("natter serves REST")?;
    let base = format!("{base_url}/api/v1/conversations/{conv}/messages");
    let total = total_events(ctx.duration, opts.rate);
    let mut rng = SplitMix::new(5);
    let phase = Phase::start(&*target);
    let run = requests::at_rate(
        opts.rate,
        total,
        |_| {
            let before = 51 + rng.below((opts.messages as u64).saturating_sub(50).max(1)) as i64;
            http.get(format!("{base}?before={before}&limit=50"))
                .bearer_auth(&token)
        },
        requests::body_read,
        |_, _| {},
    )
    .await;
    let p = phase.end();
    let s = summarize(&run.histogram.merged());
    let errors = run.errors;
    log(
        "natter",
        format!(
            "history: {} pages, p50 {:.2} ms p99 {:.2} ms, {errors} errors",
            s.count, s.p50_ms, s.p99_ms
        ),
    );
    if errors > 0 {
        bail!("{errors} history requests failed");
    }
    let case = case(opts);
    requests::report(results, SCENARIO, &case, "page", PER_CPU, "natter", &s, &p);
    target.stop().await;
    Ok(())
}

pub async fn synapse(ctx: &Ctx, opts: &HistoryOpts, results: &mut Results) -> anyhow::Result<()> {
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
    let total = total_events(ctx.duration, opts.rate);
    let mut rng = SplitMix::new(5);
    let phase = SynapsePhase::start(&server);
    let run = requests::at_rate(
        opts.rate,
        total,
        |_| {
            let from = &tokens[rng.below(tokens.len() as u64) as usize];
            let q = [("dir", "b"), ("limit", "50"), ("from", from.as_str())];
            http.get(&url).bearer_auth(&token).query(&q)
        },
        requests::body_read,
        |_, _| {},
    )
    .await;
    let p = phase.end(&server);
    let s = summarize(&run.histogram.merged());
    let errors = run.errors;
    log(
        "synapse",
        format!(
            "history: {} pages from {} start points, p50 {:.2} ms p99 {:.2} ms, {errors} errors",
            s.count,
            tokens.len(),
            s.p50_ms,
            s.p99_ms
        ),
    );
    if errors > 0 {
        bail!("{errors} history requests failed");
    }
    let case = case(opts);
    requests::report(results, SCENARIO, &case, "page", PER_CPU, "synapse", &s, &p);
    server.stop().await;
    Ok(())
}
