//! The store as the rest of the program sees it: one trait whose words are cases, cursors,
//! the schedule, the outbox, the ignored list, the loop breaker's records, the sending
//! account's spending and absences — never keys, trees or transactions. [`Store`] is its one
//! implementation, written once over an engine's keys and values ([`super::kv`]): sled, the
//! default, or PostgreSQL — so both keep the same all-or-nothing promise for each call.
//!
//! `app` holds it as `Arc<dyn CaseStore>`: a trait object, not a generic, so that `Engine` and
//! everything that carries it stay one type whichever engine is configured, and the engine can
//! be chosen at run time from the config.

use super::{
    Applied, Counters, Cursor, DueKey, DumpError, DumpHead, DumpSink, Edit, Effects, Erasure,
    Flight, FromIgnored, Gone, IgnoredMail, Mark, MessageKey, NewCase, Note, OpenCase, Opened,
    Pruned, Queued, ReadingMark, ReceiptQueued, Released, Store, StoreError,
};
use crate::mail::outgoing::Outgoing;
use crate::model::tally::{DayTally, Tick};
use crate::model::Absence;
use crate::model::Case;
use crate::rules::budget::Spent;
use crate::rules::loopbreak;
use crate::rules::schedule::Due;
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::HashSet;

/// What kvittens keeps across a crash, as one engine keeps it. Every call that changes more
/// than one thing changes all of it or none of it; calls documented "on disk when this
/// returns" are durable then, the others with the next [`CaseStore::flush`].
pub trait CaseStore: Send + Sync + std::fmt::Debug {
    /// An error naming this store, for an inconsistency the caller found in what it holds
    /// (a case the thread index names is gone).
    fn inconsistent(&self, what: String) -> StoreError;

    /// Takes or renews the lease `name` (a watched folder, `sender`, `scheduler`) for `holder`
    /// (one running instance's id) for `seconds`, measured on the engine's clock so that the
    /// instances' clocks need not agree; whether `holder` holds it now. Another holder's
    /// lease is taken over only once it has run out. With sled one process has the store to
    /// itself and always holds every lease.
    ///
    /// # Errors
    /// When the engine cannot be reached.
    fn lease(&self, name: &str, holder: &str, seconds: u32) -> Result<bool, StoreError>;

    /// Gives up every lease of `holder`, at a clean stop, so that another instance takes over
    /// at once rather than when the leases run out.
    ///
    /// # Errors
    /// When the engine cannot be reached.
    fn release_leases(&self, holder: &str) -> Result<(), StoreError>;

    /// Writes everything to disk. Called after every change that must survive a crash.
    ///
    /// # Errors
    /// When the disk refuses the write (full, read-only, failing).
    fn flush(&self) -> Result<(), StoreError>;

    /// Where the department's mailbox was read up to.
    fn cursor(&self, department: &str) -> Result<Option<Cursor>, StoreError>;

    /// Records where the department's mailbox was read up to.
    fn set_cursor(&self, department: &str, cursor: Cursor) -> Result<(), StoreError>;

    /// Whether this message was handled before.
    fn was_handled(&self, key: &MessageKey) -> Result<bool, StoreError>;

    /// A case by number.
    fn case(&self, number: &str) -> Result<Option<Case>, StoreError>;

    /// Every case, in number order.
    fn cases(&self) -> Result<Vec<Case>, StoreError>;

    /// The case a Message-ID belongs to.
    fn case_of_message(&self, message_id: &str) -> Result<Option<String>, StoreError>;

    /// How many receipts went to a sender on a day; `sender_today` is [`super::sender_day`]'s, as
    /// [`CaseStore::open_case`] counts them for the daily cap.
    fn receipts_today(&self, sender_today: &str) -> Result<u64, StoreError>;

    /// Marks a message handled without a case (ignored).
    fn mark_handled(&self, key: &MessageKey, note: &str) -> Result<(), StoreError>;

    /// The bursts of new cases of `department`'s officers, by officer address (lower case):
    /// whether a new case's notice is held for a gathered mail ([`crate::rules::burst`]).
    fn bursts(
        &self,
        department: &str,
    ) -> Result<Vec<(String, crate::rules::burst::Burst)>, StoreError>;

    /// The officer notices held for `officer` of `department`'s gathered mail.
    fn held(&self, department: &str, officer: &str) -> Result<Vec<super::Held>, StoreError>;

    /// The counters [`CaseStore::open_case`] would hand the next new case of `department` with
    /// number prefix and year `counter`, read without taking them: for `preview`, which shows
    /// the receipt with the number and officer it would get. Only a guess while mail arrives:
    /// a case opened in between takes the number.
    fn next_counters(
        &self,
        department: &str,
        counter: (&str, i32),
        sender_today: &str,
    ) -> Result<Counters, StoreError>;

    /// Schedule entries due at or before `now`, oldest first (at most `limit`).
    fn due_until(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> Result<Vec<(DueKey, Due)>, StoreError>;

    /// When the next schedule entry falls due.
    fn next_due(&self) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError>;

    /// Calls `f` with every case, one at a time (for figures over a large store without
    /// holding it all in memory).
    fn for_each_case(&self, f: &mut dyn FnMut(Case)) -> Result<(), StoreError>;

    /// Calls `f` with every open case as the index of live cases holds it (department,
    /// number, reply deadline), without reading a case: for the gauges.
    fn open_cases(&self, f: &mut dyn FnMut(OpenCase)) -> Result<(), StoreError>;

    /// Calls `f` with every open case and every case answered at or after `since`, found
    /// through the index of live cases: for the digest, without reading the answered past.
    fn live_cases(&self, since: DateTime<Utc>, f: &mut dyn FnMut(Case)) -> Result<(), StoreError>;

    /// Writes many cases at once, with their thread index and schedule entries (for `import`
    /// and for filling a store in benchmarks): one batch and one flush per thousand.
    fn put_many(&self, cases: &[Case], dues: &[Due]) -> Result<(), StoreError>;

    /// Makes sure case numbers of `prefix` and `year` continue above `seq` (after an import).
    fn raise_seq(&self, prefix: &str, year: i32, seq: u64) -> Result<(), StoreError>;

    /// Removes a case and its thread index (retention). Its schedule entries are dropped when
    /// they fall due and find no case.
    fn remove_case(&self, number: &str) -> Result<bool, StoreError>;

    /// When housekeeping last ran.
    fn last_housekeeping(&self) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError>;

    /// Records that housekeeping ran at `at`.
    fn set_housekeeping(&self, at: chrono::DateTime<chrono::Utc>) -> Result<(), StoreError>;

    /// When the department's last digest was due.
    fn last_digest(
        &self,
        department: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError>;

    /// When the department's digests count from: the last digest's time, or — on the very first
    /// call — `now`, recorded, so that a first start neither sends old digests nor skips today's.
    fn digest_baseline(
        &self,
        department: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<chrono::DateTime<chrono::Utc>, StoreError>;

    /// Queues the digest due at `at`, unless one was queued for that moment or later already.
    fn queue_digest(
        &self,
        department: &str,
        at: chrono::DateTime<chrono::Utc>,
        mail: &Queued,
    ) -> Result<bool, StoreError>;

    /// Records that `officer` is away (set at run time; kept with the planned absences).
    fn add_absence(&self, officer: &str, absence: &Absence) -> Result<(), StoreError>;

    /// Every absence recorded at run time, by officer address.
    fn absences(&self) -> Result<Vec<(String, Absence)>, StoreError>;

    /// Ends a run-time absence: removes the one of `officer` that begins on `from`.
    fn remove_absence(&self, officer: &str, from: NaiveDate) -> Result<(), StoreError>;

    /// The web page's secret key, made on first use and kept (see `Store::web_key`).
    fn web_key(&self) -> Result<Vec<u8>, StoreError>;

    /// Every mail in the outbox, in flight or not, with its place (a person's data).
    fn outbox_all(&self) -> Result<Vec<Queued>, StoreError>;

    /// Applies a person's erasure (GDPR art. 17) in one transaction; stale when a case
    /// changed since it was read. On disk when this returns.
    fn erase(&self, erasure: &Erasure) -> Result<Applied<()>, StoreError>;

    /// Marks `key` as being read, before its bytes go to the parser, and says whether kvittens
    /// stopped while reading this very message the last time (a crash, an abort, a kill by the
    /// watchdog): then it must be set aside, not parsed again, or one mail stops the mailbox
    /// at every restart. The mark is one small file per watched folder, rewritten per message
    /// with a plain write and no fsync: it has to survive the death of the process (the data
    /// is with the kernel once the write returns), not a power cut, which no message causes;
    /// an fsync per message would slow a backlog for nothing. The first call of a process
    /// for a folder reads what the last one left there. A mark that names a message already
    /// handled is stale (kvittens was killed after recording the message, before clearing
    /// the mark): nothing is set aside then, and the mark is replaced quietly.
    fn begin_reading(&self, key: &MessageKey) -> Result<bool, StoreError>;

    /// Clears the "being read" mark of `key`'s folder once the message is handled (its record
    /// is in the store, flushed or about to be with the next flush).
    fn end_reading(&self, key: &MessageKey) -> Result<(), StoreError>;

    /// Forgets what this process read of `folder`'s "being read" mark, so that the next
    /// [`CaseStore::begin_reading`] reads it again: when this instance takes the folder's
    /// lease over, the mark may be another instance's, left by a crash on a message.
    fn forget_reading(&self, folder: &str);

    /// Opens a case for a message, atomically with its outgoing mails, unless the message (by
    /// key or Message-ID) was handled already. Stale when the counters moved on since they
    /// were read (another message opened a case meanwhile).
    ///
    /// # Errors
    /// When the store fails.
    fn open_case(&self, new: &NewCase<'_>) -> Result<Applied<Opened>, StoreError>;

    /// Records a further message on a case (no receipt), atomically with the "handled" mark
    /// and the thread index of `message_id`: the case becomes `edit.after`, with `effects`.
    /// Done(false) when the message was handled before.
    ///
    /// # Errors
    /// When the store fails, or the case is not in the store.
    fn attach(
        &self,
        key: &MessageKey,
        message_id: Option<&str>,
        edit: &Edit,
        effects: &Effects,
    ) -> Result<Applied<bool>, StoreError>;

    /// Changes a case (a command, a delay notice): it becomes `edit.after`, with `effects`. On
    /// disk when this returns.
    ///
    /// # Errors
    /// When the store fails.
    fn update_case(&self, edit: &Edit, effects: &Effects) -> Result<Applied<()>, StoreError>;

    /// Fires schedule entries in one transaction: removes each, and writes the cases they
    /// changed and what they set in motion. Stale when an entry fired meanwhile or a case
    /// changed. Returns how many fired.
    ///
    /// # Errors
    /// When the store fails.
    fn fire_batch(
        &self,
        entries: &[DueKey],
        edits: &[Edit],
        effects: &Effects,
    ) -> Result<Applied<usize>, StoreError>;

    /// Mail waiting to be sent, in outbox order, leaving out mail in flight — flushed to disk
    /// first, so that no mail goes out whose case a crash could still take back.
    ///
    /// # Errors
    /// When the store cannot be read or flushed.
    fn pending(&self) -> Result<Vec<Queued>, StoreError>;

    /// Marks `q` in flight: its final dot is about to go to the SMTP server. Only mail with a
    /// copy is marked — without one, nothing could tell after a crash whether it went, and it
    /// is sent again either way. On disk when this returns.
    ///
    /// # Errors
    /// When the store cannot be written.
    fn take_off(&self, q: &Queued, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// [`CaseStore::take_off`] without the flush: the caller flushes before the final dot (the
    /// sender flushes the marks of the mails it sends at once together).
    ///
    /// # Errors
    /// When the store cannot be written.
    fn take_off_unflushed(&self, q: &Queued, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// The server answered "try later" to a mail in flight: it waits in the outbox again, and
    /// `note` goes on its case. On disk when this returns.
    ///
    /// # Errors
    /// When the store cannot be written.
    fn ground(&self, q: &Queued, note: Option<&Note>) -> Result<(), StoreError>;

    /// Takes `q` out of the outbox (and out of flight) with `note` on its case, in one
    /// transaction; flushed unless `flushed` is false (an accepted mail: losing the record in a
    /// crash leaves a mail with a copy in flight, resolved by its copy, and one without is sent
    /// again). Once: when it has left already, nothing changes.
    ///
    /// # Errors
    /// When the store cannot be written.
    fn mark_sent(&self, q: &Queued, note: Option<&Note>, flushed: bool)
        -> Result<Gone, StoreError>;

    /// The mail in flight with Message-ID `id`, if any (read to word its case's note before
    /// [`CaseStore::confirm_copy`]).
    ///
    /// # Errors
    /// When the store cannot be read.
    fn flying(&self, id: &str) -> Result<Option<(Flight, Outgoing)>, StoreError>;

    /// A copy of kvittens' own mail `id` arrived in a department mailbox (message `key`): the
    /// SMTP server took the mail. Marks the message handled and, when the mail is still in
    /// flight (kvittens stopped before recording the server's answer, or has not recorded it
    /// yet), takes it out of the outbox with `note` on its case. Returns whether it left now.
    ///
    /// # Errors
    /// When the store cannot be written.
    fn confirm_copy(
        &self,
        key: &MessageKey,
        id: &str,
        note: Option<&Note>,
    ) -> Result<Gone, StoreError>;

    /// Every mail in flight.
    ///
    /// # Errors
    /// When the store cannot be read.
    fn flights(&self) -> Result<Vec<Flight>, StoreError>;

    /// Puts the mail in flight `flight` back into the outbox, with `note` on its case: no copy
    /// confirmed it, so it goes again. Returns the mail, or none when it is no longer in flight.
    ///
    /// # Errors
    /// When the store cannot be written.
    fn release(
        &self,
        flight: &Flight,
        note: &dyn Fn(&Outgoing) -> Option<Note>,
    ) -> Result<Option<Released>, StoreError>;

    /// Whether mail `id` is in flight.
    ///
    /// # Errors
    /// When the store cannot be read.
    fn is_flying(&self, id: &str) -> Result<bool, StoreError>;

    /// Whether mail `id` waits in the outbox at `rank`.
    ///
    /// # Errors
    /// When the store cannot be read.
    fn is_queued(&self, rank: u8, id: &str) -> Result<bool, StoreError>;

    /// How many mails are in flight.
    ///
    /// # Errors
    /// None today (sled counts from memory); kept for a store that must ask a server.
    fn in_flight(&self) -> Result<usize, StoreError>;

    /// Marks a message handled without a case, atomically with its entry in the ignored list
    /// (`entry.id` is assigned here). Returns the entry's id, or `None` when the message was
    /// handled before. Unflushed, like the handled mark alone: lost in a crash, the message is
    /// read again and recorded again.
    fn record_ignored(
        &self,
        key: &MessageKey,
        note: &str,
        entry: &IgnoredMail,
        ticks: &[Tick],
    ) -> Result<Option<u64>, StoreError>;

    /// One ignored mail by id.
    fn ignored_mail(&self, id: u64) -> Result<Option<IgnoredMail>, StoreError>;

    /// Every ignored mail, in the order they were recorded.
    fn ignored_mails(&self) -> Result<Vec<IgnoredMail>, StoreError>;

    /// Removes ignored mails (retention).
    fn remove_ignored(&self, ids: &[u64]) -> Result<(), StoreError>;

    /// Opens the case `new` from ignored mail `entry` (as read), atomically with its mails,
    /// its thread index and the entry's pointer to it, so that it is opened once. Stale when
    /// the entry or the counters changed since they were read. On disk when this returns.
    ///
    /// # Errors
    /// When the store fails.
    fn open_ignored(
        &self,
        entry: &IgnoredMail,
        new: &NewCase<'_>,
    ) -> Result<Applied<FromIgnored>, StoreError>;

    /// Queues the receipt `mail` of a case whose receipt was withheld when it opened; the case
    /// becomes `edit.after` (the caller records the receipt on it). Exactly once: the
    /// receipt's Message-ID is derived from the case, and a receipt whose id the thread index
    /// or the outbox knows already is refused, also when two calls race. On disk when this
    /// returns.
    ///
    /// # Errors
    /// When the store fails.
    fn queue_receipt(
        &self,
        edit: &Edit,
        mail: &Queued,
    ) -> Result<Applied<ReceiptQueued>, StoreError>;

    /// The loop breaker's record of a sender (empty when there is none).
    fn sender_record(&self, email: &str) -> Result<loopbreak::Record, StoreError>;

    /// Stores the loop breaker's record of a sender. Unflushed: it is a heuristic's memory, and
    /// losing its last step in a crash costs one receipt at most.
    fn set_sender_record(&self, email: &str, record: &loopbreak::Record) -> Result<(), StoreError>;

    /// Removes the loop breaker's records that say nothing any more at `now`; returns how many.
    fn prune_sender_records(&self, now: DateTime<Utc>) -> Result<usize, StoreError>;

    /// Records a mail the SMTP server took. Unflushed: the next flush (before the next mail
    /// goes, see [`CaseStore::pending`]) writes it; one lost in a crash undercounts by one mail.
    fn record_spent(&self, spent: &Spent) -> Result<(), StoreError>;

    /// What was spent since `since`, oldest first; older records are removed.
    fn spent_since(&self, since: DateTime<Utc>) -> Result<Vec<Spent>, StoreError>;

    /// Removes the "handled" marks written before `before`, and those of the cases in
    /// `purged` (removed by retention), moving each folder's horizon past the newest mark
    /// removed; then the daily receipt counts of days before `rates_before`. On disk when this
    /// returns.
    ///
    /// # Errors
    /// When the store cannot be read or written.
    fn prune_marks(
        &self,
        before: DateTime<Utc>,
        purged: &HashSet<String>,
        rates_before: NaiveDate,
    ) -> Result<Pruned, StoreError>;

    /// The folder's horizon: mail that reached it before this time may have lost its
    /// "handled" mark, so a re-read of the folder (after a UIDVALIDITY change) starts here.
    /// None when no mark of the folder was ever removed.
    ///
    /// # Errors
    /// When the store cannot be read.
    fn horizon(&self, place: &str) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// The "handled" mark of a message.
    ///
    /// # Errors
    /// When the store cannot be read.
    fn mark(&self, key: &super::MessageKey) -> Result<Option<Mark>, StoreError>;

    /// The schema version written in the store.
    fn schema_version(&self) -> Result<Option<u32>, StoreError>;

    /// Adds to the daily totals outside any other change (a mail counted as received).
    /// Unflushed.
    fn add_ticks(&self, ticks: &[Tick]) -> Result<(), StoreError>;

    /// The daily totals from `from` to `to` (both included) of one department or all, as
    /// `(department, day, tally)` ordered by day, then department.
    fn tallies(
        &self,
        department: Option<&str>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(String, NaiveDate, DayTally)>, StoreError>;

    /// The head of a dump of the whole store (`kvittens export`): its schema version and an
    /// id above every id handed out. See [`super::dump`].
    ///
    /// # Errors
    /// When the engine cannot be read.
    fn dump_head(&self) -> Result<DumpHead, StoreError>;

    /// Calls `f` with every key and value of the store, in key order, one at a time.
    ///
    /// # Errors
    /// [`DumpError::Store`] when the engine cannot be read, [`DumpError::Write`] with `f`'s.
    fn dump(&self, f: &mut DumpSink<'_>) -> Result<(), DumpError>;

    /// The "being read" marks of `places` and of every folder with a cursor.
    ///
    /// # Errors
    /// When the engine cannot be read.
    fn reading_marks(&self, places: &[String]) -> Result<Vec<ReadingMark>, StoreError>;

    /// Starts loading a dump (`kvittens import`): refuses a store that is not empty and a
    /// dump of a newer schema, and marks the store as being loaded until
    /// [`CaseStore::finish_load`].
    ///
    /// # Errors
    /// When the store is not empty, the dump is newer, or the engine cannot be written.
    fn begin_load(&self, head: &DumpHead) -> Result<(), StoreError>;

    /// Writes keys and values of a dump at once (a batch of a few thousand).
    ///
    /// # Errors
    /// When the engine cannot be written.
    fn load(&self, pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), StoreError>;

    /// Ends a load: the "being read" marks, the ids raised above the dump's floor, the schema
    /// migrated from the dump's; durable when this returns.
    ///
    /// # Errors
    /// When the engine cannot be written or the migration fails.
    fn finish_load(&self, head: &DumpHead, marks: &[ReadingMark]) -> Result<(), StoreError>;
}

impl CaseStore for Store {
    fn inconsistent(&self, what: String) -> StoreError {
        Store::inconsistent(self, what)
    }

    fn lease(&self, name: &str, holder: &str, seconds: u32) -> Result<bool, StoreError> {
        self.kv
            .lease(name, holder, seconds)
            .map_err(|e| self.fail(format!("lease {name}"), e))
    }

    fn release_leases(&self, holder: &str) -> Result<(), StoreError> {
        self.kv
            .release_leases(holder)
            .map_err(|e| self.fail("giving up the leases", e))
    }

    fn flush(&self) -> Result<(), StoreError> {
        Store::flush(self)
    }

    fn cursor(&self, department: &str) -> Result<Option<Cursor>, StoreError> {
        Store::cursor(self, department)
    }

    fn set_cursor(&self, department: &str, cursor: Cursor) -> Result<(), StoreError> {
        Store::set_cursor(self, department, cursor)
    }

    fn was_handled(&self, key: &MessageKey) -> Result<bool, StoreError> {
        Store::was_handled(self, key)
    }

    fn case(&self, number: &str) -> Result<Option<Case>, StoreError> {
        Store::case(self, number)
    }

    fn cases(&self) -> Result<Vec<Case>, StoreError> {
        Store::cases(self)
    }

    fn case_of_message(&self, message_id: &str) -> Result<Option<String>, StoreError> {
        Store::case_of_message(self, message_id)
    }

    fn receipts_today(&self, sender_today: &str) -> Result<u64, StoreError> {
        Store::receipts_today(self, sender_today)
    }

    fn mark_handled(&self, key: &MessageKey, note: &str) -> Result<(), StoreError> {
        Store::mark_handled(self, key, note)
    }

    fn bursts(
        &self,
        department: &str,
    ) -> Result<Vec<(String, crate::rules::burst::Burst)>, StoreError> {
        Store::bursts(self, department)
    }

    fn held(&self, department: &str, officer: &str) -> Result<Vec<super::Held>, StoreError> {
        Store::held(self, department, officer)
    }

    fn next_counters(
        &self,
        department: &str,
        counter: (&str, i32),
        sender_today: &str,
    ) -> Result<Counters, StoreError> {
        Store::next_counters(self, department, counter, sender_today)
    }

    fn due_until(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> Result<Vec<(DueKey, Due)>, StoreError> {
        Store::due_until(self, now, limit)
    }

    fn next_due(&self) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        Store::next_due(self)
    }

    fn for_each_case(&self, f: &mut dyn FnMut(Case)) -> Result<(), StoreError> {
        Store::for_each_case(self, f)
    }

    fn open_cases(&self, f: &mut dyn FnMut(OpenCase)) -> Result<(), StoreError> {
        Store::open_cases(self, f)
    }

    fn live_cases(&self, since: DateTime<Utc>, f: &mut dyn FnMut(Case)) -> Result<(), StoreError> {
        Store::live_cases(self, since, f)
    }

    fn put_many(&self, cases: &[Case], dues: &[Due]) -> Result<(), StoreError> {
        Store::put_many(self, cases, dues)
    }

    fn raise_seq(&self, prefix: &str, year: i32, seq: u64) -> Result<(), StoreError> {
        Store::raise_seq(self, prefix, year, seq)
    }

    fn remove_case(&self, number: &str) -> Result<bool, StoreError> {
        Store::remove_case(self, number)
    }

    fn last_housekeeping(&self) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        Store::last_housekeeping(self)
    }

    fn set_housekeeping(&self, at: chrono::DateTime<chrono::Utc>) -> Result<(), StoreError> {
        Store::set_housekeeping(self, at)
    }

    fn last_digest(
        &self,
        department: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        Store::last_digest(self, department)
    }

    fn digest_baseline(
        &self,
        department: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<chrono::DateTime<chrono::Utc>, StoreError> {
        Store::digest_baseline(self, department, now)
    }

    fn queue_digest(
        &self,
        department: &str,
        at: chrono::DateTime<chrono::Utc>,
        mail: &Queued,
    ) -> Result<bool, StoreError> {
        Store::queue_digest(self, department, at, mail)
    }

    fn add_absence(&self, officer: &str, absence: &Absence) -> Result<(), StoreError> {
        Store::add_absence(self, officer, absence)
    }

    fn absences(&self) -> Result<Vec<(String, Absence)>, StoreError> {
        Store::absences(self)
    }

    fn remove_absence(&self, officer: &str, from: NaiveDate) -> Result<(), StoreError> {
        Store::remove_absence(self, officer, from)
    }

    fn web_key(&self) -> Result<Vec<u8>, StoreError> {
        Store::web_key(self)
    }

    fn outbox_all(&self) -> Result<Vec<Queued>, StoreError> {
        Store::outbox_all(self)
    }

    fn erase(&self, erasure: &Erasure) -> Result<Applied<()>, StoreError> {
        Store::erase(self, erasure)
    }

    fn begin_reading(&self, key: &MessageKey) -> Result<bool, StoreError> {
        Store::begin_reading(self, key)
    }

    fn forget_reading(&self, folder: &str) {
        Store::forget_reading(self, folder)
    }

    fn end_reading(&self, key: &MessageKey) -> Result<(), StoreError> {
        Store::end_reading(self, key)
    }

    fn open_case(&self, new: &NewCase<'_>) -> Result<Applied<Opened>, StoreError> {
        Store::open_case(self, new)
    }

    fn attach(
        &self,
        key: &MessageKey,
        message_id: Option<&str>,
        edit: &Edit,
        effects: &Effects,
    ) -> Result<Applied<bool>, StoreError> {
        Store::attach(self, key, message_id, edit, effects)
    }

    fn update_case(&self, edit: &Edit, effects: &Effects) -> Result<Applied<()>, StoreError> {
        Store::update_case(self, edit, effects)
    }

    fn fire_batch(
        &self,
        entries: &[DueKey],
        edits: &[Edit],
        effects: &Effects,
    ) -> Result<Applied<usize>, StoreError> {
        Store::fire_batch(self, entries, edits, effects)
    }

    fn pending(&self) -> Result<Vec<Queued>, StoreError> {
        Store::pending(self)
    }

    fn take_off(&self, q: &Queued, at: DateTime<Utc>) -> Result<(), StoreError> {
        Store::take_off(self, q, at)
    }

    fn take_off_unflushed(&self, q: &Queued, at: DateTime<Utc>) -> Result<(), StoreError> {
        Store::take_off_unflushed(self, q, at)
    }

    fn ground(&self, q: &Queued, note: Option<&Note>) -> Result<(), StoreError> {
        Store::ground(self, q, note)
    }

    fn mark_sent(
        &self,
        q: &Queued,
        note: Option<&Note>,
        flushed: bool,
    ) -> Result<Gone, StoreError> {
        Store::mark_sent(self, q, note, flushed)
    }

    fn flying(&self, id: &str) -> Result<Option<(Flight, Outgoing)>, StoreError> {
        Store::flying(self, id)
    }

    fn confirm_copy(
        &self,
        key: &MessageKey,
        id: &str,
        note: Option<&Note>,
    ) -> Result<Gone, StoreError> {
        Store::confirm_copy(self, key, id, note)
    }

    fn flights(&self) -> Result<Vec<Flight>, StoreError> {
        Store::flights(self)
    }

    fn release(
        &self,
        flight: &Flight,
        note: &dyn Fn(&Outgoing) -> Option<Note>,
    ) -> Result<Option<Released>, StoreError> {
        Store::release(self, flight, note)
    }

    fn is_flying(&self, id: &str) -> Result<bool, StoreError> {
        Store::is_flying(self, id)
    }

    fn is_queued(&self, rank: u8, id: &str) -> Result<bool, StoreError> {
        Store::is_queued(self, rank, id)
    }

    fn in_flight(&self) -> Result<usize, StoreError> {
        Store::in_flight(self)
    }

    fn record_ignored(
        &self,
        key: &MessageKey,
        note: &str,
        entry: &IgnoredMail,
        ticks: &[Tick],
    ) -> Result<Option<u64>, StoreError> {
        Store::record_ignored(self, key, note, entry, ticks)
    }

    fn ignored_mail(&self, id: u64) -> Result<Option<IgnoredMail>, StoreError> {
        Store::ignored_mail(self, id)
    }

    fn ignored_mails(&self) -> Result<Vec<IgnoredMail>, StoreError> {
        Store::ignored_mails(self)
    }

    fn remove_ignored(&self, ids: &[u64]) -> Result<(), StoreError> {
        Store::remove_ignored(self, ids)
    }

    fn open_ignored(
        &self,
        entry: &IgnoredMail,
        new: &NewCase<'_>,
    ) -> Result<Applied<FromIgnored>, StoreError> {
        Store::open_ignored(self, entry, new)
    }

    fn queue_receipt(
        &self,
        edit: &Edit,
        mail: &Queued,
    ) -> Result<Applied<ReceiptQueued>, StoreError> {
        Store::queue_receipt(self, edit, mail)
    }

    fn sender_record(&self, email: &str) -> Result<loopbreak::Record, StoreError> {
        Store::sender_record(self, email)
    }

    fn set_sender_record(&self, email: &str, record: &loopbreak::Record) -> Result<(), StoreError> {
        Store::set_sender_record(self, email, record)
    }

    fn prune_sender_records(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        Store::prune_sender_records(self, now)
    }

    fn record_spent(&self, spent: &Spent) -> Result<(), StoreError> {
        Store::record_spent(self, spent)
    }

    fn spent_since(&self, since: DateTime<Utc>) -> Result<Vec<Spent>, StoreError> {
        Store::spent_since(self, since)
    }

    fn prune_marks(
        &self,
        before: DateTime<Utc>,
        purged: &HashSet<String>,
        rates_before: NaiveDate,
    ) -> Result<Pruned, StoreError> {
        Store::prune_marks(self, before, purged, rates_before)
    }

    fn horizon(&self, place: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        Store::horizon(self, place)
    }

    fn mark(&self, key: &super::MessageKey) -> Result<Option<Mark>, StoreError> {
        Store::mark(self, key)
    }

    fn schema_version(&self) -> Result<Option<u32>, StoreError> {
        Store::schema_version(self)
    }

    fn add_ticks(&self, ticks: &[Tick]) -> Result<(), StoreError> {
        Store::add_ticks(self, ticks)
    }

    fn tallies(
        &self,
        department: Option<&str>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(String, NaiveDate, DayTally)>, StoreError> {
        Store::tallies(self, department, from, to)
    }

    fn dump_head(&self) -> Result<DumpHead, StoreError> {
        Store::dump_head(self)
    }

    fn dump(&self, f: &mut DumpSink<'_>) -> Result<(), DumpError> {
        Store::dump(self, f)
    }

    fn reading_marks(&self, places: &[String]) -> Result<Vec<ReadingMark>, StoreError> {
        Store::reading_marks(self, places)
    }

    fn begin_load(&self, head: &DumpHead) -> Result<(), StoreError> {
        Store::begin_load(self, head)
    }

    fn load(&self, pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), StoreError> {
        Store::load(self, pairs)
    }

    fn finish_load(&self, head: &DumpHead, marks: &[ReadingMark]) -> Result<(), StoreError> {
        Store::finish_load(self, head, marks)
    }
}
