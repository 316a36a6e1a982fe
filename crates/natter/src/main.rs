//! The `natter` binary. `natter serve` runs the whole chat system in one process with embedded
//! storage; flags and `NATTER_*` environment variables configure it.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use natter_server::ServerConfig;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "natter",
    version,
    about = "A chat server: one binary, from a laptop to a fleet."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the chat server.
    Serve(ServeArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(long, env = "NATTER_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where the embedded database and the token key live.
    #[arg(long, env = "NATTER_DATA_DIR", default_value = "./natter-data")]
    data_dir: PathBuf,
    /// Unique id of this process among those sharing storage (0-1023); part of message ids.
    #[arg(long, env = "NATTER_NODE_ID", default_value_t = 0)]
    node_id: u16,
    /// Per-user message sends per second (burst is 5x).
    #[arg(long, env = "NATTER_SENDS_PER_SECOND", default_value_t = 20)]
    sends_per_second: u32,
    /// Login attempts per username, and registrations per client address, per minute.
    #[arg(long, env = "NATTER_AUTH_PER_MINUTE", default_value_t = 20)]
    auth_per_minute: u32,
    /// Close WebSocket connections that send nothing for this long.
    #[arg(long, env = "NATTER_WS_IDLE_TIMEOUT_MS", default_value_t = 60_000)]
    ws_idle_timeout_ms: u64,
    /// Close WebSocket connections that send no valid hello within this time.
    #[arg(long, env = "NATTER_WS_HELLO_TIMEOUT_MS", default_value_t = 10_000)]
    ws_hello_timeout_ms: u64,
    /// Frames queued per connection before a slow reader is disconnected (close 4008).
    #[arg(long, env = "NATTER_WS_OUTBOUND_QUEUE", default_value_t = 1024)]
    ws_outbound_queue: usize,
    /// argon2id memory cost in KiB (OWASP: 19456).
    #[arg(long, env = "NATTER_ARGON2_MEMORY_KIB", default_value_t = 19 * 1024)]
    argon2_memory_kib: u32,
}

fn main() -> anyhow::Result<()> {
    // Logs go to stderr; stdout carries only the "listening on" line that scripts read.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Serve(args) => runtime.block_on(serve(args)),
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = ServerConfig::new(args.listen, args.data_dir);
    config.node_id = args.node_id.min(1023);
    config.limits.sends_per_second = args.sends_per_second;
    config.limits.sends_burst = args.sends_per_second.saturating_mul(5);
    config.limits.auth_per_minute = args.auth_per_minute;
    config.limits.auth_burst = args.auth_per_minute.div_ceil(2).max(1);
    config.limits.ws_idle_timeout_ms = args.ws_idle_timeout_ms;
    config.limits.ws_hello_timeout_ms = args.ws_hello_timeout_ms;
    config.limits.ws_outbound_queue = args.ws_outbound_queue;
    config.auth.argon2_memory_kib = args.argon2_memory_kib;
    let server = natter_server::start(config).await?;
    // Tests and scripts read this line to learn the chosen port.
    println!("natter listening on http://{}", server.addr);
    let stopper = server.stopper();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        let _ = stopper.send(true);
    });
    server.wait().await.context("server stopped with an error")
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
