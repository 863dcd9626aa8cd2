//! What went wrong with a mail server, in the words an administrator needs: the library's
//! errors (io, rustls, async-imap, lettre) are classified once here, so that the daemon's log,
//! `/healthz`, the `kvittens_mailbox_problem` metric and `check-config --connect` all say the
//! same thing, and so that a refused login can be told from a server that is down — the first
//! must not be retried every minute (an Active Directory account locks after a handful of
//! failed logins), the second should be.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

/// How long a refused login waits before the next try. Active Directory's account lockout
/// counts failed logins over a window (often 10 attempts in 15 minutes, the Microsoft
/// security baseline's `Account lockout threshold` and `Reset account lockout counter after`),
/// so one try per 15 minutes cannot lock the account however long the mistake stays. A config
/// reload (SIGHUP) tries again at once.
pub const LOGIN_BACKOFF: Duration = Duration::from_secs(15 * 60);

/// How long one check of `check-config --connect` may take, connect to last answer.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(15);

/// A mail server problem, classified. Display gives the plain words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Nothing listens at host:port (TCP RST).
    Refused {
        /// The server's host.
        host: String,
        /// Its port.
        port: u16,
    },
    /// The host cannot be reached or its name not resolved.
    Unreachable {
        /// The server's host.
        host: String,
        /// Its port.
        port: u16,
        /// The system's words.
        why: String,
    },
    /// No answer in time.
    Timeout {
        /// The server's host.
        host: String,
        /// Its port.
        port: u16,
    },
    /// `security = "tls"` at a port that speaks plain text (e.g. 143 or 587).
    TlsToPlain {
        /// The server's host.
        host: String,
        /// Its port.
        port: u16,
    },
    /// `security = "starttls"` and the server does not offer STARTTLS (RFC 3501 §6.2.1,
    /// RFC 3207).
    NoStartTls {
        /// The server's host.
        host: String,
        /// Its port.
        port: u16,
    },
    /// The server's certificate does not verify for the name kvittens connected to.
    CertificateNotTrusted {
        /// The name the certificate was checked for.
        name: String,
        /// Why, in plain words.
        why: String,
    },
    /// Another TLS failure.
    Tls {
        /// The server's host.
        host: String,
        /// What TLS said.
        why: String,
    },
    /// The server refused the login: wrong password or token (IMAP NO to LOGIN/AUTHENTICATE,
    /// `[AUTHENTICATIONFAILED]` of RFC 5530; SMTP 535, RFC 4954 §6).
    LoginRefused {
        /// The server that refused (its host).
        by: String,
        /// The login name.
        user: String,
    },
    /// The server refused an OAuth2 token (SASL XOAUTH2): its JSON challenge says why (status,
    /// scope; RFC 7628 §3.2.2). The token itself is never part of it.
    TokenRefused {
        /// The server that refused (its host).
        by: String,
        /// The mailbox the token was for.
        user: String,
        /// The server's status and scope, and its final answer.
        why: String,
    },
    /// The SMTP server offers no login mechanism kvittens speaks (no AUTH in its EHLO).
    NoLoginMechanism {
        /// The server's host.
        host: String,
    },
    /// The server is there but says it cannot serve now (IMAP `[UNAVAILABLE]`, RFC 5530; SMTP
    /// 4xx): not a refused login, retried soon.
    Unavailable {
        /// The server's host.
        by: String,
        /// Its words.
        text: String,
    },
    /// The folder to watch does not exist (or may not be read) in the mailbox.
    FolderMissing {
        /// The folder.
        name: String,
    },
    /// No Sent folder: no `\Sent` SPECIAL-USE (RFC 6154), none called "Sent".
    NoSentFolder,
    /// The OAuth2 token endpoint refused or failed (RFC 6749 §5.2 `error`).
    TokenEndpoint {
        /// The endpoint's error code or what failed.
        error: String,
    },
    /// kvittens itself has no file descriptor left for the connection (EMFILE, ENFILE): not the
    /// server's fault, and no retry helps until the limit is raised.
    NoFilesLeft {
        /// The process's limit on open files (`RLIMIT_NOFILE`, soft), when it could be read.
        limit: Option<u64>,
    },
    /// The server closed the connection.
    Closed {
        /// The server's host.
        host: String,
    },
    /// Anything else, in the library's words.
    Other(String),
}

impl Problem {
    /// Whether the server refused the credentials: such a login is retried only after
    /// [`LOGIN_BACKOFF`], as repeating it locks the account.
    pub fn is_refused_login(&self) -> bool {
        matches!(
            self,
            Problem::LoginRefused { .. }
                | Problem::TokenRefused { .. }
                | Problem::TokenEndpoint { .. }
        )
    }

    /// A short label for metrics (`kvittens_mailbox_problem{problem=…}`).
    pub fn kind(&self) -> &'static str {
        match self {
            Problem::Refused { .. } | Problem::Unreachable { .. } | Problem::Closed { .. } => {
                "unreachable"
            }
            Problem::Timeout { .. } => "timeout",
            Problem::TlsToPlain { .. }
            | Problem::NoStartTls { .. }
            | Problem::CertificateNotTrusted { .. }
            | Problem::Tls { .. } => "tls",
            Problem::LoginRefused { .. }
            | Problem::TokenRefused { .. }
            | Problem::NoLoginMechanism { .. } => "login_refused",
            Problem::Unavailable { .. } => "unavailable",
            Problem::FolderMissing { .. } | Problem::NoSentFolder => "folder_missing",
            Problem::TokenEndpoint { .. } => "token",
            Problem::NoFilesLeft { .. } => "open_files",
            Problem::Other(_) => "other",
        }
    }

    /// [`Problem::NoFilesLeft`] when `e` says the process (EMFILE) or the whole system (ENFILE)
    /// has no file descriptor left, with the process's limit.
    pub fn files_left(e: &std::io::Error) -> Option<Problem> {
        const EMFILE: i32 = 24;
        const ENFILE: i32 = 23;
        matches!(e.raw_os_error(), Some(EMFILE | ENFILE)).then(|| Problem::NoFilesLeft {
            limit: rustix::process::getrlimit(rustix::process::Resource::Nofile).current,
        })
    }

    /// Classifies a failed TCP connect to host:port.
    pub fn connect(e: &std::io::Error, host: &str, port: u16) -> Problem {
        if let Some(p) = Problem::files_left(e) {
            return p;
        }
        match e.kind() {
            std::io::ErrorKind::ConnectionRefused => Problem::Refused {
                host: host.into(),
                port,
            },
            std::io::ErrorKind::TimedOut => Problem::Timeout {
                host: host.into(),
                port,
            },
            _ => Problem::Unreachable {
                host: host.into(),
                port,
                why: e.to_string(),
            },
        }
    }

    /// Classifies a failed TLS handshake (or any error with a rustls error in its chain).
    pub fn tls(e: &(dyn StdError + 'static), host: &str, port: u16) -> Problem {
        match find_rustls(e) {
            Some(rustls::Error::InvalidMessage(_)) => Problem::TlsToPlain {
                host: host.into(),
                port,
            },
            Some(rustls::Error::InvalidCertificate(c)) => Problem::CertificateNotTrusted {
                name: host.into(),
                why: certificate_words(c),
            },
            Some(other) => Problem::Tls {
                host: host.into(),
                why: other.to_string(),
            },
            None => match find_io(e).map(|io| io.kind()) {
                Some(std::io::ErrorKind::UnexpectedEof)
                | Some(std::io::ErrorKind::ConnectionReset) => Problem::TlsToPlain {
                    host: host.into(),
                    port,
                },
                _ => Problem::Tls {
                    host: host.into(),
                    why: e.to_string(),
                },
            },
        }
    }

    /// Classifies an IMAP server's NO or BAD to LOGIN/AUTHENTICATE: a refused login, unless
    /// the server says it is unavailable (RFC 5530 `[UNAVAILABLE]`) or busy (`[INUSE]`).
    pub fn imap_login(e: &async_imap::error::Error, host: &str, port: u16, user: &str) -> Problem {
        use async_imap::error::Error;
        match e {
            Error::No(text) | Error::Bad(text)
                if text.contains("Unavailable") || text.contains("InUse") =>
            {
                Problem::Unavailable {
                    by: host.into(),
                    text: text.clone(),
                }
            }
            Error::No(_) => Problem::LoginRefused {
                by: host.into(),
                user: user.into(),
            },
            other => Problem::imap(other, host, port),
        }
    }

    /// Classifies another IMAP error.
    pub fn imap(e: &async_imap::error::Error, host: &str, port: u16) -> Problem {
        use async_imap::error::Error;
        match e {
            Error::ConnectionLost => Problem::Closed { host: host.into() },
            Error::Io(io) if Problem::files_left(io).is_some() => Problem::connect(io, host, port),
            Error::Io(io) => match io.kind() {
                std::io::ErrorKind::UnexpectedEof
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::BrokenPipe => Problem::Closed { host: host.into() },
                _ if find_rustls(io).is_some() => Problem::tls(io, host, port),
                _ => Problem::Other(io.to_string()),
            },
            Error::No(text) if text.contains("Unavailable") => Problem::Unavailable {
                by: host.into(),
                text: text.clone(),
            },
            other => Problem::Other(other.to_string()),
        }
    }

    /// Classifies an SMTP error met while connecting, saying hello, starting TLS or logging in
    /// as `user`.
    pub fn smtp(
        e: &lettre::transport::smtp::Error,
        host: &str,
        port: u16,
        user: Option<&str>,
    ) -> Problem {
        let code = e.status().map(|c| c.to_string());
        let text = e.to_string();
        if code.as_deref() == Some("535") || (code.as_deref() == Some("534")) {
            return Problem::LoginRefused {
                by: host.into(),
                user: user.unwrap_or_default().into(),
            };
        }
        if e.is_transient() {
            return Problem::Unavailable {
                by: host.into(),
                text,
            };
        }
        if text.contains("STARTTLS is not supported") {
            return Problem::NoStartTls {
                host: host.into(),
                port,
            };
        }
        if text.contains("No compatible authentication mechanism") {
            return Problem::NoLoginMechanism { host: host.into() };
        }
        if e.is_tls() || find_rustls(e).is_some() {
            return Problem::tls(e, host, port);
        }
        if e.is_timeout() {
            return Problem::Timeout {
                host: host.into(),
                port,
            };
        }
        if let Some(io) = find_io(e) {
            if let Some(p) = Problem::files_left(io) {
                return p;
            }
            if matches!(
                io.kind(),
                std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
            ) {
                return Problem::Closed { host: host.into() };
            }
        }
        Problem::Other(text)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Refused { host, port } => write!(
                f,
                "connection refused at {host}:{port}: nothing listens there (wrong host or port, or the server is down)"
            ),
            // The resolver's own words ("failed to lookup address information: …") say less
            // to an admin than what to check.
            Problem::Unreachable { host, port, why } if why.contains("lookup address") => write!(
                f,
                "cannot find the host {host} (port {port}): the name does not resolve; check the host name and the machine's DNS"
            ),
            Problem::Unreachable { host, port, why } => {
                write!(f, "cannot reach {host}:{port}: {why}")
            }
            Problem::Timeout { host, port } => write!(
                f,
                "no answer from {host}:{port} in time (a firewall, or a TLS port spoken to in plain text)"
            ),
            Problem::TlsToPlain { host, port } => write!(
                f,
                "TLS spoken to a plain-text server at {host}:{port}: use security = \"starttls\" (or \"none\") there, or the server's TLS port (993 for IMAP, 465 for SMTP)"
            ),
            Problem::NoStartTls { host, port } => write!(
                f,
                "STARTTLS not offered by {host}:{port}: use its TLS port with security = \"tls\", or ask for STARTTLS to be turned on"
            ),
            Problem::CertificateNotTrusted { name, why } => write!(
                f,
                "certificate not trusted for {name}: {why}"
            ),
            Problem::Tls { host, why } => write!(f, "TLS with {host} failed: {why}"),
            Problem::LoginRefused { by, user } => write!(
                f,
                "login refused by {by} for {user}: wrong password or token (or the account may not log in over IMAP/SMTP)"
            ),
            Problem::TokenRefused { by, user, why } => write!(
                f,
                "login as {user} with an OAuth2 token refused by {by}: {why} (the token is not good for this mailbox: see the OAuth2 section of the README)"
            ),
            Problem::NoLoginMechanism { host } => write!(
                f,
                "{host} offers no login (no AUTH PLAIN or LOGIN after EHLO): leave out user and password, or use the submission port with STARTTLS"
            ),
            Problem::Unavailable { by, text } => {
                write!(f, "{by} is unavailable for now: {text}")
            }
            Problem::FolderMissing { name } => {
                write!(f, "folder missing: {name:?} does not exist in the mailbox")
            }
            Problem::NoSentFolder => f.write_str(
                "no Sent folder (no \\Sent SPECIAL-USE, none called \"Sent\"); set mailbox.sent_folder",
            ),
            Problem::TokenEndpoint { error } => write!(f, "the token endpoint answered {error}"),
            Problem::Closed { host } => write!(f, "{host} closed the connection"),
            Problem::NoFilesLeft { limit } => {
                let limit = limit.map_or_else(|| "unknown".to_string(), |n| n.to_string());
                write!(
                    f,
                    "kvittens has no open files left (its limit is {limit}): raise LimitNOFILE in the unit, or `ulimit -n`; see README Sizing"
                )
            }
            Problem::Other(text) => f.write_str(text),
        }
    }
}

/// A certificate error in plain words.
fn certificate_words(e: &rustls::CertificateError) -> String {
    use rustls::CertificateError as C;
    match e {
        C::UnknownIssuer => "it is signed by an unknown authority (self-signed, or by a CA kvittens does not know: add that CA with ca_file)".into(),
        C::NotValidForName | C::NotValidForNameContext { .. } => "it was issued for another name (connect by the name on the certificate)".into(),
        C::Expired | C::ExpiredContext { .. } => "it has expired".into(),
        C::NotValidYet | C::NotValidYetContext { .. } => "it is not valid yet (check the clock)".into(),
        C::Revoked => "it has been revoked".into(),
        C::BadSignature => "its signature does not verify".into(),
        // webpki's words for a self-signed certificate made as a CA (`openssl req -x509`).
        C::Other(o) if format!("{o:?}").contains("CaUsedAsEndEntity") => "it is self-signed (a CA certificate used as the server's own: add it with ca_file, or use one signed by a CA)".into(),
        other => format!("{other:?}"),
    }
}

/// The rustls error somewhere in `e`'s chain, also inside an io::Error.
fn find_rustls<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if let Some(inner) = io.get_ref() {
                if let Some(r) = inner.downcast_ref::<rustls::Error>() {
                    return Some(r);
                }
            }
        }
        cur = err.source();
    }
    None
}

/// The io::Error somewhere in `e`'s chain.
fn find_io<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a std::io::Error> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        cur = err.source();
    }
    None
}

/// A token that could not be had: refused by the token endpoint (a wrong secret, a client
/// without the grant — RFC 6749 §5.2) or a secret that cannot be read counts as a refused
/// login (retried after [`LOGIN_BACKOFF`] or a reload); an endpoint that cannot be reached is
/// only unavailable, retried soon.
impl From<&crate::net::oauth2::TokenError> for Problem {
    fn from(e: &crate::net::oauth2::TokenError) -> Problem {
        use crate::net::oauth2::TokenError;
        match e {
            TokenError::Refused { .. } | TokenError::Config { .. } => Problem::TokenEndpoint {
                error: e.to_string(),
            },
            TokenError::Endpoint { url, message, .. } => Problem::Unavailable {
                by: url.clone(),
                text: message.clone(),
            },
        }
    }
}

impl crate::app::metrics::Trouble for Problem {
    fn kind(&self) -> &'static str {
        Problem::kind(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_refused_credentials_wait_long() {
        let refused = Problem::LoginRefused {
            by: "imap.kommun.se".into(),
            user: "bygg@kommun.se".into(),
        };
        assert!(refused.is_refused_login());
        assert!(Problem::TokenEndpoint {
            error: "invalid_client".into()
        }
        .is_refused_login());
        for p in [
            Problem::Refused {
                host: "h".into(),
                port: 1,
            },
            Problem::Unavailable {
                by: "h".into(),
                text: "x".into(),
            },
            Problem::Closed { host: "h".into() },
        ] {
            assert!(!p.is_refused_login(), "{p}");
        }
        assert!(LOGIN_BACKOFF >= Duration::from_secs(15 * 60));
    }

    #[test]
    fn a_no_to_login_is_a_refused_login_unless_unavailable() {
        use async_imap::error::Error;
        let no = Error::No(
            "code: Some(AuthenticationFailed), info: Some(\"Authentication failed.\")".into(),
        );
        let p = Problem::imap_login(&no, "imap.kommun.se", 993, "bygg@kommun.se");
        assert_eq!(
            p.to_string(),
            "login refused by imap.kommun.se for bygg@kommun.se: wrong password or token (or the account may not log in over IMAP/SMTP)"
        );
        let plain = Error::No("code: None, info: Some(\"LOGIN failed.\")".into());
        assert!(Problem::imap_login(&plain, "h", 993, "u").is_refused_login());
        let down = Error::No(
            "code: Some(Unavailable), info: Some(\"Temporary authentication failure\")".into(),
        );
        let p = Problem::imap_login(&down, "h", 993, "u");
        assert!(!p.is_refused_login());
        assert_eq!(p.kind(), "unavailable");
    }

    #[test]
    fn a_refused_connection_names_host_and_port() {
        let e = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let p = Problem::connect(&e, "imap.kommun.se", 994);
        assert!(p
            .to_string()
            .starts_with("connection refused at imap.kommun.se:994"));
        assert_eq!(p.kind(), "unreachable");
    }

    /// EMFILE once read "problem=unreachable … cannot reach 127.0.0.1:…: Too many open files":
    /// it is kvittens' own limit, not the server, for IMAP and SMTP alike.
    #[test]
    fn no_files_left_is_kvittens_own_limit_not_the_server() {
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
        let words = format!(
            "kvittens has no open files left (its limit is {}): raise LimitNOFILE in the unit, or `ulimit -n`; see README Sizing",
            limit.map_or_else(|| "unknown".to_string(), |n| n.to_string())
        );
        for errno in [24, 23] {
            let io = std::io::Error::from_raw_os_error(errno);
            let p = Problem::connect(&io, "127.0.0.1", 1143);
            assert_eq!(p.kind(), "open_files");
            assert_eq!(p.to_string(), words);
            let imap = async_imap::error::Error::Io(std::io::Error::from_raw_os_error(errno));
            assert_eq!(Problem::imap(&imap, "127.0.0.1", 1143).to_string(), words);
        }
        assert!(crate::app::metrics::PROBLEM_KINDS.contains(&"open_files"));
    }

    #[test]
    fn rustls_errors_in_an_io_error_are_found() {
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
        );
        assert!(matches!(
            Problem::tls(&io, "h", 993),
            Problem::TlsToPlain { .. }
        ));
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        let p = Problem::tls(&io, "imap.kommun.se", 993);
        assert!(
            p.to_string().starts_with(
                "certificate not trusted for imap.kommun.se: it is signed by an unknown authority"
            ),
            "{p}"
        );
    }
}
