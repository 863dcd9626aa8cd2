//! The one-shot commands of the command line: checking a config, explaining and previewing
//! what kvittens would do with a message, listing cases. They send nothing.

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
        let mut header_only = None;
        let (action, reason, category, language) = match std::fs::read(file) {
            Err(e) => (
                "ignore",
                format!("unreadable: cannot read the file: {e}"),
                None,
                None,
            ),
            Ok(raw) => {
                let msg = Inbound::parse(&raw);
                header_only.clone_from(&msg.header_only);
                match engine::decide_with(cfg, dept, &msg, store.as_ref(), false)? {
                    Decision::Acknowledge {
                        withhold: Some(why),
                        ..
                    } => (
                        "ignore",
                        format!("{why} (a case is opened without a receipt, flagged for a person)"),
                        None,
                        None,
                    ),
                    Decision::Undeliverable { case, reason } => (
                        "attach",
                        format!("{reason} (case {case} is flagged, the officer told)"),
                        None,
                        None,
                    ),
                    Decision::Acknowledge {
                        category,
                        language,
                        resident,
                        withhold: None,
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
                    Decision::Copy { reason, .. } | Decision::Ignore(reason) => {
                        ("ignore", reason.to_string(), None, None)
                    }
                }
            }
        };
        // A message read by its header only gets a case flagged for a person: say so.
        let reason = match header_only {
            Some(why) if action != "ignore" => {
                format!("{reason}; only its header could be read ({why}): flagged for a person")
            }
            _ => reason,
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
    let (category, language, resident) =
        match engine::decide_with(cfg, dept, &msg, store.as_ref(), false)? {
            Decision::Acknowledge {
                withhold: Some(why),
                ..
            } => anyhow::bail!("no receipt: {why}"),
            Decision::Undeliverable { case, reason } => {
                anyhow::bail!(
                "no receipt: this message reports case {case}'s receipt undeliverable ({reason})"
            )
            }
            Decision::Acknowledge {
                category,
                language,
                resident,
                withhold: None,
            } => (category, language, resident),
            Decision::Answer { case, reason, .. } => {
                anyhow::bail!("no receipt: this message answers case {case} ({reason})")
            }
            Decision::Attach { case, reason } => {
                anyhow::bail!("no receipt: this message joins case {case} ({reason})")
            }
            Decision::Copy { reason, .. } | Decision::Ignore(reason) => {
                anyhow::bail!("no receipt: {reason}")
            }
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
        sent_folder: false,
    };
    let (case, mails) = engine::new_case(
        cfg,
        &templates,
        dept,
        &msg,
        &incoming,
        Counters {
            seq,
            turn: seq - 1,
            receipts_today: 0,
        },
        (category, language, &resident),
        &[],
        None,
    );
    let receipt = mails
        .mails
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
