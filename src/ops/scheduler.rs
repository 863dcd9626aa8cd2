//! The clock of the daemon: wakes when the next schedule entry or digest falls due (or when a
//! new case may have brought one closer), lets the engine fire what is due, and wakes the sender.

use crate::app::admin;
use crate::app::engine::Engine;
use crate::app::lease::SCHEDULER;
use crate::ops::control::request::describe;
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The scheduler task.
pub struct Scheduler {
    /// The engine that fires entries.
    pub engine: Engine,
    /// Woken when the outbox has new mail.
    pub outbox: Arc<Notify>,
    /// Woken when new entries may be due sooner.
    pub wake: Arc<Notify>,
    /// Cancelled when the daemon stops.
    pub shutdown: CancellationToken,
}

/// The longest sleep: a safety net for clock changes, not the mechanism.
const MAX_SLEEP: Duration = Duration::from_secs(30);

impl Scheduler {
    /// Runs until shutdown; only while this instance holds the scheduler's lease (always with
    /// sled), so that with several instances on one store each deadline fires once.
    pub async fn run(self) {
        let mut lease = self.engine.leases().held(SCHEDULER);
        let mut leased = false;
        loop {
            if !lease.now() {
                if leased {
                    tracing::info!("the scheduler's lease went to another instance (or ran out): firing nothing here until it is back");
                }
                tokio::select! {
                    _ = lease.until_held() => tracing::info!("the scheduler's lease is held here: firing what falls due"),
                    _ = self.shutdown.cancelled() => {
                        tracing::info!("scheduler stopped");
                        return;
                    }
                }
            }
            leased = true;
            let engine = self.engine.clone();
            let result = tokio::task::spawn_blocking(move || -> Result<(usize, Option<chrono::DateTime<Utc>>), crate::store::StoreError> {
                let now = Utc::now();
                let fired = engine.fire_due(now)?
                    + engine.queue_digests(now)?
                    + engine.queue_reports(report_now(now))?;
                housekeeping(&engine, now);
                Ok((fired, admin::next_wake(&engine, now)?))
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
                _ = self.shutdown.cancelled() => {}
            }
            if self.shutdown.is_cancelled() {
                tracing::info!("scheduler stopped");
                return;
            }
        }
    }
}

/// Once a day: the loop breaker's records that say nothing any more and old "handled" marks
/// and daily receipt counts are pruned, and answered
/// and closed cases and ignored mail past `[daemon] retention` are removed (`app::admin`
/// decides and does), and logged here.
fn housekeeping(engine: &Engine, now: chrono::DateTime<Utc>) {
    let done = match admin::housekeeping(engine, now) {
        Ok(Some(done)) => done,
        Ok(None) => return,
        Err(e) => {
            tracing::error!(error = %e, "housekeeping could not read the store");
            return;
        }
    };
    match done.loop_records {
        Ok(n) => tracing::debug!(pruned = n, "housekeeping: old loop breaker records removed"),
        Err(e) => {
            tracing::error!(error = %e, "housekeeping could not prune the loop breaker's records")
        }
    }
    match done.marks {
        Ok(p) => tracing::debug!(
            marks = p.marks,
            counts = p.rates,
            "housekeeping: old \"handled\" marks and daily receipt counts removed"
        ),
        Err(e) => tracing::error!(error = %e, "housekeeping could not prune old marks"),
    }
    match done.six_months {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            scheduled = n,
            "housekeeping: six-month checks (förvaltningslagen § 12) added for older cases"
        ),
        Err(e) => tracing::error!(error = %e, "housekeeping could not schedule six-month checks"),
    }
    let retention = engine
        .cfg()
        .retention
        .map(|r| r.to_string())
        .unwrap_or_default();
    match done.purged {
        Some(Ok(purged)) => {
            tracing::info!(purged = purged.cases.len(), retention = %retention, "housekeeping: old answered and closed cases removed");
            tracing::info!(purged = purged.ignored.len(), retention = %retention, "housekeeping: old ignored mail removed");
        }
        Some(Err(e)) => tracing::error!(error = %describe(&e), "housekeeping failed"),
        None => {}
    }
    if let Some(Err(e)) = done.recorded {
        tracing::error!(error = %e, "housekeeping could not record its run");
    }
}

/// The moment the report mailing is judged at: now, or in test builds (debug assertions on)
/// the time in `KVITTENS_TEST_REPORT_NOW` (RFC 3339), so that an end-to-end test can stand on
/// the first working day of a month. Not compiled into release builds.
fn report_now(now: Utc_) -> Utc_ {
    #[cfg(debug_assertions)]
    if let Some(t) = std::env::var("KVITTENS_TEST_REPORT_NOW")
        .ok()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
    {
        return t.with_timezone(&Utc);
    }
    now
}

type Utc_ = chrono::DateTime<Utc>;
