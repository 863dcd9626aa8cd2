//! The clock of the daemon: wakes when the next schedule entry or digest falls due (or when a
//! new case may have brought one closer), lets the engine fire what is due, and wakes the sender.

use crate::app::engine::Engine;
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// The scheduler task.
pub struct Scheduler {
    /// The engine that fires entries.
    pub engine: Engine,
    /// Woken when the outbox has new mail.
    pub outbox: Arc<Notify>,
    /// Woken when new entries may be due sooner.
    pub wake: Arc<Notify>,
    /// Flips to true when the daemon stops.
    pub shutdown: watch::Receiver<bool>,
}

/// The longest sleep: a safety net for clock changes, not the mechanism.
const MAX_SLEEP: Duration = Duration::from_secs(30);

impl Scheduler {
    /// Runs until shutdown.
    pub async fn run(mut self) {
        loop {
            let engine = self.engine.clone();
            let result = tokio::task::spawn_blocking(move || -> Result<(usize, Option<chrono::DateTime<Utc>>), crate::store::StoreError> {
                let now = Utc::now();
                let fired = engine.fire_due(now)? + engine.queue_digests(now)?;
                housekeeping(&engine, now);
                let mut next = engine.next_due()?;
                for dept in &engine.cfg().departments {
                    if let Some(d) = engine.next_digest(dept, now)? {
                        next = Some(next.map_or(d, |n| n.min(d)));
                    }
                }
                Ok((fired, next))
            })
            .await;
            let sleep = match result {
                Ok(Ok((fired, next))) => {
                    if fired > 0 {
                        tracing::debug!(fired, "schedule entries fired");
                        self.outbox.notify_one();
                    }
                    next.map(|n| (n - Utc::now()).to_std().unwrap_or(Duration::ZERO))
                        .unwrap_or(MAX_SLEEP)
                        .min(MAX_SLEEP)
                }
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "the schedule could not be read; retrying");
                    Duration::from_secs(5)
                }
                Err(e) => {
                    tracing::error!(error = %e, "the scheduler failed; retrying");
                    Duration::from_secs(5)
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(sleep.max(Duration::from_millis(10))) => {}
                _ = self.wake.notified() => {}
                _ = self.shutdown.changed() => {}
            }
            if *self.shutdown.borrow() {
                tracing::info!("scheduler stopped");
                return;
            }
        }
    }
}

/// Once a day: the loop breaker's records that say nothing any more are pruned, and answered
/// and closed cases and ignored mail past `[daemon] retention` are removed, and logged.
fn housekeeping(engine: &Engine, now: chrono::DateTime<Utc>) {
    match engine.last_housekeeping() {
        Ok(Some(last)) if now - last < chrono::Duration::days(1) => return,
        Err(e) => {
            tracing::error!(error = %e, "housekeeping could not read the store");
            return;
        }
        _ => {}
    }
    match engine.prune_sender_records(now) {
        Ok(n) => tracing::debug!(pruned = n, "housekeeping: old loop breaker records removed"),
        Err(e) => {
            tracing::error!(error = %e, "housekeeping could not prune the loop breaker's records")
        }
    }
    match engine.prune_marks(now) {
        Ok(p) => tracing::debug!(
            marks = p.marks,
            counts = p.rates,
            "housekeeping: old \"handled\" marks and daily receipt counts removed"
        ),
        Err(e) => tracing::error!(error = %e, "housekeeping could not prune old marks"),
    }
    if let Some(retention) = engine.cfg().retention {
        match crate::app::retention::purge(engine, retention, now, false) {
            Ok(gone) => {
                tracing::info!(purged = gone.len(), retention = %retention, "housekeeping: old answered and closed cases removed")
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "housekeeping failed");
                return;
            }
        }
        let cutoff = crate::app::retention::cutoff(retention, now);
        match crate::app::registrar::purge_ignored(engine, cutoff, false) {
            Ok(gone) => {
                tracing::info!(purged = gone.len(), retention = %retention, "housekeeping: old ignored mail removed")
            }
            Err(e) => {
                tracing::error!(error = %e, "housekeeping failed");
                return;
            }
        }
    }
    if let Err(e) = engine.set_housekeeping(now) {
        tracing::error!(error = %e, "housekeeping could not record its run");
    }
}
