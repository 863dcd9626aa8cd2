//! Commands on the store — list cases, show one, close one, move its decision date, record an
//! officer's absence — and the control socket through which the command line reaches a running
//! daemon (the store admits one process at a time). The same [`execute`] serves both ways.

use crate::app::engine::Engine;
use crate::config::Absence;
use crate::rules::case::{Case, State};
use crate::store::Effects;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::watch;

/// Which cases `cases` lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Filter {
    /// Every case.
    All,
    /// Waiting for the officer.
    Open,
    /// Open and past the reply deadline.
    Overdue,
    /// Answered by staff.
    Answered,
    /// Closed by hand.
    Closed,
    /// Flagged for a person: a receipt withheld (an unverified sender, a request for none, the
    /// daily cap, the loop breaker, no address), undeliverable, or a message read by its header
    /// only. `case receipt` takes a withheld receipt's flag off.
    Flagged,
}

/// One command.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// List cases.
    Cases {
        /// Only this department's.
        department: Option<String>,
        /// Which.
        filter: Filter,
        /// JSON lines instead of a table.
        json: bool,
    },
    /// Show one case with its timeline.
    Show {
        /// The case number.
        case: String,
    },
    /// Close a case by hand.
    Close {
        /// The case number.
        case: String,
        /// Why, for the timeline.
        note: String,
    },
    /// Set a new decision date and tell the resident.
    Postpone {
        /// The case number.
        case: String,
        /// The new date.
        to: NaiveDate,
        /// Why, told to the resident.
        note: String,
    },
    /// Read cases from JSON lines (as `export` writes them).
    Import {
        /// The file, as an absolute path.
        file: PathBuf,
    },
    /// Remove answered and closed cases older than the retention period.
    Purge {
        /// Only say what would go.
        dry_run: bool,
    },
    /// List the mail that opened no case.
    Ignored {
        /// Only mail that reached its mailbox on or after this (local) day.
        since: Option<NaiveDate>,
        /// Only this department's.
        department: Option<String>,
        /// JSON lines instead of a table.
        json: bool,
    },
    /// Open a case from an ignored mail.
    OpenIgnored {
        /// The entry's id in the ignored list.
        id: u64,
        /// Why, for the timeline and the officer.
        note: String,
        /// Whether the sender gets a receipt.
        receipt: bool,
        /// Where the receipt goes instead of the sender's address (`--to`).
        #[serde(default)]
        to: Option<String>,
    },
    /// Send a case's withheld receipt after all.
    Receipt {
        /// The case number.
        case: String,
    },
    /// Record an officer's absence and who covers.
    Away {
        /// The officer's address.
        officer: String,
        /// First day away.
        from: NaiveDate,
        /// Last day away.
        to: NaiveDate,
        /// The substitute's address.
        substitute: String,
    },
    /// Say what the daemon would do with messages, decided with its store (`explain`).
    Explain {
        /// The department whose mailbox they would reach.
        department: String,
        /// The messages.
        messages: Vec<crate::ops::commands::Named>,
        /// JSON lines instead of text.
        json: bool,
    },
    /// Show the receipt the daemon would send for a message, with the case number its store
    /// would give next (`preview`).
    Preview {
        /// The department whose mailbox it would reach.
        department: String,
        /// The message.
        message: crate::ops::commands::Named,
    },
}

/// The answer to a command.
#[derive(Debug, Serialize, Deserialize)]
pub struct Reply {
    /// Whether it worked.
    pub ok: bool,
    /// What to print (the error when not ok).
    pub output: String,
}

/// Where a daemon using the store at `store` listens.
pub fn socket_path(store: &Path) -> PathBuf {
    store.join("control.sock")
}

/// Runs a command against the engine's store.
pub fn execute(engine: &Engine, request: &Request) -> Reply {
    let mut out = Vec::new();
    let result = run(engine, request, &mut out);
    match result {
        Ok(()) => Reply {
            ok: true,
            output: String::from_utf8_lossy(&out).into_owned(),
        },
        Err(e) => Reply {
            ok: false,
            output: format!("{e:#}"),
        },
    }
}

fn run(engine: &Engine, request: &Request, out: &mut dyn Write) -> anyhow::Result<()> {
    let store = &*engine.store;
    let now = Utc::now();
    match request {
        Request::Cases {
            department,
            filter,
            json,
        } => {
            let list: Vec<Case> = store
                .cases()?
                .into_iter()
                .filter(|c| department.as_deref().is_none_or(|d| c.department == d))
                .filter(|c| match filter {
                    Filter::All => true,
                    Filter::Open => c.state == State::Open,
                    Filter::Overdue => c.state == State::Open && c.reply_due < now,
                    Filter::Answered => c.state == State::Answered,
                    Filter::Closed => c.state == State::Closed,
                    Filter::Flagged => c.flagged.is_some(),
                })
                .collect();
            list_cases(&engine.cfg(), &list, *json, now, out)?;
        }
        Request::Show { case } => {
            let c = store
                .case(case)?
                .ok_or_else(|| anyhow::anyhow!("no case {case}"))?;
            show_case(&engine.cfg(), &c, out)?;
        }
        Request::Close { case, note } => {
            let found = engine.update_case(case, |c| {
                c.state = State::Closed;
                c.log(
                    now,
                    format!(
                        "closed by hand{}",
                        if note.is_empty() {
                            String::new()
                        } else {
                            format!(": {note}")
                        }
                    ),
                );
                Ok(Effects::default())
            })?;
            anyhow::ensure!(found, "no case {case}");
            writeln!(out, "{case} closed")?;
        }
        Request::Postpone { case, to, note } => {
            let found = engine.postpone(case, *to, note, now)?;
            anyhow::ensure!(found, "no case {case}");
            writeln!(
                out,
                "{case}: decision date moved to {to}; the resident is told"
            )?;
        }
        Request::Import { file } => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let cfg = engine.cfg();
            let mut cases = Vec::new();
            for (n, line) in text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
            {
                let case: Case = serde_json::from_str(line)
                    .map_err(|e| anyhow::anyhow!("{}:{}: {e}", file.display(), n + 1))?;
                anyhow::ensure!(
                    cfg.department(&case.department).is_some(),
                    "{}:{}: case {} belongs to department {:?}, which is not configured",
                    file.display(),
                    n + 1,
                    case.number,
                    case.department
                );
                cases.push(case);
            }
            let total = cases.len();
            let mut new = Vec::new();
            for case in cases {
                if store.case(&case.number)?.is_none() {
                    new.push(case);
                }
            }
            let mut dues = Vec::new();
            for case in new.iter().filter(|c| c.state == State::Open) {
                if let Some(dept) = cfg.department(&case.department) {
                    dues.extend(
                        crate::rules::schedule::case_dues(dept, case)
                            .into_iter()
                            .filter(|d| d.at > now),
                    );
                }
            }
            store.put_many(&new, &dues)?;
            // Numbers of imported cases are never handed out again.
            for case in &new {
                let mut parts = case.number.rsplitn(3, '-');
                let (seq, year, prefix) = (parts.next(), parts.next(), parts.next());
                if let (Some(seq), Some(year), Some(prefix)) = (
                    seq.and_then(|s| s.parse().ok()),
                    year.and_then(|y| y.parse().ok()),
                    prefix,
                ) {
                    store.raise_seq(prefix, year, seq)?;
                }
            }
            writeln!(
                out,
                "{} case(s) imported, {} already there",
                new.len(),
                total - new.len()
            )?;
        }
        Request::Purge { dry_run } => {
            let cfg = engine.cfg();
            let Some(retention) = cfg.retention else {
                anyhow::bail!("no [daemon] retention is configured: nothing is purged");
            };
            let gone = crate::app::retention::purge(engine, retention, now, *dry_run)?;
            let ignored = crate::app::registrar::purge_ignored(
                engine,
                crate::app::retention::cutoff(retention, now),
                *dry_run,
            )?;
            for number in &gone {
                writeln!(
                    out,
                    "{} {number}",
                    if *dry_run { "would purge" } else { "purged" }
                )?;
            }
            writeln!(
                out,
                "{} case(s){}",
                gone.len(),
                if *dry_run {
                    " would be purged"
                } else {
                    " purged"
                }
            )?;
            writeln!(
                out,
                "{} ignored mail(s){}",
                ignored.len(),
                if *dry_run {
                    " would be purged"
                } else {
                    " purged"
                }
            )?;
        }
        Request::Ignored {
            since,
            department,
            json,
        } => {
            crate::app::registrar::list_ignored(engine, *since, department.as_deref(), *json, out)?
        }
        Request::OpenIgnored {
            id,
            note,
            receipt,
            to,
        } => {
            use crate::app::registrar::ReceiptTo;
            let receipt = match (receipt, to) {
                (false, _) => ReceiptTo::None,
                (true, Some(address)) => ReceiptTo::Address(address),
                (true, None) => ReceiptTo::Sender,
            };
            let c = engine.open_ignored(*id, note, receipt, now)?;
            writeln!(
                out,
                "{}: opened from ignored mail {id}, officer {}; {}",
                c.number,
                c.officer.email,
                engine.receipt_outcome(&c)
            )?;
        }
        Request::Receipt { case } => {
            let to = engine.receipt_after_all(case, now)?;
            writeln!(
                out,
                "{case}: receipt to {to} queued; the case is no longer flagged"
            )?;
        }
        Request::Explain {
            department,
            messages,
            json,
        } => {
            let cfg = engine.cfg();
            let dept = crate::ops::commands::department(&cfg, department)?;
            crate::ops::commands::explain_messages(&cfg, dept, Some(store), messages, *json, out)?;
        }
        Request::Preview {
            department,
            message,
        } => {
            let cfg = engine.cfg();
            let dept = crate::ops::commands::department(&cfg, department)?;
            let crate::ops::commands::Content::Raw(raw) = &message.content else {
                anyhow::bail!("{}: the file could not be read", message.file);
            };
            let templates = engine.templates();
            crate::ops::commands::preview_message(&cfg, &templates, dept, Some(store), raw, out)?;
        }
        Request::Away {
            officer,
            from,
            to,
            substitute,
        } => {
            anyhow::ensure!(from <= to, "--to {to} is before --from {from}");
            let officer = officer.to_lowercase();
            let substitute = substitute.to_lowercase();
            let cfg = engine.cfg();
            let dept = cfg
                .departments
                .iter()
                .find(|d| d.officer(&officer).is_some())
                .ok_or_else(|| {
                    anyhow::anyhow!("{officer} is not an officer in {}", cfg.file.display())
                })?;
            anyhow::ensure!(
                dept.officer(&substitute).is_some(),
                "{substitute} is not an officer of {} ({})",
                dept.name,
                dept.id
            );
            anyhow::ensure!(
                officer != substitute,
                "an officer cannot substitute for themselves"
            );
            store.add_absence(
                &officer,
                &Absence {
                    from: *from,
                    to: *to,
                    substitute: substitute.clone(),
                },
            )?;
            writeln!(out, "{officer} is away {from} – {to}; {substitute} covers")?;
        }
    }
    Ok(())
}

/// `time` in the local time of `department` ("2026-12-03 16:00"; receipts and deadlines are
/// Swedish local time, and so is what staff read), with seconds when `seconds`; in UTC, said
/// so, for a department no longer configured.
fn local_time(
    cfg: &crate::config::Config,
    department: &str,
    time: DateTime<Utc>,
    seconds: bool,
) -> String {
    let format = if seconds {
        "%Y-%m-%d %H:%M:%S"
    } else {
        "%Y-%m-%d %H:%M"
    };
    match cfg.department(department) {
        Some(d) => time
            .with_timezone(&d.calendar.tz)
            .format(format)
            .to_string(),
        None => format!("{} UTC", time.format(format)),
    }
}

/// The time zones the times of `cases` are shown in, named once below the list.
fn zones<'a>(cfg: &crate::config::Config, cases: impl Iterator<Item = &'a Case>) -> String {
    let mut names: Vec<&str> = cases
        .filter_map(|c| cfg.department(&c.department))
        .map(|d| d.calendar.tz.name())
        .collect();
    names.sort_unstable();
    names.dedup();
    names.join(", ")
}

/// `kvittens cases`: one line per case — number, state, `flagged` when a person should look
/// at it, category, resident, reply deadline in local time (`LATE` past it), subject — and a
/// count naming the time zone; or the cases as JSON lines (as `export` writes them, `flagged`
/// holding why or null).
fn list_cases(
    cfg: &crate::config::Config,
    list: &[Case],
    json: bool,
    now: DateTime<Utc>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    for c in list {
        if json {
            writeln!(out, "{}", serde_json::to_string(c)?)?;
            continue;
        }
        let late = if c.state == State::Open && c.reply_due < now {
            " LATE"
        } else {
            ""
        };
        writeln!(
            out,
            "{}  {:<8}  {:<7}  {:<12}  {:<28}  answer by {}{late}  {}",
            c.number,
            format!("{:?}", c.state).to_lowercase(),
            if c.flagged.is_some() { "flagged" } else { "" },
            c.category.key(),
            c.resident.email,
            local_time(cfg, &c.department, c.reply_due, false),
            c.subject
        )?;
    }
    if !json {
        let zones = zones(cfg, list.iter());
        let zones = if zones.is_empty() {
            String::new()
        } else {
            format!("; times in {zones}")
        };
        writeln!(out, "{} case(s){zones}", list.len())?;
    }
    Ok(())
}

/// `kvittens case show`: the case, its times in the department's local time (the zone named
/// once, on the first line), why it is flagged, and its timeline to the second.
fn show_case(cfg: &crate::config::Config, c: &Case, out: &mut dyn Write) -> anyhow::Result<()> {
    let zone = zones(cfg, std::iter::once(c));
    let zone = if zone.is_empty() {
        String::new()
    } else {
        format!("; times in {zone}")
    };
    let at = |t: DateTime<Utc>, seconds: bool| local_time(cfg, &c.department, t, seconds);
    writeln!(
        out,
        "{}  ({:?}, {}){zone}",
        c.number,
        c.state,
        c.category.key()
    )?;
    writeln!(out, "resident: {}", c.resident.email)?;
    writeln!(out, "subject:  {}", c.subject)?;
    writeln!(out, "officer:  {} <{}>", c.officer.name, c.officer.email)?;
    writeln!(out, "received: {}", at(c.received, false))?;
    writeln!(out, "reply by: {}", at(c.reply_due, false))?;
    writeln!(out, "decision: {}", at(c.decision_due, false))?;
    if let Some(why) = &c.flagged {
        writeln!(out, "flagged:  {why}")?;
    }
    for e in &c.events {
        writeln!(out, "  {}  {}", at(e.at, true), e.what)?;
    }
    Ok(())
}

/// Serves the control socket until shutdown.
pub async fn serve(engine: Engine, mut shutdown: watch::Receiver<bool>) {
    let path = socket_path(&engine.cfg().store);
    let _ = std::fs::remove_file(&path);
    let listener = match tokio::net::UnixListener::bind(&path) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "no control socket; commands must wait until the daemon is stopped");
            return;
        }
    };
    loop {
        let conn = tokio::select! {
            c = listener.accept() => c,
            _ = shutdown.changed() => break,
        };
        let Ok((stream, _)) = conn else { continue };
        let engine = engine.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            if BufReader::new(read).read_line(&mut line).await.is_err() {
                return;
            }
            let reply = match serde_json::from_str::<Request>(&line) {
                Ok(req) => {
                    let outbox = engine.outbox_bell();
                    let reply = tokio::task::spawn_blocking(move || execute(&engine, &req))
                        .await
                        .unwrap_or_else(|e| Reply {
                            ok: false,
                            output: format!("the command failed: {e}"),
                        });
                    // A command may have queued mail (a delay notice).
                    outbox.notify_one();
                    reply
                }
                Err(e) => Reply {
                    ok: false,
                    output: format!("not a command: {e}"),
                },
            };
            let text = serde_json::to_string(&reply).unwrap_or_default();
            let _ = write.write_all(format!("{text}\n").as_bytes()).await;
        });
    }
    let _ = std::fs::remove_file(&path);
}

/// Sends a command to the running daemon; `None` when no daemon listens.
pub fn send(store: &Path, request: &Request) -> Option<anyhow::Result<Reply>> {
    use std::io::{BufRead, BufReader};
    let mut stream = std::os::unix::net::UnixStream::connect(socket_path(store)).ok()?;
    let result = (|| {
        let text = serde_json::to_string(request)?;
        stream.write_all(format!("{text}\n").as_bytes())?;
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line)?;
        Ok(serde_json::from_str(&line)?)
    })();
    Some(result)
}
