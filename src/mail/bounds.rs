//! Bounds on what reaches the MIME parser. A message is walked once, linearly and without
//! recursion, before mail-parser builds its tree: mail-parser 0.11.9 builds `message/rfc822`
//! nesting as a tree of nested values whose drop (and `into_owned` for encoded parts) recurses
//! once per level, so 100 000 levels — 3.2 MB of `Content-Type: message/rfc822` lines —
//! overflow any thread's stack and abort the process. The same walk bounds the parser's other
//! costs that grow faster than the message: encoded words that fail to decode are rescanned to
//! the end of their header field (quadratic in the field), and a multipart part whose boundary
//! never comes is searched for to the end of the message (quadratic in the number of parts).
//!
//! The walk uses mail-parser's own tokenizer ([`MessageStream`]) with the same control flow as
//! `MessageParser::parse`, so that it sees boundaries, header blocks, content types and the
//! default type in a `multipart/digest` (RFC 2046 §5.1.5) exactly as the parser will; it keeps
//! counters where the parser builds parts. A message over a bound is still a resident's mail:
//! [`top_header`] gives its top-level header, cut to the bounds, for a header-only reading.

use mail_parser::parsers::MessageStream;
use mail_parser::{ContentType, GetHeader, HeaderName, HeaderValue, MessageParser};
use std::borrow::Cow;
use std::fmt;

/// How deep MIME parts may nest (multipart and `message/rfc822` levels together, the top-level
/// message being level 0). Real mail rarely passes 5: a forward of a forward of a mail with
/// an attachment is 4 or 5.
pub const MAX_DEPTH: usize = 20;

/// How many MIME parts (header blocks) a message may have, nested messages included. Real mail
/// with many attachments has a few dozen.
pub const MAX_PARTS: usize = 500;

/// How large one header block may be, in bytes (256 KiB). RFC 5322 sets no limit; real headers
/// with long Received and signature chains stay under 64 KiB.
pub const MAX_HEADER_BYTES: usize = 256 * 1024;

/// How many header fields one header block may have.
pub const MAX_HEADER_FIELDS: usize = 5_000;

/// How many bytes the decoding of encoded words (RFC 2047) may scan in all, over every header
/// block of a message (64 Mi). A start of an encoded word (`=?`) that does not decode is
/// rescanned up to the end of its (unfolded) field; the bound is taken as starts × field
/// length. A To: with 500 recipients, each with an encoded name, is about 15 Mi.
pub const MAX_ENCODED_WORD_WORK: u64 = 64 * 1024 * 1024;

/// How many times over its size (with decoded nested messages) the parser may scan a message
/// for its boundaries; plus [`WORK_SLACK`]. Well-formed mail is scanned about once.
pub const WORK_FACTOR: u64 = 8;

/// Bytes of boundary scanning allowed on top of [`WORK_FACTOR`] (1 MiB), so that small
/// messages with a few broken boundaries pass.
pub const WORK_SLACK: u64 = 1024 * 1024;

/// How many encoded (base64 or quoted-printable) `message/rfc822` parts mail-parser decodes and
/// parses inside one another (its `MAX_NESTED_ENCODED`).
const NESTED_ENCODED: usize = 3;

/// Which bound a message passes, in words for a case's timeline and the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Over(pub String);

impl fmt::Display for Over {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the walk found in a message within the bounds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shape {
    /// The deepest nesting level reached (0: a single-part message).
    pub depth: usize,
    /// The number of header blocks (parts) the parser will read.
    pub parts: usize,
}

/// Walks `raw` as mail-parser will and checks every bound; linear in the size of the message
/// (with its decoded nested messages) and never recursive.
///
/// # Errors
/// [`Over`] naming the first bound the message exceeds.
pub fn check(raw: &[u8]) -> Result<Shape, Over> {
    let mut walk = Walk::default();
    let mut jobs = vec![Job {
        data: Cow::Borrowed(raw),
        nested_left: NESTED_ENCODED,
        base: 0,
    }];
    walk.size = raw.len() as u64;
    while let Some(job) = jobs.pop() {
        walk.message(&job, &mut jobs)?;
    }
    Ok(walk.shape)
}

/// The top-level header of `raw` cut to the bounds, ending in an empty line: the fields in
/// order, as long as the block stays under [`MAX_HEADER_BYTES`] and [`MAX_HEADER_FIELDS`];
/// a field whose encoded words alone would pass [`MAX_ENCODED_WORD_WORK`] is left out. What a
/// header-only reading of a message over the bounds (or one set aside) gets; always within the
/// bounds itself.
pub fn top_header(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut fields, mut work) = (0usize, 0u64);
    for field in Fields::new(raw) {
        let cost = field.encoded_word_work();
        if out.len() + field.bytes.len() + 2 > MAX_HEADER_BYTES || fields >= MAX_HEADER_FIELDS {
            break;
        }
        if work + cost > MAX_ENCODED_WORD_WORK / 2 {
            continue;
        }
        work += cost;
        fields += 1;
        out.extend_from_slice(field.bytes);
        if !field.bytes.ends_with(b"\n") {
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// One message to walk: the top-level one, or an encoded `message/rfc822` part, decoded.
struct Job<'a> {
    data: Cow<'a, [u8]>,
    /// How many more encoded levels mail-parser will parse below this one.
    nested_left: usize,
    /// The nesting level of this message within the top-level one.
    base: usize,
}

/// What the walk needs to know of an open level, where the parser keeps its state.
struct Level {
    kind: Kind,
    boundary: Option<Vec<u8>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A (nested) message: the parser's `MimeType::Message`.
    Message,
    /// A multipart/digest: its parts default to `message/rfc822`.
    Digest,
    /// Any other multipart.
    Multipart,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Transfer {
    Base64,
    QuotedPrintable,
    Identity,
}

#[derive(Default)]
struct Walk {
    shape: Shape,
    /// Bytes scanned for boundaries and headers so far.
    work: u64,
    /// Bytes of the messages walked (the top-level one and the decoded nested ones).
    size: u64,
    encoded_word_work: u64,
}

impl Walk {
    fn charge(&mut self, bytes: usize) -> Result<(), Over> {
        self.work += bytes as u64;
        let limit = self.size * WORK_FACTOR + WORK_SLACK;
        if self.work > limit {
            return Err(Over(format!(
                "the MIME parser would scan over {limit} bytes for boundaries (more than {WORK_FACTOR} times the message)"
            )));
        }
        Ok(())
    }

    fn level(&mut self, depth: usize) -> Result<(), Over> {
        self.shape.depth = self.shape.depth.max(depth);
        if depth > MAX_DEPTH {
            return Err(Over(format!("MIME parts nest over {MAX_DEPTH} deep")));
        }
        Ok(())
    }

    /// Checks the header block at the start of `data` before the parser reads it.
    fn header(&mut self, data: &[u8]) -> Result<(), Over> {
        self.shape.parts += 1;
        if self.shape.parts > MAX_PARTS {
            return Err(Over(format!("more than {MAX_PARTS} MIME parts")));
        }
        let (mut bytes, mut fields) = (0usize, 0usize);
        for field in Fields::new(data) {
            bytes += field.bytes.len();
            fields += 1;
            self.encoded_word_work += field.encoded_word_work();
            if bytes > MAX_HEADER_BYTES {
                return Err(Over(format!(
                    "a header block over {MAX_HEADER_BYTES} bytes"
                )));
            }
            if fields > MAX_HEADER_FIELDS {
                return Err(Over(format!(
                    "a header block of more than {MAX_HEADER_FIELDS} fields"
                )));
            }
            if self.encoded_word_work > MAX_ENCODED_WORD_WORK {
                return Err(Over(
                    "encoded words (RFC 2047) that would take the parser too long to decode"
                        .to_string(),
                ));
            }
        }
        Ok(())
    }

    /// Walks one message as `MessageParser::parse_` does, without building it.
    fn message<'a>(&mut self, job: &Job<'a>, jobs: &mut Vec<Job<'a>>) -> Result<(), Over> {
        let parser = MessageParser::default();
        let data: &[u8] = &job.data;
        let mut stream = MessageStream::new(data);
        let mut state = Level {
            kind: Kind::Message,
            boundary: None,
        };
        let mut stack: Vec<(Level, bool)> = Vec::new();
        loop {
            let start = stream.offset();
            self.header(data.get(start..).unwrap_or_default())?;
            let mut headers = Vec::new();
            let complete = stream.parse_headers(&parser, &mut headers);
            self.charge(stream.offset() - start)?;
            if !complete {
                break;
            }
            let content_type = headers
                .header_value(&HeaderName::ContentType)
                .and_then(|c| c.as_content_type());
            let (multipart, mut message) = classify(content_type, state.kind);
            if let Some(kind) = multipart {
                if let Some(boundary) = content_type.and_then(|c| c.attribute("boundary")) {
                    let (before, rest) = (stream.offset(), stream.remaining());
                    if stream.seek_next_part(boundary.as_bytes()) {
                        self.charge(stream.offset() - before)?;
                        stack.push((state, false));
                        state = Level {
                            kind,
                            boundary: Some(boundary.as_bytes().to_vec()),
                        };
                        self.level(job.base + stack.len())?;
                        stream.skip_crlf();
                        continue;
                    }
                    self.charge(rest)?;
                }
                message = false;
            }
            let transfer = transfer(headers.header_value(&HeaderName::ContentTransferEncoding));
            if message && transfer == Transfer::Identity {
                let boundary = state.boundary.take();
                stack.push((state, true));
                state = Level {
                    kind: Kind::Message,
                    boundary,
                };
                self.level(job.base + stack.len())?;
                continue;
            }
            self.leaf(
                &mut stream,
                &mut state,
                (transfer, message),
                job,
                stack.len(),
                jobs,
            )?;
            if state.boundary.is_some() {
                if !self.climb(&mut stream, &mut state, &mut stack)? {
                    break;
                }
            } else if stream.offset() >= data.len() {
                break;
            }
        }
        Ok(())
    }

    /// After a part inside a multipart: climbs out of the levels that end here, as the parser
    /// does. `Ok(false)` when the whole message ends, `Ok(true)` when a next part follows.
    fn climb(
        &mut self,
        stream: &mut MessageStream<'_>,
        state: &mut Level,
        stack: &mut Vec<(Level, bool)>,
    ) -> Result<bool, Over> {
        loop {
            if state.kind == Kind::Message {
                match stack.pop() {
                    Some((mut parent, true)) => {
                        parent.boundary = state.boundary.take();
                        *state = parent;
                    }
                    _ => return Ok(false),
                }
            }
            let before = stream.offset();
            if !stream.is_multipart_end() {
                return Ok(true);
            }
            self.charge(stream.offset() - before)?;
            if let Some((parent, _)) = stack.pop() {
                *state = parent;
                if let Some(boundary) = state.boundary.clone() {
                    let (before, rest) = (stream.offset(), stream.remaining());
                    if stream.seek_next_part_offset(&boundary).is_some() {
                        self.charge(stream.offset() - before)?;
                        continue;
                    }
                    self.charge(rest)?;
                }
            }
            return Ok(false);
        }
    }

    /// A part with a body of its own: the stream moves past it as the parser's decoder moves;
    /// an encoded nested message is queued, as the parser decodes and parses it.
    fn leaf<'a>(
        &mut self,
        stream: &mut MessageStream<'_>,
        state: &mut Level,
        (transfer, message): (Transfer, bool),
        job: &Job<'a>,
        open: usize,
        jobs: &mut Vec<Job<'a>>,
    ) -> Result<(), Over> {
        let boundary = state.boundary.clone().unwrap_or_default();
        let (before, rest) = (stream.offset(), stream.remaining());
        let (end, bytes) = match transfer {
            Transfer::Base64 => stream.decode_base64_mime(&boundary),
            Transfer::QuotedPrintable => stream.decode_quoted_printable_mime(&boundary),
            Transfer::Identity => stream.mime_part(&boundary),
        };
        if end == usize::MAX {
            // The decoder found no end and went back: the parser searches again.
            self.charge(rest)?;
            let before = stream.offset();
            let (_, found) = stream.seek_part_end(state.boundary.as_deref());
            self.charge(stream.offset() - before)?;
            if !found {
                state.boundary = None;
            }
            return Ok(());
        }
        self.charge(stream.offset() - before)?;
        if message && job.nested_left > 0 {
            let base = job.base + open + 1;
            self.level(base)?;
            self.size += bytes.len() as u64;
            jobs.push(Job {
                data: Cow::Owned(bytes.into_owned()),
                nested_left: job.nested_left - 1,
                base,
            });
        }
        Ok(())
    }
}

/// Whether a part opens a multipart level (and which), and whether it is a nested message —
/// mail-parser's `mime_type` for the parts the walk cares about.
fn classify(content_type: Option<&ContentType<'_>>, parent: Kind) -> (Option<Kind>, bool) {
    match content_type {
        Some(ct) => match ct.ctype() {
            "multipart" if ct.subtype() == Some("digest") => (Some(Kind::Digest), false),
            "multipart" => (Some(Kind::Multipart), false),
            "message" => (None, matches!(ct.subtype(), Some("rfc822" | "global"))),
            _ => (None, false),
        },
        None => (None, parent == Kind::Digest),
    }
}

fn transfer(value: Option<&HeaderValue<'_>>) -> Transfer {
    match value {
        Some(HeaderValue::Text(t)) if t.eq_ignore_ascii_case("base64") => Transfer::Base64,
        Some(HeaderValue::Text(t)) if t.eq_ignore_ascii_case("quoted-printable") => {
            Transfer::QuotedPrintable
        }
        _ => Transfer::Identity,
    }
}

/// One header field with its continuation lines.
struct Field<'a> {
    bytes: &'a [u8],
}

impl Field<'_> {
    /// An upper bound on what decoding its encoded words costs: every `=?` may be rescanned to
    /// the end of the field.
    fn encoded_word_work(&self) -> u64 {
        let starts = self.bytes.windows(2).filter(|w| w == b"=?").count() as u64;
        starts * self.bytes.len() as u64
    }
}

/// The fields of the header block at the start of a byte string. The block ends at a line of
/// nothing but CRs (where mail-parser's header reader ends it at the latest) or at the end.
struct Fields<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    fn new(data: &'a [u8]) -> Fields<'a> {
        Fields { data, pos: 0 }
    }

    /// The line starting at `at`, with its LF; a line is not looked at beyond the header
    /// bound, so that a long body without line breaks costs nothing per part.
    fn line(&self, at: usize) -> &'a [u8] {
        let rest = &self.data[at..];
        let rest = &rest[..rest.len().min(MAX_HEADER_BYTES + 1)];
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => &rest[..=i],
            None => rest,
        }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Field<'a>;

    fn next(&mut self) -> Option<Field<'a>> {
        let start = self.pos;
        let first = self.line(start);
        if first.is_empty() || first.iter().all(|&b| b == b'\r' || b == b'\n') {
            return None;
        }
        let mut end = start + first.len();
        while end < self.data.len()
            && end - start <= MAX_HEADER_BYTES
            && matches!(self.data[end], b' ' | b'\t')
        {
            end += self.line(end).len();
        }
        self.pos = end;
        Some(Field {
            bytes: &self.data[start..end],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "From: Anna <anna@medborgare.test>\r\nTo: bygg@kommun.test\r\nSubject: Fråga\r\nMessage-ID: <deep@medborgare.test>\r\nMIME-Version: 1.0\r\n";

    /// The poison of the issue: `message/rfc822` nested `levels` deep, 32 bytes a level.
    pub(crate) fn nested_messages(levels: usize) -> Vec<u8> {
        let mut raw = format!("{HEAD}Content-Type: message/rfc822\r\n\r\n").into_bytes();
        for _ in 0..levels {
            raw.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
        }
        raw
    }

    fn nested_multiparts(levels: usize) -> Vec<u8> {
        let mut raw = HEAD.to_string();
        for i in 0..levels {
            raw.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"
            ));
        }
        raw.push_str("Content-Type: text/plain\r\n\r\nHej\r\n");
        for i in (0..levels).rev() {
            raw.push_str(&format!("--b{i}--\r\n"));
        }
        raw.into_bytes()
    }

    fn base64(data: &[u8]) -> String {
        const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for (i, c) in data.chunks(3).enumerate() {
            let n = u32::from(c[0]) << 16
                | u32::from(*c.get(1).unwrap_or(&0)) << 8
                | u32::from(*c.get(2).unwrap_or(&0));
            for k in 0..4 {
                if k <= c.len() {
                    out.push(T[(n >> (18 - 6 * k) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
            if i % 19 == 18 {
                out.push_str("\r\n");
            }
        }
        out
    }

    #[test]
    fn both_poison_variants_are_over_the_depth_bound() {
        for levels in [100_000, 300_000] {
            let raw = nested_messages(levels);
            assert!(raw.len() > levels * 32);
            let over = check(&raw).unwrap_err();
            assert!(over.0.contains("nest over 20"), "{over}");
        }
    }

    #[test]
    fn depth_is_counted_as_the_parser_nests() {
        assert_eq!(check(&nested_messages(19)).unwrap().depth, 20);
        assert!(check(&nested_messages(20)).is_err());
        assert_eq!(check(&nested_multiparts(20)).unwrap().depth, 20);
        assert!(check(&nested_multiparts(21)).is_err());
        assert!(check(&nested_multiparts(5_000)).is_err());
        for raw in [nested_messages(7), nested_multiparts(7)] {
            let parsed = MessageParser::default().parse(&raw).unwrap();
            // The innermost empty message is kept as text: the walk counts one level more.
            let (built, counted) = (tree_depth(&parsed), check(&raw).unwrap().depth);
            assert!(
                counted == built || counted == built + 1,
                "{counted} {built}"
            );
        }
    }

    #[test]
    fn nesting_inside_encoded_messages_counts_too() {
        // mail-parser decodes a base64 message/rfc822 part and parses it: the nesting inside
        // is as dangerous as nesting in the clear.
        let inner = "Content-Type: message/rfc822\r\n\r\n".repeat(100_000);
        let raw = format!(
            "{HEAD}Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            base64(inner.as_bytes())
        );
        assert!(check(raw.as_bytes()).unwrap_err().0.contains("nest"));
        let inner = "Content-Type: message/rfc822\r\n\r\n".repeat(3);
        let raw = format!(
            "{HEAD}Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            base64(inner.as_bytes())
        );
        assert_eq!(check(raw.as_bytes()).unwrap().depth, 4);
    }

    #[test]
    fn digest_parts_are_messages_by_default() {
        let mut raw =
            format!("{HEAD}Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\n");
        raw.push_str(&"Content-Type: message/rfc822\r\n\r\n".repeat(30));
        raw.push_str("\r\n--d--\r\n");
        assert!(check(raw.as_bytes()).is_err());
    }

    #[test]
    fn parts_are_counted() {
        let flat = |n: usize| {
            let mut raw = format!("{HEAD}Content-Type: multipart/mixed; boundary=p\r\n\r\n");
            for i in 0..n {
                raw.push_str(&format!(
                    "--p\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n"
                ));
            }
            raw.push_str("--p--\r\n");
            raw
        };
        assert_eq!(check(flat(499).as_bytes()).unwrap().parts, 500);
        assert!(check(flat(500).as_bytes())
            .unwrap_err()
            .0
            .contains("500 MIME parts"));
    }

    #[test]
    fn header_blocks_are_bounded() {
        let big = format!("{HEAD}X-Filler: {}\r\n\r\nHej\r\n", "a".repeat(300 * 1024));
        assert!(check(big.as_bytes())
            .unwrap_err()
            .0
            .contains("262144 bytes"));
        let many = format!("{HEAD}{}\r\nHej\r\n", "X-A: b\r\n".repeat(6_000));
        assert!(check(many.as_bytes())
            .unwrap_err()
            .0
            .contains("5000 fields"));
        // Encoded-word starts that never decode, each rescanned to the end of the field.
        let words = format!(
            "{HEAD}Subject: {}\r\n\r\nHej\r\n",
            "=?ab?q?aa".repeat(16_000)
        );
        assert!(check(words.as_bytes())
            .unwrap_err()
            .0
            .contains("encoded words"));
    }

    #[test]
    fn boundaries_that_never_come_are_bounded() {
        // Every part claims a multipart boundary that does not exist: the parser searches the
        // rest of the message for each.
        let mut raw = format!("{HEAD}Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n");
        for _ in 0..400 {
            raw.push_str("Content-Type: multipart/mixed; boundary=zzz\r\n\r\nx\r\n--a\r\n");
        }
        raw.push_str(&"y".repeat(200_000));
        raw.push_str("\r\n--a--\r\n");
        assert!(check(raw.as_bytes()).unwrap_err().0.contains("scan"));
    }

    #[test]
    fn real_mail_with_nested_forwards_passes_and_parses() {
        let forward = |inner: &str, n: usize| {
            format!(
                "From: p{n}@example.org\r\nSubject: Fwd {n}\r\nContent-Type: multipart/mixed; boundary=\"f{n}\"\r\n\r\n--f{n}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSe nedan.\r\n--f{n}\r\nContent-Type: message/rfc822\r\n\r\n{inner}\r\n--f{n}--\r\n"
            )
        };
        let mut raw =
            "From: a@example.org\r\nSubject: Original\r\n\r\nHej, en fråga.\r\n".to_string();
        for n in 0..6 {
            raw = forward(&raw, n);
        }
        let shape = check(raw.as_bytes()).unwrap();
        assert_eq!(shape.depth, 12);
        let parsed = MessageParser::default().parse(raw.as_bytes()).unwrap();
        assert_eq!(parsed.subject(), Some("Fwd 5"));
        assert_eq!(
            parsed.body_text(0).as_deref().map(str::trim),
            Some("Se nedan.")
        );
    }

    /// The nesting depth of the tree mail-parser built, walked without recursion.
    fn tree_depth(msg: &mail_parser::Message<'_>) -> usize {
        use mail_parser::PartType;
        let mut deepest = 0;
        let mut todo = vec![(msg, 0usize)];
        while let Some((m, base)) = todo.pop() {
            let mut levels = vec![0usize; m.parts.len()];
            for (i, part) in m.parts.iter().enumerate() {
                let d = base + levels[i];
                deepest = deepest.max(d);
                match &part.body {
                    PartType::Multipart(ids) => {
                        let below = levels[i] + 1;
                        for &id in ids {
                            if let Some(l) = levels.get_mut(id as usize) {
                                *l = (*l).max(below);
                            }
                        }
                    }
                    PartType::Message(inner) => todo.push((inner, d + 1)),
                    _ => {}
                }
            }
        }
        deepest
    }

    /// A random MIME tree, written out with boundaries that are sometimes shared, missing or
    /// never closed, and nested messages sometimes base64-encoded.
    fn tree() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just("Content-Type: text/plain\r\n\r\nHej\r\n".to_string()),
            Just("\r\nBara text\r\n".to_string()),
            Just("Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nQUFB\r\n".to_string()),
        ];
        leaf.prop_recursive(6, 40, 4, |inner| {
            prop_oneof![
                (
                    prop::sample::select(vec!["mixed", "alternative", "digest", "related"]),
                    0..4usize,
                    prop::collection::vec(inner.clone(), 0..4),
                    any::<bool>(),
                )
                    .prop_map(|(sub, b, kids, close)| {
                        let mut s = format!(
                            "Content-Type: multipart/{sub}; boundary=\"b{b}\"\r\n\r\n"
                        );
                        for k in kids {
                            s.push_str(&format!("--b{b}\r\n{k}"));
                        }
                        if close {
                            s.push_str(&format!("--b{b}--\r\n"));
                        }
                        s
                    }),
                (inner, any::<bool>()).prop_map(|(k, encoded)| {
                    if encoded {
                        format!(
                            "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
                            base64(format!("Subject: x\r\n{k}").as_bytes())
                        )
                    } else {
                        format!("Content-Type: message/rfc822\r\n\r\nSubject: x\r\n{k}")
                    }
                }),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 300, ..Default::default() })]

        /// The walk never counts less than the parser builds.
        #[test]
        fn the_walk_never_undercounts(body in tree()) {
            let raw = format!("{HEAD}{body}");
            let shape = check(raw.as_bytes()).unwrap();
            let parsed = MessageParser::default().parse(raw.as_bytes()).unwrap();
            proptest::prop_assert!(shape.depth >= tree_depth(&parsed), "{} < {}: {raw:?}", shape.depth, tree_depth(&parsed));
        }
    }

    #[test]
    fn the_top_header_is_within_the_bounds() {
        for raw in [
            nested_messages(100_000),
            format!("{HEAD}X-Filler: {}\r\n\r\nHej\r\n", "a".repeat(300 * 1024)).into_bytes(),
            format!("{HEAD}{}\r\nHej\r\n", "X-A: b\r\n".repeat(6_000)).into_bytes(),
            format!("{HEAD}Subject: {}\r\n\r\nx\r\n", "=?ab?q?aa".repeat(16_000)).into_bytes(),
            b"no header at all".to_vec(),
            Vec::new(),
        ] {
            let head = top_header(&raw);
            assert!(check(&head).is_ok(), "{:?}", String::from_utf8_lossy(&head));
            assert!(head.ends_with(b"\r\n"));
        }
        let head = top_header(&nested_messages(10));
        let parsed = MessageParser::default().parse(&head).unwrap();
        assert_eq!(parsed.message_id(), Some("deep@medborgare.test"));
    }
}
