//! The `kvittens` command: parses the command line and hands over to the library.

use chrono::NaiveDate;
use clap::{Parser, Subcommand, ValueEnum};
use kvittens::config::Config;
use kvittens::ops::control::{Filter, Request};
use std::path::PathBuf;
use std::process::ExitCode;

/// Where the Debian package puts the config; every command reads it unless `--config` says
/// otherwise.
const DEFAULT_CONFIG: &str = "/etc/kvittens/kvittens.toml";

#[derive(Parser)]
#[command(
    name = "kvittens",
    version,
    about = "Receipts, deadlines and escalations for a municipality's e-mail",
    long_about = "kvittens watches a municipality's department mailboxes (IMAP) and sends each \
resident a receipt naming the case officer and the date of the answer; it keeps the cases in \
its store, reminds officers and tells managers of late cases. Every command reads the config \
file (--config, default /etc/kvittens/kvittens.toml); only `run` and `check-config` read the \
passwords it names."
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
        /// The config file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Check the config and the templates; exit 1 with a clear message when something is wrong.
    CheckConfig {
        /// The config file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Also log in to every mailbox (EXAMINE each watched folder) and the SMTP server
        /// (EHLO, AUTH; no mail sent): one line each, `ok` or the problem; exit 1 if any fails.
        #[arg(long)]
        connect: bool,
    },
    /// Say what kvittens would do with each message file, and why. Sends nothing.
    Explain {
        /// The config file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The department (its `id` in the config).
        #[arg(long)]
        department: String,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        /// Message files (.eml, as saved from a mail client).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print the receipt for a message exactly as it would be sent. Sends nothing.
    Preview {
        /// The config file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The department (its `id` in the config).
        #[arg(long)]
        department: String,
        /// The message file (.eml).
        file: PathBuf,
    },
    /// List the cases (works while the daemon runs); times in the departments' local time.
    Cases {
        /// The config file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Only this department (its `id` in the config).
        #[arg(long)]
        department: Option<String>,
        /// Only cases waiting for the officer.
        #[arg(long, group = "which")]
        open: bool,
        /// Only open cases past their reply deadline.
        #[arg(long, group = "which")]
        overdue: bool,
        /// Only answered cases.
        #[arg(long, group = "which")]
        answered: bool,
        /// Only cases closed by hand.
        #[arg(long, group = "which")]
        closed: bool,
        /// Only cases flagged for a person (a receipt withheld or undeliverable, a message
        /// read by its header only): `case show` says why.
        #[arg(long, group = "which")]
        flagged: bool,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// One case: show its timeline, close it, or move its decision date.
    Case {
        #[command(subcommand)]
        action: CaseAction,
    },
    /// Every case as JSON lines, for backup, audit or moving to another store.
    Export {
        /// The config file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Read cases from JSON lines written by `export` (cases already there are kept).
    Import {
        /// The config file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// JSON lines, as written by `export`.
        file: PathBuf,
    },
    /// Remove answered and closed cases older than `[daemon] retention` (the daemon also does
    /// this once a day).
    Purge {
        /// The config file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Only list what would go.
        #[arg(long)]
        dry_run: bool,
    },
    /// The mail that opened no case (automatic, internal, duplicate, unreadable, …), newest
    /// first; `ignored open ID` opens a case from one.
    #[command(args_conflicts_with_subcommands = true)]
    Ignored {
        #[command(subcommand)]
        action: Option<IgnoredAction>,
        #[arg(long)]
        config: Option<PathBuf>,
        /// Only mail that reached its mailbox on or after this day (YYYY-MM-DD, local time).
        #[arg(long)]
        since: Option<NaiveDate>,
        #[arg(long)]
        department: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Officers: record an absence (hänvisning) at run time.
    Officer {
        #[command(subcommand)]
        action: OfficerAction,
    },
    /// Write the man pages or the shell completions into DIR (for packaging).
    #[command(hide = true)]
    Generate {
        #[arg(value_enum)]
        what: Generated,
        dir: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Generated {
    /// kvittens.1 and one page per command (kvittens-run.1, …).
    Man,
    /// bash, zsh and fish completions.
    Completions,
}

#[derive(Subcommand)]
enum CaseAction {
    /// The case and its timeline: received, receipt sent, reminders, answer, escalations.
    Show {
        /// The config file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The case number, e.g. BMN-2026-0042.
        id: String,
    },
    /// Close the case by hand (no more reminders or escalations).
    Close {
        /// The config file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The case number, e.g. BMN-2026-0042.
        id: String,
        /// Why, for the timeline.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Send the case's withheld receipt after all (once; the case is no longer flagged).
    Receipt {
        #[arg(long)]
        config: PathBuf,
        id: String,
    },
    /// Set a new expected decision date; the resident gets one notice of the delay.
    Postpone {
        /// The config file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The case number, e.g. BMN-2026-0042.
        id: String,
        /// The new date, YYYY-MM-DD.
        #[arg(long)]
        to: NaiveDate,
        /// Why, in words for the resident.
        #[arg(long, default_value = "")]
        note: String,
    },
}

#[derive(Subcommand)]
enum IgnoredAction {
    /// Open a normal case from an ignored mail: number, officer, deadlines from now, officer
    /// notice, and a receipt to the sender unless --no-receipt.
    Open {
        #[arg(long)]
        config: PathBuf,
        /// The id shown by `kvittens ignored`.
        id: u64,
        /// Why, for the case's timeline and the officer.
        #[arg(long, default_value = "")]
        note: String,
        /// Open the case without sending the sender a receipt.
        #[arg(long)]
        no_receipt: bool,
        /// Send the receipt to this address instead (when the mail names no person outside
        /// the municipality to send it to).
        #[arg(long, value_name = "ADDRESS", conflicts_with = "no_receipt")]
        to: Option<String>,
    },
}

#[derive(Subcommand)]
enum OfficerAction {
    /// The officer is away: new cases and reminders go to the substitute meanwhile.
    Away {
        /// The config file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The officer's address.
        email: String,
        /// First day away, YYYY-MM-DD.
        #[arg(long)]
        from: NaiveDate,
        /// Last day away, YYYY-MM-DD.
        #[arg(long)]
        to: NaiveDate,
        /// Who takes the officer's cases meanwhile (an officer's address).
        #[arg(long)]
        substitute: String,
    },
}

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
            eprintln!("kvittens: {e:#}");
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
        Command::Generate { what, dir } => generate(what, &dir),
        Command::Run { config } => {
            let cfg = Config::load(&config)?;
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(kvittens::daemon::run(cfg))
        }
        Command::CheckConfig { config, connect } => {
            let cfg = Config::load(&config)?;
            kvittens::daemon::load_templates(&cfg)?;
            // Secrets are read only here and when a connection is made, never by the store
            // commands: every unreadable one is named, not just the first.
            kvittens::daemon::secrets_readable(&cfg)?;
            for warning in &cfg.warnings {
                eprintln!("warning: {warning}");
            }
            use std::io::Write;
            writeln!(
                out,
                "{}: ok ({} department(s))",
                config.display(),
                cfg.departments.len()
            )?;
            if connect {
                let rt = tokio::runtime::Runtime::new()?;
                let lines = rt.block_on(kvittens::net::check::connect_all(&cfg));
                for line in &lines {
                    writeln!(out, "{line}")?;
                }
                let failed = lines.iter().filter(|l| l.problem.is_some()).count();
                if failed > 0 {
                    anyhow::bail!("{failed} of {} connection check(s) failed", lines.len());
                }
            }
            Ok(())
        }
        Command::Explain {
            config,
            department,
            json,
            files,
        } => {
            let cfg = Config::load(&config)?;
            let dept = kvittens::ops::commands::department(&cfg, &department)?;
            kvittens::ops::commands::explain(&cfg, dept, &files, json, &mut out)
        }
        Command::Preview {
            config,
            department,
            file,
        } => {
            let cfg = Config::load(&config)?;
            let dept = kvittens::ops::commands::department(&cfg, &department)?;
            kvittens::ops::commands::preview(&cfg, dept, &file, &mut out)
        }
        Command::Cases {
            config,
            department,
            open,
            overdue,
            answered,
            closed,
            flagged,
            json,
        } => {
            let filter = match (open, overdue, answered, closed, flagged) {
                (true, ..) => Filter::Open,
                (_, true, ..) => Filter::Overdue,
                (_, _, true, ..) => Filter::Answered,
                (.., true, _) => Filter::Closed,
                (.., true) => Filter::Flagged,
                _ => Filter::All,
            };
            store_command(
                &config,
                Request::Cases {
                    department,
                    filter,
                    json,
                },
            )
        }
        Command::Export { config } => store_command(
            &config,
            Request::Cases {
                department: None,
                filter: Filter::All,
                json: true,
            },
        ),
        Command::Import { config, file } => {
            let file = std::path::absolute(&file)?;
            store_command(&config, Request::Import { file })
        }
        Command::Purge { config, dry_run } => store_command(&config, Request::Purge { dry_run }),
        Command::Case { action } => match action {
            CaseAction::Show { config, id } => store_command(&config, Request::Show { case: id }),
            CaseAction::Close { config, id, note } => {
                store_command(&config, Request::Close { case: id, note })
            }
            CaseAction::Postpone {
                config,
                id,
                to,
                note,
            } => store_command(&config, Request::Postpone { case: id, to, note }),
            CaseAction::Receipt { config, id } => {
                store_command(&config, Request::Receipt { case: id })
            }
        },
        Command::Ignored {
            action:
                Some(IgnoredAction::Open {
                    config,
                    id,
                    note,
                    no_receipt,
                    to,
                }),
            ..
        } => store_command(
            &config,
            Request::OpenIgnored {
                id,
                note,
                receipt: !no_receipt,
                to,
            },
        ),
        Command::Ignored {
            action: None,
            config,
            since,
            department,
            json,
        } => {
            let config = config.ok_or_else(|| {
                anyhow::anyhow!("--config is required: kvittens ignored --config FILE")
            })?;
            store_command(
                &config,
                Request::Ignored {
                    since,
                    department,
                    json,
                },
            )
        }
        Command::Officer {
            action:
                OfficerAction::Away {
                    config,
                    email,
                    from,
                    to,
                    substitute,
                },
        } => store_command(
            &config,
            Request::Away {
                officer: email,
                from,
                to,
                substitute,
            },
        ),
    }
}

/// Writes the man pages or completions, generated from the same definitions as `--help`, so
/// they cannot drift from the binary they ship with.
fn generate(what: Generated, dir: &std::path::Path) -> anyhow::Result<()> {
    use clap::CommandFactory;
    std::fs::create_dir_all(dir)?;
    let cmd = Cli::command();
    match what {
        Generated::Man => clap_mangen::generate_to(cmd, dir)?,
        Generated::Completions => {
            use clap_complete::Shell;
            for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
                clap_complete::generate_to(shell, &mut Cli::command(), "kvittens", dir)?;
            }
        }
    }
    Ok(())
}

/// Runs a store command: through the running daemon's control socket when there is one (the
/// store admits one process at a time), else on the store directly.
fn store_command(config: &std::path::Path, request: Request) -> anyhow::Result<()> {
    let cfg = Config::load(config)?;
    let reply = match kvittens::ops::control::send(&cfg.store, &request) {
        Some(reply) => reply?,
        None => {
            let templates = kvittens::daemon::load_templates(&cfg)?;
            let store = kvittens::store::Store::open(&cfg.store)?;
            let engine = kvittens::app::engine::Engine::new(cfg, store, templates);
            kvittens::ops::control::execute(&engine, &request)
        }
    };
    if reply.ok {
        // Not print!: it panics when stdout is a closed pipe; an error here ends quietly.
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        out.write_all(reply.output.as_bytes())?;
        out.flush()?;
        Ok(())
    } else {
        anyhow::bail!("{}", reply.output)
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KVITTENS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
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
