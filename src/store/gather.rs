//! Officer notices held in a burst and the officers' bursts (see [`crate::rules::burst`]): a
//! held notice is written in the transaction that opens its case, and removed in the one that
//! queues the gathered mail, so that a crash can neither lose a case from the gathered mail
//! nor send its notice twice.

use super::kv::KvTx;
use super::{keys, tx_get, tx_put, Store, StoreError, TxResult};
use crate::rules::burst::Burst;

/// A change to one officer's burst, applied only if the burst is still as read (`before`).
#[derive(Clone, Debug, PartialEq)]
pub struct Gather {
    /// The department.
    pub department: String,
    /// The officer's address.
    pub officer: String,
    /// The burst as read (`None`: none stored).
    pub before: Option<Burst>,
    /// The burst as it is to be.
    pub after: Burst,
    /// A notice to hold for the gathered mail.
    pub hold: Option<Held>,
    /// The case numbers whose held notices went into a gathered mail: removed.
    pub release: Vec<String>,
}

/// An officer notice held for a gathered mail: its case, and the resident's message to attach
/// (as the notice of its own would attach it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    /// The case number.
    pub case: String,
    /// The resident's message, whole or by its header (see the officer notice).
    pub message: Vec<u8>,
}

/// Whether every burst `gather` changes is still as read.
pub(super) fn tx_unchanged(tx: &dyn KvTx, gather: &[Gather]) -> TxResult<bool> {
    for g in gather {
        let now: Option<Burst> = tx_get(tx, &keys::burst(&g.department, &g.officer))?;
        if now != g.before {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Writes the bursts of `gather`, its held notices, and removes the released ones.
pub(super) fn tx_gather(tx: &dyn KvTx, gather: &[Gather]) -> TxResult<()> {
    for g in gather {
        tx_put(tx, &keys::burst(&g.department, &g.officer), &g.after)?;
        if let Some(h) = &g.hold {
            let key = keys::held(&g.department, &g.officer, &h.case);
            tx.insert(key.as_bytes(), h.message.as_slice())?;
        }
        for case in &g.release {
            tx.remove(keys::held(&g.department, &g.officer, case).as_bytes())?;
        }
    }
    Ok(())
}

impl Store {
    /// The bursts of `department`'s officers, by officer address (lower case).
    ///
    /// # Errors
    /// When the store fails.
    pub fn bursts(&self, department: &str) -> Result<Vec<(String, Burst)>, StoreError> {
        let prefix = keys::burst(department, "");
        let mut out = Vec::new();
        for kv in self.scan_prefix(prefix.as_bytes()) {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            let key = String::from_utf8_lossy(&k);
            let burst = serde_json::from_slice(&v).map_err(|e| self.fail(key.as_ref(), e))?;
            out.push((key[prefix.len()..].to_string(), burst));
        }
        Ok(out)
    }

    /// The notices held for `officer` of `department`, in case-number order.
    ///
    /// # Errors
    /// When the store fails.
    pub fn held(&self, department: &str, officer: &str) -> Result<Vec<Held>, StoreError> {
        let prefix = keys::held(department, officer, "");
        let mut out = Vec::new();
        for kv in self.scan_prefix(prefix.as_bytes()) {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            out.push(Held {
                case: String::from_utf8_lossy(&k[prefix.len()..]).into_owned(),
                message: v.to_vec(),
            });
        }
        Ok(out)
    }
}
