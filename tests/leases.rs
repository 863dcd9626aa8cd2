//! Two instances in one process over one store, their leases in an in-memory table on the
//! real clock, against the in-memory mail servers of `net::fake`: only the instance holding a
//! folder's lease logs in to it, only the one holding the sender's lease sends, and when that
//! instance crashes the other takes over once the leases run out — every resident gets one
//! receipt, also the one whose receipt was in flight at the crash. (The same against the real
//! servers and PostgreSQL, with kill -9, is `tests/failover.rs`.)

#[path = "common/fake_daemon.rs"]
mod fake_daemon;

use fake_daemon::MAILBOX;
use kvittens::app::engine::Engine;
use kvittens::app::lease::{Keeper, LeaseTable, SENDER};
use kvittens::app::metrics::Folder;
use kvittens::config::Config;
use kvittens::mail::templates::Templates;
use kvittens::net::fake::{FakeServer, Fault};
use kvittens::store::{Store, StoreError};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Leases as the database keeps them: name → (holder, until), on the real clock.
#[derive(Default, Clone)]
struct Table(Arc<Mutex<HashMap<String, (String, Instant)>>>);

impl LeaseTable for Table {
    fn take(&self, name: &str, holder: &str, seconds: u32) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut rows = self.0.lock().unwrap();
        let free = rows
            .get(name)
            .is_none_or(|(h, until)| h == holder || *until <= now);
        if free {
            let until = now + Duration::from_secs(u64::from(seconds));
            rows.insert(name.into(), (holder.into(), until));
        }
        Ok(free)
    }

    fn give_up(&self, holder: &str) -> Result<(), StoreError> {
        self.0.lock().unwrap().retain(|_, (h, _)| h != holder);
        Ok(())
    }
}

fn config(dir: &Path) -> PathBuf {
    fake_daemon::config(dir, "unconfirmed_wait = \"1s\"\nlease_seconds = 3")
}

fn resident(n: u32) -> String {
    format!("r{n}@medborgare.test")
}

fn question(n: u32) -> Vec<u8> {
    format!(
        "From: Resident <{}>\r\nTo: {MAILBOX}\r\nSubject: Bygglov {n}\r\nMessage-ID: <q{n}@medborgare.test>\r\nDate: Sat, 28 Nov 2026 10:00:00 +0100\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHej! Jag har en fråga om bygglov för mitt garage.\r\n",
        resident(n)
    )
    .into_bytes()
}

/// Receipts delivered to resident `n`.
fn receipts(server: &FakeServer, n: u32) -> usize {
    let to = resident(n);
    (server.delivered().iter())
        .filter(|d| d.to.contains(&to))
        .count()
}

/// One instance: its engine (own leases, shared store), its keeper and its tasks.
struct Instance {
    engine: Engine,
    keeper: Keeper,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Instance {
    fn start(cfg: &Path, store: &Store, table: &Table, server: &FakeServer) -> Instance {
        let cfg = Config::load(cfg).unwrap();
        let templates = Templates::load(cfg.templates.as_deref()).unwrap();
        let engine =
            Engine::new(cfg, store.clone(), templates).with_lease_table(Box::new(table.clone()));
        let keeper = Keeper::start(&engine);
        let stop = CancellationToken::new();
        let tasks = fake_daemon::spawn_tasks(&engine, server, &stop);
        Instance {
            engine,
            keeper,
            stop,
            tasks,
        }
    }

    /// Whether this instance is logged in to the inbox now.
    fn watching(&self) -> bool {
        let label = Folder {
            department: "bygg".into(),
            folder: "inbox".into(),
        };
        self.engine
            .metrics()
            .imap_connected
            .get_or_create(&label)
            .get()
            == 1
    }

    fn sends(&self) -> bool {
        self.engine.leases().held(SENDER).now()
    }

    /// A crash: every task dropped where it stands, the leases left to run out.
    async fn crash(self) {
        self.keeper.abandon();
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks {
            let _ = t.await;
        }
    }

    /// A clean stop: the work finished, then the leases given up.
    async fn stop(self) {
        self.stop.cancel();
        for t in self.tasks {
            t.await.unwrap();
        }
        self.keeper.stop().await;
    }
}

/// Waits until `done` holds (at most 30 s, for a machine under load).
async fn until(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(30), "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_instance_works_and_the_other_takes_over_after_a_crash_with_one_receipt_each() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let store = Store::open(&dir.path().join("store")).unwrap();
    let (table, server) = (Table::default(), FakeServer::new());
    server.add_mailbox(MAILBOX);

    let a = Instance::start(&cfg, &store, &table, &server);
    until("the first instance watches the inbox", || a.watching()).await;
    until("the first instance sends", || a.sends()).await;
    let b = Instance::start(&cfg, &store, &table, &server);
    until("the second instance has asked for its leases", || {
        b.engine.leases().settled()
    })
    .await;
    for n in 1..=5 {
        server.append(MAILBOX, "INBOX", &question(n));
    }
    until("five receipts", || {
        (1..=5).all(|n| receipts(&server, n) == 1)
    })
    .await;
    assert!(!b.watching() && !b.sends(), "the second instance works too");
    assert!(b.engine.leases().holding().is_empty());
    // Waiting is not a fault: the folders count as watched (elsewhere).
    until("the waiting instance is healthy", || {
        kvittens::ops::http::health(&b.engine).0
    })
    .await;
    assert!(!b.watching(), "the second instance logged in");

    // The first instance dies while a receipt is in flight (the server has nothing).
    server.fault_to(&resident(6), Fault::HangBeforeDot);
    server.append(MAILBOX, "INBOX", &question(6));
    until("the receipt's sending hangs", || server.hanging() == 1).await;
    a.crash().await;
    until("the second instance watches the inbox", || b.watching()).await;
    until("the second instance sends", || b.sends()).await;
    server.append(MAILBOX, "INBOX", &question(7));
    until("every receipt went", || {
        (1..=7).all(|n| receipts(&server, n) >= 1)
    })
    .await;
    // Longer than `unconfirmed_wait`: a receipt released twice would have gone by now.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for n in 1..=7 {
        assert_eq!(receipts(&server, n), 1, "resident {n}");
    }

    // A clean stop gives every lease up at once.
    b.stop().await;
    assert!(table.0.lock().unwrap().is_empty(), "leases left behind");
}
