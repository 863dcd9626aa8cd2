//! The one thing a store engine must offer: ordered keys with JSON values, read one at a time
//! or in key order, and changed in all-or-nothing transactions. Everything kvittens keeps
//! ([`super::keys`] names it) is written through this, so sled ([`super::sled_kv`]) and
//! PostgreSQL ([`super::pg`]) hold exactly the same keys, an export of one imports into the
//! other, and the case logic above ([`super::Store`]) is written once.
//!
//! Transactions are optimistic on both engines: a closure may run more than once when another
//! writer touched the same keys (sled's conflict, PostgreSQL's serialization failure), so it
//! must not have effects outside the transaction — only reads and writes through [`KvTx`].

use super::error::{Abort, Cause};
use std::path::Path;

/// Why a transaction's closure stopped.
#[derive(Debug)]
pub(super) enum TxError {
    /// The closure gave up (a value that is not valid JSON): nothing is written.
    Abort(Abort),
    /// Another writer changed what the closure read: the engine runs it again.
    Conflict,
    /// The engine failed (I/O, the database went away).
    Engine(Cause),
}

impl From<Cause> for TxError {
    fn from(cause: Cause) -> TxError {
        TxError::Engine(cause)
    }
}

/// What a transaction's steps return.
pub(super) type TxResult<T> = Result<T, TxError>;

/// The keys and values seen and changed inside one transaction.
pub(super) trait KvTx {
    /// The value at `key`, as this transaction sees it.
    fn get(&self, key: &[u8]) -> TxResult<Option<Vec<u8>>>;
    /// Writes `value` at `key`.
    fn insert(&self, key: &[u8], value: &[u8]) -> TxResult<()>;
    /// Removes `key`; the value it had, if any.
    fn remove(&self, key: &[u8]) -> TxResult<Option<Vec<u8>>>;
    /// A number never handed out before by this store (for keys that must be unique: schedule
    /// entries, ignored mail), rising but not necessarily by one.
    fn generate_id(&self) -> TxResult<u64>;
}

/// A transaction's closure, as [`Kv::transaction`] takes it: `Send`, because an engine may
/// run it on a thread of its own (PostgreSQL's sync client inside a tokio runtime).
pub(super) type TxFn<'a> = dyn FnMut(&dyn KvTx) -> TxResult<()> + Send + 'a;

/// One key and its value, as a scan yields them.
pub(super) type Pair = (Vec<u8>, Vec<u8>);

/// A scan in key order; each step may fail (I/O, the database went away).
pub(super) type Scan<'a> = Box<dyn Iterator<Item = Result<Pair, Cause>> + Send + 'a>;

/// Writes applied together outside a transaction, in order: `(key, Some(value))` writes,
/// `(key, None)` removes. For bulk work (import, rebuilding an index, pruning) where nothing
/// is read back.
#[derive(Debug, Default)]
pub(super) struct Batch(pub(super) Vec<(Vec<u8>, Option<Vec<u8>>)>);

impl Batch {
    /// An empty batch.
    pub(super) fn new() -> Batch {
        Batch::default()
    }

    /// Writes `value` at `key`.
    pub(super) fn insert(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.0.push((key.into(), Some(value.into())));
    }

    /// Removes `key`.
    pub(super) fn remove(&mut self, key: impl Into<Vec<u8>>) {
        self.0.push((key.into(), None));
    }
}

/// A store engine: an ordered map from byte keys to byte values.
pub(super) trait Kv: Send + Sync {
    /// How the engine is named in errors and logs: the store directory, or the database URL
    /// without its password.
    fn name(&self) -> &Path;
    /// The value at `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Cause>;
    /// Writes one value on its own.
    fn insert(&self, key: &[u8], value: &[u8]) -> Result<(), Cause>;
    /// Removes one key on its own.
    fn remove(&self, key: &[u8]) -> Result<(), Cause>;
    /// Keys from `from` (inclusive) up to `to` (exclusive; the end when none), in order.
    fn range(&self, from: &[u8], to: Option<&[u8]>) -> Scan<'_>;
    /// Applies `batch` at once.
    fn apply_batch(&self, batch: Batch) -> Result<(), Cause>;
    /// A number never handed out before (see [`KvTx::generate_id`]).
    fn generate_id(&self) -> Result<u64, Cause>;
    /// Makes every later [`Kv::generate_id`] (and [`KvTx::generate_id`]) return more than
    /// `above`: after an import, so that new keys never collide with imported ones.
    fn raise_ids(&self, above: u64) -> Result<(), Cause>;
    /// Makes everything written so far durable (sled: to disk; PostgreSQL commits at once).
    fn flush(&self) -> Result<(), Cause>;
    /// Runs `f` as one transaction, again after a conflict, until it commits or fails.
    fn transaction(&self, f: &mut TxFn<'_>) -> Result<(), TxError>;
    /// The "being read" mark of a watched folder (see [`super::Store::begin_reading`]): the
    /// UIDVALIDITY and UID of the message being read, none when none was.
    fn reading_mark(&self, folder: &str) -> Result<Option<(u32, u32)>, Cause>;
    /// Rewrites the "being read" mark of `folder`; `None` clears it.
    fn set_reading_mark(&self, folder: &str, mark: Option<(u32, u32)>) -> Result<(), Cause>;
    /// Takes or renews the lease `name` for `holder` for `seconds`, measured on the engine's
    /// clock; whether `holder` has it now. An engine that one process has to itself (sled)
    /// always says yes.
    fn lease(&self, name: &str, holder: &str, seconds: u32) -> Result<bool, Cause>;
    /// Gives up every lease `holder` has (at a clean stop, so another instance takes over at
    /// once instead of after the lease runs out).
    fn release_leases(&self, holder: &str) -> Result<(), Cause>;
    /// Every lease still running on the engine's clock (several instances on one store show
    /// here, wherever they run). An engine that one process has to itself (sled) has none.
    fn live_leases(&self) -> Result<Vec<LiveLease>, Cause> {
        Ok(Vec::new())
    }
}

/// A lease still running: who holds it, and for how much longer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveLease {
    /// The lease's name (a department, `sender`, `import`).
    pub name: String,
    /// Its holder, `host/pid/…` as the instance named itself.
    pub holder: String,
    /// Seconds until it runs out unless renewed (rounded up).
    pub seconds_left: u64,
}

/// Keys that begin with `prefix`: the range `prefix..` up to the first key that does not.
pub(super) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Every key that begins with `prefix`, in order.
pub(super) fn scan_prefix<'a>(kv: &'a dyn Kv, prefix: &[u8]) -> Scan<'a> {
    let end = prefix_end(prefix);
    kv.range(prefix, end.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_ends_at_the_next_key_that_does_not_share_it() {
        assert_eq!(prefix_end(b"case:"), Some(b"case;".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
    }
}
