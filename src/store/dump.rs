//! Moving a store to another engine (sled to PostgreSQL and back): every key with its value in
//! key order, the "being read" marks kept beside the keys, and the id floor; loaded in batches
//! into an empty store of any engine. Because both engines hold exactly the same keys
//! ([`super::kv`]), a dump carries everything that makes "exactly once" hold — cursors,
//! "handled" marks, the outbox and the in-flight marks, the counters — and the store it is
//! loaded into continues where the first one stopped. The format of the lines is the app's
//! (`app::transfer`); this module only reads and writes the engine.
//!
//! A load that stops half-way (a truncated dump, a crash, a full disk) must not leave a store
//! the daemon would run on: a store missing some "handled" marks answers those messages
//! again. So [`Store::begin_load`] writes [`keys::IMPORT_UNFINISHED`] first and
//! [`Store::finish_load`] removes it last, and a store that has it is refused when opened.

use super::kv::{Batch, LiveLease};
use super::{keys, schema, Store, StoreError};
use chrono::Utc;

/// What a dump starts with: what the store it came from needs in its new place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DumpHead {
    /// The key-schema version of the store dumped ([`super::SCHEMA_VERSION`] of the kvittens
    /// that wrote it).
    pub schema: u32,
    /// An id above every id the store handed out ([`super::kv::Kv::generate_id`]: schedule
    /// entries, spending records): the store it is loaded into hands out only higher ones.
    pub id_floor: u64,
}

/// A watched folder's "being read" mark: its place (`bygg`, `bygg/sent`) and the
/// UIDVALIDITY and UID of the message that was being read when kvittens stopped.
pub type ReadingMark = (String, (u32, u32));

/// What [`Store::dump`] calls with each key and its value, in key order: writes them out.
pub type DumpSink<'a> = dyn FnMut(&[u8], &[u8]) -> std::io::Result<()> + 'a;

/// Why a dump stopped: the store could not be read, or what it was written to refused.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The writer failed (a full disk, a closed pipe): kept whole, so that the caller can
    /// end quietly when the reader went away.
    #[error("cannot write the dump: {0}")]
    Write(#[source] std::io::Error),
}

/// The lease an import holds while it fills a store, so that a second import (from another
/// machine too) refuses instead of filling the same store at once.
pub const IMPORT_LEASE: &str = "import";

impl Store {
    /// The head of a dump of this store. Takes one id, so that the floor is above every id
    /// handed out before.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub fn dump_head(&self) -> Result<DumpHead, StoreError> {
        let schema = self.schema_version()?.unwrap_or(schema::CURRENT);
        let id_floor = self.kv.generate_id().map_err(|e| self.err(e))?;
        Ok(DumpHead { schema, id_floor })
    }

    /// Calls `f` with every key and its value, in key order, one at a time (a store of
    /// 100 000 cases is never in memory at once); stops at the first error `f` returns.
    ///
    /// # Errors
    /// [`DumpError::Store`] when the store cannot be read, [`DumpError::Write`] with `f`'s.
    pub fn dump(&self, f: &mut DumpSink<'_>) -> Result<(), DumpError> {
        for kv in self.kv.range(b"", None) {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            f(&k, &v).map_err(DumpError::Write)?;
        }
        Ok(())
    }

    /// The "being read" marks of the folders in `places` and of every folder with a cursor in
    /// the store (a folder read before and no longer configured keeps its mark too).
    ///
    /// # Errors
    /// When the store or a mark cannot be read.
    pub fn reading_marks(&self, places: &[String]) -> Result<Vec<ReadingMark>, StoreError> {
        let prefix = keys::cursor("");
        let mut all: Vec<String> = places.to_vec();
        for kv in self.scan_prefix(prefix.as_bytes()) {
            let (k, _) = kv.map_err(|e| self.err(e))?;
            if let Some(place) = String::from_utf8_lossy(&k).strip_prefix(&prefix) {
                all.push(place.to_string());
            }
        }
        all.sort_unstable();
        all.dedup();
        let mut marks = Vec::new();
        for place in all {
            if let Some(mark) = self.reading_mark(&place)? {
                marks.push((place, mark));
            }
        }
        Ok(marks)
    }

    /// The first key of this store besides its schema version (which every opened store has),
    /// as text; `None` when the store is empty and may take a dump.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub fn first_key(&self) -> Result<Option<String>, StoreError> {
        for kv in self.kv.range(b"", None) {
            let (k, _) = kv.map_err(|e| self.err(e))?;
            if k != keys::SCHEMA.as_bytes() {
                return Ok(Some(String::from_utf8_lossy(&k).into_owned()));
            }
        }
        Ok(None)
    }

    /// Starts loading the dump headed by `head` into this store: refuses a store that is not
    /// empty (a dump carries counters, cursors and marks that cannot be merged with others)
    /// and a dump of a newer schema, then marks the store as being loaded (on disk).
    ///
    /// # Errors
    /// When the store is not empty, the dump is newer, or the store cannot be written.
    pub fn begin_load(&self, head: &DumpHead) -> Result<(), StoreError> {
        if head.schema > schema::CURRENT {
            return Err(self.inconsistent(format!(
                "the dump was written by a newer kvittens (schema version {}; this one reads up to {}): \
                 import it with that version",
                head.schema,
                schema::CURRENT
            )));
        }
        if let Some(key) = self.first_key()? {
            return Err(self.inconsistent(format!(
                "not empty (it holds {key:?}, among others): a dump goes into a new store only — \
                 a new directory, or a new database — since its counters, cursors and \"handled\" \
                 marks cannot be merged with another store's"
            )));
        }
        self.put(keys::IMPORT_UNFINISHED, &Utc::now())?;
        self.flush()
    }

    /// Writes `pairs` (keys and values from a dump) at once.
    ///
    /// # Errors
    /// When the store cannot be written.
    pub fn load(&self, pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), StoreError> {
        let mut batch = Batch::new();
        for (k, v) in pairs {
            batch.insert(k, v);
        }
        self.kv.apply_batch(batch).map_err(|e| self.err(e))
    }

    /// Ends a load: sets the "being read" marks, raises the ids above the dump's floor, writes
    /// the dump's schema version and migrates from it when it is older, and takes the store's
    /// "being loaded" mark off last. On disk when this returns.
    ///
    /// # Errors
    /// When the store cannot be written or migrated.
    pub fn finish_load(&self, head: &DumpHead, marks: &[ReadingMark]) -> Result<(), StoreError> {
        for (place, mark) in marks {
            self.kv
                .set_reading_mark(place, Some(*mark))
                .map_err(|e| self.fail(format!("the \"being read\" mark of {place}"), e))?;
        }
        self.kv
            .raise_ids(head.id_floor)
            .map_err(|e| self.fail("cannot raise the ids", e))?;
        self.put(keys::SCHEMA, &head.schema)?;
        self.kv
            .remove(keys::IMPORT_UNFINISHED.as_bytes())
            .map_err(|e| self.err(e))?;
        self.flush()?;
        self.migrate(Utc::now())
    }

    /// Refuses a store an import began to fill and did not finish (see the module's text).
    pub(super) fn refuse_unfinished_import(&self) -> Result<(), StoreError> {
        let found = self
            .kv
            .get(keys::IMPORT_UNFINISHED.as_bytes())
            .map_err(|e| self.err(e))?;
        if found.is_none() {
            return Ok(());
        }
        // On a shared database the import may be running right now, on this machine or
        // another: its lease says so. Only an import nobody runs may be removed.
        let running = (self.live_leases()?.into_iter())
            .find(|l| l.name == IMPORT_LEASE)
            .map(|l| {
                format!(
                    "an import into this store is running right now ({}, its lease runs {} s \
                     more unless renewed): wait for it to finish; if it stops, the store holds \
                     only part of a store",
                    l.holder, l.seconds_left
                )
            });
        Err(self.inconsistent(running.unwrap_or_else(|| {
            "an import into this store began and has not finished (`kvittens import`), so it \
             holds only part of a store. If no import is running on it any more (one on another \
             machine would be holding the store's import lease), remove it (the directory, or \
             the database's tables) and run the import again"
                .to_string()
        })))
    }

    /// Every lease still running on the store: the instances on it, wherever they run (none
    /// with sled, which one process has to itself).
    ///
    /// # Errors
    /// When the store cannot be read.
    pub fn live_leases(&self) -> Result<Vec<LiveLease>, StoreError> {
        self.kv
            .live_leases()
            .map_err(|e| self.fail("reading the leases", e))
    }
}

#[cfg(test)]
pub(super) mod tests;
