//! The store over PostgreSQL when the database restarts under it: a test binary of its own,
//! because it stops the server `scripts/pgstack` started (tests in one binary run at once;
//! cargo runs the binaries one after another).

mod common;

use common::pgstack;
use kvittens::store::{Cursor, Store};

#[test]
fn the_store_carries_on_when_the_database_restarts() {
    let store = Store::connect(&common::pg_location("restart")).unwrap();
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
