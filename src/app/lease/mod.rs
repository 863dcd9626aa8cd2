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

use crate::store::{CaseStore, StoreError};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

mod keep;
pub use keep::{keep, show, Keeper};

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

#[cfg(test)]
mod tests;
