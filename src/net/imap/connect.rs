//! The IMAP session: connecting (TCP, TLS, STARTTLS), logging in (LOGIN, AUTHENTICATE
//! XOAUTH2), EXAMINE and finding the Sent folder. Every failure is classified ([`Problem`]);
//! the library's own words go to the debug log.

use super::WatchError;
use crate::config::{Department, Secret, Security, Server};
use crate::net::diagnose::Problem;
use crate::net::oauth2::Auth;
use futures::TryStreamExt;
use std::fmt::Debug;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};

/// Anything an IMAP session can run over: plain TCP or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Debug> Io for T {}

/// A logged-in IMAP session.
pub type Session = async_imap::Session<Box<dyn Io>>;

/// How long connecting, TLS, the server's greeting and the login may take together before
/// the attempt counts as failed and is retried with backoff. A server can accept the TCP
/// connection and never greet — a listen queue that overflowed while SYN cookies were on
/// (the kernel answers for the server, which never sees the connection), a hung process —
/// and without a bound that one session waits for ever and its mailbox is never watched.
pub const LOGIN_WITHIN: std::time::Duration = std::time::Duration::from_secs(20);

/// `attempt`, given up after [`LOGIN_WITHIN`] as [`Problem::Timeout`] at `server`.
async fn in_time<T>(
    server: &Server,
    attempt: impl std::future::Future<Output = Result<T, WatchError>>,
) -> Result<T, WatchError> {
    match tokio::time::timeout(LOGIN_WITHIN, attempt).await {
        Ok(result) => result,
        Err(_) => {
            tracing::debug!(host = %server.host, port = server.port, "no greeting or login answer in time");
            Err(WatchError::Problem(Problem::Timeout {
                host: server.host.clone(),
                port: server.port,
            }))
        }
    }
}

/// Connects and logs in. Plain connections are for configured test setups only. Errors are
/// classified ([`Problem`]); the library's own words go to the debug log.
///
/// # Errors
/// [`WatchError::Problem`]: the password cannot be read, or connecting, TLS, the greeting or
/// the login failed.
pub async fn connect(
    server: &Server,
    login: &str,
    password: &Secret,
) -> Result<Session, WatchError> {
    let (host, port) = (server.host.as_str(), server.port);
    // Read at each login, not at start: see `Secret`.
    let password = password
        .read()
        .map_err(|e| WatchError::Problem(Problem::Other(e.to_string())))?;
    in_time(server, async {
        open(server)
            .await?
            .login(login, &password)
            .await
            .map_err(|(e, _)| {
                tracing::debug!(%host, port, user = %login, error = %e, "IMAP login failed");
                WatchError::Problem(Problem::imap_login(&e, host, port, login))
            })
    })
    .await
}

/// Connects and logs in as `dept` says (`auth`): with its password, or with an OAuth2 token.
/// Returns the session and, for a token, until when the session may be kept (see
/// [`Token::use_until`](crate::net::oauth2::Token::use_until)): an authenticated session cannot authenticate again, so it is replaced
/// by a fresh login before its token runs out.
///
/// # Errors
/// As [`connect`] and [`connect_oauth2`]; for OAuth2 also the token endpoint's refusal.
pub async fn connect_dept(
    dept: &Department,
) -> Result<(Session, Option<std::time::Instant>), WatchError> {
    match &dept.auth {
        Auth::Password => Ok((
            connect(&dept.imap, &dept.login, &dept.password).await?,
            None,
        )),
        Auth::OAuth2(client) => {
            let token = crate::net::oauth2::tokens()
                .get(client, &dept.login)
                .await
                .map_err(|e| WatchError::Problem(Problem::from(&e)))?;
            let session = connect_oauth2(&dept.imap, &dept.login, &token.access)
                .await
                .inspect_err(|_| crate::net::oauth2::tokens().forget(client, &dept.login))?;
            Ok((session, Some(token.use_until())))
        }
    }
}

/// Connects and logs in with `AUTHENTICATE XOAUTH2`. A refusal names the server's status and
/// scope (from its JSON challenge), never the token.
///
/// # Errors
/// [`WatchError::Problem`]: connecting or TLS failed, or [`Problem::TokenRefused`].
pub async fn connect_oauth2(
    server: &Server,
    user: &str,
    token: &str,
) -> Result<Session, WatchError> {
    in_time(server, authenticate(server, user, token)).await
}

/// [`connect_oauth2`] without its time bound.
async fn authenticate(server: &Server, user: &str, token: &str) -> Result<Session, WatchError> {
    let client = open(server).await?;
    let refusal = Arc::new(std::sync::Mutex::new(None));
    let sasl = XOAuth2 {
        initial: Some(crate::net::oauth2::xoauth2(user, token)),
        refusal: refusal.clone(),
    };
    let (host, port) = (server.host.as_str(), server.port);
    client
        .authenticate("XOAUTH2", sasl)
        .await
        .map_err(|(e, _)| {
            let why = refusal
                .lock()
                .ok()
                .and_then(|mut r| r.take())
                .unwrap_or_else(|| "the server refused the token".to_string());
            tracing::debug!(%host, port, error = %e, "IMAP AUTHENTICATE XOAUTH2 failed");
            match Problem::imap_login(&e, host, port, user) {
                // The server's status and scope help an admin; the token never reaches them.
                Problem::LoginRefused { by, user } => WatchError::Problem(Problem::TokenRefused {
                    by,
                    user,
                    why: format!("{why}; {}", e.to_string().trim()),
                }),
                other => WatchError::Problem(other),
            }
        })
}

/// The client side of SASL XOAUTH2: the initial response, then, when the server refuses, an
/// empty response to its JSON challenge (which is kept for the error message).
struct XOAuth2 {
    initial: Option<String>,
    refusal: Arc<std::sync::Mutex<Option<String>>>,
}

impl async_imap::Authenticator for XOAuth2 {
    type Response = String;
    fn process(&mut self, challenge: &[u8]) -> String {
        match self.initial.take() {
            Some(first) => first,
            None => {
                if let Ok(mut r) = self.refusal.lock() {
                    *r = Some(crate::net::oauth2::describe_challenge(challenge));
                }
                String::new()
            }
        }
    }
}

/// Opens the connection (TCP, TLS or STARTTLS) and reads the greeting.
async fn open(server: &Server) -> Result<async_imap::Client<Box<dyn Io>>, WatchError> {
    let (host, port) = (server.host.as_str(), server.port);
    let tcp = crate::net::tls::tcp(host, port).await?;
    let tls = |e: std::io::Error| {
        tracing::debug!(%host, port, error = %e, "IMAP TLS failed");
        Problem::tls(&e, host, port)
    };
    let stream: Box<dyn Io> = match server.security {
        Security::None => Box::new(tcp),
        Security::Tls => Box::new(
            crate::net::tls::connect(tcp, host, server.ca_file.as_deref())
                .await
                .map_err(tls)?,
        ),
        Security::StartTls => {
            let mut client = async_imap::Client::new(tcp);
            greeting(&mut client, host, port).await?;
            client
                .run_command_and_check_ok("STARTTLS", None)
                .await
                .map_err(|e| match e {
                    async_imap::error::Error::No(_) | async_imap::error::Error::Bad(_) => {
                        tracing::debug!(%host, port, error = %e, "STARTTLS refused");
                        Problem::NoStartTls {
                            host: host.into(),
                            port,
                        }
                    }
                    other => Problem::imap(&other, host, port),
                })?;
            let tcp = client.into_inner();
            Box::new(
                crate::net::tls::connect(tcp, host, server.ca_file.as_deref())
                    .await
                    .map_err(tls)?,
            )
        }
    };
    let mut client = async_imap::Client::new(stream);
    if server.security != Security::StartTls {
        greeting(&mut client, host, port).await?;
    }
    Ok(client)
}

pub(super) async fn greeting<T: AsyncRead + AsyncWrite + Unpin + Send + Debug>(
    client: &mut async_imap::Client<T>,
    host: &str,
    port: u16,
) -> Result<(), WatchError> {
    match client.read_response().await {
        Some(Ok(_)) => Ok(()),
        Some(Err(e)) => {
            tracing::debug!(%host, port, error = %e, "no IMAP greeting");
            Err(Problem::imap(&async_imap::error::Error::Io(e), host, port).into())
        }
        None => Err(Problem::Closed { host: host.into() }.into()),
    }
}

/// EXAMINEs `folder` (read-only, RFC 3501 §6.3.2); a NO is a missing folder.
///
/// # Errors
/// [`Problem::FolderMissing`] for a NO (other than `[UNAVAILABLE]`), else the session's error.
pub async fn examine(
    s: &mut Session,
    folder: &str,
) -> Result<async_imap::types::Mailbox, WatchError> {
    s.examine(folder).await.map_err(|e| match e {
        async_imap::error::Error::No(text) if !text.contains("Unavailable") => {
            tracing::debug!(%folder, error = %text, "EXAMINE refused");
            WatchError::Problem(Problem::FolderMissing {
                name: folder.to_string(),
            })
        }
        other => other.into(),
    })
}

/// The department's Sent folder: the configured one, else the one marked `\Sent`
/// (RFC 6154 SPECIAL-USE), else a folder called "Sent".
///
/// # Errors
/// The session's error, when LIST fails.
pub async fn sent_folder(s: &mut Session, dept: &Department) -> Result<Option<String>, WatchError> {
    if let Some(f) = &dept.sent_folder {
        return Ok(Some(f.clone()));
    }
    special_sent(s).await
}

/// The folder marked `\Sent` (RFC 6154 SPECIAL-USE), else a folder called "Sent".
pub(super) async fn special_sent(s: &mut Session) -> Result<Option<String>, WatchError> {
    let names: Vec<_> = s.list(None, Some("*")).await?.try_collect().await?;
    let special = names.iter().find(|n| {
        n.attributes()
            .iter()
            .any(|a| matches!(a, async_imap::types::NameAttribute::Sent))
    });
    let plain = names.iter().find(|n| n.name().eq_ignore_ascii_case("sent"));
    Ok(special.or(plain).map(|n| n.name().to_string()))
}

#[cfg(test)]
mod oauth2_tests {
    use super::super::watcher::relogin;
    use super::*;
    use base64::Engine;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    /// An IMAP server that plays `script`: for each step, the line it reads (expected to begin
    /// with the given prefix) and what it answers.
    async fn scripted(
        script: Vec<(&'static str, String)>,
    ) -> (Server, tokio::task::JoinHandle<Vec<String>>) {
        let (listener, server) = listening().await;
        let task = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let (r, mut w) = tokio::io::split(s);
            let mut r = BufReader::new(r);
            let mut seen = Vec::new();
            w.write_all(b"* OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2] ready\r\n")
                .await
                .unwrap();
            for (expect, answer) in script {
                let mut line = String::new();
                r.read_line(&mut line).await.unwrap();
                assert!(
                    line.starts_with(expect),
                    "expected {expect:?}, got {line:?}"
                );
                seen.push(line.trim_end().to_string());
                w.write_all(answer.as_bytes()).await.unwrap();
            }
            seen
        });
        (server, task)
    }

    /// A listener on a free local port, and the plain-text server config that names it.
    async fn listening() -> (tokio::net::TcpListener, Server) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = Server {
            host: "127.0.0.1".into(),
            port: listener.local_addr().unwrap().port(),
            security: Security::None,
            ca_file: None,
        };
        (listener, server)
    }

    /// A server that accepts the connection and never says a word.
    async fn silent() -> (Server, tokio::task::JoinHandle<()>) {
        let (listener, server) = listening().await;
        let task = tokio::spawn(async move {
            let (_s, _) = listener.accept().await.unwrap();
            std::future::pending::<()>().await;
        });
        (server, task)
    }

    #[tokio::test(start_paused = true)]
    async fn a_server_that_never_greets_is_given_up_in_time_for_either_login() {
        for oauth in [false, true] {
            let (server, task) = silent().await;
            let started = tokio::time::Instant::now();
            let result = if oauth {
                connect_oauth2(&server, "u@kommun.test", "token")
                    .await
                    .map(|_| ())
            } else {
                connect(&server, "u@kommun.test", &Secret::from("pw"))
                    .await
                    .map(|_| ())
            };
            match result {
                Err(WatchError::Problem(Problem::Timeout { port, .. })) => {
                    assert_eq!(port, server.port)
                }
                other => panic!("expected a timeout, got {other:?}"),
            }
            assert_eq!(started.elapsed().as_secs(), LOGIN_WITHIN.as_secs());
            task.abort();
        }
    }

    #[tokio::test]
    async fn xoauth2_sends_the_bearer_token_and_a_bye_asks_for_a_new_login() {
        let (server, task) = scripted(vec![
            ("A0001 AUTHENTICATE XOAUTH2", "+ \r\n".into()),
            ("", "A0001 OK [CAPABILITY IMAP4rev1 IDLE] done\r\n".into()),
            (
                "A0002 NOOP",
                "* BYE Session invalidated - AccessTokenExpired\r\n".into(),
            ),
        ])
        .await;
        let mut s = connect_oauth2(&server, "bygg@kommun.se", "tok-123")
            .await
            .unwrap();
        // The BYE may end the command or the next one: either way the session is over.
        let _ = s.noop().await;
        let seen = task.await.unwrap();
        let sasl = base64::engine::general_purpose::STANDARD
            .decode(&seen[1])
            .unwrap();
        assert_eq!(sasl, b"user=bygg@kommun.se\x01auth=Bearer tok-123\x01\x01");
        // The BYE's words as the library carries them: recognised once, as a variant.
        let bye = || {
            Err(WatchError::from(async_imap::error::Error::Bad(
                "* BYE Session invalidated - AccessTokenExpired".into(),
            )))
        };
        assert!(matches!(bye(), Err(WatchError::TokenExpired(_))));
        let lost = || Err(WatchError::from(async_imap::error::Error::ConnectionLost));
        let mut n = 0;
        assert!(
            relogin(&bye(), false, &mut n),
            "AccessTokenExpired: log in again"
        );
        assert!(
            relogin(&lost(), true, &mut n),
            "lost after the token ran out"
        );
        assert!(
            !relogin(&bye(), false, &mut n),
            "the third in a row backs off"
        );
        assert!(
            relogin(&Err(WatchError::Relogin), false, &mut n),
            "a planned renewal"
        );
        assert!(relogin(&bye(), false, &mut n), "counted anew");
        assert!(
            !relogin(&lost(), false, &mut n),
            "lost with a fresh token: a fault"
        );
        assert!(!relogin(&Ok(()), false, &mut n));
    }

    #[tokio::test]
    async fn a_refused_token_names_status_and_scope_and_not_the_token() {
        let challenge = base64::engine::general_purpose::STANDARD
            .encode(br#"{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}"#);
        let (server, task) = scripted(vec![
            ("A0001 AUTHENTICATE XOAUTH2", "+ \r\n".into()),
            ("dXNlcj1", format!("+ {challenge}\r\n")),
            (
                "",
                "A0001 NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)\r\n".into(),
            ),
        ])
        .await;
        let e = connect_oauth2(&server, "bygg@kommun.se", "tok-secret")
            .await
            .unwrap_err()
            .to_string();
        let seen = task.await.unwrap();
        assert_eq!(
            seen.last().map(String::as_str),
            Some(""),
            "an empty response to the challenge"
        );
        assert!(
            e.contains("status 401, scope https://mail.google.com/"),
            "{e}"
        );
        assert!(
            e.contains("AUTHENTICATIONFAILED") || e.contains("Invalid credentials"),
            "{e}"
        );
        assert!(e.contains("bygg@kommun.se"), "{e}");
        assert!(!e.contains("tok-secret"), "{e}");
    }
}
