//! The sending account's budget: providers limit how much one mailbox may send, and a mail over
//! the limit is refused (Exchange Online: 30 messages a minute and 10 000 recipients a day per
//! sending mailbox, "Exchange Online limits", sending limits). kvittens stays under the limits
//! instead: the outbox waits until the budget allows the next mail, and nothing is dropped.
//!
//! Both windows are rolling, as the providers count them: the minute is the last 60 seconds
//! (messages, one per SMTP transaction), the day the last 24 hours (recipients, so a receipt
//! with its copy to the department mailbox counts two). The clock is passed in, so the limiter
//! is tested without waiting.

use crate::model::limits::Limits;
use chrono::{DateTime, Utc};
use std::collections::VecDeque;
use std::time::Duration;

/// One mail sent (or reserved to be sent): when, and to how many recipients.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Spent {
    /// When it was handed to the server.
    pub at: DateTime<Utc>,
    /// How many recipients it had.
    pub recipients: u64,
}

const MINUTE: i64 = 60;
const DAY: i64 = 24 * 60 * 60;

/// What the account has spent in the last 24 hours, oldest first.
#[derive(Debug, Default)]
pub struct Budget {
    limits: Limits,
    spent: VecDeque<Spent>,
}

impl Budget {
    /// A budget under `limits`, with what was spent before (read from the store, so that a
    /// restart does not start a fresh day).
    pub fn new(limits: Limits, mut history: Vec<Spent>) -> Budget {
        history.sort_by_key(|s| s.at);
        Budget {
            limits,
            spent: history.into(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// How long a mail to `recipients` recipients must wait at `now`; zero when it may go.
    /// A mail with more recipients than a whole day allows goes once the day is empty, rather
    /// than never.
    pub fn wait(&mut self, now: DateTime<Utc>, recipients: u64) -> Duration {
        self.forget(now);
        let mut until = now;
        if let Some(max) = self.limits.per_minute {
            let minute_ago = now - chrono::Duration::seconds(MINUTE);
            let recent: Vec<&Spent> = self.spent.iter().filter(|s| s.at > minute_ago).collect();
            if recent.len() >= max.max(1) as usize {
                // The mail may go once enough of the last minute's have aged out of it.
                let oldest_needed = recent[recent.len() - max.max(1) as usize];
                until = until.max(oldest_needed.at + chrono::Duration::seconds(MINUTE));
            }
        }
        if let Some(max) = self.limits.per_day {
            let mut total: u64 = self.spent.iter().map(|s| s.recipients).sum();
            let mut aged = self.spent.iter();
            while total > 0 && total + recipients > max {
                // Spent entries leave the day in order; wait for as many as the mail needs.
                let Some(s) = aged.next() else { break };
                total -= s.recipients;
                until = until.max(s.at + chrono::Duration::seconds(DAY));
            }
        }
        (until - now).to_std().unwrap_or_default()
    }

    /// Counts a mail handed to the server at `at`.
    pub fn spend(&mut self, at: DateTime<Utc>, recipients: u64) -> Spent {
        let spent = Spent { at, recipients };
        self.spent.push_back(spent);
        spent
    }

    /// Gives back what `spent` took: the mail did not go after all (server unavailable).
    pub fn refund(&mut self, spent: Spent) {
        if let Some(i) = self.spent.iter().rposition(|s| *s == spent) {
            self.spent.remove(i);
        }
    }

    /// Recipients counted in the 24 hours before `now`.
    pub fn day_total(&mut self, now: DateTime<Utc>) -> u64 {
        self.forget(now);
        self.spent.iter().map(|s| s.recipients).sum()
    }

    /// Drops what is older than a day.
    fn forget(&mut self, now: DateTime<Utc>) {
        let day_ago = now - chrono::Duration::seconds(DAY);
        while self.spent.front().is_some_and(|s| s.at <= day_ago) {
            self.spent.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap() + chrono::Duration::seconds(secs)
    }

    #[test]
    fn no_limits_never_wait() {
        let mut b = Budget::new(Limits::default(), vec![]);
        for i in 0..1000 {
            assert_eq!(b.wait(t(0), 2), Duration::ZERO);
            b.spend(t(i / 100), 2);
        }
    }

    #[test]
    fn thirty_a_minute_then_the_thirty_first_waits_for_the_first_to_age_out() {
        let limits = Limits {
            per_minute: Some(30),
            per_day: None,
        };
        let mut b = Budget::new(limits, vec![]);
        // 30 mails, one every second.
        for i in 0..30 {
            assert_eq!(b.wait(t(i), 2), Duration::ZERO, "mail {i}");
            b.spend(t(i), 2);
        }
        // At 30 s the first went 30 s ago: the 31st waits until it is a minute old.
        assert_eq!(b.wait(t(30), 2), Duration::from_secs(30));
        assert_eq!(b.wait(t(59), 2), Duration::from_secs(1));
        assert_eq!(b.wait(t(60), 2), Duration::ZERO);
        b.spend(t(60), 2);
        // The next waits for the second to age out.
        assert_eq!(b.wait(t(60), 2), Duration::from_secs(1));
    }

    #[test]
    fn a_burst_waits_a_whole_minute() {
        let limits = Limits {
            per_minute: Some(3),
            per_day: None,
        };
        let mut b = Budget::new(limits, vec![]);
        for _ in 0..3 {
            b.spend(t(0), 1);
        }
        assert_eq!(b.wait(t(0), 1), Duration::from_secs(60));
        assert_eq!(b.wait(t(45), 1), Duration::from_secs(15));
    }

    #[test]
    fn the_day_counts_recipients_and_a_receipt_with_its_copy_is_two() {
        let limits = Limits {
            per_minute: None,
            per_day: Some(10_000),
        };
        let mut b = Budget::new(limits, vec![]);
        // 4 999 receipts with copies: 9 998 recipients.
        for i in 0..4_999 {
            b.spend(t(i), 2);
        }
        assert_eq!(b.day_total(t(5_000)), 9_998);
        assert_eq!(b.wait(t(5_000), 2), Duration::ZERO);
        b.spend(t(5_000), 2);
        // 10 000 reached: the next waits until the first receipt is a day old.
        assert_eq!(
            b.wait(t(5_001), 2),
            Duration::from_secs((DAY - 5_001) as u64)
        );
        // A mail to three needs two receipts (four recipients) to age out.
        assert_eq!(
            b.wait(t(5_001), 3),
            Duration::from_secs((DAY + 1 - 5_001) as u64)
        );
        assert_eq!(b.wait(t(DAY), 2), Duration::ZERO);
    }

    #[test]
    fn the_day_survives_a_restart() {
        let limits = Limits {
            per_minute: Some(30),
            per_day: Some(4),
        };
        let history = vec![
            Spent {
                at: t(10),
                recipients: 2,
            },
            Spent {
                at: t(0),
                recipients: 2,
            },
            // Older than a day: forgotten.
            Spent {
                at: t(-DAY),
                recipients: 2,
            },
        ];
        let mut b = Budget::new(limits, history);
        assert_eq!(b.day_total(t(20)), 4);
        assert_eq!(b.wait(t(20), 1), Duration::from_secs((DAY - 20) as u64));
    }

    #[test]
    fn a_mail_larger_than_the_day_goes_once_the_day_is_empty() {
        let limits = Limits {
            per_minute: None,
            per_day: Some(2),
        };
        let mut b = Budget::new(limits, vec![]);
        assert_eq!(b.wait(t(0), 5), Duration::ZERO);
        b.spend(t(0), 5);
        assert_eq!(b.wait(t(1), 5), Duration::from_secs((DAY - 1) as u64));
    }

    #[test]
    fn a_refund_gives_the_budget_back() {
        let limits = Limits {
            per_minute: Some(1),
            per_day: None,
        };
        let mut b = Budget::new(limits, vec![]);
        let s = b.spend(t(0), 2);
        assert_eq!(b.wait(t(1), 2), Duration::from_secs(59));
        b.refund(s);
        assert_eq!(b.wait(t(1), 2), Duration::ZERO);
    }
}
