//! The store over PostgreSQL when the database restarts under it: a test binary of its own,
//! because it stops the server `scripts/pgstack` started (tests in one binary run at once;
//! cargo runs the binaries one after another).

mod common;

use kvittens::config::{PgLocation, Secret, StoreLocation};
use kvittens::store::{Cursor, Store};
use std::process::Command;

/// `scripts/pgstack down|up DIR` on the test server.
fn pgstack(what: &str) {
    let dir = std::env::var("KVITTENS_PG_DIR")
        .unwrap_or_else(|_| panic!("KVITTENS_PG_DIR is not set: run the tests with scripts/test"));
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pgstack");
    let status = Command::new(script).args([what, &dir]).status().unwrap();
    assert!(status.success(), "pgstack {what}");
}

#[test]
fn the_store_carries_on_when_the_database_restarts() {
    let (url, password_file) = common::pg_database("restart");
    let location = StoreLocation::Postgres(PgLocation {
        url,
        password: Some(Secret::from(
            std::fs::read_to_string(password_file).unwrap().as_str(),
        )),
        password_key: Some("daemon.store_password_file".into()),
        base: std::env::temp_dir(),
    });
    let store = Store::connect(&location).unwrap();
    let at = |last_uid| Cursor {
        uid_validity: 1,
        last_uid,
    };
    store.set_cursor("bygg", at(1)).unwrap();
    // Restarted between two calls: the connection kept open is broken; the next transaction
    // runs on a new one.
    pgstack("down");
    pgstack("up");
    store.set_cursor("bygg", at(2)).unwrap();
    assert_eq!(store.cursor("bygg").unwrap(), Some(at(2)));
    // Down: said in plain words. Back: used again by the same store, without a restart.
    pgstack("down");
    let e = store.cursor("bygg").unwrap_err().to_string();
    assert!(
        e.contains("does not answer (connection refused): is PostgreSQL running?"),
        "{e}"
    );
    pgstack("up");
    assert_eq!(store.cursor("bygg").unwrap(), Some(at(2)));
}
