//! The sending adapter: empties the store's outbox over SMTP. A mail leaves the outbox only
//! after the server accepted it (or refused it for good), so nothing is lost when the server is
//! down and nothing is sent twice when it is up.

use crate::compose::Outgoing;
use crate::config::{Security, Smtp};
use crate::metrics::{MailKind, Metrics};
use crate::store::Store;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters,
};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::extension::{MailBodyParameter, MailParameter};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};

/// SMTP connections, kept open between mails. kvittens opens them itself (rather than through
/// lettre's transport) to set TCP_NODELAY: lettre writes a message and its final dot in two
/// writes, and with Nagle's algorithm against the server's delayed ACK every mail would wait
/// 40 ms — a tenth of the throughput.
pub struct Transport {
    smtp: Smtp,
    hello: ClientId,
    idle: std::sync::Mutex<Vec<Conn>>,
}

/// A pooled connection, with a second handle on its socket: when the store cannot record a
/// mail as sent, the socket is shut down before the final dot, so the server drops the mail and
/// it is neither lost nor sent twice.
struct Conn {
    smtp: AsyncSmtpConnection,
    socket: std::net::TcpStream,
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

/// Why a mail did not go: `permanent` when the server refused it for good.
type SendError = (bool, String);

fn transient(e: impl std::fmt::Display) -> SendError {
    (false, e.to_string())
}

fn smtp_error(e: lettre::transport::smtp::Error) -> SendError {
    (e.is_permanent(), e.to_string())
}

impl Transport {
    async fn connect(&self) -> Result<Conn, SendError> {
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
        let socket = tcp.into_std().map_err(transient)?;
        let handle = socket.try_clone().map_err(transient)?;
        let tcp = TcpStream::from_std(socket).map_err(transient)?;
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
            let credentials = Credentials::new(user.clone(), password.expose().to_string());
            conn.auth(&[Mechanism::Plain, Mechanism::Login], &credentials)
                .await
                .map_err(smtp_error)?;
        }
        Ok(Conn {
            smtp: conn,
            socket: handle,
        })
    }

    fn take_idle(&self) -> Option<Conn> {
        self.idle.lock().ok().and_then(|mut v| v.pop())
    }

    fn put_idle(&self, conn: Conn) {
        if !conn.smtp.has_broken() {
            if let Ok(mut v) = self.idle.lock() {
                v.push(conn);
            }
        }
    }

    /// Sends one message, on an idle connection when there is one; a connection the server
    /// closed meanwhile is replaced by a fresh one. `commit` runs once the whole message is
    /// written and just before the final dot (see [`transact`]).
    async fn send_raw(
        &self,
        envelope: &Envelope,
        bytes: &[u8],
        commit: &(dyn Fn() -> bool + Sync),
    ) -> Result<(), Failure> {
        if let Some(mut conn) = self.take_idle() {
            match transact(&mut conn, envelope, bytes, commit).await {
                Ok(()) => {
                    self.put_idle(conn);
                    return Ok(());
                }
                // Closed while idle, before anything was committed: try a new connection.
                Err(f) if !f.committed && !f.replied => {}
                Err(f) => return Err(f),
            }
        }
        let mut conn = self.connect().await.map_err(|(permanent, text)| Failure {
            permanent,
            committed: false,
            replied: false,
            text,
        })?;
        let result = transact(&mut conn, envelope, bytes, commit).await;
        if result.is_ok() {
            self.put_idle(conn);
        }
        result
    }
}

/// Why a mail did not go through.
#[derive(Debug)]
pub struct Failure {
    /// The server refused it for good (5xx).
    pub permanent: bool,
    /// The commit hook had run: the mail was recorded as sent before the final dot.
    pub committed: bool,
    /// The server answered (4xx/5xx), rather than the connection failing.
    pub replied: bool,
    /// What happened.
    pub text: String,
}

/// Yields the message, then — when asked for more, which lettre does after writing it and
/// before writing the final dot — runs the commit hook once.
struct CommitAtDot<'a> {
    body: Option<&'a [u8]>,
    commit: &'a (dyn Fn() -> bool + Sync),
    socket: &'a std::net::TcpStream,
    done: &'a std::sync::atomic::AtomicBool,
}

impl<'a> Iterator for CommitAtDot<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if let Some(body) = self.body.take() {
            return Some(body);
        }
        if !self.done.swap(true, std::sync::atomic::Ordering::SeqCst) && !(self.commit)() {
            // Not recorded: cut the connection so the server never gets the dot.
            let _ = self.socket.shutdown(std::net::Shutdown::Both);
        }
        None
    }
}

/// One SMTP transaction. The mail is recorded as sent (by `commit`) after its last byte and
/// before the final dot: if kvittens dies after that, the kernel still delivers the dot and the
/// server takes the mail, so it is neither lost nor sent again; if it dies before, the server
/// discards the unfinished mail and it goes out again on the next start. That leaves a window
/// of one system call, where recording after the server's OK leaves a round trip and a disk
/// flush in which a crash sends the mail twice.
async fn transact(
    conn: &mut Conn,
    envelope: &Envelope,
    bytes: &[u8],
    commit: &(dyn Fn() -> bool + Sync),
) -> Result<(), Failure> {
    let done = std::sync::atomic::AtomicBool::new(false);
    let fail = |e: lettre::transport::smtp::Error, done: &std::sync::atomic::AtomicBool| Failure {
        permanent: e.is_permanent(),
        committed: done.load(std::sync::atomic::Ordering::SeqCst),
        replied: e.is_permanent() || e.is_transient(),
        text: e.to_string(),
    };
    let mut options = Vec::new();
    if !bytes.is_ascii() {
        options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    let Conn { smtp, socket } = conn;
    smtp.command(Mail::new(envelope.from().cloned(), options))
        .await
        .map_err(|e| fail(e, &done))?;
    for to in envelope.to() {
        smtp.command(Rcpt::new(to.clone(), vec![]))
            .await
            .map_err(|e| fail(e, &done))?;
    }
    smtp.command(Data).await.map_err(|e| fail(e, &done))?;
    let body = CommitAtDot {
        body: Some(bytes),
        commit,
        socket,
        done: &done,
    };
    smtp.message_iter(body)
        .await
        .map(|_| ())
        .map_err(|e| fail(e, &done))
}

/// Sends one mail; `commit` records it as sent just before the final dot.
pub async fn send(
    t: &Transport,
    mail: &Outgoing,
    commit: &(dyn Fn() -> bool + Sync),
) -> Result<(), Failure> {
    let refuse = |text: String| Failure {
        permanent: true,
        committed: false,
        replied: false,
        text,
    };
    let from = mail
        .envelope_from
        .parse()
        .map_err(|e| refuse(format!("envelope sender: {e}")))?;
    let to = mail
        .to
        .iter()
        .map(|a| a.parse())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| refuse(format!("recipient: {e}")))?;
    let envelope = Envelope::new(Some(from), to).map_err(|e| refuse(e.to_string()))?;
    t.send_raw(&envelope, &mail.bytes, commit).await
}

/// How many SMTP transactions run at once; the pool keeps their connections open.
const CONCURRENCY: usize = 4;

/// What became of one mail.
enum Sent {
    Accepted,
    Refused,
    Unavailable(String),
    NotRecorded,
    Skipped,
}

/// The outbox task.
pub struct Sender {
    /// Where the outbox is.
    pub store: Store,
    /// The SMTP pool.
    pub transport: Transport,
    /// Woken when the watchers queue mail.
    pub wake: Arc<Notify>,
    /// Flips to true when the daemon stops.
    pub shutdown: watch::Receiver<bool>,
    /// What the daemon counts.
    pub metrics: Arc<Metrics>,
    /// Told when the store fails.
    pub store_failed: Arc<crate::engine::StoreFailure>,
}

impl Sender {
    /// Sends what waits in the outbox, then waits for more, until shutdown. A mail in flight when
    /// the daemon stops is finished first. When the server is down, retries with capped,
    /// jittered backoff, logging one line when it goes and one when it comes back.
    pub async fn run(mut self) {
        let mut delay = Duration::from_secs(1);
        let mut down: Option<String> = None;
        loop {
            let retry = match self.store.pending() {
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the outbox");
                    self.store_failed.report(e.to_string());
                    true
                }
                Ok(pending) => self.send_all(pending, &mut down).await,
            };
            if *self.shutdown.borrow() {
                tracing::info!("sender stopped");
                return;
            }
            if retry {
                let wait = delay.mul_f64(0.75 + rand::random::<f64>() * 0.5);
                delay = (delay * 2).min(Duration::from_secs(60));
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = self.shutdown.changed() => {}
                }
            } else {
                delay = Duration::from_secs(1);
                tokio::select! {
                    _ = self.wake.notified() => {}
                    // Catch anything queued by another process (e.g. a CLI command) now and then.
                    _ = tokio::time::sleep(Duration::from_secs(30)) => {}
                    _ = self.shutdown.changed() => {}
                }
            }
        }
    }

    /// Sends `pending`, [`CONCURRENCY`] at a time over the pool, recording each mail as soon as
    /// the server took it (so a crash repeats at most the mails in flight). Returns true when
    /// the server is unavailable or the store failed: try again later.
    async fn send_all(&self, pending: Vec<Outgoing>, down: &mut Option<String>) -> bool {
        use futures::StreamExt;
        let stop = std::sync::atomic::AtomicBool::new(false);
        let outcomes: Vec<Sent> = futures::stream::iter(pending)
            .map(|mail| {
                let stop = &stop;
                async move {
                    if *self.shutdown.borrow() || stop.load(std::sync::atomic::Ordering::Relaxed) {
                        return Sent::Skipped;
                    }
                    self.send_one(mail, stop).await
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let mut retry = false;
        for outcome in outcomes {
            match outcome {
                Sent::Accepted => {
                    if down.take().is_some() {
                        tracing::info!("SMTP server reachable again; sending the queued mail");
                    }
                }
                Sent::Unavailable(why) => {
                    self.metrics.smtp_errors.inc();
                    self.metrics.smtp_up.set(0);
                    if down.as_deref() != Some(why.as_str()) {
                        tracing::warn!(error = %why, "SMTP server unavailable; mail stays queued, retrying with backoff");
                        *down = Some(why);
                    }
                    retry = true;
                }
                Sent::NotRecorded => retry = true,
                Sent::Refused | Sent::Skipped => {}
            }
        }
        retry
    }

    /// Sends one mail and records it: as sent just before its final dot (see [`transact`]),
    /// or, when the server refuses it for good, as undeliverable on its case.
    async fn send_one(&self, mail: Outgoing, stop: &std::sync::atomic::AtomicBool) -> Sent {
        let recorded = std::sync::Mutex::new(None::<String>);
        // The record of the mail as sent reaches the log file in the same instant as the final
        // dot reaches the socket: the flush runs beside the write of the dot, so a crash leaves
        // both or neither (a window of microseconds, where recording after the server's OK
        // leaves a round trip and a disk flush). Before the flush is confirmed, the server's
        // answer is not acted on.
        let flushing = std::sync::Mutex::new(
            None::<std::thread::JoinHandle<Result<(), crate::store::StoreError>>>,
        );
        let commit = || match self.store.mark_sent_unflushed(&mail, chrono::Utc::now()) {
            Ok(()) => {
                let store = self.store.clone();
                if let Ok(mut f) = flushing.lock() {
                    *f = Some(std::thread::spawn(move || store.flush()));
                }
                true
            }
            Err(e) => {
                if let Ok(mut r) = recorded.lock() {
                    *r = Some(e.to_string());
                }
                // The connection is cut before the dot: the mail was not sent. Put it back, so
                // that whatever the store keeps, it says "pending".
                let _ =
                    self.store
                        .requeue(&mail, chrono::Utc::now(), "the store could not record it");
                false
            }
        };
        let result = send(&self.transport, &mail, &commit).await;
        let handle = flushing.lock().ok().and_then(|mut f| f.take());
        if let Some(handle) = handle {
            let flushed = tokio::task::spawn_blocking(move || handle.join()).await;
            let error = match flushed {
                Ok(Ok(Ok(()))) => None,
                Ok(Ok(Err(e))) => Some(e.to_string()),
                _ => Some("the flush thread failed".to_string()),
            };
            if let Some(e) = error {
                tracing::error!(error = %e, case = %mail.case, "sent, but the store could not make the record durable");
                self.store_failed.report(e);
            }
        }
        let not_recorded = recorded.lock().ok().and_then(|mut r| r.take());
        if let Some(e) = not_recorded {
            // Not recorded, so not sent either: the connection was cut before the final dot.
            tracing::error!(error = %e, case = %mail.case, "the store could not record the mail; it was held back and stays queued");
            self.store_failed.report(e);
            return Sent::NotRecorded;
        }
        let kind = MailKind {
            kind: mail.kind.word().replace(' ', "_"),
        };
        match result {
            Ok(()) => {
                self.metrics.mail_sent.get_or_create(&kind).inc();
                self.metrics.smtp_up.set(1);
                if let Some(received) = mail.received {
                    let waited =
                        (chrono::Utc::now() - received).num_milliseconds().max(0) as f64 / 1000.0;
                    self.metrics.receipt_latency.observe(waited);
                }
                tracing::info!(case = %mail.case, kind = mail.kind.word(), to = %mail.to.join(","), "sent");
                Sent::Accepted
            }
            Err(f) if f.permanent => {
                self.metrics.mail_refused.get_or_create(&kind).inc();
                tracing::warn!(case = %mail.case, kind = mail.kind.word(), to = %mail.to.join(","), error = %f.text, "refused for good by the SMTP server; noted on the case");
                match self
                    .store
                    .mark_sent(&mail, chrono::Utc::now(), Some(&f.text))
                {
                    Ok(()) => Sent::Refused,
                    Err(e) => {
                        self.store_failed.report(e.to_string());
                        Sent::NotRecorded
                    }
                }
            }
            Err(f) if f.committed && !f.replied => {
                // The whole mail and its dot were written; only the answer is missing. The
                // server most likely has it: sending it again would more likely double it.
                tracing::warn!(case = %mail.case, kind = mail.kind.word(), error = %f.text, "the server did not confirm a mail it was given in full; taken as sent");
                Sent::Accepted
            }
            Err(f) => {
                if f.committed {
                    // The server answered "try later" after the dot: back into the outbox.
                    if let Err(e) = self.store.requeue(&mail, chrono::Utc::now(), &f.text) {
                        self.store_failed.report(e.to_string());
                        return Sent::NotRecorded;
                    }
                }
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
                Sent::Unavailable(f.text)
            }
        }
    }
}
