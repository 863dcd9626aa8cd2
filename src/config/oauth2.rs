//! The `[oauth2.NAME]` clients of the config and how a mailbox or the SMTP server logs in: the
//! settings only. Fetching and caching tokens is [`crate::net::oauth2`]'s job; these types are
//! here so that the config, which names them, imports nothing above it.

use super::checks::Checker;
use super::raw::RawOAuth2;
use super::ConfigError;
use std::collections::BTreeMap;
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

// ---- the checks of `[oauth2.NAME]` ---------------------------------------------------------

impl Checker<'_> {
    /// Every `[oauth2.NAME]` client, checked, by NAME.
    pub(super) fn oauth2_clients(
        &self,
        raw: &BTreeMap<String, RawOAuth2>,
    ) -> Result<BTreeMap<String, Arc<Client>>, ConfigError> {
        raw.iter()
            .map(|(name, c)| Ok((name.clone(), Arc::new(self.oauth2_client(name, c)?))))
            .collect()
    }

    /// `[oauth2.NAME]`, checked: the provider decides which keys it needs (RFC 6749 §4.4
    /// client credentials for Microsoft and generic, RFC 7523 §2.1 JWT bearer for Google).
    fn oauth2_client(&self, name: &str, c: &RawOAuth2) -> Result<Client, ConfigError> {
        let key = format!("oauth2.{name}");
        let provider = match c.provider.trim() {
            "microsoft" => Provider::Microsoft,
            "google" => Provider::Google,
            "generic" => Provider::Generic,
            other => {
                return Err(self.err(
                    format!("{key}.provider"),
                    format!("{other:?}: use \"microsoft\", \"google\" or \"generic\""),
                ))
            }
        };
        let secret = self.client_secret(&key, c)?;
        let token_url = self.token_url(&key, provider, c)?;
        let client_id = (c.client_id.clone())
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        self.provider_needs(&key, provider, c, &client_id, secret.is_some())?;
        let scope = (c.scope.clone())
            .or_else(|| provider.default_scope().map(str::to_string))
            .unwrap_or_default();
        Ok(Client {
            name: name.to_string(),
            provider,
            token_url,
            client_id,
            secret,
            scope,
            service_account_file: c.service_account_file.as_deref().map(|p| self.path(p)),
        })
    }

    /// Where the client secret comes from: at most one of the three keys. Not read here (see
    /// [`SecretSource::read`]).
    fn client_secret(&self, key: &str, c: &RawOAuth2) -> Result<Option<SecretSource>, ConfigError> {
        let secrets = [
            c.client_secret.clone().map(SecretSource::Inline),
            c.client_secret_env.clone().map(SecretSource::Env),
            c.client_secret_file
                .as_deref()
                .map(|p| SecretSource::File(self.path(p))),
        ];
        if secrets.iter().flatten().count() > 1 {
            return Err(self.err(
                key,
                "give only one of client_secret, client_secret_env and client_secret_file",
            ));
        }
        Ok(secrets.into_iter().flatten().next())
    }

    /// The token endpoint: given, or Microsoft's for the tenant; https only, but for this
    /// machine (a secret must not cross the network in the clear).
    fn token_url(
        &self,
        key: &str,
        provider: Provider,
        c: &RawOAuth2,
    ) -> Result<Option<String>, ConfigError> {
        if let Some(url) = &c.token_url {
            let loopback = [
                "http://127.0.0.1:",
                "http://127.0.0.1/",
                "http://localhost:",
                "http://localhost/",
                "http://[::1]",
            ];
            if !url.starts_with("https://") && !loopback.iter().any(|p| url.starts_with(p)) {
                return Err(self.err(
                    format!("{key}.token_url"),
                    format!("{url:?}: the token endpoint must be https:// (plain http only on this machine)"),
                ));
            }
        }
        match (provider, &c.tenant, &c.token_url) {
            (_, _, Some(url)) => Ok(Some(url.clone())),
            (Provider::Microsoft, Some(t), None) => Ok(Some(microsoft_token_url(t.trim()))),
            (Provider::Microsoft, None, None) => Err(self.err(
                format!("{key}.tenant"),
                "microsoft needs the tenant (e.g. \"kommun.onmicrosoft.com\" or its id), or a token_url",
            )),
            (Provider::Generic, _, None) => Err(self.err(
                format!("{key}.token_url"),
                "generic needs the token endpoint's URL",
            )),
            (Provider::Google, _, None) => Ok(None),
        }
    }

    /// What each provider's grant needs, and what it must not be given.
    fn provider_needs(
        &self,
        key: &str,
        provider: Provider,
        c: &RawOAuth2,
        client_id: &str,
        has_secret: bool,
    ) -> Result<(), ConfigError> {
        let fail = |k: String, m: &str| Err(self.err(k, m));
        match provider {
            Provider::Google if c.service_account_file.is_none() => fail(
                format!("{key}.service_account_file"),
                "google needs the service account's JSON key (service_account_file)",
            ),
            Provider::Google if has_secret => fail(
                key.to_string(),
                "google signs with the service account's key: remove the client secret",
            ),
            Provider::Google => Ok(()),
            _ if client_id.is_empty() => fail(
                format!("{key}.client_id"),
                "missing: the application (client) id of the app registration",
            ),
            _ if !has_secret => fail(
                key.to_string(),
                "no client secret: give client_secret_file, client_secret_env or client_secret",
            ),
            _ if c.service_account_file.is_some() => fail(
                format!("{key}.service_account_file"),
                "only for provider = \"google\"",
            ),
            _ => Ok(()),
        }
    }
}
