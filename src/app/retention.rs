//! Retention: how long an answered case is kept before it is removed with everything that
//! hangs on it. The rule (`[daemon] retention`) serves the data-minimisation principle of
//! GDPR art. 5.1 c; the municipality's own gallringsbeslut sets the length.

use crate::app::engine::Engine;
use crate::model::State;
use chrono::Utc;

/// Answered and closed cases whose last event is older than `retention` are removed (or only
/// listed, with `dry_run`). Returns their numbers.
pub fn purge(
    engine: &Engine,
    retention: crate::model::span::Span,
    now: chrono::DateTime<Utc>,
    dry_run: bool,
) -> anyhow::Result<Vec<String>> {
    let cutoff = cutoff(retention, now);
    let mut old = Vec::new();
    engine.store.for_each_case(|c| {
        let last = c.events.last().map_or(c.received, |e| e.at);
        if c.state != State::Open && last < cutoff {
            old.push(c.number);
        }
    })?;
    if !dry_run {
        for number in &old {
            engine.store.remove_case(number)?;
        }
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
