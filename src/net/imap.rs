//! The mailbox adapter: one task per department mailbox, watching for new mail with IDLE (or
//! polling where the server has none) and handing each message to the engine. It only reads:
//! the mailbox is EXAMINEd and bodies are fetched with BODY.PEEK, so nothing is marked \Seen —
//! people read these mailboxes too.

use crate::app::engine::{Engine, Incoming, Outcome};
use crate::config::{Department, Secret, Security, Server};
use crate::net::diagnose::{Problem, LOGIN_BACKOFF};
use crate::net::oauth2::Auth;
use crate::ops::metrics::{Dept, Ignored};
use crate::store::{Cursor, MessageKey, StoreError};
use async_imap::types::{Fetch, UnsolicitedResponse};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
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
    /// The server or the network, in the library's words (mid-session).
    #[error("{0}")]
    Imap(String),
    /// A classified problem: connecting, TLS, login, the folder.
    #[error("{0}")]
    Problem(Problem),
    /// The store: no new work is taken until it works again.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The session's OAuth2 token is about to run out (or ran out: `AccessTokenExpired`): log
    /// in again at once with a fresh one.
    #[error("the session's OAuth2 token runs out; logging in again")]
    Relogin,
}

impl WatchError {
    /// The classified problem, when there is one.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            WatchError::Problem(p) => Some(p),
            _ => None,
        }
    }
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

impl From<Problem> for WatchError {
    fn from(p: Problem) -> Self {
        WatchError::Problem(p)
    }
}

/// Connects and logs in. Plain connections are for configured test setups only. Errors are
/// classified ([`Problem`]); the library's own words go to the debug log.
pub async fn connect(
    server: &Server,
    login: &str,
    password: &Secret,
) -> Result<Session, WatchError> {
    let (host, port) = (server.host.as_str(), server.port);
    // Read at each login, not at start: see `Secret`.
    let password = password
        .read()
        .map_err(|e| WatchError::Problem(Problem::Other(e.to_string())))?;
    open(server)
        .await?
        .login(login, &password)
        .await
        .map_err(|(e, _)| {
            tracing::debug!(%host, port, user = %login, error = %e, "IMAP login failed");
            WatchError::Problem(Problem::imap_login(&e, host, port, login))
        })
}

/// Connects and logs in as `dept` says (`auth`): with its password, or with an OAuth2 token.
/// Returns the session and, for a token, until when the session may be kept (see
/// [`Token::use_until`]): an authenticated session cannot authenticate again, so it is replaced
/// by a fresh login before its token runs out.
pub async fn connect_dept(
    dept: &Department,
) -> Result<(Session, Option<std::time::Instant>), WatchError> {
    match &dept.auth {
        Auth::Password => Ok((
            connect(&dept.imap, &dept.login, &dept.password).await?,
            None,
        )),
        Auth::OAuth2(client) => {
            let token = crate::net::oauth2::tokens()
                .get(client, &dept.login)
                .await
                .map_err(|e| WatchError::Problem(Problem::from(&e)))?;
            let session = connect_oauth2(&dept.imap, &dept.login, &token.access)
                .await
                .inspect_err(|_| crate::net::oauth2::tokens().forget(client, &dept.login))?;
            Ok((session, Some(token.use_until())))
        }
    }
}

/// Connects and logs in with `AUTHENTICATE XOAUTH2`. A refusal names the server's status and
/// scope (from its JSON challenge), never the token.
pub async fn connect_oauth2(
    server: &Server,
    user: &str,
    token: &str,
) -> Result<Session, WatchError> {
    let client = open(server).await?;
    let refusal = Arc::new(std::sync::Mutex::new(None));
    let sasl = XOAuth2 {
        initial: Some(crate::net::oauth2::xoauth2(user, token)),
        refusal: refusal.clone(),
    };
    let (host, port) = (server.host.as_str(), server.port);
    client
        .authenticate("XOAUTH2", sasl)
        .await
        .map_err(|(e, _)| {
            let why = refusal
                .lock()
                .ok()
                .and_then(|mut r| r.take())
                .unwrap_or_else(|| "the server refused the token".to_string());
            tracing::debug!(%host, port, error = %e, "IMAP AUTHENTICATE XOAUTH2 failed");
            match Problem::imap_login(&e, host, port, user) {
                // The server's status and scope help an admin; the token never reaches them.
                Problem::LoginRefused { by, user } => WatchError::Problem(Problem::TokenRefused {
                    by,
                    user,
                    why: format!("{why}; {}", e.to_string().trim()),
                }),
                other => WatchError::Problem(other),
            }
        })
}

/// The client side of SASL XOAUTH2: the initial response, then, when the server refuses, an
/// empty response to its JSON challenge (which is kept for the error message).
struct XOAuth2 {
    initial: Option<String>,
    refusal: Arc<std::sync::Mutex<Option<String>>>,
}

impl async_imap::Authenticator for XOAuth2 {
    type Response = String;
    fn process(&mut self, challenge: &[u8]) -> String {
        match self.initial.take() {
            Some(first) => first,
            None => {
                if let Ok(mut r) = self.refusal.lock() {
                    *r = Some(crate::net::oauth2::describe_challenge(challenge));
                }
                String::new()
            }
        }
    }
}

/// Exchange Online ends a session whose token ran out with `BYE … AccessTokenExpired`: that is
/// a reason to log in again, not a fault of the server.
pub fn token_expired(error: &str) -> bool {
    error.contains("AccessTokenExpired")
}

/// Opens the connection (TCP, TLS or STARTTLS) and reads the greeting.
async fn open(server: &Server) -> Result<async_imap::Client<Box<dyn Io>>, WatchError> {
    let (host, port) = (server.host.as_str(), server.port);
    let tcp = crate::net::tls::tcp(host, port).await?;
    let tls = |e: std::io::Error| {
        tracing::debug!(%host, port, error = %e, "IMAP TLS failed");
        Problem::tls(&e, host, port)
    };
    let stream: Box<dyn Io> = match server.security {
        Security::None => Box::new(tcp),
        Security::Tls => Box::new(
            crate::net::tls::connect(tcp, host, server.ca_file.as_deref())
                .await
                .map_err(tls)?,
        ),
        Security::StartTls => {
            let mut client = async_imap::Client::new(tcp);
            greeting(&mut client, host, port).await?;
            client
                .run_command_and_check_ok("STARTTLS", None)
                .await
                .map_err(|e| match e {
                    async_imap::error::Error::No(_) | async_imap::error::Error::Bad(_) => {
                        tracing::debug!(%host, port, error = %e, "STARTTLS refused");
                        Problem::NoStartTls {
                            host: host.into(),
                            port,
                        }
                    }
                    other => Problem::imap(&other, host, port),
                })?;
            let tcp = client.into_inner();
            Box::new(
                crate::net::tls::connect(tcp, host, server.ca_file.as_deref())
                    .await
                    .map_err(tls)?,
            )
        }
    };
    let mut client = async_imap::Client::new(stream);
    if server.security != Security::StartTls {
        greeting(&mut client, host, port).await?;
    }
    Ok(client)
}

async fn greeting<T: AsyncRead + AsyncWrite + Unpin + Send + Debug>(
    client: &mut async_imap::Client<T>,
    host: &str,
    port: u16,
) -> Result<(), WatchError> {
    match client.read_response().await {
        Some(Ok(_)) => Ok(()),
        Some(Err(e)) => {
            tracing::debug!(%host, port, error = %e, "no IMAP greeting");
            Err(Problem::imap(&async_imap::error::Error::Io(e), host, port).into())
        }
        None => Err(Problem::Closed { host: host.into() }.into()),
    }
}

/// EXAMINEs `folder` (read-only, RFC 3501 §6.3.2); a NO is a missing folder.
pub async fn examine(
    s: &mut Session,
    folder: &str,
) -> Result<async_imap::types::Mailbox, WatchError> {
    s.examine(folder).await.map_err(|e| match e {
        async_imap::error::Error::No(text) if !text.contains("Unavailable") => {
            tracing::debug!(%folder, error = %text, "EXAMINE refused");
            WatchError::Problem(Problem::FolderMissing {
                name: folder.to_string(),
            })
        }
        other => other.into(),
    })
}

/// The department's Sent folder: the configured one, else the one marked `\Sent`
/// (RFC 6154 SPECIAL-USE), else a folder called "Sent".
pub async fn sent_folder(s: &mut Session, dept: &Department) -> Result<Option<String>, WatchError> {
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

/// Why a message is set aside after a restart: kvittens stopped while reading it.
const STOPPED_WHILE_READING: &str = "kvittens stopped while reading this message";

/// Whether a session ended only because its token runs out, so that it is replaced at once:
/// a planned renewal, a server's `AccessTokenExpired`, or a connection lost when the token had
/// run out (`token_ran_out`; the BYE itself may not reach the error). A server that ends
/// sessions right after each login is not hammered: from the third time in a row the usual
/// backoff applies.
fn relogin(
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
        Err(e) if token_expired(&e.to_string()) || token_ran_out => {
            *expired_in_a_row += 1;
            *expired_in_a_row <= 2
        }
        _ => {
            *expired_in_a_row = 0;
            false
        }
    }
}

impl Watcher {
    /// Watches `dept`'s mailbox until shutdown, reconnecting with capped, jittered exponential
    /// backoff — except after a refused login, which waits [`LOGIN_BACKOFF`] (or a reload):
    /// retrying a wrong password every minute locks the account. Logs one line per change of
    /// state, not one per retry, in the plain words of [`Problem`].
    pub async fn run(mut self, dept: Department) {
        let mut delay = Duration::from_secs(1);
        let mut last_error: Option<String> = None;
        let mut relogins = 0u32;
        let folder = if self.sent { "sent" } else { "inbox" };
        loop {
            if self.sent && !self.inbox_may_log_in(&dept).await {
                return;
            }
            // The password as now configured: a reload that fixes it is used at the next try.
            let current = self.current(&dept);
            let mut connected = false;
            let result = self
                .session(&current, &mut connected, &mut last_error)
                .await;
            if matches!(&result, Err(WatchError::Problem(Problem::NoSentFolder))) {
                tracing::warn!(department = %dept.id, mailbox = %dept.email, "no Sent folder found (no \\Sent SPECIAL-USE, no \"Sent\"); answers sent from the department mailbox are not seen. Set mailbox.sent_folder to name it.");
                // Nothing to watch; the inbox is watched regardless.
                self.engine.metrics().folder_problem(&dept.id, true, None);
                return;
            }
            if *self.shutdown.borrow() {
                tracing::info!(department = %dept.id, "mailbox watcher stopped");
                return;
            }
            let ran_out = matches!(&dept.auth, Auth::OAuth2(c) if !crate::net::oauth2::tokens().fresh(c, &dept.login));
            if relogin(&result, ran_out, &mut relogins) {
                tracing::debug!(department = %dept.id, "logging in again with a fresh OAuth2 token");
                continue;
            }
            if connected {
                delay = Duration::from_secs(1);
            }
            let problem = match &result {
                Ok(()) => Problem::Other("the session ended".into()),
                Err(WatchError::Problem(p)) => p.clone(),
                Err(e) => Problem::Other(e.to_string()),
            };
            self.engine
                .metrics()
                .folder_problem(&dept.id, self.sent, Some(&problem));
            self.engine
                .metrics()
                .imap_errors
                .get_or_create(&Dept {
                    department: dept.id.clone(),
                })
                .inc();
            let wait = if problem.is_refused_login() {
                LOGIN_BACKOFF
            } else {
                let wait = delay.mul_f64(0.75 + rand::random::<f64>() * 0.5);
                delay = (delay * 2).min(Duration::from_secs(60));
                wait
            };
            let text = problem.to_string();
            // The inbox's watcher tells of a refused login; the Sent folder's would repeat it.
            let told = self.sent && problem.is_refused_login();
            if last_error.as_deref() != Some(text.as_str()) && !told {
                match &result {
                    Err(WatchError::Store(e)) => {
                        tracing::error!(department = %dept.id, error = %e, "store failed; taking no new mail");
                        self.engine.fail_store(e);
                    }
                    _ if problem.is_refused_login() => {
                        let next = chrono::Local::now()
                            + chrono::Duration::from_std(wait).unwrap_or_default();
                        tracing::error!(department = %dept.id, mailbox = %dept.email, folder = %folder, problem = problem.kind(), error = %text, next_try = %next.format("%H:%M:%S"), "mailbox login refused; next try in {} min (not sooner: repeated failed logins lock the account), or at once on reload", wait.as_secs() / 60);
                    }
                    _ => {
                        tracing::warn!(department = %dept.id, mailbox = %dept.email, folder = %folder, problem = problem.kind(), error = %text, "mailbox unavailable; retrying with backoff")
                    }
                }
                last_error = Some(text);
            } else if told {
                tracing::debug!(department = %dept.id, error = %text, "Sent folder: login refused (told for the inbox)");
            } else {
                tracing::debug!(department = %dept.id, error = %text, "retry failed");
            }
            let reloaded = self.engine.reloaded.clone();
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.shutdown.changed() => {}
                _ = reloaded.notified() => {
                    tracing::info!(department = %dept.id, folder = %folder, "config reloaded: trying the mailbox again now");
                }
            }
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
                _ = self.shutdown.changed() => {}
            }
            if *self.shutdown.borrow() {
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
        let (mut s, use_until) = connect_dept(dept).await?;
        let folder = if self.sent {
            match sent_folder(&mut s, dept).await? {
                Some(f) => f,
                None => return Err(Problem::NoSentFolder.into()),
            }
        } else {
            dept.folder.clone()
        };
        let mailbox = examine(&mut s, &folder).await?;
        let validity = mailbox.uid_validity.unwrap_or(0);
        let can_idle = s.capabilities().await?.has_str("IDLE");
        *connected = true;
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
        let store = self.engine.clone();
        let place = self.place(dept);
        let mut cursor = match store.cursor(&place)? {
            Some(c) if c.uid_validity == validity => c,
            previous => {
                if previous.is_some() {
                    tracing::warn!(department = %dept.id, "UIDVALIDITY changed; reading the mailbox anew (Message-IDs keep receipts from repeating)");
                }
                let c = self
                    .first_cursor(&mut s, validity, mailbox.uid_next, &place)
                    .await?;
                store.set_cursor(&place, c)?;
                c
            }
        };
        loop {
            let started = Utc::now();
            let size;
            (cursor, size) = self.fetch_new(&mut s, dept, cursor).await?;
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
            // A session logged in with a token is replaced before the token runs out.
            let wait = match use_until {
                None => wait,
                Some(until) => {
                    let left = until.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        let _ = s.logout().await;
                        return Err(WatchError::Relogin);
                    }
                    Some(wait.map_or(left, |w| w.min(left)))
                }
            };
            s = if can_idle {
                let renew = self.engine.cfg().idle_renew;
                let reloaded = self.engine.reloaded.clone();
                let wait = wait.map_or(renew, |w| w.min(renew));
                idle(s, wait, size, &mut self.shutdown, &reloaded).await?
            } else {
                let poll = self.engine.cfg().poll_interval;
                tokio::select! {
                    _ = tokio::time::sleep(wait.map_or(poll, |w| w.min(poll))) => {}
                    _ = self.shutdown.changed() => {}
                    _ = self.engine.reloaded.notified() => {}
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
        let store = self.engine.outbox_handle();
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
        place: &str,
    ) -> Result<Cursor, WatchError> {
        let backfill = self.engine.cfg().backfill;
        let all: Vec<Fetch> = s
            .uid_fetch("1:*", "(UID INTERNALDATE)")
            .await?
            .try_collect()
            .await?;
        // "New" begins at the UIDNEXT of the EXAMINE: a mail delivered a moment later is new
        // mail, also when this listing already shows it. Only a server that gives no UIDNEXT
        // leaves the newest message as the boundary.
        let newest = all.iter().filter_map(|f| f.uid).max().unwrap_or(0);
        let mut last = uid_next.map_or(newest, |n| n.saturating_sub(1));
        if !backfill.is_zero() {
            let since = Utc::now() - chrono::Duration::from_std(backfill).unwrap_or_default();
            // Not past the newest "handled" mark pruned: older mail may have lost its mark.
            let since = self
                .engine
                .reread_since(place)?
                .map_or(since, |h| since.max(h));
            if let Some(first) = all
                .iter()
                .filter(|f| {
                    f.internal_date()
                        .is_some_and(|d| d.with_timezone(&Utc) >= since)
                })
                .filter_map(|f| f.uid)
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
        s: &mut Session,
        dept: &Department,
        mut cursor: Cursor,
    ) -> Result<(Cursor, MailboxSize), WatchError> {
        loop {
            // What the server said before this listing, the listing covers.
            while s.unsolicited_responses.try_recv().is_ok() {}
            let listing: Vec<Fetch> = s
                .uid_fetch(format!("{}:*", cursor.last_uid + 1), "(UID RFC822.SIZE)")
                .await?
                .try_collect()
                .await?;
            // "n:*" always returns the newest message, even below n: its sequence number is
            // the mailbox's size at the listing.
            let mut size = MailboxSize::new(listing.iter().map(|f| f.message).max());
            absorb_unsolicited(&mut size, s);
            let mut todo: Vec<(u32, u32)> = listing
                .iter()
                .filter_map(|f| Some((f.uid?, f.size.unwrap_or(0))))
                .filter(|(uid, _)| *uid > cursor.last_uid)
                .collect();
            todo.sort_unstable();
            todo.dedup_by_key(|(uid, _)| *uid);
            for batch in todo.chunks(BATCH) {
                cursor = self.fetch_batch(s, dept, cursor, batch).await?;
                // Read regularly: the channel is bounded and drops what does not fit.
                absorb_unsolicited(&mut size, s);
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
        s: &mut Session,
        dept: &Department,
        mut cursor: Cursor,
        batch: &[(u32, u32)],
    ) -> Result<Cursor, WatchError> {
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
        // An unsolicited FETCH (another client changed a message's flags) comes in the same
        // stream without the message's text: it is not the message, and must neither be
        // handled as an empty mail nor move the cursor past the real one.
        fetched.retain(|f| f.body().is_some() || f.header().is_some());
        fetched.sort_by_key(|f| f.uid);
        for f in &fetched {
            let Some(uid) = f.uid else { continue };
            if uid <= cursor.last_uid || !batch.iter().any(|(u, _)| *u == uid) {
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
        self.engine.set_cursor(&self.place(dept), cursor)?;
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
            engine.metrics().messages_seen.get_or_create(&label).inc();
        }
        let key = MessageKey {
            department: self.place(dept),
            uid_validity: validity,
            uid,
        };
        let outcome = match self.read_one(&d, &key, received, Arc::new(raw)).await? {
            Some(outcome) => outcome,
            None => return Ok(()),
        };
        match outcome {
            Outcome::Opened(case) => {
                match &case.no_receipt {
                    None => {
                        tracing::info!(department = %dept.id, uid, case = %case.number, category = case.category.key(), language = case.language.code(), officer = %case.officer.email, "new case; receipt queued")
                    }
                    Some(why) => {
                        tracing::info!(department = %dept.id, uid, case = %case.number, category = case.category.key(), language = case.language.code(), officer = %case.officer.email, "new case; no receipt ({why})")
                    }
                }
                self.outbox.notify_one();
                self.schedule.notify_one();
                self.engine
                    .metrics()
                    .cases_opened
                    .get_or_create(&label)
                    .inc();
                if let Some(why) = &case.flagged {
                    tracing::warn!(department = %dept.id, uid, case = %case.number, flagged = %why, "case flagged for a person");
                }
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
                self.engine.metrics().ignored.get_or_create(&ignored).inc();
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

    /// Hands one message to the engine, off the async threads (the store writes to disk), with
    /// a "being read" mark around it. A message kvittens stopped while reading the last time
    /// (the mark was still there at the start) and a message whose handling panicked are set
    /// aside: read by their top-level header only, their case flagged for a person and the
    /// officer told, so that one message can stop neither the process nor the mailbox. `None`
    /// when even that failed and the message was only marked handled, with a note.
    async fn read_one(
        &self,
        dept: &Department,
        key: &MessageKey,
        received: DateTime<Utc>,
        raw: Arc<Vec<u8>>,
    ) -> Result<Option<Outcome>, WatchError> {
        let store = self.engine.clone();
        let (id, uid) = (dept.id.clone(), key.uid);
        let mut why = store
            .begin_reading(key)?
            .then(|| STOPPED_WHILE_READING.to_string());
        let mut attempts = 0;
        let outcome = loop {
            attempts += 1;
            if let Some(why) = &why {
                tracing::error!(department = %id, uid, reason = %why, "setting this message aside: reading its header only; its case is flagged for a person");
            }
            let (engine, d, task_key, bytes) =
                (self.engine.clone(), dept.clone(), key.clone(), raw.clone());
            let sent_folder = self.sent;
            let aside = why.clone();
            let result = tokio::task::spawn_blocking(move || {
                let incoming = Incoming {
                    key: task_key,
                    received,
                    raw: &bytes,
                    sent_folder,
                };
                engine.handle_as(&d, &incoming, aside.as_deref())
            })
            .await;
            match result {
                Ok(Ok(outcome)) => break Some(outcome),
                Ok(Err(e)) => {
                    // The store failed, not the message: it is read again in full next time.
                    let _ = store.end_reading(key);
                    return Err(e.into());
                }
                Err(e) if attempts == 1 => {
                    // A bug met by one message must not stop the mailbox: set it aside.
                    why = Some(format!("kvittens failed while reading this message: {e}"));
                }
                Err(e) => {
                    // Even its header could not be handled: recorded, and left for a person.
                    tracing::error!(department = %id, uid, error = %e, "kvittens failed on this message's header too; it is left for a person in the mailbox");
                    store.mark_handled(key, &format!("kvittens failed on this message: {e}"))?;
                    break None;
                }
            }
        };
        store.end_reading(key)?;
        Ok(outcome)
    }
}

/// The number of messages in the mailbox as the server has told it since a listing (RFC 3501
/// §7.3.1 EXISTS; §7.4.1 EXPUNGE lowers it by one without an EXISTS), and whether it has told
/// of more than that: new mail, to be read before waiting. A server may repeat an EXISTS with
/// the same number, so only a larger one counts: the watcher never loops on a repetition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MailboxSize {
    known: u32,
    grew: bool,
}

impl MailboxSize {
    /// After a listing whose highest message sequence number was `highest` (none: empty).
    fn new(highest: Option<u32>) -> Self {
        MailboxSize {
            known: highest.unwrap_or(0),
            grew: false,
        }
    }

    /// Takes in the unsolicited responses in the order the server sent them. `overflowed`: the
    /// channel was full, so some may have been dropped — then the mailbox may have grown.
    fn absorb(
        &mut self,
        overflowed: bool,
        responses: impl IntoIterator<Item = UnsolicitedResponse>,
    ) {
        self.grew |= overflowed;
        for r in responses {
            match r {
                UnsolicitedResponse::Exists(n) => {
                    self.grew |= n > self.known;
                    self.known = n;
                }
                UnsolicitedResponse::Expunge(_) => self.known = self.known.saturating_sub(1),
                _ => {}
            }
        }
    }
}

/// Reads what async-imap put on the session's unsolicited-response channel into `size`.
fn absorb_unsolicited(size: &mut MailboxSize, s: &Session) {
    let rx = &s.unsolicited_responses;
    size.absorb(rx.is_full(), std::iter::from_fn(|| rx.try_recv().ok()));
}

/// Waits in IDLE (RFC 2177) until the server reports something, `renew` passes
/// (async-imap's timeout is reset by server keepalives, so it alone could wait forever), or
/// the daemon stops or reloads its config. `size` is the mailbox as read just before: a server
/// may announce new mail before its `+ idling` continuation, where async-imap puts it on the
/// unsolicited channel rather than ending the wait; such mail ends the IDLE at once.
async fn idle(
    s: Session,
    renew: Duration,
    mut size: MailboxSize,
    shutdown: &mut watch::Receiver<bool>,
    reloaded: &Notify,
) -> Result<Session, WatchError> {
    // A reload from here on ends the wait: `renew` was read just before.
    let reload = reloaded.notified();
    tokio::pin!(reload);
    reload.as_mut().enable();
    let rx = s.unsolicited_responses.clone();
    let mut handle = s.idle();
    handle.init().await?;
    size.absorb(rx.is_full(), std::iter::from_fn(|| rx.try_recv().ok()));
    if !size.grew {
        let (wait, _stop) = handle.wait_with_timeout(renew);
        tokio::select! {
            r = tokio::time::timeout(renew, wait) => {
                if let Ok(Err(e)) = r {
                    return Err(e.into());
                }
            }
            _ = shutdown.changed() => {}
            _ = reload => {}
        }
    }
    Ok(handle.done().await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::{TcpListener, TcpStream};
    use UnsolicitedResponse::{Exists, Expunge, Recent};

    #[test]
    fn only_a_larger_exists_is_new_mail() {
        let mut size = MailboxSize::new(Some(7));
        size.absorb(false, [Exists(7), Recent(0)]);
        assert_eq!(
            size,
            MailboxSize {
                known: 7,
                grew: false
            },
            "a repetition"
        );
        size.absorb(false, [Exists(8)]);
        assert_eq!(
            size,
            MailboxSize {
                known: 8,
                grew: true
            }
        );
    }

    #[test]
    fn expunges_lower_the_count_so_a_later_arrival_is_seen() {
        // 7 known; two expunged (5), then one new: EXISTS 6 is below the listing's 7.
        let mut size = MailboxSize::new(Some(7));
        size.absorb(false, [Expunge(3), Expunge(3)]);
        assert!(!size.grew);
        size.absorb(false, [Exists(6)]);
        assert!(size.grew);
    }

    #[test]
    fn an_empty_mailbox_grows_with_its_first_mail() {
        let mut size = MailboxSize::new(None);
        size.absorb(false, [Exists(0)]);
        assert!(!size.grew);
        size.absorb(false, [Exists(1)]);
        assert!(size.grew);
    }

    #[test]
    fn a_full_channel_counts_as_growth() {
        // async-imap drops what does not fit in its channel: an EXISTS may be among it.
        let mut size = MailboxSize::new(Some(3));
        size.absorb(true, []);
        assert!(size.grew);
    }

    /// A scripted IMAP server: greets, accepts LOGIN, and answers IDLE with `before` followed by
    /// `+ idling`; answers DONE with the IDLE's completion. Returns its port.
    async fn server(before: &'static str) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (conn, _) = listener.accept().await.unwrap();
            let (r, mut w) = conn.into_split();
            let mut lines = BufReader::new(r).lines();
            w.write_all(b"* OK [CAPABILITY IMAP4rev1 IDLE] ready\r\n")
                .await
                .unwrap();
            let mut idle_tag = String::new();
            while let Ok(Some(line)) = lines.next_line().await {
                let (tag, command) = line.split_once(' ').unwrap_or((&line, ""));
                let reply = if line == "DONE" {
                    format!("{idle_tag} OK idle done\r\n")
                } else if command == "IDLE" {
                    idle_tag = tag.to_string();
                    format!("{before}+ idling\r\n")
                } else {
                    format!("{tag} OK done\r\n")
                };
                w.write_all(reply.as_bytes()).await.unwrap();
            }
        });
        port
    }

    async fn session(port: u16) -> Session {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut client = async_imap::Client::new(Box::new(tcp) as Box<dyn Io>);
        greeting(&mut client, "127.0.0.1", port).await.unwrap();
        client.login("u", "p").await.map_err(|(e, _)| e).unwrap()
    }

    /// How long `idle` waited, with `renew` as the longest wait, after a listing that saw 4
    /// messages.
    async fn idle_time(before: &'static str, renew: Duration) -> Duration {
        let s = session(server(before).await).await;
        let (_stop, mut shutdown) = watch::channel(false);
        let start = std::time::Instant::now();
        let waited = tokio::time::timeout(
            Duration::from_secs(10),
            idle(
                s,
                renew,
                MailboxSize::new(Some(4)),
                &mut shutdown,
                &Notify::new(),
            ),
        )
        .await;
        assert!(matches!(waited, Ok(Ok(_))), "IDLE failed: {waited:?}");
        start.elapsed()
    }

    #[tokio::test]
    async fn mail_announced_before_the_idling_continuation_ends_the_idle_at_once() {
        let waited = idle_time("* 5 EXISTS\r\n* 1 RECENT\r\n", Duration::from_secs(8)).await;
        assert!(waited < Duration::from_secs(2), "waited {waited:?}");
    }

    #[tokio::test]
    async fn a_repeated_exists_before_the_idling_continuation_does_not_end_the_idle() {
        let renew = Duration::from_millis(500);
        let waited = idle_time("* 4 EXISTS\r\n", renew).await;
        assert!(waited >= renew, "waited {waited:?}");
    }
}

#[cfg(test)]
mod oauth2_tests {
    use super::*;
    use base64::Engine;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    /// An IMAP server that plays `script`: for each step, the line it reads (expected to begin
    /// with the given prefix) and what it answers.
    async fn scripted(
        script: Vec<(&'static str, String)>,
    ) -> (Server, tokio::task::JoinHandle<Vec<String>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let (r, mut w) = tokio::io::split(s);
            let mut r = BufReader::new(r);
            let mut seen = Vec::new();
            w.write_all(b"* OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2] ready\r\n")
                .await
                .unwrap();
            for (expect, answer) in script {
                let mut line = String::new();
                r.read_line(&mut line).await.unwrap();
                assert!(
                    line.starts_with(expect),
                    "expected {expect:?}, got {line:?}"
                );
                seen.push(line.trim_end().to_string());
                w.write_all(answer.as_bytes()).await.unwrap();
            }
            seen
        });
        let server = Server {
            host: "127.0.0.1".into(),
            port,
            security: Security::None,
            ca_file: None,
        };
        (server, task)
    }

    #[tokio::test]
    async fn xoauth2_sends_the_bearer_token_and_a_bye_asks_for_a_new_login() {
        let (server, task) = scripted(vec![
            ("A0001 AUTHENTICATE XOAUTH2", "+ \r\n".into()),
            ("", "A0001 OK [CAPABILITY IMAP4rev1 IDLE] done\r\n".into()),
            (
                "A0002 NOOP",
                "* BYE Session invalidated - AccessTokenExpired\r\n".into(),
            ),
        ])
        .await;
        let mut s = connect_oauth2(&server, "bygg@kommun.se", "tok-123")
            .await
            .unwrap();
        // The BYE may end the command or the next one: either way the session is over.
        let _ = s.noop().await;
        let seen = task.await.unwrap();
        let sasl = base64::engine::general_purpose::STANDARD
            .decode(&seen[1])
            .unwrap();
        assert_eq!(sasl, b"user=bygg@kommun.se\x01auth=Bearer tok-123\x01\x01");
        let bye = || {
            Err(WatchError::Imap(
                "* BYE Session invalidated - AccessTokenExpired".into(),
            ))
        };
        let lost = || Err(WatchError::Imap("connection lost".into()));
        let mut n = 0;
        assert!(
            relogin(&bye(), false, &mut n),
            "AccessTokenExpired: log in again"
        );
        assert!(
            relogin(&lost(), true, &mut n),
            "lost after the token ran out"
        );
        assert!(
            !relogin(&bye(), false, &mut n),
            "the third in a row backs off"
        );
        assert!(
            relogin(&Err(WatchError::Relogin), false, &mut n),
            "a planned renewal"
        );
        assert!(relogin(&bye(), false, &mut n), "counted anew");
        assert!(
            !relogin(&lost(), false, &mut n),
            "lost with a fresh token: a fault"
        );
        assert!(!relogin(&Ok(()), false, &mut n));
    }

    #[tokio::test]
    async fn a_refused_token_names_status_and_scope_and_not_the_token() {
        let challenge = base64::engine::general_purpose::STANDARD
            .encode(br#"{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}"#);
        let (server, task) = scripted(vec![
            ("A0001 AUTHENTICATE XOAUTH2", "+ \r\n".into()),
            ("dXNlcj1", format!("+ {challenge}\r\n")),
            (
                "",
                "A0001 NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)\r\n".into(),
            ),
        ])
        .await;
        let e = connect_oauth2(&server, "bygg@kommun.se", "tok-secret")
            .await
            .unwrap_err()
            .to_string();
        let seen = task.await.unwrap();
        assert_eq!(
            seen.last().map(String::as_str),
            Some(""),
            "an empty response to the challenge"
        );
        assert!(
            e.contains("status 401, scope https://mail.google.com/"),
            "{e}"
        );
        assert!(
            e.contains("AUTHENTICATIONFAILED") || e.contains("Invalid credentials"),
            "{e}"
        );
        assert!(e.contains("bygg@kommun.se"), "{e}");
        assert!(!e.contains("tok-secret"), "{e}");
    }
}
