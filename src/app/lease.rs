//! Leases: which running instance does what, when several share one store (PostgreSQL). Each
//! watched folder (by the name the store keys it with: `bygg`, `bygg/sent`), the sender and
//! the scheduler is a lease; the instance that holds it does that work, the others wait. Only
//! the table's answer takes a lease ([`CaseStore::lease`], measured on the database's clock);
//! losing one is also decided here, by the local clock: a lease whose renewal failed (the
//! database away, a reply that does not come) counts as lost once the time it was last granted
//! for has run out, so that this instance stops before another one may take over.
//!
//! [`Leases`] is the bookkeeping (testable over an in-memory table); [`keep`] is the task that
//! renews every wanted lease every third of its time and gives them all up at a clean stop.
//! Each user holds a [`Held`]: whether its lease is held now, and a wait for that to change.
//! With sled one process has the store to itself and every lease is always held.

use crate::app::metrics::{Lease as LeaseLabel, Metrics};
use crate::store::{CaseStore, StoreError};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The lease of the sender task (one for the whole outbox: see the README's "Running two
/// instances" for why not one per department).
pub const SENDER: &str = "sender";

/// The lease of the scheduler task (deadlines, digests, reports, housekeeping).
pub const SCHEDULER: &str = "scheduler";

/// The lease of a watched folder: its name as the store keys its cursor and marks (the
/// department id for the inbox, `<id>/sent` for the Sent folder).
pub fn folder(department: &str, sent: bool) -> String {
    if sent {
        format!("{department}/sent")
    } else {
        department.to_string()
    }
}

/// Where the leases are kept: the store in the daemon, an in-memory table in tests.
pub trait LeaseTable: Send + Sync {
    /// Takes or renews `name` for `holder` for `seconds`; whether `holder` has it now.
    ///
    /// # Errors
    /// When the table cannot be reached.
    fn take(&self, name: &str, holder: &str, seconds: u32) -> Result<bool, StoreError>;
    /// Gives up every lease of `holder`.
    ///
    /// # Errors
    /// When the table cannot be reached.
    fn give_up(&self, holder: &str) -> Result<(), StoreError>;
}

/// The store as a lease table.
pub(crate) struct StoreTable(pub(crate) Arc<dyn CaseStore>);

impl LeaseTable for StoreTable {
    fn take(&self, name: &str, holder: &str, seconds: u32) -> Result<bool, StoreError> {
        self.0.lease(name, holder, seconds)
    }
    fn give_up(&self, holder: &str) -> Result<(), StoreError> {
        self.0.release_leases(holder)
    }
}

/// This run's holder id: the host name, the process id and a random part (a restarted
/// process with the same pid, or a container whose pid is always 1, is still a new holder).
pub fn instance_id() -> String {
    let host = hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string());
    format!(
        "{host}/{}/{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// Whether one lease is held, as its user sees it. [`Held::always`] for work that needs no
/// lease (a test, a name nobody registered).
#[derive(Debug, Clone)]
pub struct Held(Option<watch::Receiver<bool>>);

impl Held {
    /// Held now and for good.
    pub fn always() -> Held {
        Held(None)
    }

    /// Whether the lease is held now.
    pub fn now(&self) -> bool {
        self.0.as_ref().is_none_or(|rx| *rx.borrow())
    }

    /// Returns once the lease is held (at once when it is).
    pub async fn until_held(&mut self) {
        self.until(true).await;
    }

    /// Returns once the lease is lost; never, for [`Held::always`].
    pub async fn until_lost(&mut self) {
        self.until(false).await;
    }

    async fn until(&mut self, held: bool) {
        match &mut self.0 {
            None if held => {}
            None => std::future::pending().await,
            // The sender side lives as long as the engine; should it go, nothing changes again.
            Some(rx) => {
                if rx.wait_for(|h| *h == held).await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        }
    }
}

/// One wanted lease: who is told, and until when (local clock) it was last granted.
struct Entry {
    tx: watch::Sender<bool>,
    until: Option<Instant>,
}

/// What one round of renewals changed, for the log and the metrics.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// Leases taken that were not held before (at the start, or taken over).
    pub taken: Vec<String>,
    /// Leases held before and lost now (another instance has them, or they ran out).
    pub lost: Vec<String>,
    /// Renewals that failed (the table could not be reached).
    pub failed: usize,
    /// The first failure, in its words.
    pub error: Option<String>,
}

/// Every lease this instance wants, and whether it holds each.
pub struct Leases {
    holder: String,
    seconds: u32,
    table: Box<dyn LeaseTable>,
    wanted: Mutex<BTreeMap<String, Entry>>,
    /// Rounds done: until the first, nothing is known of any lease.
    rounds: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Leases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Leases({}, {} s)", self.holder, self.seconds)
    }
}

impl Leases {
    /// Leases kept in `table` for `holder`, each for `seconds` (at least 3).
    pub fn new(table: Box<dyn LeaseTable>, holder: String, seconds: u32) -> Leases {
        Leases {
            holder,
            seconds: seconds.max(3),
            table,
            wanted: Mutex::new(BTreeMap::new()),
            rounds: Default::default(),
        }
    }

    /// This instance's holder id.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// How often every lease is renewed: a third of its time, so that two renewals may fail
    /// before it runs out.
    pub fn every(&self) -> Duration {
        Duration::from_millis(u64::from(self.seconds) * 1000 / 3)
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        // The map holds no invariant a panic elsewhere could have broken halfway.
        self.wanted.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers `name` as wanted (once; again is harmless) and returns its [`Held`], not
    /// held until a round takes it.
    pub fn want(&self, name: &str) -> Held {
        let mut wanted = self.entries();
        let entry = wanted.entry(name.to_string()).or_insert_with(|| Entry {
            tx: watch::channel(false).0,
            until: None,
        });
        Held(Some(entry.tx.subscribe()))
    }

    /// The [`Held`] of `name`: [`Held::always`] when nobody registered it (no leases kept).
    pub fn held(&self, name: &str) -> Held {
        match self.entries().get(name) {
            Some(e) => Held(Some(e.tx.subscribe())),
            None => Held::always(),
        }
    }

    /// Whether at least one round has been done: before, a lease not held says nothing.
    pub fn settled(&self) -> bool {
        self.rounds.load(std::sync::atomic::Ordering::Relaxed) > 0
    }

    /// The leases held now, by name.
    pub fn holding(&self) -> Vec<String> {
        let wanted = self.entries();
        wanted
            .iter()
            .filter(|(_, e)| *e.tx.borrow())
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Every wanted lease and whether it is held, by name.
    pub fn states(&self) -> Vec<(String, bool)> {
        let wanted = self.entries();
        wanted
            .iter()
            .map(|(n, e)| (n.clone(), *e.tx.borrow()))
            .collect()
    }

    /// One round: asks the table for every wanted lease (blocking: from a blocking thread),
    /// each granted until its ask began plus its time — never later than the table's own end
    /// of it. A failed renewal keeps what was granted until it runs out.
    pub fn renew(&self) -> Round {
        let names: Vec<String> = self.entries().keys().cloned().collect();
        let mut round = Round::default();
        for name in names {
            let asked = Instant::now();
            let answer = self.table.take(&name, &self.holder, self.seconds);
            let mut wanted = self.entries();
            let Some(entry) = wanted.get_mut(&name) else {
                continue;
            };
            let was = *entry.tx.borrow();
            let now = match answer {
                Ok(true) => {
                    entry.until = Some(asked + Duration::from_secs(u64::from(self.seconds)));
                    true
                }
                Ok(false) => {
                    entry.until = None;
                    false
                }
                Err(e) => {
                    round.failed += 1;
                    round.error.get_or_insert_with(|| e.to_string());
                    entry.until.is_some_and(|u| Instant::now() < u)
                }
            };
            tell(entry, was, now, &name, &mut round);
        }
        self.rounds
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        round
    }

    /// Counts as lost every lease whose granted time has run out by `now` (the local clock),
    /// while a renewal is slow or failing.
    pub fn expire(&self, now: Instant) -> Round {
        let mut round = Round::default();
        let mut wanted = self.entries();
        for (name, entry) in wanted.iter_mut() {
            let was = *entry.tx.borrow();
            if was && entry.until.is_none_or(|u| now >= u) {
                entry.until = None;
                tell(entry, true, false, name, &mut round);
            }
        }
        round
    }

    /// Stops holding every lease here, then gives them up in the table so that another
    /// instance takes over at once (blocking).
    ///
    /// # Errors
    /// When the table cannot be reached: the leases then run out by themselves.
    pub fn release(&self) -> Result<(), StoreError> {
        {
            let mut wanted = self.entries();
            for entry in wanted.values_mut() {
                entry.until = None;
                entry.tx.send_replace(false);
            }
        }
        self.table.give_up(&self.holder)
    }
}

/// Tells `entry`'s users when its state changed from `was` to `now`, and notes it in `round`.
fn tell(entry: &mut Entry, was: bool, now: bool, name: &str, round: &mut Round) {
    if was == now {
        return;
    }
    entry.tx.send_replace(now);
    if now {
        round.taken.push(name.to_string());
    } else {
        round.lost.push(name.to_string());
    }
}

/// Shows a round in the metrics (`kvittens_lease_held`) and the log: the sender's and the
/// scheduler's leases by name, the folders by count and the first few names (a thousand
/// mailboxes change hands together when an instance dies).
pub fn show(metrics: &Metrics, round: &Round) {
    for (names, held) in [(&round.taken, 1), (&round.lost, 0)] {
        for name in names {
            let label = LeaseLabel {
                lease: name.clone(),
            };
            metrics.lease_held.get_or_create(&label).set(held);
        }
    }
    for (names, word) in [(&round.taken, "taken"), (&round.lost, "lost")] {
        if names.is_empty() {
            continue;
        }
        let tasks: Vec<&str> = (names.iter())
            .map(String::as_str)
            .filter(|n| [SENDER, SCHEDULER].contains(n))
            .collect();
        let folders: Vec<&str> = (names.iter())
            .map(String::as_str)
            .filter(|n| ![SENDER, SCHEDULER].contains(n))
            .collect();
        let first: Vec<&str> = folders.iter().take(5).copied().collect();
        let more = if folders.len() > first.len() {
            ", …"
        } else {
            ""
        };
        let line = format!(
            "leases {word}: {} folder(s) ({}{more}){}",
            folders.len(),
            first.join(", "),
            if tasks.is_empty() {
                String::new()
            } else {
                format!(", and the {}", tasks.join(" and "))
            }
        );
        if word == "lost" {
            tracing::warn!(lost = names.len(), "{line}");
        } else {
            tracing::info!(taken = names.len(), "{line}");
        }
    }
}

/// Renews `leases` every [`Leases::every`] until `stop`, counting as lost what runs out in
/// between (checked every second, also while a renewal hangs), then releases them all.
/// `changed` is called with every round that took or lost a lease (the metrics, the log).
pub async fn keep(leases: Arc<Leases>, stop: CancellationToken, changed: impl Fn(&Round)) {
    let mut failing = false;
    while !stop.is_cancelled() {
        let asking = leases.clone();
        let mut round = tokio::task::spawn_blocking(move || asking.renew());
        let done = loop {
            tokio::select! {
                r = &mut round => break r.unwrap_or_default(),
                _ = tokio::time::sleep(Duration::from_secs(1)) => {
                    let expired = leases.expire(Instant::now());
                    if !expired.lost.is_empty() {
                        changed(&expired);
                    }
                }
            }
        };
        if done.failed > 0 && !failing {
            tracing::error!(failed = done.failed, error = done.error.as_deref().unwrap_or(""), "the leases could not be renewed; what this instance holds is given up when its time runs out, and taken again when the store answers");
        } else if done.failed == 0 && failing {
            tracing::info!("the leases are renewed again");
        }
        failing = done.failed > 0;
        if !done.taken.is_empty() || !done.lost.is_empty() {
            changed(&done);
        }
        let next = Instant::now() + leases.every();
        while Instant::now() < next && !stop.is_cancelled() {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1).min(next - Instant::now())) => {}
                _ = stop.cancelled() => {}
            }
            let expired = leases.expire(Instant::now());
            if !expired.lost.is_empty() {
                changed(&expired);
            }
        }
    }
    let giving = leases.clone();
    match tokio::task::spawn_blocking(move || giving.release()).await {
        Ok(Ok(())) => tracing::info!("leases given up: another instance may take over at once"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "the leases could not be given up; another instance takes over when they run out")
        }
        Err(e) => tracing::warn!(error = %e, "the leases could not be given up"),
    }
}

/// The renewing task of a running daemon, stopped after every other task has ended (so that
/// no mail is still being sent when another instance takes the sender's lease).
pub struct Keeper {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Keeper {
    /// Registers every lease the daemon's tasks want — each department's inbox and Sent
    /// folder, the sender, the scheduler — shows this run's holder id (log, `/metrics`), and
    /// starts renewing them.
    pub fn start(engine: &crate::app::engine::Engine) -> Keeper {
        let leases = engine.leases().clone();
        for dept in &engine.cfg().departments {
            for sent in [false, true] {
                leases.want(&folder(&dept.id, sent));
            }
        }
        leases.want(SENDER);
        leases.want(SCHEDULER);
        let metrics = engine.metrics().clone();
        for (name, held) in leases.states() {
            let label = LeaseLabel { lease: name };
            metrics
                .lease_held
                .get_or_create(&label)
                .set(i64::from(held));
        }
        let holder = crate::app::metrics::Instance {
            holder: leases.holder().to_string(),
        };
        metrics.instance.get_or_create(&holder).set(1);
        tracing::info!(instance = %leases.holder(), lease_seconds = leases.seconds, "this instance's id, under which it holds its leases");
        let stop = CancellationToken::new();
        let task = tokio::spawn(keep(leases, stop.clone(), move |r| show(&metrics, r)));
        Keeper { stop, task }
    }

    /// Stops renewing without giving anything up, as a crash (kill -9) does: another
    /// instance takes over once the leases run out. For tests and fault drills.
    pub fn abandon(self) {
        self.task.abort();
    }

    /// Stops renewing and gives every lease up.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

#[cfg(test)]
#[path = "lease_tests.rs"]
mod tests;
