//! The index of live cases: small keys, kept in the same transaction as every write of a case,
//! so that `/metrics`, the digest and the overview read what they show without reading every
//! case. A store of 100 000 cases, nearly all answered long ago, has a few hundred open.
//!
//! - `open/<department>/<number>` → the reply deadline (milliseconds since 1970, a JSON
//!   number), for every open case: the gauges count open and overdue cases from it alone.
//! - `answered/<millis>/<number>` → the department, for every case with an answer time: the
//!   digest's "answered yesterday" is a range of it.
//!
//! Every write of a case goes through [`tx_write_case`] (a transaction) or
//! [`Store::put_many`]'s batch ([`batch_write_case`]), and every removal through
//! [`tx_remove_case`]; the schema migration to version 3 builds the index of a store
//! written before it ([`Store::index_cases`]).

use super::kv::Batch;
use super::kv::KvTx;
use super::{keys, tx_put, Store, StoreError, TxResult};
use crate::model::{Case, State};
use chrono::{DateTime, Utc};

/// An open case as the index holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenCase {
    /// Its department's id.
    pub department: String,
    /// Its number.
    pub number: String,
    /// Its reply deadline.
    pub reply_due: DateTime<Utc>,
}

/// The index entries of `case`: its key and value in each index it belongs in.
fn entries(case: &Case) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::with_capacity(2);
    if case.state == State::Open {
        out.push((
            keys::open(&case.department, &case.number),
            case.reply_due.timestamp_millis().to_string().into_bytes(),
        ));
    }
    if let Some(at) = case.answered_at {
        out.push((
            keys::answered(at, &case.number),
            // A JSON string: the department's id is lower-case letters, digits, - and _.
            format!("\"{}\"", case.department).into_bytes(),
        ));
    }
    out
}

/// Writes `after` in `tx` with its index entries, taking out those of `before` (the case as
/// the transaction found it; `None` for a new case) that no longer hold. The one way a case is
/// written inside a transaction.
pub(super) fn tx_write_case(tx: &dyn KvTx, before: Option<&Case>, after: &Case) -> TxResult<()> {
    tx_put(tx, &keys::case(&after.number), after)?;
    // The thread index: every Message-ID the case gained (a resident's message, or a mail
    // kvittens sent on it) names the case from now on, so that its copy coming back to the
    // department mailbox is known as kvittens' own (`outbox::went`) whatever kind it is.
    for id in &after.message_ids {
        if !before.is_some_and(|b| b.message_ids.contains(id)) {
            tx_put(tx, &keys::message(id), &after.number)?;
        }
    }
    let old = before.map(entries).unwrap_or_default();
    let new = entries(after);
    for (k, _) in &old {
        if !new.iter().any(|(n, _)| n == k) {
            tx.remove(k.as_bytes())?;
        }
    }
    for (k, v) in new {
        if !old.iter().any(|(o, ov)| *o == k && *ov == v) {
            tx.insert(k.as_bytes(), &v)?;
        }
    }
    Ok(())
}

/// Removes `case` (as stored) from `tx` with its index entries.
pub(super) fn tx_remove_case(tx: &dyn KvTx, case: &Case) -> TxResult<()> {
    for (k, _) in entries(case) {
        tx.remove(k.as_bytes())?;
    }
    tx.remove(keys::case(&case.number).as_bytes())?;
    Ok(())
}

/// Writes `case` into `batch` with its index entries, taking out those of `before` (the case
/// the store held under its number, if any).
pub(super) fn batch_write_case(
    batch: &mut Batch,
    before: Option<&Case>,
    case: &Case,
    bytes: Vec<u8>,
) {
    batch.insert(keys::case(&case.number).into_bytes(), bytes);
    let new = entries(case);
    for (k, _) in before.map(entries).unwrap_or_default() {
        if !new.iter().any(|(n, _)| *n == k) {
            batch.remove(k.into_bytes());
        }
    }
    for (k, v) in new {
        batch.insert(k.into_bytes(), v);
    }
}

impl Store {
    /// Calls `f` with every open case as the index holds it (department, number, reply
    /// deadline), by department and number, without reading a case.
    ///
    /// # Errors
    /// When the store cannot be read, or an entry is not the index's.
    pub fn open_cases(&self, mut f: impl FnMut(OpenCase)) -> Result<(), StoreError> {
        for kv in self.scan_prefix(keys::prefix::OPEN.as_bytes()) {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            let key = String::from_utf8_lossy(&k);
            let bad =
                || self.inconsistent(format!("the open-case index entry {key:?} is unreadable"));
            let (department, number) = keys::open_parts(&key).ok_or_else(bad)?;
            let millis: i64 =
                serde_json::from_slice(&v).map_err(|e| self.fail(key.to_string(), e))?;
            let reply_due = DateTime::from_timestamp_millis(millis).ok_or_else(bad)?;
            f(OpenCase {
                department: department.to_string(),
                number: number.to_string(),
                reply_due,
            });
        }
        Ok(())
    }

    /// Calls `f` with every open case and every case answered at or after `since`, read
    /// through the index: what the digest shows, without reading the answered past.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub fn live_cases(
        &self,
        since: DateTime<Utc>,
        mut f: impl FnMut(Case),
    ) -> Result<(), StoreError> {
        let mut numbers = Vec::new();
        self.open_cases(|c| numbers.push(c.number))?;
        let from = keys::answered(since, "");
        let to = format!("{}~", keys::prefix::ANSWERED);
        for kv in self.kv.range(from.as_bytes(), Some(to.as_bytes())) {
            let (k, _) = kv.map_err(|e| self.err(e))?;
            let key = String::from_utf8_lossy(&k);
            if let Some(number) = keys::answered_number(&key) {
                numbers.push(number.to_string());
            }
        }
        numbers.sort_unstable();
        numbers.dedup();
        for number in numbers {
            // An entry whose case is gone (a store damaged by hand) shows nothing.
            if let Some(case) = self.case(&number)? {
                f(case);
            }
        }
        Ok(())
    }

    /// Builds the index from every case (the migration to schema version 3; also safe to run
    /// again: the index is cleared first). Returns how many cases were read.
    pub(super) fn index_cases(&self) -> Result<usize, StoreError> {
        for prefix in [keys::prefix::OPEN, keys::prefix::ANSWERED] {
            let mut batch = Batch::new();
            for k in self
                .scan_prefix(prefix.as_bytes())
                .map(|r| r.map(|(k, _)| k))
            {
                batch.remove(k.map_err(|e| self.err(e))?);
            }
            self.kv.apply_batch(batch).map_err(|e| self.err(e))?;
        }
        let mut n = 0;
        let mut batch = Batch::new();
        self.for_each_case(|case| {
            for (k, v) in entries(&case) {
                batch.insert(k.into_bytes(), v);
            }
            n += 1;
        })?;
        self.kv.apply_batch(batch).map_err(|e| self.err(e))?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{edit, open};
    use crate::store::{Effects, Opened};

    fn open_numbers(store: &Store) -> Vec<(String, String)> {
        let mut v = Vec::new();
        store
            .open_cases(|c| v.push((c.department, c.number)))
            .unwrap();
        v
    }

    fn live(store: &Store, since: DateTime<Utc>) -> Vec<String> {
        let mut v = Vec::new();
        store.live_cases(since, |c| v.push(c.number)).unwrap();
        v
    }

    #[test]
    fn every_write_of_a_case_keeps_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let Opened::Created(c) = open(&store, 1, "m1@x") else {
            panic!()
        };
        open(&store, 2, "m2@x");
        let both = vec![
            ("bygg".to_string(), "BMN-2026-0001".to_string()),
            ("bygg".to_string(), "BMN-2026-0002".to_string()),
        ];
        assert_eq!(open_numbers(&store), both);
        let mut due = None;
        store
            .open_cases(|o| due = due.or(Some(o.reply_due)))
            .unwrap();
        // Kept to the millisecond.
        let ms = |t: DateTime<Utc>| t.timestamp_millis();
        assert_eq!(due.map(ms), Some(ms(c.reply_due)));
        // Answered: out of the open index, into the answered one.
        let at = Utc::now();
        let answered = edit(&store, "BMN-2026-0001", |c| {
            c.state = State::Answered;
            c.answered_at = Some(at);
        });
        store.update_case(&answered, &Effects::default()).unwrap();
        assert_eq!(open_numbers(&store), both[1..]);
        assert_eq!(live(&store, at), ["BMN-2026-0001", "BMN-2026-0002"]);
        assert_eq!(
            live(&store, at + chrono::Duration::milliseconds(1)),
            ["BMN-2026-0002"]
        );
        // Opened again by the resident's next mail (attach): back in the open index.
        let reopened = edit(&store, "BMN-2026-0001", |c| c.state = State::Open);
        let k = crate::store::tests::key(3);
        store
            .attach(&k, Some("m3@x"), &reopened, &Effects::default())
            .unwrap();
        assert_eq!(open_numbers(&store), both);
        // A new reply deadline is the index's too.
        let later = c.reply_due + chrono::Duration::days(2);
        let moved = edit(&store, "BMN-2026-0001", |c| c.reply_due = later);
        store.update_case(&moved, &Effects::default()).unwrap();
        let mut dues = Vec::new();
        store.open_cases(|o| dues.push(o.reply_due)).unwrap();
        assert_eq!(ms(dues[0]), ms(later));
        // Closed and removed: gone from both.
        let closed = edit(&store, "BMN-2026-0001", |c| c.state = State::Closed);
        store.update_case(&closed, &Effects::default()).unwrap();
        assert_eq!(open_numbers(&store), both[1..]);
        assert!(store.remove_case("BMN-2026-0001").unwrap());
        assert_eq!(
            live(&store, at - chrono::Duration::days(1)),
            ["BMN-2026-0002"]
        );
    }

    #[test]
    fn put_many_indexes_and_replaces_what_it_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut a = crate::store::tests::case("BMN-2026-0001", &["a@x"]);
        let b = crate::store::tests::case("BMN-2026-0002", &["b@x"]);
        store.put_many(&[a.clone(), b], &[]).unwrap();
        assert_eq!(open_numbers(&store).len(), 2);
        a.state = State::Answered;
        a.answered_at = Some(Utc::now());
        store.put_many(&[a], &[]).unwrap();
        assert_eq!(
            open_numbers(&store),
            [("bygg".to_string(), "BMN-2026-0002".to_string())]
        );
    }

    #[test]
    fn the_index_can_be_built_again_from_the_cases() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        open(&store, 1, "m1@x");
        open(&store, 2, "m2@x");
        let before = open_numbers(&store);
        // Damage the index: a stray entry and a missing one.
        store
            .kv
            .remove(keys::open("bygg", "BMN-2026-0001").as_bytes())
            .unwrap();
        store
            .kv
            .insert(keys::open("bygg", "BMN-2026-9999").as_bytes(), b"0")
            .unwrap();
        assert_eq!(store.index_cases().unwrap(), 2);
        assert_eq!(open_numbers(&store), before);
    }
}
