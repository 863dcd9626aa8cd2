//! Daily totals per department ([`crate::model::tally`]): added to in the same transaction as
//! the change they count, read by the report. Kept past `retention` (they name no person);
//! never pruned.

use super::kv::KvTx;
use super::{keys, tx_get, tx_put, Store, StoreError, TxResult};
use crate::model::tally::{DayTally, Tick};
use chrono::NaiveDate;

/// Adds each tick to its department's day in `tx`.
pub(super) fn tx_ticks(tx: &dyn KvTx, ticks: &[Tick]) -> TxResult<()> {
    for tick in ticks.iter().filter(|t| !t.add.is_empty()) {
        let key = keys::tally(tick.day, &tick.department);
        let mut tally: DayTally = tx_get(tx, &key)?.unwrap_or_default();
        tally.add(&tick.add);
        tx_put(tx, &key, &tally)?;
    }
    Ok(())
}

impl Store {
    /// Adds ticks outside any other change (a mail counted as received). Unflushed: the next
    /// flush writes them.
    ///
    /// # Errors
    /// When the store fails.
    pub fn add_ticks(&self, ticks: &[Tick]) -> Result<(), StoreError> {
        self.transaction_unflushed(|tx| tx_ticks(tx, ticks))
    }

    /// The daily totals from `from` to `to` (both included), of one department or all, as
    /// `(department, day, tally)` ordered by day, then department.
    ///
    /// # Errors
    /// When the store fails or a tally cannot be read.
    pub fn tallies(
        &self,
        department: Option<&str>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(String, NaiveDate, DayTally)>, StoreError> {
        let (start, end) = keys::tally_range(from, to);
        let mut out = Vec::new();
        for kv in self.kv.range(start.as_bytes(), Some(end.as_bytes())) {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            let key = String::from_utf8_lossy(&k).into_owned();
            let Some((day, dept)) = keys::tally_parts(&key) else {
                continue;
            };
            if department.is_some_and(|d| d != dept) {
                continue;
            }
            let tally: DayTally = serde_json::from_slice(&v).map_err(|e| self.fail(&key, e))?;
            out.push((dept.to_string(), day, tally));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_add_up_per_department_and_day_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let d1 = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        let d2 = NaiveDate::from_ymd_opt(2026, 3, 3).unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store
                .add_ticks(&[
                    Tick::new("bygg", d1, |t| t.received = 1),
                    Tick::new("bygg", d1, |t| t.received = 2),
                    Tick::new("skola", d1, |t| t.escalations = 1),
                    Tick::new("bygg", d2, |t| t.measures = 1),
                    Tick::new("bygg", d2, |_| {}),
                ])
                .unwrap();
            store.flush().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let all = store.tallies(None, d1, d2).unwrap();
        let found: Vec<_> = all.iter().map(|(d, day, _)| (d.as_str(), *day)).collect();
        assert_eq!(found, [("bygg", d1), ("skola", d1), ("bygg", d2)]);
        assert_eq!(all[0].2.received, 3);
        let bygg_d2 = store.tallies(Some("bygg"), d2, d2).unwrap();
        assert_eq!(bygg_d2.len(), 1);
        assert_eq!(bygg_d2[0].2.measures, 1);
        assert!(store.tallies(Some("skola"), d2, d2).unwrap().is_empty());
    }
}
