//! Attempts on the PostgreSQL engine's edges: how it is configured, and moving a store that
//! another instance (another machine) is running on.

mod common;

use common::{kvittens, Setup};
use kvittens::store::{CaseStore, Store};

/// README ("Moving a store"): a store is moved while nothing changes it. With PostgreSQL the
/// control socket only shows a daemon on this machine, but the database itself shows every
/// instance on it: the lease table holds its live leases. An export taken while another
/// instance holds them reads a store that changes under it (pages read one after another,
/// no snapshot): the moved store may answer a message again or lose a queued receipt.
#[test]
fn an_export_is_refused_while_another_instance_holds_live_leases() {
    let s = Setup::new("exp_leased", "");
    s.use_postgres();
    let cfg = kvittens::config::Config::load(&s.config).unwrap();
    // "Another machine": an instance holding the sender's and the inbox's leases right now.
    {
        let store = Store::connect(&cfg.store_location).unwrap();
        assert!(store.lease("sender", "other-host/4242/deadbeef", 22).unwrap());
        assert!(store.lease("bygg", "other-host/4242/deadbeef", 22).unwrap());
    }
    let (code, out, err) = kvittens(&["export", "--config", s.config.to_str().unwrap()]);
    assert_ne!(
        code, 0,
        "the export went ahead while other-host/4242/deadbeef holds the sender's lease: \
         {} line(s) out; stderr: {err}",
        out.lines().count()
    );
    assert!(err.contains("other-host"), "{err}");
}

/// A server that asks for a password when none is configured: the error must name the keys
/// to set, not the client library's "invalid configuration: password missing".
#[test]
fn a_database_asking_for_a_password_none_was_given_is_said_plainly() {
    let s = Setup::new("no_password", "");
    let (url, _password_file) = common::pg_database(&s.tag);
    let text = std::fs::read_to_string(&s.config).unwrap().replacen(
        "store = \"store\"\n",
        &format!("store = \"{url}\"\nstate_dir = \"state\"\n"),
        1,
    );
    std::fs::write(&s.config, text).unwrap();
    let (code, _, err) = kvittens(&["cases", "--config", s.config.to_str().unwrap()]);
    assert_ne!(code, 0, "{err}");
    assert!(
        !err.contains("invalid configuration") && err.contains("store_password_file"),
        "the library's words instead of what to do: {err}"
    );
}

/// A URL whose query names another host or user than its authority part: the connection goes
/// to (or logs in as) what the query says, while the logs and errors name the URL's own host
/// and user — and `?host=` adds a host the password is sent to when the first does not answer.
/// The config check refuses `password=` in the query; `host`, `hostaddr`, `port`, `user` and
/// `dbname` must be refused (or at least named) the same way.
#[test]
fn a_url_query_that_redirects_the_connection_is_refused() {
    for extra in ["host=10.255.255.1", "user=postgres", "dbname=postgres", "port=1"] {
        let s = Setup::new(&format!("q_{}", extra.split('=').next().unwrap()), "");
        let url = s.use_postgres();
        let text = std::fs::read_to_string(&s.config)
            .unwrap()
            .replacen(&url, &format!("{url}&{extra}"), 1);
        std::fs::write(&s.config, text).unwrap();
        let (code, _, err) = kvittens(&["check-config", "--config", s.config.to_str().unwrap()]);
        assert!(
            code != 0 && err.contains("daemon.store"),
            "?{extra} accepted by check-config (the logs name {url}): {err}"
        );
    }
}
