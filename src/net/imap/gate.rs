//! The login gate: one cap on IMAP logins per second across every watched mailbox, at start
//! and at every reconnect. A thousand department mailboxes (two sessions each, with the Sent
//! folder) logging in at once would be a thousand forks of the server's login and mail
//! processes in the same instant — after a server restart, exactly when it is least able to
//! take them. The gate spaces the logins evenly instead, first come first served.
//!
//! Built on tokio's own clock rather than a rate-limiting crate: one shared "next free
//! moment" behind a mutex is all a fixed spacing needs, and tokio's timer is the one the
//! watchers already wait on (paused and advanced by the tests like every other wait), where
//! `governor`'s async wait runs on `futures-timer`'s own thread.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

pub use crate::config::DEFAULT_LOGINS_PER_SECOND;

/// Spaces IMAP logins `1 / rate` seconds apart across every watcher that shares it (clones
/// share one gate).
#[derive(Clone, Debug)]
pub struct LoginGate {
    /// The spacing between two logins.
    every: Duration,
    /// The first moment the next login may start.
    next: Arc<Mutex<Option<Instant>>>,
}

impl LoginGate {
    /// A gate letting `per_second` logins through each second (at least one).
    pub fn new(per_second: u32) -> LoginGate {
        LoginGate {
            every: Duration::from_secs(1) / per_second.max(1),
            next: Arc::new(Mutex::new(None)),
        }
    }

    /// The spacing between two logins.
    pub fn spacing(&self) -> Duration {
        self.every
    }

    /// Waits for this login's turn: at once when the last login was long enough ago, else at
    /// the next free moment, which it takes. A caller that gives up waiting (the daemon stops)
    /// leaves its moment unused.
    pub async fn wait(&self) {
        let turn = {
            let mut next = self
                .next
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let now = Instant::now();
            let turn = next.map_or(now, |n| n.max(now));
            *next = Some(turn + self.every);
            turn
        };
        tokio::time::sleep_until(turn).await;
    }
}

impl Default for LoginGate {
    fn default() -> Self {
        LoginGate::new(DEFAULT_LOGINS_PER_SECOND)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn logins_are_spaced_evenly_across_every_watcher() {
        let gate = LoginGate::new(100);
        assert_eq!(gate.spacing(), Duration::from_millis(10));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..1000 {
            let gate = gate.clone();
            tasks.push(tokio::spawn(async move {
                gate.wait().await;
                Instant::now()
            }));
        }
        let mut at = Vec::new();
        for t in tasks {
            at.push(t.await.unwrap() - start);
        }
        at.sort();
        // The first at once, the thousandth 9.99 s later; never two in one spacing.
        assert_eq!(at[0], Duration::ZERO);
        assert_eq!(at[999], Duration::from_millis(9990));
        for pair in at.windows(2) {
            assert_eq!(pair[1] - pair[0], Duration::from_millis(10));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_gate_lets_a_login_through_at_once() {
        let gate = LoginGate::new(2);
        gate.wait().await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        let before = Instant::now();
        gate.wait().await;
        assert_eq!(Instant::now(), before, "no wait after a quiet spell");
        gate.wait().await;
        assert_eq!(Instant::now() - before, Duration::from_millis(500));
    }

    #[test]
    fn a_rate_of_zero_is_one_a_second_not_a_division_by_zero() {
        assert_eq!(LoginGate::new(0).spacing(), Duration::from_secs(1));
    }
}
