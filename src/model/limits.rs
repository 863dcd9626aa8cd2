//! The limits the config sets on what kvittens sends: when a sender counts as a machine (the loop
//! breaker, RFC 3834 §2's mail loops) and how much the SMTP account may send. Named by the
//! config, applied by [`crate::rules::loopbreak`] and [`crate::rules::budget`].

use chrono::{DateTime, Duration, Utc};

/// When a sender counts as a machine (`[daemon] loop_*` keys).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoopRule {
    /// A new thread from a sender this soon after a receipt to it is a quick answer
    /// (`loop_window`, default 120 s: people read and write slower than that).
    pub window: Duration,
    /// This many quick answers in a row make the sender a machine (`loop_answers`, default 3;
    /// 0 turns the breaker off).
    pub answers: u32,
    /// How long a machine gets no receipts (`loop_hold`, default 24 h); its mail still opens
    /// cases, flagged.
    pub hold: Duration,
}

impl Default for LoopRule {
    fn default() -> Self {
        LoopRule {
            window: Duration::seconds(120),
            answers: 3,
            hold: Duration::hours(24),
        }
    }
}

impl LoopRule {
    /// Why `sender` gets no receipt until `until`, in the words of the case's flag and of
    /// `explain`.
    pub fn held(&self, sender: &str, until: DateTime<Utc>) -> String {
        format!(
            "{sender} answered {} receipts in a row within {} s each with a new thread: held as a machine until {} (no receipts to it meanwhile)",
            self.answers,
            self.window.num_seconds(),
            until.format("%Y-%m-%d %H:%M UTC")
        )
    }
}

/// When officer notices are gathered (`[daemon] notice_burst`): in a burst — more than `cases`
/// new cases for one officer within `within` — the officer gets one mail listing the new cases
/// rather than one mail a case, so that the residents' receipts are not queued behind a wall of
/// staff mail (after an outage, or a mailbox that filled while kvittens was down).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoticeBurst {
    /// More new cases than this for one officer within `within` is a burst (`cases`, default
    /// 10; 0 turns gathering off).
    pub cases: u32,
    /// The window (`within`, default 5 minutes); also how long a gathered mail collects before
    /// it goes.
    pub within: Duration,
}

impl Default for NoticeBurst {
    fn default() -> Self {
        NoticeBurst {
            cases: 10,
            within: Duration::minutes(5),
        }
    }
}

/// `[smtp] max_per_minute` and `max_per_day`; `None` is no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Messages (SMTP transactions) in any 60 seconds.
    pub per_minute: Option<u32>,
    /// Recipients (every RCPT TO, the copy included) in any 24 hours.
    pub per_day: Option<u64>,
}

impl Limits {
    /// Whether there is any limit at all.
    pub fn any(&self) -> bool {
        self.per_minute.is_some() || self.per_day.is_some()
    }
}
