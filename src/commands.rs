//! The one-shot commands of the command line: checking a config, explaining and previewing
//! what kvittens would do with a message, listing cases. They send nothing.

use crate::case::{self, Case};
use crate::config::{Config, Department};
use crate::decide::Decision;
use crate::engine::{self, Incoming};
use crate::message::Inbound;
use crate::store::{Counters, MessageKey, Store};
use chrono::{Datelike, Utc};
use serde_json::json;
use std::io::Write;
use std::path::Path;

/// Loads the config and finds a department, with errors an operator can act on.
pub fn department<'a>(cfg: &'a Config, id: &str) -> anyhow::Result<&'a Department> {
    cfg.department(id).ok_or_else(|| {
        let ids: Vec<_> = cfg.departments.iter().map(|d| d.id.as_str()).collect();
        anyhow::anyhow!(
            "{}: no department {id:?}; configured: {}",
            cfg.file.display(),
            ids.join(", ")
        )
    })
}

/// Opens the store for reading facts, when it can be opened (the daemon holds a lock on it).
fn store_if_free(cfg: &Config) -> Option<Store> {
    if cfg.store.exists() {
        Store::open(&cfg.store).ok()
    } else {
        None
    }
}

/// One line per file: what kvittens would do and why. A file that cannot be read still gets
/// its line.
pub fn explain(
    cfg: &Config,
    dept: &Department,
    files: &[std::path::PathBuf],
    json_out: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let store = store_if_free(cfg);
    for file in files {
        let (action, reason, category, language) = match std::fs::read(file) {
            Err(e) => (
                "ignore",
                format!("unreadable: cannot read the file: {e}"),
                None,
                None,
            ),
            Ok(raw) => {
                let msg = Inbound::parse(&raw);
                match engine::decide_with(cfg, dept, &msg, store.as_ref())? {
                    Decision::Acknowledge {
                        category,
                        language,
                        resident,
                    } => (
                        "acknowledge",
                        format!("new matter from {}", resident.email),
                        Some(category.key()),
                        Some(language.code()),
                    ),
                    Decision::Answer { case, reason, .. } => (
                        "attach",
                        format!("{reason} (case {case} answered)"),
                        None,
                        None,
                    ),
                    Decision::Attach { case, reason } => {
                        ("attach", format!("{reason} (case {case})"), None, None)
                    }
                    Decision::Ignore(reason) => ("ignore", reason.to_string(), None, None),
                }
            }
        };
        if json_out {
            let line = json!({
                "file": file.display().to_string(),
                "action": action,
                "reason": reason,
                "category": category,
                "language": language,
            });
            writeln!(out, "{line}")?;
        } else {
            writeln!(
                out,
                "{}: {action} — {reason}{}",
                file.display(),
                category
                    .map(|c| format!(" [{c}, {}]", language.unwrap_or("sv")))
                    .unwrap_or_default()
            )?;
        }
    }
    Ok(())
}

/// The receipt for `file` exactly as it would be sent (with the next free case number when the
/// store can be read, else number 1).
pub fn preview(
    cfg: &Config,
    dept: &Department,
    file: &Path,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let raw = std::fs::read(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let msg = Inbound::parse(&raw);
    let store = store_if_free(cfg);
    let (category, language, resident) = match engine::decide_with(cfg, dept, &msg, store.as_ref())?
    {
        Decision::Acknowledge {
            category,
            language,
            resident,
        } => (category, language, resident),
        Decision::Answer { case, reason, .. } => {
            anyhow::bail!("no receipt: this message answers case {case} ({reason})")
        }
        Decision::Attach { case, reason } => {
            anyhow::bail!("no receipt: this message joins case {case} ({reason})")
        }
        Decision::Ignore(reason) => anyhow::bail!("no receipt: {reason}"),
    };
    let templates = crate::daemon::load_templates(cfg)?;
    let now = Utc::now();
    let year = dept.calendar.local_date(now).year();
    let seq = match &store {
        Some(s) => {
            s.cases()?
                .iter()
                .filter(|c| {
                    c.number
                        .starts_with(&format!("{}-{year}-", dept.case_prefix))
                })
                .count() as u64
                + 1
        }
        None => 1,
    };
    let incoming = Incoming {
        key: MessageKey {
            department: dept.id.clone(),
            uid_validity: 0,
            uid: 0,
        },
        received: now,
        raw: &raw,
    };
    let (case, mails) = engine::new_case(
        cfg,
        &templates,
        dept,
        &msg,
        &incoming,
        Counters { seq, turn: seq - 1 },
        (category, language, &resident),
    );
    let receipt = mails
        .iter()
        .find(|m| m.kind == crate::compose::Kind::Receipt)
        .ok_or_else(|| {
            anyhow::anyhow!("the receipt could not be built: {:?}", case.events.last())
        })?;
    writeln!(
        out,
        "MAIL FROM:<{}>\nRCPT TO:<{}>\n",
        receipt.envelope_from,
        receipt.to.join(">, <")
    )?;
    out.write_all(&receipt.bytes)?;
    writeln!(out)?;
    Ok(())
}

/// Every case, one line each (or JSON lines).
pub fn cases(
    store: &Store,
    department: Option<&str>,
    json_out: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let list: Vec<Case> = store
        .cases()?
        .into_iter()
        .filter(|c| department.is_none_or(|d| c.department == d))
        .collect();
    for c in &list {
        if json_out {
            writeln!(out, "{}", serde_json::to_string(c)?)?;
        } else {
            writeln!(
                out,
                "{}  {:<8}  {:<12}  {:<28}  due {}  {}",
                c.number,
                format!("{:?}", c.state).to_lowercase(),
                c.category.key(),
                c.resident.email,
                c.reply_due.format("%Y-%m-%d %H:%M UTC"),
                c.subject
            )?;
        }
    }
    if !json_out {
        writeln!(out, "{} case(s)", list.len())?;
    }
    Ok(())
}

/// Closes a case by hand, with a note for its timeline.
pub fn close(store: &Store, number: &str, note: &str, out: &mut dyn Write) -> anyhow::Result<()> {
    let now = Utc::now();
    let found = store.update_case(number, |c| {
        c.state = case::State::Closed;
        c.log(now, format!("closed by hand: {note}"));
    })?;
    anyhow::ensure!(found, "no case {number}");
    writeln!(out, "{number} closed")?;
    Ok(())
}

/// The full timeline of one case.
pub fn show(store: &Store, number: &str, out: &mut dyn Write) -> anyhow::Result<()> {
    let c = store
        .case(number)?
        .ok_or_else(|| anyhow::anyhow!("no case {number}"))?;
    writeln!(out, "{}  ({:?}, {})", c.number, c.state, c.category.key())?;
    writeln!(out, "resident: {}", c.resident.email)?;
    writeln!(out, "subject:  {}", c.subject)?;
    writeln!(out, "officer:  {} <{}>", c.officer.name, c.officer.email)?;
    writeln!(out, "reply by: {}", c.reply_due)?;
    writeln!(out, "decision: {}", c.decision_due)?;
    for e in &c.events {
        writeln!(
            out,
            "  {}  {}",
            e.at.format("%Y-%m-%d %H:%M:%S UTC"),
            e.what
        )?;
    }
    let _ = case::State::Open;
    Ok(())
}
