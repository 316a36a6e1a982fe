//! `natter-bench media`: files over the public protocol, through the SDK (tus uploads, signed
//! downloads), against a fresh embedded `natter serve` or any running natter given by URL (one
//! node, or the CDN in front of a cluster, with downloads sent to their own origin):
//!
//! 1. throughput: `--files` files of `--file-mib` uploaded one after another, then downloaded
//!    (SHA-256 checked by the SDK): MiB/s, and the server's CPU seconds per GiB moved (procfs of
//!    the server processes, as the soak reads them). With `--download-origin` (a CDN) the
//!    downloads go there twice, the first pass filling its cache (`MISS`), the second served
//!    from it (`HIT`), each answer's `X-Cache-Status` counted (`fetch`), and the edge's CPU
//!    (`--edge-pid`, NGINX's master with its workers) reported apart from the nodes'; with
//!    `--node-origin` the same files once more straight from one node, for comparison;
//! 2. memory: `--concurrent` uploads at once, by as many users, for each size in
//!    `--concurrent-mib`: the server's resident memory sampled every 50 ms, peak minus the
//!    baseline taken just before. Uploads stream to disk, so the figure must not grow with the
//!    file size; running two sizes shows whether it does;
//! 3. time to the first thumbnail: a generated PNG uploaded, then `GET /files/{id}` polled (every
//!    20 ms, at most `--thumbnail-wait-s`) until its `thumbnails` list is non-empty. A server
//!    that lists none in that time (one built before the image processing of issue 10) is
//!    reported as such, not as a failure.
//!
//! Every upload has its own bytes (see `pattern`), so each is a new object in the store.

mod fetch;
mod pattern;
mod png;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use futures_util::{StreamExt, TryStreamExt, stream};
use natter_sdk::protocol::FileView;
use natter_sdk::{Client, DownloadOptions, UploadOptions};
use serde::Serialize;
use tokio::sync::watch;

use crate::procfs;
use crate::targets::{Bins, Kind, Server};
use fetch::{CacheStatuses, fetch};
use pattern::Block;

const MIB: u64 = 1024 * 1024;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
/// Passes the server's password-strength check.
const PASSWORD: &str = "media-Kestrel-violet-91";
/// Concurrent registrations while setting up.
const SETUP_CONCURRENCY: usize = 8;
/// How often the server's memory is read during the concurrent uploads.
const RSS_EVERY: Duration = Duration::from_millis(50);
/// The PNG whose thumbnail is waited for: large enough that the server must scale it down.
const IMAGE_SIDE: (u32, u32) = (2000, 1500);

#[derive(Args, Clone, Debug, PartialEq)]
pub struct MediaArgs {
    /// A running natter (one node, or NGINX in front of a cluster); default: a fresh embedded
    /// `natter serve` (--natter-bin) in a temporary data directory under $TMPDIR.
    #[arg(long)]
    pub url: Option<String>,
    /// Where downloads go (a CDN in front of the cluster): the signed URLs the server hands out
    /// are joined to this origin. Default: the server's own.
    #[arg(long)]
    pub download_origin: Option<String>,
    /// With --url: the server processes to measure, as NAME=PID (repeatable). Without any,
    /// CPU and memory are not reported.
    #[arg(long = "pid", value_name = "NAME=PID")]
    pub pids: Vec<String>,
    /// With --url: the edge in front of the nodes (NGINX's master process), as NAME=PID
    /// (repeatable); its children (the workers) are measured with it. Its CPU is reported
    /// apart from the nodes'.
    #[arg(long = "edge-pid", value_name = "NAME=PID")]
    pub edge_pids: Vec<String>,
    /// One node's own URL: the files are downloaded once more straight from it, bypassing the
    /// CDN of --download-origin, for comparison.
    #[arg(long)]
    pub node_origin: Option<String>,
    /// Size of each file of the throughput runs, in MiB (at most `files.max_bytes`).
    #[arg(long, default_value_t = 50)]
    pub file_mib: u64,
    /// Files uploaded, then downloaded, one after another.
    #[arg(long, default_value_t = 4)]
    pub files: usize,
    /// Bytes per PATCH, in MiB (the SDK's default is 8).
    #[arg(long, default_value_t = 8)]
    pub chunk_mib: u64,
    /// Uploads at once in the memory runs (one user each).
    #[arg(long, default_value_t = 100)]
    pub concurrent: usize,
    /// File sizes of the memory runs, in MiB: one run per size.
    #[arg(long, value_delimiter = ',', default_value = "10,50")]
    pub concurrent_mib: Vec<u64>,
    /// Longest wait for the first thumbnail after an image upload completes.
    #[arg(long, default_value_t = 30.0)]
    pub thumbnail_wait_s: f64,
    /// Where to write the report (default bench/results/media/<time>.json).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// One sequential run: bytes moved, time, and what the server spent.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    pub files: usize,
    pub bytes: u64,
    pub seconds: f64,
    pub mib_per_s: f64,
    /// Server CPU seconds (user + system, all measured processes) per GiB moved.
    pub server_cpu_s_per_gib: Option<f64>,
    /// The edge's (`--edge-pid`, workers included) CPU seconds per GiB moved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edge_cpu_s_per_gib: Option<f64>,
    /// Where the downloads went (`--download-origin`, `--node-origin`); absent: the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// `X-Cache-Status` of each answer (`none`: not given), for downloads fetched directly.
    #[serde(skip_serializing_if = "CacheStatuses::is_empty")]
    pub cache_status: CacheStatuses,
}

/// One run of concurrent uploads.
#[derive(Debug, Clone, Serialize)]
pub struct Concurrent {
    pub uploads: usize,
    pub file_mib: u64,
    pub seconds: f64,
    /// All uploads together.
    pub mib_per_s: f64,
    pub server_cpu_s_per_gib: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edge_cpu_s_per_gib: Option<f64>,
    pub baseline_rss_mib: Option<f64>,
    pub peak_rss_mib: Option<f64>,
    pub peak_minus_baseline_mib: Option<f64>,
    /// When the peak was read, in seconds from the start of the run.
    pub peak_at_s: Option<f64>,
    /// The server's RSS halfway through the run, while the uploads stream.
    pub mid_run_rss_mib: Option<f64>,
    /// (seconds from the start, server RSS MiB), every 50 ms.
    pub rss_samples: Vec<(f64, f64)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Thumbnail {
    pub image: String,
    pub upload_ms: f64,
    /// From the upload's completion to the first `GET /files/{id}` listing a thumbnail.
    pub first_thumbnail_ms: Option<f64>,
    /// `ready: N thumbnail(s)`, or `none listed within N s`.
    pub outcome: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MediaReport {
    pub command: String,
    pub target: String,
    pub download_origin: Option<String>,
    pub started_utc: String,
    pub measured: Vec<String>,
    pub file_mib: u64,
    pub chunk_mib: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub measured_edge: Vec<String>,
    pub upload: Throughput,
    pub download: Throughput,
    /// With --download-origin: the same files through it again (served from its cache).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_again: Option<Throughput>,
    /// With --node-origin: the same files straight from that node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_from_node: Option<Throughput>,
    pub concurrent: Vec<Concurrent>,
    pub thumbnail: Thumbnail,
}

/// The server processes whose CPU and memory count.
#[derive(Debug, Clone)]
struct Procs(Vec<(String, u32)>);

impl Procs {
    fn cpu_s(&self) -> Option<f64> {
        (!self.0.is_empty()).then(|| {
            self.0
                .iter()
                .map(|(_, pid)| procfs::cpu_s(*pid).unwrap_or(0.0))
                .sum()
        })
    }

    fn names(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|(name, pid)| format!("{name}={pid}"))
            .collect()
    }

    /// [`cpu_s`](Self::cpu_s) with each process's children (NGINX's workers) counted.
    fn cpu_s_with_children(&self) -> Option<f64> {
        (!self.0.is_empty()).then(|| {
            self.0
                .iter()
                .flat_map(|(_, pid)| std::iter::once(*pid).chain(procfs::children(*pid)))
                .map(|pid| procfs::cpu_s(pid).unwrap_or(0.0))
                .sum()
        })
    }

    fn rss_mib(&self) -> Option<f64> {
        (!self.0.is_empty()).then(|| {
            self.0
                .iter()
                .map(|(_, pid)| procfs::rss_kib(*pid).unwrap_or(0) as f64 / 1024.0)
                .sum()
        })
    }
}

fn per_gib(cpu_before: Option<f64>, cpu_after: Option<f64>, bytes: u64) -> Option<f64> {
    Some((cpu_after? - cpu_before?) / (bytes as f64 / GIB))
}

struct Env {
    base: Client,
    procs: Procs,
    edge: Procs,
    http: reqwest::Client,
    block: Block,
    upload: UploadOptions,
    download: DownloadOptions,
    tag: String,
}

impl Env {
    async fn users(&self, n: usize, what: &str) -> anyhow::Result<Vec<Client>> {
        stream::iter(0..n)
            .map(|i| {
                let client = self.base.anonymous();
                let name = format!("{}-{what}-{i}", self.tag);
                async move {
                    client
                        .register(&name, PASSWORD)
                        .await
                        .with_context(|| format!("register {name}"))?;
                    anyhow::Ok(client)
                }
            })
            .buffer_unordered(SETUP_CONCURRENCY)
            .try_collect()
            .await
    }

    async fn upload(&self, client: &Client, seed: u64, size: u64) -> anyhow::Result<FileView> {
        let upload = client
            .create_upload_with(size, Some(&format!("media-{seed}.bin")), self.upload)
            .await
            .context("create the upload")?;
        let view = upload
            .send(self.block.source(seed, size))
            .await
            .context("upload")?;
        anyhow::ensure!(view.size == size, "the server stored {} bytes", view.size);
        Ok(view)
    }
}

/// Runs every part against `url` with the processes `procs`, and returns the report.
async fn measure(
    url: &str,
    procs: Procs,
    edge: Procs,
    args: &MediaArgs,
) -> anyhow::Result<MediaReport> {
    let base = Client::new(url)?;
    base.health()
        .await
        .context("the server does not answer /healthz")?;
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    let env = Env {
        base,
        procs,
        edge,
        http: reqwest::Client::new(),
        block: Block::new(stamp.as_millis() as u64),
        upload: UploadOptions {
            chunk_size: args.chunk_mib.max(1) * MIB,
            ..UploadOptions::default()
        },
        download: DownloadOptions {
            origin: args.download_origin.clone(),
            ..DownloadOptions::default()
        },
        tag: format!("media{}", stamp.as_millis()),
    };
    let started_utc = crate::soak::utc_now();
    let size = args.file_mib * MIB;
    let owner = env
        .users(1, "owner")
        .await?
        .pop()
        .context("no user registered")?;

    let t = Instant::now();
    let cpu = env.cpu();
    let mut views = Vec::new();
    for i in 0..args.files {
        views.push(env.upload(&owner, i as u64, size).await?);
    }
    let upload = throughput(args.files, size, t, cpu, env.cpu(), None);
    eprintln!("media: upload {upload:?}");

    let (download, download_again) = match &args.download_origin {
        None => (sdk_downloads(&env, &owner, &views, size).await?, None),
        Some(cdn) => {
            let first = fetched(&env, &owner, &views, cdn).await?;
            eprintln!("media: download through {cdn} {first:?}");
            let again = fetched(&env, &owner, &views, cdn).await?;
            (first, Some(again))
        }
    };
    eprintln!("media: download {download:?} then {download_again:?}");
    let download_from_node = match &args.node_origin {
        Some(node) => Some(fetched(&env, &owner, &views, node).await?),
        None => None,
    };
    eprintln!("media: download from the node {download_from_node:?}");

    let mut sizes = args.concurrent_mib.clone();
    sizes.sort_unstable();
    let uploaders = env.users(args.concurrent, "many").await?;
    let mut concurrent = Vec::new();
    for (round, mib) in sizes.into_iter().enumerate() {
        let run = concurrent_uploads(&env, &uploaders, round, mib * MIB).await?;
        eprintln!(
            "media: {} uploads of {} MiB at once: {:.1} MiB/s, server RSS peak {:?} MiB",
            run.uploads, run.file_mib, run.mib_per_s, run.peak_rss_mib
        );
        concurrent.push(run);
    }

    let thumbnail = thumbnail(&owner, Duration::from_secs_f64(args.thumbnail_wait_s)).await?;
    eprintln!("media: thumbnail {thumbnail:?}");
    Ok(MediaReport {
        command: crate::soak::command_line(),
        target: url.into(),
        download_origin: args.download_origin.clone(),
        started_utc,
        measured: env.procs.names(),
        measured_edge: env.edge.names(),
        file_mib: args.file_mib,
        chunk_mib: args.chunk_mib,
        upload,
        download,
        download_again,
        download_from_node,
        concurrent,
        thumbnail,
    })
}

/// CPU seconds so far of the nodes and of the edge.
#[derive(Debug, Clone, Copy)]
struct Cpu {
    nodes: Option<f64>,
    edge: Option<f64>,
}

impl Env {
    fn cpu(&self) -> Cpu {
        Cpu {
            nodes: self.procs.cpu_s(),
            edge: self.edge.cpu_s_with_children(),
        }
    }
}

fn throughput(
    files: usize,
    size: u64,
    started: Instant,
    before: Cpu,
    after: Cpu,
    origin: Option<&str>,
) -> Throughput {
    let seconds = started.elapsed().as_secs_f64();
    let bytes = files as u64 * size;
    Throughput {
        files,
        bytes,
        seconds,
        mib_per_s: bytes as f64 / MIB as f64 / seconds,
        server_cpu_s_per_gib: per_gib(before.nodes, after.nodes, bytes),
        edge_cpu_s_per_gib: per_gib(before.edge, after.edge, bytes),
        origin: origin.map(str::to_owned),
        cache_status: CacheStatuses::new(),
    }
}

/// Every file through the SDK's download from the server's own origin.
async fn sdk_downloads(
    env: &Env,
    owner: &Client,
    views: &[FileView],
    size: u64,
) -> anyhow::Result<Throughput> {
    let t = Instant::now();
    let cpu = env.cpu();
    for view in views {
        let mut download = owner.download_with(view, env.download.clone());
        let mut received = 0;
        while let Some(piece) = download.next().await {
            received += piece.context("download")?.len() as u64;
        }
        anyhow::ensure!(received == size, "downloaded {received} of {size} bytes");
    }
    Ok(throughput(views.len(), size, t, cpu, env.cpu(), None))
}

/// Every file fetched from `origin` (`fetch`), with fresh signed URLs (the path, which is the
/// edge's cache key, stays the same) asked for before the clock starts.
async fn fetched(
    env: &Env,
    owner: &Client,
    views: &[FileView],
    origin: &str,
) -> anyhow::Result<Throughput> {
    let mut fresh = Vec::with_capacity(views.len());
    for view in views {
        fresh.push(owner.file(view.id).await.context("GET /files/{id}")?);
    }
    let mut statuses = CacheStatuses::new();
    let t = Instant::now();
    let cpu = env.cpu();
    let mut bytes = 0;
    for view in &fresh {
        bytes += fetch(&env.http, origin, view, &mut statuses).await?;
    }
    let size = bytes / fresh.len().max(1) as u64;
    let mut run = throughput(fresh.len(), size, t, cpu, env.cpu(), Some(origin));
    run.cache_status = statuses;
    Ok(run)
}

/// Every uploader sends one file of `size` at once; the server's memory is sampled meanwhile.
async fn concurrent_uploads(
    env: &Env,
    uploaders: &[Client],
    round: usize,
    size: u64,
) -> anyhow::Result<Concurrent> {
    let baseline = env.procs.rss_mib();
    let (stop, mut stopped) = watch::channel(false);
    let t = Instant::now();
    let sampler = {
        let procs = env.procs.clone();
        tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut tick = tokio::time::interval(RSS_EVERY);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.changed() => return samples,
                }
                if let Some(rss) = procs.rss_mib() {
                    samples.push((t.elapsed().as_secs_f64(), rss));
                }
            }
        })
    };
    let cpu = env.cpu();
    let seed_base = 1_000 + (round * uploaders.len()) as u64;
    let outcome: anyhow::Result<Vec<FileView>> = futures_util::future::join_all(
        uploaders
            .iter()
            .enumerate()
            .map(|(i, client)| env.upload(client, seed_base + i as u64, size)),
    )
    .await
    .into_iter()
    .collect();
    let seconds = t.elapsed().as_secs_f64();
    let cpu_after = env.cpu();
    let _ = stop.send(true);
    let samples = sampler.await.context("the memory sampler failed")?;
    outcome.context("a concurrent upload failed")?;
    let bytes = uploaders.len() as u64 * size;
    let peak = samples.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1));
    // Halfway: the uploads move in step, so they are still streaming their PATCHes and the
    // copies into the object store (at each upload's completion) have not begun.
    let mid_run = samples
        .iter()
        .find(|(at, _)| *at >= seconds / 2.0)
        .map(|(_, rss)| *rss);
    Ok(Concurrent {
        uploads: uploaders.len(),
        file_mib: size / MIB,
        seconds,
        mib_per_s: bytes as f64 / MIB as f64 / seconds,
        server_cpu_s_per_gib: per_gib(cpu.nodes, cpu_after.nodes, bytes),
        edge_cpu_s_per_gib: per_gib(cpu.edge, cpu_after.edge, bytes),
        baseline_rss_mib: baseline,
        peak_rss_mib: peak.map(|(_, rss)| rss),
        peak_minus_baseline_mib: peak
            .zip(baseline)
            .map(|((_, rss), baseline)| rss - baseline),
        peak_at_s: peak.map(|(at, _)| at),
        mid_run_rss_mib: mid_run,
        rss_samples: samples,
    })
}

/// Uploads a PNG and polls its `FileView` until a thumbnail is listed (bounded by `wait`).
async fn thumbnail(owner: &Client, wait: Duration) -> anyhow::Result<Thumbnail> {
    let (width, height) = IMAGE_SIDE;
    let image = png::gradient(width, height);
    let described = format!(
        "{width}x{height} PNG, {:.1} MiB",
        image.len() as f64 / MIB as f64
    );
    let t = Instant::now();
    let view = owner
        .upload(
            std::io::Cursor::new(image.clone()),
            image.len() as u64,
            Some("gradient.png"),
        )
        .await
        .context("upload the image")?;
    let upload_ms = t.elapsed().as_secs_f64() * 1000.0;
    let complete = Instant::now();
    loop {
        let view = owner.file(view.id).await.context("GET /files/{id}")?;
        if !view.thumbnails.is_empty() {
            return Ok(Thumbnail {
                image: described,
                upload_ms,
                first_thumbnail_ms: Some(complete.elapsed().as_secs_f64() * 1000.0),
                outcome: format!("ready: {} thumbnail(s)", view.thumbnails.len()),
            });
        }
        if complete.elapsed() >= wait {
            return Ok(Thumbnail {
                image: described,
                upload_ms,
                first_thumbnail_ms: None,
                outcome: format!(
                    "none listed within {:.0} s (this server makes no thumbnails)",
                    wait.as_secs_f64()
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn print_summary(r: &MediaReport) {
    let opt = |v: Option<f64>| v.map_or("not measured".into(), |v| format!("{v:.1}"));
    println!(
        "\nmedia: {} (downloads via {})",
        r.target,
        r.download_origin.as_deref().unwrap_or("the same")
    );
    println!(
        "| run | files | MiB/s | server CPU s per GiB | edge CPU s per GiB | X-Cache-Status | server RSS MiB: baseline / halfway / peak (at s of run) / peak - baseline |"
    );
    println!("|---|---|---|---|---|---|---|");
    let passes = [
        ("upload, one at a time", Some(&r.upload)),
        ("download, one at a time", Some(&r.download)),
        ("download again", r.download_again.as_ref()),
        ("download from the node", r.download_from_node.as_ref()),
    ];
    for (name, t) in passes {
        let Some(t) = t else { continue };
        let statuses: Vec<String> = t
            .cache_status
            .iter()
            .map(|(status, n)| format!("{status} {n}"))
            .collect();
        println!(
            "| {name}{} | {} x {} MiB | {:.1} | {} | {} | {} | |",
            t.origin
                .as_deref()
                .map_or(String::new(), |o| format!(" ({o})")),
            t.files,
            r.file_mib,
            t.mib_per_s,
            opt(t.server_cpu_s_per_gib),
            opt(t.edge_cpu_s_per_gib),
            statuses.join(", ")
        );
    }
    for c in &r.concurrent {
        println!(
            "| {} uploads at once | {} x {} MiB | {:.1} | {} | {} | | {} / {} / {} (at {} of {:.1}) / {} |",
            c.uploads,
            c.uploads,
            c.file_mib,
            c.mib_per_s,
            opt(c.server_cpu_s_per_gib),
            opt(c.edge_cpu_s_per_gib),
            opt(c.baseline_rss_mib),
            opt(c.mid_run_rss_mib),
            opt(c.peak_rss_mib),
            opt(c.peak_at_s),
            c.seconds,
            opt(c.peak_minus_baseline_mib)
        );
    }
    println!(
        "time to first thumbnail ({}): upload {:.0} ms, then {} ({})",
        r.thumbnail.image,
        r.thumbnail.upload_ms,
        r.thumbnail
            .first_thumbnail_ms
            .map_or("-".into(), |ms| format!("{ms:.0} ms")),
        r.thumbnail.outcome
    );
}

fn watched(specs: &[String]) -> anyhow::Result<Procs> {
    specs
        .iter()
        .map(|spec| {
            let (name, pid) = spec.split_once('=').context("--pid takes NAME=PID")?;
            Ok((
                name.to_owned(),
                pid.parse().context("--pid takes NAME=PID")?,
            ))
        })
        .collect::<anyhow::Result<_>>()
        .map(Procs)
}

/// Runs against `args.url`, or a fresh embedded natter.
async fn run(args: &MediaArgs, bins: &Bins) -> anyhow::Result<MediaReport> {
    match &args.url {
        Some(url) => {
            let (procs, edge) = (watched(&args.pids)?, watched(&args.edge_pids)?);
            measure(url.trim_end_matches('/'), procs, edge, args).await
        }
        None => {
            let server = Server::start(Kind::Natter, bins).await?;
            let procs = Procs(vec![("natter".into(), server.pid)]);
            let outcome = measure(&server.base_url(), procs, Procs(Vec::new()), args).await;
            server.stop().await;
            outcome
        }
    }
}

/// `natter-bench media`: runs, prints, writes the JSON.
pub async fn command(args: &MediaArgs, bins: &Bins) -> anyhow::Result<()> {
    let report = run(args, bins).await?;
    print_summary(&report);
    let out = args.out.clone().unwrap_or_else(|| {
        let stamp = report.started_utc.replace([':', '-'], "");
        // A directory of its own: `render` and `--merge` take the latest bench/results/*.json.
        PathBuf::from("bench/results/media").join(format!("{stamp}.json"))
    });
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&report)?)?;
    eprintln!("media: wrote {}", out.display());
    Ok(())
}

/// A few seconds of every part against a fresh embedded server (`natter-bench smoke`).
pub async fn smoke(bins: &Bins) -> anyhow::Result<()> {
    let args = MediaArgs {
        url: None,
        download_origin: None,
        pids: Vec::new(),
        edge_pids: Vec::new(),
        node_origin: None,
        file_mib: 2,
        files: 2,
        chunk_mib: 1,
        concurrent: 4,
        concurrent_mib: vec![1, 2],
        thumbnail_wait_s: 2.0,
        out: None,
    };
    let report = run(&args, bins).await?;
    print_summary(&report);
    if report.upload.server_cpu_s_per_gib.is_none() || report.concurrent.len() != 2 {
        bail!("media smoke: the server was not measured: {report:?}");
    }
    Ok(())
}
