//! The `[oauth2.NAME]` clients of the config and how a mailbox or the SMTP server logs in: the
//! settings only. Fetching and caching tokens is [`crate::net::oauth2`]'s job; these types are
//! here so that the config, which names them, imports nothing above it.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// Who issues the tokens: it decides the grant, the token URL and the default scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    /// Microsoft Entra ID (Exchange Online): client-credentials grant.
    Microsoft,
    /// Google Workspace: JWT-bearer grant with a service account's key.
    Google,
    /// Any other RFC 6749 server: client-credentials grant at `token_url`.
    Generic,
}

impl Provider {
    /// The scope asked for when the config names none: Exchange Online's IMAP/SMTP resource
    /// (`.default` asks for the application permissions granted to the app) and Gmail's full
    /// mail scope, the only one that covers IMAP and SMTP.
    pub fn default_scope(self) -> Option<&'static str> {
        match self {
            Provider::Microsoft => Some("https://outlook.office365.com/.default"),
            Provider::Google => Some("https://mail.google.com/"),
            Provider::Generic => None,
        }
    }
}

/// Where a client secret comes from. It is read when a token is fetched, so that an admin's
/// shell without the unit's environment or credentials can still run the store commands.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// Written in the config file.
    Inline(String),
    /// An environment variable's name.
    Env(String),
    /// A file (e.g. under `$CREDENTIALS_DIRECTORY`); a trailing newline is not part of it.
    File(PathBuf),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Inline(_) => f.write_str("Inline(***)"),
            SecretSource::Env(v) => write!(f, "Env({v})"),
            SecretSource::File(p) => write!(f, "File({})", p.display()),
        }
    }
}

/// Why a client secret could not be read; the words are the same as for a password.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The environment variable is not set (or not Unicode).
    #[error("the environment variable {var} is not set")]
    Env {
        /// Its name.
        var: String,
        /// What the environment said.
        #[source]
        source: std::env::VarError,
    },
    /// The file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl SecretSource {
    /// The secret itself (a file's trailing newline removed).
    ///
    /// # Errors
    /// A [`SecretError`] when the variable is not set or the file cannot be read.
    pub fn read(&self) -> Result<String, SecretError> {
        match self {
            SecretSource::Inline(s) => Ok(s.clone()),
            SecretSource::Env(var) => std::env::var(var).map_err(|source| SecretError::Env {
                var: var.clone(),
                source,
            }),
            SecretSource::File(path) => std::fs::read_to_string(path)
                .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
                .map_err(|source| SecretError::File {
                    path: path.clone(),
                    source,
                }),
        }
    }
}

/// One `[oauth2.NAME]` client of the config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    /// The NAME of `[oauth2.NAME]`, for messages.
    pub name: String,
    /// Who issues the tokens.
    pub provider: Provider,
    /// The token endpoint; for Google `None` takes the one in the service account's key.
    pub token_url: Option<String>,
    /// The application (client) id.
    pub client_id: String,
    /// The client secret (client-credentials grant).
    pub secret: Option<SecretSource>,
    /// The scope asked for.
    pub scope: String,
    /// Google: the service account's JSON key.
    pub service_account_file: Option<PathBuf>,
}

impl Client {
    /// What keeps this client's secret or service account key from being read now, with the
    /// key of `[oauth2.NAME]` that names it: for `check-config` and the daemon's start, as
    /// for passwords (`Config::check_secrets`). A token fetch reads them again each time.
    pub fn unreadable(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if let Some(secret) = &self.secret {
            let key = match secret {
                SecretSource::Inline(_) => "client_secret",
                SecretSource::Env(_) => "client_secret_env",
                SecretSource::File(_) => "client_secret_file",
            };
            if let Err(e) = secret.read() {
                problems.push((key, e.to_string()));
            }
        }
        if let Some(file) = &self.service_account_file {
            let checked = std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))
                .and_then(|text| {
                    serde_json::from_str::<ServiceAccount>(&text)
                        .map(|_| ())
                        .map_err(|e| {
                            format!("{} is not a service account key: {e}", file.display())
                        })
                });
            if let Err(e) = checked {
                problems.push(("service_account_file", e));
            }
        }
        problems
    }
}

/// How a mailbox or the SMTP server is logged in to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    /// LOGIN / AUTH PLAIN with the configured password.
    Password,
    /// SASL XOAUTH2 with a token of this client.
    OAuth2(Arc<Client>),
}

/// The token URL for Microsoft Entra: the tenant's v2.0 endpoint.
pub fn microsoft_token_url(tenant: &str) -> String {
    format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token")
}

/// The fields of a Google service account's JSON key that the JWT-bearer grant needs.
#[derive(serde::Deserialize)]
pub(crate) struct ServiceAccount {
    pub(crate) client_email: String,
    pub(crate) private_key: String,
    pub(crate) private_key_id: Option<String>,
    pub(crate) token_uri: Option<String>,
}
