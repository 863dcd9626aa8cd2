//! The checks of `[oauth2.NAME]`: each client's provider, the keys it needs, and where its
//! secret comes from (read later, where it is used: see `secrets`).

use super::checker::Checker;
use super::oauth2::{microsoft_token_url, Client, Provider, SecretSource};
use super::raw::RawOAuth2;
use super::ConfigError;
use std::collections::BTreeMap;
use std::sync::Arc;

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
