//! The lease bookkeeping over an in-memory table with its own clock (the database's, in
//! seconds, moved by hand).

use super::*;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio_util::sync::CancellationToken;

/// A lease table as the database keeps it: name → (holder, until), on a clock of its own.
#[derive(Default)]
struct Table {
    rows: Mutex<HashMap<String, (String, u64)>>,
    clock: AtomicU64,
    down: AtomicBool,
}

impl LeaseTable for Arc<Table> {
    fn take(&self, name: &str, holder: &str, seconds: u32) -> Result<bool, StoreError> {
        if self.down.load(Ordering::Relaxed) {
            return Err(StoreError {
                path: PathBuf::from("table"),
                context: "the database is away".into(),
                source: None,
            });
        }
        let now = self.clock.load(Ordering::Relaxed);
        let mut rows = self.rows.lock().unwrap();
        let free = match rows.get(name) {
            None => true,
            Some((h, until)) => h == holder || *until <= now,
        };
        if free {
            rows.insert(name.into(), (holder.into(), now + u64::from(seconds)));
        }
        Ok(free)
    }

    fn give_up(&self, holder: &str) -> Result<(), StoreError> {
        self.rows.lock().unwrap().retain(|_, (h, _)| h != holder);
        Ok(())
    }
}

const NAMES: [&str; 4] = ["bygg", "bygg/sent", SENDER, SCHEDULER];

fn instance(table: &Arc<Table>, holder: &str) -> Leases {
    let leases = Leases::new(Box::new(table.clone()), holder.into(), 15);
    for name in NAMES {
        leases.want(name);
    }
    leases
}

#[test]
fn one_instance_holds_every_lease_and_the_other_none() {
    let table = Arc::new(Table::default());
    let (a, b) = (instance(&table, "a"), instance(&table, "b"));
    assert!(!a.settled(), "nothing is known before the first round");
    assert_eq!(a.renew().taken.len(), NAMES.len());
    let round = b.renew();
    assert!(round.taken.is_empty() && round.lost.is_empty(), "{round:?}");
    assert!(b.settled());
    assert_eq!(a.holding().len(), NAMES.len());
    assert!(b.holding().is_empty());
    // Renewing keeps them, and tells nobody anything new.
    assert_eq!(a.renew(), Round::default());
    assert!(b.holding().is_empty());
}

#[test]
fn a_dead_instances_leases_are_taken_over_once_they_run_out() {
    let table = Arc::new(Table::default());
    let (a, b) = (instance(&table, "a"), instance(&table, "b"));
    a.renew();
    table.clock.store(14, Ordering::Relaxed);
    assert!(b.renew().taken.is_empty(), "taken over before it ran out");
    table.clock.store(15, Ordering::Relaxed);
    let round = b.renew();
    assert_eq!(round.taken.len(), NAMES.len(), "{round:?}");
    // The old holder, should it come back, learns it has lost them.
    let back = a.renew();
    assert_eq!(back.lost.len(), NAMES.len(), "{back:?}");
    assert!(a.holding().is_empty());
}

#[test]
fn a_clean_stop_hands_over_at_once() {
    let table = Arc::new(Table::default());
    let (a, b) = (instance(&table, "a"), instance(&table, "b"));
    let sender = a.held(SENDER);
    a.renew();
    assert!(sender.now());
    a.release().unwrap();
    assert!(!sender.now(), "still held here after the release");
    assert_eq!(b.renew().taken.len(), NAMES.len());
}

#[test]
fn a_failed_renewal_keeps_the_lease_only_until_its_time_runs_out() {
    let table = Arc::new(Table::default());
    let a = instance(&table, "a");
    let inbox = a.held("bygg");
    a.renew();
    let granted = Instant::now();
    table.down.store(true, Ordering::Relaxed);
    let round = a.renew();
    assert_eq!(round.failed, NAMES.len());
    assert!(round.error.unwrap().contains("the database is away"));
    assert!(
        round.lost.is_empty() && inbox.now(),
        "lost while its time runs"
    );
    assert!(a.expire(granted + Duration::from_secs(14)).lost.is_empty());
    let lost = a.expire(granted + Duration::from_secs(16)).lost;
    assert_eq!(lost.len(), NAMES.len());
    assert!(!inbox.now());
    // The database back: taken again (nobody else took it meanwhile).
    table.down.store(false, Ordering::Relaxed);
    assert_eq!(a.renew().taken.len(), NAMES.len());
    assert!(inbox.now());
}

#[test]
fn a_name_nobody_wants_is_always_held() {
    let table = Arc::new(Table::default());
    let a = instance(&table, "a");
    assert!(a.held("other").now());
    assert!(!a.held("bygg").now(), "held before any round");
    assert!(Held::always().now());
    assert_eq!(a.every(), Duration::from_secs(5));
    let states = a.states();
    assert_eq!(states.len(), NAMES.len());
    assert!(states.iter().all(|(_, held)| !held));
}

#[test]
fn the_instance_id_names_the_host_and_the_process() {
    let (one, two) = (instance_id(), instance_id());
    assert!(one.contains(&format!("/{}/", std::process::id())), "{one}");
    assert_ne!(one, two, "two runs of one process share a holder id");
}

#[tokio::test]
async fn users_are_woken_when_their_lease_is_taken_and_lost() {
    let table = Arc::new(Table::default());
    let a = Arc::new(instance(&table, "a"));
    let mut held = a.held("bygg/sent");
    let waiting = tokio::spawn(async move {
        held.until_held().await;
        held
    });
    tokio::task::yield_now().await;
    a.renew();
    let within = Duration::from_secs(10);
    let mut held = tokio::time::timeout(within, waiting)
        .await
        .expect("never told it was taken")
        .unwrap();
    let waiting = tokio::spawn(async move { held.until_lost().await });
    tokio::task::yield_now().await;
    a.release().unwrap();
    tokio::time::timeout(within, waiting)
        .await
        .expect("never told it was lost")
        .unwrap();
    let mut always = Held::always();
    always.until_held().await;
}

#[tokio::test]
async fn the_keeper_renews_until_stopped_then_gives_every_lease_up() {
    let table = Arc::new(Table::default());
    let a = Arc::new(instance(&table, "a"));
    let stop = CancellationToken::new();
    let rounds = Arc::new(AtomicU64::new(0));
    let counted = rounds.clone();
    let keeper = tokio::spawn(keep(a.clone(), stop.clone(), move |_| {
        counted.fetch_add(1, Ordering::Relaxed);
    }));
    let mut held = a.held(SENDER);
    held.until_held().await;
    assert_eq!(table.rows.lock().unwrap().len(), NAMES.len());
    stop.cancel();
    keeper.await.unwrap();
    assert!(table.rows.lock().unwrap().is_empty(), "not given up");
    assert!(!held.now());
    assert!(rounds.load(Ordering::Relaxed) >= 1);
}

/// A clean stop once said "another instance may take over at once"; it takes over at its
/// own next renewal, a third of lease_seconds later at most.
#[test]
fn a_clean_stop_says_when_another_takes_over() {
    let said = super::keep::given_up(Duration::from_secs(5));
    assert_eq!(
        said,
        "leases given up: another instance takes them over at its next renewal, within 5 s (a third of lease_seconds)"
    );
}
