//! Transactions and batches on PostgreSQL: serializable, run again on a serialization failure
//! as sled runs a transaction again on a conflict.

use super::super::error::Cause;
use super::super::kv::{Batch, KvTx, TxError, TxFn, TxResult};
use super::PgKv;
use postgres::error::SqlState;
use postgres::{Client, IsolationLevel, Transaction};
use rand::Rng;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

/// Writes one key, replacing what was there.
pub(super) const UPSERT: &str =
    "INSERT INTO kv (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value";

/// How often a transaction runs before a lasting conflict is given up (each run after the
/// first waits a little longer: a few milliseconds, jittered so that two writers part).
const ATTEMPTS: u32 = 20;

/// Rows written by one statement of a batch: big enough to make an import quick, small
/// enough to keep one statement's parameters modest.
const CHUNK: usize = 1000;

/// Whether `e` means another transaction won: run again.
fn is_conflict(e: &postgres::Error) -> bool {
    e.code().is_some_and(|c| {
        *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    })
}

fn tx_err(e: postgres::Error) -> TxError {
    if is_conflict(&e) {
        TxError::Conflict
    } else {
        TxError::Engine(e.into())
    }
}

/// Runs `f` in a serializable transaction until it commits, fails, or has conflicted
/// [`ATTEMPTS`] times.
pub(super) fn transaction(kv: &PgKv, f: &mut TxFn<'_>) -> Result<(), TxError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match kv.run(|client| once(client, &mut *f)) {
            Err(TxError::Conflict) if attempt < ATTEMPTS => {
                let most = 2u64 << attempt.min(6);
                let pause = rand::thread_rng().gen_range(1..=most);
                std::thread::sleep(Duration::from_millis(pause));
            }
            other => return other,
        }
    }
}

/// One run: BEGIN, the closure, COMMIT (or ROLLBACK when the closure stops).
fn once(client: &mut Client, f: &mut TxFn<'_>) -> Result<(), TxError> {
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::Serializable)
        .start()
        .map_err(tx_err)?;
    let tx = PgTx(RefCell::new(tx));
    f(&tx)?;
    tx.0.into_inner().commit().map_err(tx_err)
}

/// The transaction as the closure sees it. Dropped without a commit, it rolls back.
struct PgTx<'a>(RefCell<Transaction<'a>>);

impl KvTx for PgTx<'_> {
    fn get(&self, key: &[u8]) -> TxResult<Option<Vec<u8>>> {
        let row = (self.0.borrow_mut())
            .query_opt("SELECT value FROM kv WHERE key = $1", &[&key])
            .map_err(tx_err)?;
        Ok(row.map(|r| r.get(0)))
    }

    fn insert(&self, key: &[u8], value: &[u8]) -> TxResult<()> {
        (self.0.borrow_mut())
            .execute(UPSERT, &[&key, &value])
            .map_err(tx_err)?;
        Ok(())
    }

    fn remove(&self, key: &[u8]) -> TxResult<Option<Vec<u8>>> {
        let row = (self.0.borrow_mut())
            .query_opt("DELETE FROM kv WHERE key = $1 RETURNING value", &[&key])
            .map_err(tx_err)?;
        Ok(row.map(|r| r.get(0)))
    }

    fn generate_id(&self) -> TxResult<u64> {
        let row = (self.0.borrow_mut())
            .query_one("SELECT nextval('kv_ids')", &[])
            .map_err(tx_err)?;
        let id: i64 = row.get(0);
        u64::try_from(id).map_err(|_| TxError::Engine(negative(id)))
    }
}

fn negative(id: i64) -> Cause {
    Cause::Database(format!("the id sequence kv_ids gave {id}"))
}

/// A number never handed out before, outside a transaction.
pub(super) fn next_id(client: &mut Client) -> Result<u64, Cause> {
    let id: i64 = client.query_one("SELECT nextval('kv_ids')", &[])?.get(0);
    u64::try_from(id).map_err(|_| negative(id))
}

/// Applies `batch` in one transaction. Its writes are applied in order, so only the last one
/// of each key counts: they go as a few multi-row statements instead of one per key.
pub(super) fn apply_batch(client: &mut Client, batch: Batch) -> Result<(), Cause> {
    let mut last: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
    for (k, v) in batch.0 {
        last.insert(k, v);
    }
    let (writes, removes): (Vec<_>, Vec<_>) = last.into_iter().partition(|(_, v)| v.is_some());
    let mut tx = client.transaction()?;
    for chunk in removes.chunks(CHUNK) {
        let keys: Vec<&[u8]> = chunk.iter().map(|(k, _)| k.as_slice()).collect();
        tx.execute("DELETE FROM kv WHERE key = ANY($1)", &[&keys])?;
    }
    for chunk in writes.chunks(CHUNK) {
        let keys: Vec<&[u8]> = chunk.iter().map(|(k, _)| k.as_slice()).collect();
        let values: Vec<&[u8]> = chunk
            .iter()
            .map(|(_, v)| v.as_deref().unwrap_or_default())
            .collect();
        tx.execute(
            "INSERT INTO kv (key, value) SELECT * FROM unnest($1::BYTEA[], $2::BYTEA[])
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            &[&keys, &values],
        )?;
    }
    tx.commit()?;
    Ok(())
}
