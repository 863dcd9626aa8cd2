//! The second engine: PostgreSQL (`store = "postgresql://user@host:port/db"`), so that several
//! instances share one state. It holds exactly the keys sled holds (one table `kv`, BYTEA keys
//! ordered bytewise as sled orders them), plus the leases and the "being read" marks in tables
//! of their own; the schema comes from `migrations/` ([`migrate`]).
//!
//! # Why the synchronous client, and how it is called
//!
//! The store's API ([`crate::store::CaseStore`]) is synchronous and is called from tokio
//! tasks. The sync `postgres::Client` runs each call on its own small runtime, and starting a
//! runtime inside another panics. So every call goes through [`PgKv::run`]: inline when the
//! calling thread is not inside a runtime (the command line, tests), else on a scoped thread
//! (`std::thread::scope`, so that a transaction's closure may borrow from its caller) while
//! the caller's thread waits, as any blocking store call does. Connections come from a small
//! pool (`Mutex<Vec<Client>>`): one is taken for a call and put back after; a broken one (the
//! database restarted) is dropped and a new one made on next use, so a database that comes
//! back is used again without a restart of kvittens.
//!
//! # Transactions
//!
//! `BEGIN ISOLATION LEVEL SERIALIZABLE`, the closure, `COMMIT`; a serialization failure or a
//! deadlock (SQLSTATE 40001, 40P01), at any statement or at the commit, runs the closure
//! again after a short jittered pause, as sled runs it again after a conflict.

mod connect;
mod migrate;
mod scan;
mod tx;

use super::error::{Cause, StoreError};
use super::kv::{Batch, Kv, Scan, TxError, TxFn};
use crate::config::PgLocation;
use postgres::Client;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Connections kept open between calls; more are opened when more calls run at once, and
/// closed after.
const IDLE_CONNECTIONS: usize = 4;

/// The PostgreSQL engine: where the database is, and the idle connections.
pub(super) struct PgKv {
    target: connect::Target,
    /// The URL without password, as a path: how [`Kv::name`] names the store.
    name: PathBuf,
    pool: Mutex<Vec<Client>>,
}

impl PgKv {
    /// Connects to the database `location` names, and brings its schema up to date.
    ///
    /// # Errors
    /// The database cannot be reached or logged in to, or it was migrated by a newer kvittens;
    /// in plain words.
    pub(super) fn open(location: &PgLocation) -> Result<PgKv, StoreError> {
        let target = connect::Target::new(location).map_err(|e| {
            let url = location.url.split('?').next().unwrap_or_default();
            StoreError::caused(PathBuf::from(url), "", e)
        })?;
        let kv = PgKv {
            name: PathBuf::from(&target.name),
            target,
            pool: Mutex::new(Vec::new()),
        };
        let place = kv.target.place.clone();
        kv.run(|client| migrate::migrate(client, &place))
            .map_err(|e| StoreError::caused(kv.name.clone(), "", e))?;
        Ok(kv)
    }

    /// Connects to the database `location` names and checks its schema is not newer than
    /// this kvittens knows, changing nothing; its name.
    ///
    /// # Errors
    /// As [`PgKv::open`].
    pub(super) fn check(location: &PgLocation) -> Result<String, StoreError> {
        let url = location.url.split('?').next().unwrap_or_default();
        let fail = |name: &str, e| StoreError::caused(PathBuf::from(name), "", e);
        let target = connect::Target::new(location).map_err(|e| fail(url, e))?;
        let name = target.name.clone();
        let mut client = target.connect().map_err(|e| fail(&name, e))?;
        migrate::refuse_newer(&mut client, &target.place).map_err(|e| fail(&name, e))?;
        Ok(name)
    }

    /// Runs `f` with a connection, where the sync client may block (see the module doc).
    fn run<T: Send, E: From<Cause> + Send>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, E> + Send,
    ) -> Result<T, E> {
        let work = move || {
            let mut client = self.take()?;
            let out = f(&mut client);
            self.give_back(client);
            out
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return work();
        }
        std::thread::scope(|s| match s.spawn(work).join() {
            Ok(out) => out,
            Err(panic) => std::panic::resume_unwind(panic),
        })
    }

    /// An idle connection that still works, or a new one.
    fn take(&self) -> Result<Client, Cause> {
        loop {
            let idle = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
            match idle {
                Some(client) if !client.is_closed() => return Ok(client),
                Some(_broken) => continue,
                None => return self.target.connect(),
            }
        }
    }

    /// Keeps `client` for the next call, unless it broke or enough are idle.
    fn give_back(&self, client: Client) {
        if client.is_closed() {
            return;
        }
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < IDLE_CONNECTIONS {
            pool.push(client);
        }
    }
}

impl Drop for PgKv {
    /// Closing a connection blocks on the client's own runtime too: inside another runtime
    /// (the daemon's store dropped at its stop) the idle ones are closed on a thread of their
    /// own.
    fn drop(&mut self) {
        let idle = std::mem::take(self.pool.get_mut().unwrap_or_else(|p| p.into_inner()));
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| {
                s.spawn(move || drop(idle));
            });
        }
    }
}

/// A number PostgreSQL keeps as BIGINT, from kvittens' unsigned one.
fn signed(n: u64) -> Result<i64, Cause> {
    i64::try_from(n).map_err(|_| Cause::Database(format!("{n} is past what the database keeps")))
}

impl Kv for PgKv {
    fn name(&self) -> &Path {
        &self.name
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Cause> {
        self.run(|c| {
            let row = c.query_opt("SELECT value FROM kv WHERE key = $1", &[&key])?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn insert(&self, key: &[u8], value: &[u8]) -> Result<(), Cause> {
        self.run(|c| {
            c.execute(tx::UPSERT, &[&key, &value])?;
            Ok(())
        })
    }

    fn remove(&self, key: &[u8]) -> Result<(), Cause> {
        self.run(|c| {
            c.execute("DELETE FROM kv WHERE key = $1", &[&key])?;
            Ok(())
        })
    }

    fn range(&self, from: &[u8], to: Option<&[u8]>) -> Scan<'_> {
        Box::new(scan::Pages::new(self, from, to))
    }

    fn apply_batch(&self, batch: Batch) -> Result<(), Cause> {
        self.run(|c| tx::apply_batch(c, batch))
    }

    fn generate_id(&self) -> Result<u64, Cause> {
        self.run(tx::next_id)
    }

    fn raise_ids(&self, above: u64) -> Result<(), Cause> {
        let above = signed(above)?;
        self.run(|c| {
            // setval(n) makes the next nextval n + 1; never lower what was handed out.
            c.execute(
                "SELECT setval('kv_ids', GREATEST($1::BIGINT, last_value)) FROM kv_ids",
                &[&above],
            )?;
            Ok(())
        })
    }

    fn flush(&self) -> Result<(), Cause> {
        // Every statement and transaction is durable once committed.
        Ok(())
    }

    fn transaction(&self, f: &mut TxFn<'_>) -> Result<(), TxError> {
        tx::transaction(self, f)
    }

    fn reading_mark(&self, folder: &str) -> Result<Option<(u32, u32)>, Cause> {
        self.run(|c| {
            let row = c.query_opt(
                "SELECT uid_validity, uid FROM reading WHERE folder = $1",
                &[&folder],
            )?;
            Ok(row.and_then(|r| {
                let (v, u): (i64, i64) = (r.get(0), r.get(1));
                Some((u32::try_from(v).ok()?, u32::try_from(u).ok()?))
            }))
        })
    }

    fn set_reading_mark(&self, folder: &str, mark: Option<(u32, u32)>) -> Result<(), Cause> {
        self.run(|c| {
            match mark {
                Some((v, u)) => c.execute(
                    "INSERT INTO reading (folder, uid_validity, uid) VALUES ($1, $2, $3)
                     ON CONFLICT (folder) DO UPDATE SET uid_validity = $2, uid = $3",
                    &[&folder, &i64::from(v), &i64::from(u)],
                )?,
                None => c.execute("DELETE FROM reading WHERE folder = $1", &[&folder])?,
            };
            Ok(())
        })
    }

    fn lease(&self, name: &str, holder: &str, seconds: u32) -> Result<bool, Cause> {
        self.run(|c| {
            // One statement, on the database's clock: taken when free or expired, renewed
            // when ours, left alone when another holder's is still running.
            let row = c.query_opt(
                "INSERT INTO lease (name, holder, expires)
                 VALUES ($1, $2, now() + make_interval(secs => $3))
                 ON CONFLICT (name) DO UPDATE
                   SET holder = EXCLUDED.holder, expires = EXCLUDED.expires
                   WHERE lease.holder = EXCLUDED.holder OR lease.expires < now()
                 RETURNING holder",
                &[&name, &holder, &f64::from(seconds)],
            )?;
            Ok(row.is_some())
        })
    }

    fn release_leases(&self, holder: &str) -> Result<(), Cause> {
        self.run(|c| {
            c.execute("DELETE FROM lease WHERE holder = $1", &[&holder])?;
            Ok(())
        })
    }
}
