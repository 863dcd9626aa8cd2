//! What kvittens reads of an incoming mail: the facts the decision needs, taken from the raw
//! bytes with mail-parser. Pure code; never fails — a message that cannot be parsed still gets a
//! value, with empty fields, so that it is decided (and ignored) rather than crashing anything.

use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders};

/// A mailbox address with its display name.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Person {
    /// The display name, decoded, with control characters removed.
    pub name: Option<String>,
    /// The address, lower-cased.
    pub email: String,
}

impl Person {
    /// The part before the `@`.
    pub fn local_part(&self) -> &str {
        self.email
            .rsplit_once('@')
            .map_or(self.email.as_str(), |(l, _)| l)
    }

    /// The part after the `@`.
    pub fn domain(&self) -> &str {
        self.email.rsplit_once('@').map_or("", |(_, d)| d)
    }
}

/// The facts of one incoming message.
#[derive(Clone, Debug, Default)]
pub struct Inbound {
    /// Whether mail-parser could read the message at all.
    pub parsed: bool,
    /// The Message-ID, without angle brackets.
    pub message_id: Option<String>,
    /// In-Reply-To and References ids, without angle brackets.
    pub references: Vec<String>,
    /// The first From address.
    pub from: Option<Person>,
    /// The first Reply-To address.
    pub reply_to: Option<Person>,
    /// The subject, decoded; `None` when missing.
    pub subject: Option<String>,
    /// Every header of the top-level part: name lower-cased, value as raw text (unfolded).
    pub headers: Vec<(String, String)>,
    /// The top-level MIME type, e.g. `multipart/report`, with its `report-type` when present.
    pub content_type: String,
    /// The `report-type` parameter of a multipart/report.
    pub report_type: Option<String>,
    /// The start of the first text body, for language detection.
    pub text_preview: String,
    /// Case numbers of kvittens receipts this message quotes (a delivery report quotes the
    /// headers of the mail that bounced).
    pub mentioned_receipts: Vec<String>,
    /// Why only the top-level header was read (over the bounds of [`crate::bounds`], or set
    /// aside after kvittens stopped or failed while reading it): the case is flagged for a
    /// person, and the officer gets the header, not the body.
    pub header_only: Option<String>,
}

impl Inbound {
    /// Reads a raw RFC 5322 message.
    pub fn parse(raw: &[u8]) -> Inbound {
        // Bounded before mail-parser builds its tree (see `bounds`): one hostile mail must not
        // stop the process, and with it every department's receipts.
        if let Err(over) = crate::bounds::check(raw) {
            return Inbound::header_only(raw, format!("over the bounds: {over}"));
        }
        let Some(msg) = MessageParser::default().parse(raw) else {
            return Inbound::default();
        };
        let mut references = Vec::new();
        for value in [msg.in_reply_to(), msg.references()] {
            push_ids(value, &mut references);
        }
        references.dedup();
        let headers = msg
            .headers_raw()
            .map(|(name, value)| (name.to_ascii_lowercase(), unfold(value)))
            .collect();
        let (content_type, report_type) = match msg.root_part().content_type() {
            Some(ct) => (
                format!(
                    "{}/{}",
                    ct.ctype().to_ascii_lowercase(),
                    ct.subtype().unwrap_or("").to_ascii_lowercase()
                ),
                ct.attribute("report-type").map(|s| s.to_ascii_lowercase()),
            ),
            None => ("text/plain".to_string(), None),
        };
        Inbound {
            parsed: true,
            message_id: msg.message_id().map(clean_id).filter(|s| !s.is_empty()),
            references,
            from: first_person(msg.from()),
            reply_to: first_person(msg.reply_to()),
            subject: msg.subject().map(clean_text),
            headers,
            content_type,
            report_type,
            text_preview: msg
                .body_text(0)
                .map(|t| t.chars().take(2000).collect())
                .unwrap_or_default(),
            mentioned_receipts: mentioned_receipts(raw),
            header_only: None,
        }
    }

    /// Every value of header `name` (lower-case).
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of header `name` (lower-case).
    pub fn header<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        self.header_values(name).next()
    }

    /// Where a reply goes: Reply-To, else From.
    pub fn reply_address(&self) -> Option<&Person> {
        self.reply_to.as_ref().or(self.from.as_ref())
    }
}

/// Removes CR, LF and other control characters and folds runs of white space: a decoded
/// subject or name may carry them (encoded words can hide a CR/LF), and none may reach a header
/// of a mail kvittens sends.
pub fn clean_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split(|c: char| c.is_whitespace() || c.is_control()) {
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

fn mentioned_receipts(raw: &[u8]) -> Vec<String> {
    static RE: std::sync::OnceLock<regex::bytes::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::bytes::Regex::new(r"kvittens\.receipt\.([A-Z][A-Z0-9]{0,9}-\d{4}-\d{4,6})@")
            .expect("valid regex")
    });
    let head = &raw[..raw.len().min(4 * 1024 * 1024)];
    let mut found: Vec<String> = re
        .captures_iter(head)
        .filter_map(|c| {
            c.get(1)
                .map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned())
        })
        .collect();
    found.dedup();
    found
}

fn unfold(value: &str) -> String {
    clean_text(value)
}

fn clean_id(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_string()
}

fn push_ids(value: &HeaderValue<'_>, out: &mut Vec<String>) {
    match value {
        HeaderValue::Text(t) => out.push(clean_id(t)),
        HeaderValue::TextList(list) => out.extend(list.iter().map(|t| clean_id(t))),
        _ => {}
    }
    out.retain(|id| !id.is_empty());
}

fn first_person(address: Option<&Address<'_>>) -> Option<Person> {
    let addr = address?.first()?;
    let email = addr.address()?.trim().to_lowercase();
    // An address must have exactly one @ with something on both sides, and nothing that could
    // break out of a header.
    let valid = email.matches('@').count() == 1
        && !email.starts_with('@')
        && !email.ends_with('@')
        && !email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"".contains(c));
    if !valid {
        return None;
    }
    let name = addr.name().map(clean_text).filter(|n| !n.is_empty());
    Some(Person { name, email })
}

/// What kvittens reads of a message it must not parse whole.
impl Inbound {
    /// Reads only the top-level header of `raw`, cut to the bounds, never its MIME structure:
    /// for a message over the bounds, or one set aside because kvittens stopped or failed while
    /// reading it. `why` is kept in [`Inbound::header_only`].
    pub fn header_only(raw: &[u8], why: String) -> Inbound {
        let head = crate::bounds::top_header(raw);
        // Within the bounds by construction; checked again so that this can never recurse.
        let mut msg = match crate::bounds::check(&head) {
            Ok(_) => Inbound::parse(&head),
            Err(_) => Inbound::default(),
        };
        msg.mentioned_receipts = mentioned_receipts(raw);
        msg.header_only = Some(why);
        msg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_facts() {
        let raw = b"From: =?utf-8?q?Anna_=C3=85berg?= <Anna@Example.ORG>\r\n\
Reply-To: anna.privat@example.org\r\n\
To: bygg@kommun.test\r\n\
Subject: =?iso-8859-1?q?Fr=E5ga_om_bygglov?=\r\n\
Message-ID: <abc@example.org>\r\n\
In-Reply-To: <x1@example.org>\r\n\
References: <x0@example.org> <x1@example.org>\r\n\
\r\n\
Hej! Jag undrar hur det g\xc3\xa5r.\r\n";
        let m = Inbound::parse(raw);
        assert!(m.parsed);
        assert_eq!(m.message_id.as_deref(), Some("abc@example.org"));
        assert_eq!(m.subject.as_deref(), Some("Fråga om bygglov"));
        let from = m.from.clone().unwrap();
        assert_eq!(from.email, "anna@example.org");
        assert_eq!(from.name.as_deref(), Some("Anna Åberg"));
        assert_eq!(m.reply_address().unwrap().email, "anna.privat@example.org");
        assert!(m.references.contains(&"x0@example.org".to_string()));
        assert!(m.references.contains(&"x1@example.org".to_string()));
        assert_eq!(m.header("to"), Some("bygg@kommun.test"));
        assert!(m.text_preview.starts_with("Hej!"));
    }

    #[test]
    fn strips_line_breaks_hidden_in_encoded_words() {
        // "Hej\r\nBcc: victim@example.org" in base64.
        let raw = b"From: =?utf-8?b?RXZpbA0KQmNjOiB4QHkub3Jn?= <evil@example.org>\r\n\
Subject: =?utf-8?b?SGVqDQpCY2M6IHZpY3RpbUBleGFtcGxlLm9yZw==?=\r\n\r\nbody\r\n";
        let m = Inbound::parse(raw);
        let subject = m.subject.unwrap();
        assert!(
            !subject.contains('\r') && !subject.contains('\n'),
            "{subject:?}"
        );
        assert_eq!(subject, "Hej Bcc: victim@example.org");
        let name = m.from.unwrap().name.unwrap();
        assert!(!name.contains('\n'), "{name:?}");
    }

    #[test]
    fn garbage_gives_empty_facts_not_a_panic() {
        for raw in [
            &b""[..],
            b"\xff\xfe\x00",
            b"From: <>\r\n\r\n",
            b"Subject\r\n\r\n",
        ] {
            let m = Inbound::parse(raw);
            assert!(m.from.is_none());
        }
    }

    #[test]
    fn rejects_addresses_that_are_not_addresses() {
        let m = Inbound::parse(b"From: \"x\" <a@b@c>\r\n\r\n");
        assert!(m.from.is_none());
        let m = Inbound::parse(b"From: nobody\r\n\r\n");
        assert!(m.from.is_none());
    }
}
