//! `cargo xtask`: project tasks written in Rust instead of shell. Today one task, `services`:
//! install and run the real servers (PostgreSQL, Redis, Kafka, Cassandra) that natter's scale-out
//! mode and its tests use, each on a fixed loopback port, with readiness probes that speak each
//! server's protocol through the client crates the adapters use. `scripts/services` runs it;
//! docs/services.md describes what it does.

mod cli;
mod context;
mod install;
mod lock;
mod process;
mod reserved_ports;
mod services;
mod settings;
mod wait;

use std::process::ExitCode;

use cli::{Command, Parsed};
use context::Ctx;
use settings::Settings;

/// One line of progress on stderr, as every `scripts/services` message is.
macro_rules! say {
    ($($arg:tt)*) => { eprintln!("services: {}", format_args!($($arg)*)) };
}
pub(crate) use say;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match cli::parse(&args) {
        Parsed::Usage(code) => {
            print!("{}", cli::USAGE);
            ExitCode::from(code)
        }
        Parsed::Error(unknown) => fail(&unknown.into()),
        Parsed::Run(command) => match run(command) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => fail(&err),
        },
    }
}

fn fail(err: &anyhow::Error) -> ExitCode {
    say!("error: {err:#}");
    ExitCode::FAILURE
}

fn run(command: Command) -> anyhow::Result<()> {
    let ctx = Ctx::new(Settings::from_lookup(|key| std::env::var(key).ok())?)?;
    let all = services::all(&ctx.settings);
    let pick = |names: &[cli::Name]| -> Vec<&dyn services::Service> {
        names
            .iter()
            .filter_map(|name| all.iter().find(|s| s.name() == name.as_str()))
            .map(AsRef::as_ref)
            .collect()
    };
    let locked = |service: &dyn services::Service,
                  work: fn(&dyn services::Service, &Ctx) -> anyhow::Result<()>| {
        lock::with_lock(&ctx.settings.dir, service.name(), || work(service, &ctx))
    };
    match command {
        Command::Install(names) => {
            for service in pick(&names) {
                service.install(&ctx)?;
            }
        }
        Command::Start(names) => {
            reserved_ports::reserve(&ctx.settings.ports.all());
            for service in pick(&names) {
                locked(service, |s, ctx| s.start(ctx))?;
            }
        }
        Command::Stop(names) => {
            for service in pick(&names) {
                locked(service, |s, ctx| s.stop(ctx))?;
            }
        }
        Command::Restart(names) => {
            reserved_ports::reserve(&ctx.settings.ports.all());
            for service in pick(&names) {
                locked(service, |s, ctx| s.stop(ctx))?;
                locked(service, |s, ctx| s.start(ctx))?;
            }
        }
        Command::Status => {
            for service in &all {
                println!("{}", service.status(&ctx));
            }
        }
        Command::Env => print!("{}", ctx.settings.env_lines()),
        Command::Down => {
            for service in &all {
                locked(service.as_ref(), |s, ctx| s.stop(ctx))?;
            }
            settings::check_deletable(&ctx.settings.dir)?;
            say!("deleting {}", ctx.settings.dir.display());
            std::fs::remove_dir_all(&ctx.settings.dir)
                .map_err(|err| anyhow::anyhow!("delete {}: {err}", ctx.settings.dir.display()))?;
        }
    }
    Ok(())
}
