//! The durable memory of kvittens: cases, mailbox cursors and the outbox. Everything else in the
//! program speaks of these; only this module knows they live in sled or PostgreSQL
//! ([`Store::connect`] opens either from the config), so the rest never depends on the engine.
//!
//! Every change that belongs together (a new case, its thread index, the "message handled"
//! mark and its outgoing mails) is one transaction, flushed to disk before the call returns:
//! after a crash at any point either all of it is there or none of it is.

use crate::model::Absence;
use crate::model::Case;
use crate::rules::schedule::Due;
use chrono::{DateTime, Utc};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod api;
mod budget;
mod change;
mod dump;
mod error;
mod gather;
mod ignored;
mod keys;
mod kv;
mod open;
mod outbox;
mod person;
mod pg;
mod prune;
mod schema;
mod sled_kv;
mod tally;
pub use api::CaseStore;
pub use change::{Applied, Edit, NewCase};
/// A store with something of everything a move must carry, for the tests of `export`/`import`.
#[cfg(test)]
pub(crate) use dump::tests::filled as filled_for_tests;
/// Asserts that a store whose import did not finish is refused, saying why.
#[cfg(test)]
pub(crate) use dump::tests::refused_half_loaded;
pub use dump::{DumpError, DumpHead, DumpSink, ReadingMark, IMPORT_LEASE};
use error::Abort;
pub use error::{Cause, StoreError};
pub use gather::{Gather, Held};
pub use ignored::{FromIgnored, IgnoredMail, ReceiptQueued};
pub use kv::LiveLease;
use kv::{Batch, Kv, KvTx, TxError, TxResult};
pub use open::OpenCase;
pub use outbox::{Fate, Flight, Gone, Note, Queued, Released};
pub use person::Erasure;
pub use prune::Pruned;
pub use schema::CURRENT as SCHEMA_VERSION;

/// Where a mailbox was read up to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The mailbox's UIDVALIDITY; when it changes, UIDs mean something else.
    pub uid_validity: u32,
    /// The highest UID handled.
    pub last_uid: u32,
}

/// Identifies one message in one mailbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageKey {
    /// The department whose mailbox it is in.
    pub department: String,
    /// The mailbox's UIDVALIDITY.
    pub uid_validity: u32,
    /// The message's UID.
    pub uid: u32,
}

impl MessageKey {
    fn key(&self) -> String {
        keys::handled(&self.department, self.uid_validity, self.uid)
    }
}

/// The "handled" mark of a message: kept so that a message read again (a restart before the
/// cursor reached the disk, the same mail in two mailboxes) changes nothing the second time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// The case it belongs to, or why it has none.
    pub note: String,
    /// When it was written; marks are pruned by age (see [`Store::prune_marks`]).
    pub at: DateTime<Utc>,
}

/// What a new case needs from the store: its sequence number and the department's turn for
/// round robin. Supplied inside the transaction, so two mailboxes never get the same number.
#[derive(Clone, Copy, Debug)]
pub struct Counters {
    /// The case's number within its prefix and year (1, 2, …).
    pub seq: u64,
    /// How many cases the department had before this one.
    pub turn: u64,
    /// How many receipts went to this resident today already (for the daily cap).
    pub receipts_today: u64,
}

/// What a change to a case sets in motion: mail to send and things that fall due later. Stored
/// in the same transaction as the change.
#[derive(Debug, Default)]
pub struct Effects {
    /// Mail for the outbox, each in its place.
    pub mails: Vec<Queued>,
    /// Entries for the schedule.
    pub dues: Vec<Due>,
    /// Whether a new case's mails count as one receipt to its sender today (the daily cap,
    /// `receipts_per_sender_per_day`): the caller says so, the store only counts.
    pub count_receipt: bool,
    /// What the change adds to the daily totals of the report ([`crate::model::tally`]).
    pub ticks: Vec<crate::model::tally::Tick>,
    /// Officers' bursts it changes: notices held for a gathered mail, or sent in one
    /// ([`crate::rules::burst`]). Applied only if each burst is still as read.
    pub gather: Vec<Gather>,
    /// A department's round-robin turn the change took (a case moved there and assigned by
    /// turn): moved on by one, and the change applied only if it is still as read.
    pub turn: Option<Turn>,
}

/// A department's round-robin turn as read, taken by a change to a case.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Turn {
    /// The department.
    pub department: String,
    /// The turn as read ([`Store::next_counters`]).
    pub was: u64,
}

/// Whether the turn `effects` took (if any) is still as read; if so, moves it on in `tx`.
fn tx_take_turn(tx: &dyn KvTx, effects: &Effects) -> TxResult<bool> {
    let Some(t) = &effects.turn else {
        return Ok(true);
    };
    let key = keys::turn(&t.department);
    if tx_get::<u64>(tx, &key)?.unwrap_or(0) != t.was {
        return Ok(false);
    }
    tx_put(tx, &key, &(t.was + 1))?;
    Ok(true)
}

/// A schedule entry's place in the store, to fire it by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DueKey(Vec<u8>);

fn tx_effects(tx: &dyn KvTx, effects: &Effects) -> TxResult<()> {
    for q in &effects.mails {
        tx_put(tx, &q.key(), &q.mail)?;
    }
    for due in &effects.dues {
        tx_put(tx, &keys::due(due.at, tx.generate_id()?), due)?;
    }
    gather::tx_gather(tx, &effects.gather)?;
    tally::tx_ticks(tx, &effects.ticks)
}

/// Writes a new case in `tx`: the case, its thread index (every Message-ID of it), its
/// outgoing mails and schedule entries, and — when the caller counts a receipt — one more on
/// the sender's daily receipt count (`rate`: its key and the count read in the same
/// transaction).
fn tx_new_case(
    tx: &dyn KvTx,
    (rate_key, receipts_today): (&str, u64),
    case: &Case,
    effects: &Effects,
) -> TxResult<()> {
    if effects.count_receipt {
        tx_put(tx, rate_key, &(receipts_today + 1))?;
    }
    let before: Option<Case> = tx_get(tx, &keys::case(&case.number))?;
    open::tx_write_case(tx, before.as_ref(), case)?;
    for id in &case.message_ids {
        tx_put(tx, &keys::message(id), &case.number)?;
    }
    tx_effects(tx, effects)
}

/// Writes the "handled" mark `key` in `tx`.
fn tx_mark(tx: &dyn KvTx, key: &str, note: &str) -> TxResult<()> {
    let mark = Mark {
        note: note.to_string(),
        at: Utc::now(),
    };
    tx_put(tx, key, &mark)
}

/// The key a sender's receipts of one day are counted under for the daily cap
/// (`receipts_per_sender_per_day`): `address/YYYY-MM-DD`, the day on the department's calendar.
/// One place makes it, so that the engine, the registrar, `explain` and `preview` count alike.
pub fn sender_day(address: &str, day: chrono::NaiveDate) -> String {
    format!("{address}/{day}")
}

/// What [`Store::open_case`] did.
#[derive(Debug)]
pub enum Opened {
    /// The case was recorded, with its outgoing mails.
    Created(Box<Case>),
    /// The message (by mailbox and UID, or by Message-ID) was handled before: nothing changed.
    AlreadyHandled,
}

/// The store.
#[derive(Clone)]
pub struct Store {
    path: PathBuf,
    /// The engine holding the keys ([`kv`]): sled by default.
    kv: std::sync::Arc<dyn Kv>,
    /// Per watched folder, the message kvittens was reading when it last stopped, as found in
    /// its "being read" mark at the first [`Store::begin_reading`] of this process.
    interrupted: std::sync::Arc<std::sync::Mutex<Interrupted>>,
}

/// Per watched folder, the UIDVALIDITY and UID of the message being read at the last stop.
type Interrupted = HashMap<String, Option<(u32, u32)>>;

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.path.display())
    }
}

fn tx_get<T: DeserializeOwned>(tx: &dyn KvTx, key: &str) -> TxResult<Option<T>> {
    match tx.get(key.as_bytes())? {
        None => Ok(None),
        Some(v) => serde_json::from_slice(&v)
            .map(Some)
            .map_err(|e| TxError::Abort(Abort::Json(key.to_string(), e))),
    }
}

fn tx_put<T: Serialize>(tx: &dyn KvTx, key: &str, value: &T) -> TxResult<()> {
    let bytes =
        serde_json::to_vec(value).map_err(|e| TxError::Abort(Abort::Json(key.to_string(), e)))?;
    tx.insert(key.as_bytes(), &bytes)?;
    Ok(())
}

fn tx_next(tx: &dyn KvTx, key: &str) -> TxResult<u64> {
    let n = tx_get::<u64>(tx, key)?.unwrap_or(0) + 1;
    tx_put(tx, key, &n)?;
    Ok(n)
}

/// How long opening the store waits while another process holds it: sled admits one process
/// at a time, and a command run while another runs (with the daemon stopped) should wait its
/// turn rather than fail; the store commands take well under a second.
pub const LOCK_WAIT: Duration = Duration::from_secs(5);

/// The name of the daemon's control socket in the state directory (sled's store directory):
/// the store names it when a daemon holds the store, and `ops::control` serves on it.
pub const CONTROL_SOCKET: &str = "control.sock";

/// Creates the store directory readable by its owner only (0700), and takes group and other
/// bits off one that exists: it holds residents' addresses and subjects (personal data under
/// GDPR), which no other local user has any business reading.
fn create_private_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let mode = std::fs::metadata(path)?.permissions().mode();
            if mode & 0o077 != 0 {
                // Best effort: a directory owned by someone else keeps its mode.
                let _ =
                    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700));
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

impl Store {
    /// Opens (or creates) the store in `path`, waiting up to [`LOCK_WAIT`] while another
    /// process has it open.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_waiting(path, LOCK_WAIT)
    }

    /// Opens the store `location` names: sled's directory (as [`Store::open`]) or a PostgreSQL
    /// database (connected, its schema brought up to date).
    ///
    /// # Errors
    /// As [`Store::open`]; for PostgreSQL, a database that does not answer, refuses the login,
    /// does not exist, shows a certificate that does not verify or was migrated by a newer
    /// kvittens, in plain words.
    pub fn connect(location: &crate::config::StoreLocation) -> Result<Store, StoreError> {
        match location {
            crate::config::StoreLocation::Sled(dir) => Store::open(dir),
            crate::config::StoreLocation::Postgres(pg) => {
                Store::over(std::sync::Arc::new(pg::PgKv::open(pg)?))
            }
        }
    }

    /// For `check-config --connect`: with PostgreSQL, logs in to the database and checks that
    /// its schema is not newer than this kvittens knows, changing nothing; the database's
    /// name, or the problem. `None` for sled (nothing to connect to).
    pub fn check_connection(
        location: &crate::config::StoreLocation,
    ) -> Option<Result<String, StoreError>> {
        match location {
            crate::config::StoreLocation::Sled(_) => None,
            crate::config::StoreLocation::Postgres(pg) => Some(pg::PgKv::check(pg)),
        }
    }

    /// [`Store::open`], waiting up to `wait` for another process to let go of the store.
    fn open_waiting(path: &Path, wait: Duration) -> Result<Store, StoreError> {
        let kv = sled_kv::SledKv::open(path, wait)?;
        Store::over(std::sync::Arc::new(kv))
    }

    /// Every key that begins with `prefix`, in order.
    fn scan_prefix(&self, prefix: &[u8]) -> kv::Scan<'_> {
        kv::scan_prefix(&*self.kv, prefix)
    }

    /// The store over an engine, migrated to the current schema.
    fn over(kv: std::sync::Arc<dyn Kv>) -> Result<Store, StoreError> {
        let store = Store {
            path: kv.name().to_path_buf(),
            kv,
            interrupted: Default::default(),
        };
        store.migrate(Utc::now())?;
        Ok(store)
    }

    /// A failure the caller found in what this store holds (a case a thread index names is
    /// gone): named with the store, like its own failures.
    pub fn inconsistent(&self, what: String) -> StoreError {
        StoreError::plain(self.path.clone(), what)
    }

    /// A failure of this store caused by `e`.
    fn err(&self, e: impl Into<Cause>) -> StoreError {
        StoreError::caused(self.path.clone(), "", e)
    }

    /// A failure of this store while doing `what`, caused by `e`.
    fn fail(&self, what: impl Into<String>, e: impl Into<Cause>) -> StoreError {
        StoreError::caused(self.path.clone(), what, e)
    }

    fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        match self.kv.get(key.as_bytes()).map_err(|e| self.err(e))? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| self.fail(key, e)),
        }
    }

    /// Writes one value outside a transaction (for values that stand alone).
    fn put<T: Serialize>(&self, key: &str, value: &T) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(value).map_err(|e| self.fail(key, e))?;
        self.kv
            .insert(key.as_bytes(), &bytes)
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn scan<T: DeserializeOwned>(&self, prefix: &str) -> Result<Vec<T>, StoreError> {
        self.scan_prefix(prefix.as_bytes())
            .map(|kv| {
                let (k, v) = kv.map_err(|e| self.err(e))?;
                serde_json::from_slice(&v).map_err(|e| self.fail(String::from_utf8_lossy(&k), e))
            })
            .collect()
    }

    /// Writes everything to disk. Called after every change that must survive a crash.
    ///
    /// # Errors
    /// When the disk refuses the write (full, read-only, failing).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.kv
            .flush()
            .map_err(|e| self.fail("cannot write to disk", e))
    }

    /// An atomic change, on disk when this returns.
    fn transaction<T: Send>(
        &self,
        f: impl Fn(&dyn KvTx) -> TxResult<T> + Sync,
    ) -> Result<T, StoreError> {
        let out = self.transaction_unflushed(f)?;
        self.flush()?;
        Ok(out)
    }

    /// An atomic change that reaches the disk with the next flush. For the steps whose loss in a
    /// crash only means doing them again (reading a message, firing a schedule entry): the mail
    /// they queue is flushed by the sender before it goes out (see [`Store::pending`]), so
    /// nothing is ever sent that the store could forget. One flush per batch instead of one
    /// per message is what lets a backlog go at the servers' pace.
    fn transaction_unflushed<T: Send>(
        &self,
        f: impl Fn(&dyn KvTx) -> TxResult<T> + Sync,
    ) -> Result<T, StoreError> {
        let mut out = None;
        self.kv
            .transaction(&mut |tx| {
                out = Some(f(tx)?);
                Ok(())
            })
            .map_err(|e| match e {
                TxError::Abort(a) => a.into_error(self.path.clone()),
                TxError::Engine(cause) => self.err(cause),
                TxError::Conflict => StoreError::plain(
                    self.path.clone(),
                    "a change kept conflicting with other writers; try again",
                ),
            })?;
        out.ok_or_else(|| StoreError::plain(self.path.clone(), "a transaction returned nothing"))
    }

    /// Where the department's mailbox was read up to.
    pub fn cursor(&self, department: &str) -> Result<Option<Cursor>, StoreError> {
        self.get(&keys::cursor(department))
    }

    /// Records where the department's mailbox was read up to.
    pub fn set_cursor(&self, department: &str, cursor: Cursor) -> Result<(), StoreError> {
        let key = keys::cursor(department);
        self.transaction_unflushed(|tx| tx_put(tx, &key, &cursor))
    }

    /// Whether this message was handled before.
    pub fn was_handled(&self, key: &MessageKey) -> Result<bool, StoreError> {
        self.has(&key.key())
    }

    /// A case by number.
    pub fn case(&self, number: &str) -> Result<Option<Case>, StoreError> {
        self.get(&keys::case(number))
    }

    /// Every case, in number order.
    pub fn cases(&self) -> Result<Vec<Case>, StoreError> {
        self.scan(keys::prefix::CASE)
    }

    /// The case a Message-ID belongs to.
    pub fn case_of_message(&self, message_id: &str) -> Result<Option<String>, StoreError> {
        self.get(&keys::message(message_id))
    }

    /// How many receipts went to a sender on a day; `sender_today` is [`sender_day`]'s, as
    /// [`Store::open_case`] counts them for the daily cap.
    pub fn receipts_today(&self, sender_today: &str) -> Result<u64, StoreError> {
        Ok(self.get(&keys::rate(sender_today))?.unwrap_or(0))
    }

    /// Marks a message handled without a case (ignored).
    pub fn mark_handled(&self, key: &MessageKey, note: &str) -> Result<(), StoreError> {
        let k = key.key();
        self.transaction_unflushed(|tx| tx_mark(tx, &k, note))
    }

    /// The counters [`Store::open_case`] would hand the next new case of `department` with
    /// number prefix and year `counter`, read without taking them: for `preview`, which shows
    /// the receipt with the number and officer it would get. Only a guess while mail arrives:
    /// a case opened in between takes the number.
    pub fn next_counters(
        &self,
        department: &str,
        counter: (&str, i32),
        sender_today: &str,
    ) -> Result<Counters, StoreError> {
        let seq: u64 = self.get(&keys::seq(counter.0, counter.1))?.unwrap_or(0);
        let turn: u64 = self.get(&keys::turn(department))?.unwrap_or(0);
        Ok(Counters {
            seq: seq + 1,
            turn,
            receipts_today: self.receipts_today(sender_today)?,
        })
    }

    /// Schedule entries due at or before `now`, oldest first (at most `limit`).
    pub fn due_until(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> Result<Vec<(DueKey, Due)>, StoreError> {
        let end = keys::due_after(now);
        self.kv
            .range(keys::prefix::DUE.as_bytes(), Some(end.as_bytes()))
            .take(limit)
            .map(|kv| {
                let (k, v) = kv.map_err(|e| self.err(e))?;
                let due = serde_json::from_slice(&v)
                    .map_err(|e| self.fail(String::from_utf8_lossy(&k), e))?;
                Ok((DueKey(k.to_vec()), due))
            })
            .collect()
    }

    /// When the next schedule entry falls due.
    pub fn next_due(&self) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        match self.scan_prefix(keys::prefix::DUE.as_bytes()).next() {
            None => Ok(None),
            Some(kv) => {
                let (_, v) = kv.map_err(|e| self.err(e))?;
                let due: Due = serde_json::from_slice(&v).map_err(|e| self.err(e))?;
                Ok(Some(due.at))
            }
        }
    }

    /// Calls `f` with every case, one at a time (for figures over a large store without
    /// holding it all in memory).
    pub fn for_each_case(&self, mut f: impl FnMut(Case)) -> Result<(), StoreError> {
        for kv in self.scan_prefix(keys::prefix::CASE.as_bytes()) {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            let case = serde_json::from_slice(&v)
                .map_err(|e| self.fail(String::from_utf8_lossy(&k), e))?;
            f(case);
        }
        Ok(())
    }

    /// Writes many cases at once, with their thread index and schedule entries (for `import`
    /// and for filling a store in benchmarks): one batch and one flush per thousand.
    pub fn put_many(&self, cases: &[Case], dues: &[Due]) -> Result<(), StoreError> {
        for chunk in cases.chunks(1000) {
            let mut batch = Batch::new();
            for case in chunk {
                let bytes = serde_json::to_vec(case).map_err(|e| self.err(e))?;
                let before = self.case(&case.number)?;
                open::batch_write_case(&mut batch, before.as_ref(), case, bytes);
                for id in &case.message_ids {
                    let number = serde_json::to_vec(&case.number).map_err(|e| self.err(e))?;
                    batch.insert(keys::message(id).into_bytes(), number);
                }
            }
            self.kv.apply_batch(batch).map_err(|e| self.err(e))?;
            self.flush()?;
        }
        for chunk in dues.chunks(10_000) {
            let mut batch = Batch::new();
            for due in chunk {
                let id = self.kv.generate_id().map_err(|e| self.err(e))?;
                let key = keys::due(due.at, id);
                batch.insert(
                    key.into_bytes(),
                    serde_json::to_vec(due).map_err(|e| self.err(e))?,
                );
            }
            self.kv.apply_batch(batch).map_err(|e| self.err(e))?;
        }
        self.flush()
    }

    /// Makes sure case numbers of `prefix` and `year` continue above `seq` (after an import).
    pub fn raise_seq(&self, prefix: &str, year: i32, seq: u64) -> Result<(), StoreError> {
        let key = keys::seq(prefix, year);
        self.transaction(|tx| {
            if tx_get::<u64>(tx, &key)?.unwrap_or(0) < seq {
                tx_put(tx, &key, &seq)?;
            }
            Ok(())
        })
    }

    /// Removes a case and its thread index (retention). Its schedule entries are dropped when
    /// they fall due and find no case.
    pub fn remove_case(&self, number: &str) -> Result<bool, StoreError> {
        let key = keys::case(number);
        self.transaction(|tx| {
            let Some(case) = tx_get::<Case>(tx, &key)? else {
                return Ok(false);
            };
            for id in &case.message_ids {
                tx.remove(keys::message(id).as_bytes())?;
            }
            open::tx_remove_case(tx, &case)?;
            Ok(true)
        })
    }

    /// When housekeeping last ran.
    pub fn last_housekeeping(&self) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        self.get(keys::HOUSEKEEPING)
    }

    /// Records that housekeeping ran at `at`.
    pub fn set_housekeeping(&self, at: chrono::DateTime<chrono::Utc>) -> Result<(), StoreError> {
        self.transaction(|tx| tx_put(tx, keys::HOUSEKEEPING, &at))
    }

    /// When the department's last digest was due.
    pub fn last_digest(
        &self,
        department: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        self.get(&keys::digest(department))
    }

    /// When the department's digests count from: the last digest's time, or — on the very first
    /// call — `now`, recorded, so that a first start neither sends old digests nor skips today's.
    pub fn digest_baseline(
        &self,
        department: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<chrono::DateTime<chrono::Utc>, StoreError> {
        if let Some(last) = self.last_digest(department)? {
            return Ok(last);
        }
        let key = keys::digest(department);
        self.transaction(
            |tx| match tx_get::<chrono::DateTime<chrono::Utc>>(tx, &key)? {
                Some(last) => Ok(last),
                None => {
                    tx_put(tx, &key, &now)?;
                    Ok(now)
                }
            },
        )
    }

    /// Queues the digest due at `at`, unless one was queued for that moment or later already.
    pub fn queue_digest(
        &self,
        department: &str,
        at: chrono::DateTime<chrono::Utc>,
        mail: &Queued,
    ) -> Result<bool, StoreError> {
        let key = keys::digest(department);
        self.transaction(|tx| {
            if tx_get::<chrono::DateTime<chrono::Utc>>(tx, &key)?.is_some_and(|last| last >= at) {
                return Ok(false);
            }
            tx_put(tx, &key, &at)?;
            tx_put(tx, &mail.key(), &mail.mail)?;
            Ok(true)
        })
    }

    /// Records that `officer` is away (set at run time; kept with the planned absences).
    pub fn add_absence(&self, officer: &str, absence: &Absence) -> Result<(), StoreError> {
        let key = keys::away(&officer.to_lowercase(), absence.from);
        let value = (officer.to_lowercase(), absence.clone());
        self.transaction(|tx| tx_put(tx, &key, &value))
    }

    /// Every absence recorded at run time, by officer address.
    pub fn absences(&self) -> Result<Vec<(String, Absence)>, StoreError> {
        self.scan(keys::prefix::AWAY)
    }

    /// The web page's secret key (32 random bytes), made and kept on first use, so that the
    /// tokens of its forms stay valid across restarts and are never guessable.
    pub fn web_key(&self) -> Result<Vec<u8>, StoreError> {
        use rand::RngCore;
        if let Some(key) = self.get::<Vec<u8>>(keys::WEB_KEY)? {
            return Ok(key);
        }
        let mut fresh = vec![0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut fresh);
        // Two first uses at once: the first one written wins, and both return it.
        self.transaction(|tx| match tx.get(keys::WEB_KEY.as_bytes())? {
            Some(v) => Ok(serde_json::from_slice(&v).unwrap_or_else(|_| fresh.clone())),
            None => {
                tx_put(tx, keys::WEB_KEY, &fresh)?;
                Ok(fresh.clone())
            }
        })
    }

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
    pub fn begin_reading(&self, key: &MessageKey) -> Result<bool, StoreError> {
        let this = (key.uid_validity, key.uid);
        let was = {
            let mut seen = self.interrupted.lock().map_err(|_| {
                StoreError::plain(self.path.clone(), "the reading marks' lock is poisoned")
            })?;
            if !seen.contains_key(&key.department) {
                let left = self.reading_mark(&key.department)?;
                seen.insert(key.department.clone(), left);
            }
            seen.get(&key.department) == Some(&Some(this))
        };
        let stale = was && self.was_handled(key)?;
        if stale {
            tracing::debug!(folder = %key.department, uid = key.uid, "the \"being read\" mark names a message handled before the stop: cleared, nothing set aside");
        }
        self.kv
            .set_reading_mark(&key.department, Some(this))
            .map_err(|e| self.fail(format!("the \"being read\" mark of {}", key.department), e))?;
        Ok(was && !stale)
    }

    /// Forgets the "being read" mark this process read for `folder` (see
    /// [`api::CaseStore::forget_reading`]).
    pub fn forget_reading(&self, folder: &str) {
        if let Ok(mut seen) = self.interrupted.lock() {
            seen.remove(folder);
        }
    }

    /// Clears the "being read" mark of `key`'s folder once the message is handled (its record
    /// is in the store, flushed or about to be with the next flush).
    pub fn end_reading(&self, key: &MessageKey) -> Result<(), StoreError> {
        self.kv
            .set_reading_mark(&key.department, None)
            .map_err(|e| self.fail(format!("the \"being read\" mark of {}", key.department), e))
    }

    /// The "being read" mark a stopped process left for `folder`.
    fn reading_mark(&self, folder: &str) -> Result<Option<(u32, u32)>, StoreError> {
        self.kv
            .reading_mark(folder)
            .map_err(|e| self.fail(format!("the \"being read\" mark of {folder}"), e))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::mail::outgoing::Outgoing;
    use crate::model::Kind;
    use chrono::Utc;

    pub(crate) use crate::testkit::case;

    pub(crate) fn mail(case: &str) -> Outgoing {
        Outgoing {
            id: format!("kvittens.receipt.{case}@kommun.test"),
            about: case.to_string().into(),
            kind: Kind::Receipt,
            envelope_from: "bygg@kommun.test".into(),
            to: vec!["a@example.org".into()],
            bytes: b"Subject: x\r\n\r\nx".to_vec(),
            received: None,
            copy: true,
        }
    }

    pub(crate) fn key(uid: u32) -> MessageKey {
        MessageKey {
            department: "bygg".into(),
            uid_validity: 7,
            uid,
        }
    }

    /// Opens a case for message `uid` as the engine would: counters read, case worked out,
    /// applied (again on a stale answer).
    pub(crate) fn open(store: &Store, uid: u32, msg_id: &str) -> Opened {
        let today = "a@example.org/2026-01-01";
        loop {
            let counters = store.next_counters("bygg", ("BMN", 2026), today).unwrap();
            let n = crate::model::ids::case_number("BMN", 2026, counters.seq);
            let c = case(&n, &[msg_id]);
            let due = Due {
                at: c.reply_due,
                department: "bygg".into(),
                case: Some(n.clone()),
                kind: crate::rules::schedule::DueKind::Remind,
                deadline: Some(c.reply_due),
            };
            let effects = Effects {
                mails: vec![Queued {
                    rank: 0,
                    mail: mail(&n),
                }],
                dues: vec![due],
                count_receipt: true,
                ticks: Vec::new(),
                gather: Vec::new(),
                turn: None,
            };
            let new = NewCase {
                department: "bygg",
                key: Some(&key(uid)),
                message_id: Some(msg_id),
                counter: ("BMN", 2026),
                sender_today: today,
                counters,
                case: &c,
                effects: &effects,
            };
            if let Applied::Done(opened) = store.open_case(&new).unwrap() {
                return opened;
            }
        }
    }

    /// `number` as read, and as `change` makes it.
    pub(crate) fn edit(store: &Store, number: &str, change: impl Fn(&mut Case)) -> Edit {
        let before = store.case(number).unwrap().unwrap();
        let mut after = before.clone();
        change(&mut after);
        Edit { before, after }
    }

    #[test]
    fn a_stale_change_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        open(&store, 1, "m1@x");
        let counters = store
            .next_counters("bygg", ("BMN", 2026), "a@example.org/2026-01-01")
            .unwrap();
        // Read, then another message opens a case first: the counters moved on.
        open(&store, 2, "m2@x");
        let c = case("BMN-2026-0002", &["m3@x"]);
        let effects = Effects::default();
        let new = NewCase {
            department: "bygg",
            key: Some(&key(3)),
            message_id: Some("m3@x"),
            counter: ("BMN", 2026),
            sender_today: "a@example.org/2026-01-01",
            counters,
            case: &c,
            effects: &effects,
        };
        assert!(matches!(store.open_case(&new).unwrap(), Applied::Stale));
        assert!(!store.was_handled(&key(3)).unwrap());
        assert_eq!(store.cases().unwrap().len(), 2);
        // A case changed since it was read is not overwritten.
        let first = edit(&store, "BMN-2026-0001", |c| c.log(Utc::now(), "first"));
        let second = edit(&store, "BMN-2026-0001", |c| c.log(Utc::now(), "second"));
        assert_eq!(
            store.update_case(&first, &effects).unwrap(),
            Applied::Done(())
        );
        assert_eq!(
            store.update_case(&second, &effects).unwrap(),
            Applied::Stale
        );
        let events = store.case("BMN-2026-0001").unwrap().unwrap().events;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].what, "first");
    }

    #[test]
    fn next_counters_are_what_the_next_case_gets_and_take_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let peek = |s: &Store| {
            s.next_counters("bygg", ("BMN", 2026), "a@example.org/2026-01-01")
                .unwrap()
        };
        let c = peek(&store);
        assert_eq!((c.seq, c.turn, c.receipts_today), (1, 0, 0));
        open(&store, 1, "m1@x");
        // Peeking twice takes no number: the next case still gets 0002.
        assert_eq!(peek(&store).seq, 2);
        assert_eq!(peek(&store).seq, 2);
        assert_eq!(peek(&store).turn, 1);
        let Opened::Created(c) = open(&store, 2, "m2@x") else {
            panic!()
        };
        assert_eq!(c.number, "BMN-2026-0002");
        // Numbering follows the counter, not the cases kept: an import raises it.
        store.raise_seq("BMN", 2026, 41).unwrap();
        assert_eq!(peek(&store).seq, 42);
    }

    #[test]
    fn the_store_directory_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/store");
        Store::open(&path).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o700);
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        Store::open(&open).unwrap();
        assert_eq!(mode(&open), 0o700);
    }

    /// A store held by a running daemon (its control socket answers) says so, and where the
    /// commands go, rather than "another process (the daemon or a command)".
    #[test]
    fn a_store_held_by_a_daemon_says_a_daemon_runs_on_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let _first = Store::open(&path).unwrap();
        let socket = path.join(CONTROL_SOCKET);
        let _daemon = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let Err(e) = Store::open_waiting(&path, Duration::from_millis(100)) else {
            panic!("the store is held")
        };
        let said = e.to_string();
        assert!(
            said.contains(&format!(
                "a kvittens daemon runs on it (its control socket {} answers)",
                socket.display()
            )) && said.contains("store commands such as `cases` and `case` go through it")
                && said.contains("stop it (systemctl stop kvittens) for `export`"),
            "{said}"
        );
    }

    #[test]
    fn a_store_in_use_is_waited_for_then_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let first = Store::open(&path).unwrap();
        let started = std::time::Instant::now();
        let Err(e) = Store::open_waiting(&path, Duration::from_millis(300)) else {
            panic!("the store is held")
        };
        assert!(started.elapsed() >= Duration::from_millis(300));
        let said = e.to_string();
        assert!(
            said.contains("in use by another kvittens process (the daemon or a command)")
                && said.contains("try again")
                && said.contains(&path.display().to_string())
                && !said.contains("WouldBlock"),
            "{said}"
        );
        // Let go while the second waits: it gets the store.
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            drop(first);
        });
        let second = Store::open_waiting(&path, Duration::from_secs(10));
        releaser.join().unwrap();
        assert!(second.is_ok(), "{:?}", second.err());
    }

    #[test]
    fn a_case_its_index_and_its_mail_arrive_together() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let Opened::Created(c) = open(&store, 1, "m1@x") else {
            panic!()
        };
        assert_eq!(c.number, "BMN-2026-0001");
        assert_eq!(
            store.case_of_message("m1@x").unwrap().as_deref(),
            Some("BMN-2026-0001")
        );
        assert!(store.was_handled(&key(1)).unwrap());
        assert_eq!(store.pending().unwrap().len(), 1);
        assert_eq!(
            store.case("BMN-2026-0001").unwrap().unwrap().number,
            "BMN-2026-0001"
        );
    }

    #[test]
    fn the_same_message_never_opens_two_cases() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(matches!(open(&store, 1, "m1@x"), Opened::Created(_)));
        // Same UID again, and the same Message-ID in another place.
        assert!(matches!(open(&store, 1, "m1@x"), Opened::AlreadyHandled));
        assert!(matches!(open(&store, 2, "m1@x"), Opened::AlreadyHandled));
        assert_eq!(store.cases().unwrap().len(), 1);
        assert_eq!(store.pending().unwrap().len(), 1);
    }

    #[test]
    fn numbers_survive_a_restart_and_are_never_reused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            open(&store, 1, "m1@x");
            open(&store, 2, "m2@x");
        }
        let store = Store::open(dir.path()).unwrap();
        let Opened::Created(c) = open(&store, 3, "m3@x") else {
            panic!()
        };
        assert_eq!(c.number, "BMN-2026-0003");
    }

    #[test]
    fn follow_ups_join_the_case_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        open(&store, 1, "m1@x");
        let joined = edit(&store, "BMN-2026-0001", |c| {
            c.message_ids.push("m2@x".into());
            c.log(Utc::now(), "follow-up");
        });
        let none = Effects::default();
        let attach = |e: &Edit| store.attach(&key(2), Some("m2@x"), e, &none).unwrap();
        assert_eq!(attach(&joined), Applied::Done(true));
        assert_eq!(attach(&joined), Applied::Done(false));
        let c = store.case("BMN-2026-0001").unwrap().unwrap();
        assert_eq!(c.message_ids, vec!["m1@x", "m2@x"]);
        assert_eq!(c.events.len(), 1);
        assert_eq!(
            store.case_of_message("m2@x").unwrap().as_deref(),
            Some("BMN-2026-0001")
        );
    }

    #[test]
    fn a_due_entry_fires_once_with_its_effects() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        open(&store, 1, "m1@x");
        let c = store.case("BMN-2026-0001").unwrap().unwrap();
        assert_eq!(store.next_due().unwrap(), Some(c.reply_due));
        assert!(store
            .due_until(c.reply_due - chrono::Duration::seconds(1), 10)
            .unwrap()
            .is_empty());
        let due = store.due_until(c.reply_due, 10).unwrap();
        assert_eq!(due.len(), 1);
        let (key, entry) = &due[0];
        assert_eq!(entry.case.as_deref(), Some("BMN-2026-0001"));
        let reminded = edit(&store, "BMN-2026-0001", |c| c.log(Utc::now(), "reminded"));
        let effects = Effects {
            mails: vec![Queued {
                rank: 1,
                mail: Outgoing {
                    id: "r1@x".into(),
                    ..mail("BMN-2026-0001")
                },
            }],
            ..Effects::default()
        };
        let batch = vec![key.clone()];
        let edits = [reminded];
        let fire = || store.fire_batch(&batch, &edits, &effects).unwrap();
        assert_eq!(fire(), Applied::Done(1));
        assert_eq!(fire(), Applied::Stale, "fired twice");
        assert!(store.due_until(c.reply_due, 10).unwrap().is_empty());
        assert_eq!(store.pending().unwrap().len(), 2);
        let events = store.case("BMN-2026-0001").unwrap().unwrap().events;
        assert_eq!(events.iter().filter(|e| e.what == "reminded").count(), 1);
    }

    #[test]
    fn digests_are_queued_once_per_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let at = Utc::now();
        let m = Queued {
            rank: 1,
            mail: Outgoing {
                id: "d1@x".into(),
                ..mail("digest-bygg")
            },
        };
        assert!(store.queue_digest("bygg", at, &m).unwrap());
        assert!(!store.queue_digest("bygg", at, &m).unwrap());
        assert_eq!(store.last_digest("bygg").unwrap(), Some(at));
    }

    #[test]
    fn absences_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = Absence {
            from: "2026-12-01".parse().unwrap(),
            to: "2026-12-03".parse().unwrap(),
            substitute: "o2@kommun.test".into(),
        };
        store.add_absence("O1@kommun.test", &a).unwrap();
        assert_eq!(
            store.absences().unwrap(),
            vec![("o1@kommun.test".to_string(), a)]
        );
    }

    #[test]
    fn a_message_being_read_at_a_stop_is_named_once_at_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let sent = |uid| MessageKey {
            department: "bygg/sent".into(),
            ..key(uid)
        };
        {
            let store = Store::open(dir.path()).unwrap();
            assert!(!store.begin_reading(&key(1)).unwrap());
            store.end_reading(&key(1)).unwrap();
            assert!(!store.begin_reading(&key(2)).unwrap());
            assert!(!store.begin_reading(&sent(7)).unwrap());
            // Stopped while reading 2 in the inbox and 7 in the Sent folder.
        }
        let store = Store::open(dir.path()).unwrap();
        // Messages before it come again first (the cursor is older); they are not suspects,
        // and reading them does not make kvittens forget which one was.
        assert!(!store.begin_reading(&key(1)).unwrap());
        store.end_reading(&key(1)).unwrap();
        assert!(store.begin_reading(&key(2)).unwrap());
        store.end_reading(&key(2)).unwrap();
        assert!(!store.begin_reading(&key(3)).unwrap());
        assert!(store.begin_reading(&sent(7)).unwrap());
        store.end_reading(&sent(7)).unwrap();
        store.end_reading(&key(3)).unwrap();
        drop(store);
        // Handled to the end: nothing is named after a clean stop.
        let store = Store::open(dir.path()).unwrap();
        assert!(!store.begin_reading(&key(2)).unwrap());
        assert!(!store.begin_reading(&sent(7)).unwrap());
    }

    #[test]
    fn a_mark_another_instance_left_is_read_again_once_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(!store.begin_reading(&key(1)).unwrap());
        store.end_reading(&key(1)).unwrap();
        // Another instance, holding the folder's lease meanwhile, stopped while reading 9.
        let left = Some((key(9).uid_validity, 9));
        store.kv.set_reading_mark("bygg", left).unwrap();
        assert!(
            !store.begin_reading(&key(9)).unwrap(),
            "read before the takeover"
        );
        store.kv.set_reading_mark("bygg", left).unwrap();
        store.forget_reading("bygg");
        assert!(
            store.begin_reading(&key(9)).unwrap(),
            "not set aside after the takeover"
        );
    }

    #[test]
    fn a_stale_mark_on_a_handled_message_sets_nothing_aside() {
        let dir = tempfile::tempdir().unwrap();
        let sent = |uid| MessageKey {
            department: "bygg/sent".into(),
            ..key(uid)
        };
        {
            let store = Store::open(dir.path()).unwrap();
            assert!(!store.begin_reading(&key(4)).unwrap());
            store.mark_handled(&key(4), "BMN-2026-0001").unwrap();
            assert!(!store.begin_reading(&sent(5)).unwrap());
            store.flush().unwrap();
            // Killed here: both marks stay, but only the Sent folder's message was not handled.
        }
        let store = Store::open(dir.path()).unwrap();
        assert!(
            !store.begin_reading(&key(4)).unwrap(),
            "handled before the kill: nothing to set aside"
        );
        store.end_reading(&key(4)).unwrap();
        assert!(store.begin_reading(&sent(5)).unwrap());
        store.end_reading(&sent(5)).unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert!(
            !store.begin_reading(&key(4)).unwrap(),
            "the mark was cleared"
        );
    }

    #[test]
    fn cursors_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.cursor("bygg").unwrap(), None);
        let c = Cursor {
            uid_validity: 5,
            last_uid: 9,
        };
        store.set_cursor("bygg", c).unwrap();
        assert_eq!(store.cursor("bygg").unwrap(), Some(c));
    }
}
