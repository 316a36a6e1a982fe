//! `natter-bench soak`: a long run of the mixed traffic a chat product sees, against a running
//! natter (the cluster behind NGINX by default), to show that memory and file descriptors stay
//! flat while clients come and go (issue 9, section 5).
//!
//! A population of users, each in one direct conversation and groups of 5, 25 and (for the
//! first 100) 100 members, acts at an open-loop rate: sends, edits, reactions, typing, read
//! receipts, history pages and other REST calls. Devices drop all the time (half without a close
//! frame, some of those with a TCP reset), act over REST while offline and resume with their
//! cursors; second-device sessions log in and out. At the end every device resumes and the run
//! checks that every acknowledged message reached every member, and that no device received a
//! change twice. Server processes are sampled every `--sample-s` seconds (see `watch`).

mod counters;
mod user;
mod watch;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use futures_util::{StreamExt, TryStreamExt, stream};
use natter_sdk::Client;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::sched::{SplitMix, due_by};
use counters::Counters;
use user::{Action, Cmd, Env, User};
use watch::{Sample, Trend, Watched};

/// Concurrent REST calls while setting up.
const SETUP_CONCURRENCY: usize = 8;
/// Passes the server's password-strength check.
const PASSWORD: &str = "soak-Kestrel-violet-91";
/// How long the end of a run waits for every device to resume and receive everything.
const FINISH_WAIT: Duration = Duration::from_secs(90);
/// Second-device sessions open at once, at most.
const GUESTS_MAX: usize = 50;
/// Share of each action in the mix, in percent (sends are most of the traffic).
const MIX: [(Action, u64); 7] = [
    (Action::Send, 60),
    (Action::Edit, 6),
    (Action::React, 8),
    (Action::Typing, 10),
    (Action::Read, 8),
    (Action::History, 4),
    (Action::Rest, 4),
];

#[derive(Args, Clone, Debug, PartialEq)]
pub struct SoakArgs {
    /// The natter to load: NGINX in front of the cluster (scripts/cluster), or one node.
    #[arg(
        long,
        env = "NATTER_SOAK_URL",
        default_value = "http://127.0.0.1:58080"
    )]
    pub url: String,
    #[arg(long, default_value_t = 30.0)]
    pub minutes: f64,
    /// Seconds between two samples of the server processes.
    #[arg(long, default_value_t = 30.0)]
    pub sample_s: f64,
    /// Users (each with one primary device).
    #[arg(long, default_value_t = 300)]
    pub population: usize,
    /// Actions per second over all users (60 % of them sends).
    #[arg(long, default_value_t = 150.0)]
    pub rate: f64,
    /// Connection drops per second (each followed by 0.2-5 s offline, then a resume).
    #[arg(long, default_value_t = 3.0)]
    pub churn_per_s: f64,
    /// Second-device sessions per minute (login, 5-30 s live, logout).
    #[arg(long, default_value_t = 30.0)]
    pub guests_per_min: f64,
    /// Processes to watch, as NAME=PID (repeatable); default: the cluster's nodes and NGINX,
    /// from the pid files under --cluster-dir.
    #[arg(long = "pid", value_name = "NAME=PID")]
    pub pids: Vec<String>,
    #[arg(
        long,
        env = "NATTER_CLUSTER_DIR",
        default_value = "/tmp/natter-cluster"
    )]
    pub cluster_dir: PathBuf,
    /// Where to write the samples and the summary (default bench/results/soak/<time>.json).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Everything a run produced; written as JSON.
#[derive(Debug, Serialize)]
pub struct SoakReport {
    pub command: String,
    pub url: String,
    pub started_utc: String,
    pub minutes: f64,
    pub population: usize,
    pub rooms: usize,
    pub rate: f64,
    pub churn_per_s: f64,
    pub guests_per_min: f64,
    pub totals: std::collections::BTreeMap<&'static str, u64>,
    /// Acknowledged messages some member never received.
    pub losses: u64,
    /// Devices that did not finish (their task failed or hung).
    pub devices_lost: usize,
    /// The processes before the users were registered (idle, or left over from earlier runs).
    pub before_setup: Vec<watch::Reading>,
    pub trends: Vec<Trend>,
    pub samples: Vec<Sample>,
}

impl SoakReport {
    /// True when nothing was lost, duplicated or refused and every watched process stayed flat.
    pub fn clean(&self) -> bool {
        self.losses == 0
            && self.devices_lost == 0
            && self.totals.get("duplicates") == Some(&0)
            && self.totals.get("errors") == Some(&0)
    }
}

fn watched(args: &SoakArgs) -> anyhow::Result<Vec<Watched>> {
    let mut out = Vec::new();
    for spec in &args.pids {
        let (name, pid) = spec.split_once('=').context("--pid takes NAME=PID")?;
        out.push(Watched {
            name: name.into(),
            pid: pid.parse().context("--pid takes NAME=PID")?,
            with_children: false,
        });
    }
    if out.is_empty() {
        let read_pid = |path: PathBuf| -> Option<u32> {
            std::fs::read_to_string(path).ok()?.trim().parse().ok()
        };
        for n in 1..=9 {
            if let Some(pid) = read_pid(args.cluster_dir.join(format!("node-{n}/pid"))) {
                out.push(Watched {
                    name: format!("node-{n}"),
                    pid,
                    with_children: false,
                });
            }
        }
        if let Some(pid) = read_pid(args.cluster_dir.join("nginx/nginx.pid")) {
            out.push(Watched {
                name: "nginx".into(),
                pid,
                with_children: true,
            });
        }
    }
    out.push(Watched {
        name: "bench".into(),
        pid: std::process::id(),
        with_children: false,
    });
    Ok(out)
}

/// Rooms over `n` users: a direct conversation per pair, groups of 5 and of 25 over everyone,
/// and one group of the first 100. Each room is its members (the first one creates it).
fn rooms(n: usize) -> Vec<(Vec<usize>, bool)> {
    let mut rooms: Vec<(Vec<usize>, bool)> =
        (0..n / 2).map(|p| (vec![2 * p, 2 * p + 1], true)).collect();
    for size in [5, 25] {
        for start in (0..n).step_by(size) {
            let members: Vec<usize> = (start..(start + size).min(n)).collect();
            if members.len() >= 2 {
                rooms.push((members, false));
            }
        }
    }
    if n >= 100 {
        rooms.push(((0..100).collect(), false));
    }
    rooms
}

async fn setup(base: &Client, tag: &str, n: usize) -> anyhow::Result<(Vec<User>, usize)> {
    let registered: Vec<(usize, Client, Uuid)> = stream::iter(0..n)
        .map(|u| {
            let client = base.anonymous();
            let name = format!("{tag}-{u}");
            async move {
                let tokens = client
                    .register(&name, PASSWORD)
                    .await
                    .with_context(|| format!("register {name}"))?;
                anyhow::Ok((u, client, tokens.user.id))
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect()
        .await?;
    let mut registered = registered;
    registered.sort_by_key(|r| r.0);
    let (clients, ids): (Vec<Client>, Vec<Uuid>) =
        registered.into_iter().map(|(_, c, id)| (c, id)).unzip();
    let specs = rooms(n);
    let created: Vec<(usize, Uuid)> = stream::iter(specs.iter().enumerate())
        .map(|(r, (members, direct))| {
            let (clients, ids) = (&clients, &ids);
            async move {
                let owner = &clients[members[0]];
                let summary = if *direct {
                    owner.create_direct(ids[members[1]]).await
                } else {
                    let others: Vec<Uuid> = members[1..].iter().map(|u| ids[*u]).collect();
                    owner
                        .create_group(&format!("soak room {r}"), None, &others)
                        .await
                }
                .with_context(|| format!("create room {r}"))?;
                anyhow::Ok((r, summary.conversation.id))
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect()
        .await?;
    let mut conv = vec![Uuid::nil(); specs.len()];
    for (r, id) in created {
        conv[r] = id;
    }
    let mut of: Vec<Vec<(usize, Uuid)>> = vec![Vec::new(); n];
    for (r, (members, _)) in specs.iter().enumerate() {
        for &u in members {
            of[u].push((r, conv[r]));
        }
    }
    let users = clients
        .into_iter()
        .zip(of)
        .enumerate()
        .map(|(u, (client, rooms))| {
            User::new(u, format!("{tag}-{u}"), PASSWORD.into(), client, rooms)
        })
        .collect();
    Ok((users, specs.len()))
}

fn pick_action(rng: &mut SplitMix) -> Action {
    let total: u64 = MIX.iter().map(|m| m.1).sum();
    let mut x = rng.below(total);
    for (action, weight) in MIX {
        if x < weight {
            return action;
        }
        x -= weight;
    }
    Action::Send
}

/// Runs the soak and returns its report (also printed as it goes).
pub async fn run(args: &SoakArgs) -> anyhow::Result<SoakReport> {
    let url = reqwest::Url::parse(&args.url).context("--url")?;
    let host = url.host_str().context("--url has no host")?;
    let port = url.port_or_known_default().context("--url has no port")?;
    let env = Arc::new(Env {
        addr: format!("{host}:{port}"),
        ws_url: format!("ws://{host}:{port}/api/v1/ws"),
        counters: Counters::default(),
    });
    let procs = watched(args)?;
    let base = Client::new(args.url.trim_end_matches('/'))?;
    base.health()
        .await
        .context("the server does not answer /healthz")?;
    let started_utc = utc_now();
    let tag = format!(
        "soak{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs()
    );
    let before_setup: Vec<watch::Reading> =
        procs.iter().map(|w| watch::read(w, None, 0.0)).collect();
    let setup_started = Instant::now();
    let (users, n_rooms) = setup(&base, &tag, args.population).await?;
    let names: Vec<String> = users.iter().map(|u| u.username.clone()).collect();
    eprintln!(
        "soak: {} users in {n_rooms} rooms set up in {:.1} s; watching {}",
        users.len(),
        setup_started.elapsed().as_secs_f64(),
        procs
            .iter()
            .map(|p| format!("{}={}", p.name, p.pid))
            .collect::<Vec<_>>()
            .join(" ")
    );

    let mut devices = JoinSet::new();
    let mut senders = Vec::new();
    for user in users {
        let (tx, rx) = mpsc::unbounded_channel();
        senders.push(tx);
        devices.spawn(user.run(env.clone(), rx));
    }
    let connect_deadline = Instant::now() + Duration::from_secs(120);
    while env
        .counters
        .online
        .load(std::sync::atomic::Ordering::Relaxed)
        < senders.len() as u64
    {
        if Instant::now() > connect_deadline {
            bail!("not every device connected within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let t0 = Instant::now();
    let (stop_watch, mut stopped) = tokio::sync::watch::channel(false);
    let (end_traffic, traffic_over) = tokio::sync::watch::channel(false);
    let watcher = {
        let env = env.clone();
        let every = Duration::from_secs_f64(args.sample_s);
        tokio::spawn(async move {
            let mut samples: Vec<Sample> = Vec::new();
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.changed() => {}
                }
                let t_s = t0.elapsed().as_secs_f64();
                let procs = procs
                    .iter()
                    .map(|w| {
                        let previous = samples.last().and_then(|s| {
                            Some((s.procs.iter().find(|r| r.name == w.name)?, s.t_s))
                        });
                        watch::read(w, previous, t_s)
                    })
                    .collect();
                let sample = Sample {
                    t_s,
                    traffic: !*traffic_over.borrow(),
                    load1: watch::load1(),
                    procs,
                    client: env.counters.snapshot(),
                };
                println!("{}", watch::line(&sample));
                samples.push(sample);
                if *stopped.borrow() {
                    return samples;
                }
            }
        })
    };

    let duration = Duration::from_secs_f64(args.minutes * 60.0);
    let mut rng = SplitMix::new(0x50A4);
    let (mut actions, mut drops, mut guests_started) = (0u64, 0u64, 0u64);
    let mut guests = JoinSet::new();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    while t0.elapsed() < duration {
        tick.tick().await;
        let elapsed = t0.elapsed();
        for _ in actions..due_by(elapsed, args.rate) {
            let who = rng.below(senders.len() as u64) as usize;
            let _ = senders[who].send(Cmd::Act(pick_action(&mut rng)));
        }
        actions = due_by(elapsed, args.rate);
        if args.churn_per_s > 0.0 {
            for _ in drops..due_by(elapsed, args.churn_per_s) {
                let who = rng.below(senders.len() as u64) as usize;
                let abrupt = rng.below(2) == 0;
                let pause = Duration::from_millis(200 + rng.below(4800));
                let _ = senders[who].send(Cmd::Drop { abrupt, pause });
            }
            drops = due_by(elapsed, args.churn_per_s);
        }
        if args.guests_per_min > 0.0 {
            while guests.try_join_next().is_some() {}
            for _ in guests_started..due_by(elapsed, args.guests_per_min / 60.0) {
                if guests.len() < GUESTS_MAX {
                    let who = rng.below(names.len() as u64) as usize;
                    let left = duration.saturating_sub(elapsed) + Duration::from_secs(1);
                    let stay = Duration::from_millis(5000 + rng.below(25_000)).min(left);
                    guests.spawn(user::guest(
                        env.clone(),
                        base.clone(),
                        names[who].clone(),
                        PASSWORD.into(),
                        stay,
                    ));
                }
            }
            guests_started = due_by(elapsed, args.guests_per_min / 60.0);
        }
    }
    let _ = end_traffic.send(true);
    eprintln!(
        "soak: traffic stopped after {:.0} s; every device resumes and catches up",
        t0.elapsed().as_secs_f64()
    );

    // Every acknowledged send, once nothing is outstanding; then every device must receive them.
    let mut acked: Vec<HashSet<i64>> = vec![HashSet::new(); n_rooms];
    for tx in &senders {
        let (reply, answer) = oneshot::channel();
        let _ = tx.send(Cmd::Quiesce(reply));
        if let Ok(Ok(list)) = tokio::time::timeout(Duration::from_secs(30), answer).await {
            for (room, seq) in list {
                acked[room].insert(seq);
            }
        }
    }
    let want = Arc::new(acked);
    let deadline = Instant::now() + FINISH_WAIT;
    for tx in &senders {
        let _ = tx.send(Cmd::Finish {
            want: want.clone(),
            deadline,
        });
    }
    let mut finished = Vec::new();
    let all = async {
        while let Some(done) = devices.join_next().await {
            if let Ok(user) = done {
                finished.push(user);
            }
        }
    };
    let _ = tokio::time::timeout(FINISH_WAIT + Duration::from_secs(30), all).await;
    devices.abort_all();
    drop(senders);
    let _ = tokio::time::timeout(Duration::from_secs(60), async {
        while guests.join_next().await.is_some() {}
    })
    .await;
    guests.abort_all();
    let _ = stop_watch.send(true);
    let samples = watcher.await.context("the sampler failed")?;

    let mut losses = 0u64;
    for user in &finished {
        let missing = user.missing(&want);
        if missing > 0 {
            eprintln!(
                "soak: user {} never received {missing} acknowledged messages",
                user.index
            );
        }
        losses += missing;
    }
    let under_load: Vec<Sample> = samples.iter().filter(|s| s.traffic).cloned().collect();
    let trends: Vec<Trend> = samples
        .first()
        .map(|s| {
            s.procs
                .iter()
                .filter_map(|r| watch::trend(&under_load, &r.name))
                .collect()
        })
        .unwrap_or_default();
    let report = SoakReport {
        command: command_line(),
        url: args.url.clone(),
        started_utc,
        minutes: args.minutes,
        population: args.population,
        rooms: n_rooms,
        rate: args.rate,
        churn_per_s: args.churn_per_s,
        guests_per_min: args.guests_per_min,
        totals: env.counters.snapshot(),
        losses,
        devices_lost: names.len() - finished.len(),
        before_setup,
        trends,
        samples,
    };
    print_summary(&report);
    Ok(report)
}

/// How this run was started, for its report.
pub(crate) fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("natter-bench {}", args.join(" "))
}

pub(crate) fn utc_now() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn print_summary(r: &SoakReport) {
    let loads: Vec<f64> = r.samples.iter().map(|s| s.load1).collect();
    let max_load = loads.iter().copied().fold(0.0, f64::max);
    println!(
        "\nmachine load average (1 min) mean {:.1}, max {max_load:.1}",
        loads.iter().sum::<f64>() / loads.len().max(1) as f64
    );
    println!(
        "soak summary ({:.1} min, {} users, {} rooms, {} actions/s, {} drops/s, {} guests/min)",
        r.minutes, r.population, r.rooms, r.rate, r.churn_per_s, r.guests_per_min
    );
    println!(
        "| process | RSS MiB start / middle / end | RSS first / last window | RSS slope MiB/h (after the first window) | fds start / middle / end | fds first / last window | fds slope /h (after the first window) | threads | CPU % | verdict |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for t in &r.trends {
        println!(
            "| {} | {} / {} / {} | {} / {} | {:+} ({:+}) | {} / {} / {} | {} / {} | {:+} ({:+}) | {} -> {} | {} | {} |",
            t.name,
            t.rss_mib_start,
            t.rss_mib_middle,
            t.rss_mib_end,
            t.rss_mib_first_window,
            t.rss_mib_last_window,
            t.rss_mib_per_hour,
            t.rss_mib_per_hour_after_first_window,
            t.fds_start,
            t.fds_middle,
            t.fds_end,
            t.fds_first_window,
            t.fds_last_window,
            t.fds_per_hour,
            t.fds_per_hour_after_first_window,
            t.threads_start,
            t.threads_end,
            t.cpu_pct_mean,
            if t.flat { "flat" } else { "GROWING" }
        );
    }
    let brief = |readings: &[watch::Reading]| -> String {
        readings
            .iter()
            .map(|p| {
                format!(
                    "{} {:.1} MiB {} fd",
                    p.name,
                    p.rss_kib as f64 / 1024.0,
                    p.fds
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("before setup: {}", brief(&r.before_setup));
    if let Some(after) = r.samples.last() {
        println!("after every client left: {}", brief(&after.procs));
    }
    let c = |k: &str| r.totals.get(k).copied().unwrap_or(0);
    println!(
        "messages acked {} (WebSocket {}, REST {}), delivered {}, updates {}, replayed on resume {}",
        c("acked_ws") + c("acked_rest"),
        c("acked_ws"),
        c("acked_rest"),
        c("delivered"),
        c("updated"),
        c("replayed")
    );
    println!(
        "drops {} abrupt + {} clean, reconnects {}, server closes {}, guest sessions {}",
        c("drops_abrupt"),
        c("drops_clean"),
        c("reconnects"),
        c("server_closes"),
        c("guest_sessions")
    );
    println!(
        "edits {}, reactions {}, typing {}, reads {}, history pages {}, other REST {}, rate limited {}",
        c("edits"),
        c("reactions"),
        c("typing"),
        c("reads"),
        c("history_pages"),
        c("rest_calls"),
        c("rate_limited")
    );
    println!(
        "errors {}, losses {}, duplicates {}, devices lost {}",
        c("errors"),
        r.losses,
        c("duplicates"),
        r.devices_lost
    );
}

/// `natter-bench soak`: runs, prints, writes the JSON.
pub async fn command(args: &SoakArgs) -> anyhow::Result<()> {
    let report = run(args).await?;
    let out = args.out.clone().unwrap_or_else(|| {
        let stamp = report.started_utc.replace([':', '-'], "");
        // A directory of its own: `render` and `--merge` take the latest bench/results/*.json.
        PathBuf::from("bench/results/soak").join(format!("{stamp}.json"))
    });
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&report)?)?;
    eprintln!("soak: wrote {}", out.display());
    if !report.clean() {
        bail!("the soak lost, duplicated or refused something (see above)");
    }
    Ok(())
}

/// A few seconds of the soak against a fresh embedded server (`natter-bench smoke`).
pub async fn smoke(url: &str, pid: u32) -> anyhow::Result<()> {
    let args = SoakArgs {
        url: url.into(),
        minutes: 4.0 / 60.0,
        sample_s: 1.0,
        population: 12,
        rate: 40.0,
        churn_per_s: 2.0,
        guests_per_min: 60.0,
        pids: vec![format!("natter={pid}")],
        cluster_dir: PathBuf::new(),
        out: None,
    };
    let report = run(&args).await?;
    let c = |k: &str| report.totals.get(k).copied().unwrap_or(0);
    if !report.clean() || c("acked_ws") == 0 || c("reconnects") == 0 || report.trends.is_empty() {
        bail!(
            "soak smoke: not clean or nothing happened: {:?}",
            report.totals
        );
    }
    Ok(())
}
