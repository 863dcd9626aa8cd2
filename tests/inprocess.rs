//! The whole loop in-process, against the in-memory mail servers of `net::fake`: a resident's
//! mail is read, decided, recorded, and its receipt sent exactly once — also across a crash in
//! the middle of sending and a restart on the same store. No Dovecot, no Postfix: plain
//! `cargo test`, in milliseconds (the tests against the real servers stay beside these).

#[path = "common/fake_daemon.rs"]
mod fake_daemon;

use fake_daemon::{MAILBOX, OFFICER};
use kvittens::app::engine::Engine;
use kvittens::app::metrics::{Dept, MailKind};
use kvittens::config::Config;
use kvittens::mail::templates::Templates;
use kvittens::net::fake::{FakeServer, Fault};
use kvittens::store::Store;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const RESIDENT: &str = "anna@medborgare.test";

/// A config for one department, with the given `unconfirmed_wait`.
fn config(dir: &Path, unconfirmed_wait: &str) -> PathBuf {
    config_with(dir, unconfirmed_wait, "")
}

/// As [`config`], with `daemon` lines added to `[daemon]`.
fn config_with(dir: &Path, unconfirmed_wait: &str, daemon: &str) -> PathBuf {
    let daemon = format!("unconfirmed_wait = \"{unconfirmed_wait}\"\n{daemon}");
    fake_daemon::config(dir, &daemon)
}

fn question(id: &str) -> Vec<u8> {
    format!(
        "From: Anna <{RESIDENT}>\r\nTo: {MAILBOX}\r\nSubject: Bygglov\r\nMessage-ID: <{id}@medborgare.test>\r\nDate: Sat, 28 Nov 2026 10:00:00 +0100\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHej! Jag har en fråga om bygglov för mitt garage.\r\n"
    )
    .into_bytes()
}

/// The watchers (inbox and Sent folder) and the sender over `server`, on the store of `cfg`.
struct Daemon {
    engine: Engine,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Daemon {
    /// Starts, and waits until the inbox is watched.
    async fn start(cfg: &Path, server: &FakeServer) -> Daemon {
        let daemon = Daemon::spawn(cfg, server).await;
        daemon
            .until("the inbox is watched", |d| {
                d.engine.metrics().folder_status("bygg", false) == Some(None)
            })
            .await;
        daemon
    }

    /// Starts the tasks.
    async fn spawn(cfg: &Path, server: &FakeServer) -> Daemon {
        let cfg = Config::load(cfg).unwrap();
        let store = open_store(&cfg.store).await;
        let templates = Templates::load(cfg.templates.as_deref()).unwrap();
        let engine = Engine::new(cfg, store, templates);
        let stop = CancellationToken::new();
        let tasks = fake_daemon::spawn_tasks(&engine, server, &stop);
        Daemon {
            engine,
            stop,
            tasks,
        }
    }

    /// Waits until `done` holds (at most 20 s, for a machine under load).
    async fn until(&self, what: &str, done: impl Fn(&Daemon) -> bool) {
        let start = std::time::Instant::now();
        while !done(self) {
            assert!(start.elapsed() < Duration::from_secs(20), "never: {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Stops as SIGTERM does: the work in flight is finished.
    async fn stop(self) {
        self.stop.cancel();
        for t in self.tasks {
            t.await.unwrap();
        }
        self.engine.outbox_handle().flush().unwrap();
    }

    /// Stops as a crash does: every task dropped where it stands, nothing flushed after.
    async fn crash(self) {
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Opens the store, waiting for a crashed run's handles to be let go.
async fn open_store(path: &Path) -> Store {
    for _ in 0..200 {
        match Store::open(path) {
            Ok(s) => return s,
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    Store::open(path).unwrap()
}

/// The receipts the resident got (mails to the resident, the SMTP log's account).
fn receipts(server: &FakeServer) -> usize {
    server
        .delivered()
        .iter()
        .filter(|d| d.to.iter().any(|t| t == RESIDENT))
        .count()
}

fn server() -> FakeServer {
    let server = FakeServer::new();
    server.add_mailbox(MAILBOX);
    server
}

#[tokio::test]
async fn a_residents_mail_gets_exactly_one_receipt_and_its_copy() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "10m");
    let server = server();
    let d = Daemon::start(&cfg, &server).await;
    server.append(MAILBOX, "INBOX", &question("q1"));
    d.until("the receipt went", |_| receipts(&server) == 1)
        .await;
    d.until("its copy was read", |_| {
        server.messages(MAILBOX, "INBOX").len() == 2
    })
    .await;
    d.stop().await;
    assert_eq!(receipts(&server), 1);
    let to_officer = server
        .delivered()
        .iter()
        .filter(|m| m.to.iter().any(|t| t == OFFICER))
        .count();
    assert_eq!(to_officer, 1, "the officer is told once");

    // Restarted on the same store: nothing goes again.
    let d = Daemon::start(&cfg, &server).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    d.stop().await;
    assert_eq!(receipts(&server), 1, "a restart sends nothing again");
}

#[tokio::test]
async fn a_crash_before_the_final_dot_and_a_restart_give_exactly_one_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "1s");
    let server = server();
    server.fault_to(RESIDENT, Fault::HangBeforeDot);
    let d = Daemon::start(&cfg, &server).await;
    server.append(MAILBOX, "INBOX", &question("q2"));
    d.until("the receipt's sending hangs", |_| server.hanging() == 1)
        .await;
    d.crash().await;
    assert_eq!(receipts(&server), 0, "the server had nothing");

    // The mail was in flight on disk: it waits for its copy, and when none comes within
    // `unconfirmed_wait` of a read-through mailbox it goes again, once.
    let d = Daemon::start(&cfg, &server).await;
    d.until("the receipt went again", |_| receipts(&server) == 1)
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    d.stop().await;
    assert_eq!(receipts(&server), 1);
}

#[tokio::test]
async fn a_crash_after_the_final_dot_is_resolved_by_the_copy_not_by_sending_again() {
    let dir = tempfile::tempdir().unwrap();
    // An hour's patience: only the copy can resolve the mail within this test.
    let cfg = config(dir.path(), "1h");
    let server = server();
    server.fault_to(RESIDENT, Fault::HangAfterDot);
    let d = Daemon::start(&cfg, &server).await;
    server.append(MAILBOX, "INBOX", &question("q3"));
    d.until("the receipt's sending hangs", |_| server.hanging() == 1)
        .await;
    d.crash().await;
    assert_eq!(receipts(&server), 1, "the server took it");

    let d = Daemon::start(&cfg, &server).await;
    d.until("the copy was recognised", |d| {
        d.engine.outbox_handle().in_flight().is_ok_and(|n| n == 0)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    d.stop().await;
    assert_eq!(receipts(&server), 1, "not sent again");
}

#[tokio::test]
async fn a_bounce_gets_no_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "10m");
    let server = server();
    let d = Daemon::start(&cfg, &server).await;
    let bounce = format!(
        "From: MAILER-DAEMON@medborgare.test\r\nTo: {MAILBOX}\r\nSubject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\nFinal-Recipient: rfc822; x@y\r\nAction: failed\r\nStatus: 5.1.1\r\n--b--\r\n"
    );
    server.append(MAILBOX, "INBOX", bounce.as_bytes());
    // A question after it: once its receipt went, the bounce was read (UID order).
    server.append(MAILBOX, "INBOX", &question("q4"));
    d.until("the question's receipt went", |_| receipts(&server) == 1)
        .await;
    d.stop().await;
    let to_daemon = server
        .delivered()
        .iter()
        .filter(|m| m.to.iter().any(|t| t.contains("MAILER-DAEMON")))
        .count();
    assert_eq!(to_daemon, 0, "nothing to the machine");
}

#[tokio::test]
async fn a_uidvalidity_change_reads_the_mailbox_anew_without_a_second_receipt() {
    let dir = tempfile::tempdir().unwrap();
    // Mail of the last day is read when a mailbox is new to kvittens, or renumbered: so the
    // renumbered question and its copy are read again.
    let cfg = config_with(dir.path(), "10m", "backfill = \"1d\"");
    let server = server();
    let d = Daemon::start(&cfg, &server).await;
    server.append(MAILBOX, "INBOX", &question("q5"));
    d.until("the copy was read", |_| {
        server.messages(MAILBOX, "INBOX").len() == 2
    })
    .await;
    d.until("the receipt went", |_| receipts(&server) == 1)
        .await;
    d.stop().await;

    server.renumber(MAILBOX, "INBOX", 77);
    let d = Daemon::start(&cfg, &server).await;
    // A new question after the change: its receipt shows the old ones were read by then.
    server.append(MAILBOX, "INBOX", &question("q6"));
    d.until("the new question's receipt went", |_| {
        receipts(&server) == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let seen = d
        .engine
        .metrics()
        .messages_seen
        .get_or_create(&Dept {
            department: "bygg".into(),
        })
        .get();
    d.stop().await;
    assert!(
        seen >= 3,
        "the renumbered mailbox was read anew ({seen} seen)"
    );
    assert_eq!(receipts(&server), 2, "one receipt per question, none again");
}

#[tokio::test]
async fn a_server_that_is_down_gets_the_mail_when_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "10m");
    let server = server();
    server.fault(Fault::Down);
    let d = Daemon::start(&cfg, &server).await;
    server.append(MAILBOX, "INBOX", &question("q7"));
    // The first try fails; the backoff's first wait is about a second.
    d.until("the receipt went after the retry", |_| {
        receipts(&server) == 1
    })
    .await;
    d.stop().await;
    assert_eq!(receipts(&server), 1);
}

#[tokio::test]
async fn an_answer_lost_after_the_dot_is_confirmed_by_the_copy_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "1h");
    let server = server();
    server.fault_to(RESIDENT, Fault::DropAfterDot);
    let d = Daemon::start(&cfg, &server).await;
    server.append(MAILBOX, "INBOX", &question("q8"));
    d.until("the copy settled the mail in flight", |d| {
        receipts(&server) == 1 && d.engine.outbox_handle().in_flight().is_ok_and(|n| n == 0)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    d.stop().await;
    assert_eq!(receipts(&server), 1, "not sent again");
}

#[tokio::test]
async fn a_connection_lost_before_the_dot_sends_the_receipt_once_after_the_wait() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing tells the watcher that a mail went into flight without an answer: it releases
    // the mail when it next reads the mailbox through, at the latest when IDLE is renewed.
    let cfg = config_with(dir.path(), "1s", "idle_renew = \"1s\"");
    let server = server();
    server.fault_to(RESIDENT, Fault::DropBeforeDot);
    let d = Daemon::start(&cfg, &server).await;
    server.append(MAILBOX, "INBOX", &question("q9"));
    // No copy comes: after `unconfirmed_wait` of a read-through mailbox it goes again.
    d.until("the receipt went", |_| receipts(&server) == 1)
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    d.stop().await;
    assert_eq!(receipts(&server), 1);
}

#[tokio::test]
async fn a_receipt_refused_for_good_is_noted_and_not_tried_again() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "10m");
    let server = server();
    server.fault_to(RESIDENT, Fault::Refuse);
    let d = Daemon::start(&cfg, &server).await;
    server.append(MAILBOX, "INBOX", &question("q10"));
    let refused = |d: &Daemon| {
        let kind = MailKind {
            kind: "receipt".into(),
        };
        d.engine.metrics().mail_refused.get_or_create(&kind).get()
    };
    d.until("the refusal was noted", |d| refused(d) == 1).await;
    d.until("the outbox is empty", |d| {
        d.engine
            .outbox_handle()
            .pending()
            .is_ok_and(|p| p.iter().all(|m| !m.to.contains(&RESIDENT.to_string())))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    d.stop().await;
    assert_eq!(receipts(&server), 0, "refused for good, not tried again");
}

#[tokio::test]
async fn a_mailbox_that_is_down_is_read_when_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "10m");
    let server = server();
    server.imap_down(true);
    server.append(MAILBOX, "INBOX", &question("q11"));
    let d = Daemon::spawn(&cfg, &server).await;
    d.until("the outage is seen", |d| {
        matches!(
            d.engine.metrics().folder_status("bygg", false),
            Some(Some(_))
        )
    })
    .await;
    server.imap_down(false);
    // The first retry comes after about a second (the backoff); then the mailbox is new to
    // kvittens and read from its UIDNEXT on: the mail that waited is old mail.
    d.until("the inbox is watched again", |d| {
        d.engine.metrics().folder_status("bygg", false) == Some(None)
    })
    .await;
    server.append(MAILBOX, "INBOX", &question("q12"));
    d.until("the receipt went", |_| receipts(&server) == 1)
        .await;
    d.stop().await;
}

#[tokio::test]
async fn a_refused_login_is_not_retried_until_a_reload() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "10m");
    // No such mailbox yet: the fake refuses the login.
    let server = FakeServer::new();
    let d = Daemon::spawn(&cfg, &server).await;
    d.until("the refusal is seen", |d| {
        d.engine.metrics().login_refused("bygg", false)
    })
    .await;
    server.add_mailbox(MAILBOX);
    // Well past the ordinary backoff, but not the 15 minutes after a refused login.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        d.engine.metrics().login_refused("bygg", false),
        "tried again before the login backoff"
    );
    d.engine.reloaded.notify_waiters();
    d.until("watched after the reload", |d| {
        d.engine.metrics().folder_status("bygg", false) == Some(None)
    })
    .await;
    d.stop().await;
}

/// A resident's mail numbered `i` with `subject`, from a resident of its own.
fn numbered(i: usize, subject: &str) -> Vec<u8> {
    format!(
        "From: Invånare {i} <r{i}@medborgare.test>\r\nTo: {MAILBOX}\r\nSubject: {subject} {i}\r\nMessage-ID: <burst{i}@medborgare.test>\r\nDate: Sat, 28 Nov 2026 10:00:00 +0100\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHej! Fråga nummer {i}.\r\n"
    )
    .into_bytes()
}

/// The mails delivered to `to`.
fn mails_to(server: &FakeServer, to: &str) -> Vec<String> {
    (server.delivered().iter())
        .filter(|m| m.to.iter().any(|t| t == to))
        .map(|m| String::from_utf8_lossy(&m.bytes).into_owned())
        .collect()
}

/// A burst of eight new cases for one officer (more than `cases = 3` within the minute): the
/// receipts all go, the first three notices go at once, the other five are held in the store
/// — a crash loses none — and go as one mail listing them, with their messages attached,
/// when the gathering is due. A complaint in the burst is told to the manager at once.
#[tokio::test]
async fn a_burst_gathers_the_officer_notices_and_a_crash_loses_none() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = "notice_burst = { cases = 3, within = \"1m\" }";
    let cfg = config_with(dir.path(), "10m", daemon);
    let server = server();
    let d = Daemon::start(&cfg, &server).await;
    for i in 1..=8 {
        server.append(MAILBOX, "INBOX", &numbered(i, "Fråga"));
    }
    server.append(MAILBOX, "INBOX", &numbered(9, "Klagomål på bygglovet"));
    let residents = |s: &FakeServer| {
        (1..=9)
            .filter(|i| !mails_to(s, &format!("r{i}@medborgare.test")).is_empty())
            .count()
    };
    d.until("every receipt went", |_| residents(&server) == 9)
        .await;
    d.until("the complaint's manager was told", |_| {
        !mails_to(&server, "manager@kommun.test").is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(mails_to(&server, OFFICER).len(), 3, "three notices at once");
    d.crash().await;

    // After the restart the held notices are still there; the window closes.
    let d = Daemon::start(&cfg, &server).await;
    let later = chrono::Utc::now() + chrono::Duration::minutes(2);
    assert!(d.engine.fire_due(later).unwrap() >= 1);
    d.engine.outbox_bell().notify_one();
    d.until("the gathered mail went", |_| {
        mails_to(&server, OFFICER).len() == 4
    })
    .await;
    let gathered = mails_to(&server, OFFICER).pop().unwrap();
    for n in 4..=8 {
        let number = format!("BYGG-2026-{n:04}");
        assert!(gathered.contains(&number), "{number} in\n{gathered}");
        assert!(
            gathered.contains(&format!("burst{n}@medborgare.test")),
            "message {n} attached"
        );
        let case = kvittens::app::admin::case(&d.engine, &number).unwrap();
        let lines: Vec<&str> = case.events.iter().map(|e| e.what.as_str()).collect();
        assert!(
            lines
                .iter()
                .any(|l| l.contains("held for one gathered mail")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("queued in one gathered mail listing 5")),
            "{lines:?}"
        );
    }
    let parsed = mail_parser::MessageParser::default()
        .parse(gathered.as_bytes())
        .unwrap();
    assert!(
        parsed
            .subject()
            .unwrap_or("")
            .starts_with("5 nya ärenden i"),
        "{gathered}"
    );
    let text = parsed.body_text(0).unwrap_or_default();
    assert!(text.contains("Invånare 8 <r8@medborgare.test>"), "{text}");
    assert!(
        !gathered.contains("BYGG-2026-0003"),
        "a notice sent at once is not listed again"
    );
    // Fired once: a second wake-up sends nothing more.
    d.engine.fire_due(later).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    d.stop().await;
    assert_eq!(mails_to(&server, OFFICER).len(), 4);
}
