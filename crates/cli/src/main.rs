//! The `berth` binary: `berth serve` runs the registry; the other commands are its
//! client (login, docker's credential helper, management over the HTTP API). Invoked as
//! `docker-credential-berth`, it speaks only the credential helper protocol.
//!
//! Errors reach the user as one plain sentence with its causes, and a non-zero exit.

mod client;
mod config;
mod malloc;
mod serve;

use std::io::IsTerminal;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use config::{Config, LogFormat, ServeArgs};

/// berth: a self-hosted OCI container registry.
#[derive(Parser, Debug)]
#[command(name = "berth", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the registry (SQLite and a local directory by default).
    Serve(ServeArgs),
    #[command(flatten)]
    Client(client::ClientCommand),
}

fn main() -> std::process::ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if client::invoked_as_helper(args.first()) {
        return client::run_as_helper(&args);
    }
    let cli = Cli::parse_from(args);
    let result = match cli.command {
        Command::Serve(args) => Config::resolve(args).and_then(run_server),
        Command::Client(command) => return client::run(command),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("berth: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run_server(config: Config) -> anyhow::Result<()> {
    malloc::limit_arenas();
    init_logging(&config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve::run(config))
}

fn init_logging(config: &Config) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&config.log).map_err(|err| {
        anyhow::anyhow!(
            "log filter {:?} is invalid ({err}); try `info` or `debug`",
            config.log
        )
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}
