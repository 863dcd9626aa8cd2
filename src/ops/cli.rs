//! The command line's definitions (clap) and the commands that need no daemon code: the store
//! commands go to the running daemon's control socket, or to the store itself when none runs;
//! `explain` and `preview` likewise; `generate` writes man pages and completions. `run` and
//! `check-config` are the daemon's (`crate::daemon`), which `main` calls.
//!
//! The types below carry no `///` docs of their own where clap would print them as help.

use crate::config::Config;
use crate::ops::commands;
use crate::ops::control::cmd::{
    case, cases, contact, ignored, measure, officer, person, purge, report,
};
use crate::ops::control::{self, Filter, Request};
use chrono::NaiveDate;
use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A date as the command line takes it, YYYY-MM-DD; any other shape is refused with the shape
/// to write and an example, not the date library's words.
fn date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
        format!("{text:?} is not a date as kvittens reads them: write YYYY-MM-DD, e.g. 2026-12-20")
    })
}

/// A case number as typed, in the form kvittens writes it (`bmn-2026-0001` finds
/// `BMN-2026-0001`): [`crate::model::ids::typed_case_number`], the one place that reads them.
fn case_number(text: &str) -> Result<String, String> {
    Ok(crate::model::ids::typed_case_number(text))
}

/// A way of contact as the command line takes it; another word is refused naming the four.
fn contact_way(text: &str) -> Result<crate::model::ContactWay, String> {
    crate::model::ContactWay::from_key(text).ok_or_else(|| {
        format!("{text:?} is not a way of contact: write phone, visit, mail or letter")
    })
}

/// Where the Debian package puts the config; every command reads it unless `--config` says
/// otherwise.
pub const DEFAULT_CONFIG: &str = "/etc/kvittens/kvittens.toml";

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
pub struct Cli {
    /// Log format: human-readable text or JSON lines for log shippers.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
pub enum Command {
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
    /// The whole store as JSON lines on standard output — cases, cursors, the outbox and mail
    /// in flight, "handled" marks, absences, totals — to move it to another store (another
    /// engine or machine) with `import`, or to back it up. Stop the daemon first.
    Export {
        /// The config file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Load what `export` wrote into an empty store (stop the daemon first); a file of cases
    /// only (`cases --json`) is read as before: new cases are added, those already there kept.
    Import {
        /// The config file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// What `export` (or `cases --json`) wrote; "-" for standard input.
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
        #[arg(long, value_parser = date)]
        since: Option<NaiveDate>,
        #[arg(long)]
        department: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The report to the nämnd for a period: per department and in total, from the daily
    /// totals kept past retention and the cases open now (works while the daemon runs).
    Report {
        /// The config file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// First day, YYYY-MM-DD.
        #[arg(long, value_parser = date)]
        from: NaiveDate,
        /// Last day (included), YYYY-MM-DD.
        #[arg(long, value_parser = date)]
        to: NaiveDate,
        /// Only this department (its `id`): no total row.
        #[arg(long)]
        department: Option<String>,
        /// html: one printable page with a chart; csv: one row per department and a total row.
        #[arg(long, value_enum)]
        format: ReportFormat,
        /// The file to write ("-" for standard output).
        #[arg(long)]
        out: PathBuf,
    },
    /// Officers and managers: who is in, and absences (hänvisning) recorded at run time.
    Officer {
        #[command(subcommand)]
        action: OfficerAction,
    },
    /// A resident's data: everything held about an address (GDPR art. 15), or its erasure
    /// (art. 17; what the registry must keep stays).
    Person {
        #[command(subcommand)]
        action: PersonAction,
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
pub enum Generated {
    /// kvittens.1 and one page per command (kvittens-run.1, …).
    Man,
    /// bash, zsh and fish completions.
    Completions,
}

#[derive(Subcommand)]
pub enum CaseAction {
    /// The case and its timeline: received, receipt sent, reminders, answer, escalations.
    Show {
        /// The config file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The case number, e.g. BMN-2026-0042 (any case: bmn-2026-0042 is the same).
        #[arg(value_parser = case_number)]
        id: String,
    },
    /// Close the case by hand (no more reminders or escalations).
    Close {
        /// The config file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The case number, e.g. BMN-2026-0042 (any case: bmn-2026-0042 is the same).
        #[arg(value_parser = case_number)]
        id: String,
        /// Why, for the timeline.
        #[arg(long, default_value = "")]
        note: String,
        /// How the case ended (e.g. "bygglov beviljat", "klagomålet befogat, rutin ändrad"):
        /// kept on the case and counted in the report.
        #[arg(long)]
        outcome: Option<String>,
    },
    /// Record that contact was made with the resident (counts as the answer: no more
    /// reminders or escalations; for a complaint, the contact the manager owes within a week).
    Contact {
        /// The config file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The case number, e.g. BMN-2026-0042 (any case: bmn-2026-0042 is the same).
        #[arg(value_parser = case_number)]
        id: String,
        /// How: phone, visit, mail or letter.
        #[arg(long = "by", value_parser = contact_way)]
        way: crate::model::ContactWay,
        /// The day it was made, YYYY-MM-DD (default today).
        #[arg(long, value_parser = date)]
        on: Option<NaiveDate>,
        /// What was said or agreed, for the timeline.
        #[arg(long)]
        note: String,
    },
    /// Record a measure taken about the case (what was done).
    Measure {
        /// The config file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The case number, e.g. BMN-2026-0042 (any case: bmn-2026-0042 is the same).
        #[arg(value_parser = case_number)]
        id: String,
        /// What was done, for the timeline and the report.
        #[arg(long)]
        note: String,
    },
    /// Move the case to the department it belongs to (förvaltningslagen § 4): same number and
    /// history, a new officer there and new dates; the officer and the resident are told.
    Move {
        /// The config file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The case number, e.g. BMN-2026-0042 (any case: bmn-2026-0042 is the same).
        #[arg(value_parser = case_number)]
        id: String,
        /// The department's id in the config.
        #[arg(long)]
        to: String,
    },
    /// Send the case's withheld receipt after all (once; the case is no longer flagged).
    Receipt {
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        #[arg(value_parser = case_number)]
        id: String,
    },
    /// Set a new expected decision date; the resident gets one notice of the delay.
    Postpone {
        /// The config file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The case number, e.g. BMN-2026-0042 (any case: bmn-2026-0042 is the same).
        #[arg(value_parser = case_number)]
        id: String,
        /// The new date, YYYY-MM-DD.
        #[arg(long, value_parser = date)]
        to: NaiveDate,
        /// Why, in words for the resident (required: förvaltningslagen § 11). A date on a day
        /// off moves to the next working day.
        #[arg(long)]
        note: String,
    },
}

#[derive(Subcommand)]
pub enum IgnoredAction {
    /// Open a normal case from an ignored mail: number, officer, deadlines from now, officer
    /// notice, and a receipt to the sender unless --no-receipt.
    Open {
        #[arg(long, default_value = DEFAULT_CONFIG)]
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

#[derive(Clone, Copy, ValueEnum)]
pub enum ReportFormat {
    Html,
    Csv,
}

#[derive(Subcommand)]
pub enum PersonAction {
    /// Everything kvittens holds about the address, as one JSON document: cases with their
    /// timelines, ignored mail, mail waiting or being sent, the loop breaker's record.
    Export {
        /// The config file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The resident's address.
        email: String,
    },
    /// Remove or anonymise everything kvittens holds about the address; its cases stay in the
    /// registry (number, dates, officer), without the address, name and subject.
    Erase {
        /// The config file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The resident's address.
        email: String,
    },
}

#[derive(Subcommand)]
pub enum OfficerAction {
    /// Each department's manager and officers: who is away today and until when, who stands
    /// in, and the absences to come.
    List {
        /// The config file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Only this department (its `id` in the config).
        #[arg(long)]
        department: Option<String>,
        /// One JSON object per department.
        #[arg(long)]
        json: bool,
    },
    /// The officer (or manager) is back: their absence that covers today ends now.
    Back {
        /// The config file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The officer's or manager's address.
        email: String,
    },
    /// The officer (or manager) is away: new cases and reminders — a manager's complaint
    /// notices, escalations and digest — go to the substitute meanwhile.
    Away {
        /// The config file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The officer's or manager's address.
        email: String,
        /// First day away, YYYY-MM-DD.
        #[arg(long, value_parser = date)]
        from: NaiveDate,
        /// Last day away, YYYY-MM-DD.
        #[arg(long, value_parser = date)]
        to: NaiveDate,
        /// Who stands in meanwhile (an officer of the department; for a manager also the
        /// department's escalate_to).
        #[arg(long)]
        substitute: String,
    },
}

/// Runs every command but `run` and `check-config` (the daemon's), writing to `out`.
///
/// # Errors
/// What the command says went wrong, for `kvittens: ` and exit status 1.
pub fn run(command: Command, out: &mut dyn Write) -> anyhow::Result<()> {
    match command {
        Command::Run { .. } | Command::CheckConfig { .. } => {
            anyhow::bail!("`run` and `check-config` are the daemon's (kvittens::daemon)")
        }
        Command::Generate { what, dir } => generate(what, &dir),
        Command::Export { config } => crate::ops::moving::export(&config, out),
        Command::Import { config, file } => {
            match crate::ops::moving::import(&config, &file, out)? {
                Some(cases_only) => store_command(&config, cases_only, out),
                None => Ok(()),
            }
        }
        Command::Report {
            config,
            from,
            to,
            department,
            format,
            out: file,
        } => {
            let format = match format {
                ReportFormat::Html => crate::mail::report::Format::Html,
                ReportFormat::Csv => crate::mail::report::Format::Csv,
            };
            let query = crate::app::report::Query {
                from,
                to,
                department,
            };
            let request = Request::Report(report::Report { query, format });
            // Rendered whole first, so that a refused report leaves no empty file behind.
            let mut bytes = Vec::new();
            store_command(&config, request, &mut bytes)?;
            if file.as_os_str() == "-" {
                out.write_all(&bytes)?;
                return Ok(out.flush()?);
            }
            std::fs::write(&file, &bytes)
                .map_err(|e| anyhow::anyhow!("cannot write the report to {}: {e}", file.display()))
        }
        Command::Explain {
            config,
            department,
            json,
            files,
        } => {
            let cfg = Config::load(&config)?;
            let dept = commands::department(&cfg, &department)?;
            crate::ops::inspect::explain(&cfg, dept, &files, json, out)
        }
        Command::Preview {
            config,
            department,
            file,
        } => {
            let cfg = Config::load(&config)?;
            let dept = commands::department(&cfg, &department)?;
            crate::ops::inspect::preview(&cfg, dept, &file, out)
        }
        other => {
            let (config, request) = store_request(other)?;
            store_command(&config, request, out)
        }
    }
}

/// The config file and the control socket request of a store command.
fn store_request(command: Command) -> anyhow::Result<(PathBuf, Request)> {
    Ok(match command {
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
            let list = cases::Cases {
                department,
                filter,
                json,
            };
            (config, Request::Cases(list))
        }
        Command::Purge { config, dry_run } => (config, Request::Purge(purge::Purge { dry_run })),
        Command::Case { action } => case_request(action),
        Command::Ignored { .. } => ignored_request(command)?,
        Command::Officer { action } => officer_request(action),
        Command::Person { action } => match action {
            PersonAction::Export { config, email } => {
                (config, Request::PersonExport(person::Export { email }))
            }
            PersonAction::Erase { config, email } => {
                let by = control::actor();
                (config, Request::PersonErase(person::Erase { email, by }))
            }
        },
        Command::Run { .. }
        | Command::Export { .. }
        | Command::Import { .. }
        | Command::Report { .. }
        | Command::CheckConfig { .. }
        | Command::Generate { .. }
        | Command::Explain { .. }
        | Command::Preview { .. } => anyhow::bail!("not a store command"),
    })
}

/// `officer away|back|list`.
fn officer_request(action: OfficerAction) -> (PathBuf, Request) {
    match action {
        OfficerAction::Away {
            config,
            email,
            from,
            to,
            substitute,
        } => {
            let away = officer::Away {
                officer: email,
                from,
                to,
                substitute,
            };
            (config, Request::Away(away))
        }
        OfficerAction::Back { config, email } => {
            (config, Request::Back(officer::Back { officer: email }))
        }
        OfficerAction::List {
            config,
            department,
            json,
        } => (config, Request::Staff(officer::List { department, json })),
    }
}

/// `case show|close|postpone|receipt`.
fn case_request(action: CaseAction) -> (PathBuf, Request) {
    match action {
        CaseAction::Show { config, id } => (config, Request::Show(cases::Show { case: id })),
        CaseAction::Close {
            config,
            id,
            note,
            outcome,
        } => {
            let by = control::actor();
            let close = case::Close {
                case: id,
                note,
                outcome,
                by,
            };
            (config, Request::Close(close))
        }
        CaseAction::Postpone {
            config,
            id,
            to,
            note,
        } => {
            let by = control::actor();
            let postpone = case::Postpone {
                case: id,
                to,
                note,
                by,
            };
            (config, Request::Postpone(postpone))
        }
        CaseAction::Contact {
            config,
            id,
            way,
            on,
            note,
        } => {
            let by = control::actor();
            let contact = contact::Contact {
                case: id,
                way,
                on,
                note,
                by,
            };
            (config, Request::Contact(contact))
        }
        CaseAction::Measure { config, id, note } => {
            let by = control::actor();
            let measure = measure::Measure { case: id, note, by };
            (config, Request::Measure(measure))
        }
        CaseAction::Move { config, id, to } => {
            let by = control::actor();
            let moving = crate::ops::control::cmd::r#move::Move { case: id, to, by };
            (config, Request::Move(moving))
        }
        CaseAction::Receipt { config, id } => {
            (config, Request::Receipt(case::Receipt { case: id }))
        }
    }
}

/// `ignored` and `ignored open`.
fn ignored_request(command: Command) -> anyhow::Result<(PathBuf, Request)> {
    Ok(match command {
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
        } => {
            let open = ignored::OpenIgnored {
                id,
                note,
                receipt: !no_receipt,
                to,
            };
            (config, Request::OpenIgnored(open))
        }
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
            let list = ignored::Ignored {
                since,
                department,
                json,
            };
            (config, Request::Ignored(list))
        }
        _ => anyhow::bail!("not an `ignored` command"),
    })
}

/// Writes the man pages or completions, generated from the same definitions as `--help`, so
/// they cannot drift from the binary they ship with.
fn generate(what: Generated, dir: &Path) -> anyhow::Result<()> {
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
///
/// # Errors
/// The command's own error (its output when it failed), or why it could not be run.
pub fn store_command(config: &Path, request: Request, out: &mut dyn Write) -> anyhow::Result<()> {
    let cfg = Config::load(config)?;
    let reply = match control::send(&cfg.store, &request) {
        Some(reply) => reply?,
        None => {
            let templates = crate::mail::check::load_templates(&cfg)?;
            let store = crate::store::Store::connect(&cfg.store_location)?;
            let engine = crate::app::engine::Engine::new(cfg, store, templates);
            control::execute(&engine, &request)
        }
    };
    if reply.ok {
        // Not print!: it panics when stdout is a closed pipe; an error here ends quietly.
        out.write_all(reply.output.as_bytes())?;
        out.flush()?;
        Ok(())
    } else {
        anyhow::bail!("{}", reply.output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn a_date_in_another_shape_is_refused_with_the_shape_to_write() {
        assert_eq!(
            date("2026-12-20"),
            Ok(NaiveDate::from_ymd_opt(2026, 12, 20).unwrap())
        );
        for wrong in ["20-12-2026", "2026-13-01", "tomorrow", ""] {
            let e = date(wrong).unwrap_err();
            assert!(e.contains("write YYYY-MM-DD"), "{e}");
        }
        // Through clap, as a person types it.
        let e = Cli::try_parse_from([
            "kvittens",
            "case",
            "postpone",
            "BMN-2026-0001",
            "--to",
            "20-12-2026",
        ])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(e.contains("write YYYY-MM-DD, e.g. 2026-12-20"), "{e}");
    }
}
