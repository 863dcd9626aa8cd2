//! The [`Engine`]: the one owner of case state, shared by every task (the watchers, the sender,
//! the clock, the control socket). It holds the config, the templates, the store and the counts;
//! what it does with a message is in `incoming`, with a due deadline in `followup`, with an
//! operator's command in `admin`. Here too: opening a new case (`new_case`, shared by a
//! message and by a case opened from the ignored list) and the decision as `explain` shows it.

use crate::app::access::StoreView;
use crate::app::incoming::flag_header_only;
use crate::app::metrics::Metrics;
use crate::config::{Config, Department};
use crate::mail::compose;
use crate::mail::notices;
use crate::mail::templates::Templates;
use crate::model::Absence;
use crate::model::{ids, Case, State};
use crate::model::{Category, Language};
use crate::model::{Inbound, Person};
use crate::rules::decide::{self, CaseRef, Decision, Known, Reason};
use crate::rules::schedule;
use crate::store::{CaseStore, Counters, Effects, StoreError};
use arc_swap::ArcSwap;
use chrono::{DateTime, Datelike, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Mail larger than this is attached to the officer notice by its header only: the officer has
/// the whole message in the department mailbox anyway.
const ATTACH_LIMIT: usize = 10 * 1024 * 1024;

pub use super::incoming::{Incoming, Outcome};

/// The message handler, shared by every mailbox task.
#[derive(Debug, Clone)]
pub struct Engine {
    /// The configuration and templates in force; swapped whole on SIGHUP.
    current: Arc<ArcSwap<Current>>,
    /// The store, behind the one interface every engine offers (see `store::api`).
    pub(crate) store: Arc<dyn CaseStore>,
    /// What the daemon counts.
    metrics: Arc<Metrics>,
    /// Wakes the sender: whoever queues mail outside a mailbox watcher (a command through the
    /// control socket) rings it.
    outbox: Arc<tokio::sync::Notify>,
    /// Set when the store fails (disk full, unwritable): the daemon then stops taking work and
    /// exits with an error, so that nothing is half-recorded; a restart (systemd's
    /// `Restart=on-failure`) picks up where the store left off once it works again.
    pub store_failed: Arc<StoreFailure>,
    /// Told when SIGHUP puts a new configuration in force, so that a mailbox watcher waiting
    /// in IDLE or between polls starts its wait again with the new `idle_renew`,
    /// `poll_interval` and `unconfirmed_wait` instead of sitting out the old one.
    pub reloaded: Arc<tokio::sync::Notify>,
    /// The leases of this run (see `app::lease`): which folders, and whether the sender and
    /// the scheduler, this instance works on when several share one store.
    leases: Arc<super::lease::Leases>,
}

/// The first store failure, told to whoever waits for it (the daemon, which then stops).
#[derive(Debug)]
pub struct StoreFailure(tokio::sync::watch::Sender<Option<String>>);

impl Default for StoreFailure {
    fn default() -> Self {
        StoreFailure(tokio::sync::watch::channel(None).0)
    }
}

impl StoreFailure {
    /// Reports a failure; the first one is kept and told.
    pub fn report(&self, why: impl Into<String>) {
        let why = why.into();
        self.0.send_if_modified(|v| {
            let first = v.is_none();
            if first {
                *v = Some(why);
            }
            first
        });
    }

    /// A receiver that wakes on the first failure.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<Option<String>> {
        self.0.subscribe()
    }
}

/// A configuration with its templates, checked together.
#[derive(Debug)]
struct Current {
    cfg: Arc<Config>,
    templates: Arc<Templates>,
}

/// What the store knows about one message's ids, gathered before the (pure) decision.
#[derive(Default)]
struct Facts {
    cases_by_id: HashMap<String, String>,
    existing_cases: HashMap<String, CaseRef>,
    went: HashSet<String>,
}

impl Known for Facts {
    fn case_of_message(&self, id: &str) -> Option<String> {
        self.cases_by_id.get(id).cloned()
    }
    fn case(&self, number: &str) -> Option<CaseRef> {
        self.existing_cases.get(number).cloned()
    }
    fn message_handled(&self, id: &str) -> bool {
        self.cases_by_id.contains_key(id)
    }
    fn own_mail_went(&self, id: &str) -> bool {
        self.went.contains(id)
    }
}

impl Engine {
    /// An engine over `store` with this configuration and these templates.
    pub fn new(cfg: Config, store: impl CaseStore + 'static, templates: Templates) -> Engine {
        let store: Arc<dyn CaseStore> = Arc::new(store);
        let table = super::lease::StoreTable(store.clone());
        let holder = super::lease::instance_id();
        let leases = super::lease::Leases::new(Box::new(table), holder, cfg.lease_seconds);
        let current = Current {
            cfg: Arc::new(cfg),
            templates: Arc::new(templates),
        };
        Engine {
            current: Arc::new(ArcSwap::from_pointee(current)),
            leases: Arc::new(leases),
            store,
            metrics: Arc::new(Metrics::new()),
            outbox: Arc::new(tokio::sync::Notify::new()),
            store_failed: Arc::new(StoreFailure::default()),
            reloaded: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// The outbox as the sender task sees it: what waits, and what became of each mail
    /// (written on its case here in `app`, never by the sender).
    pub fn outbox_handle(&self) -> super::outbox::Outbox {
        super::outbox::Outbox::of(self)
    }

    /// What the daemon counts: the adapters count what they see (messages, SMTP answers)
    /// into it, and `/metrics` reads it.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The bell that wakes the sender task: rung by whoever queues mail outside a mailbox
    /// watcher (a command through the control socket, the clock), since the sender otherwise
    /// sleeps until the next mail a watcher queues.
    pub fn outbox_bell(&self) -> Arc<tokio::sync::Notify> {
        self.outbox.clone()
    }

    /// The leases of this run: the daemon registers what it wants and keeps them renewed
    /// ([`super::lease::keep`]); each task asks for its own [`super::lease::Held`].
    pub fn leases(&self) -> &Arc<super::lease::Leases> {
        &self.leases
    }

    /// This engine with its leases kept in `table` instead of the store: for a test that runs
    /// two instances in one process over one store, each a holder of its own.
    pub fn with_lease_table(mut self, table: Box<dyn super::lease::LeaseTable>) -> Engine {
        let holder = super::lease::instance_id();
        let seconds = self.cfg().lease_seconds;
        self.leases = Arc::new(super::lease::Leases::new(table, holder, seconds));
        self
    }

    /// Reports a store failure to the daemon (once is enough).
    pub fn fail_store(&self, error: &StoreError) {
        self.store_failed.report(error.to_string());
    }

    /// The configuration in force.
    pub fn cfg(&self) -> Arc<Config> {
        self.current.load().cfg.clone()
    }

    /// The templates in force.
    pub fn templates(&self) -> Arc<Templates> {
        self.current.load().templates.clone()
    }

    /// Puts a new configuration and templates in force (already checked by the caller); work in
    /// flight finishes with the old ones.
    pub fn reload(&self, cfg: Config, templates: Templates) {
        self.current.store(Arc::new(Current {
            cfg: Arc::new(cfg),
            templates: Arc::new(templates),
        }));
        self.reloaded.notify_waiters();
    }
}

/// The case for a new message and the mails it sends. A mail that cannot be built is noted on
/// the case instead: the case itself is never lost.
#[allow(clippy::too_many_arguments)]
pub fn new_case(
    cfg: &Config,
    templates: &Templates,
    dept: &Department,
    msg: &Inbound,
    incoming: &Incoming<'_>,
    counters: Counters,
    who: (Category, Language, &Person),
    away: &[(String, Absence)],
    withhold: Option<&Reason>,
) -> (Case, Effects) {
    let opening = Opening {
        withhold,
        ..Opening::default()
    };
    new_case_from(
        cfg, templates, dept, msg, incoming, counters, who, away, opening,
    )
}

/// What the caller knows of a new case beyond its message.
#[derive(Clone, Copy, Debug, Default)]
pub struct Opening<'a> {
    /// Why no receipt may go (decide's reason, or the loop breaker's): the case is flagged
    /// for a person, who may send the receipt after all (`kvittens case receipt`).
    pub withhold: Option<&'a Reason>,
    /// The registrar opened the case and asked for no receipt: nothing for a person to look
    /// at, so the case is not flagged.
    pub without_receipt: bool,
    /// The registrar's note (`kvittens ignored open --note`), for the officer notice.
    pub note: &'a str,
    /// When the deadlines count from, when not from when the mail reached the mailbox (a case
    /// a registrar opens later, see `registrar`).
    pub count_from: Option<DateTime<Utc>>,
    /// Absences recorded at run time, by address: the manager's substitute gets a complaint
    /// notice while the manager is away.
    pub away: &'a [(String, Absence)],
    /// The department's officers' bursts as read ([`crate::store::CaseStore::bursts`]): in a
    /// burst the officer notice is held for a gathered mail ([`crate::rules::burst`]). `None`
    /// sends it at once (a case a person opens by hand).
    pub bursts: Option<&'a [(String, crate::rules::burst::Burst)]>,
}

/// [`new_case`] with everything the caller knows of the case in `opening`.
#[allow(clippy::too_many_arguments)]
pub fn new_case_from(
    cfg: &Config,
    templates: &Templates,
    dept: &Department,
    msg: &Inbound,
    incoming: &Incoming<'_>,
    counters: Counters,
    (category, language, resident): (Category, Language, &Person),
    away: &[(String, Absence)],
    opening: Opening<'_>,
) -> (Case, Effects) {
    let cal = &dept.calendar;
    let received = incoming.received;
    let count_from = opening.count_from.unwrap_or(received);
    let number = ids::case_number(
        &dept.case_prefix,
        cal.local_date(received).year(),
        counters.seq,
    );
    // A complaint is the manager's (the service policy); other cases go round robin; a
    // catalogued fault is its responsible unit's (owner_and_dates).
    let who = crate::rules::assign::owner(
        dept,
        category,
        cal.local_date(received),
        counters.turn,
        away,
    );
    let (who, fault, (reply_due, decision_due)) =
        owner_and_dates(dept, msg, category, count_from, who);
    let mut c = Case {
        number: number.clone(),
        department: dept.id.clone(),
        category,
        language,
        resident: resident.clone(),
        subject: msg.subject.clone().unwrap_or_default(),
        officer: who.officer,
        substitute_for: who.substitute_for,
        received,
        reply_due,
        decision_due,
        message_ids: msg.message_id.iter().cloned().collect(),
        state: State::Open,
        events: Vec::new(),
        answered_at: None,
        delay_told: false,
        flagged: None,
        no_receipt: None,
        fault_type: fault.map(|t| t.name.clone()),
        contacts: Vec::new(),
        measures: Vec::new(),
        outcome: None,
        six_months: None,
        // `case_dues` below schedules the check.
        six_months_scheduled: true,
    };
    c.log(
        received,
        format!(
            "received from {} in {} (UID {})",
            resident.email, dept.email, incoming.key.uid
        ),
    );
    let assigned = match fault {
        Some(t) => format!(
            "fault report of type {}: assigned to the responsible unit {} <{}>",
            t.name, c.officer.name, c.officer.email
        ),
        None => format!("assigned to {} <{}>", c.officer.name, c.officer.email),
    };
    c.log(received, assigned);
    flag_header_only(&mut c, msg, received);
    let opening = Opening { away, ..opening };
    let (mails, gather) = case_mails(
        cfg, templates, dept, msg, incoming, counters, &mut c, opening,
    );
    let mut dues = schedule::case_dues(dept, &c);
    let gather = gather.map(|(g, due)| {
        dues.extend(due);
        g
    });
    let count_receipt = mails.iter().any(|m| m.kind == crate::model::Kind::Receipt);
    let mails = mails.into_iter().map(super::outbox::queued).collect();
    // Every way a case opens passes here, so every way counts it (the report's tallies).
    let ticks = vec![super::tally::opened(dept, &c)];
    (
        c,
        Effects {
            mails,
            dues,
            count_receipt,
            ticks,
            gather: gather.into_iter().collect(),
            // A new case takes its turn with its counters (`NewCase`), not here.
            turn: None,
        },
    )
}

/// Who owns a new case, its fault type, and its reply and decision dates counted from
/// `from`. A fault report of a catalogued type goes to the type's responsible unit (it does
/// the work, so it is the one reminded and asked for a new date), and its one date is the
/// catalogue's `within`: the receipt already says what will be done, so the next thing the
/// resident is owed is the fault mended. Everything else keeps the round robin's officer and
/// the department's spans.
fn owner_and_dates<'d>(
    dept: &'d Department,
    msg: &Inbound,
    category: Category,
    from: DateTime<Utc>,
    who: crate::rules::assign::Assignment,
) -> (
    crate::rules::assign::Assignment,
    Option<&'d crate::config::FaultType>,
    (DateTime<Utc>, DateTime<Utc>),
) {
    let cal = &dept.calendar;
    let fault = (category == Category::FaultReport)
        .then(|| decide::fault_type(msg, &dept.fault_types))
        .flatten();
    if let Some(t) = fault {
        let done = cal.deadline(from, t.within);
        let unit = crate::rules::assign::Assignment {
            officer: t.responsible.clone(),
            substitute_for: None,
        };
        return (unit, fault, (done, done));
    }
    let decide_within = (dept.decide_within.get(&category).copied()).unwrap_or(dept.reply_within);
    let dates = (
        cal.deadline(from, dept.reply_within_for(category)),
        cal.deadline(from, decide_within),
    );
    (who, None, dates)
}

/// The mails of a new case, in order: its receipt unless it is withheld, the officer notice
/// (built after the receipt is decided, so that it says truly whether one went and why not)
/// unless a burst holds it for a gathered mail (then the change to the officer's burst, and
/// the gathering's schedule entry when it starts one), and for a complaint the manager's
/// notice. Records on `c` why no receipt went.
#[allow(clippy::too_many_arguments)]
fn case_mails(
    cfg: &Config,
    templates: &Templates,
    dept: &Department,
    msg: &Inbound,
    incoming: &Incoming<'_>,
    counters: Counters,
    c: &mut Case,
    opening: Opening<'_>,
) -> (
    Vec<crate::mail::outgoing::Outgoing>,
    Option<super::gather::Gathering>,
) {
    let now = Utc::now();
    let mut no_receipt = withheld_receipt(cfg, c, counters, &opening);
    let mut built = Vec::new();
    if no_receipt.is_none() {
        let thread = (&msg.message_id, msg.references.as_slice());
        match compose::receipt(cfg, dept, c, thread, templates, now) {
            Ok(mail) => built.push(Ok(mail)),
            Err(e) => {
                let why = Reason {
                    code: "not_built",
                    detail: e.to_string(),
                };
                c.log(now, format!("no receipt: {why}; flagged for a person"));
                flag(c, &why);
                no_receipt = Some(why);
            }
        }
    }
    c.no_receipt = no_receipt.as_ref().map(Reason::to_string);
    // A message read by its header only is not attached whole: its body is what the parser
    // must not meet (nor, perhaps, the officer's mail program); the department mailbox has it.
    let top;
    let original: &[u8] = if msg.header_only.is_some() {
        top = crate::mail::bounds::top_header(incoming.raw);
        &top
    } else if incoming.raw.len() <= ATTACH_LIMIT {
        incoming.raw
    } else {
        header_part(incoming.raw)
    };
    let facts = compose::NoticeFacts {
        no_receipt: no_receipt.as_ref(),
        header_only: msg.header_only.as_deref(),
        note: opening.note,
    };
    // A complaint's notices always go at once (the service policy: the manager is told).
    let gathering = (opening.bursts)
        .filter(|_| c.category != Category::Complaint)
        .and_then(|bursts| super::gather::on_new_case(cfg, dept, c, bursts, original, now));
    let held = gathering.as_ref().is_some_and(|(g, _)| g.hold.is_some());
    if !held {
        built.push(compose::officer_notice(
            cfg, dept, c, original, templates, now, &facts,
        ));
    }
    if c.category == Category::Complaint {
        // The manager is told at once. When the manager (or whoever stands in) owns the case,
        // the notice above has told them, with the message: a second mail about the same case
        // to the same person would only be noise.
        let acting = schedule::acting(dept, now, opening.away);
        if !acting.manager.email.eq_ignore_ascii_case(&c.officer.email) {
            built.push(notices::complaint_notice(cfg, &acting, templates, c, now));
        }
    }
    let mut mails = Vec::new();
    for built in built {
        match built {
            Ok(mail) => {
                c.message_ids.push(mail.id.clone());
                mails.push(mail);
            }
            Err(e) => c.log(now, format!("a mail could not be built: {e}")),
        }
    }
    (mails, gathering)
}

/// Why a new case gets no receipt, if it gets none, noted on its timeline: a withheld receipt
/// flags the case; the daily cap (`receipts_per_sender_per_day`, a flood's brake) and the
/// registrar's choice do not.
fn withheld_receipt(
    cfg: &Config,
    c: &mut Case,
    counters: Counters,
    opening: &Opening<'_>,
) -> Option<Reason> {
    let at = c.received;
    let cap = cfg.receipts_per_sender_per_day;
    if let Some(why) = opening.withhold {
        c.log(
            at,
            format!("no receipt: {why}; flagged for a person to look at"),
        );
        flag(c, why);
        Some(why.clone())
    } else if opening.without_receipt {
        let detail = "the registrar opened the case without one";
        let at = opening.count_from.unwrap_or_else(Utc::now);
        c.log(at, format!("no receipt: {detail}"));
        Some(Reason {
            code: "registrar",
            detail: detail.into(),
        })
    } else if counters.receipts_today >= cap {
        let detail = format!(
            "{} has had {cap} receipts today (the daily cap)",
            c.resident.email
        );
        c.log(at, format!("no receipt: {detail}"));
        Some(Reason {
            code: "daily_cap",
            detail,
        })
    } else {
        None
    }
}

/// Flags `c` for a person, keeping an earlier reason.
fn flag(c: &mut Case, why: &Reason) {
    c.flagged = Some(match c.flagged.take() {
        Some(first) => format!("{first}; {why}"),
        None => why.to_string(),
    });
}

/// Decides what to do with `msg` for `dept`; without a store, as if no case existed yet.
pub fn decide_with(
    cfg: &Config,
    dept: &Department,
    msg: &Inbound,
    store: Option<StoreView<'_>>,
    sent_folder: bool,
) -> Result<Decision, StoreError> {
    let mut facts = Facts::default();
    if let Some(store) = store.map(StoreView::store) {
        for id in msg.message_id.iter().chain(msg.references.iter()) {
            if let Some(c) = store.case_of_message(id)? {
                facts.cases_by_id.insert(id.clone(), c);
            }
        }
        let subject_numbers = ids::case_numbers(&msg.subject_seen);
        for number in subject_numbers.chain(msg.mentioned_receipts.iter().cloned()) {
            if let Some(c) = store.case(&number)? {
                let of = CaseRef {
                    department: c.department,
                    resident: c.resident.email,
                };
                facts.existing_cases.insert(number, of);
            }
        }
        if let Some(id) = msg.message_id.as_ref().filter(|id| ids::looks_ours(id)) {
            if super::outbox::went(store, id)? {
                facts.went.insert(id.clone());
            }
        }
    }
    let own = cfg.smtp.from.email.to_string().to_lowercase();
    let ctx = decide::Context {
        department: &dept.id,
        internal_domains: &cfg.internal_domains,
        staff_addresses: cfg.staff_addresses(),
        own_address: &own,
        own_id_domain: cfg.id_domain(),
        default_category: dept.default_category,
        sent_folder,
        trusted_authserv_ids: &cfg.trusted_authserv_ids,
        category_words: &dept.category_words,
        fault_types: &dept.fault_types,
    };
    let mut decision = decide::decide(msg, &ctx, &facts);
    // An address the mail library refuses cannot get a receipt, but the mail is still a
    // resident's: the case opens, flagged, with the receipt withheld and the address cleared
    // so that nothing is ever sent to it.
    if let Decision::Acknowledge {
        resident, withhold, ..
    } = &mut decision
    {
        if !resident.email.is_empty() && resident.email.parse::<lettre::Address>().is_err() {
            *withhold = Some(Reason {
                code: "no_address",
                detail: format!("{:?} is not an address mail can be sent to", resident.email),
            });
            resident.email.clear();
        }
    }
    Ok(decision)
}

/// The header of a raw message (up to the first empty line).
fn header_part(raw: &[u8]) -> &[u8] {
    raw.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| &raw[..p + 4])
        .or_else(|| {
            raw.windows(2)
                .position(|w| w == b"\n\n")
                .map(|p| &raw[..p + 2])
        })
        .unwrap_or(raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Kind;
    use crate::store::MessageKey;
    use crate::testkit::Sample;

    fn config(staff_language: &str) -> Config {
        let department = format!("staff_language = \"{staff_language}\"");
        let sample = Sample {
            daemon: "receipts_per_sender_per_day = 3",
            department: &department,
            ..Sample::default()
        };
        sample.config()
    }

    fn raw(head: &str, body: &str) -> Vec<u8> {
        format!("{head}\nTo: bygg@kommun.test\nMessage-ID: <n1@medborgare.test>\n\n{body}\n")
            .replace('\n', "\r\n")
            .into_bytes()
    }

    const QUESTION: &str = "Hej! När kan jag få svar om bygglov för mitt garage?";

    /// The case `msg` opens as the engine decides it, with `receipts_today` receipts to its
    /// sender already and what else the caller knows, and the officer notice's text.
    fn open(
        cfg: &Config,
        raw: &[u8],
        msg: &Inbound,
        receipts_today: u64,
        opening: Opening<'_>,
    ) -> (Case, Vec<Kind>, String) {
        let dept = &cfg.departments[0];
        let Decision::Acknowledge {
            category,
            language,
            resident,
            withhold,
        } = decide_with(cfg, dept, msg, None, false).unwrap()
        else {
            panic!("not acknowledged");
        };
        let incoming = Incoming {
            key: MessageKey {
                department: "bygg".into(),
                uid_validity: 1,
                uid: 7,
            },
            received: Utc::now(),
            raw,
            sent_folder: false,
        };
        let counters = Counters {
            seq: 1,
            turn: 0,
            receipts_today,
        };
        let opening = Opening {
            withhold: opening.withhold.or(withhold.as_ref()),
            ..opening
        };
        let templates = Templates::load(None).unwrap();
        let who = (category, language, &resident);
        let (case, effects) = new_case_from(
            cfg,
            &templates,
            dept,
            msg,
            &incoming,
            counters,
            who,
            &[],
            opening,
        );
        let notice = effects
            .mails
            .iter()
            .map(|q| &q.mail)
            .find(|m| m.kind == Kind::OfficerNotice)
            .expect("an officer notice");
        let parsed = mail_parser::MessageParser::default()
            .parse(&notice.bytes)
            .unwrap();
        let text = parsed.body_text(0).unwrap().replace("\r\n", "\n");
        assert_no_empty_fields(&text);
        let kinds = effects.mails.iter().map(|q| q.mail.kind).collect();
        (case, kinds, text)
    }

    fn notice_for(head: &str) -> (Case, Vec<Kind>, String) {
        notice_with(head, 0, Opening::default())
    }

    /// [`open`] for the question with `head`, in a Swedish-speaking department.
    fn notice_with(
        head: &str,
        receipts_today: u64,
        opening: Opening<'_>,
    ) -> (Case, Vec<Kind>, String) {
        let cfg = config("sv");
        let raw = raw(head, QUESTION);
        open(&cfg, &raw, &Inbound::parse(&raw), receipts_today, opening)
    }

    /// No line looks like a header with nothing after it ("Från:", "In-Reply-To: ").
    fn assert_no_empty_fields(text: &str) {
        for line in text.lines() {
            assert!(
                !line.trim_end().ends_with(':'),
                "an empty field {line:?} in\n{text}"
            );
        }
    }

    /// Asserts that the notice says plainly that no receipt went, why (`words`), and whether
    /// `kvittens case receipt` can send it after all.
    fn assert_withheld(case: &Case, kinds: &[Kind], text: &str, words: &str, command: bool) {
        assert!(!kinds.contains(&Kind::Receipt), "{kinds:?}");
        assert!(
            !text.contains("Invånaren har fått en bekräftelse"),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "Ingen bekräftelse har skickats till invånaren: {words}"
            )),
            "{text}"
        );
        let cmd = format!(" {}`", case.number);
        let printed = text.contains("`kvittens case receipt --config ") && text.contains(&cmd);
        assert_eq!(printed, command, "{text}");
        assert!(case.no_receipt.is_some());
    }

    #[test]
    fn a_sent_receipt_is_told_and_nothing_is_flagged() {
        let (case, kinds, text) =
            notice_for("From: Anna Berg <anna@medborgare.test>\nSubject: Fråga om bygglov");
        assert_eq!(kinds, [Kind::Receipt, Kind::OfficerNotice]);
        assert!(
            text.contains("Invånaren har fått en bekräftelse med ditt namn"),
            "{text}"
        );
        assert!(
            text.contains("Från:        Anna Berg <anna@medborgare.test>"),
            "{text}"
        );
        assert!(
            !text.contains("Obs!") && !text.contains("Ingen bekräftelse"),
            "{text}"
        );
        assert_eq!(case.no_receipt, None);
    }

    #[test]
    fn a_request_for_no_auto_reply_is_told_with_what_to_do() {
        let (case, kinds, text) = notice_for(
            "From: Anna Berg <anna@medborgare.test>\nSubject: Fråga om bygglov\nX-Auto-Response-Suppress: All",
        );
        let words = "avsändaren har bett att inte få automatiska svar.";
        assert_withheld(&case, &kinds, &text, words, true);
        assert!(text.contains("Detaljer: no_auto_reply: "), "{text}");
        assert!(
            text.contains("Obs! En person behöver se på ärendet: ingen bekräftelse skickades till invånaren (se nedan)."),
            "{text}"
        );
    }

    #[test]
    fn a_sender_failing_dmarc_is_told() {
        let (case, kinds, text) = notice_for(
            "From: Anna Berg <anna@medborgare.test>\nSubject: Fråga om bygglov\nAuthentication-Results: mx.kommun.test; dmarc=fail",
        );
        let words = "avsändaren klarade inte kontrollen av att mejlet verkligen kommer från den adress det uppger";
        assert_withheld(&case, &kinds, &text, words, true);
        assert!(
            text.contains("Detaljer: unverified_sender: Authentication-Results of mx.kommun.test: dmarc=fail."),
            "{text}"
        );
        assert!(case.flagged.is_some());
        assert_eq!(
            text.matches("Detaljer: unverified_sender").count(),
            1,
            "{text}"
        );
    }

    #[test]
    fn no_address_is_named_and_no_command_offered() {
        for (head, from) in [
            (
                "Subject: Fråga om bygglov",
                "okänd avsändare (ingen adress kunde läsas)",
            ),
            (
                "From: Anna Berg <a..b@medborgare.test>\nSubject: Fråga om bygglov",
                "Anna Berg (ingen adress kunde läsas)",
            ),
        ] {
            let (case, kinds, text) = notice_for(head);
            let words = "ingen avsändaradress kunde läsas, så det finns ingen adress att skicka en bekräftelse till.";
            assert_withheld(&case, &kinds, &text, words, false);
            assert!(text.contains(&format!("Från:        {from}\n")), "{text}");
            assert!(text.contains("Kontakta invånaren på annat sätt"), "{text}");
        }
    }

    #[test]
    fn the_daily_cap_is_told_and_does_not_flag() {
        let head = "From: Anna <anna@medborgare.test>\nSubject: Fråga";
        let (case, kinds, text) = notice_with(head, 3, Opening::default());
        let words = "avsändaren har redan fått 3 bekräftelser i dag, det högsta antalet per avsändare och dag.";
        assert_withheld(&case, &kinds, &text, words, true);
        assert!(
            text.contains("Detaljer: daily_cap: anna@medborgare.test has had 3 receipts today"),
            "{text}"
        );
        assert_eq!(case.flagged, None);
        assert!(!text.contains("Obs!"), "{text}");
    }

    #[test]
    fn the_loop_breaker_is_told() {
        let why = Reason {
            code: "loop",
            detail: "desk@helpdesk.test answered 3 receipts in a row".into(),
        };
        let opening = Opening {
            withhold: Some(&why),
            ..Opening::default()
        };
        let head = "From: desk@helpdesk.test\nSubject: Ticket 4711";
        let (case, kinds, text) = notice_with(head, 0, opening);
        let words = "avsändaren har svarat på flera bekräftelser inom några sekunder";
        assert_withheld(&case, &kinds, &text, words, true);
        assert!(case
            .flagged
            .as_deref()
            .is_some_and(|f| f.starts_with("loop: ")));
    }

    #[test]
    fn a_header_only_reading_is_told_in_words_with_the_detail_after() {
        let cfg = config("sv");
        let raw = raw(
            "From: Anna <anna@medborgare.test>\nSubject: Ritningar",
            QUESTION,
        );
        for (why, words) in [
            (
                "over the bounds: MIME nesting deeper than 50",
                "meddelandet är större eller mer inbäddat än vad kvittens läser",
            ),
            (
                "kvittens stopped while reading this message",
                "kvittens stannade eller fick ett fel när meddelandet lästes och lade det åt sidan",
            ),
        ] {
            let msg = Inbound::header_only(&raw, why.to_string());
            let (_, kinds, text) = open(&cfg, &raw, &msg, 0, Opening::default());
            assert!(kinds.contains(&Kind::Receipt), "{kinds:?}");
            assert!(
                text.contains(&format!("Obs! En person behöver se på ärendet: {words}")),
                "{text}"
            );
            assert!(
                text.contains(&format!(
                    "Detaljer: only the header of a message could be read ({why})."
                )),
                "{text}"
            );
            assert!(text.contains("Invånaren har fått en bekräftelse"), "{text}");
        }
    }

    #[test]
    fn the_registrars_note_and_choice_reach_the_officer() {
        let opening = Opening {
            without_receipt: true,
            note: "Ring Anna innan ni svarar",
            count_from: Some(Utc::now()),
            ..Opening::default()
        };
        let head = "From: Anna <anna@medborgare.test>\nSubject: Fråga";
        let (case, kinds, text) = notice_with(head, 0, opening);
        assert_withheld(
            &case,
            &kinds,
            &text,
            "registratorn öppnade ärendet utan bekräftelse",
            true,
        );
        assert!(
            text.contains("Registratorns anteckning: Ring Anna innan ni svarar\n"),
            "{text}"
        );
        assert_eq!(case.flagged, None);
    }

    #[test]
    fn the_notice_is_in_the_staff_language() {
        let cfg = config("en");
        let raw = raw(
            "Subject: Fråga om bygglov\nAuthentication-Results: mx.kommun.test; dmarc=fail",
            QUESTION,
        );
        let (case, _, text) = open(&cfg, &raw, &Inbound::parse(&raw), 0, Opening::default());
        assert!(
            text.contains("From:        unknown sender (no address could be read)\n"),
            "{text}"
        );
        assert!(
            text.contains("No receipt has gone to the resident: no sender address could be read"),
            "{text}"
        );
        assert!(text.contains("Note: a person needs to look at this case: no receipt went to the resident (see below)."), "{text}");
        assert!(!text.contains("kvittens case receipt"), "{text}");
        assert!(!text.contains("has had a receipt"), "{text}");
        assert_eq!(
            case.no_receipt.as_deref().map(|r| &r[..11]),
            Some("no_address:")
        );
    }
}

#[cfg(test)]
mod fault_tests {
    use super::*;
    use crate::model::Kind;
    use crate::store::MessageKey;
    use crate::testkit::{se, Sample, GATUBELYSNING};

    /// The case and mails a mail with `subject` opens in the sample department with the fault
    /// catalogue and a klämdag on Friday 15 May 2026, arriving on Wednesday 13 May at 10:00.
    fn opened(subject: &str) -> (Case, Effects) {
        let lines = format!("extra_days_off = [\"2026-05-15\"]\n{GATUBELYSNING}");
        let cfg = Sample {
            department: &lines,
            ..Sample::default()
        }
        .config();
        let dept = &cfg.departments[0];
        let raw = format!("From: Anna <anna@medborgare.test>\r\nTo: bygg@kommun.test\r\nSubject: {subject}\r\nMessage-ID: <f1@medborgare.test>\r\n\r\nHej! Lampan utanför nummer 12 lyser inte.\r\n");
        let msg = Inbound::parse(raw.as_bytes());
        let Decision::Acknowledge {
            category,
            language,
            resident,
            ..
        } = decide_with(&cfg, dept, &msg, None, false).unwrap()
        else {
            panic!("not acknowledged");
        };
        let incoming = Incoming {
            key: MessageKey {
                department: "bygg".into(),
                uid_validity: 1,
                uid: 1,
            },
            received: se("2026-05-13 10:00"),
            raw: raw.as_bytes(),
            sent_folder: false,
        };
        let counters = Counters {
            seq: 1,
            turn: 0,
            receipts_today: 0,
        };
        let templates = crate::mail::check::load_templates(&cfg).unwrap();
        let who = (category, language, &resident);
        new_case(
            &cfg,
            &templates,
            dept,
            &msg,
            &incoming,
            counters,
            who,
            &[],
            None,
        )
    }

    #[test]
    fn a_catalogued_fault_goes_to_its_unit_by_the_catalogues_date() {
        let (case, effects) = opened("Trasig gatlykta på Storgatan");
        assert_eq!(case.category, Category::FaultReport);
        assert_eq!(case.fault_type.as_deref(), Some("Gatubelysning"));
        assert_eq!(case.officer.email, "gata@kommun.se");
        assert_eq!(case.substitute_for, None);
        // Ten working days from Wednesday 13 May: not Kristi himmelsfärd (14th), not the
        // klämdag (15th); the 18th is the first, the 29th the tenth.
        assert_eq!(case.decision_due, se("2026-05-29 17:00"));
        assert_eq!(case.reply_due, case.decision_due);
        let to: Vec<(Kind, &str)> = (effects.mails.iter())
            .map(|q| (q.mail.kind, q.mail.to[0].as_str()))
            .collect();
        assert_eq!(
            to,
            [
                (Kind::Receipt, "anna@medborgare.test"),
                (Kind::OfficerNotice, "gata@kommun.se")
            ]
        );
        let tick = &effects.ticks[0].add;
        assert_eq!(tick.cases["fault_report"], 1);
        assert_eq!(tick.fault_types["Gatubelysning"], 1);
    }

    #[test]
    fn an_uncatalogued_fault_goes_round_robin_with_the_reply_deadline() {
        let (case, effects) = opened("Felanmälan: hål i cykelbanan");
        assert_eq!(case.category, Category::FaultReport);
        assert_eq!(case.fault_type, None);
        assert_eq!(case.officer.email, "o1@kommun.test");
        // "3d" from Wednesday 13 May is Saturday: the end of Monday 18th (14th a holiday,
        // 15th off).
        assert_eq!(case.reply_due, se("2026-05-18 17:00"));
        assert_eq!(effects.ticks[0].add.fault_types[""], 1);
    }
}
