//! What kvittens would do with a message, said for `explain` and `preview`: decided exactly as
//! the daemon decides, with whatever store it is given (the daemon's, through the control
//! socket, or one the command line opened). They send nothing. Where the store comes from is
//! `ops::inspect`'s business; this module knows nothing of the socket.

use crate::app::access::StoreView;
use crate::app::engine::{self, Incoming};
use crate::config::{Config, Department};
use crate::mail::templates::Templates;
use crate::model::{Category, Inbound, Language, Person};
use crate::rules::decide::Decision;
use crate::rules::loopbreak::Verdict;
use crate::store::{Counters, MessageKey};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::io::Write;

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

/// A message for `explain`, as the command line reads it and hands it to a running daemon.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Named {
    /// The file it came from, as the operator named it (for the output).
    pub file: String,
    /// Its bytes, or why they could not be read.
    pub content: Content,
}

/// What a file for `explain` held.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Content {
    /// The raw message (base64 on the control socket: mail need not be UTF-8).
    Raw(#[serde(with = "base64_bytes")] Vec<u8>),
    /// The file could not be read: why.
    Unreadable(String),
}

mod base64_bytes {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)
    }
}

/// What kvittens does with one message, as `explain` tells it.
struct Explained {
    /// `acknowledge` (a new case), `attach` (an existing case) or `ignore` (no case).
    action: &'static str,
    /// `new`, `existing` or `none`: the two questions kept apart from the receipt.
    case: &'static str,
    /// Whether the resident gets a receipt.
    receipt: bool,
    reason: String,
    category: Option<&'static str>,
    language: Option<&'static str>,
}

impl Explained {
    fn no_case(action: &'static str, case: &'static str, reason: String) -> Explained {
        Explained {
            action,
            case,
            receipt: false,
            reason,
            category: None,
            language: None,
        }
    }
}

/// The lines of `explain` for `messages`, decided with `store` (the daemon's, when it asks).
pub fn explain_messages(
    cfg: &Config,
    dept: &Department,
    store: Option<StoreView<'_>>,
    messages: &[Named],
    json_out: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    for named in messages {
        let e = match &named.content {
            Content::Unreadable(e) => Explained::no_case(
                "ignore",
                "none",
                format!("unreadable: cannot read the file: {e}"),
            ),
            Content::Raw(raw) => explain_one(cfg, dept, store, raw)?,
        };
        if json_out {
            let line = json!({
                "file": named.file,
                "action": e.action,
                "case": e.case,
                "receipt": e.receipt,
                "reason": e.reason,
                "category": e.category,
                "language": e.language,
            });
            writeln!(out, "{line}")?;
        } else {
            writeln!(
                out,
                "{}: {} — {}{}",
                named.file,
                e.action,
                e.reason,
                e.category
                    .map(|c| format!(" [{c}, {}]", e.language.unwrap_or("sv")))
                    .unwrap_or_default()
            )?;
        }
    }
    Ok(())
}

/// What the daemon would do with `raw`: the same decision (`engine::decide_with`), and whether
/// the receipt goes (not when withheld, nor past the daily cap per sender).
fn explain_one(
    cfg: &Config,
    dept: &Department,
    store: Option<StoreView<'_>>,
    raw: &[u8],
) -> anyhow::Result<Explained> {
    let msg = Inbound::parse(raw);
    let mut e = explain_decision(cfg, dept, store, &msg)?;
    // A message read by its header only gets a case flagged for a person: say so.
    if let Some(why) = msg.header_only.as_deref().filter(|_| e.case != "none") {
        e.reason = format!(
            "{}; only its header could be read ({why}): flagged for a person",
            e.reason
        );
    }
    Ok(e)
}

/// What `explain` says of one decided message.
fn explain_decision(
    cfg: &Config,
    dept: &Department,
    store: Option<StoreView<'_>>,
    msg: &Inbound,
) -> anyhow::Result<Explained> {
    Ok(match engine::decide_with(cfg, dept, msg, store, false)? {
        Decision::Acknowledge {
            category,
            language,
            resident,
            withhold,
        } => {
            let mut e = Explained {
                action: "acknowledge",
                case: "new",
                receipt: true,
                reason: format!("new matter from {}", resident.email),
                category: Some(category.key()),
                language: Some(language.code()),
            };
            if let Some(why) = withhold {
                e.receipt = false;
                e.reason =
                    format!("{why} (a case is opened without a receipt, flagged for a person)");
            } else if let Some(why) = held_by_store(cfg, dept, store, &resident, Utc::now())? {
                e.receipt = false;
                e.reason = format!("new matter from {}; no receipt: {why}", resident.email);
            }
            e
        }
        Decision::Undeliverable { case, reason } => Explained::no_case(
            "attach",
            "existing",
            format!("{reason} (case {case} is flagged, the officer told)"),
        ),
        Decision::Answer { case, reason, .. } => Explained::no_case(
            "attach",
            "existing",
            format!("{reason} (case {case} answered)"),
        ),
        Decision::Attach { case, reason } => {
            Explained::no_case("attach", "existing", format!("{reason} (case {case})"))
        }
        Decision::Copy { reason, .. } | Decision::Ignore(reason) => {
            Explained::no_case("ignore", "none", reason.to_string())
        }
    })
}

/// Why the store keeps the receipt of a new case from `resident` at `now`, the header rules
/// having let it go: the loop breaker holds the sender as a machine, or the sender has had
/// `receipts_per_sender_per_day` receipts today. The same checks, in the same order, as
/// `engine::Engine::handle` makes; without a store, none.
fn held_by_store(
    cfg: &Config,
    dept: &Department,
    store: Option<StoreView<'_>>,
    resident: &Person,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<String>> {
    let Some(store) = store else {
        return Ok(None);
    };
    if !resident.email.is_empty() {
        let rule = cfg.loop_rule;
        let (_, verdict) = store.sender_record(&resident.email)?.new_thread(now, &rule);
        if let Verdict::Held(until) | Verdict::Caught(until) = verdict {
            return Ok(Some(format!("loop: {}", rule.held(&resident.email, until))));
        }
    }
    let today = dept.calendar.local_date(now);
    let sent = store.receipts_on(&resident.email, today)?;
    let cap = cfg.receipts_per_sender_per_day;
    Ok((sent >= cap)
        .then(|| format!("{sent} receipts to this address today (the daily cap is {cap})")))
}

/// The lines of `preview` for `raw`, decided with `store` (the daemon's, when it asks): the
/// case number the store would give next (said as "would be": mail that arrives first takes
/// it), the envelope, and the receipt. An error says why no receipt would go.
pub fn preview_message(
    cfg: &Config,
    templates: &Templates,
    dept: &Department,
    store: Option<StoreView<'_>>,
    raw: &[u8],
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let msg = Inbound::parse(raw);
    let now = Utc::now();
    let (category, language, resident) = would_acknowledge(cfg, dept, store, &msg)?;
    if let Some(why) = held_by_store(cfg, dept, store, &resident, now)? {
        anyhow::bail!("no receipt: {why} (a case would open without one, flagged for a person)");
    }
    let today = dept.calendar.local_date(now);
    let (counters, away) = match store {
        Some(s) => (
            s.next_counters(dept, today, &resident.email)?,
            s.absences()?,
        ),
        None => (
            Counters {
                seq: 1,
                turn: 0,
                receipts_today: 0,
            },
            Vec::new(),
        ),
    };
    let incoming = Incoming {
        key: MessageKey {
            department: dept.id.clone(),
            uid_validity: 0,
            uid: 0,
        },
        received: now,
        raw,
        sent_folder: false,
    };
    let (case, mails) = engine::new_case(
        cfg,
        templates,
        dept,
        &msg,
        &incoming,
        counters,
        (category, language, &resident),
        &away,
        None,
    );
    let receipt = mails
        .mails
        .iter()
        .map(|q| &q.mail)
        .find(|m| m.kind == crate::model::Kind::Receipt)
        .ok_or_else(|| {
            anyhow::anyhow!("the receipt could not be built: {:?}", case.events.last())
        })?;
    writeln!(
        out,
        "The case number would be {} (the next the store gives; a mail that arrives first takes it), the officer {} <{}>.\n",
        case.number, case.officer.name, case.officer.email
    )?;
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

/// The category, language and resident of a receipt `msg` would get, decided as the daemon
/// decides; an error saying why none would go (withheld, undeliverable, an answer, a
/// follow-up, ignored).
fn would_acknowledge(
    cfg: &Config,
    dept: &Department,
    store: Option<StoreView<'_>>,
    msg: &Inbound,
) -> anyhow::Result<(Category, Language, Person)> {
    Ok(match engine::decide_with(cfg, dept, msg, store, false)? {
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
    })
}
