//! Passwords and client secrets: named by the config, read only when they are used. The checks
//! of the file never read them, so an admin's shell without the unit's environment or
//! credentials can still run the store commands; `check-config` and the daemon's start read
//! each once ([`Config::check_secrets`]) to fail early.

use super::{Config, ConfigError, Position};
use std::fmt;
use std::path::{Path, PathBuf};

/// A password, kept out of logs and error messages, and read only when a connection needs it:
/// the store commands (`cases`, `export`, `explain`, …) run in an admin's shell that lacks the
/// unit's environment and credentials, and a rotated password file is picked up at the next
/// login without a restart.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    source: SecretSource,
    /// The config file that names it, for error messages.
    file: PathBuf,
    /// The key that names it (`department[0].mailbox.password_file`).
    key: String,
    /// Where that key is written.
    at: Option<Position>,
}

#[derive(Clone, PartialEq, Eq)]
enum SecretSource {
    /// Written in the config file itself.
    Literal(String),
    /// An environment variable's name.
    Env(String),
    /// A file, as written (it may start with `${CREDENTIALS_DIRECTORY}`), and the folder that
    /// a relative path is taken from.
    File { path: String, base: PathBuf },
}

/// The placeholder systemd's `LoadCredential=` directory is named by in `password_file`
/// (systemd.exec(5), "Credentials"): `$CREDENTIALS_DIRECTORY` is set for the unit's processes.
const CREDENTIALS_DIRECTORY: &str = "${CREDENTIALS_DIRECTORY}";

impl Secret {
    /// A secret named by `key` of `file`: the value of an environment variable.
    pub(crate) fn env(file: &Path, key: String, var: String) -> Secret {
        Secret {
            source: SecretSource::Env(var),
            file: file.to_path_buf(),
            key,
            at: None,
        }
    }

    /// A secret named by `key` of `file`: the content of a file (relative to the config's
    /// folder; `${CREDENTIALS_DIRECTORY}` is replaced when it is read).
    pub(crate) fn file(file: &Path, key: String, path: String) -> Secret {
        Secret {
            source: SecretSource::File {
                path,
                base: file.parent().unwrap_or(Path::new(".")).to_path_buf(),
            },
            file: file.to_path_buf(),
            key,
            at: None,
        }
    }

    /// The same secret, its key written at `at` (for the line in a later error).
    pub(crate) fn at(self, at: Option<Position>) -> Secret {
        Secret { at, ..self }
    }

    /// Reads the secret now: the environment variable or the file (its trailing newline
    /// removed). The error names the config file, the key and the variable or file.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the key when the variable is not set or the file cannot be read; the cause is its source.
    pub fn read(&self) -> Result<String, ConfigError> {
        let err = |message: String| ConfigError {
            at: self.at,
            ..ConfigError::new(&self.file, self.key.clone(), message)
        };
        match &self.source {
            SecretSource::Literal(p) => Ok(p.clone()),
            SecretSource::Env(var) => std::env::var(var).map_err(|e| {
                err(format!("the environment variable {var} is not set")).caused_by(e)
            }),
            SecretSource::File { path, base } => {
                let path = match path.strip_prefix(CREDENTIALS_DIRECTORY) {
                    None => PathBuf::from(path),
                    Some(rest) => {
                        let dir = std::env::var_os("CREDENTIALS_DIRECTORY")
                            .ok_or_else(|| err(no_credentials_directory(path, rest)))?;
                        PathBuf::from(dir).join(rest.trim_start_matches('/'))
                    }
                };
                let path = if path.is_absolute() {
                    path
                } else {
                    base.join(path)
                };
                std::fs::read_to_string(&path)
                    .map(|p| p.trim_end_matches(['\r', '\n']).to_string())
                    .map_err(|e| err(format!("cannot read {}: {e}", path.display())).caused_by(e))
            }
        }
    }
}

/// Why `path` (`${CREDENTIALS_DIRECTORY}` then `rest`) cannot be read outside the unit, and
/// what to do: an administrator running a store command from a shell has no
/// `$CREDENTIALS_DIRECTORY`, so the command must be given the folder the unit's
/// LoadCredential= lines read from, or be run with the credential as the unit is.
fn no_credentials_directory(path: &str, rest: &str) -> String {
    let name = rest.trim_start_matches('/');
    format!(
        "{path} names ${{CREDENTIALS_DIRECTORY}}, which systemd sets only for a unit with LoadCredential= (not in this shell): \
         run the command as `CREDENTIALS_DIRECTORY=/etc/kvittens/credentials kvittens …` (the folder the unit's LoadCredential= lines read from; /etc/credstore when they name none), \
         or through `systemd-run --pipe --wait -p LoadCredential={name}:/etc/kvittens/credentials/{name} kvittens …`"
    )
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret {
            source: SecretSource::Literal(s.to_string()),
            file: PathBuf::new(),
            key: String::new(),
            at: None,
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Config {
    /// Every secret the config names, with the key that names it.
    pub fn secrets(&self) -> Vec<&Secret> {
        let mut all: Vec<&Secret> = self.smtp.login.iter().map(|(_, p)| p).collect();
        all.extend(self.departments.iter().map(|d| &d.password));
        if let super::StoreLocation::Postgres(pg) = &self.store_location {
            all.extend(pg.password.iter());
        }
        all
    }

    /// Reads every secret once and returns what cannot be read (file and key named): the
    /// passwords, and each `[oauth2.NAME]` client's secret or service account key (read,
    /// and the key parsed). For `check-config` and the daemon's start, never for the store
    /// commands.
    pub fn check_secrets(&self) -> Vec<ConfigError> {
        let mut problems: Vec<ConfigError> = self
            .secrets()
            .into_iter()
            .filter_map(|s| s.read().err())
            .map(|e| self.place(e))
            .collect();
        for (name, client) in &self.oauth2 {
            problems.extend(client.unreadable().into_iter().map(|(key, message)| {
                self.place(ConfigError::new(
                    &self.file,
                    format!("oauth2.{name}.{key}"),
                    message,
                ))
            }));
        }
        problems
    }
}

/// Whether anyone on this machine may read `file` (its "other" read bit is set): a config that
/// holds passwords itself must not be.
pub(super) fn readable_by_anyone(file: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(file).is_ok_and(|m| m.permissions().mode() & 0o004 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;

    #[test]
    fn a_secret_that_cannot_be_read_keeps_its_cause() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("kvittens.toml");
        let s = Secret::file(&cfg, "smtp.password_file".into(), "missing".into());
        let e = s.read().unwrap_err();
        assert_eq!(e.key, "smtp.password_file");
        assert!(e.message.starts_with("cannot read "), "{e}");
        let cause = e.source().and_then(|c| c.downcast_ref::<std::io::Error>());
        assert_eq!(cause.map(|c| c.kind()), Some(std::io::ErrorKind::NotFound));
    }

    #[test]
    fn a_file_that_cannot_be_read_keeps_its_cause() {
        let e = Config::load(Path::new("/nonexistent/kvittens.toml")).unwrap_err();
        assert!(e.to_string().contains("cannot read the file"), "{e}");
        assert!(e.source().is_some_and(|c| c.is::<std::io::Error>()));
        let bad = Config::parse(Path::new("k.toml"), "[daemon\n").unwrap_err();
        assert!(bad.source().is_some(), "{bad}");
    }
}
