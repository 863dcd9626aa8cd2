//! When an officer's new-case notices are gathered into one mail (`[daemon] notice_burst`).
//!
//! In a burst — after an outage, or a mailbox that filled while kvittens was down — every new
//! case sends a receipt to its resident and a notice to its officer. The receipts go first (the
//! outbox's rank), but a notice a case still doubles the mail the servers must deliver, and an
//! officer with 200 mails in a row reads none of them. So past `cases` new cases for one officer
//! within `within`, the notices are held and go as one mail listing the new cases, `within`
//! after the first was held. Outside a burst each notice goes at once, as before. Pure: the
//! store keeps an officer's [`Burst`] between cases, `app` applies what this says.

use crate::model::limits::NoticeBurst;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What the rule remembers of one officer between new cases (stored per department and
/// officer address).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Burst {
    /// When the officer's latest new cases opened, oldest first: at most `cases` of them, which
    /// is all the rule needs to tell whether one more makes a burst.
    pub recent: Vec<DateTime<Utc>>,
    /// While notices are held: when their gathered mail goes (a schedule entry is due then).
    pub gathering: Option<DateTime<Utc>>,
}

/// What becomes of a new case's officer notice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    /// Sent at once, on its own (no burst, or gathering is off).
    AtOnce,
    /// Held for the officer's gathered mail, which goes at `due`.
    Gather {
        /// When the gathered mail goes.
        due: DateTime<Utc>,
        /// Whether this notice starts the gathering (then a schedule entry must be made for
        /// `due`); later ones join it.
        starts: bool,
    },
}

/// A new case for the officer at `now`: what becomes of its notice, and the officer's
/// [`Burst`] after it. A burst is more than `rule.cases` new cases (this one counted) opened
/// within `rule.within` up to `now`.
pub fn on_new_case(rule: &NoticeBurst, before: &Burst, now: DateTime<Utc>) -> (Notice, Burst) {
    if rule.cases == 0 {
        return (Notice::AtOnce, before.clone());
    }
    let since = now - rule.within;
    let mut recent: Vec<DateTime<Utc>> = (before.recent.iter().copied())
        .filter(|t| *t > since && *t <= now)
        .collect();
    let burst = recent.len() + 1 > rule.cases as usize;
    recent.push(now);
    let keep = recent.len().saturating_sub(rule.cases as usize);
    recent.drain(..keep);
    let notice = match (burst, before.gathering) {
        (false, _) => Notice::AtOnce,
        (true, Some(due)) => Notice::Gather { due, starts: false },
        (true, None) => Notice::Gather {
            due: now + rule.within,
            starts: true,
        },
    };
    let gathering = match notice {
        Notice::Gather { due, .. } => Some(due),
        Notice::AtOnce => before.gathering,
    };
    (notice, Burst { recent, gathering })
}

/// The officer's [`Burst`] once the gathered mail has gone: the recent cases still count,
/// nothing is held.
pub fn gathered(before: &Burst) -> Burst {
    Burst {
        recent: before.recent.clone(),
        gathering: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn rule(cases: u32) -> NoticeBurst {
        NoticeBurst {
            cases,
            within: Duration::minutes(5),
        }
    }

    /// Feeds new cases at `times` (seconds after `t0`); what became of each notice.
    fn run(rule: &NoticeBurst, times: &[i64]) -> (Vec<Notice>, Burst) {
        let t0 = DateTime::<Utc>::from_timestamp(1_780_000_000, 0).unwrap_or_default();
        let mut state = Burst::default();
        let mut out = Vec::new();
        for s in times {
            let (n, after) = on_new_case(rule, &state, t0 + Duration::seconds(*s));
            assert!(after.recent.len() <= rule.cases as usize);
            out.push(n);
            state = after;
        }
        (out, state)
    }

    #[test]
    fn more_than_the_number_within_the_window_is_a_burst() {
        let t0 = DateTime::<Utc>::from_timestamp(1_780_000_000, 0).unwrap_or_default();
        let times: Vec<i64> = (0..15).collect();
        let (notices, state) = run(&rule(10), &times);
        // The first ten go at once; the eleventh starts the gathering, due five minutes on.
        assert!(notices[..10].iter().all(|n| *n == Notice::AtOnce));
        let due = t0 + Duration::seconds(10) + Duration::minutes(5);
        assert_eq!(notices[10], Notice::Gather { due, starts: true });
        for n in &notices[11..] {
            assert_eq!(*n, Notice::Gather { due, starts: false });
        }
        assert_eq!(state.gathering, Some(due));
        // Sent: nothing held, the recent cases remembered.
        let after = gathered(&state);
        assert_eq!((after.gathering, after.recent.len()), (None, 10));
    }

    #[test]
    fn exactly_the_number_or_spread_out_is_no_burst() {
        let ten: Vec<i64> = (0..10).collect();
        assert!(run(&rule(10), &ten).0.iter().all(|n| *n == Notice::AtOnce));
        // Eleven, but one every 31 s: never more than ten within five minutes.
        let spread: Vec<i64> = (0..11).map(|i| i * 31).collect();
        assert!(run(&rule(10), &spread)
            .0
            .iter()
            .all(|n| *n == Notice::AtOnce));
        // The burst ends when the window has moved past it.
        let (notices, _) = run(&rule(2), &[0, 1, 2, 400, 401]);
        assert_eq!(notices[3], Notice::AtOnce);
        assert!(matches!(notices[2], Notice::Gather { starts: true, .. }));
        assert_eq!(notices[4], Notice::AtOnce);
    }

    #[test]
    fn a_burst_after_the_gathered_mail_went_starts_a_new_gathering() {
        let t0 = DateTime::<Utc>::from_timestamp(1_780_000_000, 0).unwrap_or_default();
        let r = rule(2);
        let (_, state) = run(&r, &[0, 1, 2]);
        let sent = gathered(&state);
        let (n, after) = on_new_case(&r, &sent, t0 + Duration::seconds(3));
        let due = t0 + Duration::seconds(3) + Duration::minutes(5);
        assert_eq!(n, Notice::Gather { due, starts: true });
        assert_eq!(after.gathering, Some(due));
    }

    #[test]
    fn zero_turns_gathering_off() {
        let times: Vec<i64> = (0..50).collect();
        let (notices, state) = run(&rule(0), &times);
        assert!(notices.iter().all(|n| *n == Notice::AtOnce));
        assert_eq!(state, Burst::default());
    }
}
