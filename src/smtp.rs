//! The SMTP adapter: a small pool of submission connections and one transaction in two steps —
//! [`Transport::begin`] (MAIL, RCPT, DATA) and [`Ready::finish`] (the message and its final
//! dot) — so the sender can mark the mail in flight on disk in between (see `store::outbox`).

use crate::compose::Outgoing;
use crate::config::{Security, Smtp};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters,
};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::extension::{MailBodyParameter, MailParameter};
use lettre::Address;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// SMTP connections, kept open between mails. kvittens opens them itself (rather than through
/// lettre's transport) to set TCP_NODELAY: lettre writes a message and its final dot in two
/// writes, and with Nagle's algorithm against the server's delayed ACK every mail would wait
/// 40 ms — a tenth of the throughput.
pub struct Transport {
    smtp: Smtp,
    hello: ClientId,
    idle: std::sync::Mutex<Vec<AsyncSmtpConnection>>,
}

/// Why a mail was not handed over: nothing went, the mail stays queued.
#[derive(Debug)]
pub struct NotSent {
    /// The server refused it for good (5xx), e.g. an unknown recipient.
    pub permanent: bool,
    /// What happened.
    pub text: String,
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
        std::fs::read(file).map_err(|e| format!("smtp.ca_file {}: {e}", file.display()))?;
    }
    Ok(Transport {
        smtp: smtp.clone(),
        hello: ClientId::Domain(hello.to_string()),
        idle: std::sync::Mutex::new(Vec::new()),
    })
}

fn transient(e: impl std::fmt::Display) -> NotSent {
    NotSent {
        permanent: false,
        text: e.to_string(),
    }
}

fn smtp_error(e: lettre::transport::smtp::Error) -> NotSent {
    NotSent {
        permanent: e.is_permanent(),
        text: e.to_string(),
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
    /// Whether the copy to the department mailbox is part of the transaction.
    pub copied: bool,
}

impl Ready<'_> {
    /// Writes the message and its final dot and reads the server's answer; the connection goes
    /// back to the pool when it is still good.
    pub async fn finish(mut self, bytes: &[u8]) -> Handed {
        match self.conn.message(bytes).await {
            Ok(_) => {
                self.transport.put_idle(self.conn);
                Handed::Accepted
            }
            Err(e) if replied(&e) => {
                let permanent = e.is_permanent();
                self.transport.put_idle(self.conn);
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
    async fn connect(&self) -> Result<AsyncSmtpConnection, NotSent> {
        let server = &self.smtp.server;
        let tcp = tokio::time::timeout(
            Duration::from_secs(30),
            TcpStream::connect((server.host.as_str(), server.port)),
        )
        .await
        .map_err(|_| {
            transient(format!(
                "connecting to {}:{} timed out",
                server.host, server.port
            ))
        })?
        .map_err(|e| {
            transient(format!(
                "cannot connect to {}:{}: {e}",
                server.host, server.port
            ))
        })?;
        tcp.set_nodelay(true).map_err(transient)?;
        let mut conn = match server.security {
            Security::Tls => {
                let tls = crate::tls::connect(tcp, &server.host, server.ca_file.as_deref())
                    .await
                    .map_err(transient)?;
                AsyncSmtpConnection::connect_with_transport(Box::new(TlsStream(tls)), &self.hello)
                    .await
                    .map_err(smtp_error)?
            }
            Security::None | Security::StartTls => {
                AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello)
                    .await
                    .map_err(smtp_error)?
            }
        };
        if server.security == Security::StartTls {
            let mut params = TlsParameters::builder(server.host.clone());
            if let Some(file) = &server.ca_file {
                let pem = std::fs::read(file)
                    .map_err(|e| transient(format!("{}: {e}", file.display())))?;
                params =
                    params.add_root_certificate(Certificate::from_pem(&pem).map_err(smtp_error)?);
            }
            conn.starttls(params.build_rustls().map_err(smtp_error)?, &self.hello)
                .await
                .map_err(smtp_error)?;
        }
        if let Some((user, password)) = &self.smtp.login {
            let password = password.read().map_err(transient)?;
            let credentials = Credentials::new(user.clone(), password);
            conn.auth(&[Mechanism::Plain, Mechanism::Login], &credentials)
                .await
                .map_err(smtp_error)?;
        }
        Ok(conn)
    }

    fn take_idle(&self) -> Option<AsyncSmtpConnection> {
        self.idle.lock().ok().and_then(|mut v| v.pop())
    }

    fn put_idle(&self, conn: AsyncSmtpConnection) {
        if !conn.has_broken() {
            if let Ok(mut v) = self.idle.lock() {
                v.push(conn);
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
        if let Some(mut conn) = self.take_idle() {
            match open(&mut conn, &parts).await {
                Ok(copied) => {
                    return Ok(Ready {
                        transport: self,
                        conn,
                        copied,
                    })
                }
                // Closed while idle: try a new connection.
                Err(e) if !replied(&e) => {}
                Err(e) => {
                    self.put_idle(conn);
                    return Err(smtp_error(e));
                }
            }
        }
        let mut conn = self.connect().await?;
        match open(&mut conn, &parts).await {
            Ok(copied) => Ok(Ready {
                transport: self,
                conn,
                copied,
            }),
            Err(e) => {
                if replied(&e) {
                    self.put_idle(conn);
                }
                Err(smtp_error(e))
            }
        }
    }
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
