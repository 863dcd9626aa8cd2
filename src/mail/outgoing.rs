//! What every mail kvittens sends has in common: the finished [`Outgoing`] mail the outbox keeps,
//! the headers that mark it as automatic and tie it to its case and department, threading, and
//! why building one can fail. The receipt ([`crate::mail::compose`]) and the staff mails
//! ([`crate::mail::notices`]) both build on this, and neither on the other.

use crate::mail::templates::TemplateError;
use crate::model::{ids, Kind};
use chrono::{DateTime, Utc};
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MessageBuilder, SinglePart};
use serde::{Deserialize, Serialize};

/// A finished mail, ready for SMTP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outgoing {
    /// Its Message-ID (without brackets); also its key in the outbox.
    pub id: String,
    /// What it is about: the case whose timeline records its fate, or the department of a
    /// digest. Kept under its old name and in its old form (see [`About`]), so that mail
    /// queued by an earlier version reads as it was written.
    #[serde(rename = "case")]
    pub about: About,
    /// What it is.
    pub kind: Kind,
    /// MAIL FROM: the department mailbox, so bounces come back where kvittens watches.
    pub envelope_from: String,
    /// RCPT TO.
    pub to: Vec<String>,
    /// The message.
    pub bytes: Vec<u8>,
    /// For a receipt: when the resident's mail reached the mailbox (for the latency metric).
    #[serde(default)]
    pub received: Option<DateTime<Utc>>,
    /// Whether a copy goes to the department mailbox (`envelope_from`) in the same SMTP
    /// transaction: the department's record of what it told the resident, and kvittens' proof
    /// that the mail went when a crash hid the server's answer (see the store's outbox).
    #[serde(default)]
    pub copy: bool,
}

/// What an outgoing mail is about. Every mail but one belongs to a case, whose timeline then
/// records what became of it; the daily digest is about a department and has no case, so it
/// must never be looked up as one.
///
/// Written as one string, as before this type existed: the case number, or `digest-<dept>`.
/// The two cannot be confused: a case number starts with its upper-case prefix
/// ([`ids::is_prefix`]), never with `digest-`. The same string goes into the digest's
/// Message-ID and `X-Kvittens-Case` header, and into log lines as `case`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum About {
    /// A case, by number.
    Case(String),
    /// The daily digest of a department, by department id.
    Digest(String),
    /// The report to the nämnd: of a department (its id), or of all (`*`).
    Report(String),
    /// An officer's gathered notice of the new cases of a burst, by the first case it lists
    /// (each case is gathered once, so the name is the mail's own). Its cases' timelines say
    /// it was queued; it belongs to none of them.
    Gathered(String),
}

/// How a digest's [`About`] is written.
const DIGEST: &str = "digest-";
/// How a report's [`About`] is written (never a case number's start, which is upper-case).
const REPORT: &str = "report-";
/// How a gathered notice's [`About`] is written.
const GATHERED: &str = "gathered-";

impl About {
    /// The case number, unless this is a digest.
    pub fn case(&self) -> Option<&str> {
        match self {
            About::Case(number) => Some(number),
            About::Digest(_) | About::Report(_) | About::Gathered(_) => None,
        }
    }
}

impl std::fmt::Display for About {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            About::Case(number) => f.write_str(number),
            About::Digest(dept) => write!(f, "{DIGEST}{dept}"),
            About::Report(scope) => write!(f, "{REPORT}{scope}"),
            About::Gathered(first) => write!(f, "{GATHERED}{first}"),
        }
    }
}

impl From<String> for About {
    fn from(written: String) -> About {
        if let Some(dept) = written.strip_prefix(DIGEST) {
            return About::Digest(dept.to_string());
        }
        if let Some(first) = written.strip_prefix(GATHERED) {
            return About::Gathered(first.to_string());
        }
        match written.strip_prefix(REPORT) {
            Some(scope) => About::Report(scope.to_string()),
            None => About::Case(written),
        }
    }
}

impl From<About> for String {
    fn from(about: About) -> String {
        about.to_string()
    }
}

/// Why a mail could not be built. The cause is kept as [`std::error::Error::source`].
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// A template failed to render.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// An address the mail builder refused (e.g. a resident's address that is not RFC 5321).
    #[error("cannot build the mail: {source}")]
    Address {
        /// The address as given.
        address: String,
        /// What lettre said of it.
        #[source]
        source: lettre::address::AddressError,
    },
    /// The mail builder refused the message as a whole (e.g. no recipient).
    #[error("cannot build the mail: {0}")]
    Mail(#[source] lettre::error::Error),
    /// A MIME type lettre could not parse.
    #[error("cannot build the mail: {0}")]
    ContentType(#[source] lettre::message::header::ContentTypeErr),
    /// A part that cannot be encoded as asked; there is no lower cause to keep.
    #[error("cannot build the mail: {0}")]
    Encoding(&'static str),
}

/// Whether a mail answers a person's mail (the receipt, RFC 3834 §5.1 `auto-replied`) or is
/// generated on its own (staff mail, `auto-generated`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Automatic {
    /// `Auto-Submitted: auto-replied`, with `Precedence: bulk` for the autoresponders that
    /// still only read that (RFC 3834 §2 asks them to answer neither).
    Replied,
    /// `Auto-Submitted: auto-generated`.
    Generated,
}

/// Adds what every mail kvittens sends carries after its subject, in this order: the
/// Message-ID, the Date, `Auto-Submitted` (RFC 3834 §5), `X-Auto-Response-Suppress: All`
/// (Exchange's own switch for the same), `X-Kvittens-Loop` with the department mailbox (the
/// loop breaker's mark) and `X-Kvittens-Case` with `case`.
pub(crate) fn marked(
    b: MessageBuilder,
    id: &str,
    date: DateTime<Utc>,
    automatic: Automatic,
    department: &str,
    case: &str,
) -> MessageBuilder {
    let mut b = b
        .message_id(Some(ids::bracketed(id)))
        .date(date.into())
        .raw_header(header(
            "Auto-Submitted",
            match automatic {
                Automatic::Replied => "auto-replied",
                Automatic::Generated => "auto-generated",
            },
        ))
        .raw_header(header("X-Auto-Response-Suppress", "All"));
    if automatic == Automatic::Replied {
        b = b.raw_header(header("Precedence", "bulk"));
    }
    b.raw_header(header("X-Kvittens-Loop", department.to_string()))
        .raw_header(header("X-Kvittens-Case", case.to_string()))
}

/// Threads a mail under the resident's `first` message (RFC 5322 §3.6.4): In-Reply-To names
/// it, References names up to 20 of its own safe references and then it. Ids that are not
/// [`ids::safe`] are left out; with an unsafe `first` the mail is not threaded.
pub(crate) fn in_thread(b: MessageBuilder, first: &str, references: &[String]) -> MessageBuilder {
    if !ids::safe(first) {
        return b;
    }
    let mut refs: Vec<String> = references
        .iter()
        .filter(|r| ids::safe(r))
        .map(|r| ids::bracketed(r))
        .collect();
    refs.truncate(20);
    refs.push(ids::bracketed(first));
    b.in_reply_to(ids::bracketed(first))
        .references(refs.join(" "))
}

/// A plain-text part sent as 8bit: readable in the raw mail, and Postfix converts it where a
/// receiving server lacks 8BITMIME. Falls back to the library's choice (quoted-printable) for
/// text that 8bit cannot carry (very long lines).
pub fn text_part(body: String) -> SinglePart {
    use lettre::message::header::ContentTransferEncoding;
    match lettre::message::Body::new_with_encoding(body.clone(), ContentTransferEncoding::EightBit)
    {
        Ok(b) => SinglePart::builder()
            .header(ContentType::TEXT_PLAIN)
            .body(b),
        Err(_) => SinglePart::plain(body),
    }
}

/// A header lettre has no type for, written as given (the value is still encoded where it
/// must be).
pub(crate) fn header(name: &'static str, value: impl Into<String>) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value.into())
}

/// A mailbox (RFC 5322 §3.4) of `email` with an optional display name.
///
/// # Errors
/// [`ComposeError::Address`] when `email` is not an address lettre accepts.
pub fn mailbox(name: Option<&str>, email: &str) -> Result<Mailbox, ComposeError> {
    let address = email.parse().map_err(|source| ComposeError::Address {
        address: email.to_string(),
        source,
    })?;
    Ok(Mailbox::new(name.map(str::to_string), address))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;

    #[test]
    fn a_digest_is_about_its_department_and_old_outbox_entries_read_as_written() {
        // As kvittens wrote outbox entries before `About` existed.
        let written = |case: &str| {
            format!(
                r#"{{"id":"kvittens.x@kommun.test","case":"{case}","kind":"digest","envelope_from":"bygg@kommun.test","to":["m@kommun.test"],"bytes":[]}}"#
            )
        };
        let digest: Outgoing = serde_json::from_str(&written("digest-bygg")).unwrap();
        assert_eq!(digest.about, About::Digest("bygg".into()));
        assert_eq!(digest.about.case(), None, "a digest is on no case");
        assert_eq!(digest.about.to_string(), "digest-bygg");
        let receipt: Outgoing = serde_json::from_str(&written("BMN-2026-0001")).unwrap();
        assert_eq!(receipt.about, About::Case("BMN-2026-0001".into()));
        assert_eq!(receipt.about.case(), Some("BMN-2026-0001"));
        for mail in [digest, receipt] {
            let again = serde_json::to_value(&mail).unwrap();
            let before: serde_json::Value =
                serde_json::from_str(&written(&mail.about.to_string())).unwrap();
            assert_eq!(again["case"], before["case"], "written as before");
            assert_eq!(serde_json::from_value::<Outgoing>(again).unwrap(), mail);
        }
    }

    #[test]
    fn a_refused_address_keeps_lettres_reason() {
        let e = mailbox(Some("Anna"), "not an address").unwrap_err();
        assert!(e.to_string().starts_with("cannot build the mail: "), "{e}");
        assert!(e
            .source()
            .is_some_and(|c| c.is::<lettre::address::AddressError>()));
    }

    #[test]
    fn a_thread_names_only_safe_ids_and_at_most_twenty_references() {
        let refs: Vec<String> = (0..30)
            .map(|i| format!("r{i}@x"))
            .chain(["bad<id".into()])
            .collect();
        let b = in_thread(lettre::Message::builder(), "first@x", &refs);
        let m = b
            .from("a@x".parse().unwrap())
            .to("b@x".parse().unwrap())
            .body(String::from("x"))
            .unwrap();
        let text = String::from_utf8(m.formatted()).unwrap();
        assert!(text.contains("In-Reply-To: <first@x>"), "{text}");
        let refs_line: String = text
            .split("\r\n")
            .skip_while(|l| !l.starts_with("References:"))
            .take_while(|l| l.starts_with("References:") || l.starts_with(' '))
            .collect();
        assert_eq!(refs_line.matches('<').count(), 21, "{refs_line}");
        assert!(!refs_line.contains("bad"), "{refs_line}");
        let unthreaded = in_thread(lettre::Message::builder(), "bad<id", &refs)
            .from("a@x".parse().unwrap())
            .to("b@x".parse().unwrap())
            .body(String::from("x"))
            .unwrap();
        assert!(!String::from_utf8(unthreaded.formatted())
            .unwrap()
            .contains("In-Reply-To"));
    }
}
