//! The registrar's side of what kvittens decided: the list of mail that opened no case
//! (`kvittens ignored`), opening a case from one of them (`kvittens ignored open`), sending a
//! withheld receipt after all (`kvittens case receipt`), and the loop breaker's bookkeeping
//! around a new case. A machine's decision is never the last word on a resident's mail: what
//! it set aside stays findable, and a person can overrule it with one command.

use crate::app::edit::until_applied;
use crate::app::engine::{new_case_from, Engine, Incoming, Opening};
use crate::app::error::{refuse, refused, require, AppError};
use crate::config::{Config, Department};
use crate::mail::{compose, outgoing, words};
use crate::model::Kind;
use crate::model::{Case, State};
use crate::model::{Inbound, Person};
use crate::rules::decide::{self, Reason};
use crate::rules::loopbreak::{Record, Verdict};
use crate::store::{
    Applied, Counters, Edit, FromIgnored, IgnoredMail, MessageKey, NewCase, ReceiptQueued,
    StoreError,
};
use chrono::{DateTime, Datelike, NaiveDate, Utc};

/// References kept per ignored mail: enough to thread a receipt (RFC 5322 §3.6.4 allows
/// trimming the middle of a long References list).
const MAX_REFERENCES: usize = 20;

/// The entry in the ignored list for a message that opened no case.
fn entry(
    dept: &Department,
    msg: &Inbound,
    incoming: &Incoming<'_>,
    reason: &Reason,
) -> IgnoredMail {
    IgnoredMail {
        id: 0,
        department: dept.id.clone(),
        mailbox: dept.email.clone(),
        uid_validity: incoming.key.uid_validity,
        uid: incoming.key.uid,
        received: incoming.received,
        from: msg.from.clone(),
        reply_to: msg.reply_to.clone(),
        subject: msg.subject.clone(),
        message_id: msg.message_id.clone(),
        references: msg
            .references
            .iter()
            .take(MAX_REFERENCES)
            .cloned()
            .collect(),
        reason: reason.code.to_string(),
        detail: reason.detail.clone(),
        category: decide::classify(
            msg,
            &dept.category_words,
            &dept.fault_types,
            dept.default_category,
        )
        .0,
        language: decide::language(msg),
        case: None,
    }
}

/// Where the receipt of a case opened from ignored mail goes (`kvittens ignored open`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiptTo<'a> {
    /// To the sender, chosen as for any new case: the Reply-To, else the From, when that is a
    /// person outside the municipality; when neither is, the case opens without a receipt.
    Sender,
    /// To this address, which the registrar gave (`--to`).
    Address(&'a str),
    /// No receipt (`--no-receipt`).
    None,
}

/// The resident of a case opened from ignored `e`, and why no receipt may go to anybody: the
/// Reply-To, else the From, by the rule of the daemon's decision
/// ([`decide::unfit_for_receipt`]: a person outside the municipality, no machine or list),
/// and never an address named in why the mail was ignored — the list or system address that
/// made it look automatic is the last place a receipt should go.
fn resident_of(cfg: &Config, e: &IgnoredMail) -> (Person, Option<Reason>) {
    let detail = e.detail.to_lowercase();
    let mut passed = Vec::new();
    for (field, person) in [("Reply-To", &e.reply_to), ("From", &e.from)] {
        let Some(p) = person else { continue };
        let why = decide::unfit_for_receipt(p, &cfg.internal_domains, cfg.staff_addresses())
            .or_else(|| {
                detail
                    .contains(&p.email)
                    .then(|| format!("named in why it was ignored: {}", e.reason))
            });
        match why {
            None => return (p.clone(), None),
            Some(why) => passed.push(format!("{field} {} ({why})", p.email)),
        }
    }
    let list = if passed.is_empty() {
        "no From or Reply-To address".to_string()
    } else {
        passed.join("; ")
    };
    let why = Reason {
        code: "no_address",
        detail: format!("no address a receipt may go to: {list}; flagged for a person"),
    };
    (Person::default(), Some(why))
}

/// The resident the registrar named with `--to`, by the same rule: a person outside the
/// municipality, no machine or list. Their display name is kept when the mail named them.
fn resident_given(cfg: &Config, e: &IgnoredMail, address: &str) -> Result<Person, AppError> {
    let email = address.trim().to_lowercase();
    let known = [&e.reply_to, &e.from]
        .into_iter()
        .flatten()
        .find(|p| p.email == email);
    let p = Person {
        name: known.and_then(|p| p.name.clone()),
        email,
    };
    if let Some(why) = decide::unfit_for_receipt(&p, &cfg.internal_domains, cfg.staff_addresses()) {
        refuse!("no receipt may go to {address:?}: {why}");
    }
    Ok(p)
}

impl Engine {
    /// Records a message that opened no case: in a department inbox it goes to the ignored
    /// list with its handled mark; in the Sent folder only the mark is set (what the department
    /// sent is no resident's mail).
    pub(crate) fn record_ignored(
        &self,
        dept: &Department,
        msg: &Inbound,
        incoming: &Incoming<'_>,
        reason: &Reason,
    ) -> Result<(), StoreError> {
        let note = reason.to_string();
        if incoming.sent_folder {
            return self.store.mark_handled(&incoming.key, &note);
        }
        let entry = entry(dept, msg, incoming, reason);
        let ticks = [super::tally::no_case(dept, incoming.received, reason.code)];
        self.store
            .record_ignored(&incoming.key, &note, &entry, &ticks)
            .map(|_| ())
    }

    /// The loop breaker's verdict on a new thread from `resident` that reached the mailbox at
    /// `received`: the sender's record as it is to be stored once the case is opened, and why
    /// no receipt may go, when the sender is held as a machine.
    pub(crate) fn loop_check(
        &self,
        resident: &Person,
        received: DateTime<Utc>,
    ) -> Result<Option<(Record, Option<Reason>)>, StoreError> {
        if resident.email.is_empty() {
            return Ok(None);
        }
        let rule = self.cfg().loop_rule;
        let (record, verdict) = self
            .store
            .sender_record(&resident.email)?
            .new_thread(received, &rule);
        let why = |until: DateTime<Utc>| Reason {
            code: "loop",
            detail: rule.held(&resident.email, until),
        };
        let reason = match verdict {
            Verdict::Free => None,
            Verdict::Caught(until) => {
                tracing::warn!(sender = %resident.email, until = %until, "a sender keeps answering receipts within seconds with new threads: held as a machine, its cases flagged");
                Some(why(until))
            }
            Verdict::Held(until) => Some(why(until)),
        };
        Ok(Some((record, reason)))
    }

    /// Stores the loop breaker's record after a new case from `resident`, noting its receipt.
    pub(crate) fn loop_record(
        &self,
        resident: &Person,
        checked: Option<(Record, Option<Reason>)>,
        case: &Case,
    ) -> Result<(), StoreError> {
        let Some((record, _)) = checked else {
            return Ok(());
        };
        let receipt = compose::message_id(&self.cfg(), &case.number, Kind::Receipt);
        let record = if case.message_ids.contains(&receipt) {
            record.receipt_queued(Utc::now())
        } else {
            record
        };
        self.store.set_sender_record(&resident.email, &record)
    }

    /// Opens a case from ignored mail `id` (`kvittens ignored open`). The case counts as
    /// received when the mail reached the mailbox (that is when it came in, förvaltningslagen
    /// 2017:900 § 20), but its deadlines count from `now`: the receipt promises the resident an
    /// answer date, and a date already past would be no promise. The officer's notice carries,
    /// instead of the message (kvittens keeps no bodies), where to find it. The receipt goes
    /// where `receipt` says; when it is for the sender and no address fits, the case opens
    /// without one, flagged, and its timeline says why.
    pub fn open_ignored(
        &self,
        id: u64,
        note: &str,
        receipt: ReceiptTo<'_>,
        now: DateTime<Utc>,
    ) -> Result<Box<Case>, AppError> {
        let entry = self.store.ignored_mail(id)?.ok_or_else(|| {
            refused!("no ignored mail {id} (see `kvittens ignored`; entries older than the retention are purged)")
        })?;
        let (cfg, templates) = (self.cfg(), self.templates());
        let dept = configured(&cfg, &entry.department)?;
        let (resident, withhold) = match receipt {
            ReceiptTo::Address(address) => (resident_given(&cfg, &entry, address)?, None),
            ReceiptTo::Sender | ReceiptTo::None => resident_of(&cfg, &entry),
        };
        // With no receipt asked for, the lack of an address is no reason to flag the case.
        let withhold = withhold.filter(|_| receipt != ReceiptTo::None);
        let away = self.store.absences()?;
        let cal = &dept.calendar;
        let msg = header_of(&entry);
        let writer = match &resident.email[..] {
            "" => entry
                .from
                .clone()
                .or(entry.reply_to.clone())
                .unwrap_or_default(),
            _ => resident.clone(),
        };
        let standin = standin(dept, &entry, &writer, note, now);
        let today = cal.local_date(now);
        let counter = (dept.case_prefix.as_str(), today.year());
        let sender_today = crate::store::sender_day(&resident.email, today);
        let opening = Opening {
            withhold: withhold.as_ref(),
            without_receipt: receipt == ReceiptTo::None,
            note,
            count_from: Some(now),
            ..Opening::default()
        };
        let opened = until_applied(|| {
            let Some(e) = self.store.ignored_mail(id)? else {
                return Ok(Applied::Done(FromIgnored::NoEntry));
            };
            let counters = self
                .store
                .next_counters(&e.department, counter, &sender_today)?;
            let from = FromEntry {
                entry: &e,
                raw: &standin,
                msg: &msg,
                resident: &resident,
                away: &away,
            };
            let (c, mut effects) = from.open(&cfg, &templates, dept, counters, opening, now);
            effects
                .ticks
                .push(super::tally::opened_from_no_case(dept, &c));
            self.store.open_ignored(
                &e,
                &NewCase {
                    department: &e.department,
                    key: None,
                    message_id: e.message_id.as_deref(),
                    counter,
                    sender_today: &sender_today,
                    counters,
                    case: &c,
                    effects: &effects,
                },
            )
        })?;
        match opened {
            FromIgnored::Created(case) => {
                self.metrics().case_opened(&case.department);
                Ok(case)
            }
            FromIgnored::NoEntry => refuse!("no ignored mail {id}"),
            FromIgnored::AlreadyOpened(case) => {
                refuse!("ignored mail {id} was opened as case {case} already")
            }
            FromIgnored::MessageHasCase(case) => refuse!(
                "ignored mail {id} belongs to case {case} already (the same message, by Message-ID)"
            ),
        }
    }

    /// What became of the receipt of a case just opened from ignored mail, for the registrar:
    /// `receipt to ADDRESS queued`, or `no receipt` with why.
    pub fn receipt_outcome(&self, c: &Case) -> String {
        let rid = compose::message_id(&self.cfg(), &c.number, Kind::Receipt);
        if c.message_ids.contains(&rid) {
            return format!("receipt to {} queued", c.resident.email);
        }
        match &c.flagged {
            Some(why) => format!("no receipt ({why})"),
            None => "no receipt".to_string(),
        }
    }

    /// Sends the receipt of case `number` after all (`kvittens case receipt`): the receipt was
    /// withheld when the case opened (a sender that failed authentication, a request for no
    /// automatic answers, the daily cap, the loop breaker, …) and a person has judged that it
    /// may go. Once: the store refuses a second receipt for the case.
    pub fn receipt_after_all(&self, number: &str, now: DateTime<Utc>) -> Result<String, AppError> {
        let case = self
            .store
            .case(number)?
            .ok_or_else(|| refused!("no case {number}"))?;
        let (cfg, templates) = (self.cfg(), self.templates());
        let dept = configured(&cfg, &case.department)?;
        let already = || refused!("case {number} has had its receipt already (it goes once)");
        let rid = compose::message_id(&cfg, number, Kind::Receipt);
        if case.message_ids.contains(&rid) {
            return Err(already());
        }
        if let Some(why) =
            decide::unfit_for_receipt(&case.resident, &cfg.internal_domains, cfg.staff_addresses())
        {
            refuse!(
                "case {number} has no address to send a receipt to ({:?}: {why})",
                case.resident.email
            );
        }
        require!(
            case.state == State::Open,
            "case {number} is {}: the resident has had an answer, a receipt would come after it",
            if case.state == State::Closed {
                "closed"
            } else {
                "answered"
            }
        );
        require!(
            case.reply_due > now,
            "case {number}'s reply date {} has passed: a receipt would promise a date already gone; answer the resident instead",
            case.reply_due.format("%Y-%m-%d %H:%M UTC")
        );
        // The resident's own first message, to thread the receipt to.
        let first = case
            .message_ids
            .iter()
            .find(|m| !crate::model::ids::looks_ours(m))
            .cloned();
        let queued = until_applied(|| {
            let Some(before) = self.store.case(number)? else {
                return Ok(Applied::Done(ReceiptQueued::NoCase));
            };
            let mut c = before.clone();
            let mail = match compose::receipt(&cfg, dept, &c, (&first, &[]), &templates, now) {
                Ok(mail) => mail,
                Err(e) => return Ok(Applied::Done(ReceiptQueued::Refused(e.to_string()))),
            };
            c.no_receipt = None;
            let was = c
                .flagged
                .take()
                .map(|w| format!(" (withheld: {w})"))
                .unwrap_or_default();
            c.log(
                now,
                format!(
                    "receipt to {} sent after all by the registrar{was}",
                    c.resident.email
                ),
            );
            if !c.message_ids.contains(&mail.id) {
                c.message_ids.push(mail.id.clone());
            }
            let edit = Edit { before, after: c };
            self.store
                .queue_receipt(&edit, &super::outbox::queued(mail))
        })?;
        match queued {
            ReceiptQueued::Queued => Ok(case.resident.email),
            ReceiptQueued::NoCase => refuse!("no case {number}"),
            ReceiptQueued::AlreadySent => Err(already()),
            ReceiptQueued::Refused(why) => {
                refuse!("case {number}: the receipt could not be built: {why}")
            }
        }
    }
}

/// An ignored mail a registrar opens a case from, with what the case is built of.
struct FromEntry<'a> {
    entry: &'a IgnoredMail,
    /// The stand-in message for the officer's notice (see [`standin`]).
    raw: &'a [u8],
    msg: &'a Inbound,
    resident: &'a Person,
    away: &'a [(String, crate::model::Absence)],
}

impl FromEntry<'_> {
    /// The case and its mails, with `counters` as the store gave them.
    fn open(
        &self,
        cfg: &Config,
        templates: &crate::mail::templates::Templates,
        dept: &Department,
        counters: Counters,
        opening: Opening<'_>,
        now: DateTime<Utc>,
    ) -> (Case, crate::store::Effects) {
        let e = self.entry;
        let incoming = Incoming {
            key: MessageKey {
                department: e.department.clone(),
                uid_validity: e.uid_validity,
                uid: e.uid,
            },
            received: e.received,
            raw: self.raw,
            sent_folder: false,
        };
        // The registrar asked for this receipt: the daily cap is for floods.
        let counters = Counters {
            receipts_today: 0,
            ..counters
        };
        let lang = (e.category, e.language, self.resident);
        let (mut c, effects) = new_case_from(
            cfg, templates, dept, self.msg, &incoming, counters, lang, self.away, opening,
        );
        let words = if opening.note.is_empty() {
            String::new()
        } else {
            format!(": {}", opening.note)
        };
        c.log(now, format!("opened by the registrar from ignored mail {} (it had opened no case, {}: {}); deadlines count from now{words}", e.id, e.reason, e.detail));
        (c, effects)
    }
}

/// The message of an ignored mail as far as kvittens kept it: its header's ids, addresses and
/// subject (never its body).
fn header_of(entry: &IgnoredMail) -> Inbound {
    Inbound {
        parsed: true,
        message_id: entry.message_id.clone(),
        references: entry.references.clone(),
        from: entry.from.clone(),
        reply_to: entry.reply_to.clone(),
        subject: entry.subject.clone(),
        ..Inbound::default()
    }
}

fn configured<'a>(cfg: &'a Config, id: &str) -> Result<&'a Department, AppError> {
    cfg.department(id).ok_or_else(|| {
        refused!(
            "department {id:?} is not configured in {}",
            cfg.file.display()
        )
    })
}

/// What the officer's notice carries in place of a message kvittens did not keep: a short
/// message from the resident's address with the original's subject, saying where the original
/// is. In the staff language, like the notice.
fn standin(
    dept: &Department,
    e: &IgnoredMail,
    who: &Person,
    note: &str,
    now: DateTime<Utc>,
) -> Vec<u8> {
    let lang = dept.staff_language;
    let cal = &dept.calendar;
    let addr = |p: &Option<Person>| p.as_ref().map_or("-".to_string(), |p| p.email.clone());
    let sv = lang == crate::model::Language::Sv;
    let text = if sv {
        format!(
            "Registratorn öppnade det här ärendet {} från ett mejl som inte hade gett något ärende (post {} i listan `kvittens ignored`).\n\nkvittens sparar inte meddelandens innehåll. Originalet finns i {}, UIDVALIDITY {}, UID {}, inkom {}.\n\nFrån:       {}\nSvar till:  {}\nÄmne:       {}\nMessage-ID: {}\nVarför inget ärende först: {}: {}\n{}",
            words::written_time(cal, now, lang), e.id, e.mailbox, e.uid_validity, e.uid,
            words::written_time(cal, e.received, lang), addr(&e.from), addr(&e.reply_to),
            e.subject.as_deref().unwrap_or("-"), e.message_id.as_deref().unwrap_or("-"), e.reason, e.detail,
            if note.is_empty() { String::new() } else { format!("Registratorns anteckning: {note}\n") },
        )
    } else {
        format!(
            "The registrar opened this case {} from mail that had opened no case (entry {} of `kvittens ignored`).\n\nkvittens keeps no message bodies. The original is in {}, UIDVALIDITY {}, UID {}, received {}.\n\nFrom:       {}\nReply-To:   {}\nSubject:    {}\nMessage-ID: {}\nWhy no case at first: {}: {}\n{}",
            words::written_time(cal, now, lang), e.id, e.mailbox, e.uid_validity, e.uid,
            words::written_time(cal, e.received, lang), addr(&e.from), addr(&e.reply_to),
            e.subject.as_deref().unwrap_or("-"), e.message_id.as_deref().unwrap_or("-"), e.reason, e.detail,
            if note.is_empty() { String::new() } else { format!("The registrar's note: {note}\n") },
        )
    };
    let built = outgoing::mailbox(who.name.as_deref(), &who.email).and_then(|from| {
        let to = outgoing::mailbox(Some(&dept.name), &dept.email)?;
        lettre::Message::builder()
            .from(from)
            .to(to)
            .subject(e.subject.clone().unwrap_or_default())
            .date(e.received.into())
            .singlepart(outgoing::text_part(text.clone()))
            .map_err(outgoing::ComposeError::Mail)
    });
    match built {
        Ok(m) => m.formatted(),
        Err(_) => format!("Content-Type: text/plain; charset=utf-8\r\n\r\n{text}").into_bytes(),
    }
}

/// One entry of the ignored list with the local time it reached its mailbox
/// (`YYYY-MM-DD HH:MM` in its department's time zone, or UTC when the department is gone).
#[derive(Clone, Debug)]
pub struct Listed {
    /// The entry as stored.
    pub mail: IgnoredMail,
    /// When it reached the mailbox, in local time.
    pub local_time: String,
}

/// The ignored mail (`kvittens ignored`), newest first, optionally only from a (local) day on
/// and of one department.
///
/// # Errors
/// The store could not be read.
pub fn ignored_list(
    engine: &Engine,
    since: Option<NaiveDate>,
    department: Option<&str>,
) -> Result<Vec<Listed>, AppError> {
    let cfg = engine.cfg();
    let local = |e: &IgnoredMail| match cfg.department(&e.department) {
        Some(d) => (
            d.calendar.local_date(e.received),
            e.received
                .with_timezone(&d.calendar.tz)
                .format("%Y-%m-%d %H:%M")
                .to_string(),
        ),
        None => (
            e.received.date_naive(),
            e.received.format("%Y-%m-%d %H:%M UTC").to_string(),
        ),
    };
    let mut list: Vec<_> = engine
        .store
        .ignored_mails()?
        .into_iter()
        .filter(|e| department.is_none_or(|d| e.department == d))
        .filter(|e| since.is_none_or(|s| local(e).0 >= s))
        .collect();
    list.sort_by_key(|e| std::cmp::Reverse((e.received, e.id)));
    Ok(list
        .into_iter()
        .map(|mail| Listed {
            local_time: local(&mail).1,
            mail,
        })
        .collect())
}

/// Ignored mail that reached its mailbox before `cutoff` is removed (or only listed, with
/// `dry_run`), like answered cases past `retention`. Returns their ids.
pub fn purge_ignored(
    engine: &Engine,
    cutoff: DateTime<Utc>,
    dry_run: bool,
) -> Result<Vec<u64>, StoreError> {
    let old: Vec<u64> = engine
        .store
        .ignored_mails()?
        .into_iter()
        .filter(|e| e.received < cutoff)
        .map(|e| e.id)
        .collect();
    if !dry_run && !old.is_empty() {
        engine.store.remove_ignored(&old)?;
    }
    Ok(old)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::engine::Outcome;
    use crate::testkit::Sample;
    use chrono::Duration;

    fn engine(dir: &std::path::Path) -> Engine {
        let sample = Sample {
            department: "reply_within = \"3d\"",
            ..Sample::default()
        };
        sample.engine(dir).0
    }

    fn handle(e: &Engine, uid: u32, raw: &str, received: DateTime<Utc>, sent: bool) -> Outcome {
        let dept = e.cfg().departments[0].clone();
        let raw = raw.replace('\n', "\r\n");
        let incoming = Incoming {
            key: MessageKey {
                department: if sent {
                    "bygg/sent".into()
                } else {
                    "bygg".into()
                },
                uid_validity: 1,
                uid,
            },
            received,
            raw: raw.as_bytes(),
            sent_folder: sent,
        };
        e.handle(&dept, &incoming).unwrap()
    }

    fn mail(from: &str, id: &str, subject: &str, extra: &str) -> String {
        format!("From: Sara Berg <{from}>\nTo: bygg@kommun.test\nSubject: {subject}\nMessage-ID: <{id}>\n{extra}Content-Type: text/plain; charset=utf-8\n\nHej! Jag vill ansöka om bygglov.\n")
    }

    fn receipts(e: &Engine, to: &str) -> usize {
        let pending = e.outbox_handle().pending().unwrap();
        pending
            .iter()
            .filter(|m| m.kind == Kind::Receipt && m.to == [to])
            .count()
    }

    #[test]
    fn ignored_inbox_mail_is_listed_and_a_case_can_be_opened_from_it() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let received = Utc::now() - Duration::days(5);
        let auto = mail(
            "sara@example.org",
            "a1@example.org",
            "Ansökan om bygglov",
            "Auto-Submitted: auto-generated\n",
        );
        assert!(matches!(
            handle(&e, 3, &auto, received, false),
            Outcome::Ignored(_)
        ));
        // What the department sent itself is no resident's mail: not listed.
        assert!(matches!(
            handle(&e, 4, &auto, received, true),
            Outcome::Ignored(_)
        ));
        let list = e.store.ignored_mails().unwrap();
        assert_eq!(list.len(), 1, "{list:?}");
        let entry = &list[0];
        assert_eq!((entry.uid, entry.reason.as_str()), (3, "automatic"));
        assert_eq!(entry.mailbox, "bygg@kommun.test");
        assert_eq!(entry.category, crate::model::Category::Application);
        let listed = ignored_list(&e, None, None).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].mail.id, entry.id);
        assert!(!entry.detail.is_empty(), "what was seen, not only its code");
        let later = Some(Utc::now().date_naive() + Duration::days(1));
        assert!(
            ignored_list(&e, later, None).unwrap().is_empty(),
            "--since leaves out older mail"
        );
        assert_eq!(ignored_list(&e, None, Some("other")).unwrap().len(), 0);

        let now = Utc::now();
        let case = e
            .open_ignored(entry.id, "a person", ReceiptTo::Sender, now)
            .unwrap();
        let bygg = crate::app::metrics::Dept {
            department: "bygg".into(),
        };
        let opened = e.metrics().cases_opened.get_or_create(&bygg).get();
        assert_eq!(opened, 1, "a case opened from ignored mail is counted");
        assert_eq!(
            case.received, received,
            "it came in when it reached the mailbox"
        );
        assert!(case.reply_due > now, "deadlines count from the opening");
        assert_eq!(case.category, crate::model::Category::Application);
        assert_eq!(receipts(&e, "sara@example.org"), 1);
        let notice = e.outbox_handle().pending().unwrap();
        let notice = notice
            .iter()
            .find(|m| m.kind == Kind::OfficerNotice)
            .unwrap();
        let text = String::from_utf8_lossy(&notice.bytes);
        assert!(text.contains("UID 3"), "{text}");
        assert_eq!(
            e.store.ignored_mail(entry.id).unwrap().unwrap().case,
            Some(case.number.clone())
        );
        let again = e
            .open_ignored(entry.id, "", ReceiptTo::Sender, now)
            .unwrap_err();
        assert!(again.to_string().contains("already"), "{again}");
        assert!(e.open_ignored(99, "", ReceiptTo::Sender, now).is_err());
        // A follow-up of the opened mail now joins its case.
        let reply = mail(
            "sara@example.org",
            "a2@example.org",
            "Mer",
            "In-Reply-To: <a1@example.org>\n",
        );
        assert!(matches!(
            handle(&e, 5, &reply, now, false),
            Outcome::Attached(_)
        ));
        // Purged by retention like an answered case.
        assert_eq!(purge_ignored(&e, now, true).unwrap(), vec![entry.id]);
        assert_eq!(purge_ignored(&e, now, false).unwrap(), vec![entry.id]);
        assert!(e.store.ignored_mails().unwrap().is_empty());
    }

    #[test]
    fn a_case_opened_without_receipt_sends_none() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let auto = mail(
            "sara@example.org",
            "a1@example.org",
            "Fråga",
            "Precedence: bulk\n",
        );
        handle(&e, 3, &auto, Utc::now(), false);
        let case = e.open_ignored(1, "", ReceiptTo::None, Utc::now()).unwrap();
        assert_eq!(receipts(&e, "sara@example.org"), 0);
        // … and the registrar can still send it after all.
        e.receipt_after_all(&case.number, Utc::now()).unwrap();
        assert_eq!(receipts(&e, "sara@example.org"), 1);
    }

    /// The id in the ignored list of the mail with `uid`.
    fn ignored_id(e: &Engine, uid: u32) -> u64 {
        let list = e.store.ignored_mails().unwrap();
        list.iter().find(|x| x.uid == uid).unwrap().id
    }

    #[test]
    fn a_receipt_from_ignored_mail_goes_only_to_a_person_outside() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let now = Utc::now();
        // Ignored for its list Reply-To; the From is a person outside.
        let listy = mail(
            "sara@example.org",
            "l1@example.org",
            "Fråga",
            "Reply-To: alla-request@kommun.test\n",
        );
        // A mail system, Reply-To all staff: nobody to send to.
        let nobody = "From: MAILER-DAEMON@mx.example.org\nReply-To: alla@kommun.test\nTo: bygg@kommun.test\nSubject: Fråga\nMessage-ID: <n1@example.org>\n\nHej\n";
        // The address that made it look automatic is no place for a receipt either.
        let looped = mail(
            "sara2@example.org",
            "x1@example.org",
            "Fråga",
            "X-Loop: sara2@example.org\n",
        );
        let relay = "From: noreply@e-tjanst.vendor.test\nTo: bygg@kommun.test\nSubject: Ansökan\nMessage-ID: <r1@example.org>\n\nNamn: Sara Berg\n";
        for (uid, raw) in [(3, listy.as_str()), (4, nobody), (5, &looped), (6, relay)] {
            let out = handle(&e, uid, raw, now, false);
            assert!(matches!(out, Outcome::Ignored(_)), "{uid}: {out:?}");
        }

        let c = e
            .open_ignored(ignored_id(&e, 3), "", ReceiptTo::Sender, now)
            .unwrap();
        assert_eq!(c.resident.email, "sara@example.org");
        assert_eq!(receipts(&e, "sara@example.org"), 1);
        assert_eq!(receipts(&e, "alla-request@kommun.test"), 0);
        assert_eq!(e.receipt_outcome(&c), "receipt to sara@example.org queued");

        for uid in [4, 5] {
            let c = e
                .open_ignored(ignored_id(&e, uid), "", ReceiptTo::Sender, now)
                .unwrap();
            assert_eq!(c.resident.email, "", "{uid}");
            let flagged = c.flagged.clone().unwrap_or_default();
            assert!(flagged.starts_with("no_address"), "{uid}: {flagged}");
            let said = e.receipt_outcome(&c);
            assert!(said.starts_with("no receipt (no_address"), "{said}");
            assert!(c.events.iter().any(|ev| ev.what.starts_with("no receipt")));
            // Nor can one go after all: there is nobody to send it to.
            assert!(e.receipt_after_all(&c.number, now).is_err());
        }
        assert_eq!(receipts(&e, "alla@kommun.test"), 0);
        assert_eq!(receipts(&e, "mailer-daemon@mx.example.org"), 0);
        assert_eq!(receipts(&e, "sara2@example.org"), 0);

        // `--to`: the registrar names the address; inside the municipality or a machine's, it
        // is refused and the mail stays unopened.
        let relay = ignored_id(&e, 6);
        for wrong in [
            "alla@kommun.test",
            "Bygg@Kommun.test",
            "alla-request@lists.example.org",
            "not an address",
        ] {
            let err = e
                .open_ignored(relay, "", ReceiptTo::Address(wrong), now)
                .unwrap_err();
            assert!(
                err.to_string().contains("no receipt may go"),
                "{wrong}: {err}"
            );
        }
        let c = e
            .open_ignored(relay, "", ReceiptTo::Address("Sara.Berg@Example.org"), now)
            .unwrap();
        assert_eq!(c.resident.email, "sara.berg@example.org");
        assert_eq!(receipts(&e, "sara.berg@example.org"), 1);
        assert_eq!(c.flagged, None);
    }

    #[test]
    fn a_forged_kvittens_message_id_confirms_nothing_and_is_listed() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let now = Utc::now();
        let first = mail("sara@example.org", "q1@example.org", "Fråga", "");
        let Outcome::Opened(case) = handle(&e, 3, &first, now, false) else {
            panic!("no case")
        };
        let pending = e.outbox_handle().pending().unwrap();
        let receipt = pending.iter().find(|m| m.kind == Kind::Receipt).unwrap();
        e.outbox_handle().take_off(receipt, now).unwrap();
        // A resident's mail with the receipt's Message-ID: no copy, a duplicate, listed; the
        // receipt is still in flight, not confirmed by it.
        let forged = format!(
            "From: Eve <eve@medborgare.test>\nTo: bygg@kommun.test\nSubject: Hej\nMessage-ID: <{}>\n\nHej\n",
            receipt.id
        );
        let out = handle(&e, 4, &forged, now, false);
        assert!(
            matches!(&out, Outcome::Ignored(r) if r.code == "duplicate"),
            "{out:?}"
        );
        assert_eq!(e.outbox_handle().in_flight().unwrap(), 1);
        // From kvittens' own address, of a receipt that never went: listed too.
        let never = "From: Salems kommun <noreply@kommun.test>\nTo: bygg@kommun.test\nAuto-Submitted: auto-replied\nSubject: x\nMessage-ID: <kvittens.receipt.BMN-2026-0099@kommun.test>\n\nx\n";
        assert!(matches!(
            handle(&e, 5, never, now, false),
            Outcome::Ignored(_)
        ));
        let listed: Vec<u32> = e
            .store
            .ignored_mails()
            .unwrap()
            .iter()
            .map(|x| x.uid)
            .collect();
        assert!(listed.contains(&4) && listed.contains(&5), "{listed:?}");
        // The real copy confirms it.
        let copy = String::from_utf8_lossy(&receipt.bytes).replace("\r\n", "\n");
        let out = handle(&e, 6, &copy, now, false);
        assert!(
            matches!(&out, Outcome::Copy(Some(n)) if *n == case.number),
            "{out:?}"
        );
        assert_eq!(e.outbox_handle().in_flight().unwrap(), 0);
        // Its copy again (or a forgery of it from kvittens' address) changes nothing.
        assert!(matches!(
            handle(&e, 7, &copy, now, false),
            Outcome::Copy(None)
        ));
    }

    #[test]
    fn a_withheld_receipt_goes_after_all_once() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let forged = mail(
            "sara@example.org",
            "f1@example.org",
            "Fråga",
            "Authentication-Results: mx.kommun.test; dmarc=fail\n",
        );
        let Outcome::Opened(case) = handle(&e, 3, &forged, Utc::now(), false) else {
            panic!("no case")
        };
        assert!(case.flagged.is_some());
        assert_eq!(receipts(&e, "sara@example.org"), 0);
        let to = e.receipt_after_all(&case.number, Utc::now()).unwrap();
        assert_eq!(to, "sara@example.org");
        assert_eq!(receipts(&e, "sara@example.org"), 1);
        let c = e.store.case(&case.number).unwrap().unwrap();
        assert_eq!(c.flagged, None);
        assert!(c.events.iter().any(|ev| ev.what.contains("after all")));
        let again = e.receipt_after_all(&case.number, Utc::now()).unwrap_err();
        assert!(again.to_string().contains("already"), "{again}");
        assert_eq!(receipts(&e, "sara@example.org"), 1);
        assert!(e.receipt_after_all("BMN-2026-9999", Utc::now()).is_err());
    }

    #[test]
    fn a_help_desk_answering_each_receipt_at_once_gets_three() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let desk = "support@helpdesk.example";
        let mut flagged = 0;
        for i in 0..6 {
            let raw = mail(
                desk,
                &format!("t{i}@helpdesk.example"),
                &format!("Ticket #{i} created"),
                "",
            );
            // Each ticket comes in a second after the receipt before it (INTERNALDATE has
            // whole seconds).
            let at = Utc::now() + Duration::seconds(2 * i64::from(i) + 2);
            let Outcome::Opened(case) = handle(&e, 10 + i, &raw, at, false) else {
                panic!("every new thread opens a case")
            };
            if case
                .flagged
                .as_deref()
                .is_some_and(|f| f.starts_with("loop"))
            {
                flagged += 1;
            }
        }
        assert_eq!(receipts(&e, desk), 3);
        assert_eq!(flagged, 3);
        // Another sender is not affected; a resident who sends several mails at once (read
        // one after another, each after the receipt before it) is no machine.
        let at = Utc::now();
        for i in 0..6 {
            let raw = mail(
                "sara@example.org",
                &format!("s{i}@example.org"),
                "Fråga",
                "",
            );
            handle(&e, 30 + i, &raw, at, false);
        }
        assert_eq!(receipts(&e, "sara@example.org"), 6);
    }
}
