//! The one retry schedule of the mail servers, for the IMAP watchers' reconnects and the
//! sender's SMTP retries alike: exponential from 1 s, doubling, capped at 20 s, each wait
//! stretched by backon's jitter — a random 0–100 % more, so a wait of step `s` lies in
//! `[s, 2s)` — so that the watchers of a thousand departments do not knock at the same moment
//! after an outage; and, after a refused login, [`LOGIN_BACKOFF`] (15 min) instead, since
//! retrying a wrong password every minute locks the account.
//!
//! The cap keeps the promise of a server's return: the longest wait is under [`LONGEST`]
//! (40 s), and the IMAP logins that follow are spaced by the login gate
//! ([`crate::net::imap::LoginGate`]), so every mailbox is watched again within a minute of
//! the server's return (1 000 mailboxes with their Sent folders at the default 200 logins a
//! second take 10 s more).

use crate::net::diagnose::{Problem, LOGIN_BACKOFF};
use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use std::time::Duration;

/// The first step after a failure (the wait is 1–2 s).
pub const INITIAL: Duration = Duration::from_secs(1);

/// The largest step (the wait is 20–40 s).
pub const CAP: Duration = Duration::from_secs(20);

/// No wait of the schedule is this long or longer: the cap with its full jitter.
pub const LONGEST: Duration = Duration::from_secs(40);

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
    /// A fresh schedule: the next wait is [`INITIAL`] plus its jitter.
    pub fn new() -> Backoff {
        let schedule = ExponentialBuilder::default()
            .with_min_delay(INITIAL)
            .with_max_delay(CAP)
            .with_factor(2.0)
            .with_jitter()
            // Each schedule its own seed: without backon's `std` feature every schedule starts
            // from the same fixed seed, and a thousand watchers would jitter in lockstep.
            .with_jitter_seed(rand::random())
            .without_max_times()
            .build();
        Backoff { schedule }
    }

    /// The server answered: the next failure waits [`INITIAL`] (jittered) again.
    pub fn reset(&mut self) {
        *self = Backoff::new();
    }

    /// How long to wait after `problem`: [`LOGIN_BACKOFF`] for a refused login (which does not
    /// advance the schedule), else the schedule's next step with its jitter.
    pub fn after(&mut self, problem: Option<&Problem>) -> Duration {
        if problem.is_some_and(Problem::is_refused_login) {
            return LOGIN_BACKOFF;
        }
        // Never `None`: the schedule has no limit of tries.
        self.schedule.next().unwrap_or(CAP)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `d` is step `nominal` (seconds) with backon's jitter: `[nominal, 2·nominal)`.
    fn within(d: Duration, nominal: u64) -> bool {
        let n = Duration::from_secs(nominal);
        d >= n && d < n * 2
    }

    #[test]
    fn doubles_from_one_second_to_twenty_with_up_to_as_much_again_of_jitter() {
        let mut b = Backoff::new();
        for nominal in [1, 2, 4, 8, 16, 20, 20, 20, 20] {
            let d = b.after(None);
            assert!(within(d, nominal), "{d:?} is not {nominal} s + 0–100 %");
            assert!(d < LONGEST);
        }
        b.reset();
        assert!(within(b.after(None), 1));
    }

    #[test]
    fn the_watchers_of_many_mailboxes_spread_out_after_an_outage() {
        // A thousand watchers fail at the same moment: their first retries spread over the
        // whole second of jitter rather than landing together.
        let mut waits: Vec<u128> = (0..1000)
            .map(|_| Backoff::new().after(None).as_millis())
            .collect();
        waits.sort_unstable();
        waits.dedup();
        assert!(waits.len() > 500, "only {} distinct waits", waits.len());
        assert!(waits.first().is_some_and(|w| *w < 1100));
        assert!(waits.last().is_some_and(|w| *w > 1900));
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
