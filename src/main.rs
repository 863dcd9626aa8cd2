//! The `kvittens` command: parses the command line and hands over to the library
//! (`kvittens::daemon` for `run` and `check-config`, `kvittens::ops::cli` for the rest).

use clap::Parser;
use kvittens::ops::cli::{Cli, Command, LogFormat};
use kvittens::ops::control::describe;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        // `kvittens cases | head`: the reader has all it wanted and closed the pipe. Rust
        // ignores SIGPIPE, so the next write fails with EPIPE; that is the normal end of a
        // command whose output is cut short, not an error to report.
        Err(e) if closed_stdout(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kvittens: {}", describe(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

/// Whether `e` is a write to a pipe whose reader has gone (EPIPE).
fn closed_stdout(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn run(command: Command) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match command {
        Command::Run { config } => {
            let cfg = kvittens::config::Config::load(&config)?;
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(kvittens::daemon::run_until_signal(cfg))
        }
        Command::CheckConfig { config, connect } => {
            kvittens::daemon::check_config(&config, connect, &mut out)
        }
        other => kvittens::ops::cli::run(other, &mut out),
    }
}

/// The log filter unless `KVITTENS_LOG` says otherwise: kvittens' own lines from `info`; the
/// migration library (which lists every migration it checks) and the PostgreSQL client (which
/// passes on the server's NOTICEs, "relation … already exists, skipping") only when something
/// is wrong.
const DEFAULT_LOG: &str = "info,refinery=warn,refinery_core=warn,tokio_postgres=warn,postgres=warn";

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KVITTENS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG));
    // Colours only for a person at a terminal, never into a log file or the journal.
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
