//! The outbox task: sends what the store's outbox holds over SMTP. A mail leaves the outbox
//! only after the server accepted it (or refused it for good), so nothing is lost when the
//! server is down; it is marked in flight on disk before its final dot, so a crash in the
//! middle is resolved by evidence (its copy in the department mailbox) rather than by sending
//! it again on a guess.

use crate::app::engine::StoreFailure;
use crate::app::lease::Held;
use crate::app::metrics::{MailKind, Metrics};
use crate::app::outbox::Outbox;
use crate::mail::outgoing::Outgoing;
use crate::net::backoff::Backoff;
use crate::net::diagnose::{Problem, CHECK_TIMEOUT, LOGIN_BACKOFF};
use crate::net::smtp::{Handed, Submission, Transaction, Transport};
use crate::rules::budget::{Budget, Spent};
use chrono::Utc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How many SMTP transactions run at once; the pool keeps their connections open.
const CONCURRENCY: usize = 4;

/// What became of one mail.
enum Sent {
    Accepted,
    Refused,
    Unavailable(Problem),
    NotRecorded,
    Skipped,
    /// Not sent: the account's send limit would be passed; the outbox waits this long.
    OverBudget(Duration),
}

/// What one pass over the outbox left to do.
struct Pass {
    /// The server was unavailable or the store failed: back off.
    retry: bool,
    /// The send limit was reached: wait this long, then start again from the top (receipts
    /// first), with this many mails still queued.
    over_budget: Option<(Duration, usize)>,
}

/// The outbox task, over the real SMTP server ([`Transport`]) or an in-memory fake.
pub struct Sender<T = Transport> {
    /// The outbox, through `app`: what waits, and what became of each mail.
    pub outbox: Outbox,
    /// The SMTP pool.
    pub transport: T,
    /// Woken when the watchers queue mail.
    pub wake: Arc<Notify>,
    /// Cancelled when the daemon stops.
    pub shutdown: CancellationToken,
    /// What the daemon counts.
    pub metrics: Arc<Metrics>,
    /// Told when the store fails.
    pub store_failed: Arc<StoreFailure>,
    /// Notified on a config reload: a login refused by the server is tried again at once.
    pub reloaded: Arc<Notify>,
    /// The sending account's limits and what it spent (see `crate::rules::budget`).
    pub budget: std::sync::Mutex<Budget>,
}

impl<T: Submission> Sender<T> {
    /// Sends what waits in the outbox, then waits for more, until shutdown. A mail in flight when
    /// the daemon stops is finished first. When the server is down, retries with capped,
    /// jittered backoff, logging one line when it goes and one when it comes back.
    pub async fn run(self) {
        let durable = GroupFlush {
            outbox: self.outbox.clone(),
            written: AtomicU64::new(0),
            flushed: tokio::sync::Mutex::new(0),
        };
        let mut backoff = Backoff::new();
        let mut down: Option<Problem> = self.probe().await;
        let mut limited = false;
        let mut lease = self.outbox.lease();
        let mut leased = false;
        loop {
            if !leased || !lease.now() {
                if !self.until_leased(&mut lease, leased).await {
                    tracing::info!("sender stopped");
                    return;
                }
                leased = true;
            }
            let pass = match self.outbox.pending() {
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the outbox");
                    self.store_failed.report(e.to_string());
                    Pass {
                        retry: true,
                        over_budget: None,
                    }
                }
                Ok(pending) => self.send_all(pending, &durable, &mut down, &lease).await,
            };
            if self.shutdown.is_cancelled() {
                tracing::info!("sender stopped");
                return;
            }
            self.show_budget(pass.over_budget, &mut limited);
            if let (false, Some((wait, _))) = (pass.retry, pass.over_budget) {
                // Not a fault: no backoff, and the outbox is read again from the top so that a
                // receipt queued meanwhile goes before the rest.
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = self.shutdown.cancelled() => {}
                }
            } else if pass.retry {
                let wait = backoff.after(down.as_ref());
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = self.shutdown.cancelled() => {}
                    _ = self.reloaded.notified() => {}
                }
            } else {
                backoff.reset();
                tokio::select! {
                    _ = self.wake.notified() => {}
                    // Catch anything queued by another process (e.g. a CLI command) now and then.
                    _ = tokio::time::sleep(Duration::from_secs(30)) => {}
                    _ = self.shutdown.cancelled() => {}
                    _ = lease.until_lost() => {}
                }
            }
        }
    }

    /// Sends `pending`, [`CONCURRENCY`] at a time over the pool, each within the account's
    /// budget: at the first mail over it the pass ends, and the rest waits. Once the sender's
    /// `lease` is lost no further mail starts (one already handed over is finished).
    async fn send_all(
        &self,
        pending: Vec<Outgoing>,
        durable: &GroupFlush,
        down: &mut Option<Problem>,
        lease: &Held,
    ) -> Pass {
        use futures::StreamExt;
        let stop = AtomicBool::new(false);
        let queued = pending.len();
        let outcomes: Vec<Sent> = futures::stream::iter(pending)
            .map(|mail| {
                let stop = &stop;
                async move {
                    if self.shutdown.is_cancelled() || stop.load(Ordering::Relaxed) || !lease.now()
                    {
                        return Sent::Skipped;
                    }
                    let spent = match self.spend(&mail) {
                        Ok(spent) => spent,
                        Err(wait) => {
                            stop.store(true, Ordering::Relaxed);
                            return Sent::OverBudget(wait);
                        }
                    };
                    let sent = self.send_one(mail, durable, stop).await;
                    self.settle(spent, &sent);
                    sent
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let mut retry = false;
        let mut over_budget: Option<Duration> = None;
        let mut done = 0;
        for outcome in outcomes {
            if matches!(outcome, Sent::Accepted | Sent::Refused) {
                done += 1;
            }
            match outcome {
                Sent::OverBudget(wait) => {
                    over_budget = Some(over_budget.map_or(wait, |w| w.min(wait)));
                }
                Sent::Accepted => {
                    if down.take().is_some() {
                        self.metrics.smtp_state(None);
                        tracing::info!("SMTP server reachable again; sending the queued mail");
                    }
                }
                Sent::Unavailable(why) => {
                    self.metrics.smtp_errors.inc();
                    self.metrics.smtp_state(Some(&why));
                    if down.as_ref() != Some(&why) {
                        smtp_down(&why);
                        *down = Some(why);
                    }
                    retry = true;
                }
                Sent::NotRecorded => retry = true,
                Sent::Refused | Sent::Skipped => {}
            }
        }
        Pass {
            retry,
            over_budget: over_budget.map(|w| (w, queued - done)),
        }
    }

    /// Takes `mail`'s share of the budget now, or says how long it must wait. Counted before
    /// the mail goes, so that the mails sent at once cannot pass the limit together.
    fn spend(&self, mail: &Outgoing) -> Result<Option<Spent>, Duration> {
        let Ok(mut budget) = self.budget.lock() else {
            return Ok(None);
        };
        if !budget.limits().any() {
            return Ok(None);
        }
        let recipients = mail.to.len() as u64 + u64::from(mail.copy);
        let now = Utc::now();
        match budget.wait(now, recipients) {
            wait if wait.is_zero() => Ok(Some(budget.spend(now, recipients))),
            wait => Err(wait),
        }
    }

    /// Keeps what a mail the server took (or refused for good) spent, in the store too, so a
    /// restart does not start a fresh day; gives back the share of a mail that did not go.
    fn settle(&self, spent: Option<Spent>, sent: &Sent) {
        let Some(spent) = spent else { return };
        if matches!(sent, Sent::Accepted | Sent::Refused) {
            if let Err(e) = self.outbox.record_spent(&spent) {
                tracing::warn!(error = %e, "could not record the send budget; a restart may count this mail again");
            }
        } else if let Ok(mut budget) = self.budget.lock() {
            budget.refund(spent);
        }
    }

    /// Sets the budget metrics, and logs once when the limit starts holding mail back and once
    /// when it stops.
    fn show_budget(&self, over: Option<(Duration, usize)>, limited: &mut bool) {
        let (wait, queued) = over.unwrap_or_default();
        self.metrics
            .send_budget_wait
            .set(wait.as_secs_f64().ceil() as i64);
        self.metrics.send_budget_queue.set(queued as i64);
        if let Ok(mut budget) = self.budget.lock() {
            let day = budget.day_total(Utc::now());
            self.metrics.send_budget_day.set(day as i64);
        }
        match (over.is_some(), *limited) {
            (true, false) => {
                let limits = self.budget.lock().map(|b| b.limits()).unwrap_or_default();
                tracing::info!(queued, wait_s = wait.as_secs(), max_per_minute = ?limits.per_minute, max_per_day = ?limits.per_day, "the SMTP account's send limit is reached; the outbox waits (receipts first), nothing is dropped");
            }
            (false, true) => tracing::info!("the send limit no longer holds mail back"),
            _ => {}
        }
        *limited = over.is_some();
    }

    /// Sends one mail: MAIL/RCPT/DATA, then (for mail with a copy) the in-flight mark on disk,
    /// then the message and its final dot, then the server's answer recorded.
    async fn send_one(&self, mail: Outgoing, durable: &GroupFlush, stop: &AtomicBool) -> Sent {
        let ready = match self.transport.begin(&mail).await {
            Ok(ready) => ready,
            Err(e) if e.permanent => return self.refused(&mail, &e.text),
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                return Sent::Unavailable(e.problem.unwrap_or(Problem::Other(e.text)));
            }
        };
        // Whether the copy really goes (the department mailbox may have refused it).
        let mail = Outgoing {
            copy: ready.copied(),
            ..mail
        };
        if mail.copy {
            let marked = match self.outbox.take_off_unflushed(&mail, Utc::now()) {
                Ok(()) => durable.after_write().await,
                Err(e) => Err(e.to_string()),
            };
            if let Err(e) = marked {
                // Dropping `ready` drops the connection before the dot: the mail did not go.
                drop(ready);
                tracing::error!(error = %e, case = %mail.about, "the store could not mark the mail in flight; it was held back and stays queued");
                self.store_failed.report(e);
                stop.store(true, Ordering::Relaxed);
                return Sent::NotRecorded;
            }
        }
        match ready.finish(&mail.bytes).await {
            Handed::Accepted => self.accepted(&mail),
            Handed::Refused {
                permanent: true,
                text,
            } => self.refused(&mail, &text),
            Handed::Refused { text, .. } => {
                if let Err(e) = self.outbox.ground(&mail, Utc::now(), &text) {
                    self.store_failed.report(e.to_string());
                    return Sent::NotRecorded;
                }
                stop.store(true, Ordering::Relaxed);
                Sent::Unavailable(Problem::Other(text))
            }
            Handed::Unknown(text) if mail.copy => {
                // The server may have it: its copy in the department mailbox will tell, and
                // until then (or until `unconfirmed_wait` passes) it is not sent again.
                tracing::warn!(case = %mail.about, kind = mail.kind.word(), error = %text, "the server did not confirm a mail it was given in full; waiting for its copy in the department mailbox");
                stop.store(true, Ordering::Relaxed);
                Sent::Unavailable(Problem::Other(text))
            }
            Handed::Unknown(text) => {
                // Mail without a copy has nothing to tell; the server most likely has it.
                tracing::warn!(case = %mail.about, kind = mail.kind.word(), error = %text, "the server did not confirm a mail it was given in full; taken as sent");
                match self.outbox.mark_sent(&mail, Utc::now(), None) {
                    Ok(()) => Sent::Accepted,
                    Err(e) => {
                        self.store_failed.report(e.to_string());
                        Sent::NotRecorded
                    }
                }
            }
        }
    }

    /// Tries the SMTP server at start (connect, TLS, EHLO, AUTH; no mail), so that a wrong
    /// port, TLS setting or password shows in the log and `/healthz` before the first receipt
    /// needs it. Returns the problem, if any.
    async fn probe(&self) -> Option<Problem> {
        let tried = tokio::time::timeout(CHECK_TIMEOUT, self.transport.probe()).await;
        let problem = match tried {
            Ok(Ok(())) => None,
            Ok(Err(p)) => Some(p),
            Err(_) => Some(self.transport.timeout_problem()),
        };
        self.metrics.smtp_state(
            problem
                .as_ref()
                .map(|p| p as &dyn crate::app::metrics::Trouble),
        );
        match &problem {
            None if self.transport.logs_in() => {
                tracing::info!("SMTP server ok (connected, logged in; no mail sent)")
            }
            None => tracing::info!("SMTP server ok (connected; no login configured, so the server must take mail from this host without one; no mail sent)"),
            Some(p) => {
                self.metrics.smtp_errors.inc();
                smtp_down(p);
            }
        }
        problem
    }

    fn kind(mail: &Outgoing) -> MailKind {
        MailKind {
            kind: mail.kind.word().replace(' ', "_"),
        }
    }

    /// Records an accepted mail. Not flushed: lost in a crash, a mail with a copy is still in
    /// flight on disk and resolved by its copy; one without is sent again.
    fn accepted(&self, mail: &Outgoing) -> Sent {
        if let Err(e) = self.outbox.mark_sent_unflushed(mail, Utc::now()) {
            tracing::error!(error = %e, case = %mail.about, "sent, but the store could not record it");
            self.store_failed.report(e.to_string());
            return Sent::NotRecorded;
        }
        self.metrics
            .mail_sent
            .get_or_create(&Self::kind(mail))
            .inc();
        self.metrics.smtp_up.set(1);
        if let Some(received) = mail.received {
            let waited = (Utc::now() - received).num_milliseconds().max(0) as f64 / 1000.0;
            self.metrics.receipt_latency.observe(waited);
        }
        tracing::info!(case = %mail.about, kind = mail.kind.word(), to = %mail.to.join(","), "sent");
        Sent::Accepted
    }

    /// Records a mail the server refused for good, as undeliverable on its case.
    fn refused(&self, mail: &Outgoing, why: &str) -> Sent {
        self.metrics
            .mail_refused
            .get_or_create(&Self::kind(mail))
            .inc();
        tracing::warn!(case = %mail.about, kind = mail.kind.word(), to = %mail.to.join(","), error = %why, "refused for good by the SMTP server; noted on the case");
        match self.outbox.mark_sent(mail, Utc::now(), Some(why)) {
            Ok(()) => Sent::Refused,
            Err(e) => {
                self.store_failed.report(e.to_string());
                Sent::NotRecorded
            }
        }
    }
}

/// Logs that the SMTP server does not take mail, once per change.
fn smtp_down(why: &Problem) {
    if why.is_refused_login() {
        tracing::error!(problem = why.kind(), error = %why, "SMTP login refused; mail stays queued; next try in {} min (not sooner: repeated failed logins lock the account), or at once on reload", LOGIN_BACKOFF.as_secs() / 60);
    } else {
        tracing::warn!(problem = why.kind(), error = %why, "SMTP server unavailable; mail stays queued, retrying with backoff");
    }
}

/// Group commit for the in-flight marks: of the mails handed over at once, one disk flush
/// covers every mark written before it began, instead of one flush per mail.
struct GroupFlush {
    outbox: Outbox,
    /// Marks written so far (a counter, bumped after each write).
    written: AtomicU64,
    /// Held while flushing; the count of marks known to be on disk.
    flushed: tokio::sync::Mutex<u64>,
}

impl GroupFlush {
    /// Returns once the mark the caller just wrote is on disk.
    async fn after_write(&self) -> Result<(), String> {
        let mine = self.written.fetch_add(1, Ordering::SeqCst) + 1;
        let mut flushed = self.flushed.lock().await;
        if *flushed >= mine {
            return Ok(());
        }
        // Every mark counted by now was written before this flush begins.
        let upto = self.written.load(Ordering::SeqCst);
        let outbox = self.outbox.clone();
        tokio::task::spawn_blocking(move || outbox.flush())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        *flushed = upto;
        Ok(())
    }
}
