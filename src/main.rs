//! The `kvittens` command: parses the command line and hands over to the library.

use clap::{Parser, Subcommand, ValueEnum};
use kvittens::config::Config;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "kvittens",
    version,
    about = "Receipts, deadlines and escalations for a municipality's e-mail"
)]
struct Cli {
    /// Log format: human-readable text or JSON lines for log shippers.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: watch the mailboxes, send receipts. Stops cleanly on SIGINT/SIGTERM.
    Run {
        #[arg(long)]
        config: PathBuf,
    },
    /// Check the config and the templates; exit 1 with a clear message when something is wrong.
    CheckConfig {
        #[arg(long)]
        config: PathBuf,
    },
    /// Say what kvittens would do with each message file, and why. Sends nothing.
    Explain {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        department: String,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print the receipt for a message exactly as it would be sent. Sends nothing.
    Preview {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        department: String,
        file: PathBuf,
    },
    /// List the cases in the store (stop the daemon first: the store allows one user at a time).
    Cases {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        department: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show one case with its timeline (`case show ID`), or close it by hand (`case close ID`).
    Case {
        #[arg(long)]
        config: PathBuf,
        /// `show` or `close`
        action: String,
        /// The case number.
        id: String,
        /// Why the case is closed (for its timeline).
        #[arg(long, default_value = "")]
        note: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kvittens: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match command {
        Command::Run { config } => {
            let cfg = Config::load(&config)?;
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(kvittens::daemon::run(cfg))
        }
        Command::CheckConfig { config } => {
            let cfg = Config::load(&config)?;
            kvittens::daemon::load_templates(&cfg)?;
            use std::io::Write;
            writeln!(
                out,
                "{}: ok ({} department(s))",
                config.display(),
                cfg.departments.len()
            )?;
            Ok(())
        }
        Command::Explain {
            config,
            department,
            json,
            files,
        } => {
            let cfg = Config::load(&config)?;
            let dept = kvittens::commands::department(&cfg, &department)?;
            kvittens::commands::explain(&cfg, dept, &files, json, &mut out)
        }
        Command::Preview {
            config,
            department,
            file,
        } => {
            let cfg = Config::load(&config)?;
            let dept = kvittens::commands::department(&cfg, &department)?;
            kvittens::commands::preview(&cfg, dept, &file, &mut out)
        }
        Command::Cases {
            config,
            department,
            json,
        } => {
            let cfg = Config::load(&config)?;
            let store = kvittens::store::Store::open(&cfg.store)?;
            kvittens::commands::cases(&store, department.as_deref(), json, &mut out)
        }
        Command::Case {
            config,
            action,
            id,
            note,
        } => {
            let cfg = Config::load(&config)?;
            let store = kvittens::store::Store::open(&cfg.store)?;
            match action.as_str() {
                "show" => kvittens::commands::show(&store, &id, &mut out),
                "close" => kvittens::commands::close(&store, &id, &note, &mut out),
                other => anyhow::bail!("unknown case action {other:?}; use `case show ID` or `case close ID --note TEXT`"),
            }
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KVITTENS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
