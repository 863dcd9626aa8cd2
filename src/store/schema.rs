//! The store's schema version, and the migrations that bring an older store up to it.
//!
//! The version is a number under [`keys::SCHEMA`]. Version 1 is every store written before the
//! number existed (it has no such key); a store that is empty is new and gets the current
//! number. A store of an older version is migrated when it is opened, before anything reads
//! it; a store of a newer version is refused, since this program would misread what it does
//! not know (an operator who rolls back a package must restore the store of that time).

use super::kv::Batch;
use super::{keys, Mark, Store, StoreError};
use chrono::{DateTime, Utc};

/// The version this program writes and reads.
///
/// - 1: the layout without a version.
/// - 2: "handled" marks carry the time they were written (a [`Mark`]), so that they can be
///   pruned by age; before, they held the case number or a note as a bare string.
/// - 3: the index of live cases (`open/…`, `answered/…`, see [`super::open`]), so that the
///   gauges and the digest need not read every case.
pub const CURRENT: u32 = 3;

impl Store {
    /// Brings the store to [`CURRENT`]: writes it into a new store, migrates an older one,
    /// refuses a newer one.
    pub(super) fn migrate(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.refuse_unfinished_import()?;
        let found: Option<u32> = self.get(keys::SCHEMA)?;
        let version = match found {
            Some(v) => v,
            None if self.kv.range(b"", None).next().is_none() => CURRENT,
            None => 1,
        };
        if version > CURRENT {
            return Err(StoreError::plain(
                self.path.clone(),
                format!(
                    "written by a newer kvittens (schema version {version}; this one reads up to {CURRENT}); \
                     run that version, or restore the store from before it"
                ),
            ));
        }
        if version < 2 {
            let n = self.marks_with_times(now)?;
            tracing::info!(store = %self.path.display(), marks = n, "store migrated from schema version 1 to 2: \"handled\" marks now carry a time");
        }
        if version < 3 {
            // Cleared and built whole: a migration that stopped half-way runs again cleanly.
            let n = self.index_cases()?;
            tracing::info!(store = %self.path.display(), cases = n, "store migrated to schema version 3: an index of open and answered cases");
        }
        if found != Some(CURRENT) {
            self.put(keys::SCHEMA, &CURRENT)?;
            self.flush()?;
        }
        Ok(())
    }

    /// Version 1 → 2: every "handled" mark becomes a [`Mark`] written at `now` (its real time
    /// is not known; taking the migration's time keeps it for the full age before pruning).
    fn marks_with_times(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut batch = Batch::new();
        let mut n = 0;
        for kv in self.scan_prefix(keys::prefix::HANDLED.as_bytes()) {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            // Converted already by a migration that stopped before it wrote the version:
            // left as it is, so running it again loses nothing.
            if serde_json::from_slice::<Mark>(&v).is_ok() {
                continue;
            }
            let note: String = serde_json::from_slice(&v).unwrap_or_default();
            let mark = Mark { note, at: now };
            batch.insert(k, serde_json::to_vec(&mark).map_err(|e| self.err(e))?);
            n += 1;
        }
        self.kv.apply_batch(batch).map_err(|e| self.err(e))?;
        Ok(n)
    }

    /// The schema version written in the store.
    pub fn schema_version(&self) -> Result<Option<u32>, StoreError> {
        self.get(keys::SCHEMA)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MessageKey;

    /// A store as the version before the schema number wrote it: raw keys and values, shapes
    /// copied from that version's code (a case, its index, a handled mark holding the number,
    /// an ignored mark holding a note, a cursor, an outbox entry, a counter).
    fn version_1(path: &std::path::Path) {
        let db = sled::open(path).unwrap();
        let kv = db.open_tree("kvittens").unwrap();
        let case = crate::store::tests::case("BMN-2026-0001", &["m1@x"]);
        let put = |k: &str, v: Vec<u8>| {
            kv.insert(k.as_bytes(), v).unwrap();
        };
        put("case/BMN-2026-0001", serde_json::to_vec(&case).unwrap());
        put("msg/m1@x", br#""BMN-2026-0001""#.to_vec());
        put("handled/bygg/7/1", br#""BMN-2026-0001""#.to_vec());
        put("handled/bygg/7/2", br#""ignored: automatic""#.to_vec());
        put(
            "cursor/bygg",
            br#"{"uid_validity":7,"last_uid":2}"#.to_vec(),
        );
        put("seq/BMN/2026", b"1".to_vec());
        let mail = crate::store::tests::mail("BMN-2026-0001");
        put(
            "outbox/0/kvittens.receipt.BMN-2026-0001@kommun.test",
            serde_json::to_vec(&mail).unwrap(),
        );
        db.flush().unwrap();
    }

    #[test]
    fn a_store_of_the_version_before_opens_and_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        version_1(dir.path());
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.schema_version().unwrap(), Some(CURRENT));
        let case = store.case("BMN-2026-0001").unwrap().unwrap();
        assert_eq!(case.message_ids, ["m1@x"]);
        assert_eq!(
            store.case_of_message("m1@x").unwrap().as_deref(),
            Some("BMN-2026-0001")
        );
        let key = |uid| MessageKey {
            department: "bygg".into(),
            uid_validity: 7,
            uid,
        };
        assert!(store.was_handled(&key(1)).unwrap());
        assert!(store.was_handled(&key(2)).unwrap());
        let mark = store.mark(&key(1)).unwrap().unwrap();
        assert_eq!(mark.note, "BMN-2026-0001");
        assert_eq!(store.cursor("bygg").unwrap().map(|c| c.last_uid), Some(2));
        assert_eq!(store.pending().unwrap().len(), 1);
        // The index of live cases was built from the cases there.
        let mut open = Vec::new();
        store.open_cases(|c| open.push(c.number)).unwrap();
        assert_eq!(open, ["BMN-2026-0001"]);
        let c = store
            .next_counters("bygg", ("BMN", 2026), "a/2026-01-01")
            .unwrap();
        assert_eq!(c.seq, 2);
        drop(store);
        // Opened again, nothing is migrated twice.
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(
            store.mark(&key(2)).unwrap().unwrap().note,
            "ignored: automatic"
        );
    }

    #[test]
    fn a_migration_stopped_before_its_version_was_written_runs_again_losing_nothing() {
        let dir = tempfile::tempdir().unwrap();
        version_1(dir.path());
        let store = Store::open(dir.path()).unwrap();
        // As if the process had died between the converted marks and the version number.
        store.kv.remove(keys::SCHEMA.as_bytes()).unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.schema_version().unwrap(), Some(CURRENT));
        let key = MessageKey {
            department: "bygg".into(),
            uid_validity: 7,
            uid: 1,
        };
        assert_eq!(store.mark(&key).unwrap().unwrap().note, "BMN-2026-0001");
    }

    #[test]
    fn a_store_of_version_2_gets_its_index_of_live_cases() {
        let dir = tempfile::tempdir().unwrap();
        version_1(dir.path());
        {
            // Version 2's layout: marks with times, the number 2, no index.
            let store = Store::open(dir.path()).unwrap();
            for k in ["open/bygg/BMN-2026-0001", keys::SCHEMA] {
                store.kv.remove(k.as_bytes()).unwrap();
            }
            store.put(keys::SCHEMA, &2u32).unwrap();
            store.flush().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.schema_version().unwrap(), Some(CURRENT));
        let mut open = Vec::new();
        store
            .open_cases(|c| open.push((c.department, c.number)))
            .unwrap();
        assert_eq!(open, [("bygg".to_string(), "BMN-2026-0001".to_string())]);
    }

    #[test]
    fn a_new_store_gets_the_current_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.schema_version().unwrap(), Some(CURRENT));
    }

    #[test]
    fn a_store_of_a_newer_version_is_refused_plainly() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path()).unwrap();
            let kv = db.open_tree("kvittens").unwrap();
            kv.insert(keys::SCHEMA, b"99".to_vec()).unwrap();
            db.flush().unwrap();
        }
        let err = Store::open(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("written by a newer kvittens (schema version 99; this one reads up to 3)"),
            "{err}"
        );
    }
}
