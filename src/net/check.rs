//! `kvittens check-config --connect`: after the file's own checks, logs in to every department
//! mailbox and EXAMINEs each folder the daemon will watch (the Sent folder found as the watcher
//! finds it), and tries the SMTP server as a mail would (connect, TLS/STARTTLS, EHLO, AUTH) —
//! no mail is sent, nothing is marked \Seen. A new installation's mistakes then show on the
//! admin's screen, not when the first resident writes.

use crate::config::{Config, Department};
use crate::net::diagnose::{Problem, CHECK_TIMEOUT};
use crate::net::imap::{self, WatchError};
use futures::StreamExt;

/// How many checks run at once: enough to be quick with 20 departments, few enough not to
/// look like an attack to the server.
const CONCURRENCY: usize = 4;

/// The result of one check: what was checked, and the problem (none: ok).
#[derive(Debug)]
pub struct Line {
    /// The mailbox or server, as the admin knows it.
    pub what: String,
    /// What is wrong, in plain words; `None` when it works.
    pub problem: Option<Problem>,
    /// What was found, when it works (the folders examined).
    pub detail: String,
}

impl std::fmt::Display for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.problem {
            None if self.detail.is_empty() => write!(f, "{}: ok", self.what),
            None => write!(f, "{}: ok ({})", self.what, self.detail),
            Some(p) => write!(f, "{}: {p}", self.what),
        }
    }
}

/// Checks every mailbox and the SMTP server, four (`CONCURRENCY`) at a time, each within
/// [`CHECK_TIMEOUT`]; the lines come in the config's order, the SMTP server last.
pub async fn connect_all(cfg: &Config) -> Vec<Line> {
    let mut lines: Vec<Line> = futures::stream::iter(&cfg.departments)
        .map(mailbox)
        .buffered(CONCURRENCY)
        .collect()
        .await;
    lines.push(smtp(cfg).await);
    lines
}

/// Logs in to one department mailbox and EXAMINEs its folder and its Sent folder.
async fn mailbox(dept: &Department) -> Line {
    let what = format!(
        "mailbox {} ({}) at {}:{}",
        dept.id, dept.email, dept.imap.host, dept.imap.port
    );
    let timeout = Problem::Timeout {
        host: dept.imap.host.clone(),
        port: dept.imap.port,
    };
    let result = tokio::time::timeout(CHECK_TIMEOUT, examine_both(dept))
        .await
        .unwrap_or(Err(timeout));
    match result {
        Ok(folders) => Line {
            what,
            problem: None,
            detail: folders,
        },
        Err(p) => Line {
            what,
            problem: Some(p),
            detail: String::new(),
        },
    }
}

async fn examine_both(dept: &Department) -> Result<String, Problem> {
    let classify = |e: WatchError| match e {
        WatchError::Problem(p) => p,
        other => Problem::Other(other.to_string()),
    };
    // As the daemon logs in: with the password, or with a token of the OAuth2 client.
    let (mut s, _) = imap::connect_dept(dept).await.map_err(classify)?;
    imap::examine(&mut s, &dept.folder)
        .await
        .map_err(classify)?;
    let sent = imap::sent_folder(&mut s, dept)
        .await
        .map_err(classify)?
        .ok_or(Problem::NoSentFolder)?;
    imap::examine(&mut s, &sent).await.map_err(classify)?;
    let _ = s.logout().await;
    Ok(format!("{}, {sent}", dept.folder))
}

/// Tries the SMTP server: connect, TLS/STARTTLS, EHLO and AUTH; no mail.
async fn smtp(cfg: &Config) -> Line {
    let server = &cfg.smtp.server;
    let user = cfg
        .smtp
        .login
        .as_ref()
        .map(|(u, _)| format!(" as {u}"))
        .unwrap_or_default();
    let what = format!("SMTP server {}:{}{user}", server.host, server.port);
    let problem = match crate::net::smtp::transport(&cfg.smtp, cfg.id_domain()) {
        Err(e) => Some(Problem::Other(e)),
        Ok(t) => match tokio::time::timeout(CHECK_TIMEOUT, t.probe()).await {
            Ok(Ok(())) => None,
            Ok(Err(p)) => Some(p),
            Err(_) => Some(t.timeout_problem()),
        },
    };
    // Without a user nothing is logged in to: the server must take mail from this host as it
    // is (a submission port that wants a login refuses it only at the first mail).
    let detail = if cfg.smtp.login.is_none() {
        "no login configured: the server must take mail from this host without one; set [smtp] user if it wants a login".to_string()
    } else {
        String::new()
    };
    Line {
        what,
        problem,
        detail,
    }
}
