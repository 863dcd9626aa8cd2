//! Connections to the mail servers: TCP within a time limit, its failures in plain words, and
//! TLS with rustls, the Mozilla roots (webpki-roots) and, where configured, the municipality's
//! own CA. Certificates are always verified.
//!
//! The trust (roots and CA file) is built once per CA file and shared by every IMAP and SMTP
//! connection: [`prepare`] builds it at start and on a config reload, so that the CA file is
//! read then and not at each of the thousands of connections a year of reconnects makes. A CA
//! file that could not be read is not kept: the next connection tries it again and fails with
//! the same words, as the mailbox's or the SMTP server's problem.

use crate::net::diagnose::Problem;
use rustls::pki_types::{pem::PemObject, CertificateDer, ServerName};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// How long a TCP connection to a mail server may take before it counts as no answer.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Connects to `host:port` over TCP within 30 s (`CONNECT_TIMEOUT`), for IMAP and SMTP alike.
///
/// # Errors
/// [`Problem::Timeout`] when nothing answers in time, else the failure as
/// [`Problem::connect`] classifies it (refused, unreachable, a name that does not resolve); the
/// system's own words go to the debug log.
pub async fn tcp(host: &str, port: u16) -> Result<TcpStream, Problem> {
    tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port)))
        .await
        .map_err(|_| Problem::Timeout {
            host: host.into(),
            port,
        })?
        .map_err(|e| {
            tracing::debug!(%host, port, error = %e, "connecting failed");
            Problem::connect(&e, host, port)
        })
}

/// What a TLS client trusts: the Mozilla roots and the certificates of one CA file.
struct Trust {
    /// The one rustls client config of this CA file, for IMAP and implicit-TLS SMTP.
    config: Arc<rustls::ClientConfig>,
    /// The CA file's certificates, for lettre's STARTTLS (lettre 0.11 builds its own rustls
    /// config from certificates and takes no `ClientConfig`), kept so that the file is not read
    /// again for it.
    extra: Vec<CertificateDer<'static>>,
}

/// The trust of each CA file (`None`: the Mozilla roots only), as last built.
static TRUST: LazyLock<Mutex<HashMap<Option<PathBuf>, Arc<Trust>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Builds the trust of each of `ca_files` (the configured servers' `ca_file`s; `None` for the
/// Mozilla roots only) afresh, replacing what was built before: called at start and on a config
/// reload, so that a renewed CA file takes effect on reload and is read at no other time.
///
/// # Errors
/// The first CA file that cannot be read or holds no valid certificate, in words naming it;
/// the others are built regardless.
pub fn prepare<'a>(ca_files: impl IntoIterator<Item = Option<&'a Path>>) -> std::io::Result<()> {
    let mut first_error = None;
    for file in ca_files {
        match build(file) {
            Ok(trust) => {
                if let Ok(mut all) = TRUST.lock() {
                    all.insert(file.map(Path::to_path_buf), Arc::new(trust));
                }
            }
            Err(e) => {
                // A CA file that broke since the last build is not trusted as it was: the
                // next connection reads it again and says why it fails.
                if let Ok(mut all) = TRUST.lock() {
                    all.remove(&file.map(Path::to_path_buf));
                }
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// The trust of `ca_file`, built now if [`prepare`] did not (or could not) build it.
fn trust(ca_file: Option<&Path>) -> std::io::Result<Arc<Trust>> {
    let key = ca_file.map(Path::to_path_buf);
    if let Some(t) = TRUST.lock().ok().and_then(|all| all.get(&key).cloned()) {
        return Ok(t);
    }
    let built = Arc::new(build(ca_file)?);
    if let Ok(mut all) = TRUST.lock() {
        all.insert(key, built.clone());
    }
    Ok(built)
}

/// Reads `ca_file` (if any) and builds the client config over it and the Mozilla roots.
fn build(ca_file: Option<&Path>) -> std::io::Result<Trust> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let mut extra = Vec::new();
    if let Some(file) = ca_file {
        let named = |e: &dyn std::fmt::Display| {
            std::io::Error::other(format!("CA file {}: {e}", file.display()))
        };
        extra = CertificateDer::pem_file_iter(file)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| named(&e))?;
        for cert in &extra {
            roots.add(cert.clone()).map_err(|e| named(&e))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Trust {
        config: Arc::new(config),
        extra,
    })
}

/// Wraps `tcp` in TLS, verifying that the certificate is valid for `host`.
///
/// # Errors
/// The CA file when it was never read successfully and cannot be now, a `host` that is no TLS
/// server name, or the handshake's failure (a certificate not trusted, a server speaking
/// plain text), for [`Problem::tls`] to classify.
pub async fn connect(
    tcp: TcpStream,
    host: &str,
    ca_file: Option<&Path>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let trust = trust(ca_file)?;
    let name = ServerName::try_from(host.to_string()).map_err(|e| {
        std::io::Error::other(format!("{host:?} is not a valid TLS server name: {e}"))
    })?;
    TlsConnector::from(trust.config.clone())
        .connect(name, tcp)
        .await
}

/// The certificates of `ca_file` as read when its trust was built, for lettre's STARTTLS
/// (lettre 0.11 builds its own rustls config from certificates and takes no `ClientConfig`).
///
/// # Errors
/// The CA file, as for [`connect`].
pub fn ca_certificates(ca_file: Option<&Path>) -> std::io::Result<Vec<CertificateDer<'static>>> {
    Ok(trust(ca_file)?.extra.clone())
}

/// Builds the trust of every server `cfg` names (each mailbox's IMAP server, the SMTP server),
/// at start and on reload. A CA file that cannot be read is left for its connection to report,
/// in the words and place (`/healthz`, the mailbox's log line) that server's problems have.
pub fn prepare_config(cfg: &crate::config::Config) {
    // Many mailboxes share one server and one CA file: each file is read once, and its
    // failure names every host that uses it.
    let mut hosts: BTreeMap<Option<&Path>, Vec<&str>> = BTreeMap::new();
    let servers = cfg.departments.iter().map(|d| &d.imap);
    for server in servers.chain([&cfg.smtp.server]) {
        let users = hosts.entry(server.ca_file.as_deref()).or_default();
        if !users.contains(&server.host.as_str()) {
            users.push(&server.host);
        }
    }
    for (ca_file, users) in hosts {
        if let Err(e) = prepare([ca_file]) {
            tracing::warn!(hosts = %users.join(", "), error = %e, "the CA file cannot be used; connections to these servers will fail until it is fixed and kvittens reloaded");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::PrivateKeyDer;

    /// A TLS server on 127.0.0.1 with a self-signed certificate (made by openssl), which
    /// completes handshakes and then drops the connection; returns its port.
    async fn server(dir: &Path) -> u16 {
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let made = std::process::Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args([
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ])
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .unwrap();
        assert!(made.status.success(), "{made:?}");
        let certs: Vec<CertificateDer> = CertificateDer::pem_file_iter(&cert)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(&key).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let _ = acceptor.accept(tcp).await;
                });
            }
        });
        port
    }

    async fn handshake(port: u16, ca: &Path) -> std::io::Result<()> {
        let tcp = tcp("127.0.0.1", port)
            .await
            .map_err(|p| std::io::Error::other(p.to_string()))?;
        connect(tcp, "127.0.0.1", Some(ca)).await.map(|_| ())
    }

    #[tokio::test]
    async fn the_ca_file_is_read_once_and_reread_only_on_prepare() {
        let dir = tempfile::tempdir().unwrap();
        let port = server(dir.path()).await;
        let ca = dir.path().join("cert.pem");
        prepare([Some(ca.as_path())]).unwrap();
        std::fs::remove_file(&ca).unwrap();
        // Two connections after the file is gone: both trust the server, from the config
        // built at start.
        handshake(port, &ca).await.unwrap();
        handshake(port, &ca).await.unwrap();
        assert_eq!(ca_certificates(Some(&ca)).unwrap().len(), 1);
        // A reload reads it again: gone now, so the reload says why and the old trust is not
        // kept (an operator who removed a CA meant it; one who broke it hears from the log).
        let e = prepare([Some(ca.as_path())]).unwrap_err().to_string();
        assert!(e.contains("cert.pem"), "{e}");
        assert!(handshake(port, &ca).await.is_err(), "the old trust is gone");
    }

    #[tokio::test]
    async fn without_the_ca_file_the_self_signed_server_is_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let port = server(dir.path()).await;
        let tcp = tcp("127.0.0.1", port).await.unwrap();
        let e = connect(tcp, "127.0.0.1", None).await.unwrap_err();
        assert!(
            Problem::tls(&e, "127.0.0.1", port)
                .to_string()
                .contains("not trusted"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_ca_file_never_read_is_tried_at_each_connection() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.pem");
        assert!(ca_certificates(Some(&missing)).is_err());
        assert!(
            ca_certificates(Some(&missing)).is_err(),
            "a failure is not kept"
        );
    }
}
