//! The store over PostgreSQL when the database restarts under a store whose pool keeps more
//! than one idle connection (as a daemon's does: watchers, sender and scheduler call at once).
//! A binary of its own: it stops the server `scripts/pgstack` started.

mod common;

use common::pgstack;
use kvittens::store::{Cursor, Store};

/// Four callers at once, as the daemon's tasks: the pool keeps four connections idle after.
fn fill_pool(store: &Store) {
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..50 {
                    store.cursor("bygg").unwrap();
                }
            });
        }
    });
}

/// README ("When the database goes away"): "one found broken is replaced, and a step that had
/// not committed runs again on the new one, so a database restart between two steps goes
/// unnoticed". With several idle connections pooled, the retry takes the next idle one, which
/// is just as broken (the sync client only notices when it is used), and the step fails: in a
/// daemon that is a store failure, and the instance that was working exits.
#[test]
fn a_restart_goes_unnoticed_with_several_idle_connections_pooled() {
    let store = Store::connect(&common::pg_location("restart_pool")).unwrap();
    let at = |last_uid| Cursor {
        uid_validity: 1,
        last_uid,
    };
    store.set_cursor("bygg", at(1)).unwrap();
    fill_pool(&store);
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
    fill_pool(&store);
    pgstack("down");
    let e = store.cursor("bygg").unwrap_err().to_string();
    pgstack("up");
    assert!(
        e.contains("does not answer (connection refused)") && !e.contains("connection closed"),
        "{e}"
    );
}
