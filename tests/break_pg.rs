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
        assert!(store
            .lease("sender", "other-host/4242/deadbeef", 22)
            .unwrap());
        assert!(store.lease("bygg", "other-host/4242/deadbeef", 22).unwrap());
    }
    let (code, out, err) = kvittens(&["export", "--config", s.config.to_str().unwrap()]);
    assert_ne!(
        code,
        0,
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
    for extra in [
        "host=10.255.255.1",
        "user=postgres",
        "dbname=postgres",
        "port=1",
    ] {
        let s = Setup::new(&format!("q_{}", extra.split('=').next().unwrap()), "");
        let url = s.use_postgres();
        let text = std::fs::read_to_string(&s.config).unwrap().replacen(
            &url,
            &format!("{url}&{extra}"),
            1,
        );
        std::fs::write(&s.config, text).unwrap();
        let (code, _, err) = kvittens(&["check-config", "--config", s.config.to_str().unwrap()]);
        assert!(
            code != 0 && err.contains("daemon.store"),
            "?{extra} accepted by check-config (the logs name {url}): {err}"
        );
    }
}

/// Runs `sql` on the test database `url` names, as its owner would (beside kvittens).
fn psql(url: &str, sql: &str) {
    let password = std::env::var("KVITTENS_PG_PASSWORD").unwrap();
    let url = url.to_string();
    let sql = sql.to_string();
    std::thread::spawn(move || {
        let mut config: postgres::Config = url.parse().unwrap();
        config.password(&password);
        let mut client = config.connect(postgres::NoTls).unwrap();
        client.batch_execute(&sql).unwrap();
    })
    .join()
    .unwrap();
}

/// Two imports into one database at once (from two machines: the control socket shows
/// neither): the second is refused by the first's import lease, naming it, and an unfinished
/// store whose import still holds its lease is not called one to remove.
#[test]
fn a_second_import_is_refused_while_one_runs_and_is_not_told_to_wipe_it() {
    let s = Setup::new("import_twice", "");
    let url = s.use_postgres();
    let config = s.config.to_str().unwrap();
    let dump = s.dir.path().join("dump.jsonl");
    let (code, out, err) = kvittens(&["export", "--config", config]);
    assert_eq!(code, 0, "{err}");
    // Another import runs on another machine right now: its lease is live.
    psql(
        &url,
        "INSERT INTO lease VALUES ('import', 'import other-host/77/cafe', now() + interval '100 seconds')",
    );
    // An empty store, so only the lease refuses it.
    psql(&url, "DELETE FROM kv");
    std::fs::write(&dump, &out).unwrap();
    let (code, _, err) = kvittens(&["import", "--config", config, dump.to_str().unwrap()]);
    assert_ne!(code, 0, "a second import went ahead beside a running one");
    assert!(
        err.contains("import other-host/77/cafe") && err.contains("runs out in"),
        "{err}"
    );
    // The running import has marked the store unfinished: every command says it is running,
    // and does not tell anyone to remove it.
    psql(
        &url,
        "INSERT INTO kv VALUES ('import/unfinished'::bytea, '\"2026-01-01T00:00:00Z\"'::bytea)",
    );
    let (code, _, err) = kvittens(&["cases", "--config", config]);
    assert_ne!(code, 0);
    assert!(
        err.contains("is running right now (import other-host/77/cafe") && !err.contains("remove"),
        "{err}"
    );
    // Once that import is gone (its lease ran out), the store is one to remove.
    psql(&url, "DELETE FROM lease");
    let (_, _, err) = kvittens(&["cases", "--config", config]);
    assert!(
        err.contains("If no import is running on it any more"),
        "{err}"
    );
}

/// A whole import, then the store is used: the import's own lease is given back, so a daemon
/// or an export is not kept waiting for it to run out.
#[test]
fn an_import_gives_its_lease_back() {
    let s = Setup::new("import_lease", "");
    let url = s.use_postgres();
    let config = s.config.to_str().unwrap();
    let (code, out, err) = kvittens(&["export", "--config", config]);
    assert_eq!(code, 0, "{err}");
    psql(&url, "DELETE FROM kv");
    let dump = s.dir.path().join("dump.jsonl");
    std::fs::write(&dump, &out).unwrap();
    let (code, _, err) = kvittens(&["import", "--config", config, dump.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = kvittens(&["export", "--config", config]);
    assert_eq!(code, 0, "the import's lease kept the export out: {err}");
}

/// A CA file named by `sslrootcert=` that is not there: the key and the file are named.
#[test]
fn a_missing_sslrootcert_file_is_named() {
    let s = Setup::new("no_ca", "");
    let url = s.use_postgres();
    let text = std::fs::read_to_string(&s.config).unwrap().replacen(
        &url,
        &url.replace("sslmode=disable", "sslrootcert=nosuch-ca.pem"),
        1,
    );
    std::fs::write(&s.config, text).unwrap();
    let (code, _, err) = kvittens(&["cases", "--config", s.config.to_str().unwrap()]);
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains("sslrootcert")
            && err.contains("nosuch-ca.pem")
            && err.contains("cannot be read"),
        "{err}"
    );
}

/// A store command on PostgreSQL prints what the user asked for, not the migration library's
/// lines or the server's NOTICEs (on a new database, and on one already migrated).
#[test]
fn store_commands_on_postgresql_print_no_migration_chatter() {
    let s = Setup::new("quiet", "");
    s.use_postgres();
    for run in ["first", "second"] {
        let (code, _, err) = kvittens(&["cases", "--config", s.config.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        for word in ["refinery", "NOTICE", "already exists", "migration"] {
            assert!(!err.contains(word), "{run} run printed {word:?}: {err}");
        }
    }
}
