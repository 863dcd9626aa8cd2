//! The SMTP adapter: a small pool of submission connections and one transaction in two steps —
//! [`Transport::begin`] (MAIL, RCPT, DATA) and [`Ready::finish`] (the message and its final
//! dot) — so the sender can mark the mail in flight on disk in between (see `store::outbox`).

use crate::config::{Security, Smtp};
use crate::mail::outgoing::Outgoing;
use crate::net::diagnose::Problem;
use crate::net::oauth2::Auth;
use base64::Engine;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters,
};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::extension::{MailBodyParameter, MailParameter};
use lettre::Address;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// SMTP connections, kept open between mails. kvittens opens them itself (rather than through
/// lettre's transport) to set TCP_NODELAY: lettre writes a message and its final dot in two
/// writes, and with Nagle's algorithm against the server's delayed ACK every mail would wait
/// 40 ms — a tenth of the throughput.
pub struct Transport {
    smtp: Smtp,
    hello: ClientId,
    /// Idle connections, with until when each may be used (see `oauth2::Token::use_until`).
    idle: std::sync::Mutex<Vec<(AsyncSmtpConnection, Option<Instant>)>>,
}

/// Why a mail was not handed over: nothing went, the mail stays queued.
#[derive(Debug)]
pub struct NotSent {
    /// The server refused it for good (5xx), e.g. an unknown recipient.
    pub permanent: bool,
    /// What happened.
    pub text: String,
    /// What kept kvittens from the server (connect, TLS, login), classified; `None` for a
    /// refusal of the mail itself.
    pub problem: Option<Problem>,
}

impl From<Problem> for NotSent {
    /// A problem with the server, not the mail: never permanent for the mail, which stays
    /// queued (a wrong password's 535 must not mark every receipt undeliverable).
    fn from(p: Problem) -> Self {
        NotSent {
            permanent: false,
            text: p.to_string(),
            problem: Some(p),
        }
    }
}

/// What became of a mail whose final dot was written.
#[derive(Debug)]
pub enum Handed {
    /// The server took it.
    Accepted,
    /// The server answered with an error; `permanent` for a 5xx.
    Refused {
        /// 5xx rather than 4xx.
        permanent: bool,
        /// The server's words.
        text: String,
    },
    /// The connection failed before the answer: the server may or may not have the mail.
    Unknown(String),
}

/// SMTP submission as the sender uses it, in two steps so that the mail can be marked in
/// flight on disk between them: [`Submission::begin`] (MAIL, RCPT, DATA up to the server's
/// 354, RFC 5321 §3.3) and [`Transaction::finish`] (the message and its final dot). [`Transport`]
/// is the real one over lettre; `net::fake` keeps what it is given in memory.
pub trait Submission: Send + Sync + 'static {
    /// A transaction the server is ready to take the message of.
    type Transaction<'a>: Transaction + 'a
    where
        Self: 'a;
    /// Opens the transaction for `mail`, with the department mailbox as a second recipient
    /// when `mail.copy`.
    fn begin(
        &self,
        mail: &Outgoing,
    ) -> impl Future<Output = Result<Self::Transaction<'_>, NotSent>> + Send;
    /// Tries the server as a mail would (connect, TLS, EHLO, AUTH), sending nothing.
    fn probe(&self) -> impl Future<Output = Result<(), Problem>> + Send;
    /// Whether a login is configured (`[smtp] user`).
    fn logs_in(&self) -> bool;
    /// The problem of a check that took longer than it may.
    fn timeout_problem(&self) -> Problem;
}

/// An open SMTP transaction after DATA. Dropping it without [`Transaction::finish`] drops the
/// connection before the final dot: the server discards the mail (RFC 5321 §4.1.1.4).
pub trait Transaction: Send {
    /// Whether the copy to the department mailbox is part of the transaction (the mailbox
    /// may have refused it).
    fn copied(&self) -> bool;
    /// Writes the message and its final dot and reads the server's answer.
    fn finish(self, bytes: &[u8]) -> impl Future<Output = Handed> + Send;
}

impl Submission for Transport {
    type Transaction<'a> = Ready<'a>;
    fn begin(&self, mail: &Outgoing) -> impl Future<Output = Result<Ready<'_>, NotSent>> + Send {
        Transport::begin(self, mail)
    }
    fn probe(&self) -> impl Future<Output = Result<(), Problem>> + Send {
        Transport::probe(self)
    }
    fn logs_in(&self) -> bool {
        Transport::logs_in(self)
    }
    fn timeout_problem(&self) -> Problem {
        Transport::timeout_problem(self)
    }
}

impl Transaction for Ready<'_> {
    fn copied(&self) -> bool {
        self.copied
    }
    fn finish(self, bytes: &[u8]) -> impl Future<Output = Handed> + Send {
        Ready::finish(self, bytes)
    }
}

/// A TLS stream lettre can run SMTP over (implicit TLS, port 465).
#[derive(Debug)]
struct TlsStream(tokio_rustls::client::TlsStream<TcpStream>);

impl AsyncRead for TlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for TlsStream {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

/// Builds the transport from the config; certificates are verified unless security is "none".
pub fn transport(smtp: &Smtp, hello: &str) -> Result<Transport, String> {
    if let Some(file) = &smtp.server.ca_file {
        crate::net::tls::ca_certificates(Some(file.as_path()))
            .map_err(|e| format!("smtp.ca_file: {e}"))?;
    }
    Ok(Transport {
        smtp: smtp.clone(),
        hello: ClientId::Domain(hello.to_string()),
        idle: std::sync::Mutex::new(Vec::new()),
    })
}

fn smtp_error(e: lettre::transport::smtp::Error) -> NotSent {
    NotSent {
        permanent: e.is_permanent(),
        text: e.to_string(),
        problem: None,
    }
}

/// Whether the server answered (4xx/5xx), rather than the connection failing.
fn replied(e: &lettre::transport::smtp::Error) -> bool {
    e.is_permanent() || e.is_transient()
}

/// A transaction the server is ready to take the message of (it answered DATA with 354).
/// Dropping it without [`Ready::finish`] drops the connection: the server discards the
/// unfinished mail.
pub struct Ready<'a> {
    transport: &'a Transport,
    conn: AsyncSmtpConnection,
    until: Option<Instant>,
    /// Whether the copy to the department mailbox is part of the transaction.
    pub copied: bool,
}

impl Ready<'_> {
    /// Writes the message and its final dot and reads the server's answer; the connection goes
    /// back to the pool when it is still good.
    pub async fn finish(mut self, bytes: &[u8]) -> Handed {
        match self.conn.message(bytes).await {
            Ok(_) => {
                self.transport.put_idle(self.conn, self.until);
                Handed::Accepted
            }
            Err(e) if replied(&e) => {
                let permanent = e.is_permanent();
                self.transport.put_idle(self.conn, self.until);
                Handed::Refused {
                    permanent,
                    text: e.to_string(),
                }
            }
            Err(e) => Handed::Unknown(e.to_string()),
        }
    }
}

impl Transport {
    /// Connects, says EHLO, starts TLS as configured and logs in; for OAuth2 also returns until
    /// when the connection may be used: a connection authenticated with a token is not reused
    /// after the token's time. Every failure here is the server's, classified, and leaves the
    /// mail queued; the library's words go to the debug log.
    async fn connect(&self) -> Result<(AsyncSmtpConnection, Option<Instant>), NotSent> {
        let server = &self.smtp.server;
        let (host, port) = (server.host.as_str(), server.port);
        let user = self.smtp.login.as_ref().map(|(u, _)| u.as_str());
        let classify = |e: lettre::transport::smtp::Error| {
            tracing::debug!(%host, port, error = %e, "SMTP connection failed");
            NotSent::from(Problem::smtp(&e, host, port, user))
        };
        let tcp = crate::net::tls::tcp(host, port).await?;
        tcp.set_nodelay(true)
            .map_err(|e| Problem::connect(&e, host, port))?;
        let mut conn = match server.security {
            Security::Tls => {
                let tls = crate::net::tls::connect(tcp, host, server.ca_file.as_deref())
                    .await
                    .map_err(|e| {
                        tracing::debug!(%host, port, error = %e, "SMTP TLS failed");
                        Problem::tls(&e, host, port)
                    })?;
                AsyncSmtpConnection::connect_with_transport(Box::new(TlsStream(tls)), &self.hello)
                    .await
                    .map_err(classify)?
            }
            Security::None | Security::StartTls => {
                AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello)
                    .await
                    .map_err(classify)?
            }
        };
        if server.security == Security::StartTls {
            let mut params = TlsParameters::builder(server.host.clone());
            // The CA file as read at start (or reload), not again for each connection.
            let extra = crate::net::tls::ca_certificates(server.ca_file.as_deref())
                .map_err(|e| Problem::Other(format!("smtp.ca_file: {e}")))?;
            for cert in extra {
                params = params
                    .add_root_certificate(Certificate::from_der(cert.to_vec()).map_err(classify)?);
            }
            conn.starttls(params.build_rustls().map_err(classify)?, &self.hello)
                .await
                .map_err(classify)?;
        }
        let mut until = None;
        match (&self.smtp.login, &self.smtp.auth) {
            (Some((user, _)), Auth::OAuth2(client)) => {
                // Each new connection takes the current token: the cache hands out a fresh one
                // well before the old one runs out.
                let token = crate::net::oauth2::tokens()
                    .get(client, user)
                    .await
                    .map_err(|e| NotSent::from(Problem::from(&e)))?;
                xoauth2(&mut conn, host, user, &token.access)
                    .await
                    .inspect_err(|_| {
                        crate::net::oauth2::tokens().forget(client, user);
                    })?;
                until = Some(token.use_until());
            }
            (Some((user, password)), Auth::Password) => {
                // Read at each new connection, not at start: see `Secret`.
                let password = password
                    .read()
                    .map_err(|e| NotSent::from(Problem::Other(e.to_string())))?;
                let credentials = Credentials::new(user.clone(), password);
                conn.auth(&[Mechanism::Plain, Mechanism::Login], &credentials)
                    .await
                    .map_err(classify)?;
            }
            (None, _) => {}
        }
        Ok((conn, until))
    }

    /// Whether a login is configured (`[smtp] user`).
    pub fn logs_in(&self) -> bool {
        self.smtp.login.is_some()
    }

    /// The problem of a check that took longer than it may.
    pub fn timeout_problem(&self) -> Problem {
        Problem::Timeout {
            host: self.smtp.server.host.clone(),
            port: self.smtp.server.port,
        }
    }

    /// Tries the server as a mail would: connect, TLS/STARTTLS, EHLO, AUTH — no mail is sent.
    /// The connection is kept for the first mail.
    pub async fn probe(&self) -> Result<(), Problem> {
        let (conn, until) = self
            .connect()
            .await
            .map_err(|e| e.problem.unwrap_or(Problem::Other(e.text)))?;
        self.put_idle(conn, until);
        Ok(())
    }

    fn take_idle(&self) -> Option<(AsyncSmtpConnection, Option<Instant>)> {
        let mut v = self.idle.lock().ok()?;
        // Connections whose token ran out are dropped (the server would end them anyway).
        v.retain(|(_, until)| until.is_none_or(|u| Instant::now() < u));
        v.pop()
    }

    fn put_idle(&self, conn: AsyncSmtpConnection, until: Option<Instant>) {
        if !conn.has_broken() {
            if let Ok(mut v) = self.idle.lock() {
                v.push((conn, until));
            }
        }
    }

    /// Opens the transaction for `mail` up to the message itself, on an idle connection when
    /// there is one (a connection the server closed meanwhile is replaced by a fresh one).
    /// With `mail.copy`, the department mailbox is a second recipient of the same transaction.
    pub async fn begin(&self, mail: &Outgoing) -> Result<Ready<'_>, NotSent> {
        let refuse = |text: String| NotSent {
            permanent: true,
            text,
            problem: None,
        };
        let from: Address = mail
            .envelope_from
            .parse()
            .map_err(|e| refuse(format!("envelope sender: {e}")))?;
        let to = mail
            .to
            .iter()
            .map(|a| a.parse())
            .collect::<Result<Vec<Address>, _>>()
            .map_err(|e| refuse(format!("recipient: {e}")))?;
        if to.is_empty() {
            return Err(refuse("no recipient".into()));
        }
        let parts = Parts {
            copy: mail.copy.then(|| from.clone()),
            from,
            to,
            eight_bit: !mail.bytes.is_ascii(),
        };
        if let Some((mut conn, until)) = self.take_idle() {
            match open(&mut conn, &parts).await {
                Ok(copied) => {
                    return Ok(Ready {
                        transport: self,
                        conn,
                        until,
                        copied,
                    })
                }
                // Closed while idle: try a new connection.
                Err(e) if !replied(&e) => {}
                Err(e) => {
                    self.put_idle(conn, until);
                    return Err(smtp_error(e));
                }
            }
        }
        let (mut conn, until) = self.connect().await?;
        match open(&mut conn, &parts).await {
            Ok(copied) => Ok(Ready {
                transport: self,
                conn,
                until,
                copied,
            }),
            Err(e) => {
                if replied(&e) {
                    self.put_idle(conn, until);
                }
                Err(smtp_error(e))
            }
        }
    }
}

/// A line sent as it is (lettre's commands add their own CRLF; this one carries it).
struct Line(String);

impl std::fmt::Display for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `AUTH XOAUTH2` with the token. lettre's own XOAUTH2 gives up on the server's failure
/// challenge without answering it; here the challenge (JSON: status, scope) is answered with an
/// empty line, as the mechanism asks, and its status and scope go into the error — never the
/// token. A refusal is not transient: the mail waits, but the words say why.
async fn xoauth2(
    conn: &mut AsyncSmtpConnection,
    host: &str,
    user: &str,
    token: &str,
) -> Result<(), NotSent> {
    if !conn
        .server_info()
        .supports_auth_mechanism(Mechanism::Xoauth2)
    {
        // Exchange Online offers AUTH only where SMTP AUTH is enabled for the mailbox.
        return Err(Problem::NoLoginMechanism { host: host.into() }.into());
    }
    let initial =
        base64::engine::general_purpose::STANDARD.encode(crate::net::oauth2::xoauth2(user, token));
    let refused = |why: String, detail: String| {
        // The server's status and scope help an admin; the token never reaches them.
        NotSent::from(Problem::TokenRefused {
            by: host.into(),
            user: user.into(),
            why: format!("{why}; {}", detail.trim()),
        })
    };
    let response = conn
        .command(Line(format!("AUTH XOAUTH2 {initial}\r\n")))
        .await
        .map_err(|e| refused("the server refused the token".into(), e.to_string()))?;
    if response.has_code(334) {
        let challenge = response
            .message()
            .next()
            .and_then(|m| {
                base64::engine::general_purpose::STANDARD
                    .decode(m.trim())
                    .ok()
            })
            .unwrap_or_default();
        let why = crate::net::oauth2::describe_challenge(&challenge);
        // RFC 7628 §3.2.3: the client answers the failure challenge with an empty response.
        return Err(match conn.command(Line("\r\n".into())).await {
            Err(e) => refused(why, e.to_string()),
            Ok(r) => refused(why, r.first_line().unwrap_or_default().to_string()),
        });
    }
    Ok(())
}

/// The envelope of one transaction.
struct Parts {
    from: Address,
    to: Vec<Address>,
    copy: Option<Address>,
    eight_bit: bool,
}

/// MAIL, RCPT for each recipient, RCPT for the copy, DATA; returns whether the copy's recipient
/// was taken. A copy the server refuses does not hold the mail back (the resident matters more
/// than the department's record): it goes without one. A refusal of the mail leaves the
/// connection ready for the next one (RSET).
async fn open(
    conn: &mut AsyncSmtpConnection,
    parts: &Parts,
) -> Result<bool, lettre::transport::smtp::Error> {
    let mut options = Vec::new();
    if parts.eight_bit {
        options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    let result = async {
        conn.command(Mail::new(Some(parts.from.clone()), options))
            .await?;
        for to in &parts.to {
            conn.command(Rcpt::new(to.clone(), vec![])).await?;
        }
        let mut copied = false;
        if let Some(copy) = &parts.copy {
            match conn.command(Rcpt::new(copy.clone(), vec![])).await {
                Ok(_) => copied = true,
                Err(e) if replied(&e) => {
                    tracing::warn!(mailbox = %copy, error = %e, "the department mailbox refused the copy of a mail to a resident; it goes without one");
                }
                Err(e) => return Err(e),
            }
        }
        conn.command(Data).await?;
        Ok(copied)
    }
    .await;
    if let Err(e) = &result {
        if replied(e) {
            let _ = conn.command(lettre::transport::smtp::commands::Rset).await;
        }
    }
    result
}
