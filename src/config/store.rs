//! `[daemon] store`: where kvittens keeps its state. A directory (sled, embedded: the default,
//! nothing to install) or a PostgreSQL URL (`postgresql://user@host:port/db`), so that several
//! instances share one state. The URL carries no password: it is shown in logs and errors, and
//! config files are read by more people than the database's password should be; the password
//! comes from `store_password_file` or `store_password_env`, read only when connecting.

use super::checker::Checker;
use super::{ConfigError, Secret};
use std::path::{Path, PathBuf};

/// Where the store is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreLocation {
    /// sled's database in this directory.
    Sled(PathBuf),
    /// A PostgreSQL database.
    Postgres(PgLocation),
}

impl std::fmt::Display for StoreLocation {
    /// The directory, or the URL without its query (no password is ever in it).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Sled(dir) => write!(f, "{}", dir.display()),
            StoreLocation::Postgres(pg) => {
                f.write_str(pg.url.split('?').next().unwrap_or_default())
            }
        }
    }
}

/// A PostgreSQL database as the config names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgLocation {
    /// The URL as written: `postgresql://user@host[:port]/db[?sslmode=…&sslrootcert=FILE]`, no
    /// password in it (checked). `sslrootcert` is relative to the config's folder.
    pub url: String,
    /// The password, read at each connection; `None` when the server asks for none.
    pub password: Option<Secret>,
    /// The key that names the password (`store_password_file`), for a refused login.
    pub password_key: Option<String>,
    /// The config file's folder: a relative `sslrootcert` is taken from there.
    pub base: PathBuf,
}

/// The `sslmode` values kvittens takes: `disable` (plain text, for a database on the same
/// machine) or TLS with the server's certificate and host name verified.
pub const SSL_MODES: &[&str] = &["disable", "require", "verify-ca", "verify-full"];

/// Whether `store` names a PostgreSQL database rather than a directory.
pub fn is_postgres_url(store: &str) -> bool {
    store.starts_with("postgresql://") || store.starts_with("postgres://")
}

/// Whether `host` (as the URL writes it) is this machine: `localhost`, 127.0.0.0/8 or `::1`.
fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl Checker<'_> {
    /// The store's location, and the local directory that holds the control socket (with
    /// sled, the store's own directory; with PostgreSQL, `state_dir`, by default
    /// `/var/lib/kvittens`, the unit's StateDirectory).
    pub(super) fn store_location(
        &self,
        store: &Path,
        state_dir: Option<&Path>,
        password_env: Option<&str>,
        password_file: Option<&Path>,
    ) -> Result<(StoreLocation, PathBuf), ConfigError> {
        let text = store.to_string_lossy();
        if !is_postgres_url(&text) {
            for (given, key) in [
                (password_env.is_some(), "daemon.store_password_env"),
                (password_file.is_some(), "daemon.store_password_file"),
                (state_dir.is_some(), "daemon.state_dir"),
            ] {
                if given {
                    return Err(self.err(key, "is only for a PostgreSQL store (store = \"postgresql://…\"); a store directory needs none"));
                }
            }
            let dir = self.path(store);
            return Ok((StoreLocation::Sled(dir.clone()), dir));
        }
        self.check_pg_url(&text)?;
        let (password, password_key) = match (password_env, password_file) {
            (Some(_), Some(_)) => {
                return Err(self.err(
                    "daemon.store_password_env",
                    "give only one of store_password_env and store_password_file",
                ))
            }
            (Some(var), None) if var.trim().is_empty() => {
                return Err(self.err("daemon.store_password_env", "empty variable name"))
            }
            (Some(var), None) => {
                let key = "daemon.store_password_env".to_string();
                let at = Some(self.locator.find(&key));
                let s = Secret::env(self.file, key.clone(), var.trim().to_string()).at(at);
                (Some(s), Some(key))
            }
            (None, Some(file)) => {
                let key = "daemon.store_password_file".to_string();
                let at = Some(self.locator.find(&key));
                let path = file.to_string_lossy().into_owned();
                (
                    Some(Secret::file(self.file, key.clone(), path).at(at)),
                    Some(key),
                )
            }
            (None, None) => (None, None),
        };
        let state = self.path(state_dir.unwrap_or(Path::new("/var/lib/kvittens")));
        let location = PgLocation {
            url: text.into_owned(),
            password,
            password_key,
            base: self.path(Path::new("")),
        };
        Ok((StoreLocation::Postgres(location), state))
    }

    /// A URL kvittens can use: parses, names a host and a database, carries no password, and
    /// an `sslmode` kvittens knows.
    fn check_pg_url(&self, text: &str) -> Result<(), ConfigError> {
        let key = "daemon.store";
        let url = url::Url::parse(text)
            .map_err(|e| self.err(key, format!("{text:?} is not a PostgreSQL URL ({e}); write postgresql://user@host:port/database")))?;
        if url.password().is_some() {
            return Err(self.err(key, "the URL holds a password: take it out and give it with store_password_file or store_password_env (the URL is shown in logs)"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(self.err(
                key,
                "the URL names no host: write postgresql://user@host:port/database",
            ));
        }
        if url.path().trim_start_matches('/').is_empty() {
            return Err(self.err(
                key,
                "the URL names no database: write postgresql://user@host:port/database",
            ));
        }
        if url.username().is_empty() {
            return Err(self.err(
                key,
                "the URL names no user: write postgresql://user@host:port/database (the role kvittens logs in as)",
            ));
        }
        let host = url.host_str().unwrap_or_default();
        if host.starts_with('/') || host.to_ascii_lowercase().starts_with("%2f") {
            return Err(self.err(key, format!("the host {host} is a unix socket, which kvittens does not take: it connects over TCP (for a database on this machine write postgresql://user@127.0.0.1:5432/database?sslmode=disable)")));
        }
        for (k, v) in url.query_pairs() {
            self.check_pg_query(&k, &v, host)?;
        }
        Ok(())
    }

    /// One `?name=value` of the URL: only the ones kvittens documents. Any other that the
    /// client would honour could send the connection (and the password) elsewhere, or log in
    /// as someone else, while the logs name the URL's own host and user.
    fn check_pg_query(&self, k: &str, v: &str, host: &str) -> Result<(), ConfigError> {
        let key = "daemon.store";
        match k {
            "sslmode" if !SSL_MODES.contains(&v) => Err(self.err(key, format!("sslmode={v} is not one kvittens takes: use verify-full (the default: TLS, certificate and host name verified) or disable (plain text, for a database on the same machine only)"))),
            "sslmode" if v == "disable" && !is_loopback(host) => Err(self.err(key, format!("sslmode=disable with the host {host}, which is not this machine: the password and every case would cross the network in clear text. Take sslmode=disable out (TLS, verified) and name the server's CA with sslrootcert=FILE if it is not a public one"))),
            "sslmode" => Ok(()),
            "sslrootcert" if v.is_empty() => Err(self.err(key, "sslrootcert= names no file: write sslrootcert=FILE (the CA's certificate, PEM, relative to the config's folder)")),
            "sslrootcert" => Ok(()),
            "password" => Err(self.err(key, "the URL holds a password: take it out and give it with store_password_file or store_password_env (the URL is shown in logs)")),
            "host" | "hostaddr" | "port" => Err(self.err(key, format!("{k}={v} in the URL is not taken: it would connect elsewhere than the URL shows; write the host and port in the URL itself (postgresql://user@host:port/database)"))),
            "user" => Err(self.err(key, format!("user={v} in the URL is not taken: write the user before the host (postgresql://{v}@host:port/database)"))),
            "dbname" => Err(self.err(key, format!("dbname={v} in the URL is not taken: write the database as the URL's path (postgresql://user@host:port/{v})"))),
            other => Err(self.err(key, format!("{other}= in the URL is not one kvittens takes (only sslmode and sslrootcert): take it out"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, StoreLocation};

    const BASE: &str = include_str!("../../config/demo.toml");

    /// demo.toml with `lines` after `[daemon]`'s `store` line (which they may replace).
    fn load(lines: &str) -> Result<Config, String> {
        let old = "store = \"../var/demo\"                 # sled directory\n";
        let text = if lines.starts_with("store =") {
            BASE.replacen(old, &format!("{lines}\n"), 1)
        } else {
            BASE.replacen(old, &format!("{old}{lines}\n"), 1)
        };
        Config::parse(std::path::Path::new("/etc/kvittens/k.toml"), &text)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_postgresql_keys_are_refused_beside_a_store_directory() {
        let c = load("store_password_file = \"pg.pw\"\nstate_dir = \"/tmp/k\"").unwrap_err();
        // demo.toml names a directory: the PostgreSQL keys are refused with it.
        assert!(c.contains("daemon.store_password_file"), "{c}");
        assert!(c.contains("only for a PostgreSQL store"), "{c}");
    }

    #[test]
    fn a_postgresql_url_takes_its_password_file_from_the_configs_folder() {
        let c = load("store = \"postgresql://k@localhost/k?sslmode=disable\"\nstore_password_file = \"pg.pw\"\nstate_dir = \"run\"").unwrap();
        let StoreLocation::Postgres(pg) = &c.store_location else {
            panic!("not PostgreSQL: {:?}", c.store_location)
        };
        assert_eq!(pg.base, std::path::PathBuf::from("/etc/kvittens/"));
        assert_eq!(c.store, std::path::PathBuf::from("/etc/kvittens/run"));
        assert_eq!(c.store_location.to_string(), "postgresql://k@localhost/k");
        // Named, not read: the file is read at each connection, and its key named if not.
        let e = pg.password.as_ref().unwrap().read().unwrap_err();
        assert_eq!(e.key, "daemon.store_password_file");
        assert!(c.secrets().len() > c.departments.len());
        let both = load("store = \"postgresql://k@db/k\"\nstore_password_file = \"a\"\nstore_password_env = \"B\"");
        assert!(both.unwrap_err().contains("only one of"));
    }

    #[test]
    fn a_url_with_a_password_or_an_unknown_sslmode_is_refused() {
        for (url, says) in [
            ("postgresql://k:secret@db/k", "holds a password"),
            ("postgresql://k@db/k?sslmode=prefer", "sslmode=prefer"),
            ("postgresql://k@db", "names no database"),
        ] {
            let e = load(&format!("store = \"{url}\"")).unwrap_err();
            assert!(e.contains("daemon.store") && e.contains(says), "{url}: {e}");
        }
        let c =
            load("store = \"postgresql://k@db:5433/k\"\nstore_password_env = \"PGPW\"").unwrap();
        let StoreLocation::Postgres(pg) = &c.store_location else {
            panic!("not PostgreSQL: {:?}", c.store_location)
        };
        assert_eq!(pg.url, "postgresql://k@db:5433/k");
        assert_eq!(
            pg.password_key.as_deref(),
            Some("daemon.store_password_env")
        );
        assert_eq!(c.store, std::path::PathBuf::from("/var/lib/kvittens"));
    }

    #[test]
    fn a_url_that_would_connect_elsewhere_or_as_someone_else_is_refused() {
        for (url, says) in [
            ("postgresql://k@db/k?host=10.0.0.9", "host=10.0.0.9"),
            ("postgresql://k@db/k?hostaddr=10.0.0.9", "hostaddr="),
            ("postgresql://k@db/k?port=1", "port=1"),
            (
                "postgresql://k@db/k?user=postgres",
                "postgresql://postgres@host",
            ),
            ("postgresql://k@db/k?dbname=postgres", "host:port/postgres"),
            (
                "postgresql://k@db/k?options=-c%20x",
                "only sslmode and sslrootcert",
            ),
            (
                "postgresql://k@db/k?connect_timeout=abc",
                "connect_timeout=",
            ),
            ("postgresql://k@db/k?sslrootcert=", "names no file"),
            ("postgresql://db/k", "names no user"),
            ("postgresql://k@%2Frun%2Fpostgresql/k", "unix socket"),
            (
                "postgresql://k@db.kommun.se/k?sslmode=disable",
                "clear text",
            ),
            ("postgresql://k@10.0.0.1/k?sslmode=disable", "clear text"),
        ] {
            let e = load(&format!("store = \"{url}\"")).unwrap_err();
            assert!(e.contains("daemon.store") && e.contains(says), "{url}: {e}");
            assert!(e.contains("k.toml"), "{url}: no file named: {e}");
        }
        for url in [
            "postgresql://k@127.0.0.1:5433/k?sslmode=disable",
            "postgresql://k@[::1]/k?sslmode=disable",
            "postgresql://k@localhost/k?sslmode=disable",
            "postgresql://k@db.kommun.se/k?sslmode=verify-full&sslrootcert=ca.pem",
        ] {
            load(&format!("store = \"{url}\"")).unwrap_or_else(|e| panic!("{url}: {e}"));
        }
    }
}
