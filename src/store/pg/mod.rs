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
//! pool ([`pool`]): one is taken for a call and put back after; a broken one (the database
//! restarted) is dropped and a new one made on next use, so a database that comes back is
//! used again without a restart of kvittens.
//!
//! # Transactions
//!
//! `BEGIN ISOLATION LEVEL SERIALIZABLE`, the closure, `COMMIT`; a serialization failure or a
//! deadlock (SQLSTATE 40001, 40P01), at any statement or at the commit, runs the closure
//! again after a short jittered pause, as sled runs it again after a conflict.

mod connect;
mod migrate;
mod pool;
mod scan;
mod tx;

use super::error::{Cause, StoreError};
use super::kv::{Batch, Kv, LiveLease, Scan, TxError, TxFn};
use crate::config::PgLocation;
use postgres::Client;
use std::path::{Path, PathBuf};

/// The PostgreSQL engine: where the database is, and the idle connections.
pub(super) struct PgKv {
    target: connect::Target,
    /// The URL without password, as a path: how [`Kv::name`] names the store.
    name: PathBuf,
    pool: pool::Pool,
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
            pool: pool::Pool::default(),
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

    /// Runs `f` with a connection, where the sync client may block (see the module doc). When
    /// the connection turns out to be broken (the database restarted since it was last used),
    /// `f` runs once more on a new one: every step run this way may run twice (a single
    /// statement that is the same when repeated, or a transaction that did not commit —
    /// [`tx::transaction`] decides that for itself and passes `retry` false).
    fn run_with<T: Send, E: From<Cause> + Worded + Send>(
        &self,
        retry: bool,
        mut f: impl FnMut(&mut Client) -> Result<T, E> + Send,
    ) -> Result<T, E> {
        let mut work = move || {
            let mut client = self.pool.take(|| self.target.connect())?;
            let mut out = f(&mut client);
            if out.is_err() && client.is_closed() {
                // The database restarted (or the network dropped): every idle connection is
                // as dead as this one.
                self.pool.discard_idle();
                if retry {
                    self.pool.give_back(client);
                    client = self.pool.take(|| self.target.connect())?;
                    out = f(&mut client);
                }
            }
            let closed = client.is_closed();
            self.pool.give_back(client);
            out.map_err(|e| e.worded(&self.target.place, closed))
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return work();
        }
        std::thread::scope(|s| match s.spawn(work).join() {
            Ok(out) => out,
            Err(panic) => std::panic::resume_unwind(panic),
        })
    }
}

impl PgKv {
    /// [`PgKv::run_with`], again on a new connection when the one taken was broken.
    fn run<T: Send, E: From<Cause> + Worded + Send>(
        &self,
        f: impl FnMut(&mut Client) -> Result<T, E> + Send,
    ) -> Result<T, E> {
        self.run_with(true, f)
    }
}

/// An error said in plain words: a connection lost (the database restarted or went away, the
/// network dropped it) names the database and what to check, not the client's "connection
/// closed".
pub(super) trait Worded {
    /// `self`, in plain words; `closed` when the connection it came from is closed now.
    fn worded(self, place: &str, closed: bool) -> Self;
}

impl Worded for Cause {
    fn worded(self, place: &str, closed: bool) -> Self {
        match self {
            Cause::Postgres(e) if lost(&e, closed) => Cause::Database(format!(
                "the database at {place} closed the connection (it restarted or stopped, or the \
                 network dropped it); kvittens connects again at its next step: is PostgreSQL running?"
            )),
            other => other,
        }
    }
}

impl Worded for TxError {
    fn worded(self, place: &str, closed: bool) -> Self {
        match self {
            TxError::Engine(cause) => TxError::Engine(cause.worded(place, closed)),
            other => other,
        }
    }
}

/// Whether `e` means the connection was lost rather than that a statement failed.
fn lost(e: &postgres::Error, closed: bool) -> bool {
    use postgres::error::SqlState;
    let shutdown = e.code().is_some_and(|c| {
        *c == SqlState::ADMIN_SHUTDOWN
            || *c == SqlState::CRASH_SHUTDOWN
            || *c == SqlState::CANNOT_CONNECT_NOW
    });
    let io = std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>());
    e.is_closed() || shutdown || (e.code().is_none() && (closed || io))
}

impl Drop for PgKv {
    /// Closing a connection blocks on the client's own runtime too: inside another runtime
    /// (the daemon's store dropped at its stop) the idle ones are closed on a thread of their
    /// own.
    fn drop(&mut self) {
        let idle = self.pool.drain();
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| {
                s.spawn(move || drop(idle));
            });
        }
    }
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
        self.run(|c| tx::apply_batch(c, &batch))
    }

    fn generate_id(&self) -> Result<u64, Cause> {
        self.run(tx::next_id)
    }

    fn raise_ids(&self, above: u64) -> Result<(), Cause> {
        let above = i64::try_from(above)
            .map_err(|_| Cause::Database(format!("id {above} is past what the database keeps")))?;
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

    fn live_leases(&self) -> Result<Vec<LiveLease>, Cause> {
        self.run(|c| {
            let rows = c.query(
                "SELECT name, holder,
                        ceil(extract(epoch FROM expires - now()))::BIGINT
                   FROM lease WHERE expires > now() ORDER BY holder, name",
                &[],
            )?;
            Ok(rows
                .iter()
                .map(|r| LiveLease {
                    name: r.get(0),
                    holder: r.get(1),
                    seconds_left: u64::try_from(r.get::<_, i64>(2)).unwrap_or(0),
                })
                .collect())
        })
    }
}
