//! The loop breaker: a sender that answers kvittens' receipts within seconds, each time with a
//! new thread, is a machine (another help desk's ticket system, an auto-responder that does not
//! say so in its headers). RFC 3834 §2 asks responders not to answer automatic mail, but two
//! responders that each fail to recognise the other answer each other forever, one new case
//! and one receipt per round. The header and sender rules of `decide` catch the machines that
//! say what they are; this catches the rest by their behaviour, with no list. Pure code: the
//! store keeps one [`Record`] per sender address.

use crate::model::limits::LoopRule as Rule;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// What kvittens remembers of one sender for the loop breaker.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// When the last receipt to this sender was queued.
    pub last_receipt: Option<DateTime<Utc>>,
    /// Quick answers in a row so far.
    pub quick: u32,
    /// Until when the sender is held as a machine.
    pub held_until: Option<DateTime<Utc>>,
}

/// What the breaker says about a new thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A receipt may go.
    Free,
    /// The sender became a machine with this thread (tell a person once), held until then.
    Caught(DateTime<Utc>),
    /// The sender is held as a machine until then.
    Held(DateTime<Utc>),
}

impl Record {
    /// The record after a new thread from this sender reached the mailbox at `received`, and
    /// the verdict on it.
    pub fn new_thread(&self, received: DateTime<Utc>, rule: &Rule) -> (Record, Verdict) {
        let mut next = self.clone();
        if let Some(until) = self.held_until.filter(|u| *u > received) {
            return (next, Verdict::Held(until));
        }
        // IMAP INTERNALDATE has whole seconds: a thread from the second the receipt was queued
        // in, or earlier, may have been written before the receipt went (a resident sending
        // several mails at once) and says nothing either way; a later one within the window
        // is a quick answer, a later one after it breaks the row.
        let answer = self
            .last_receipt
            .filter(|t| received.timestamp() > t.timestamp());
        match answer {
            None => return (next, Verdict::Free),
            Some(t) if received - t <= rule.window => next.quick = self.quick + 1,
            Some(_) => next.quick = 0,
        }
        if rule.answers > 0 && next.quick >= rule.answers {
            let until = received + rule.hold;
            next.quick = 0;
            next.held_until = Some(until);
            return (next, Verdict::Caught(until));
        }
        (next, Verdict::Free)
    }

    /// The record after a receipt to this sender was queued at `at`.
    pub fn receipt_queued(&self, at: DateTime<Utc>) -> Record {
        Record {
            last_receipt: Some(at),
            ..self.clone()
        }
    }

    /// Whether the record says nothing any more at `now` (no hold, no receipt within a day):
    /// daily housekeeping removes such records.
    pub fn stale(&self, now: DateTime<Utc>) -> bool {
        let last = self.last_receipt.max(self.held_until);
        last.is_none_or(|t| now - t > Duration::days(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    /// A help desk that answers every receipt within `delay` seconds with a new thread.
    fn run(delay: i64, rounds: usize) -> Vec<Verdict> {
        let rule = Rule::default();
        let mut r = Record::default();
        let mut at = 0;
        let mut out = Vec::new();
        for _ in 0..rounds {
            let (next, v) = r.new_thread(t(at), &rule);
            r = next;
            if v == Verdict::Free {
                r = r.receipt_queued(t(at + 1));
            }
            out.push(v);
            at += 1 + delay;
        }
        out
    }

    #[test]
    fn a_quick_answerer_gets_three_receipts_then_none() {
        let v = run(5, 6);
        assert_eq!(&v[..3], &[Verdict::Free; 3]);
        assert_eq!(v[3], Verdict::Caught(t(3 * 6) + Duration::hours(24)));
        assert!(matches!(v[4], Verdict::Held(_)) && matches!(v[5], Verdict::Held(_)));
    }

    #[test]
    fn a_person_writing_again_later_is_never_held() {
        assert!(run(600, 20).iter().all(|v| *v == Verdict::Free));
    }

    #[test]
    fn a_slow_answer_breaks_the_row() {
        let rule = Rule::default();
        let r = Record {
            last_receipt: Some(t(0)),
            quick: 2,
            held_until: None,
        };
        let (next, v) = r.new_thread(t(121), &rule);
        assert_eq!((next.quick, v), (0, Verdict::Free));
        // A thread that arrived before the receipt went, or in the same second (INTERNALDATE
        // has whole seconds), is no answer to it, and does not break the row either.
        let r = Record {
            last_receipt: Some(t(0) + Duration::milliseconds(500)),
            ..r
        };
        for before in [t(-30), t(0)] {
            let (next, v) = r.new_thread(before, &rule);
            assert_eq!((next.quick, v), (2, Verdict::Free));
        }
        let (_, v) = r.new_thread(t(1), &rule);
        assert!(matches!(v, Verdict::Caught(_)));
    }

    #[test]
    fn the_hold_ends_and_zero_turns_the_breaker_off() {
        let rule = Rule::default();
        let r = Record {
            last_receipt: Some(t(0)),
            quick: 0,
            held_until: Some(t(100)),
        };
        assert_eq!(r.new_thread(t(50), &rule).1, Verdict::Held(t(100)));
        assert_eq!(r.new_thread(t(101), &rule).1, Verdict::Free);
        let off = Rule { answers: 0, ..rule };
        let busy = Record {
            last_receipt: Some(t(0)),
            quick: 50,
            held_until: None,
        };
        assert_eq!(busy.new_thread(t(1), &off).1, Verdict::Free);
    }

    #[test]
    fn records_go_stale_a_day_after_their_last_word() {
        let r = Record::default().receipt_queued(t(0));
        assert!(!r.stale(t(3600)));
        assert!(r.stale(t(86_401)));
        let held = Record {
            held_until: Some(t(86_400)),
            ..r
        };
        assert!(!held.stale(t(86_401)));
        assert!(Record::default().stale(t(0)));
    }
}
