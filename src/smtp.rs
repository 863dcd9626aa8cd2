//! The sending adapter: empties the store's outbox over SMTP. A mail leaves the outbox only
//! after the server accepted it (or refused it for good), so nothing is lost when the server is
//! down and nothing is sent twice when it is up.

use crate::compose::Outgoing;
use crate::config::{Security, Smtp};
use crate::metrics::{MailKind, Metrics};
use crate::store::Store;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// The SMTP connection pool.
pub type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// Builds the transport from the config; certificates are verified unless security is "none".
pub fn transport(smtp: &Smtp, hello: &str) -> Result<Transport, String> {
    let server = &smtp.server;
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(server.host.clone())
        .port(server.port)
        .hello_name(ClientId::Domain(hello.to_string()))
        .timeout(Some(Duration::from_secs(60)));
    if server.security != Security::None {
        let mut params = TlsParameters::builder(server.host.clone());
        if let Some(file) = &server.ca_file {
            let pem =
                std::fs::read(file).map_err(|e| format!("smtp.ca_file {}: {e}", file.display()))?;
            let cert = Certificate::from_pem(&pem)
                .map_err(|e| format!("smtp.ca_file {}: {e}", file.display()))?;
            params = params.add_root_certificate(cert);
        }
        let params = params
            .build_rustls()
            .map_err(|e| format!("SMTP TLS setup: {e}"))?;
        b = b.tls(match server.security {
            Security::Tls => Tls::Wrapper(params),
            _ => Tls::Required(params),
        });
    }
    if let Some((user, password)) = &smtp.login {
        b = b.credentials(Credentials::new(
            user.clone(),
            password.expose().to_string(),
        ));
    }
    Ok(b.build())
}

/// Sends one mail; `Err((permanent, text))` when the server did not take it.
pub async fn send(t: &Transport, mail: &Outgoing) -> Result<(), (bool, String)> {
    let from = mail
        .envelope_from
        .parse()
        .map_err(|e| (true, format!("envelope sender: {e}")))?;
    let to = mail
        .to
        .iter()
        .map(|a| a.parse())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| (true, format!("recipient: {e}")))?;
    let envelope = Envelope::new(Some(from), to).map_err(|e| (true, e.to_string()))?;
    t.send_raw(&envelope, &mail.bytes)
        .await
        .map(|_| ())
        .map_err(|e| (e.is_permanent(), e.to_string()))
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
}

impl Sender {
    /// Sends what waits in the outbox, then waits for more, until shutdown. A mail in flight when
    /// the daemon stops is finished first. When the server is down, retries with capped,
    /// jittered backoff, logging one line when it goes and one when it comes back.
    pub async fn run(mut self) {
        let mut delay = Duration::from_secs(1);
        let mut down: Option<String> = None;
        loop {
            let mut retry = false;
            match self.store.pending() {
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the outbox");
                    retry = true;
                }
                Ok(pending) => {
                    for mail in pending {
                        if *self.shutdown.borrow() {
                            break;
                        }
                        match send(&self.transport, &mail).await {
                            Ok(()) => {
                                let kind = MailKind {
                                    kind: mail.kind.word().replace(' ', "_"),
                                };
                                self.metrics.mail_sent.get_or_create(&kind).inc();
                                self.metrics.smtp_up.set(1);
                                if let Some(received) = mail.received {
                                    let waited =
                                        (chrono::Utc::now() - received).num_milliseconds().max(0)
                                            as f64
                                            / 1000.0;
                                    self.metrics.receipt_latency.observe(waited);
                                }
                                if down.take().is_some() {
                                    tracing::info!(
                                        "SMTP server reachable again; sending the queued mail"
                                    );
                                }
                                delay = Duration::from_secs(1);
                                tracing::info!(case = %mail.case, kind = mail.kind.word(), to = %mail.to.join(","), "sent");
                                if let Err(e) =
                                    self.store.mark_sent(&mail, chrono::Utc::now(), None)
                                {
                                    tracing::error!(error = %e, case = %mail.case, "sent, but could not record it");
                                    retry = true;
                                    break;
                                }
                            }
                            Err((true, why)) => {
                                let kind = MailKind {
                                    kind: mail.kind.word().replace(' ', "_"),
                                };
                                self.metrics.mail_refused.get_or_create(&kind).inc();
                                tracing::warn!(case = %mail.case, kind = mail.kind.word(), to = %mail.to.join(","), error = %why, "refused for good by the SMTP server; noted on the case");
                                if let Err(e) =
                                    self.store.mark_sent(&mail, chrono::Utc::now(), Some(&why))
                                {
                                    tracing::error!(error = %e, case = %mail.case, "could not record the refusal");
                                }
                            }
                            Err((false, why)) => {
                                self.metrics.smtp_errors.inc();
                                self.metrics.smtp_up.set(0);
                                if down.as_deref() != Some(why.as_str()) {
                                    tracing::warn!(error = %why, "SMTP server unavailable; mail stays queued, retrying with backoff");
                                    down = Some(why);
                                }
                                retry = true;
                                break;
                            }
                        }
                    }
                }
            }
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
                tokio::select! {
                    _ = self.wake.notified() => {}
                    // Catch anything queued by another process (e.g. a CLI command) now and then.
                    _ = tokio::time::sleep(Duration::from_secs(30)) => {}
                    _ = self.shutdown.changed() => {}
                }
            }
        }
    }
}
