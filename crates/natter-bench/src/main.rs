//! `natter-bench`: load natter and its peers side by side, open-loop, and write the figures.
//!
//! One subcommand per scenario of issue 5 and issue 12's isolation, `all` (every scenario, every
//! target, writes `bench/results/<date>.json` and the table in BENCHMARKS.md), `soak` (a long run
//! of mixed traffic against a running cluster, see `soak`), `media` (file upload and download
//! throughput, memory under concurrent uploads, time to the first thumbnail, see `media`), `push`
//! (commit to provider latency and pushes per notifier CPU-second, embedded and scaled out, see
//! `push`) and `smoke` (every scenario and a few seconds of the soak, of `media` and of `push`
//! against natter only, at small sizes: CI runs it so the tool cannot rot).

mod conn;
mod disk;
mod fleet;
mod media;
mod procfs;
mod push;
mod report;
mod scenarios;
mod sched;
mod soak;
mod stats;
mod synapse;
mod targets;
mod track;
mod world;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use crate::report::Results;
use crate::scenarios::Ctx;
use crate::scenarios::fanout::FanoutOpts;
use crate::scenarios::history::HistoryOpts;
use crate::scenarios::isolation::IsolationOpts;
use crate::scenarios::latency::LatencyOpts;
use crate::scenarios::search::SearchOpts;
use crate::targets::bun::RelayFrame;
use crate::targets::{Bins, Kind};

#[derive(Parser)]
#[command(
    name = "natter-bench",
    about = "natter against its peers, side by side, open-loop."
)]
struct Cli {
    /// The natter binary to start (a release build for real figures).
    #[arg(long, global = true, default_value = "target/release/natter")]
    natter_bin: PathBuf,
    /// Where scripts/bench installed the peers (bin/centrifugo, node_modules/.../bun).
    #[arg(long, global = true, default_value = "bench/.peers")]
    peers_dir: PathBuf,
    /// The Bun relay script.
    #[arg(long, global = true, default_value = "bench/relay/bun-relay.js")]
    relay_js: PathBuf,
    /// What the relay's publishers send: `marker` (the bench's marker alone, as recorded) or
    /// `chat` (the marker in a frame as large as natter's `message.new`: equal bytes per
    /// delivery). Not with --merge: the recorded relay figures are the marker's.
    #[arg(long, global = true, value_enum, default_value_t = RelayFrame::Marker)]
    relay_frame: RelayFrame,
    /// Targets to run, comma-separated; peers that are not installed are skipped and reported.
    /// synapse runs only the latency and history scenarios, at its own (lower) load, and natter
    /// is then also measured at that load so that the ratio compares equal offered rates.
    /// natter-cluster (not by default): three nodes behind NGINX on the scale-out backends,
    /// started by `scripts/cluster up` unless running (NATTER_CLUSTER_DIR, NATTER_CLUSTER_PORT),
    /// left running after.
    #[arg(
        long,
        global = true,
        value_delimiter = ',',
        default_value = "natter,bun,centrifugo,synapse"
    )]
    targets: Vec<String>,
    /// Merge this run's figures into the latest bench/results/*.json and BENCHMARKS.md, keeping
    /// every figure it does not measure again (one scenario or one target at a time).
    #[arg(long, global = true)]
    merge: bool,
    /// Length of each measured phase.
    #[arg(long, global = true, default_value_t = 10.0)]
    duration_s: f64,
    #[command(flatten)]
    sizes: Sizes,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct Sizes {
    /// Connections for the idle and reconnect scenarios (the client and each server can hold
    /// about 20,000 file descriptors here, and natter keeps 512 of them back: 19,000 fit).
    #[arg(long, global = true, default_value_t = 10_000)]
    connections: usize,
    /// Room sizes for fan-out.
    #[arg(
        long,
        global = true,
        value_delimiter = ',',
        default_value = "100,1000,10000"
    )]
    sizes: Vec<usize>,
    /// Offered deliveries per second in the fixed-rate fan-out runs.
    #[arg(long, global = true, default_value_t = 20_000.0)]
    fixed_deliveries: f64,
    /// Largest fan-out (and isolation) room natter is run with; larger sizes are reported as not
    /// run. A room of 10,000 takes about 70 s to set up (10,000 registrations, 9,500 members
    /// added one by one) and 10 s to connect on 2 cores.
    #[arg(long, global = true, default_value_t = 10_000)]
    natter_room_max: usize,
    /// Users in the latency scenario (each in one direct conversation and one group).
    #[arg(long, global = true, default_value_t = 2_000)]
    users: usize,
    #[arg(long, global = true, default_value_t = 10)]
    group_size: usize,
    /// Offered messages per second in the latency scenario.
    #[arg(
        long,
        global = true,
        value_delimiter = ',',
        default_value = "2000,20000"
    )]
    rates: Vec<f64>,
    /// Messages in the conversation paged by the history scenario.
    #[arg(long, global = true, default_value_t = 5_000)]
    history_messages: usize,
    /// History pages per second.
    #[arg(long, global = true, default_value_t = 1_000.0)]
    history_rate: f64,
    /// Messages the search scenario loads before it searches.
    #[arg(long, global = true, default_value_t = 1_000_000)]
    search_messages: usize,
    /// Searches per second.
    #[arg(long, global = true, default_value_t = 50.0)]
    search_rate: f64,
    /// Members of the flooded room in the isolation scenario (at saturation).
    #[arg(long, global = true, default_value_t = 1_000)]
    isolation_flooded: usize,
    /// Members of the quiet room in the isolation scenario.
    #[arg(long, global = true, default_value_t = 10)]
    isolation_quiet: usize,
    /// Messages per second offered in the quiet room (open loop).
    #[arg(long, global = true, default_value_t = 10.0)]
    isolation_quiet_rate: f64,
    /// Synapse's load (Python, one process): users in the latency scenario.
    #[arg(long, global = true, default_value_t = 200)]
    synapse_users: usize,
    /// Offered messages per second against Synapse (and natter beside it).
    #[arg(long, global = true, value_delimiter = ',', default_value = "50")]
    synapse_rates: Vec<f64>,
    /// Messages in the room Synapse's history scenario pages through.
    #[arg(long, global = true, default_value_t = 2_000)]
    synapse_history_messages: usize,
    /// History pages per second against Synapse (and natter beside it).
    #[arg(long, global = true, default_value_t = 50.0)]
    synapse_history_rate: f64,
}

#[derive(Subcommand, Clone, PartialEq)]
enum Command {
    /// 1. Idle connections: server RSS and kernel memory per connection.
    Idle,
    /// 2. Fan-out: rooms of 100, 1,000, 10,000 at a fixed rate and at saturation.
    Fanout,
    /// 3. End-to-end latency: direct and group conversations at fixed offered rates.
    Latency,
    /// 4. Reconnect storm: every client dropped at once; time until all are back and resumed.
    Reconnect,
    /// 5. History: REST pages of 50 at a fixed rate (natter, and Synapse's `/messages`).
    History,
    /// 6. Isolation: a quiet room's p99 alone and while another room on the node is flooded.
    Isolation,
    /// 7. Search: message searches at a fixed rate over a preloaded corpus (natter).
    Search,
    /// Every scenario against every target; writes bench/results/<date>.json and BENCHMARKS.md.
    All,
    /// Every scenario against natter only, small and short; fails if any does not complete.
    Smoke,
    /// Mixed traffic with reconnects against a running natter (default: the cluster behind
    /// NGINX) for 30 minutes, sampling the server processes' memory, descriptors and CPU.
    Soak(soak::SoakArgs),
    /// Files through the SDK: upload and download MiB/s and server CPU per GiB, server memory
    /// while many uploads run at once, time to the first thumbnail; against a fresh embedded
    /// natter or --url.
    Media(media::MediaArgs),
    /// Push notifications: from a message's commit to the provider (a local lab) accepting its
    /// push, p50/p99, and pushes per notifier CPU-second, embedded and scaled out; at a fixed
    /// rate and draining a backlog; every push checked (none lost, none twice).
    Push(push::PushArgs),
    /// Runs nothing: renders the latest bench/results/*.json into BENCHMARKS.md again.
    Render,
}

const SCENARIOS: [Command; 7] = [
    Command::Idle,
    Command::Fanout,
    Command::Latency,
    Command::Reconnect,
    Command::History,
    Command::Isolation,
    Command::Search,
];

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        tokio::select! {
            done = run(cli) => done,
            signal = stopped() => bail!("stopped by {signal}"),
        }
    })
}

/// SIGTERM or SIGINT. Returning drops the running scenario, and with it the servers it started
/// (`kill_on_drop`): a bench stopped by `timeout` or Ctrl-C leaves no server running.
async fn stopped() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

fn smoke_sizes() -> Sizes {
    Sizes {
        connections: 50,
        sizes: vec![10, 40],
        natter_room_max: 40,
        fixed_deliveries: 400.0,
        users: 40,
        group_size: 10,
        rates: vec![200.0],
        history_messages: 200,
        history_rate: 50.0,
        search_messages: 2_000,
        search_rate: 10.0,
        isolation_flooded: 40,
        isolation_quiet: 10,
        isolation_quiet_rate: 10.0,
        synapse_users: 20,
        synapse_rates: vec![10.0],
        synapse_history_messages: 100,
        synapse_history_rate: 10.0,
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if cli.merge && cli.relay_frame != RelayFrame::Marker {
        bail!("--relay-frame chat is not merged: the recorded relay figures are the marker's");
    }
    if let Command::Soak(args) = &cli.command {
        return soak::command(args).await;
    }
    if cli.command == Command::Render {
        let latest = report::latest_json(std::path::Path::new("bench/results"))?;
        let markdown = report::render_markdown(&Results::read_json(&latest)?);
        let old = std::fs::read_to_string("BENCHMARKS.md")
            .unwrap_or_else(|_| "# natter benchmarks\n".into());
        std::fs::write("BENCHMARKS.md", report::splice(&old, &markdown))?;
        eprintln!("rendered {} into BENCHMARKS.md", latest.display());
        return Ok(());
    }
    let smoke = cli.command == Command::Smoke;
    let sizes = if smoke {
        smoke_sizes()
    } else {
        cli.sizes.clone()
    };
    let duration = Duration::from_secs_f64(if smoke { 1.0 } else { cli.duration_s });
    // Absolute paths: servers run in their own temporary directories.
    let abs = |p: PathBuf| std::path::absolute(&p).unwrap_or(p);
    let bins = Bins {
        natter: abs(cli.natter_bin.clone()),
        bun: abs(cli
            .peers_dir
            .join("node_modules/@oven/bun-linux-x64/bin/bun")),
        relay_js: abs(cli.relay_js.clone()),
        relay_frame: cli.relay_frame,
        centrifugo: abs(cli.peers_dir.join("bin/centrifugo")),
        cluster_script: abs(PathBuf::from("scripts/cluster")),
    };
    if !bins.natter.exists() {
        bail!(
            "{} not found: build it first (cargo build --release -p natter)",
            bins.natter.display()
        );
    }
    if let Command::Media(args) = &cli.command {
        return media::command(args, &bins).await;
    }
    if let Command::Push(args) = &cli.command {
        return push::command(args, &bins, duration).await;
    }
    let run_tag = format!("b{}", std::process::id());
    let peers_dir = abs(cli.peers_dir.clone());
    let ctx = Ctx {
        bins,
        duration,
        run_tag,
        strict: smoke,
        natter_room_max: sizes.natter_room_max,
        peers_dir,
    };
    let mut results = Results::default();
    let mut targets = Vec::new();
    let mut with_synapse = false;
    for name in if smoke {
        vec!["natter".to_string()]
    } else {
        cli.targets.clone()
    } {
        if name == "synapse" {
            let py = synapse::python(&ctx.peers_dir);
            if py.exists()
                && std::path::Path::new(synapse::PG_BIN)
                    .join("initdb")
                    .exists()
            {
                with_synapse = true;
            } else {
                results.failures.push(format!("synapse: not installed ({} or PostgreSQL 15); run scripts/bench to install peers", py.display()));
            }
            continue;
        }
        let kind = Kind::parse(&name)?;
        let bin = kind.binary(&ctx.bins);
        if bin.exists() {
            targets.push(kind);
        } else {
            results.failures.push(format!(
                "{name}: not installed ({}); run scripts/bench to install peers",
                bin.display()
            ));
        }
    }
    let scenarios: Vec<Command> = match cli.command {
        Command::All | Command::Smoke => SCENARIOS.to_vec(),
        ref one => vec![one.clone()],
    };
    for scenario in scenarios {
        let scenario = &scenario;
        for &kind in &targets {
            if matches!(scenario, Command::History | Command::Search) && kind != Kind::Natter {
                continue;
            }
            if let Err(err) = run_one(&ctx, scenario, kind, &sizes, &mut results).await {
                let failure = format!(
                    "{} against {}: {err:#}",
                    scenario_name(scenario),
                    kind.name()
                );
                eprintln!("FAILED: {failure}");
                results.failures.push(failure);
            }
        }
        if with_synapse
            && matches!(scenario, Command::Latency | Command::History)
            && let Err(err) = run_synapse(
                &ctx,
                scenario,
                &sizes,
                targets.contains(&Kind::Natter),
                &mut results,
            )
            .await
        {
            let failure = format!("{} against synapse: {err:#}", scenario_name(scenario));
            eprintln!("FAILED: {failure}");
            results.failures.push(failure);
        }
    }
    if smoke && let Err(err) = soak_smoke(&ctx).await {
        let failure = format!("soak against natter: {err:#}");
        eprintln!("FAILED: {failure}");
        results.failures.push(failure);
    }
    if smoke && let Err(err) = media::smoke(&ctx.bins).await {
        let failure = format!("media against natter: {err:#}");
        eprintln!("FAILED: {failure}");
        results.failures.push(failure);
    }
    if smoke && let Err(err) = push::smoke(&ctx.bins).await {
        let failure = format!("push against natter: {err:#}");
        eprintln!("FAILED: {failure}");
        results.failures.push(failure);
    }
    fill_header(&mut results, &ctx, &cli);
    if cli.merge && !smoke {
        let latest = report::latest_json(std::path::Path::new("bench/results"))?;
        let mut base = Results::read_json(&latest)?;
        base.merge(&results);
        base.write_json(&latest)?;
        let markdown = report::render_markdown(&base);
        println!("{markdown}");
        let md_path = PathBuf::from("BENCHMARKS.md");
        let old =
            std::fs::read_to_string(&md_path).unwrap_or_else(|_| "# natter benchmarks\n".into());
        std::fs::write(&md_path, report::splice(&old, &markdown))?;
        eprintln!("merged into {} and {}", latest.display(), md_path.display());
        return Ok(());
    }
    let markdown = report::render_markdown(&results);
    println!("{markdown}");
    if smoke {
        if !results.failures.is_empty() {
            bail!(
                "natter-bench smoke: {} scenario(s) did not complete",
                results.failures.len()
            );
        }
        println!("natter-bench smoke ok: every scenario completed against natter");
        return Ok(());
    }
    if cli.command == Command::All {
        let json = PathBuf::from("bench/results").join(format!("{}.json", results.date));
        results.write_json(&json)?;
        let md_path = PathBuf::from("BENCHMARKS.md");
        let old =
            std::fs::read_to_string(&md_path).unwrap_or_else(|_| "# natter benchmarks\n".into());
        std::fs::write(&md_path, report::splice(&old, &markdown))?;
        eprintln!("wrote {} and {}", json.display(), md_path.display());
    }
    Ok(())
}

fn scenario_name(c: &Command) -> &'static str {
    match c {
        Command::Idle => "idle",
        Command::Fanout => "fan-out",
        Command::Latency => "latency",
        Command::Reconnect => "reconnect storm",
        Command::History => "history",
        Command::Isolation => "isolation",
        Command::Search => "search",
        Command::All
        | Command::Smoke
        | Command::Render
        | Command::Soak(_)
        | Command::Media(_)
        | Command::Push(_) => "all",
    }
}

async fn run_one(
    ctx: &Ctx,
    scenario: &Command,
    kind: Kind,
    s: &Sizes,
    results: &mut Results,
) -> anyhow::Result<()> {
    match scenario {
        Command::Idle => scenarios::idle::run(ctx, kind, s.connections, results).await,
        Command::Fanout => {
            let opts = FanoutOpts {
                sizes: s.sizes.clone(),
                fixed_deliveries_per_s: s.fixed_deliveries,
            };
            scenarios::fanout::run(ctx, kind, &opts, results).await
        }
        Command::Latency => {
            let opts = LatencyOpts {
                users: s.users,
                group_size: s.group_size,
                rates: s.rates.clone(),
            };
            scenarios::latency::run(ctx, kind, &opts, results).await
        }
        Command::Reconnect => scenarios::storm::run(ctx, kind, s.connections, results).await,
        Command::History => {
            let opts = HistoryOpts {
                messages: s.history_messages,
                rate: s.history_rate,
            };
            scenarios::history::run(ctx, &opts, results).await
        }
        Command::Isolation => {
            let opts = IsolationOpts {
                flooded: s.isolation_flooded,
                quiet: s.isolation_quiet,
                quiet_rate: s.isolation_quiet_rate,
            };
            scenarios::isolation::run(ctx, kind, &opts, results).await
        }
        Command::Search => {
            let opts = SearchOpts {
                messages: s.search_messages,
                rate: s.search_rate,
            };
            scenarios::search::run(ctx, &opts, results).await
        }
        Command::All
        | Command::Smoke
        | Command::Render
        | Command::Soak(_)
        | Command::Media(_)
        | Command::Push(_) => {
            unreachable!("expanded by the caller")
        }
    }
}

/// A few seconds of the soak against a fresh embedded natter.
async fn soak_smoke(ctx: &Ctx) -> anyhow::Result<()> {
    let server = targets::Server::start(Kind::Natter, &ctx.bins).await?;
    let outcome = soak::smoke(&server.base_url(), server.pid).await;
    server.stop().await;
    outcome
}

/// Synapse's scenarios, at its own load; natter beside it at the same load when it is a target.
async fn run_synapse(
    ctx: &Ctx,
    scenario: &Command,
    s: &Sizes,
    natter_too: bool,
    results: &mut Results,
) -> anyhow::Result<()> {
    match scenario {
        Command::Latency => {
            let opts = LatencyOpts {
                users: s.synapse_users,
                group_size: s.group_size,
                rates: s.synapse_rates.clone(),
            };
            let same_as_natter = opts.users == s.users && opts.rates == s.rates;
            if natter_too && !same_as_natter {
                scenarios::latency::run(ctx, Kind::Natter, &opts, results)
                    .await
                    .context("natter at Synapse's load")?;
            }
            scenarios::latency::synapse(ctx, &opts, results).await
        }
        Command::History => {
            let opts = HistoryOpts {
                messages: s.synapse_history_messages,
                rate: s.synapse_history_rate,
            };
            let same_as_natter = opts.messages == s.history_messages && opts.rate == s.history_rate;
            if natter_too && !same_as_natter {
                scenarios::history::run(ctx, &opts, results)
                    .await
                    .context("natter at Synapse's load")?;
            }
            scenarios::history::synapse(ctx, &opts, results).await
        }
        _ => Ok(()),
    }
}

fn fill_header(results: &mut Results, ctx: &Ctx, _cli: &Cli) {
    let sh = |cmd: &str| {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    results.date = sh("date -u +%Y-%m-%d");
    let cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2");
    let mem = sh("awk '/MemTotal/ {printf \"%.0f GiB\", $2/1048576}' /proc/meminfo");
    results.machine = format!(
        "{} cores ({}), {mem}, Linux {}",
        sh("nproc"),
        cpu.trim(),
        sh("uname -r")
    );
    let args: Vec<String> = std::env::args().skip(1).collect();
    results.command = std::env::var("NATTER_BENCH_COMMAND")
        .unwrap_or_else(|_| format!("natter-bench {}", args.join(" ")));
    let commit = sh("git rev-parse --short HEAD");
    results.versions.insert(
        "natter".into(),
        format!(
            "{} (commit {commit}, release build, embedded SQLite)",
            targets::version_of(&ctx.bins.natter, &["--version"])
        ),
    );
    if results
        .figures
        .iter()
        .any(|f| f.values.contains_key("natter-cluster"))
    {
        results.versions.insert(
            "natter-cluster".into(),
            "the same natter binary, three nodes behind NGINX on PostgreSQL, Cassandra, Redis and Kafka (scripts/cluster); CPU and RSS summed over the nodes".into(),
        );
    }
    results.versions.insert(
        "bun (relay)".into(),
        targets::version_of(&ctx.bins.bun, &["--version"]),
    );
    let centrifugo = if ctx.bins.centrifugo.exists() {
        // `go install` builds leave the version string empty; the module version is in the binary.
        sh(&format!(
            "go version -m {} | awk '$1==\"mod\" {{print $3}}'",
            ctx.bins.centrifugo.display()
        ))
    } else {
        "not installed".into()
    };
    results.versions.insert("centrifugo".into(), centrifugo);
    results.versions.insert(
        "natter-bench client".into(),
        "tokio-tungstenite 0.29 (4 KiB read buffer), HdrHistogram 7".into(),
    );
    results
        .versions
        .insert("synapse".into(), synapse::version(&ctx.peers_dir));
    // Environment first, as on a command line.
    results.natter_flags = targets::natter_env()
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .chain(targets::natter_flags())
        .collect();
}
