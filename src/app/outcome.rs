//! What becomes of the outcome of one message, in one place: its log line and its metric.
//! The mailbox watcher only reads mail and hands it to the engine; what it means — a new case,
//! a follow-up, mail left alone — is told here, so that a second way in (a web page, a test)
//! counts and logs it the same.

use crate::app::engine::Outcome;
use crate::app::metrics::{Dept, Ignored, Metrics};

/// Who must look again after an outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wake {
    /// Mail was queued: the sender.
    pub outbox: bool,
    /// A case changed: the schedule of its deadlines.
    pub schedule: bool,
}

/// Counts a message read from a department's inbox (`kvittens_messages_seen_total`); the Sent
/// folder's are staff's own mail and not counted.
pub fn seen(metrics: &Metrics, department: &str, sent_folder: bool) {
    if !sent_folder {
        let label = Dept {
            department: department.to_string(),
        };
        metrics.messages_seen.get_or_create(&label).inc();
    }
}

/// Logs `outcome` of the message `uid` of `department` and counts it; returns whom to wake.
pub fn report(metrics: &Metrics, department: &str, uid: u32, outcome: &Outcome) -> Wake {
    let dept = department;
    match outcome {
        Outcome::Opened(case) => {
            match &case.no_receipt {
                None => {
                    tracing::info!(department = %dept, uid, case = %case.number, category = case.category.key(), language = case.language.code(), officer = %case.officer.email, "new case; receipt queued")
                }
                Some(why) => {
                    tracing::info!(department = %dept, uid, case = %case.number, category = case.category.key(), language = case.language.code(), officer = %case.officer.email, "new case; no receipt ({why})")
                }
            }
            metrics.case_opened(dept);
            if let Some(why) = &case.flagged {
                tracing::warn!(department = %dept, uid, case = %case.number, flagged = %why, "case flagged for a person");
            }
            Wake {
                outbox: true,
                schedule: true,
            }
        }
        Outcome::Answered(case) => {
            tracing::info!(department = %dept, uid, case = %case, "staff answered the case");
            Wake::default()
        }
        Outcome::Attached(case) => {
            tracing::info!(department = %dept, uid, case = %case, "follow-up attached to case; no receipt");
            // It may have queued mail (the officer told of a bounced receipt).
            Wake {
                outbox: true,
                schedule: true,
            }
        }
        Outcome::Ignored(reason) => {
            let ignored = Ignored {
                department: dept.to_string(),
                reason: reason.code.to_string(),
            };
            metrics.ignored.get_or_create(&ignored).inc();
            tracing::info!(department = %dept, uid, reason = %reason, "no receipt");
            Wake::default()
        }
        Outcome::Copy(Some(case)) => {
            tracing::info!(department = %dept, uid, case = %case, "a mail whose sending was interrupted arrived in the department mailbox: recorded as sent");
            Wake::default()
        }
        Outcome::Copy(None) => {
            tracing::debug!(department = %dept, uid, "copy of a mail kvittens sent");
            Wake::default()
        }
        Outcome::AlreadyHandled => {
            tracing::debug!(department = %dept, uid, "handled before");
            Wake::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::decide::Reason;

    #[test]
    fn an_ignored_mail_is_counted_by_reason_and_wakes_nobody() {
        let metrics = Metrics::new();
        let ignored = Outcome::Ignored(Reason {
            code: "automatic",
            detail: "Auto-Submitted: auto-replied".into(),
        });
        assert_eq!(report(&metrics, "bygg", 7, &ignored), Wake::default());
        let label = Ignored {
            department: "bygg".into(),
            reason: "automatic".into(),
        };
        assert_eq!(metrics.ignored.get_or_create(&label).get(), 1);
    }

    #[test]
    fn a_follow_up_wakes_the_sender_and_the_schedule_and_a_copy_nobody() {
        let metrics = Metrics::new();
        let both = Wake {
            outbox: true,
            schedule: true,
        };
        let attached = Outcome::Attached("BYGG-2026-0001".into());
        assert_eq!(report(&metrics, "bygg", 1, &attached), both);
        let copy = Outcome::Copy(Some("BYGG-2026-0001".into()));
        assert_eq!(report(&metrics, "bygg", 2, &copy), Wake::default());
    }

    #[test]
    fn only_the_inbox_counts_as_seen() {
        let metrics = Metrics::new();
        seen(&metrics, "bygg", false);
        seen(&metrics, "bygg", true);
        let label = Dept {
            department: "bygg".into(),
        };
        assert_eq!(metrics.messages_seen.get_or_create(&label).get(), 1);
    }
}
