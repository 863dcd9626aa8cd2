//! An administrator's setup mistakes, against the real mail stack: `check-config --connect`
//! names each in plain words, and the daemon tells of them at start — a wrong password on one
//! mailbox leaves the other working and the unit ready, and is not retried every minute.

mod common;

use common::{http_get as get, Setup};
use std::process::Command;
use std::time::Duration;

/// A port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// `kvittens check-config --connect`: exit status and stdout.
fn check_connect(s: &Setup) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kvittens"))
        .args(["check-config", "--connect", "--config"])
        .arg(&s.config)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.success(), format!("{stdout}{stderr}"))
}

/// Replaces department `name`'s mailbox line with one carrying `extra` (e.g. `port = 9`).
fn mailbox_with(s: &Setup, name: &str, extra: &str) {
    let text = std::fs::read_to_string(&s.config).unwrap().replace(
        &format!(
            "mailbox = {{ user = \"{name}-{}@kommun.test\", password = \"secret\" }}",
            s.tag
        ),
        &format!(
            "mailbox = {{ user = \"{name}-{}@kommun.test\", {extra} }}",
            s.tag
        ),
    );
    std::fs::write(&s.config, text).unwrap();
}

/// Sets a key of the `[smtp]` table.
fn smtp_with(s: &Setup, from: &str, to: &str) {
    let text = std::fs::read_to_string(&s.config).unwrap();
    let (head, tail) = text.split_once("[smtp]").unwrap();
    let tail = tail.replacen(from, to, 1);
    std::fs::write(&s.config, format!("{head}[smtp]{tail}")).unwrap();
}

/// The line of `check-config --connect` about `what`.
fn line<'a>(out: &'a str, what: &str) -> &'a str {
    out.lines()
        .find(|l| l.contains(what))
        .unwrap_or_else(|| panic!("no line about {what}:\n{out}"))
}

/// A TLS server with a self-signed certificate (made by openssl), accepting and dropping
/// connections; returns its port.
fn untrusted_tls_server(dir: &std::path::Path) -> u16 {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
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
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let _ = acceptor.accept(tcp).await;
                });
            }
        });
    });
    port
}

#[test]
fn check_connect_says_ok_for_a_good_config() {
    let s = Setup::with_departments("ccok", &[("bygg", ""), ("plan", "")]);
    let (ok, out) = check_connect(&s);
    assert!(ok, "{out}");
    assert!(
        line(&out, "mailbox bygg (bygg-ccok@kommun.test)").ends_with(": ok (INBOX, Sent)"),
        "{out}"
    );
    assert!(
        line(&out, "mailbox plan").ends_with(": ok (INBOX, Sent)"),
        "{out}"
    );
    assert!(
        line(&out, "SMTP server 127.0.0.1").ends_with(
            ": ok (no login configured: the server must take mail from this host without one; set [smtp] user if it wants a login)"
        ),
        "{out}"
    );
}

#[test]
fn check_connect_names_each_mistake_in_plain_words() {
    let names = ["pw", "closed", "tlsplain", "nostarttls", "cert", "folder"];
    let depts: Vec<(&str, &str)> = names.iter().map(|n| (*n, "")).collect();
    let s = Setup::with_departments("ccbad", &depts);
    let imap = s.stack.imap_port;
    let closed = closed_port();
    let tls = untrusted_tls_server(s.dir.path());
    mailbox_with(&s, "pw", "password = \"wrong\"");
    mailbox_with(
        &s,
        "closed",
        &format!("password = \"secret\", port = {closed}"),
    );
    mailbox_with(&s, "tlsplain", "password = \"secret\", security = \"tls\"");
    mailbox_with(
        &s,
        "nostarttls",
        "password = \"secret\", security = \"starttls\"",
    );
    mailbox_with(
        &s,
        "cert",
        &format!("password = \"secret\", security = \"tls\", port = {tls}"),
    );
    mailbox_with(
        &s,
        "folder",
        "password = \"secret\", folder = \"Ansökningar\"",
    );
    // The test stack's Postfix offers no STARTTLS.
    smtp_with(&s, "security = \"none\"", "security = \"starttls\"");
    let (ok, out) = check_connect(&s);
    assert!(!ok, "exit 1 when a check fails:\n{out}");
    assert!(
        line(&out, "mailbox pw ").contains(
            "login refused by 127.0.0.1 for pw-ccbad@kommun.test: wrong password or token"
        ),
        "{out}"
    );
    assert!(
        line(&out, "mailbox closed ")
            .contains(&format!("connection refused at 127.0.0.1:{closed}")),
        "{out}"
    );
    assert!(
        line(&out, "mailbox tlsplain ").contains(&format!(
            "TLS spoken to a plain-text server at 127.0.0.1:{imap}"
        )),
        "{out}"
    );
    assert!(
        line(&out, "mailbox nostarttls ")
            .contains(&format!("STARTTLS not offered by 127.0.0.1:{imap}")),
        "{out}"
    );
    assert!(
        line(&out, "mailbox cert ").contains(
            "certificate not trusted for 127.0.0.1: it is signed by an unknown authority"
        ),
        "{out}"
    );
    assert!(
        line(&out, "mailbox folder ")
            .contains("folder missing: \"Ansökningar\" does not exist in the mailbox"),
        "{out}"
    );
    assert!(
        line(&out, "SMTP server").contains(&format!(
            "STARTTLS not offered by 127.0.0.1:{}",
            s.stack.smtp_port
        )),
        "{out}"
    );
    assert!(out.contains("7 of 7 connection check(s) failed"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_login_leaves_the_other_mailbox_working_and_waits_15_minutes() {
    let s = Setup::with_departments("lockout", &[("bygg", ""), ("plan", "")]);
    mailbox_with(&s, "plan", "password = \"wrong\"");
    let daemon = s.spawn();
    // Ready although one mailbox fails: it has been tried.
    let log = daemon.wait_log("ready: watching 1 of 2 mailboxes", 1);
    let (status, health) = get(&log, "/healthz");
    assert!(status.contains("503"), "{status}");
    assert!(
        health.contains("mailbox of plan (plan-lockout@kommun.test) is not watched: login refused by 127.0.0.1 for plan-lockout@kommun.test"),
        "{health}"
    );
    assert!(!health.contains("bygg"), "{health}");
    let (_, metrics) = get(&log, "/metrics");
    assert!(
        metrics.contains("kvittens_mailbox_problem{department=\"plan\",folder=\"inbox\",problem=\"login_refused\"} 1"),
        "{metrics}"
    );
    // The other department gets its receipts.
    s.stack
        .append(&s.mailbox(), &s.question(1, "lk1-lockout", "Fråga"))
        .await;
    s.stack.wait_for(&s.resident(1), 1).await;
    // One line, stating the next try 15 minutes on, and no retry meanwhile.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let log = daemon.log_text();
    let refused: Vec<_> = log
        .lines()
        .filter(|l| l.contains("login refused"))
        .filter(|l| !l.contains("DEBUG"))
        .collect();
    assert_eq!(refused.len(), 1, "{log}");
    assert!(refused[0].contains("next try in 15 min"), "{log}");
    assert!(!log.contains("retry failed"), "retried too soon:\n{log}");
    // The server saw one failed login, not one for the inbox and another for the Sent folder:
    // failed logins are what lock an account.
    let dovecot =
        std::path::Path::new(&std::env::var("KVITTENS_MAILSTACK").unwrap()).join("log/dovecot.log");
    let failed = std::fs::read_to_string(&dovecot)
        .unwrap()
        .lines()
        .filter(|l| l.contains("auth failed") && l.contains("user=<plan-lockout@kommun.test>"))
        .count();
    assert_eq!(failed, 1, "failed logins in {}", dovecot.display());
    // A reload tries again at once; with the password fixed, the mailbox is watched.
    let text = std::fs::read_to_string(&s.config)
        .unwrap()
        .replace("password = \"wrong\"", "password = \"secret\"");
    std::fs::write(&s.config, text).unwrap();
    daemon.signal("HUP");
    let log = daemon.wait_log("mailbox working again", 1);
    assert!(log.contains("trying the mailbox again now"), "{log}");
    let start = std::time::Instant::now();
    loop {
        let (status, health) = get(&log, "/healthz");
        if status.contains("200") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{health}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(daemon.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_smtp_port_shows_at_start_before_any_mail() {
    let s = Setup::new("smtpport", "");
    let closed = closed_port();
    smtp_with(
        &s,
        &format!("port = {}", s.stack.smtp_port),
        &format!("port = {closed}"),
    );
    let daemon = s.start();
    let log = daemon.wait_log("SMTP server unavailable", 1);
    let (status, health) = get(&log, "/healthz");
    assert!(status.contains("503"), "{status}");
    assert!(
        health.contains(&format!(
            "the SMTP server does not take mail: connection refused at 127.0.0.1:{closed}"
        )),
        "{health}"
    );
    let (_, metrics) = get(&log, "/metrics");
    assert!(metrics.contains("kvittens_smtp_up 0"), "{metrics}");
    assert!(daemon.stop().success());
}
