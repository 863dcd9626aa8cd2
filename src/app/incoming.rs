//! What happens to one incoming message: read it, decide (the pure rules in
//! `rules::decide`), and record the outcome — a new case with its mails, a follow-up, an
//! answer, a bounce, a copy of kvittens' own mail, or an ignore mark — in one store
//! transaction. The watcher feeds it; the sender empties the outbox.

use crate::app::edit::until_applied;
use crate::app::engine::{decide_with, new_case_from, Engine, Opening};
use crate::app::tally;
use crate::config::Department;
use crate::model::Inbound;
use crate::model::{Case, State};
use crate::model::{Category, Language};
use crate::rules::decide::{Decision, Reason};
use crate::rules::schedule;
use crate::store::{Effects, MessageKey, NewCase, Opened, StoreError};
use chrono::{DateTime, Datelike, Utc};

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

impl Engine {
    /// Decides what to do with `msg` for `dept`, looking up what the store knows of it.
    ///
    /// # Errors
    /// When the store fails.
    pub fn decide(
        &self,
        dept: &Department,
        msg: &Inbound,
        sent_folder: bool,
    ) -> Result<Decision, StoreError> {
        decide_with(&self.cfg(), dept, msg, Some(self.view()), sent_folder)
    }

    /// Handles one message: decides and records the outcome.
    ///
    /// # Errors
    /// When the store fails: then nothing of the message is recorded.
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
    ///
    /// # Errors
    /// When the store fails: then nothing of the message is recorded.
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
            Decision::Copy { id, .. } => Ok(Outcome::Copy(self.outbox_handle().confirm_copy(
                &incoming.key,
                &id,
                Utc::now(),
            )?)),
            Decision::Attach { case, reason } => {
                self.follow_up(dept, incoming, &msg, &case, &reason)?;
                Ok(Outcome::Attached(case))
            }
            Decision::Answer { case, by, reason } => {
                let at = incoming.received;
                let cfg = self.cfg();
                self.attach(incoming, &msg, &case, |c| {
                    c.log(at, format!("answered by {} ({})", by.email, reason.detail));
                    flag_header_only(c, &msg, at);
                    let mut effects = Effects::default();
                    if c.state == State::Open {
                        // The first answer is the one the report measures (app::tally).
                        if c.answered_at.is_none() {
                            let owner = cfg.department(&c.department).unwrap_or(dept);
                            effects.ticks.push(tally::answered(owner, c, at));
                        }
                        c.state = State::Answered;
                        c.answered_at = Some(at);
                    }
                    effects
                })?;
                Ok(Outcome::Answered(case))
            }
            Decision::Undeliverable { case, reason } => {
                self.bounced(dept, incoming, &msg, &case, &reason)?;
                Ok(Outcome::Attached(case))
            }
            Decision::Acknowledge {
                category,
                language,
                resident,
                withhold,
            } => self.acknowledge(
                dept,
                incoming,
                &msg,
                (category, language, &resident),
                withhold,
            ),
        }
    }

    /// [`Engine::attach_to`] for `incoming`.
    fn attach(
        &self,
        incoming: &Incoming<'_>,
        msg: &Inbound,
        case: &str,
        change: impl Fn(&mut Case) -> Effects,
    ) -> Result<bool, StoreError> {
        let id = msg.message_id.as_deref();
        self.attach_to(&incoming.key, id, case, change)
    }

    /// A resident's further message on `case`: on its timeline, and when the case was
    /// answered, it is open again with a new reply deadline and its reminders.
    fn follow_up(
        &self,
        dept: &Department,
        incoming: &Incoming<'_>,
        msg: &Inbound,
        case: &str,
        reason: &Reason,
    ) -> Result<bool, StoreError> {
        let at = incoming.received;
        let owner = self.store.case(case)?.map(|c| c.department);
        if let Some(other) = owner.filter(|d| *d != dept.id) {
            tracing::info!(department = %dept.id, case = %case, case_department = %other, reason = %reason, "a follow-up in this mailbox joins a case of another department");
        }
        let what = format!("further message from {} ({})", sender(msg), reason.detail);
        self.attach(incoming, msg, case, |c| {
            c.log(at, what.clone());
            flag_header_only(c, msg, at);
            // The resident writes again after an answer: they are waiting again, with a new
            // reply deadline and its reminders.
            let ticks = vec![tally::received(dept, at)];
            if c.state == State::Open {
                return Effects {
                    ticks,
                    ..Effects::default()
                };
            }
            c.state = State::Open;
            c.reply_due = dept
                .calendar
                .deadline(at, dept.reply_within_for(c.category));
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
                .filter(|d| d.kind != schedule::DueKind::SixMonths || !c.six_months_scheduled)
                .collect();
            Effects {
                dues,
                ticks,
                ..Effects::default()
            }
        })
    }

    /// A bounce of `case`'s receipt: the case is flagged and the officer told.
    fn bounced(
        &self,
        dept: &Department,
        incoming: &Incoming<'_>,
        msg: &Inbound,
        case: &str,
        reason: &Reason,
    ) -> Result<bool, StoreError> {
        let at = incoming.received;
        let (cfg, templates) = (self.cfg(), self.templates());
        self.attach(incoming, msg, case, |c| {
            let told = super::outbox::undelivered(&cfg, dept, &templates, c, &reason.detail, at);
            c.log(at, told.line.clone());
            c.flagged = Some(told.line);
            match told.notice {
                Ok(q) => Effects {
                    mails: vec![q],
                    ..Effects::default()
                },
                Err(e) => {
                    c.log(at, format!("the officer could not be told: {e}"));
                    Effects::default()
                }
            }
        })
    }

    /// A resident's new message: a case with its receipt (unless withheld) and notices.
    fn acknowledge(
        &self,
        dept: &Department,
        incoming: &Incoming<'_>,
        msg: &Inbound,
        (category, language, resident): (Category, Language, &crate::model::Person),
        withhold: Option<Reason>,
    ) -> Result<Outcome, StoreError> {
        let today = dept.calendar.local_date(incoming.received);
        let counter = (dept.case_prefix.as_str(), today.year());
        let (cfg, templates) = (self.cfg(), self.templates());
        let away = self.store.absences()?;
        let checked = self.loop_check(resident, incoming.received)?;
        let withhold = withhold.or_else(|| checked.as_ref().and_then(|c| c.1.clone()));
        let sender_today = crate::store::sender_day(&resident.email, today);
        let opened = until_applied(|| {
            let counters = self.store.next_counters(&dept.id, counter, &sender_today)?;
            // Read on every try: the case opens only if its officer's burst is still so.
            let bursts = self.store.bursts(&dept.id)?;
            let who = (category, language, resident);
            let opening = Opening {
                withhold: withhold.as_ref(),
                bursts: Some(&bursts),
                ..Opening::default()
            };
            let (case, mut effects) = new_case_from(
                &cfg, &templates, dept, msg, incoming, counters, who, &away, opening,
            );
            effects.ticks.push(tally::received(dept, incoming.received));
            self.store.open_case(&NewCase {
                department: &dept.id,
                key: Some(&incoming.key),
                message_id: msg.message_id.as_deref(),
                counter,
                sender_today: &sender_today,
                counters,
                case: &case,
                effects: &effects,
            })
        })?;
        Ok(match opened {
            Opened::Created(case) => {
                self.loop_record(resident, checked, &case)?;
                Outcome::Opened(case)
            }
            Opened::AlreadyHandled => Outcome::AlreadyHandled,
        })
    }
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
pub(crate) fn flag_header_only(c: &mut Case, msg: &Inbound, at: DateTime<Utc>) {
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
