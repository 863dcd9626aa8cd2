//! Reaching the database: the URL taken apart (kvittens' own `sslmode` and `sslrootcert`
//! handled here, the rest given to the client), TLS through rustls, the password read at each
//! new connection (a rotated file is picked up), and every failure said in plain words: which
//! database, what happened, what to check.

use super::super::error::Cause;
use crate::config::PgLocation;
use postgres::error::SqlState;
use postgres::Client;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres_rustls::MakeRustlsConnect;

/// How long a connection attempt may take before the database is said not to answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything needed to open one more connection to the database.
pub(super) struct Target {
    config: postgres::Config,
    /// `None` with `sslmode=disable`.
    tls: Option<MakeRustlsConnect>,
    /// Where the password comes from, read at each connection.
    location: PgLocation,
    /// `host:port`, for messages.
    pub(super) place: String,
    /// The URL without password or query: how the store is named in logs and errors.
    pub(super) name: String,
}

impl Target {
    /// The target `location` names (a relative `sslrootcert` is taken from the config's
    /// folder).
    ///
    /// # Errors
    /// The URL does not parse, or the CA file cannot be read.
    pub(super) fn new(location: &PgLocation) -> Result<Target, Cause> {
        let bad = |e: String| Cause::Database(format!("the store URL {e}"));
        let mut url = url::Url::parse(&location.url).map_err(|e| bad(e.to_string()))?;
        let mut disable = false;
        let mut root: Option<PathBuf> = None;
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter_map(|(k, v)| match k.as_ref() {
                "sslmode" => {
                    disable = v == "disable";
                    None
                }
                "sslrootcert" => {
                    root = Some(location.base.join(v.as_ref()));
                    None
                }
                _ => Some((k.into_owned(), v.into_owned())),
            })
            .collect();
        url.set_query(None);
        if !kept.is_empty() {
            url.query_pairs_mut().extend_pairs(kept);
        }
        let mut config: postgres::Config = url
            .as_str()
            .parse()
            .map_err(|e: postgres::Error| bad(format!("is not one PostgreSQL takes: {e}")))?;
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("kvittens");
        // The server's NOTICEs ("relation … already exists, skipping" at each migration
        // check) are not for the user: only warnings and errors are sent.
        config.options("-c client_min_messages=warning");
        let tls = if disable {
            config.ssl_mode(postgres::config::SslMode::Disable);
            None
        } else {
            config.ssl_mode(postgres::config::SslMode::Require);
            Some(MakeRustlsConnect::new(tls_config(root.as_deref())?))
        };
        let host = url.host_str().unwrap_or("localhost").to_string();
        let port = url.port().unwrap_or(5432);
        let place = format!("{host}:{port}");
        let name = format!("postgresql://{}@{place}{}", url.username(), url.path());
        Ok(Target {
            config,
            tls,
            location: location.clone(),
            place,
            name,
        })
    }

    /// A new connection, logged in; the failure in plain words.
    pub(super) fn connect(&self) -> Result<Client, Cause> {
        let mut config = self.config.clone();
        if let Some(secret) = &self.location.password {
            let password = secret
                .read()
                .map_err(|e| Cause::Database(format!("cannot read the password: {e}")))?;
            config.password(password);
        }
        let client = match &self.tls {
            Some(tls) => config.connect(tls.clone()),
            None => config.connect(postgres::NoTls),
        };
        client.map_err(|e| Cause::Database(self.explain(&e)))
    }

    /// What went wrong connecting, in words an admin acts on.
    fn explain(&self, e: &postgres::Error) -> String {
        let place = &self.place;
        let user = self.config.get_user().unwrap_or("?");
        let db = self.config.get_dbname().unwrap_or("?");
        if let Some(code) = e.code() {
            if *code == SqlState::INVALID_PASSWORD
                || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
            {
                let check = match &self.location.password_key {
                    Some(key) => format!("check {}", key.trim_start_matches("daemon.")),
                    None => "give its password with store_password_file or store_password_env"
                        .to_string(),
                };
                return format!(
                    "the database at {place} refused the login of user {user}: {check}"
                );
            }
            if *code == SqlState::INVALID_CATALOG_NAME {
                return format!("the database {db} does not exist at {place}: create it (createdb -O {user} {db})");
            }
        }
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
        let mut chain = String::new();
        while let Some(s) = source {
            chain.push_str(&format!(": {s}"));
            if let Some(io) = s.downcast_ref::<std::io::Error>() {
                use std::io::ErrorKind as K;
                match io.kind() {
                    K::ConnectionRefused => return format!("the database at {place} does not answer (connection refused): is PostgreSQL running?"),
                    K::TimedOut => return format!("the database at {place} does not answer (no reply within {}s): is PostgreSQL running, and may this machine reach it?", CONNECT_TIMEOUT.as_secs()),
                    _ => {}
                }
                if let Some(tls) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                    return certificate(place, tls);
                }
            }
            if let Some(tls) = s.downcast_ref::<rustls::Error>() {
                return certificate(place, tls);
            }
            source = s.source();
        }
        if chain.contains("password missing") {
            return format!("the database at {place} asks for the password of user {user}, and none is configured: give it with store_password_file or store_password_env in [daemon]");
        }
        if chain.contains("server does not support TLS") {
            return format!("the database at {place} does not speak TLS: turn on ssl in its postgresql.conf, or (for a database on this machine only) add ?sslmode=disable to the URL");
        }
        if chain.contains("timed out") {
            return format!("the database at {place} does not answer (no reply within {}s): is PostgreSQL running, and may this machine reach it?", CONNECT_TIMEOUT.as_secs());
        }
        format!("cannot connect to the database at {place}{chain}")
    }
}

/// A certificate that does not verify, said as the mail servers' are.
fn certificate(place: &str, e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    let why = match e {
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => "it is signed by an unknown authority (self-signed, or by a CA kvittens does not know: name that CA with sslrootcert=FILE in the URL)".to_string(),
        rustls::Error::InvalidCertificate(C::NotValidForName)
        | rustls::Error::InvalidCertificate(C::NotValidForNameContext { .. }) => "it is issued for another name (write the host as the certificate names it)".to_string(),
        rustls::Error::InvalidCertificate(C::Expired)
        | rustls::Error::InvalidCertificate(C::ExpiredContext { .. }) => "it has expired".to_string(),
        other => other.to_string(),
    };
    format!("the certificate of the database at {place} does not verify: {why}")
}

/// rustls with the ring provider (as the mail connections), trusting the CA in `root` when
/// given, else the webpki roots; certificate and host name are verified.
fn tls_config(root: Option<&Path>) -> Result<rustls::ClientConfig, Cause> {
    let mut roots = rustls::RootCertStore::empty();
    match root {
        Some(file) => {
            let unreadable = |e: String| {
                Cause::Database(format!(
                    "the CA file {} that sslrootcert= in daemon.store names: {e}",
                    file.display()
                ))
            };
            let pem =
                std::fs::read(file).map_err(|e| unreadable(format!("cannot be read ({e})")))?;
            let certs = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| unreadable(format!("is not PEM ({e})")))?;
            if certs.is_empty() {
                return Err(unreadable("holds no PEM certificate".into()));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| unreadable(e.to_string()))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Cause::Database(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}
