//! One person's data across the store, for the data subject's rights (GDPR articles 15 and
//! 17): what `app::person` gathers is read through the ordinary calls; what it erases goes
//! here, in one transaction, so that an erasure is whole or not at all. The store does not
//! decide what is personal: `app::person` works out the anonymised cases and which entries and
//! mails go; this applies them, and removes the records kept under the address itself (the
//! loop breaker's, the daily receipt counts).

use super::change::tx_unchanged;
use super::{keys, Applied, Edit, Queued, Store, StoreError};

/// An erasure as `app::person` worked it out: applied together, or not at all.
#[derive(Clone, Debug, Default)]
pub struct Erasure {
    /// The address erased, lower case: its loop breaker record and receipt counts go.
    pub address: String,
    /// Cases with the person's data replaced (before, after): stale when one changed since.
    pub cases: Vec<Edit>,
    /// Ignored mail entries that go.
    pub ignored: Vec<u64>,
    /// Mail waiting or in flight that goes unsent.
    pub mails: Vec<Queued>,
}

impl Store {
    /// Applies `erasure` in one transaction, on disk when this returns. Stale when a case
    /// changed since it was read (the caller reads again and works it out anew).
    ///
    /// # Errors
    /// When the store cannot be read or written.
    pub fn erase(&self, erasure: &Erasure) -> Result<Applied<()>, StoreError> {
        // The receipt counts are kept per address and day: found before the transaction
        // (which cannot scan), removed in it.
        let rates = format!("{}{}/", keys::prefix::RATE, erasure.address);
        let mut rate_keys = Vec::new();
        for kv in self.scan_prefix(rates.as_bytes()) {
            let (k, _) = kv.map_err(|e| self.err(e))?;
            rate_keys.push(k);
        }
        self.transaction(|tx| {
            for edit in &erasure.cases {
                if !tx_unchanged(tx, edit)? {
                    return Ok(Applied::Stale);
                }
            }
            for edit in &erasure.cases {
                super::open::tx_write_case(tx, Some(&edit.before), &edit.after)?;
            }
            for id in &erasure.ignored {
                tx.remove(keys::ignored(*id).as_bytes())?;
            }
            for q in &erasure.mails {
                tx.remove(q.key().as_bytes())?;
                tx.remove(keys::flight(&q.mail.id).as_bytes())?;
            }
            tx.remove(keys::sender(&erasure.address).as_bytes())?;
            for k in &rate_keys {
                tx.remove(k)?;
            }
            Ok(Applied::Done(()))
        })
    }

    /// Every mail in the outbox with its place, in flight or not (for a person's export and
    /// erasure, which must see the mail being sent too).
    ///
    /// # Errors
    /// When the store cannot be read.
    pub fn outbox_all(&self) -> Result<Vec<Queued>, StoreError> {
        let mut mails = Vec::new();
        for kv in self.scan_prefix(keys::prefix::OUTBOX.as_bytes()) {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            let key = String::from_utf8_lossy(&k);
            let mail = serde_json::from_slice(&v).map_err(|e| self.fail(key.clone(), e))?;
            let rank = keys::outbox_rank(&key).unwrap_or(u8::MAX);
            mails.push(Queued { rank, mail });
        }
        Ok(mails)
    }

    /// Ends a run-time absence: removes the one of `officer` that begins on `from`.
    ///
    /// # Errors
    /// When the store cannot be written.
    pub fn remove_absence(&self, officer: &str, from: chrono::NaiveDate) -> Result<(), StoreError> {
        let key = keys::away(&officer.to_lowercase(), from);
        self.transaction(|tx| {
            tx.remove(key.as_bytes())?;
            Ok(())
        })
    }
}
