//! Handles one incoming message from start to end of its bookkeeping: read it, decide, and
//! record the outcome (a new case with its outgoing mails, a follow-up, or an ignore mark) in
//! the store in one step. No network: the watcher feeds it, the sender empties the outbox.

use crate::case::{self, Case, State};
use crate::compose;
use crate::config::{Absence, Config, Department};
use crate::decide::{self, CaseRef, Category, Decision, Known, Language, Reason};
use crate::message::{Inbound, Person};
use crate::metrics::Metrics;
use crate::notices;
use crate::schedule;
use crate::store::{Counters, Effects, MessageKey, Opened, Store, StoreError};
use crate::templates::Templates;
use arc_swap::ArcSwap;
use chrono::{DateTime, Datelike, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Mail larger than this is attached to the officer notice by its header only: the officer has
/// the whole message in the department mailbox anyway.
const ATTACH_LIMIT: usize = 10 * 1024 * 1024;

/// The outcome of handling one message.
#[derive(Debug)]
pub enum Outcome {
    /// A new case; its receipt and notice wait in the outbox.
    Opened(Box<Case>),
    /// Added to an existing case.
    Attached(String),
    /// Staff answered the case.
    Answered(String),
    /// A copy of kvittens' own mail; when the mail's fate was unknown (a crash hid the SMTP
    /// server's answer), it is now recorded as sent on this case.
    Copy(Option<String>),
    /// No case, no receipt.
    Ignored(Reason),
    /// Handled before (a restart, or the same mail in two mailboxes).
    AlreadyHandled,
}

/// One message as the watcher hands it over.
#[derive(Debug)]
pub struct Incoming<'a> {
    /// Where it is.
    pub key: MessageKey,
    /// When it reached the mailbox (IMAP INTERNALDATE).
    pub received: DateTime<Utc>,
    /// The message.
    pub raw: &'a [u8],
    /// Whether it is in the department's Sent folder (then it can only be an answer).
    pub sent_folder: bool,
}

/// The message handler, shared by every mailbox task.
#[derive(Debug, Clone)]
pub struct Engine {
    /// The configuration and templates in force; swapped whole on SIGHUP.
    current: Arc<ArcSwap<Current>>,
    /// The store.
    pub store: Store,
    /// What the daemon counts.
    pub metrics: Arc<Metrics>,
    /// Wakes the sender: whoever queues mail outside a mailbox watcher (a command through the
    /// control socket) rings it.
    pub outbox: Arc<tokio::sync::Notify>,
    /// Set when the store fails (disk full, unwritable): the daemon then stops taking work and
    /// exits with an error, so that nothing is half-recorded; a restart (systemd's
    /// `Restart=on-failure`) picks up where the store left off once it works again.
    pub store_failed: Arc<StoreFailure>,
    /// Told when SIGHUP puts a new configuration in force, so that a mailbox watcher waiting
    /// in IDLE or between polls starts its wait again with the new `idle_renew`,
    /// `poll_interval` and `unconfirmed_wait` instead of sitting out the old one.
    pub reloaded: Arc<tokio::sync::Notify>,
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
    pub fn new(cfg: Config, store: Store, templates: Templates) -> Engine {
        let current = Current {
            cfg: Arc::new(cfg),
            templates: Arc::new(templates),
        };
        Engine {
            current: Arc::new(ArcSwap::from_pointee(current)),
            store,
            metrics: Arc::new(Metrics::new()),
            outbox: Arc::new(tokio::sync::Notify::new()),
            store_failed: Arc::new(StoreFailure::default()),
            reloaded: Arc::new(tokio::sync::Notify::new()),
        }
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

    /// Decides what to do with `msg` for `dept`, looking up what the store knows of it.
    pub fn decide(
        &self,
        dept: &Department,
        msg: &Inbound,
        sent_folder: bool,
    ) -> Result<Decision, StoreError> {
        decide_with(&self.cfg(), dept, msg, Some(&self.store), sent_folder)
    }

    /// Handles one message: decides and records the outcome.
    pub fn handle(
        &self,
        dept: &Department,
        incoming: &Incoming<'_>,
    ) -> Result<Outcome, StoreError> {
        self.handle_as(dept, incoming, None)
    }

    /// Handles one message; with `set_aside`, the reason kvittens stopped or failed while
    /// reading it before, from its top-level header only (see [`Inbound::header_only`]): the
    /// decision follows the same rules, and a case it opens or joins is flagged for a person.
    pub fn handle_as(
        &self,
        dept: &Department,
        incoming: &Incoming<'_>,
        set_aside: Option<&str>,
    ) -> Result<Outcome, StoreError> {
        if self.store.was_handled(&incoming.key)? {
            return Ok(Outcome::AlreadyHandled);
        }
        let msg = match set_aside {
            None => {
                #[cfg(debug_assertions)]
                test_fault(incoming.raw);
                Inbound::parse(incoming.raw)
            }
            Some(why) => Inbound::header_only(incoming.raw, why.to_string()),
        };
        match self.decide(dept, &msg, incoming.sent_folder)? {
            Decision::Ignore(reason) => {
                self.record_ignored(dept, &msg, incoming, &reason)?;
                Ok(Outcome::Ignored(reason))
            }
            Decision::Copy { id, .. } => Ok(Outcome::Copy(self.store.confirm_copy(
                &incoming.key,
                &id,
                Utc::now(),
            )?)),
            Decision::Attach { case, reason } => {
                let at = incoming.received;
                let owner = self.store.case(&case)?.map(|c| c.department);
                if let Some(other) = owner.filter(|d| *d != dept.id) {
                    tracing::info!(department = %dept.id, case = %case, case_department = %other, reason = %reason, "a follow-up in this mailbox joins a case of another department");
                }
                let what = format!("further message from {} ({})", sender(&msg), reason.detail);
                self.store
                    .attach(&incoming.key, msg.message_id.as_deref(), &case, |c| {
                        c.log(at, what.clone());
                        flag_header_only(c, &msg, at);
                        // The resident writes again after an answer: they are waiting again,
                        // with a new reply deadline and its reminders.
                        if c.state == State::Open {
                            return Effects::default();
                        }
                        c.state = State::Open;
                        c.reply_due = dept.calendar.deadline(at, dept.reply_within);
                        c.log(
                            at,
                            format!(
                                "re-opened; reply due {}",
                                c.reply_due.format("%Y-%m-%d %H:%M UTC")
                            ),
                        );
                        let dues = schedule::case_dues(dept, c)
                            .into_iter()
                            .filter(|d| d.kind != schedule::DueKind::DecisionCheck)
                            .collect();
                        Effects {
                            mails: vec![],
                            dues,
                        }
                    })?;
                Ok(Outcome::Attached(case))
            }
            Decision::Answer { case, by, reason } => {
                let at = incoming.received;
                self.store
                    .attach(&incoming.key, msg.message_id.as_deref(), &case, |c| {
                        c.log(at, format!("answered by {} ({})", by.email, reason.detail));
                        flag_header_only(c, &msg, at);
                        if c.state == State::Open {
                            c.state = State::Answered;
                            c.answered_at = Some(at);
                        }
                        Effects::default()
                    })?;
                Ok(Outcome::Answered(case))
            }
            Decision::Undeliverable { case, reason } => {
                let at = incoming.received;
                let (cfg, templates) = (self.cfg(), self.templates());
                self.store
                    .attach(&incoming.key, msg.message_id.as_deref(), &case, |c| {
                        let why = format!(
                            "the receipt to {} could not be delivered ({})",
                            c.resident.email, reason.detail
                        );
                        c.log(at, why.clone());
                        c.flagged = Some(why);
                        match notices::undeliverable(&cfg, dept, &templates, c, at) {
                            Ok(mail) => Effects {
                                mails: vec![mail],
                                dues: vec![],
                            },
                            Err(e) => {
                                c.log(at, format!("the officer could not be told: {e}"));
                                Effects::default()
                            }
                        }
                    })?;
                Ok(Outcome::Attached(case))
            }
            Decision::Acknowledge {
                category,
                language,
                resident,
                withhold,
            } => {
                let year = dept.calendar.local_date(incoming.received).year();
                let (cfg, templates) = (self.cfg(), self.templates());
                let away = self.store.absences()?;
                let today = dept.calendar.local_date(incoming.received);
                let checked = self.loop_check(&resident, incoming.received)?;
                let withhold = withhold.or_else(|| checked.as_ref().and_then(|c| c.1.clone()));
                let opened = self.store.open_case(
                    &incoming.key,
                    msg.message_id.as_deref(),
                    (&dept.case_prefix, year),
                    &format!("{}/{today}", resident.email),
                    |counters| {
                        Ok(new_case(
                            &cfg,
                            &templates,
                            dept,
                            &msg,
                            incoming,
                            counters,
                            (category, language, &resident),
                            &away,
                            withhold.as_ref(),
                        ))
                    },
                )?;
                Ok(match opened {
                    Opened::Created(case) => {
                        self.loop_record(&resident, checked, &case)?;
                        Outcome::Opened(case)
                    }
                    Opened::AlreadyHandled => Outcome::AlreadyHandled,
                })
            }
        }
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
    (category, language, resident): (Category, Language, &Person),
    away: &[(String, Absence)],
    withhold: Option<&Reason>,
) -> (Case, Effects) {
    let who = (category, language, resident);
    let from = incoming.received;
    new_case_from(
        cfg, templates, dept, msg, incoming, counters, who, away, withhold, from,
    )
}

/// [`new_case`] with its deadlines counted from `count_from` instead of from when the mail
/// reached the mailbox (a case a registrar opens later, see `registrar`).
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
    withhold: Option<&Reason>,
    count_from: DateTime<Utc>,
) -> (Case, Effects) {
    let cal = &dept.calendar;
    let received = incoming.received;
    let number = case::case_number(
        &dept.case_prefix,
        cal.local_date(received).year(),
        counters.seq,
    );
    let who = case::assign(dept, cal.local_date(received), counters.turn, away);
    let decide_within = dept
        .decide_within
        .get(&category)
        .copied()
        .unwrap_or(dept.reply_within);
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
        reply_due: cal.deadline(count_from, dept.reply_within),
        decision_due: cal.deadline(count_from, decide_within),
        message_ids: msg.message_id.iter().cloned().collect(),
        state: State::Open,
        events: Vec::new(),
        answered_at: None,
        delay_told: false,
        flagged: None,
    };
    c.log(
        received,
        format!(
            "received from {} in {} (UID {})",
            resident.email, dept.email, incoming.key.uid
        ),
    );
    c.log(
        received,
        format!("assigned to {} <{}>", c.officer.name, c.officer.email),
    );
    let now = Utc::now();
    flag_header_only(&mut c, msg, received);
    // A message read by its header only is not attached whole: its body is what the parser
    // must not meet (nor, perhaps, the officer's mail program); the department mailbox has it.
    let top;
    let original: &[u8] = if msg.header_only.is_some() {
        top = crate::bounds::top_header(incoming.raw);
        &top
    } else if incoming.raw.len() <= ATTACH_LIMIT {
        incoming.raw
    } else {
        header_part(incoming.raw)
    };
    let mut mails = Vec::new();
    let receipt = compose::receipt(
        cfg,
        dept,
        &c,
        (&msg.message_id, &msg.references),
        templates,
        now,
    );
    let notice = compose::officer_notice(cfg, dept, &c, original, templates, now);
    let cap = cfg.receipts_per_sender_per_day;
    let mut built = vec![notice];
    if let Some(why) = withhold {
        c.log(
            received,
            format!("no receipt: {why}; flagged for a person to look at"),
        );
        c.flagged = Some(match c.flagged.take() {
            Some(first) => format!("{first}; {why}"),
            None => why.to_string(),
        });
    } else if counters.receipts_today >= cap {
        c.log(
            received,
            format!(
                "no receipt: {} has had {cap} receipts today (the daily cap)",
                resident.email
            ),
        );
    } else {
        built.insert(0, receipt);
    }
    if category == Category::Complaint {
        built.push(notices::complaint_notice(cfg, dept, templates, &c, now));
    }
    for built in built {
        match built {
            Ok(mail) => {
                c.message_ids.push(mail.id.clone());
                mails.push(mail);
            }
            Err(e) => c.log(now, format!("a mail could not be built: {e}")),
        }
    }
    let dues = schedule::case_dues(dept, &c);
    (c, Effects { mails, dues })
}

/// Decides what to do with `msg` for `dept`; without a store, as if no case existed yet.
pub fn decide_with(
    cfg: &Config,
    dept: &Department,
    msg: &Inbound,
    store: Option<&Store>,
    sent_folder: bool,
) -> Result<Decision, StoreError> {
    let mut facts = Facts::default();
    if let Some(store) = store {
        for id in msg.message_id.iter().chain(msg.references.iter()) {
            if let Some(c) = store.case_of_message(id)? {
                facts.cases_by_id.insert(id.clone(), c);
            }
        }
        let subject_numbers = decide::case_numbers(&msg.subject_seen);
        for number in subject_numbers.chain(msg.mentioned_receipts.iter().cloned()) {
            if let Some(c) = store.case(&number)? {
                let of = CaseRef {
                    department: c.department,
                    resident: c.resident.email,
                };
                facts.existing_cases.insert(number, of);
            }
        }
        if let Some(id) = msg
            .message_id
            .as_ref()
            .filter(|id| id.starts_with("kvittens."))
        {
            if store.went(id)? {
                facts.went.insert(id.clone());
            }
        }
    }
    let staff = staff_addresses(cfg);
    let own = cfg.smtp.from.email.to_string().to_lowercase();
    let ctx = decide::Context {
        department: &dept.id,
        internal_domains: &cfg.internal_domains,
        staff_addresses: &staff,
        own_address: &own,
        own_id_domain: cfg.id_domain(),
        default_category: dept.default_category,
        sent_folder,
        trusted_authserv_ids: &cfg.trusted_authserv_ids,
        category_words: &dept.category_words,
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

/// The municipality's own addresses the config names, lower-case: kvittens' sending address,
/// every department mailbox, officer, planned substitute, manager and `escalate_to`. No
/// receipt goes to them (see [`decide::unfit_for_receipt`]), also when their domain is not in
/// `internal_domains`.
pub fn staff_addresses(cfg: &Config) -> Vec<String> {
    let mut all = vec![cfg.smtp.from.email.to_string()];
    for d in &cfg.departments {
        all.push(d.email.clone());
        all.push(d.manager.email.clone());
        all.extend(d.follow_up.escalate_to.iter().map(|c| c.email.clone()));
        for o in &d.officers {
            all.push(o.contact.email.clone());
            all.extend(o.absent.iter().map(|a| a.substitute.clone()));
        }
    }
    for a in &mut all {
        a.make_ascii_lowercase();
    }
    all.sort();
    all.dedup();
    all
}

/// Test builds only (debug assertions on): a message containing the text of
/// `KVITTENS_TEST_ABORT_ON` aborts the process, one containing that of `KVITTENS_TEST_PANIC_ON`
/// panics, as a parser bug would — so that the end-to-end tests can show such a message is set
/// aside. Not compiled into release builds.
#[cfg(debug_assertions)]
fn test_fault(raw: &[u8]) {
    let has = |var: &str| {
        std::env::var(var)
            .is_ok_and(|m| !m.is_empty() && raw.windows(m.len()).any(|w| w == m.as_bytes()))
    };
    if has("KVITTENS_TEST_ABORT_ON") {
        std::process::abort();
    }
    if has("KVITTENS_TEST_PANIC_ON") {
        panic!("KVITTENS_TEST_PANIC_ON: a test's stand-in for a parser bug");
    }
}

/// Flags a case for a person when its message was read by its header only, and says why on
/// its timeline.
fn flag_header_only(c: &mut Case, msg: &Inbound, at: DateTime<Utc>) {
    if let Some(why) = &msg.header_only {
        let what = format!("only the header of a message could be read ({why})");
        c.log(at, format!("{what}; flagged for a person"));
        c.flagged = Some(what);
    }
}

fn sender(msg: &Inbound) -> String {
    msg.from
        .as_ref()
        .map_or_else(|| "an unknown sender".to_string(), |p| p.email.clone())
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
