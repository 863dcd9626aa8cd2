//! The task that keeps the leases: renewing them on time, counting as lost what runs out
//! while the store does not answer, showing every change, and giving them up at a clean stop.

use super::{folder, Leases, Round, SCHEDULER, SENDER};
use crate::app::metrics::{Lease as LeaseLabel, Metrics};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

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
        Ok(Ok(())) => tracing::info!("{}", given_up(leases.every())),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "the leases could not be given up; another instance takes over when they run out")
        }
        Err(e) => tracing::warn!(error = %e, "the leases could not be given up"),
    }
}

/// What a clean stop tells: the leases are free now, but another instance only asks for them
/// at its own next renewal, every third of `lease_seconds` (`every`), so that is how long the
/// takeover may take.
pub(super) fn given_up(every: Duration) -> String {
    format!(
        "leases given up: another instance takes them over at its next renewal, within {} s (a third of lease_seconds)",
        every.as_secs_f32()
    )
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
