//! Removing marks that have done their work: "handled" marks (`handled/*`) and the daily
//! receipt counts (`rate/*`) would otherwise grow for ever.
//!
//! A "handled" mark stops a message read again from acting twice. Within one UIDVALIDITY the
//! cursor is far past an old message, so an old mark guards nothing; but after a UIDVALIDITY
//! change a mailbox is read anew, and then only the kept marks (and the thread index of the
//! kept cases) stop second receipts. So every removal moves the folder's *horizon* — the time
//! after the newest mark removed — and a re-read must not reach back past it
//! ([`Store::horizon`]).

use super::kv::Batch;
use super::{keys, Mark, Store, StoreError};
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::{HashMap, HashSet};

/// What a pruning removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// "Handled" marks.
    pub marks: usize,
    /// Daily receipt counts.
    pub rates: usize,
}

impl Store {
    /// Removes the "handled" marks written before `before`, and those of the cases in
    /// `purged` (removed by retention), moving each folder's horizon past the newest mark
    /// removed; then the daily receipt counts of days before `rates_before`. On disk when this
    /// returns.
    ///
    /// # Errors
    /// When the store cannot be read or written.
    pub fn prune_marks(
        &self,
        before: DateTime<Utc>,
        purged: &HashSet<String>,
        rates_before: NaiveDate,
    ) -> Result<Pruned, StoreError> {
        let mut gone = Vec::new();
        let mut newest: HashMap<String, DateTime<Utc>> = HashMap::new();
        for kv in self.scan_prefix(keys::prefix::HANDLED.as_bytes()) {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            let key = String::from_utf8_lossy(&k).into_owned();
            // A mark that cannot be read guards nothing either; it counts as written now.
            let mark: Option<Mark> = serde_json::from_slice(&v).ok();
            let at = mark.as_ref().map_or_else(Utc::now, |m| m.at);
            let of_purged = mark.as_ref().is_some_and(|m| purged.contains(&m.note));
            if mark.is_some() && at >= before && !of_purged {
                continue;
            }
            if let Some(dept) = keys::handled_department(&key) {
                let n = newest.entry(dept.to_string()).or_insert(at);
                *n = (*n).max(at);
            }
            gone.push(k);
        }
        let mut batch = Batch::new();
        for (dept, at) in &newest {
            let horizon = *at + chrono::Duration::seconds(1);
            if self.horizon(dept)?.is_none_or(|h| h < horizon) {
                let bytes = serde_json::to_vec(&horizon).map_err(|e| self.err(e))?;
                batch.insert(keys::horizon(dept).into_bytes(), bytes);
            }
        }
        for k in &gone {
            batch.remove(k.clone());
        }
        let rates = self.old_rates(rates_before)?;
        for k in &rates {
            batch.remove(k.clone());
        }
        self.kv.apply_batch(batch).map_err(|e| self.err(e))?;
        self.flush()?;
        Ok(Pruned {
            marks: gone.len(),
            rates: rates.len(),
        })
    }

    /// The keys of daily receipt counts of days before `before` (a count whose day cannot be
    /// read counts nothing any more either).
    fn old_rates(&self, before: NaiveDate) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut old = Vec::new();
        for kv in self.scan_prefix(keys::prefix::RATE.as_bytes()) {
            let (k, _) = kv.map_err(|e| self.err(e))?;
            if keys::rate_day(&String::from_utf8_lossy(&k)).is_none_or(|d| d < before) {
                old.push(k);
            }
        }
        Ok(old)
    }

    /// The folder's horizon: mail that reached it before this time may have lost its
    /// "handled" mark, so a re-read of the folder (after a UIDVALIDITY change) starts here.
    /// None when no mark of the folder was ever removed.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub fn horizon(&self, place: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.get(&keys::horizon(place))
    }

    /// The "handled" mark of a message.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub fn mark(&self, key: &super::MessageKey) -> Result<Option<Mark>, StoreError> {
        self.get(&key.key())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{key, open};
    use super::*;

    #[test]
    fn old_marks_and_counts_go_and_the_horizon_follows_the_newest_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        open(&store, 1, "m1@x");
        store.mark_handled(&key(2), "ignored").unwrap();
        let written = store.mark(&key(2)).unwrap().unwrap().at;
        let sent = super::super::MessageKey {
            department: "bygg/sent".into(),
            ..key(3)
        };
        store.mark_handled(&sent, "answer").unwrap();
        store.put(&keys::rate("a@x/2026-01-01"), &1u64).unwrap();
        store.put(&keys::rate("a@x/2026-01-03"), &1u64).unwrap();
        assert_eq!(store.horizon("bygg").unwrap(), None);
        let day = "2026-01-02".parse().unwrap();
        // Nothing old enough: only the counts of the day before go (the case's and one more).
        let early = written - chrono::Duration::days(1);
        let p = store.prune_marks(early, &HashSet::new(), day).unwrap();
        assert_eq!(p, Pruned { marks: 0, rates: 2 });
        assert!(store.was_handled(&key(1)).unwrap());
        // The case's mark goes with its case; the ignored mark stays.
        let purged = HashSet::from(["BMN-2026-0001".to_string()]);
        let p = store.prune_marks(early, &purged, day).unwrap();
        assert_eq!(p.marks, 1);
        assert!(!store.was_handled(&key(1)).unwrap());
        assert!(store.was_handled(&key(2)).unwrap());
        let h = store.horizon("bygg").unwrap().unwrap();
        assert!(h > early && h <= Utc::now() + chrono::Duration::seconds(1));
        assert_eq!(store.horizon("bygg/sent").unwrap(), None);
        // By age: everything written before now + 1 minute.
        let later = Utc::now() + chrono::Duration::minutes(1);
        let p = store.prune_marks(later, &HashSet::new(), day).unwrap();
        assert_eq!(p.marks, 2);
        assert!(store.horizon("bygg").unwrap().unwrap() >= h);
        assert!(store.horizon("bygg/sent").unwrap().is_some());
        assert_eq!(store.scan::<u64>(keys::prefix::RATE).unwrap().len(), 1);
    }
}
