//! The store over PostgreSQL when the database restarts under a store whose pool keeps more
//! than one idle connection (as a daemon's does: watchers, sender and scheduler call at once).
//! A binary of its own: it stops the server `scripts/pgstack` started.

mod common;

use kvittens::config::{PgLocation, Secret, StoreLocation};
use kvittens::store::{Cursor, Store};
use std::process::Command;

fn pgstack(what: &str) {
    let dir = std::env::var("KVITTENS_PG_DIR")
        .unwrap_or_else(|_| panic!("KVITTENS_PG_DIR is not set: run the tests with scripts/test"));
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pgstack");
    let status = Command::new(script).args([what, &dir]).status().unwrap();
    assert!(status.success(), "pgstack {what}");
}

/// README ("When the database goes away"): "one found broken is replaced, and a step that had
/// not committed runs again on the new one, so a database restart between two steps goes
/// unnoticed". With several idle connections pooled, the retry takes the next idle one, which
/// is just as broken (the sync client only notices when it is used), and the step fails: in a
/// daemon that is a store failure, and the instance that was working exits.
#[test]
fn a_restart_goes_unnoticed_with_several_idle_connections_pooled() {
    let (url, password_file) = common::pg_database("restart_pool");
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
    // Four callers at once, as the daemon's tasks: the pool keeps four connections idle after.
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..50 {
                    store.cursor("bygg").unwrap();
                }
            });
        }
    });
    pgstack("down");
    pgstack("up");
    // Each call after the restart must work, as with one pooled connection.
    for n in 0..4 {
        let got = store.cursor("bygg");
        assert!(
            matches!(got, Ok(Some(c)) if c == at(1)),
            "call {n} after the database restarted: {got:?}"
        );
    }
    // Several idle again, then the database goes down: the error says so in plain words
    // (the retry's new connection is refused), not the client's "connection closed".
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..50 {
                    store.cursor("bygg").unwrap();
                }
            });
        }
    });
    pgstack("down");
    let e = store.cursor("bygg").unwrap_err().to_string();
    pgstack("up");
    assert!(
        e.contains("does not answer (connection refused)") && !e.contains("connection closed"),
        "{e}"
    );
}
