//! The default engine: sled, embedded, in one directory, nothing to install. One process has
//! it open at a time (sled's lock file), so it needs no leases; the "being read" marks are
//! small files beside the database (see [`super::Store::begin_reading`] for why not fsynced).

use super::error::{Cause, StoreError};
use super::kv::{Batch, Kv, KvTx, Scan, TxError, TxFn, TxResult};
use sled::transaction::{
    ConflictableTransactionError, TransactionError, TransactionalTree, UnabortableTransactionError,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The sled database in one directory, and its one tree `kvittens`.
pub(super) struct SledKv {
    path: PathBuf,
    db: sled::Db,
    tree: sled::Tree,
    /// Added to sled's own ids: raised by [`Kv::raise_ids`] after an import (sled's counter
    /// cannot be set), kept in the default tree under [`ID_OFFSET`].
    offset: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// Where [`SledKv`] keeps its id offset (outside the `kvittens` tree: not exported).
const ID_OFFSET: &[u8] = b"id_offset";

/// sled's page cache, in bytes: the scheduler's and the index's recent pages; a case is read
/// when its mail comes, not held.
const CACHE_BYTES: u64 = 4 * 1024 * 1024;

/// Whether sled refused to open because another process holds the store's lock file (sled
/// 0.34 says so only in words, as an `io::Error` of kind `Other`).
fn is_locked(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if io.to_string().contains("could not acquire lock"))
}

/// Why the store in `path` could not be had after `wait`: a daemon, when its control socket
/// in the directory answers (then the commands that can go through it should, and the others
/// wait for it to be stopped), else some other kvittens process that may soon let go.
fn held_by(path: &Path, wait: Duration) -> String {
    let socket = path.join(super::CONTROL_SOCKET);
    if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
        return format!(
            "a kvittens daemon runs on it (its control socket {} answers): store commands such as `cases` and `case` go through it; stop it (systemctl stop kvittens) for `export` or `import`",
            socket.display()
        );
    }
    format!(
        "in use by another kvittens process (the daemon or a command): waited {}s; try again",
        wait.as_secs_f32()
    )
}

impl SledKv {
    /// Opens (or creates) the database in `path`, waiting up to `wait` while another process
    /// has it open.
    ///
    /// # Errors
    /// The directory cannot be made, the store is corrupt, or still locked after `wait`.
    pub(super) fn open(path: &Path, wait: Duration) -> Result<SledKv, StoreError> {
        let fail = |what: &str, e: Cause| StoreError::caused(path.to_path_buf(), what, e);
        super::create_private_dir(path)
            .map_err(|e| fail("cannot create the directory", e.into()))?;
        // sled caches up to 1 GiB by default; cases are small and read rarely, so a small cache
        // keeps the daemon light on a shared municipal server.
        let config = sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_BYTES)
            // kvittens flushes where durability matters (a message handled, a mail about to
            // go); a timer flushing on top of that would only add disk writes.
            .flush_every_ms(None);
        let started = std::time::Instant::now();
        let db = loop {
            match config.open() {
                Ok(db) => break db,
                Err(e) if is_locked(&e) && started.elapsed() < wait => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                Err(e) if is_locked(&e) => {
                    return Err(StoreError::plain(path.to_path_buf(), held_by(path, wait)))
                }
                Err(e) => return Err(fail("cannot open", e.into())),
            }
        };
        let tree = db.open_tree("kvittens").map_err(|e| fail("", e.into()))?;
        let offset = match db.get(ID_OFFSET).map_err(|e| fail("", e.into()))? {
            Some(v) => u64::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 8])),
            None => 0,
        };
        Ok(SledKv {
            path: path.to_path_buf(),
            db,
            tree,
            offset: std::sync::Arc::new(offset.into()),
        })
    }

    /// `<store>/reading/<folder>`, with the `/` of a Sent folder's name (`bygg/sent`) as `+`.
    fn reading_path(&self, folder: &str) -> Result<PathBuf, Cause> {
        let dir = self.path.join("reading");
        std::fs::create_dir_all(&dir)?;
        Ok(dir.join(folder.replace('/', "+")))
    }
}

struct SledTx<'a>(&'a TransactionalTree, u64);

fn unabortable(e: UnabortableTransactionError) -> TxError {
    match e {
        UnabortableTransactionError::Conflict => TxError::Conflict,
        UnabortableTransactionError::Storage(e) => TxError::Engine(e.into()),
    }
}

impl KvTx for SledTx<'_> {
    fn get(&self, key: &[u8]) -> TxResult<Option<Vec<u8>>> {
        let v = self.0.get(key).map_err(unabortable)?;
        Ok(v.map(|v| v.to_vec()))
    }

    fn insert(&self, key: &[u8], value: &[u8]) -> TxResult<()> {
        self.0.insert(key, value).map_err(unabortable)?;
        Ok(())
    }

    fn remove(&self, key: &[u8]) -> TxResult<Option<Vec<u8>>> {
        let v = self.0.remove(key).map_err(unabortable)?;
        Ok(v.map(|v| v.to_vec()))
    }

    fn generate_id(&self) -> TxResult<u64> {
        let id = self
            .0
            .generate_id()
            .map_err(|e| TxError::Engine(e.into()))?;
        Ok(id + self.1)
    }
}

impl Kv for SledKv {
    fn name(&self) -> &Path {
        &self.path
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Cause> {
        Ok(self.tree.get(key)?.map(|v| v.to_vec()))
    }

    fn insert(&self, key: &[u8], value: &[u8]) -> Result<(), Cause> {
        self.tree.insert(key, value)?;
        Ok(())
    }

    fn remove(&self, key: &[u8]) -> Result<(), Cause> {
        self.tree.remove(key)?;
        Ok(())
    }

    fn range(&self, from: &[u8], to: Option<&[u8]>) -> Scan<'_> {
        let iter = match to {
            Some(to) => self.tree.range(from.to_vec()..to.to_vec()),
            None => self.tree.range(from.to_vec()..),
        };
        Box::new(iter.map(|kv| {
            let (k, v) = kv?;
            Ok((k.to_vec(), v.to_vec()))
        }))
    }

    fn apply_batch(&self, batch: Batch) -> Result<(), Cause> {
        let mut b = sled::Batch::default();
        for (k, v) in batch.0 {
            match v {
                Some(v) => b.insert(k, v),
                None => b.remove(k),
            }
        }
        self.tree.apply_batch(b)?;
        Ok(())
    }

    fn generate_id(&self) -> Result<u64, Cause> {
        Ok(self.db.generate_id()? + self.offset.load(std::sync::atomic::Ordering::SeqCst))
    }

    fn raise_ids(&self, above: u64) -> Result<(), Cause> {
        use std::sync::atomic::Ordering;
        let wanted = above.saturating_add(1);
        if self.offset.load(Ordering::SeqCst) >= wanted {
            return Ok(());
        }
        self.db.insert(ID_OFFSET, &wanted.to_be_bytes())?;
        self.db.flush()?;
        self.offset.fetch_max(wanted, Ordering::SeqCst);
        Ok(())
    }

    fn flush(&self) -> Result<(), Cause> {
        self.db.flush()?;
        Ok(())
    }

    fn transaction(&self, f: &mut TxFn<'_>) -> Result<(), TxError> {
        // sled wants `Fn`; the closure is only ever called from this thread, one run at a
        // time, so a RefCell lends it the `FnMut`.
        let f = std::cell::RefCell::new(f);
        let offset = self.offset.load(std::sync::atomic::Ordering::SeqCst);
        let result = self.tree.transaction(|tx| {
            let mut f = f.borrow_mut();
            f(&SledTx(tx, offset)).map_err(|e| match e {
                TxError::Abort(a) => ConflictableTransactionError::Abort(TxError::Abort(a)),
                TxError::Conflict => ConflictableTransactionError::Conflict,
                TxError::Engine(Cause::Sled(e)) => ConflictableTransactionError::Storage(e),
                TxError::Engine(other) => {
                    ConflictableTransactionError::Abort(TxError::Engine(other))
                }
            })
        });
        match result {
            Ok(()) => Ok(()),
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(TxError::Engine(e.into())),
        }
    }

    fn reading_mark(&self, folder: &str) -> Result<Option<(u32, u32)>, Cause> {
        let path = self.reading_path(folder)?;
        let Ok(text) = std::fs::read_to_string(path) else {
            return Ok(None);
        };
        let parse = || {
            let (validity, uid) = text.trim().split_once(' ')?;
            Some((validity.parse().ok()?, uid.parse().ok()?))
        };
        Ok(parse())
    }

    fn set_reading_mark(&self, folder: &str, mark: Option<(u32, u32)>) -> Result<(), Cause> {
        let path = self.reading_path(folder)?;
        let text = mark.map(|(v, u)| format!("{v} {u}\n")).unwrap_or_default();
        std::fs::write(path, text)?;
        Ok(())
    }

    fn lease(&self, _name: &str, _holder: &str, _seconds: u32) -> Result<bool, Cause> {
        Ok(true)
    }

    fn release_leases(&self, _holder: &str) -> Result<(), Cause> {
        Ok(())
    }
}
