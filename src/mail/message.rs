//! What kvittens reads of an incoming mail: the facts the decision needs, taken from the raw
//! bytes with mail-parser. Pure code; never fails — a message that cannot be parsed still gets a
//! value, with empty fields, so that it is decided (and ignored) rather than crashing anything.

use crate::model::{Inbound, Person};
use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders};

impl Inbound {
    /// Reads a raw RFC 5322 message.
    pub fn parse(raw: &[u8]) -> Inbound {
        // Bounded before mail-parser builds its tree (see `bounds`): one hostile mail must not
        // stop the process, and with it every department's receipts.
        if let Err(over) = crate::mail::bounds::check(raw) {
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
        let fields = Fields::read(raw);
        let fields = fields.parsed();
        let subject = fields.as_ref().and_then(|f| f.subject()).map(clean_text);
        Inbound {
            parsed: true,
            message_id: msg.message_id().map(clean_id).filter(|s| !s.is_empty()),
            references,
            from: first_person(fields.as_ref().and_then(|f| f.from())),
            reply_to: first_person(fields.as_ref().and_then(|f| f.reply_to())),
            sender: first_person(fields.as_ref().and_then(|f| f.sender())),
            subject: subject.clone().filter(|s| readable(s)),
            subject_seen: subject.unwrap_or_default(),
            headers,
            content_type,
            report_type,
            parts: part_types(&msg),
            text_preview: msg
                .body_text(0)
                .map(|t| t.chars().take(2000).collect())
                .unwrap_or_default(),
            mentioned_receipts: mentioned_receipts(raw),
            header_only: None,
        }
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

/// Whether a decoded name or subject may be shown to a person: no replacement characters
/// (U+FFFD, bytes the charset could not map) and no escape debris — an encoded word left
/// undecoded (`=?utf-8?q?…?=`, RFC 2047 §2) or stray quoted-printable escapes (`=C3=B6`). A
/// garbled greeting is worse than none.
pub fn readable(text: &str) -> bool {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(r"=\?[^?\s]+\?[bBqQ]\?|(?:=[0-9A-F]{2}){2,}|=[89A-F][0-9A-F]")
            .expect("valid regex")
    });
    !text.contains('\u{FFFD}') && !re.is_match(text)
}

/// The MIME types of the message's own parts. mail-parser keeps them in one flat list, so this
/// is a loop, not a recursion (attached messages are not entered).
fn part_types(msg: &mail_parser::Message<'_>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in &msg.parts {
        let Some(ct) = part.content_type() else {
            continue;
        };
        let mut t = format!(
            "{}/{}",
            ct.ctype().to_ascii_lowercase(),
            ct.subtype().unwrap_or("").to_ascii_lowercase()
        );
        if t == "text/calendar" {
            if let Some(method) = ct.attribute("method") {
                t.push_str(&format!("; method={}", method.trim().to_ascii_lowercase()));
            }
        }
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

fn mentioned_receipts(raw: &[u8]) -> Vec<String> {
    crate::model::ids::receipts_named(&raw[..raw.len().min(4 * 1024 * 1024)])
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
    let name = addr.name().map(clean_text).filter(|n| !n.is_empty());
    let (name, email) = match addr.address() {
        Some(a) => (name, a.trim().to_lowercase()),
        // Some clients put name *and* address into one encoded word
        // (`=?utf-8?q?Fran=C3=A7ois_Dupont_=3Cfrancois.dupont=40example.test=3E?=`): the
        // address is then only in the decoded phrase.
        None => address_in_name(&name?)?,
    };
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
    let name = name.filter(|n| readable(n));
    Some(Person { name, email })
}

/// The `<address>` (or the bare address) in a decoded display name, and the name before it.
fn address_in_name(name: &str) -> Option<(Option<String>, String)> {
    if let (Some(open), Some(close)) = (name.rfind('<'), name.rfind('>')) {
        if open < close {
            let email = name[open + 1..close].trim().to_lowercase();
            let rest = name[..open].trim().trim_matches('"').trim();
            return Some(((!rest.is_empty()).then(|| rest.to_string()), email));
        }
    }
    let bare = name.trim();
    (bare.contains('@') && !bare.contains(char::is_whitespace)).then(|| (None, bare.to_lowercase()))
}

/// The header fields kvittens shows or judges by their address — Subject, From, Reply-To,
/// Sender — repaired before mail-parser decodes them: raw 8-bit values are read as UTF-8 when
/// valid, else as Windows-1252 (what such mail in practice is; RFC 6532 allows only UTF-8),
/// and adjacent encoded words of one charset are joined before their bytes are decoded, since
/// senders split a multi-byte character across two words although RFC 2047 §5 forbids it.
struct Fields(Vec<u8>);

impl Fields {
    const NAMES: [&'static str; 4] = ["subject", "from", "reply-to", "sender"];
    /// More header than this is not read for these fields (bytes).
    const HEAD_LIMIT: usize = 256 * 1024;

    fn read(raw: &[u8]) -> Fields {
        let mut out = Vec::new();
        for (name, value) in header_fields(raw, Self::HEAD_LIMIT) {
            let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
            if !Self::NAMES.contains(&lower.trim()) {
                continue;
            }
            let text = match std::str::from_utf8(&value) {
                Ok(t) => t.to_string(),
                Err(_) => encoding_rs::WINDOWS_1252.decode(&value).0.into_owned(),
            };
            out.extend_from_slice(name);
            out.push(b':');
            out.extend_from_slice(join_encoded_words(&text).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        Fields(out)
    }

    fn parsed(&self) -> Option<mail_parser::Message<'_>> {
        MessageParser::default().parse_headers(&self.0[..])
    }
}

/// The top-level header fields of `raw` as (name, unfolded value), up to the empty line or
/// `limit` bytes. Folding whitespace is kept, line breaks dropped (RFC 5322 §2.2.3).
fn header_fields(raw: &[u8], limit: usize) -> Vec<(&[u8], Vec<u8>)> {
    let head = &raw[..raw.len().min(limit)];
    let mut fields: Vec<(&[u8], Vec<u8>)> = Vec::new();
    for line in head.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if let Some((_, value)) = fields.last_mut() {
                value.extend_from_slice(line);
            }
            continue;
        }
        if let Some(colon) = line.iter().position(|b| *b == b':') {
            fields.push((&line[..colon], line[colon + 1..].to_vec()));
        }
    }
    fields
}

/// Joins runs of adjacent encoded words (only white space between them) that share a charset
/// into one UTF-8 encoded word, decoding their bytes together; anything it cannot decode is
/// left as it was for mail-parser.
fn join_encoded_words(value: &str) -> String {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=").expect("valid regex")
    });
    let words: Vec<_> = re.captures_iter(value).collect();
    let mut out = String::with_capacity(value.len());
    let mut at = 0;
    let mut i = 0;
    while i < words.len() {
        let charset = |k: usize| {
            let c = words[k].get(1).map_or("", |m| m.as_str());
            c.split('*').next().unwrap_or("").to_ascii_lowercase()
        };
        let start = words[i].get(0).map_or(0, |m| m.start());
        let mut j = i + 1;
        while j < words.len() {
            let gap = &value[words[j - 1].get(0).map_or(0, |m| m.end())
                ..words[j].get(0).map_or(0, |m| m.start())];
            if !gap.trim().is_empty() || charset(j) != charset(i) {
                break;
            }
            j += 1;
        }
        let end = words[j - 1].get(0).map_or(0, |m| m.end());
        let joined = (j - i > 1)
            .then(|| decode_run(&charset(i), &words[i..j]))
            .flatten();
        if let Some(text) = joined {
            out.push_str(&value[at..start]);
            out.push_str(&q_word(&text));
            at = end;
        }
        i = j;
    }
    out.push_str(&value[at..]);
    out
}

/// The text of a run of encoded words of one charset, their bytes decoded together.
fn decode_run(charset: &str, words: &[regex::Captures<'_>]) -> Option<String> {
    let encoding = encoding_rs::Encoding::for_label(charset.as_bytes())?;
    let mut bytes = Vec::new();
    for w in words {
        let payload = w.get(3).map_or("", |m| m.as_str());
        match w.get(2).map_or("", |m| m.as_str()) {
            "b" | "B" => bytes.extend(base64(payload)?),
            _ => bytes.extend(q_bytes(payload)?),
        }
    }
    let (text, _, errors) = encoding.decode(&bytes);
    (!errors).then(|| text.into_owned())
}

/// One UTF-8 "Q" encoded word (RFC 2047 §4.2) carrying `text`; letters and digits stay, every
/// other byte is escaped, so the word is safe in a phrase (RFC 2047 §5 (3)).
fn q_word(text: &str) -> String {
    let mut out = String::from("=?UTF-8?Q?");
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() {
            out.push(b as char);
        } else {
            out.push_str(&format!("={b:02X}"));
        }
    }
    out.push_str("?=");
    out
}

/// The bytes of a "Q" encoded payload (RFC 2047 §4.2); `None` when an escape is broken.
fn q_bytes(payload: &str) -> Option<Vec<u8>> {
    let p = payload.as_bytes();
    let mut out = Vec::with_capacity(p.len());
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            b'_' => out.push(b' '),
            b'=' => {
                let hex = std::str::from_utf8(p.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Some(out)
}

/// The bytes of a "B" (base64, RFC 2045 §6.8) payload; `None` when it is not base64. Padding
/// may be missing or present (senders differ), and stray bits at the end are tolerated.
fn base64(payload: &str) -> Option<Vec<u8>> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use base64::Engine as _;
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    LENIENT.decode(payload).ok()
}

/// What kvittens reads of a message it must not parse whole.
impl Inbound {
    /// Reads only the top-level header of `raw`, cut to the bounds, never its MIME structure:
    /// for a message over the bounds, or one set aside because kvittens stopped or failed while
    /// reading it. `why` is kept in [`Inbound::header_only`].
    pub fn header_only(raw: &[u8], why: String) -> Inbound {
        let head = crate::mail::bounds::top_header(raw);
        // Within the bounds by construction; checked again so that this can never recurse.
        let mut msg = match crate::mail::bounds::check(&head) {
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

    fn parse(head: &[u8]) -> Inbound {
        let mut raw = head.to_vec();
        raw.extend_from_slice(b"\r\n\r\nbody\r\n");
        Inbound::parse(&raw)
    }

    #[test]
    fn joins_a_character_split_across_encoded_words() {
        let m = parse(b"From: a@example.test\r\nSubject: =?UTF-8?Q?Ans=C3?= =?UTF-8?Q?=B6kan_om_bygglov_f=C3=B6r_garage?=");
        assert_eq!(m.subject.as_deref(), Some("Ansökan om bygglov för garage"));
        // Split in base64, folded onto the next line, and mixed B and Q of one charset.
        let m = parse(b"From: =?utf-8?B?w4Vz?=\r\n =?UTF-8?b?YQ==?= <a@example.test>\r\nSubject: =?utf-8?q?=C3?=\t=?UTF-8?B?pGxn?=");
        assert_eq!(m.from.unwrap().name.as_deref(), Some("Åsa"));
        assert_eq!(m.subject.as_deref(), Some("älg"));
        // Words of different charsets are decoded each on its own.
        let m =
            parse(b"From: a@example.test\r\nSubject: =?iso-8859-1?q?F=E5ga?= =?utf-8?q?_=C3=B6?=");
        assert_eq!(m.subject.as_deref(), Some("Fåga ö"));
        // Text between the words is kept.
        let m = parse(b"From: a@example.test\r\nSubject: =?utf-8?q?Hej?= och =?utf-8?q?h=C3=A5?=");
        assert_eq!(m.subject.as_deref(), Some("Hej och hå"));
        // A name with a comma keeps its address when its words are joined.
        let m = parse(b"From: =?utf-8?q?Berg=2C_S?= =?utf-8?q?ara?= <sara@example.test>");
        let from = m.from.unwrap();
        assert_eq!(from.name.as_deref(), Some("Berg, Sara"));
        assert_eq!(from.email, "sara@example.test");
    }

    #[test]
    fn east_asian_charsets_decode() {
        for (head, name) in [
            (
                &b"From: =?gb2312?B?zfW3vA==?= <wang.fang@example.test>"[..],
                "王芳",
            ),
            (b"From: =?big5?B?pKSk5Q==?= <a@example.test>", "中文"),
            (b"From: =?shift_jis?B?k/qWe4zq?= <a@example.test>", "日本語"),
            (
                b"From: =?iso-2022-jp?B?GyRCOzNFRBsoQg==?= <a@example.test>",
                "山田",
            ),
            (b"From: =?euc-kr?B?x9Gxub7u?= <a@example.test>", "한국어"),
        ] {
            let m = parse(head);
            assert_eq!(m.from.unwrap().name.as_deref(), Some(name), "{head:?}");
        }
        let m = parse(b"From: =?gb2312?B?zfW3vA==?= <wang.fang@example.test>");
        assert_eq!(m.from.unwrap().email, "wang.fang@example.test");
    }

    #[test]
    fn raw_eight_bit_headers_are_utf8_or_windows_1252() {
        let m = parse(
            b"From: J\xc3\xb6rgen <j@example.test>\r\nSubject: Fr\xc3\xa5ga om \xc3\xa4rende",
        );
        assert_eq!(m.from.unwrap().name.as_deref(), Some("Jörgen"));
        assert_eq!(m.subject.as_deref(), Some("Fråga om ärende"));
        let m = parse(
            b"From: J\xf6rgen <j@example.test>\r\nSubject: Fr\xe5ga om \xe4rende \x96 pris 50 \x80",
        );
        assert_eq!(m.from.unwrap().name.as_deref(), Some("Jörgen"));
        assert_eq!(m.subject.as_deref(), Some("Fråga om ärende – pris 50 €"));
    }

    #[test]
    fn garbled_names_and_subjects_are_never_shown() {
        for head in [
            // Bytes that are no UTF-8 inside a UTF-8 word.
            &b"From: =?utf-8?b?/3Rlc3Q=?= <a@example.test>\r\nSubject: =?utf-8?b?QW5z/2thbg==?="[..],
            // A charset nobody knows, and a broken escape: left as debris.
            b"From: =?x-unknown?q?Anna=E5?= <a@example.test>\r\nSubject: =?utf-8?q?broken=ZZ?=",
            // Quoted-printable escapes outside any encoded word.
            b"From: Anna=C3=85berg <a@example.test>\r\nSubject: Ans=C3=B6kan",
        ] {
            let m = parse(head);
            let from = m.from.unwrap();
            assert_eq!(from.email, "a@example.test", "{head:?}");
            assert_eq!(from.name, None, "{head:?}");
            assert_eq!(m.subject, None, "{head:?}");
            assert!(!m.subject_seen.is_empty(), "{head:?}");
        }
        assert!(readable("Pris = 50 kr, 3=3"));
        assert!(readable("Fråga om bygglov"));
        assert!(!readable("Fr\u{FFFD}ga"));
        assert!(!readable("=?utf-8?q?x?="));
        assert!(!readable("Ans=C3=B6kan"));
        assert!(!readable("Ans=F6kan"));
    }

    #[test]
    fn a_case_number_in_a_garbled_subject_is_still_seen() {
        let m = parse(b"From: a@example.test\r\nSubject: =?utf-8?b?/w==?= [BMN-2026-0007]");
        assert_eq!(m.subject, None);
        assert!(
            m.subject_seen.contains("BMN-2026-0007"),
            "{:?}",
            m.subject_seen
        );
    }

    #[test]
    fn finds_the_address_in_a_decoded_name() {
        let m =
            parse(b"From: =?utf-8?q?Fran=C3=A7ois_Dupont_=3Cfrancois.dupont=40example.test=3E?=");
        let from = m.from.unwrap();
        assert_eq!(from.email, "francois.dupont@example.test");
        assert_eq!(from.name.as_deref(), Some("François Dupont"));
        let m = parse(b"Reply-To: =?utf-8?q?=22Sara_Berg=22_=3CSara=40Example.test=3E?=");
        let to = m.reply_to.unwrap();
        assert_eq!(
            (to.name.as_deref(), to.email.as_str()),
            (Some("Sara Berg"), "sara@example.test")
        );
        let m = parse(b"From: =?utf-8?q?Fran=C3=A7ois?=");
        assert!(m.from.is_none());
    }

    #[test]
    fn lists_the_mime_types_of_the_tree() {
        let raw = b"From: a@example.test\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\nContent-Type: multipart/alternative; boundary=a\r\n\r\n--a\r\nContent-Type: text/plain\r\n\r\nx\r\n--a\r\nContent-Type: text/calendar; method=REPLY\r\n\r\nBEGIN:VCALENDAR\r\n--a--\r\n--m\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/disposition-notification\r\n\r\ninner\r\n--m--\r\n";
        let m = Inbound::parse(raw);
        for t in [
            "multipart/mixed",
            "multipart/alternative",
            "text/plain",
            "text/calendar; method=reply",
            "message/rfc822",
        ] {
            assert!(m.parts.contains(&t.to_string()), "{t} not in {:?}", m.parts);
        }
        // An attached message's own parts are the attachment's, not this mail's.
        assert!(
            !m.parts.iter().any(|t| t.contains("disposition")),
            "{:?}",
            m.parts
        );
    }
}
