//! The mailbox watcher's loop: log in, EXAMINE, read everything above the cursor, wait for
//! EXISTS (IDLE) or poll, and after a failure try again with the one backoff of
//! [`crate::net::backoff`]. Generic over the mailbox ([`Connect`]), so that the same loop runs
//! against the real servers and against the in-memory fake.

use super::mailbox::{Connect, Dated, Imap, Listed, Mailbox, MailboxSize};
use super::WatchError;
use crate::app::engine::Engine;
use crate::app::metrics::Dept;
use crate::config::Department;
use crate::net::backoff::Backoff;
use crate::net::diagnose::Problem;
use crate::net::oauth2::Auth;
use crate::store::Cursor;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Messages larger than this are fetched by their header only: the decision needs no more, and
/// a 50 MB attachment must not be loaded for a receipt.
const FULL_FETCH_LIMIT: u32 = 20 * 1024 * 1024;

/// How many messages one FETCH asks for.
const BATCH: usize = 50;

/// Shared state of the watchers, for logging state changes once.
#[derive(Debug, Clone)]
pub struct Watcher<C = Imap> {
    /// The engine messages go to.
    pub engine: Engine,
    /// How to reach the mailbox: [`Imap`], or an in-memory fake in tests.
    pub mailboxes: C,
    /// Woken when new mail waits in the outbox.
    pub outbox: Arc<Notify>,
    /// Woken when a case changed, so its schedule entries are considered.
    pub schedule: Arc<Notify>,
    /// Flips to true when the daemon stops.
    pub shutdown: CancellationToken,
    /// Watch the department's Sent folder (for answers) instead of its inbox.
    pub sent: bool,
    /// The cap on logins per second, shared by every watcher of the daemon.
    pub logins: super::LoginGate,
}

/// Whether a session ended only because its token runs out, so that it is replaced at once:
/// a planned renewal, a server's `AccessTokenExpired`, or a connection lost when the token had
/// run out (`token_ran_out`; the BYE itself may not reach the error). A server that ends
/// sessions right after each login is not hammered: from the third time in a row the usual
/// backoff applies.
pub(super) fn relogin(
    result: &Result<(), WatchError>,
    token_ran_out: bool,
    expired_in_a_row: &mut u32,
) -> bool {
    match result {
        Err(WatchError::Relogin) => {
            *expired_in_a_row = 0;
            true
        }
        Err(WatchError::Store(_)) => {
            *expired_in_a_row = 0;
            false
        }
        Err(WatchError::Problem(p)) if p.is_refused_login() => {
            *expired_in_a_row = 0;
            false
        }
        Err(e) if matches!(e, WatchError::TokenExpired(_)) || token_ran_out => {
            *expired_in_a_row += 1;
            *expired_in_a_row <= 2
        }
        _ => {
            *expired_in_a_row = 0;
            false
        }
    }
}

impl<C: Connect> Watcher<C> {
    /// Watches `dept`'s mailbox until shutdown, reconnecting with capped, jittered exponential
    /// backoff — except after a refused login, which waits
    /// [`LOGIN_BACKOFF`](crate::net::diagnose::LOGIN_BACKOFF) (or a reload): retrying a wrong
    /// password every minute locks the account. Logs one line per change of state, not one per
    /// retry, in the plain words of [`Problem`].
    pub async fn run(mut self, dept: Department) {
        let mut backoff = Backoff::new();
        let mut last_error: Option<String> = None;
        let mut relogins = 0u32;
        let mut lease = self.engine.leases().held(&self.place(&dept));
        loop {
            if !self.until_leased(&dept, &mut lease).await {
                return;
            }
            if self.sent && !self.inbox_may_log_in(&dept).await {
                return;
            }
            // Every login, the first and each reconnect, waits its turn at the shared gate.
            tokio::select! {
                _ = self.logins.wait() => {}
                _ = self.shutdown.cancelled() => return,
            }
            // The password as now configured: a reload that fixes it is used at the next try.
            let current = self.current(&dept);
            let mut connected = false;
            let result = tokio::select! {
                r = self.session(&current, &mut connected, &mut last_error) => r,
                _ = lease.until_lost() => Err(WatchError::LeaseLost),
            };
            if matches!(result, Err(WatchError::LeaseLost)) {
                self.lease_lost(&dept);
                continue;
            }
            if matches!(&result, Err(WatchError::Problem(Problem::NoSentFolder))) {
                tracing::warn!(department = %dept.id, mailbox = %dept.email, "no Sent folder found (no \\Sent SPECIAL-USE, no \"Sent\"); answers sent from the department mailbox are not seen. Set mailbox.sent_folder to name it.");
                // Nothing to watch; the inbox is watched regardless.
                self.engine.metrics().folder_problem(&dept.id, true, None);
                return;
            }
            if self.shutdown.is_cancelled() {
                tracing::info!(department = %dept.id, folder = if self.sent { "sent" } else { "inbox" }, "mailbox watcher stopped");
                return;
            }
            let ran_out = matches!(&dept.auth, Auth::OAuth2(c) if !crate::net::oauth2::tokens().fresh(c, &dept.login));
            if relogin(&result, ran_out, &mut relogins) {
                tracing::debug!(department = %dept.id, "logging in again with a fresh OAuth2 token");
                continue;
            }
            if connected {
                backoff.reset();
            }
            let problem = match &result {
                Ok(()) => Problem::Other("the session ended".into()),
                Err(WatchError::Problem(p)) => p.clone(),
                Err(e) => Problem::Other(e.to_string()),
            };
            let wait = backoff.after(Some(&problem));
            self.tell_failure(&dept, &result, &problem, wait, &mut last_error);
            let reloaded = self.engine.reloaded.clone();
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.shutdown.cancelled() => {}
                _ = reloaded.notified() => {
                    tracing::info!(department = %dept.id, folder = %self.folder_word(), "config reloaded: trying the mailbox again now");
                }
            }
        }
    }

    /// "inbox" or "sent", for the log.
    pub(super) fn folder_word(&self) -> &'static str {
        if self.sent {
            "sent"
        } else {
            "inbox"
        }
    }

    /// Counts a failed session and logs it once per change (the next try `wait` away).
    fn tell_failure(
        &self,
        dept: &Department,
        result: &Result<(), WatchError>,
        problem: &Problem,
        wait: Duration,
        last_error: &mut Option<String>,
    ) {
        let metrics = self.engine.metrics();
        metrics.folder_problem(&dept.id, self.sent, Some(problem));
        let label = Dept {
            department: dept.id.clone(),
        };
        metrics.imap_errors.get_or_create(&label).inc();
        let folder = self.folder_word();
        let text = problem.to_string();
        // The inbox's watcher tells of a refused login; the Sent folder's would repeat it.
        let told = self.sent && problem.is_refused_login();
        if last_error.as_deref() != Some(text.as_str()) && !told {
            match result {
                Err(WatchError::Store(e)) => {
                    tracing::error!(department = %dept.id, error = %e, "store failed; taking no new mail");
                    self.engine.fail_store(e);
                }
                _ if problem.is_refused_login() => {
                    let next =
                        chrono::Local::now() + chrono::Duration::from_std(wait).unwrap_or_default();
                    tracing::error!(department = %dept.id, mailbox = %dept.email, folder = %folder, problem = problem.kind(), error = %text, next_try = %next.format("%H:%M:%S"), "mailbox login refused; next try in {} min (not sooner: repeated failed logins lock the account), or at once on reload", wait.as_secs() / 60);
                }
                _ => {
                    tracing::warn!(department = %dept.id, mailbox = %dept.email, folder = %folder, problem = problem.kind(), error = %text, "mailbox unavailable; retrying with backoff")
                }
            }
            *last_error = Some(text);
        } else if told {
            tracing::debug!(department = %dept.id, error = %text, "Sent folder: login refused (told for the inbox)");
        } else {
            tracing::debug!(department = %dept.id, error = %text, "retry failed");
        }
    }

    /// For the Sent folder's watcher, which logs in with the inbox's credentials: waits until
    /// the inbox's watcher has tried them, and while the server refuses them, so that a wrong
    /// password costs one failed login per try, not two (failed logins lock accounts). Returns
    /// false when the daemon stops meanwhile.
    async fn inbox_may_log_in(&mut self, dept: &Department) -> bool {
        let metrics = self.engine.metrics().clone();
        loop {
            let tried = metrics.folder_status(&dept.id, false).is_some();
            if tried && !metrics.login_refused(&dept.id, false) {
                return true;
            }
            let reloaded = self.engine.reloaded.clone();
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = reloaded.notified() => {}
                _ = self.shutdown.cancelled() => {}
            }
            if self.shutdown.is_cancelled() {
                return false;
            }
        }
    }

    /// `dept` with the credentials of the config now in force, when it still names the same
    /// mailbox on the same server (other changes need a restart).
    fn current(&self, dept: &Department) -> Department {
        match self.engine.cfg().department(&dept.id) {
            Some(d) if d.email == dept.email && d.imap == dept.imap => Department {
                login: d.login.clone(),
                password: d.password.clone(),
                ..dept.clone()
            },
            _ => dept.clone(),
        }
    }

    /// The name of what this watcher reads, for its cursor and "handled" marks: the department
    /// id for the inbox, `<id>/sent` for the Sent folder.
    pub(super) fn place(&self, dept: &Department) -> String {
        crate::app::lease::folder(&dept.id, self.sent)
    }

    /// One session: log in, open the folder, then read and wait until it fails or the daemon
    /// stops (`Ok`).
    async fn session(
        &mut self,
        dept: &Department,
        connected: &mut bool,
        last_error: &mut Option<String>,
    ) -> Result<(), WatchError> {
        let (mut s, use_until) = self.mailboxes.connect(dept).await?;
        let (cursor, can_idle) = self.open_folder(&mut s, dept, last_error).await?;
        *connected = true;
        self.watch(s, dept, cursor, can_idle, use_until, last_error)
            .await
    }

    /// Finds and EXAMINEs the folder, and returns the cursor to read on from (a new one when
    /// the mailbox is new or its UIDVALIDITY changed) and whether the server has IDLE.
    async fn open_folder(
        &self,
        s: &mut C::Mailbox,
        dept: &Department,
        last_error: &Option<String>,
    ) -> Result<(Cursor, bool), WatchError> {
        let folder = if !self.sent {
            dept.folder.clone()
        } else if let Some(f) = &dept.sent_folder {
            f.clone()
        } else {
            s.find_sent().await?.ok_or(Problem::NoSentFolder)?
        };
        let examined = s.examine(&folder).await?;
        let validity = examined.uid_validity;
        let can_idle = s.can_idle().await?;
        self.engine
            .metrics()
            .folder_problem(&dept.id, self.sent, None);
        if last_error.is_none() {
            let what = if self.sent {
                "watching sent folder"
            } else {
                "watching mailbox"
            };
            tracing::info!(department = %dept.id, mailbox = %dept.email, folder = %folder, idle = can_idle, "{what}");
        }
        let place = self.place(dept);
        let cursor = match self.engine.cursor(&place)? {
            Some(c) if c.uid_validity == validity => c,
            previous => {
                if previous.is_some() {
                    tracing::warn!(department = %dept.id, "UIDVALIDITY changed; reading the mailbox anew (Message-IDs keep receipts from repeating)");
                }
                let c = self
                    .first_cursor(s, validity, examined.uid_next, &place)
                    .await?;
                self.engine.set_cursor(&place, c)?;
                c
            }
        };
        Ok((cursor, can_idle))
    }

    /// Reads what is new, then waits (IDLE or a poll), over and over.
    async fn watch(
        &mut self,
        mut s: C::Mailbox,
        dept: &Department,
        mut cursor: Cursor,
        can_idle: bool,
        use_until: Option<std::time::Instant>,
        last_error: &mut Option<String>,
    ) -> Result<(), WatchError> {
        loop {
            let started = Utc::now();
            let size;
            (cursor, size) = self.fetch_new(&mut s, dept, cursor).await?;
            if last_error.take().is_some() {
                tracing::info!(department = %dept.id, mailbox = %dept.email, "mailbox working again");
            }
            if self.shutdown.is_cancelled() {
                s.logout().await;
                return Ok(());
            }
            let wait = if self.sent {
                None
            } else {
                self.release_unconfirmed(dept, started)?
            };
            // A session logged in with a token is replaced before the token runs out.
            let wait = match use_until {
                None => wait,
                Some(until) => {
                    let left = until.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        s.logout().await;
                        return Err(WatchError::Relogin);
                    }
                    Some(wait.map_or(left, |w| w.min(left)))
                }
            };
            s = self.wait(s, can_idle, wait, size).await?;
        }
    }

    /// Waits for new mail: in IDLE until `idle_renew` (or `wait`, if sooner), else for
    /// `poll_interval` and a NOOP.
    async fn wait(
        &mut self,
        mut s: C::Mailbox,
        can_idle: bool,
        wait: Option<Duration>,
        size: MailboxSize,
    ) -> Result<C::Mailbox, WatchError> {
        if can_idle {
            let renew = self.engine.cfg().idle_renew;
            let reloaded = self.engine.reloaded.clone();
            let wait = wait.map_or(renew, |w| w.min(renew));
            return s.idle(wait, size, &self.shutdown, &reloaded).await;
        }
        let poll = self.engine.cfg().poll_interval;
        tokio::select! {
            _ = tokio::time::sleep(wait.map_or(poll, |w| w.min(poll))) => {}
            _ = self.shutdown.cancelled() => {}
            _ = self.engine.reloaded.notified() => {}
        }
        s.noop().await?;
        Ok(s)
    }

    /// Mail to residents whose sending a crash interrupted and whose copy has not arrived,
    /// although the mailbox was just read through from `read_from` on, more than
    /// `unconfirmed_wait` after the mail went into flight: the server never took it, so it goes
    /// again. Returns how long until the next such mail may be released, if any waits.
    fn release_unconfirmed(
        &self,
        dept: &Department,
        read_from: DateTime<Utc>,
    ) -> Result<Option<Duration>, WatchError> {
        let outbox = self.engine.outbox_handle();
        let wait = self.engine.cfg().unconfirmed_wait;
        let patience = chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
        let released = outbox.release_unconfirmed(&dept.email, read_from - patience, Utc::now())?;
        for mail in &released {
            tracing::warn!(department = %dept.id, case = %mail.about, kind = mail.kind.word(), to = %mail.to.join(","), "this mail was being sent when kvittens stopped and no copy of it arrived; sending it again");
        }
        if !released.is_empty() {
            self.outbox.notify_one();
        }
        Ok(outbox.unconfirmed_since(&dept.email)?.map(|since| {
            let due = since + patience - Utc::now();
            // A second more, so the mailbox is read through after the moment has passed.
            due.to_std().unwrap_or_default() + Duration::from_secs(1)
        }))
    }

    /// Where to start on a mailbox kvittens has not read before: mail from the last `backfill`
    /// is acknowledged, older mail is left alone, so an old mailbox does not send 5 000 receipts.
    /// Nor does a re-read of `place` reach back past its newest pruned "handled" mark
    /// ([`crate::app::engine::Engine::reread_since`]): older mail may have lost its mark.
    async fn first_cursor(
        &self,
        s: &mut C::Mailbox,
        validity: u32,
        uid_next: Option<u32>,
        place: &str,
    ) -> Result<Cursor, WatchError> {
        let backfill = self.engine.cfg().backfill;
        let all: Vec<Dated> = s.list_all().await?;
        // "New" begins at the UIDNEXT of the EXAMINE: a mail delivered a moment later is new
        // mail, also when this listing already shows it. Only a server that gives no UIDNEXT
        // leaves the newest message as the boundary.
        let newest = all.iter().map(|f| f.uid).max().unwrap_or(0);
        let mut last = uid_next.map_or(newest, |n| n.saturating_sub(1));
        if !backfill.is_zero() {
            let since = Utc::now() - chrono::Duration::from_std(backfill).unwrap_or_default();
            let since = self
                .engine
                .reread_since(place)?
                .map_or(since, |h| since.max(h));
            if let Some(first) = all
                .iter()
                .filter(|f| f.received.is_some_and(|d| d >= since))
                .map(|f| f.uid)
                .min()
            {
                last = last.min(first - 1);
            }
        }
        Ok(Cursor {
            uid_validity: validity,
            last_uid: last,
        })
    }

    /// Fetches and handles every message above the cursor, until the mailbox has announced no
    /// new mail since it was listed; returns the new cursor and the mailbox's size as known.
    ///
    /// A mail delivered after the listing is announced by an untagged EXISTS inside the response
    /// to whichever command comes next (RFC 3501 §5.2, §7.3.1), which async-imap puts on its
    /// unsolicited-response channel; the server does not announce it again in IDLE. So that
    /// channel is read after every command, and the mailbox listed again when it grew.
    async fn fetch_new(
        &self,
        s: &mut C::Mailbox,
        dept: &Department,
        mut cursor: Cursor,
    ) -> Result<(Cursor, MailboxSize), WatchError> {
        loop {
            // What the server said before this listing, the listing covers.
            s.forget_announced();
            let listing: Vec<Listed> = s.list_from(cursor.last_uid + 1).await?;
            // "n:*" always returns the newest message, even below n: its sequence number is
            // the mailbox's size at the listing.
            let mut size = MailboxSize::new(listing.iter().map(|f| f.seq).max());
            s.absorb_announced(&mut size);
            let mut todo: Vec<(u32, u32)> = listing
                .iter()
                .map(|f| (f.uid, f.size))
                .filter(|(uid, _)| *uid > cursor.last_uid)
                .collect();
            todo.sort_unstable();
            todo.dedup_by_key(|(uid, _)| *uid);
            for batch in todo.chunks(BATCH) {
                cursor = self.fetch_batch(s, dept, cursor, batch).await?;
                // Read regularly: the channel is bounded and drops what does not fit.
                s.absorb_announced(&mut size);
            }
            if !size.grew {
                return Ok((cursor, size));
            }
            tracing::debug!(department = %dept.id, "the mailbox grew while it was read; reading it again");
        }
    }

    /// Fetches one batch of `(uid, size)` and handles each message in UID order; returns the
    /// new cursor (also stored).
    async fn fetch_batch(
        &self,
        s: &mut C::Mailbox,
        dept: &Department,
        mut cursor: Cursor,
        batch: &[(u32, u32)],
    ) -> Result<Cursor, WatchError> {
        let (small, large): (Vec<_>, Vec<_>) = batch
            .iter()
            .partition(|(_, size)| *size <= FULL_FETCH_LIMIT);
        let mut fetched = Vec::new();
        for (set, header_only) in [(&small, false), (&large, true)] {
            if set.is_empty() {
                continue;
            }
            let uids: Vec<u32> = set.iter().map(|(u, _)| *u).collect();
            fetched.append(&mut s.fetch(&uids, header_only).await?);
        }
        fetched.sort_by_key(|f| f.uid);
        for f in fetched {
            let uid = f.uid;
            if uid <= cursor.last_uid || !batch.iter().any(|(u, _)| *u == uid) {
                continue;
            }
            let received = f.received.unwrap_or_else(Utc::now);
            self.handle(dept, cursor.uid_validity, uid, received, f.raw)
                .await?;
            cursor.last_uid = uid;
        }
        self.engine.set_cursor(&self.place(dept), cursor)?;
        Ok(cursor)
    }
}
