//! The database's schema: the SQL files in `migrations/` (embedded at build time by refinery),
//! applied at connect, one instance at a time (an advisory lock: two instances starting on
//! an empty database would otherwise both create the tables). A database migrated by a newer
//! kvittens is refused plainly: its tables may mean something this one does not know.

use super::super::error::Cause;
use postgres::Client;

refinery::embed_migrations!("migrations");

/// The advisory lock key that serialises migrations (any fixed number; "kvit" in ASCII).
const MIGRATION_LOCK: i64 = 0x6b76_6974;

/// The newest schema version this kvittens knows.
pub(super) fn known_version() -> u32 {
    migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| m.version())
        .max()
        .unwrap_or(0)
}

/// Brings the database to this kvittens' schema, or refuses one that is newer.
pub(super) fn migrate(client: &mut Client, place: &str) -> Result<(), Cause> {
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])?;
    let result = migrate_locked(client, place);
    // The lock is the session's: a broken connection lets go of it anyway.
    let _ = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]);
    result
}

fn migrate_locked(client: &mut Client, place: &str) -> Result<(), Cause> {
    refuse_newer(client, place)?;
    migrations::runner().run(client).map_err(|e| {
        Cause::Database(format!(
            "cannot bring the database at {place} to schema version {}: {e}",
            known_version()
        ))
    })?;
    Ok(())
}

/// Refuses a database whose schema a newer kvittens wrote.
pub(super) fn refuse_newer(client: &mut Client, place: &str) -> Result<(), Cause> {
    let exists: bool = client
        .query_one(
            "SELECT to_regclass('refinery_schema_history') IS NOT NULL",
            &[],
        )?
        .get(0);
    let known = known_version();
    if exists {
        let newest: Option<i32> = client
            .query_one("SELECT max(version) FROM refinery_schema_history", &[])?
            .get(0);
        if let Some(v) = newest.filter(|v| i64::from(*v) > i64::from(known)) {
            return Err(Cause::Database(format!(
                "the database at {place} has schema version {v}, written by a newer kvittens (this one knows up to {known}): run that version, or upgrade this one"
            )));
        }
    }
    Ok(())
}
