//! The narrow ways the adapters reach what the store keeps, through `app`: the mailbox
//! watcher's cursor and "being read" marks, and the read-only view `explain` and `preview`
//! decide with. (The clock's schedule and housekeeping, the health probe and the figures for
//! `/metrics` are `app::admin`'s.) Each says why the adapter needs it; none lets an adapter
//! change a case.

use crate::app::engine::Engine;
use crate::config::Department;
use crate::model::Absence;
use crate::rules::loopbreak;
use crate::store::{sender_day, CaseStore, Counters, Cursor, MessageKey, StoreError};
use chrono::{Datelike, NaiveDate};

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

    /// Reads `folder`'s "being read" mark again at its next message: the folder's lease was
    /// just taken, perhaps from an instance that crashed on a message.
    pub fn forget_reading(&self, folder: &str) {
        self.store.forget_reading(folder)
    }

    /// Clears the "being read" mark of `key`'s folder once the message is handled.
    ///
    /// # Errors
    /// When the mark cannot be written.
    pub fn end_reading(&self, key: &MessageKey) -> Result<(), StoreError> {
        self.store.end_reading(key)
    }

    /// The web page's secret, for the tokens of its forms (see `crate::web::csrf`); made and
    /// kept by the store on first use.
    ///
    /// # Errors
    /// When the store fails.
    pub fn web_key(&self) -> Result<Vec<u8>, StoreError> {
        self.store.web_key()
    }

    /// Marks a message handled without a case when even its header could not be handled:
    /// it stays in the mailbox for a person, and is not read again.
    ///
    /// # Errors
    /// When the store fails.
    pub fn mark_handled(&self, key: &MessageKey, why: &str) -> Result<(), StoreError> {
        self.store.mark_handled(key, why)
    }
}

/// What `explain` and `preview` read of the store to decide and number a message as the
/// daemon would, without recording anything: the cases (through
/// [`crate::app::engine::decide_with`]), the loop breaker's record and the daily receipt count
/// of a sender, the counters the next case would get, and the absences. Read-only by
/// construction, so that a command asking "what would happen" cannot change a case.
#[derive(Clone, Copy, Debug)]
pub struct StoreView<'a> {
    store: &'a dyn CaseStore,
}

impl<'a> StoreView<'a> {
    /// A view of `store`: the daemon's ([`Engine::view`]), or one a command opened because
    /// no daemon runs.
    pub fn of(store: &'a dyn CaseStore) -> StoreView<'a> {
        StoreView { store }
    }

    /// The store behind the view, for deciding within `app`.
    pub(super) fn store(self) -> &'a dyn CaseStore {
        self.store
    }

    /// The loop breaker's record of the sender `email` (empty when there is none).
    ///
    /// # Errors
    /// When the store fails.
    pub fn sender_record(&self, email: &str) -> Result<loopbreak::Record, StoreError> {
        self.store.sender_record(email)
    }

    /// How many receipts went to `email` on `day` (the department's calendar day), as the
    /// daily cap counts them.
    ///
    /// # Errors
    /// When the store fails.
    pub fn receipts_on(&self, email: &str, day: NaiveDate) -> Result<u64, StoreError> {
        self.store.receipts_today(&sender_day(email, day))
    }

    /// The counters the next new case of `dept` from `email` on `day` would get — a guess while
    /// mail arrives: a case opened in between takes the number.
    ///
    /// # Errors
    /// When the store fails.
    pub fn next_counters(
        &self,
        dept: &Department,
        day: NaiveDate,
        email: &str,
    ) -> Result<Counters, StoreError> {
        self.store.next_counters(
            &dept.id,
            (&dept.case_prefix, day.year()),
            &sender_day(email, day),
        )
    }

    /// Every absence recorded at run time, by officer address.
    ///
    /// # Errors
    /// When the store fails.
    pub fn absences(&self) -> Result<Vec<(String, Absence)>, StoreError> {
        self.store.absences()
    }
}

impl Engine {
    /// The daemon's store, read-only, for `explain` and `preview` asked through the control
    /// socket (the store admits one process at a time, so the command asks the daemon).
    pub fn view(&self) -> StoreView<'_> {
        StoreView::of(&*self.store)
    }
}
