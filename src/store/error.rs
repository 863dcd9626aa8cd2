//! The store's error: which store, what it was doing, and the cause kept as its `source()`.

use std::path::PathBuf;

/// A store failure. The daemon stops taking new work on one: nothing may be half-recorded.
///
/// Its text names the store directory, what failed and the cause (`store /var/lib/kvittens:
/// cannot open: …`), as the logs and the command line have always shown it; the cause is also
/// kept as [`std::error::Error::source`] for whoever walks the chain.
#[derive(Debug, thiserror::Error)]
#[error("store {}: {}", path.display(), Self::text(context, source.as_ref()))]
pub struct StoreError {
    /// The store directory.
    pub path: PathBuf,
    /// What was being done, or what is wrong when there is no underlying cause.
    pub context: String,
    /// The underlying cause.
    #[source]
    pub source: Option<Cause>,
}

/// What lies under a [`StoreError`].
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    /// sled failed (I/O, corruption, a lock).
    #[error(transparent)]
    Sled(#[from] sled::Error),
    /// A value could not be written or read as JSON.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A file beside the database (the "being read" marks, the directory) failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// PostgreSQL answered with an error, or the connection to it broke.
    #[error(transparent)]
    Postgres(#[from] postgres::Error),
    /// The PostgreSQL database cannot be used, in plain words (it does not answer, refused
    /// the login, its certificate does not verify, its schema is newer than this kvittens).
    #[error("{0}")]
    Database(String),
}

impl StoreError {
    /// An error of the store in `path` with no underlying cause.
    pub(super) fn plain(path: PathBuf, context: impl Into<String>) -> StoreError {
        StoreError {
            path,
            context: context.into(),
            source: None,
        }
    }

    /// An error of the store in `path` while doing `context`, caused by `cause`.
    pub(super) fn caused(
        path: PathBuf,
        context: impl Into<String>,
        cause: impl Into<Cause>,
    ) -> StoreError {
        StoreError {
            path,
            context: context.into(),
            source: Some(cause.into()),
        }
    }

    fn text(context: &str, source: Option<&Cause>) -> String {
        match (context.is_empty(), source) {
            (_, None) => context.to_string(),
            (true, Some(cause)) => cause.to_string(),
            (false, Some(cause)) => format!("{context}: {cause}"),
        }
    }
}

/// Why a transaction was given up, carried out of sled's closure.
#[derive(Debug)]
pub(super) enum Abort {
    /// A value at `key` could not be read or written as JSON.
    Json(String, serde_json::Error),
}

impl Abort {
    /// The [`StoreError`] of the store in `path`.
    pub(super) fn into_error(self, path: PathBuf) -> StoreError {
        match self {
            Abort::Json(key, e) => StoreError::caused(path, key, e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;

    #[test]
    fn the_cause_is_said_and_kept() {
        let io = std::io::Error::other("disk full");
        let e = StoreError::caused("/s".into(), "cannot write to disk", io);
        assert_eq!(e.to_string(), "store /s: cannot write to disk: disk full");
        assert_eq!(
            e.source().map(|s| s.to_string()).as_deref(),
            Some("disk full")
        );
        let e = StoreError::plain("/s".into(), "no case X");
        assert_eq!(e.to_string(), "store /s: no case X");
        assert!(e.source().is_none());
    }
}
