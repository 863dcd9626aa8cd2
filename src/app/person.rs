//! A resident's rights over what kvittens holds about them (GDPR, Regulation (EU) 2016/679):
//! `person export` gives everything kept under an address (article 15, the right of access)
//! and `person erase` removes or anonymises it (article 17, the right to erasure).
//!
//! What stays, and why: a case is an allmän handling once the department has it
//! (tryckfrihetsförordningen ch. 2, offentlighetsprincipen) and the registry (diarium) must
//! keep it under arkivlagen (1990:782) until the archive authority's rules say otherwise —
//! GDPR art. 17(3)(b) lets a legal obligation prevail. So an erased case keeps its number,
//! department, category, state, officer, dates and the shape of its timeline; the address,
//! the name and the subject go, in the case and in every line of its timeline that names
//! them. The resident's own mail stays in the department mailbox, which kvittens does not own.
//! The daily totals (`model::tally`) hold no personal data and are not touched.

use crate::app::edit::until_applied;
use crate::app::engine::Engine;
use crate::model::{Case, Person};
use crate::store::{Applied, Edit, Erasure, IgnoredMail, Queued, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// What an erased address, name or subject reads as afterwards.
pub const ERASED: &str = "(erased)";

/// Everything kvittens holds about one address (article 15), as `person export` writes it.
#[derive(Clone, Debug, Serialize)]
pub struct Export {
    /// The address asked about, lower case.
    pub address: String,
    /// When the export was made.
    pub at: DateTime<Utc>,
    /// The cases the address wrote, or whose timeline names it, with their timelines.
    pub cases: Vec<Case>,
    /// The mail from the address that opened no case (`kvittens ignored`).
    pub ignored: Vec<IgnoredMail>,
    /// Mail waiting to be sent or being sent that goes to the address or carries it.
    pub outbox: Vec<OutboxMail>,
    /// The loop breaker's record of the address (how many new threads it opened lately),
    /// when it has one.
    pub loop_record: Option<serde_json::Value>,
}

/// A mail in the outbox as an export shows it.
#[derive(Clone, Debug, Serialize)]
pub struct OutboxMail {
    /// Its Message-ID.
    pub id: String,
    /// What it is (`receipt`, `officer notice`, …).
    pub kind: &'static str,
    /// The case or digest it is about.
    pub about: String,
    /// Its recipients.
    pub to: Vec<String>,
    /// The whole message, as it would go (UTF-8, lossy where it is not).
    pub message: String,
}

/// What `person erase` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Erased {
    /// The address erased, lower case.
    pub address: String,
    /// The cases anonymised (they stay in the registry), by number.
    pub cases: Vec<String>,
    /// How many ignored mail entries went.
    pub ignored: usize,
    /// How many mails waiting or in flight went unsent.
    pub mails: usize,
    /// Whether the loop breaker had a record of the address (removed with the rest).
    pub record: bool,
}

impl Erased {
    /// Whether kvittens held nothing about the address, so nothing was erased: the command
    /// says so rather than "erased", for an address typed wrong is otherwise not noticed.
    pub fn nothing(&self) -> bool {
        self.cases.is_empty() && self.ignored == 0 && self.mails == 0 && !self.record
    }
}

/// The address as the commands compare it: trimmed, lower case (addresses are kept so).
fn address(text: &str) -> String {
    text.trim().to_lowercase()
}

/// Whether `text` names `address` (without regard to case).
fn names(text: &str, address: &str) -> bool {
    text.to_lowercase().contains(address)
}

/// Whether case `c` is about `address`: its resident, or a timeline line naming it.
fn concerns(c: &Case, address: &str) -> bool {
    c.resident.email.eq_ignore_ascii_case(address)
        || c.events.iter().any(|e| names(&e.what, address))
}

/// Whether an ignored mail came from `address` (From or Reply-To).
fn sent_by(e: &IgnoredMail, address: &str) -> bool {
    let is = |p: &Option<Person>| {
        p.as_ref()
            .is_some_and(|p| p.email.eq_ignore_ascii_case(address))
    };
    is(&e.from) || is(&e.reply_to)
}

/// Whether a mail goes to `address` or carries it (a notice with the resident's message).
fn carries(q: &Queued, address: &str) -> bool {
    q.mail.to.iter().any(|t| t.eq_ignore_ascii_case(address))
        || names(&String::from_utf8_lossy(&q.mail.bytes), address)
}

/// Everything kvittens holds about `email` at `now` (GDPR art. 15).
///
/// # Errors
/// When the store cannot be read.
pub fn export(engine: &Engine, email: &str, now: DateTime<Utc>) -> Result<Export, StoreError> {
    let address = address(email);
    let store = &engine.store;
    let cases = store
        .cases()?
        .into_iter()
        .filter(|c| concerns(c, &address))
        .collect();
    let ignored = store
        .ignored_mails()?
        .into_iter()
        .filter(|e| sent_by(e, &address))
        .collect();
    let outbox = store
        .outbox_all()?
        .into_iter()
        .filter(|q| carries(q, &address))
        .map(|q| OutboxMail {
            id: q.mail.id.clone(),
            kind: q.mail.kind.word(),
            about: q.mail.about.to_string(),
            to: q.mail.to.clone(),
            message: String::from_utf8_lossy(&q.mail.bytes).into_owned(),
        })
        .collect();
    let record = store.sender_record(&address)?;
    let loop_record = (record != Default::default())
        .then(|| serde_json::to_value(&record).ok())
        .flatten();
    Ok(Export {
        address,
        at: now,
        cases,
        ignored,
        outbox,
        loop_record,
    })
}

/// `text` with every mention of `address` (any case) and of `name` replaced by [`ERASED`].
fn scrub(text: &str, address: &str, name: Option<&str>) -> String {
    let mut out = replace_caseless(text, address);
    if let Some(name) = name.filter(|n| n.trim().chars().count() > 1) {
        out = replace_caseless(&out, name.trim());
    }
    out
}

/// `text` with `what` replaced by [`ERASED`] wherever it occurs, compared without case.
fn replace_caseless(text: &str, what: &str) -> String {
    if what.is_empty() {
        return text.to_string();
    }
    let lower = text.to_lowercase();
    let needle = what.to_lowercase();
    // Lower-casing may change lengths outside ASCII: then compare as is.
    if lower.len() != text.len() {
        return text.replace(what, ERASED);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    for (at, _) in lower.match_indices(&needle) {
        if at < rest {
            continue;
        }
        out.push_str(&text[rest..at]);
        out.push_str(ERASED);
        rest = at + needle.len();
    }
    out.push_str(&text[rest..]);
    out
}

/// Case `c` with `address` (and the resident's name, when the case is theirs) taken out: the
/// resident, the subject, and every line and note that names them. Number, dates, state,
/// officer and the shape of the timeline stay (see the module's note on the registry).
fn anonymised(c: &Case, address: &str) -> Case {
    let mut after = c.clone();
    let theirs = c.resident.email.eq_ignore_ascii_case(address);
    let name = theirs.then(|| c.resident.name.clone()).flatten();
    let name = name.as_deref();
    if theirs {
        after.resident = Person {
            name: None,
            email: ERASED.to_string(),
        };
        after.subject = ERASED.to_string();
    }
    for e in &mut after.events {
        e.what = scrub(&e.what, address, name);
    }
    after.flagged = after.flagged.map(|f| scrub(&f, address, name));
    after.no_receipt = after.no_receipt.map(|f| scrub(&f, address, name));
    if theirs {
        erase_notes(&mut after);
    }
    after
}

/// Takes every free-text note the staff wrote on the resident's case out of it: a note may
/// name or describe the resident in words no address search finds ("Ringde Sara, hon var
/// upprörd"). The contacts and measures keep their way, date, who and when; the close keeps
/// its outcome word; the timeline keeps each line's kind and date, with the note "(erased)".
fn erase_notes(c: &mut Case) {
    for m in &mut c.contacts {
        m.note = ERASED.to_string();
    }
    for m in &mut c.measures {
        m.note = ERASED.to_string();
    }
    let staff_flag = c.events.iter().any(|e| {
        e.by.is_some()
            && c.flagged
                .as_deref()
                .is_some_and(|f| e.what == format!("flagged: {f}"))
    });
    if staff_flag {
        c.flagged = Some(ERASED.to_string());
    }
    for e in &mut c.events {
        if let Some(line) = without_note(&e.what, e.by.is_some()) {
            e.what = line;
        }
    }
}

/// A timeline line with the staff's free text in it replaced by [`ERASED`], or `None` for a
/// line that carries none. The lines are those `case contact`, `case measure`, `case close`,
/// `case postpone` and `case flag`/`unflag` write (app::caseops, app::followup,
/// app::casework); `by_person` tells a person's flag from kvittens' own.
fn without_note(what: &str, by_person: bool) -> Option<String> {
    if what.starts_with("contact by ") {
        let (head, _) = what.split_once(": ")?;
        return Some(format!("{head}: {ERASED}"));
    }
    if what.starts_with("measure: ") {
        return Some(format!("measure: {ERASED}"));
    }
    if let Some(rest) = what.strip_prefix("closed by hand: ") {
        let outcome = rest
            .rfind(" (outcome: ")
            .filter(|_| rest.ends_with(')'))
            .map_or("", |at| &rest[at..]);
        return Some(format!("closed by hand: {ERASED}{outcome}"));
    }
    if what.contains(" date moved to ") {
        let (head, _) = what.split_once("; the resident is told (")?;
        return Some(format!("{head}; the resident is told ({ERASED})"));
    }
    if by_person && what.starts_with("flagged: ") {
        return Some(format!("flagged: {ERASED}"));
    }
    if what.starts_with("flag taken off (was: ") {
        return Some(format!("flag taken off (was: {ERASED})"));
    }
    None
}

/// Removes or anonymises everything kvittens holds about `email` (GDPR art. 17), in one store
/// transaction: its cases anonymised (kept for the registry), its ignored mail entries, the
/// mail to it or carrying it that has not gone, the loop breaker's record and the daily
/// receipt counts. Each anonymised case's timeline says that it was erased, and by whom.
///
/// # Errors
/// When the store cannot be read or written.
pub fn erase(
    engine: &Engine,
    email: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Erased, StoreError> {
    let address = address(email);
    until_applied(|| {
        let store = &engine.store;
        let mut erasure = Erasure {
            address: address.clone(),
            ..Erasure::default()
        };
        for c in store.cases()?.into_iter().filter(|c| concerns(c, &address)) {
            let mut after = anonymised(&c, &address);
            after.log_by(
                now,
                by,
                "personal data erased on request (GDPR art. 17); the case is kept for the registry",
            );
            erasure.cases.push(Edit { before: c, after });
        }
        erasure.ignored = store
            .ignored_mails()?
            .into_iter()
            .filter(|e| sent_by(e, &address))
            .map(|e| e.id)
            .collect();
        erasure.mails = store
            .outbox_all()?
            .into_iter()
            .filter(|q| carries(q, &address))
            .collect();
        let record = store.sender_record(&address)? != Default::default();
        Ok(match store.erase(&erasure)? {
            Applied::Stale => Applied::Stale,
            Applied::Done(()) => Applied::Done(Erased {
                address: address.clone(),
                cases: erasure
                    .cases
                    .iter()
                    .map(|e| e.after.number.clone())
                    .collect(),
                ignored: erasure.ignored.len(),
                mails: erasure.mails.len(),
                record,
            }),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::engine::Incoming;
    use crate::model::Kind;
    use crate::store::MessageKey;
    use crate::testkit::Sample;

    /// An engine whose mailbox got, from sara@example.se, a question (a case, its receipt and
    /// notice waiting in the outbox) and an auto-reply (ignored).
    fn engine_with_sara(dir: &std::path::Path) -> Engine {
        let engine = Sample::default().engine(dir).0;
        let dept = engine.cfg().departments[0].clone();
        let mails = [
            "From: Sara Berg <sara@example.se>\r\nTo: bygg@kommun.test\r\nSubject: Bygglov Storgatan 5\r\nMessage-ID: <q1@example.se>\r\n\r\nHej! Jag vill bygga ett garage.\r\n",
            "From: Sara Berg <Sara@Example.se>\r\nTo: bygg@kommun.test\r\nAuto-Submitted: auto-replied\r\nSubject: Autosvar\r\nMessage-ID: <a1@example.se>\r\n\r\nBorta.\r\n",
            "From: Nils <nils@example.se>\r\nTo: bygg@kommun.test\r\nSubject: Parkering\r\nMessage-ID: <n1@example.se>\r\n\r\nHej! En fråga om parkering.\r\n",
        ];
        for (uid, raw) in (1..).zip(mails) {
            let incoming = Incoming {
                key: MessageKey {
                    department: "bygg".into(),
                    uid_validity: 1,
                    uid,
                },
                received: Utc::now(),
                raw: raw.as_bytes(),
                sent_folder: false,
            };
            engine.handle(&dept, &incoming).unwrap();
        }
        engine
    }

    #[test]
    fn an_export_holds_the_case_the_ignored_mail_and_the_outbox() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine_with_sara(dir.path());
        let e = export(&engine, " SARA@example.se ", Utc::now()).unwrap();
        assert_eq!(e.address, "sara@example.se");
        assert_eq!(e.cases.len(), 1, "only Sara's case");
        assert_eq!(e.cases[0].subject, "Bygglov Storgatan 5");
        assert!(!e.cases[0].events.is_empty());
        assert_eq!(e.ignored.len(), 1);
        let kinds: Vec<_> = e.outbox.iter().map(|m| m.kind).collect();
        assert!(kinds.contains(&Kind::Receipt.word()), "{kinds:?}");
        assert!(
            kinds.contains(&Kind::OfficerNotice.word()),
            "the notice carries her mail: {kinds:?}"
        );
        assert!(e.loop_record.is_some());
    }

    #[test]
    fn an_erasure_keeps_the_case_for_the_registry_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine_with_sara(dir.path());
        let number = export(&engine, "sara@example.se", Utc::now())
            .unwrap()
            .cases[0]
            .number
            .clone();
        let before = engine.store.case(&number).unwrap().unwrap();
        let done = erase(&engine, "Sara@example.se", "admin", Utc::now()).unwrap();
        assert_eq!(done.cases, vec![number.clone()]);
        assert_eq!((done.ignored, done.mails), (1, 2));
        let after = engine.store.case(&number).unwrap().unwrap();
        assert_eq!(after.resident.email, ERASED);
        assert_eq!(after.resident.name, None);
        assert_eq!(after.subject, ERASED);
        assert_eq!(
            (after.number.as_str(), after.received, after.reply_due),
            (number.as_str(), before.received, before.reply_due)
        );
        assert_eq!(after.officer, before.officer);
        let text = serde_json::to_string(&after).unwrap().to_lowercase();
        assert!(
            !text.contains("sara") && !text.contains("storgatan"),
            "{text}"
        );
        let last = after.events.last().unwrap();
        assert!(last.what.contains("personal data erased") && last.by.as_deref() == Some("admin"));
        let again = export(&engine, "sara@example.se", Utc::now()).unwrap();
        assert!(again.cases.is_empty() && again.ignored.is_empty() && again.outbox.is_empty());
        assert!(again.loop_record.is_none());
        // Nils's case and mail are untouched.
        let nils = export(&engine, "nils@example.se", Utc::now()).unwrap();
        assert_eq!((nils.cases.len(), nils.outbox.len()), (1, 2));
    }

    #[test]
    fn an_erasure_takes_the_staffs_notes_out_of_the_residents_case() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine_with_sara(dir.path());
        let number = export(&engine, "sara@example.se", Utc::now())
            .unwrap()
            .cases[0]
            .number
            .clone();
        let nils = export(&engine, "nils@example.se", Utc::now())
            .unwrap()
            .cases[0]
            .number
            .clone();
        let now = Utc::now();
        let later =
            engine.cfg().departments[0].calendar.local_date(now) + chrono::Duration::days(40);
        for n in [&number, &nils] {
            let made = crate::app::caseops::NewContact {
                way: crate::model::ContactWay::Phone,
                on: None,
                note: "Ringde Sara, hon var upprörd".into(),
            };
            crate::app::caseops::contact(&engine, n, &made, "olle", now).unwrap();
            crate::app::caseops::measure(&engine, n, "Bad Sara om ritningar", "olle", now).unwrap();
            crate::app::casework::flag(&engine, n, "Sara hörs igen", "olle", now).unwrap();
            crate::app::admin::postpone(&engine, n, later, "Sara har rest bort", None, now)
                .unwrap();
            crate::app::caseops::close(
                &engine,
                n,
                ("Sara nöjd", Some("befogat")),
                Some("olle"),
                now,
            )
            .unwrap();
        }
        erase(&engine, "sara@example.se", "admin", now).unwrap();
        let after = engine.store.case(&number).unwrap().unwrap();
        let text = serde_json::to_string(&after).unwrap().to_lowercase();
        assert!(!text.contains("sara"), "{text}");
        assert_eq!(after.contacts[0].note, ERASED);
        assert_eq!(after.contacts[0].way, crate::model::ContactWay::Phone);
        assert_eq!(after.measures[0].note, ERASED);
        assert_eq!(after.flagged.as_deref(), Some(ERASED));
        assert_eq!(after.outcome.as_deref(), Some("befogat"));
        let lines: Vec<_> = after.events.iter().map(|e| e.what.as_str()).collect();
        for want in [
            "measure: (erased)",
            "flagged: (erased)",
            "closed by hand: (erased) (outcome: befogat)",
        ] {
            assert!(lines.contains(&want), "{want}: {lines:?}");
        }
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("contact by phone on ") && l.ends_with(": (erased)")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.ends_with("; the resident is told ((erased))")),
            "{lines:?}"
        );
        // Another resident's case keeps its notes.
        let kept = engine.store.case(&nils).unwrap().unwrap();
        assert_eq!(kept.measures[0].note, "Bad Sara om ritningar");
    }

    #[test]
    fn erasing_an_address_nothing_is_held_about_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine_with_sara(dir.path());
        let none = erase(&engine, "nobody@example.se", "admin", Utc::now()).unwrap();
        assert!(none.nothing(), "{none:?}");
        let sara = erase(&engine, "sara@example.se", "admin", Utc::now()).unwrap();
        assert!(!sara.nothing());
        assert!(erase(&engine, "sara@example.se", "admin", Utc::now())
            .unwrap()
            .nothing());
    }

    #[test]
    fn a_mention_is_replaced_in_any_case() {
        assert_eq!(
            scrub(
                "received from Sara@Example.se (Sara Berg)",
                "sara@example.se",
                Some("Sara Berg")
            ),
            "received from (erased) ((erased))"
        );
        assert_eq!(replace_caseless("abc", ""), "abc");
    }
}
