//! The sending account's spending, kept so that a restart does not start a fresh day of the
//! provider's limit (see `crate::rules::budget`).

use super::{keys, tx_put, Store, StoreError};
use crate::rules::budget::Spent;
use chrono::{DateTime, Utc};

impl Store {
    /// Records a mail the SMTP server took. Unflushed: the next flush (before the next mail
    /// goes, see [`Store::pending`]) writes it; one lost in a crash undercounts by one mail.
    pub fn record_spent(&self, spent: &Spent) -> Result<(), StoreError> {
        let id = self.kv.generate_id().map_err(|e| self.err(e))?;
        let key = keys::spent(spent.at, id);
        self.transaction_unflushed(|tx| tx_put(tx, &key, spent))
    }

    /// What was spent since `since`, oldest first; older records are removed.
    pub fn spent_since(&self, since: DateTime<Utc>) -> Result<Vec<Spent>, StoreError> {
        let all: Vec<Spent> = self.scan(keys::prefix::SPENT)?;
        let bound = keys::spent_from(since);
        for old in self
            .kv
            .range(keys::prefix::SPENT.as_bytes(), Some(bound.as_bytes()))
        {
            let (key, _) = old.map_err(|e| self.err(e))?;
            self.kv.remove(&key).map_err(|e| self.err(e))?;
        }
        Ok(all.into_iter().filter(|s| s.at > since).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spending_is_kept_across_a_reopen_and_old_spending_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        {
            let store = Store::open(dir.path()).unwrap();
            for (ago, recipients) in [(90_000, 2), (3_600, 2), (10, 1)] {
                let at = now - chrono::Duration::seconds(ago);
                store.record_spent(&Spent { at, recipients }).unwrap();
            }
            store.flush().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let day = store.spent_since(now - chrono::Duration::days(1)).unwrap();
        assert_eq!(day.iter().map(|s| s.recipients).collect::<Vec<_>>(), [2, 1]);
        assert_eq!(store.scan::<Spent>("spent/").unwrap().len(), 2);
    }
}
