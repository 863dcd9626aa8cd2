//! Connections to the mail servers: TCP within a time limit, its failures in plain words, and
//! TLS with rustls, the Mozilla roots (webpki-roots) and, where configured, the municipality's
//! own CA. Certificates are always verified.

use crate::net::diagnose::Problem;
use rustls::pki_types::{pem::PemObject, CertificateDer, ServerName};
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// How long a TCP connection to a mail server may take before it counts as no answer.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Connects to `host:port` over TCP within [`CONNECT_TIMEOUT`], for IMAP and SMTP alike.
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

/// Wraps `tcp` in TLS, verifying that the certificate is valid for `host`.
pub async fn connect(
    tcp: TcpStream,
    host: &str,
    ca_file: Option<&Path>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(file) = ca_file {
        let certs = CertificateDer::pem_file_iter(file)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| std::io::Error::other(format!("CA file {}: {e}", file.display())))?;
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| std::io::Error::other(format!("CA file {}: {e}", file.display())))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(host.to_string()).map_err(|e| {
        std::io::Error::other(format!("{host:?} is not a valid TLS server name: {e}"))
    })?;
    TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
}
