//! Scenario 7, search (natter only: the relay and Centrifugo keep no messages, and loading a
//! million messages into Synapse would take hours here): message search at a fixed rate over a
//! preloaded corpus. The corpus is `--search-messages` messages in 20 groups of 10 users; the
//! searching user is in 10 of them, so half of what the index holds is not theirs and must be
//! skipped. Texts are 6 to 12 words drawn from a vocabulary of 4,096 made-up words with a
//! Zipf-like skew (a few words are in most messages, most words are rare), as chat is. The
//! queries cycle through a common word, a rare word, two words, a prefix and a word in one
//! conversation, newest first, and a common word by relevance, 20 hits a page.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use futures_util::{StreamExt, TryStreamExt, stream};

use super::{Ctx, Phase, log, measured, requests};
use crate::report::Results;
use crate::sched::{SplitMix, total_events};
use crate::stats::{Sharded, summarize};
use crate::targets::Kind;
use crate::world::{self, RoomSpec};

pub struct SearchOpts {
    pub messages: usize,
    pub rate: f64,
}

const SCENARIO: &str = "7. search";
const ROOMS: usize = 20;
const ROOM_SIZE: usize = 10;
const VOCABULARY: u64 = 4096;
/// Kinds of query ([`query`]).
const KINDS: u64 = 6;
/// Sends in flight while the corpus loads.
const LOADING: usize = 64;

/// Made-up word `i`: syllables of its base-16 digits, so words are distinct and pronounceable.
fn word(i: u64) -> String {
    const SYLLABLES: [&str; 16] = [
        "ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ba", "de", "fu", "go", "hi", "ju", "pe",
        "zo",
    ];
    let mut out = String::new();
    let mut n = i + 16;
    while n > 0 {
        out.push_str(SYLLABLES[(n % 16) as usize]);
        n /= 16;
    }
    out
}

/// A word index skewed towards small ones: word 0 is one draw in eight (in most messages), a
/// given word of the last quarter one in 150,000.
fn skewed(rng: &mut SplitMix) -> u64 {
    let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    ((VOCABULARY as f64) * u.powi(4)) as u64
}

fn text(rng: &mut SplitMix) -> String {
    let n = 6 + rng.below(7);
    (0..n)
        .map(|_| word(skewed(rng)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The query kinds, in the order they cycle; `(name, q, in_one_conversation)`. The sixth is
/// the first again, by relevance.
fn query(i: u64, rng: &mut SplitMix) -> (&'static str, String, bool) {
    match i % KINDS {
        5 => ("common word, by relevance", word(rng.below(4)), false),
        0 => ("common word", word(rng.below(4)), false),
        1 => ("rare word", word(3072 + rng.below(1024)), false),
        2 => (
            "two words",
            format!("{} {}", word(rng.below(8)), word(256 + rng.below(256))),
            false,
        ),
        3 => {
            let w = word(64 + rng.below(192));
            ("prefix", format!("{}*", &w[..4]), false)
        }
        _ => ("word in one conversation", word(16 + rng.below(48)), true),
    }
}

pub async fn run(ctx: &Ctx, opts: &SearchOpts, results: &mut Results) -> anyhow::Result<()> {
    let target = ctx.start(Kind::Natter).await?;
    // User 0 is in rooms 0..10; rooms 10..20 are other people's.
    let rooms: Vec<RoomSpec> = (0..ROOMS)
        .map(|r| {
            let first = if r < ROOMS / 2 { 0 } else { 1 + r * ROOM_SIZE };
            let mut members: Vec<usize> = (0..ROOM_SIZE).map(|k| 1 + r * ROOM_SIZE + k).collect();
            members[0] = first;
            members.sort_unstable();
            members.dedup();
            RoomSpec {
                members,
                direct: false,
            }
        })
        .collect();
    let users = 1 + ROOMS * ROOM_SIZE;
    let world = world::build(&*target, users, rooms.clone()).await?;
    let room_ids: Vec<uuid::Uuid> = world
        .room_names
        .iter()
        .map(|n| n.parse())
        .collect::<Result<_, _>>()?;
    let loaded = Instant::now();
    stream::iter(0..opts.messages)
        .map(|i| {
            let room = i % ROOMS;
            let sender = &world.clients[rooms[room].members[i / ROOMS % rooms[room].members.len()]];
            let mut rng = SplitMix::new(i as u64);
            let body = text(&mut rng);
            let (sender, conv) = (sender.clone(), room_ids[room]);
            async move { sender.send_text(conv, &body).await }
        })
        .buffer_unordered(LOADING)
        .try_collect::<Vec<_>>()
        .await
        .context("loading the corpus")?;
    let load_s = loaded.elapsed().as_secs_f64();
    log(
        "natter",
        format!(
            "search: {} messages loaded in {load_s:.1} s ({:.0}/s)",
            opts.messages,
            opts.messages as f64 / load_s
        ),
    );

    let http = reqwest::Client::new();
    let token = world.clients[0].access_token().unwrap_or_default();
    let base = format!(
        "{}/api/v1/search/messages",
        target.base_url().context("natter serves REST")?
    );
    let by_kind: Arc<Vec<Sharded>> = Arc::new((0..KINDS).map(|_| Sharded::default()).collect());
    let mut names = [""; KINDS as usize];
    let hits = Arc::new(AtomicU64::new(0));
    let total = total_events(ctx.duration, opts.rate);
    let mut rng = SplitMix::new(7);
    let phase = Phase::start(&*target);
    let counted = hits.clone();
    let kinds = by_kind.clone();
    let run = requests::at_rate(
        opts.rate,
        total,
        |i| {
            let (kind, q, one) = query(i, &mut rng);
            names[(i % KINDS) as usize] = kind;
            let mut params = vec![("q", q), ("limit", "20".to_string())];
            if kind.ends_with("by relevance") {
                params.push(("order", "relevance".to_string()));
            }
            if one {
                params.push((
                    "conversation_id",
                    room_ids[rng.below(10) as usize].to_string(),
                ));
            }
            http.get(&base).bearer_auth(&token).query(&params)
        },
        move |_, response| {
            let hits = counted.clone();
            async move {
                let Ok(page) = response.json::<serde_json::Value>().await else {
                    return false;
                };
                let n = page["hits"].as_array().map_or(0, Vec::len);
                hits.fetch_add(n as u64, Ordering::Relaxed);
                true
            }
        },
        move |i, took| kinds[(i % KINDS) as usize].record(i as usize, took),
    )
    .await;
    let p = phase.end();
    let s = summarize(&run.histogram.merged());
    let errors = run.errors;
    let hits = hits.load(Ordering::Acquire);
    log(
        "natter",
        format!(
            "search: {} queries, p50 {:.2} ms p99 {:.2} ms, {:.1} hits a page, {errors} errors",
            s.count,
            s.p50_ms,
            s.p99_ms,
            hits as f64 / s.count.max(1) as f64
        ),
    );
    for (kind, name) in by_kind.iter().zip(names) {
        let k = summarize(&kind.merged());
        log(
            "natter",
            format!(
                "search: {name}: p50 {:.2} ms p99 {:.2} ms",
                k.p50_ms, k.p99_ms
            ),
        );
    }
    if errors > 0 {
        bail!("{errors} searches failed");
    }
    if hits == 0 {
        bail!("no search found anything: the corpus or the index is missing");
    }
    let case = format!(
        "{} messages in {ROOMS} groups (the searcher in half), {} queries/s",
        opts.messages, opts.rate
    );
    requests::report(
        results,
        SCENARIO,
        &case,
        "query",
        "queries per server CPU-second",
        "natter",
        &s,
        &p,
    );
    results.add(
        SCENARIO,
        &case,
        "corpus load, messages/s (REST sends, 64 in flight)",
        "1/s",
        true,
        "natter",
        measured(opts.messages as f64 / load_s, &p),
    );
    target.stop().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_distinct_and_skewed() {
        let words: std::collections::HashSet<String> = (0..VOCABULARY).map(word).collect();
        assert_eq!(words.len(), VOCABULARY as usize);
        let mut rng = SplitMix::new(1);
        let draws: Vec<u64> = (0..10_000).map(|_| skewed(&mut rng)).collect();
        let small = draws.iter().filter(|w| **w < 16).count();
        let rare = draws.iter().filter(|w| **w >= 3072).count();
        assert!(small > 2_000 && rare < 1_500, "small {small}, rare {rare}");
    }
}
