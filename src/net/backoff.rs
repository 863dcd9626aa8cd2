//! The one retry schedule of the mail servers, for the IMAP watchers' reconnects and the
//! sender's SMTP retries alike: exponential from 1 s, doubling, capped at 60 s, each wait
//! jittered by ±25 % so that the watchers of many departments do not knock at the same moment
//! after an outage; and, after a refused login, [`LOGIN_BACKOFF`] (15 min) instead, since
//! retrying a wrong password every minute locks the account.
//!
//! The schedule itself is backon's [`ExponentialBuilder`]; its own jitter adds between 0 and
//! 100 % (never less), so the ±25 % kvittens has always used is applied here instead.

use crate::net::diagnose::{Problem, LOGIN_BACKOFF};
use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use std::time::Duration;

/// The first wait after a failure.
pub const INITIAL: Duration = Duration::from_secs(1);

/// The longest wait between two tries (before jitter).
pub const CAP: Duration = Duration::from_secs(60);

/// Waits between tries of a server that is down, reset when it works again.
#[derive(Debug)]
pub struct Backoff {
    schedule: ExponentialBackoff,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

impl Backoff {
    /// A fresh schedule: the next wait is [`INITIAL`].
    pub fn new() -> Backoff {
        let schedule = ExponentialBuilder::default()
            .with_min_delay(INITIAL)
            .with_max_delay(CAP)
            .with_factor(2.0)
            .without_max_times()
            .build();
        Backoff { schedule }
    }

    /// The server answered: the next failure waits [`INITIAL`] again.
    pub fn reset(&mut self) {
        *self = Backoff::new();
    }

    /// How long to wait after `problem`: [`LOGIN_BACKOFF`] for a refused login (which does not
    /// advance the schedule), else the schedule's next step, jittered by ±25 %.
    pub fn after(&mut self, problem: Option<&Problem>) -> Duration {
        if problem.is_some_and(Problem::is_refused_login) {
            return LOGIN_BACKOFF;
        }
        self.next_jittered()
    }

    /// The schedule's next step, jittered by ±25 %.
    fn next_jittered(&mut self) -> Duration {
        // Never `None`: the schedule has no limit of tries.
        let step = self.schedule.next().unwrap_or(CAP);
        step.mul_f64(0.75 + rand::random::<f64>() * 0.5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn within(d: Duration, nominal: u64) -> bool {
        let n = Duration::from_secs(nominal);
        d >= n.mul_f64(0.75) && d <= n.mul_f64(1.25)
    }

    #[test]
    fn doubles_from_one_second_to_a_minute_with_a_quarter_of_jitter() {
        let mut b = Backoff::new();
        for nominal in [1, 2, 4, 8, 16, 32, 60, 60, 60] {
            let d = b.after(None);
            assert!(within(d, nominal), "{d:?} is not {nominal} s ± 25 %");
        }
        b.reset();
        assert!(within(b.after(None), 1));
    }

    #[test]
    fn a_refused_login_waits_fifteen_minutes_and_keeps_the_schedule() {
        let mut b = Backoff::new();
        let refused = Problem::LoginRefused {
            by: "imap.kommun.se".into(),
            user: "bygg".into(),
        };
        assert_eq!(b.after(Some(&refused)), LOGIN_BACKOFF);
        assert!(within(b.after(Some(&Problem::Other("x".into()))), 1));
    }
}
