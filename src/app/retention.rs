//! Retention: how long an answered case is kept before it is removed with everything that
//! hangs on it. The rule (`[daemon] retention`) serves the data-minimisation principle of
//! GDPR art. 5.1 c; the municipality's own gallringsbeslut sets the length.
//!
//! The marks that keep a message from acting twice go too: with their case, and by age
//! ([`MARK_AGE`]) for the marks of mail that opened none. A re-read of a mailbox (after a
//! UIDVALIDITY change) then starts after the newest mark removed ([`Engine::reread_since`]),
//! so that pruning never lets a message send a second receipt.

use crate::app::engine::Engine;
use crate::app::error::AppError;
use crate::model::State;
use crate::store::{Pruned, StoreError};
use chrono::{DateTime, Utc};
use std::collections::HashSet;

/// How long a "handled" mark is kept. Within one UIDVALIDITY the mailbox cursor is past a
/// message within seconds, so a mark guards only against reading it again after a crash or
/// in a second mailbox; 90 days is far beyond both, and beyond any `backfill` in use, so a
/// re-read after a UIDVALIDITY change reaches back as far as it did before pruning existed.
pub const MARK_AGE: chrono::Duration = chrono::Duration::days(90);

/// How many days of daily receipt counts are kept: the cap counts today only (on the
/// department's calendar, which may be a day off UTC), so yesterday's is the oldest needed.
const RATE_DAYS: i64 = 2;

/// Answered and closed cases whose last event is older than `retention` are removed (or only
/// listed, with `dry_run`), with their "handled" marks. Returns their numbers.
///
/// # Errors
/// When the store fails.
pub fn purge(
    engine: &Engine,
    retention: crate::model::span::Span,
    now: chrono::DateTime<Utc>,
    dry_run: bool,
) -> Result<Vec<String>, AppError> {
    let cutoff = cutoff(retention, now);
    let mut old = Vec::new();
    engine.store.for_each_case(&mut |c| {
        let last = c.events.last().map_or(c.received, |e| e.at);
        if c.state != State::Open && last < cutoff {
            old.push(c.number);
        }
    })?;
    if !dry_run {
        for number in &old {
            engine.store.remove_case(number)?;
        }
        let purged: HashSet<String> = old.iter().cloned().collect();
        engine.prune_marks_of(&purged, DateTime::<Utc>::MIN_UTC, now)?;
    }
    Ok(old)
}

/// What is older than this goes under `retention` (working days counted as 7/5 calendar days,
/// rounded up: retention needs no calendar's precision).
pub fn cutoff(
    retention: crate::model::span::Span,
    now: chrono::DateTime<Utc>,
) -> chrono::DateTime<Utc> {
    match retention {
        crate::model::span::Span::Calendar(secs) => now - chrono::Duration::seconds(secs),
        crate::model::span::Span::WorkingDays(n) => {
            now - chrono::Duration::days(i64::from(n) * 7 / 5 + 1)
        }
    }
}

impl Engine {
    /// Removes the "handled" marks older than [`MARK_AGE`] and the daily receipt counts of
    /// days before yesterday (housekeeping, once a day).
    ///
    /// # Errors
    /// When the store fails.
    pub fn prune_marks(&self, now: DateTime<Utc>) -> Result<Pruned, StoreError> {
        self.prune_marks_of(&HashSet::new(), now - MARK_AGE, now)
    }

    /// Removes the marks written before `before` and those of the cases in `purged`, and the
    /// daily receipt counts of days before yesterday.
    fn prune_marks_of(
        &self,
        purged: &HashSet<String>,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Pruned, StoreError> {
        let rates_before = (now - chrono::Duration::days(RATE_DAYS)).date_naive();
        self.store.prune_marks(before, purged, rates_before)
    }

    /// Where a re-read of the folder `place` (the department id, or `<id>/sent`) must start
    /// at the earliest: after the newest "handled" mark removed from it, since mail from
    /// before has lost the mark that kept it from acting twice. None when none was removed.
    /// The watcher reads a mailbox anew after a UIDVALIDITY change (RFC 3501 §2.3.1.1) from
    /// the later of this and `backfill`.
    ///
    /// # Errors
    /// When the store fails.
    pub fn reread_since(&self, place: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.store.horizon(place)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::key;
    use crate::testkit::Sample;

    #[test]
    fn a_purged_case_takes_its_marks_and_moves_the_reread_horizon() {
        let dir = tempfile::tempdir().unwrap();
        let (e, store) = Sample::default().engine(dir.path());
        crate::store::tests::open(&store, 1, "m1@x");
        e.store.mark_handled(&key(2), "ignored: automatic").unwrap();
        assert_eq!(e.reread_since("bygg").unwrap(), None);
        e.update_case("BMN-2026-0001", |c| {
            c.state = State::Closed;
            Ok(Default::default())
        })
        .unwrap();
        let later = Utc::now() + chrono::Duration::days(400);
        let span = crate::model::span::Span::Calendar(86_400);
        let gone = purge(&e, span, later, false).unwrap();
        assert_eq!(gone, ["BMN-2026-0001"]);
        assert!(!e.store.was_handled(&key(1)).unwrap());
        assert!(e.store.case_of_message("m1@x").unwrap().is_none());
        let since = e.reread_since("bygg").unwrap().expect("a horizon");
        assert!(since <= Utc::now() + chrono::Duration::seconds(1));
        // The mark of mail without a case stays until it is old.
        assert!(e.store.was_handled(&key(2)).unwrap());
        e.prune_marks(Utc::now()).unwrap();
        assert!(e.store.was_handled(&key(2)).unwrap(), "pruned young");
        e.prune_marks(Utc::now() + MARK_AGE + chrono::Duration::minutes(1))
            .unwrap();
        assert!(!e.store.was_handled(&key(2)).unwrap());
    }
}
