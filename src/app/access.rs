//! The narrow ways the adapters reach what the store keeps, through `app`: the mailbox
//! watcher's cursor and "being read" marks, the clock's schedule and housekeeping record, the
//! health probe and the figures for `/metrics`. Each says why the adapter needs it; none lets
//! an adapter change a case.

use crate::app::engine::Engine;
use crate::rules::case::Case;
use crate::store::{Cursor, MessageKey, StoreError};
use chrono::{DateTime, Utc};

impl Engine {
    /// Where the watched folder `place` (a department id, or `<id>/sent`) was read up to:
    /// the watcher goes on from there, or reads anew when the UIDVALIDITY changed.
    ///
    /// # Errors
    /// When the store fails.
    pub fn cursor(&self, place: &str) -> Result<Option<Cursor>, StoreError> {
        self.store.cursor(place)
    }

    /// Records where `place` was read up to (with the next flush: a cursor lost in a crash
    /// only means reading messages again, which their "handled" marks make harmless).
    ///
    /// # Errors
    /// When the store fails.
    pub fn set_cursor(&self, place: &str, cursor: Cursor) -> Result<(), StoreError> {
        self.store.set_cursor(place, cursor)
    }

    /// Marks `key` as being read before its bytes go to the parser; true when kvittens
    /// stopped while reading this very message the last time, so that it is set aside (see
    /// `Store::begin_reading`).
    ///
    /// # Errors
    /// When the mark cannot be written.
    pub fn begin_reading(&self, key: &MessageKey) -> Result<bool, StoreError> {
        self.store.begin_reading(key)
    }

    /// Clears the "being read" mark of `key`'s folder once the message is handled.
    ///
    /// # Errors
    /// When the mark cannot be written.
    pub fn end_reading(&self, key: &MessageKey) -> Result<(), StoreError> {
        self.store.end_reading(key)
    }

    /// Marks a message handled without a case when even its header could not be handled:
    /// it stays in the mailbox for a person, and is not read again.
    ///
    /// # Errors
    /// When the store fails.
    pub fn mark_handled(&self, key: &MessageKey, why: &str) -> Result<(), StoreError> {
        self.store.mark_handled(key, why)
    }

    /// Whether the store answers at all (for systemd's watchdog and `/healthz`): one read
    /// of a key that does not exist.
    ///
    /// # Errors
    /// The store's failure.
    pub fn store_works(&self) -> Result<(), StoreError> {
        self.store.cursor("-").map(|_| ())
    }

    /// When the next schedule entry falls due, so the clock sleeps until then.
    ///
    /// # Errors
    /// When the store fails.
    pub fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.store.next_due()
    }

    /// When housekeeping last ran (it runs once a day).
    ///
    /// # Errors
    /// When the store fails.
    pub fn last_housekeeping(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.store.last_housekeeping()
    }

    /// Records that housekeeping ran at `at`.
    ///
    /// # Errors
    /// When the store fails.
    pub fn set_housekeeping(&self, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.store.set_housekeeping(at)
    }

    /// Removes the loop breaker's records that say nothing any more at `now`; how many.
    ///
    /// # Errors
    /// When the store fails.
    pub fn prune_sender_records(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        self.store.prune_sender_records(now)
    }

    /// Calls `f` with every case, one at a time (figures over a large store without holding
    /// it in memory).
    ///
    /// # Errors
    /// When the store fails.
    pub fn for_each_case(&self, f: &mut dyn FnMut(Case)) -> Result<(), StoreError> {
        self.store.for_each_case(f)
    }
}
