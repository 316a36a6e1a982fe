//! The `natter` binary. `natter serve` runs the chat system; with no configuration it is the
//! whole system in one process on embedded storage. A TOML file (`--config`), `NATTER__*`
//! environment variables and flags configure it; see `natter.example.toml`. With the `client`
//! feature (default) it is also the terminal client: `natter chat | send | tail | login | logout`
//! (crates/natter-tui).

mod allocator;
mod settings;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use natter_server::{Role, ServerConfig};
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
    /// Run the chat server (migrating its stores first).
    Serve(ServeArgs),
    /// Create or update the schema of every configured store, then exit.
    Migrate(ConfigArg),
    /// Print the effective configuration (defaults, file, environment) as TOML.
    Config(ConfigArg),
    /// Put a new token-signing key in front of the keyring (`auth.token_key_file`, default
    /// `<data_dir>/token.key`); access tokens signed with the older keys stay valid until they
    /// expire. Restart every node to sign with it.
    RotateTokenKey(RotateArgs),
    #[cfg(feature = "client")]
    #[command(flatten)]
    Client(natter_tui::ClientCommand),
}

#[derive(Args)]
struct RotateArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Where the token key lives, unless `auth.token_key_file` says otherwise.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Args)]
struct ConfigArg {
    /// TOML configuration file; every key can also be set as NATTER__SECTION__KEY.
    #[arg(long, env = "NATTER_CONFIG")]
    config: Option<PathBuf>,
}

/// Flags override the file and the environment.
#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Where Prometheus metrics are served (port 0 picks a free port, printed on the second
    /// line; "" turns metrics off).
    #[arg(long)]
    metrics_listen: Option<String>,
    /// Where the embedded database and the token key live.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Unique id of this process among those sharing storage (0-1023); part of message ids.
    #[arg(long)]
    node_id: Option<u16>,
    /// What this process runs, comma-separated: api, gateway, notifier, indexer (default: all).
    #[arg(long, value_delimiter = ',', value_parser = parse_role)]
    roles: Option<Vec<Role>>,
    /// Per-user message sends per second (burst is 5x).
    #[arg(long)]
    sends_per_second: Option<u32>,
    /// Login attempts per (username, client address), and registrations per client address,
    /// per minute (burst is half).
    #[arg(long)]
    auth_per_minute: Option<u32>,
    /// Login attempts per client address per minute, whatever the username (burst is half).
    #[arg(long)]
    login_per_address_per_minute: Option<u32>,
    /// Close WebSocket connections that send nothing for this long.
    #[arg(long)]
    ws_idle_timeout_ms: Option<u64>,
    /// Close WebSocket connections that send no valid hello within this time.
    #[arg(long)]
    ws_hello_timeout_ms: Option<u64>,
    /// Frames queued per connection before a slow reader is disconnected (close 4008).
    #[arg(long)]
    ws_outbound_queue: Option<usize>,
    /// WebSocket connections one user may hold open on this node (one more closes with 4010).
    #[arg(long)]
    ws_connections_per_user: Option<usize>,
    /// Typing indicators published per user and conversation: at most one per this interval.
    #[arg(long)]
    typing_interval_ms: Option<u64>,
    /// argon2id memory cost in KiB (OWASP: 19456).
    #[arg(long)]
    argon2_memory_kib: Option<u32>,
}

fn parse_role(raw: &str) -> Result<Role, String> {
    Role::parse(raw)
        .ok_or_else(|| format!("unknown role {raw:?} (api, gateway, notifier, indexer)"))
}

impl ServeArgs {
    fn apply(self, config: &mut ServerConfig) -> anyhow::Result<()> {
        let limits = &mut config.limits;
        if let Some(listen) = self.listen {
            config.server.listen = listen;
        }
        if let Some(raw) = self.metrics_listen {
            config.server.metrics_listen = match raw.trim() {
                "" => None,
                addr => Some(
                    addr.parse()
                        .with_context(|| format!("--metrics-listen {addr:?}"))?,
                ),
            };
        }
        if let Some(dir) = self.data_dir {
            config.server.data_dir = dir;
        }
        if let Some(id) = self.node_id {
            config.server.node_id = id;
        }
        if let Some(roles) = self.roles {
            config.server.roles = roles;
        }
        if let Some(rate) = self.sends_per_second {
            limits.sends_per_second = rate;
            limits.sends_burst = rate.saturating_mul(5);
        }
        if let Some(rate) = self.auth_per_minute {
            limits.auth_per_minute = rate;
            limits.auth_burst = rate.div_ceil(2).max(1);
        }
        if let Some(rate) = self.login_per_address_per_minute {
            limits.login_per_address_per_minute = rate;
            limits.login_per_address_burst = rate.div_ceil(2).max(1);
        }
        if let Some(ms) = self.ws_idle_timeout_ms {
            limits.ws_idle_timeout_ms = ms;
        }
        if let Some(ms) = self.ws_hello_timeout_ms {
            limits.ws_hello_timeout_ms = ms;
        }
        if let Some(frames) = self.ws_outbound_queue {
            limits.ws_outbound_queue = frames;
        }
        if let Some(count) = self.ws_connections_per_user {
            limits.ws_connections_per_user = count;
        }
        if let Some(ms) = self.typing_interval_ms {
            limits.typing_interval_ms = ms;
        }
        if let Some(kib) = self.argon2_memory_kib {
            config.auth.argon2_memory_kib = kib;
        }
        Ok(())
    }
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    init_logs(&cli.command);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    run(cli.command, &runtime)
}

/// Logs go to stderr; stdout carries only the "listening on" line that scripts read (or, for
/// the client's commands, their JSON). The full-screen client logs nothing: it owns the screen.
fn init_logs(command: &Command) {
    let default = match command {
        #[cfg(feature = "client")]
        Command::Client(natter_tui::ClientCommand::Chat(_)) => return,
        #[cfg(feature = "client")]
        Command::Client(_) => "error",
        _ => "info",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default)),
        )
        .init();
}

fn run(command: Command, runtime: &tokio::runtime::Runtime) -> anyhow::Result<ExitCode> {
    let done = match command {
        Command::Serve(args) => {
            let mut config = settings::load(args.config.config.as_deref())?;
            args.apply(&mut config)?;
            runtime.block_on(serve(config))
        }
        Command::Migrate(args) => {
            let config = settings::load(args.config.as_deref())?;
            runtime.block_on(natter_server::backends::migrate(&config))?;
            println!("natter: stores migrated");
            Ok(())
        }
        Command::RotateTokenKey(args) => {
            let mut config = settings::load(args.config.config.as_deref())?;
            if let Some(dir) = args.data_dir {
                config.server.data_dir = dir;
            }
            let path = config.token_key_path();
            if let Some(dir) = path.parent() {
                natter_server::secrets::create_private_dir(dir)?;
            }
            let keys = natter_server::secrets::rotate(&path)?;
            println!(
                "natter: {} signs with a new key ({} kept); restart every node to use it",
                path.display(),
                keys.len()
            );
            Ok(())
        }
        Command::Config(args) => {
            let config = settings::load(args.config.as_deref())?;
            print!("{}", settings::to_toml(&config)?);
            Ok(())
        }
        // The command says what failed; its exit code tells scripts which kind.
        #[cfg(feature = "client")]
        Command::Client(command) => {
            return Ok(ExitCode::from(runtime.block_on(natter_tui::run(command))));
        }
    };
    done.map(|()| ExitCode::SUCCESS)
}

async fn serve(config: ServerConfig) -> anyhow::Result<()> {
    config.validate().map_err(anyhow::Error::msg)?;
    let server = natter_server::start(config).await?;
    // Tests and scripts read these lines to learn the chosen ports: the public one first.
    println!("natter listening on http://{}", server.addr);
    if let Some(addr) = server.metrics_addr {
        println!("natter metrics on http://{addr}/metrics");
    }
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
