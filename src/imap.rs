//! The mailbox adapter: one task per department mailbox, watching for new mail with IDLE (or
//! polling where the server has none) and handing each message to the engine. It only reads:
//! the mailbox is EXAMINEd and bodies are fetched with BODY.PEEK, so nothing is marked \Seen —
//! people read these mailboxes too.

use crate::config::{Department, Secret, Security, Server};
use crate::engine::{Engine, Incoming, Outcome};
use crate::metrics::{Dept, Ignored};
use crate::store::{Cursor, MessageKey, StoreError};
use async_imap::types::Fetch;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};

/// Anything an IMAP session can run over: plain TCP or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Debug> Io for T {}

/// A logged-in IMAP session.
pub type Session = async_imap::Session<Box<dyn Io>>;

/// Messages larger than this are fetched by their header only: the decision needs no more, and
/// a 50 MB attachment must not be loaded for a receipt.
const FULL_FETCH_LIMIT: u32 = 20 * 1024 * 1024;

/// How many messages one FETCH asks for.
const BATCH: usize = 50;

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The server or the network.
    #[error("{0}")]
    Imap(String),
    /// The store: no new work is taken until it works again.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<async_imap::error::Error> for WatchError {
    fn from(e: async_imap::error::Error) -> Self {
        WatchError::Imap(e.to_string())
    }
}

impl From<std::io::Error> for WatchError {
    fn from(e: std::io::Error) -> Self {
        WatchError::Imap(e.to_string())
    }
}

/// Connects and logs in. Plain connections are for configured test setups only.
pub async fn connect(
    server: &Server,
    login: &str,
    password: &Secret,
) -> Result<Session, WatchError> {
    // Read at each login, not at start: see `Secret`.
    let password = password
        .read()
        .map_err(|e| WatchError::Imap(e.to_string()))?;
    let addr = (server.host.as_str(), server.port);
    let tcp = tokio::time::timeout(Duration::from_secs(30), TcpStream::connect(addr))
        .await
        .map_err(|_| {
            WatchError::Imap(format!(
                "connecting to {}:{} timed out",
                server.host, server.port
            ))
        })?
        .map_err(|e| {
            WatchError::Imap(format!(
                "cannot connect to {}:{}: {e}",
                server.host, server.port
            ))
        })?;
    let stream: Box<dyn Io> = match server.security {
        Security::None => Box::new(tcp),
        Security::Tls => {
            Box::new(crate::tls::connect(tcp, &server.host, server.ca_file.as_deref()).await?)
        }
        Security::StartTls => {
            let mut client = async_imap::Client::new(tcp);
            greeting(&mut client).await?;
            client.run_command_and_check_ok("STARTTLS", None).await?;
            let tcp = client.into_inner();
            Box::new(crate::tls::connect(tcp, &server.host, server.ca_file.as_deref()).await?)
        }
    };
    let mut client = async_imap::Client::new(stream);
    if server.security != Security::StartTls {
        greeting(&mut client).await?;
    }
    client
        .login(login, &password)
        .await
        .map_err(|(e, _)| WatchError::Imap(format!("login as {login} failed: {e}")))
}

async fn greeting<T: AsyncRead + AsyncWrite + Unpin + Send + Debug>(
    client: &mut async_imap::Client<T>,
) -> Result<(), WatchError> {
    match client.read_response().await {
        Some(Ok(_)) => Ok(()),
        Some(Err(e)) => Err(e.into()),
        None => Err(WatchError::Imap(
            "the server closed the connection before its greeting".into(),
        )),
    }
}

/// The department's Sent folder: the configured one, else the one marked `\Sent`
/// (RFC 6154 SPECIAL-USE), else a folder called "Sent".
async fn sent_folder(s: &mut Session, dept: &Department) -> Result<Option<String>, WatchError> {
    if let Some(f) = &dept.sent_folder {
        return Ok(Some(f.clone()));
    }
    let names: Vec<_> = s.list(None, Some("*")).await?.try_collect().await?;
    let special = names.iter().find(|n| {
        n.attributes()
            .iter()
            .any(|a| matches!(a, async_imap::types::NameAttribute::Sent))
    });
    let plain = names.iter().find(|n| n.name().eq_ignore_ascii_case("sent"));
    Ok(special.or(plain).map(|n| n.name().to_string()))
}

/// Shared state of the watchers, for logging state changes once.
#[derive(Debug, Clone)]
pub struct Watcher {
    /// The engine messages go to.
    pub engine: Engine,
    /// Woken when new mail waits in the outbox.
    pub outbox: Arc<Notify>,
    /// Woken when a case changed, so its schedule entries are considered.
    pub schedule: Arc<Notify>,
    /// Flips to true when the daemon stops.
    pub shutdown: watch::Receiver<bool>,
    /// Watch the department's Sent folder (for answers) instead of its inbox.
    pub sent: bool,
}

/// Why there is no Sent folder to watch (logged once; the inbox is watched regardless).
const NO_SENT_FOLDER: &str = "no Sent folder";

impl Watcher {
    /// Watches `dept`'s mailbox until shutdown, reconnecting with capped, jittered exponential
    /// backoff. Logs one line per change of state, not one per retry.
    pub async fn run(mut self, dept: Department) {
        let mut delay = Duration::from_secs(1);
        let mut last_error: Option<String> = None;
        loop {
            let mut connected = false;
            let result = self.session(&dept, &mut connected, &mut last_error).await;
            if matches!(&result, Err(WatchError::Imap(e)) if e == NO_SENT_FOLDER) {
                tracing::warn!(department = %dept.id, mailbox = %dept.email, "no Sent folder found (no \\Sent SPECIAL-USE, no \"Sent\"); answers sent from the department mailbox are not seen. Set mailbox.sent_folder to name it.");
                return;
            }
            if *self.shutdown.borrow() {
                tracing::info!(department = %dept.id, "mailbox watcher stopped");
                return;
            }
            if connected {
                delay = Duration::from_secs(1);
            }
            self.engine.metrics.folder_state(&dept.id, self.sent, false);
            self.engine
                .metrics
                .imap_errors
                .get_or_create(&Dept {
                    department: dept.id.clone(),
                })
                .inc();
            let text = match &result {
                Ok(()) => "the session ended".to_string(),
                Err(e) => e.to_string(),
            };
            if last_error.as_deref() != Some(text.as_str()) {
                match &result {
                    Err(WatchError::Store(e)) => {
                        tracing::error!(department = %dept.id, error = %e, "store failed; taking no new mail");
                        self.engine.fail_store(e);
                    }
                    _ => {
                        tracing::warn!(department = %dept.id, mailbox = %dept.email, folder = %(if self.sent { "sent" } else { "inbox" }), error = %text, "mailbox unavailable; retrying with backoff")
                    }
                }
                last_error = Some(text);
            } else {
                tracing::debug!(department = %dept.id, error = %text, "retry failed");
            }
            let jitter = 0.75 + rand::random::<f64>() * 0.5;
            let wait = delay.mul_f64(jitter);
            delay = (delay * 2).min(Duration::from_secs(60));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.shutdown.changed() => {}
            }
        }
    }

    /// The name of what this watcher reads, for its cursor and "handled" marks: the department
    /// id for the inbox, `<id>/sent` for the Sent folder.
    fn place(&self, dept: &Department) -> String {
        if self.sent {
            format!("{}/sent", dept.id)
        } else {
            dept.id.clone()
        }
    }

    async fn session(
        &mut self,
        dept: &Department,
        connected: &mut bool,
        last_error: &mut Option<String>,
    ) -> Result<(), WatchError> {
        let mut s = connect(&dept.imap, &dept.login, &dept.password).await?;
        let folder = if self.sent {
            match sent_folder(&mut s, dept).await? {
                Some(f) => f,
                None => return Err(WatchError::Imap(NO_SENT_FOLDER.into())),
            }
        } else {
            dept.folder.clone()
        };
        let mailbox = s.examine(&folder).await?;
        let validity = mailbox.uid_validity.unwrap_or(0);
        let can_idle = s.capabilities().await?.has_str("IDLE");
        *connected = true;
        self.engine.metrics.folder_state(&dept.id, self.sent, true);
        if last_error.is_none() {
            let what = if self.sent {
                "watching sent folder"
            } else {
                "watching mailbox"
            };
            tracing::info!(department = %dept.id, mailbox = %dept.email, folder = %folder, idle = can_idle, "{what}");
        }
        let store = self.engine.store.clone();
        let place = self.place(dept);
        let mut cursor = match store.cursor(&place)? {
            Some(c) if c.uid_validity == validity => c,
            previous => {
                if previous.is_some() {
                    tracing::warn!(department = %dept.id, "UIDVALIDITY changed; reading the mailbox anew (Message-IDs keep receipts from repeating)");
                }
                let c = self
                    .first_cursor(&mut s, validity, mailbox.uid_next)
                    .await?;
                store.set_cursor(&place, c)?;
                c
            }
        };
        loop {
            let started = Utc::now();
            cursor = self.fetch_new(&mut s, dept, cursor).await?;
            if last_error.take().is_some() {
                tracing::info!(department = %dept.id, mailbox = %dept.email, "mailbox working again");
            }
            if *self.shutdown.borrow() {
                let _ = s.logout().await;
                return Ok(());
            }
            let wait = if self.sent {
                None
            } else {
                self.release_unconfirmed(dept, started)?
            };
            s = if can_idle {
                let renew = self.engine.cfg().idle_renew;
                self.idle(s, wait.map_or(renew, |w| w.min(renew))).await?
            } else {
                let poll = self.engine.cfg().poll_interval;
                tokio::select! {
                    _ = tokio::time::sleep(wait.map_or(poll, |w| w.min(poll))) => {}
                    _ = self.shutdown.changed() => {}
                }
                s.noop().await?;
                s
            };
        }
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
        let store = &self.engine.store;
        let wait = self.engine.cfg().unconfirmed_wait;
        let patience = chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
        let released = store.release_unconfirmed(&dept.email, read_from - patience, Utc::now())?;
        for mail in &released {
            tracing::warn!(department = %dept.id, case = %mail.case, kind = mail.kind.word(), to = %mail.to.join(","), "this mail was being sent when kvittens stopped and no copy of it arrived; sending it again");
        }
        if !released.is_empty() {
            self.outbox.notify_one();
        }
        Ok(store.unconfirmed_since(&dept.email)?.map(|since| {
            let due = since + patience - Utc::now();
            // A second more, so the mailbox is read through after the moment has passed.
            due.to_std().unwrap_or_default() + Duration::from_secs(1)
        }))
    }

    /// Where to start on a mailbox kvittens has not read before: mail from the last `backfill`
    /// is acknowledged, older mail is left alone, so an old mailbox does not send 5 000 receipts.
    async fn first_cursor(
        &self,
        s: &mut Session,
        validity: u32,
        uid_next: Option<u32>,
    ) -> Result<Cursor, WatchError> {
        let backfill = self.engine.cfg().backfill;
        let all: Vec<Fetch> = s
            .uid_fetch("1:*", "(UID INTERNALDATE)")
            .await?
            .try_collect()
            .await
            .unwrap_or_default();
        let newest = all.iter().filter_map(|f| f.uid).max().unwrap_or(0);
        let mut last = uid_next
            .map(|n| n.saturating_sub(1))
            .unwrap_or(newest)
            .max(newest);
        if !backfill.is_zero() {
            let since = Utc::now() - chrono::Duration::from_std(backfill).unwrap_or_default();
            if let Some(first) = all
                .iter()
                .filter(|f| {
                    f.internal_date()
                        .is_some_and(|d| d.with_timezone(&Utc) >= since)
                })
                .filter_map(|f| f.uid)
                .min()
            {
                last = first - 1;
            }
        }
        Ok(Cursor {
            uid_validity: validity,
            last_uid: last,
        })
    }

    /// Fetches and handles every message above the cursor; returns the new cursor.
    async fn fetch_new(
        &self,
        s: &mut Session,
        dept: &Department,
        mut cursor: Cursor,
    ) -> Result<Cursor, WatchError> {
        let listing: Vec<Fetch> = s
            .uid_fetch(format!("{}:*", cursor.last_uid + 1), "(UID RFC822.SIZE)")
            .await?
            .try_collect()
            .await?;
        // "n:*" always returns the newest message, even below n.
        let mut todo: Vec<(u32, u32)> = listing
            .iter()
            .filter_map(|f| Some((f.uid?, f.size.unwrap_or(0))))
            .filter(|(uid, _)| *uid > cursor.last_uid)
            .collect();
        todo.sort_unstable();
        for batch in todo.chunks(BATCH) {
            let (small, large): (Vec<_>, Vec<_>) = batch
                .iter()
                .partition(|(_, size)| *size <= FULL_FETCH_LIMIT);
            let mut fetched: Vec<Fetch> = Vec::new();
            for (set, items) in [
                (&small, "(UID INTERNALDATE BODY.PEEK[])"),
                (&large, "(UID INTERNALDATE BODY.PEEK[HEADER])"),
            ] {
                if set.is_empty() {
                    continue;
                }
                let uids: Vec<String> = set.iter().map(|(u, _)| u.to_string()).collect();
                let mut got: Vec<Fetch> = s
                    .uid_fetch(uids.join(","), items)
                    .await?
                    .try_collect()
                    .await?;
                fetched.append(&mut got);
            }
            fetched.sort_by_key(|f| f.uid);
            for f in &fetched {
                let Some(uid) = f.uid else { continue };
                if uid <= cursor.last_uid {
                    continue;
                }
                let raw = f.body().or_else(|| f.header()).unwrap_or_default().to_vec();
                let received = f
                    .internal_date()
                    .map(|d| d.with_timezone(&Utc))
                    .unwrap_or_else(Utc::now);
                self.handle(dept, cursor.uid_validity, uid, received, raw)
                    .await?;
                cursor.last_uid = uid;
            }
            self.engine.store.set_cursor(&self.place(dept), cursor)?;
        }
        Ok(cursor)
    }

    async fn handle(
        &self,
        dept: &Department,
        validity: u32,
        uid: u32,
        received: DateTime<Utc>,
        raw: Vec<u8>,
    ) -> Result<(), WatchError> {
        let engine = self.engine.clone();
        // Officers and absences as in the config in force (SIGHUP reloads it).
        let d = engine
            .cfg()
            .department(&dept.id)
            .cloned()
            .unwrap_or_else(|| dept.clone());
        let label = Dept {
            department: dept.id.clone(),
        };
        if !self.sent {
            engine.metrics.messages_seen.get_or_create(&label).inc();
        }
        let key = MessageKey {
            department: self.place(dept),
            uid_validity: validity,
            uid,
        };
        // The store writes to disk: keep that off the async threads.
        let task_key = key.clone();
        let sent_folder = self.sent;
        let outcome = match tokio::task::spawn_blocking(move || {
            engine.handle(
                &d,
                &Incoming {
                    key: task_key,
                    received,
                    raw: &raw,
                    sent_folder,
                },
            )
        })
        .await
        {
            Ok(result) => result?,
            Err(e) => {
                // A bug met by one message must not stop the mailbox: record it and go on,
                // leaving the message in the mailbox for a person.
                tracing::error!(department = %dept.id, uid, error = %e, "kvittens failed on this message; it is left for a person");
                let note = format!("kvittens failed on this message: {e}");
                self.engine.store.mark_handled(&key, &note)?;
                return Ok(());
            }
        };
        match outcome {
            Outcome::Opened(case) => {
                tracing::info!(department = %dept.id, uid, case = %case.number, category = case.category.key(), language = case.language.code(), officer = %case.officer.email, "new case; receipt queued");
                self.outbox.notify_one();
                self.schedule.notify_one();
                self.engine.metrics.cases_opened.get_or_create(&label).inc();
            }
            Outcome::Answered(case) => {
                tracing::info!(department = %dept.id, uid, case = %case, "staff answered the case")
            }
            Outcome::Attached(case) => {
                tracing::info!(department = %dept.id, uid, case = %case, "follow-up attached to case; no receipt");
                self.schedule.notify_one();
                // It may have queued mail (the officer told of a bounced receipt).
                self.outbox.notify_one();
            }
            Outcome::Ignored(reason) => {
                let ignored = Ignored {
                    department: dept.id.clone(),
                    reason: reason.code.to_string(),
                };
                self.engine.metrics.ignored.get_or_create(&ignored).inc();
                tracing::info!(department = %dept.id, uid, reason = %reason, "no receipt")
            }
            Outcome::Copy(Some(case)) => {
                tracing::info!(department = %dept.id, uid, case = %case, "a mail whose sending was interrupted arrived in the department mailbox: recorded as sent");
            }
            Outcome::Copy(None) => {
                tracing::debug!(department = %dept.id, uid, "copy of a mail kvittens sent")
            }
            Outcome::AlreadyHandled => {
                tracing::debug!(department = %dept.id, uid, "handled before")
            }
        }
        Ok(())
    }

    /// Waits in IDLE until the server reports something, `renew` passes
    /// (async-imap's timeout is reset by server keepalives, so it alone could wait forever), or
    /// the daemon stops.
    async fn idle(&mut self, s: Session, renew: Duration) -> Result<Session, WatchError> {
        let mut handle = s.idle();
        handle.init().await?;
        {
            let (wait, _stop) = handle.wait_with_timeout(renew);
            tokio::select! {
                r = tokio::time::timeout(renew, wait) => {
                    if let Ok(Err(e)) = r {
                        return Err(e.into());
                    }
                }
                _ = self.shutdown.changed() => {}
            }
        }
        Ok(handle.done().await?)
    }
}
