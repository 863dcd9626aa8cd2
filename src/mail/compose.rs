//! Builds the mails kvittens sends — the receipt to the resident and the notice to the officer —
//! as finished RFC 5322 bytes with their envelope. Pure code: the result goes to the store's
//! outbox first and is sent from there, so a resend after a crash sends the very same bytes.

use crate::config::{Config, Department};
use crate::mail::outgoing::{
    in_thread, mailbox, marked, text_part, About, Automatic, ComposeError, Outgoing,
};
use crate::mail::templates::Templates;
use crate::mail::words::template_data;
use crate::model::{ids, Case, Kind, Language};
use crate::rules::decide::Reason;
use chrono::{DateTime, Utc};
use lettre::message::header::ContentType;
use lettre::message::{Attachment, MultiPart, SinglePart};
use lettre::Message;
use serde_json::json;

/// What the officer notice of a new case says beyond the case itself. The officer must never
/// be told that the resident has a receipt when none went, so the notice is built after the
/// receipt is decided, from these facts.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoticeFacts<'a> {
    /// Why no receipt went to the resident (`None`: it is queued). Codes: decide's
    /// `no_address`, `unverified_sender`, `no_auto_reply`; the loop breaker's `loop`;
    /// `daily_cap`; `registrar` (opened without one); `not_built`.
    pub no_receipt: Option<&'a Reason>,
    /// Why only the message's header was read (see `Inbound::header_only`).
    pub header_only: Option<&'a str>,
    /// The registrar's note (`kvittens ignored open --note`), empty when none.
    pub note: &'a str,
}

/// The start of `Inbound::header_only` for a message over the bounds of `crate::mail::bounds`; any
/// other reason is a message set aside after kvittens stopped or failed while reading it.
const OVER_THE_BOUNDS: &str = "over the bounds";

/// Why no receipt went, in the staff's words. The raw code and detail follow in the notice.
fn no_receipt_words(cfg: &Config, why: &Reason, lang: Language) -> String {
    let sv = lang == Language::Sv;
    let words = match why.code {
        "unverified_sender" if sv => "avsändaren klarade inte kontrollen av att mejlet verkligen kommer från den adress det uppger (SPF/DKIM/DMARC); adressen kan vara förfalskad, och en bekräftelse kunde hamna hos någon som aldrig skrivit",
        "unverified_sender" => "the sender failed the check that the mail really comes from the address it gives (SPF/DKIM/DMARC); the address may be forged, and a receipt could reach someone who never wrote",
        "no_auto_reply" if sv => "avsändaren har bett att inte få automatiska svar",
        "no_auto_reply" => "the sender asked for no automatic replies",
        "no_address" if sv => "ingen avsändaradress kunde läsas, så det finns ingen adress att skicka en bekräftelse till",
        "no_address" => "no sender address could be read, so there is no address to send a receipt to",
        "loop" if sv => "avsändaren har svarat på flera bekräftelser inom några sekunder, varje gång med ett nytt meddelande, och behandlas därför som ett automatiskt system så att inga mejl går i en slinga",
        "loop" => "the sender answered several receipts within seconds, each time with a new message, and is therefore held as an automatic system so that mail does not go round in a loop",
        "daily_cap" if sv => return format!("avsändaren har redan fått {} bekräftelser i dag, det högsta antalet per avsändare och dag", cfg.receipts_per_sender_per_day),
        "daily_cap" => return format!("the sender has had {} receipts today already, the most one sender gets in a day", cfg.receipts_per_sender_per_day),
        "registrar" if sv => "registratorn öppnade ärendet utan bekräftelse",
        "registrar" => "the registrar opened the case without a receipt",
        "not_built" if sv => "bekräftelsen kunde inte skapas (ett fel i mallen eller i adressen)",
        "not_built" => "the receipt could not be built (a fault in the template or the address)",
        other => other,
    };
    words.to_string()
}

/// Why a person should look at a new case, in the staff's words, from what kvittens knows.
fn flag_words(facts: &NoticeFacts<'_>, flagged: bool, lang: Language) -> Option<String> {
    let sv = lang == Language::Sv;
    let mut words = Vec::new();
    if let Some(why) = facts.header_only {
        words.push(match (why.starts_with(OVER_THE_BOUNDS), sv) {
            (true, true) => "meddelandet är större eller mer inbäddat än vad kvittens läser, så bara dess brevhuvud lästes; hela meddelandet finns i förvaltningens brevlåda",
            (true, false) => "the message is larger or more deeply nested than kvittens reads, so only its header was read; the whole message is in the department mailbox",
            (false, true) => "kvittens stannade eller fick ett fel när meddelandet lästes och lade det åt sidan; bara dess brevhuvud lästes, hela meddelandet finns i förvaltningens brevlåda",
            (false, false) => "kvittens stopped or failed while reading the message and set it aside; only its header was read, the whole message is in the department mailbox",
        });
    }
    if flagged
        && facts
            .no_receipt
            .is_some_and(|r| !matches!(r.code, "daily_cap" | "registrar"))
    {
        words.push(if sv {
            "ingen bekräftelse skickades till invånaren (se nedan)"
        } else {
            "no receipt went to the resident (see below)"
        });
    }
    (!words.is_empty()).then(|| words.join("; "))
}

/// The officer notice's values: [`template_data`] in the staff language, with whether the
/// receipt went, why not and what can be done, why the case is flagged, and the registrar's
/// note.
pub fn notice_data(
    cfg: &Config,
    dept: &Department,
    case: &Case,
    facts: &NoticeFacts<'_>,
) -> serde_json::Value {
    let lang = dept.staff_language;
    let mut data = template_data(dept, case, lang);
    crate::mail::words::case_commands(cfg, case, &mut data);
    data["receipt_sent"] = json!(facts.no_receipt.is_none());
    if let Some(why) = facts.no_receipt {
        data["no_receipt_reason"] = json!(no_receipt_words(cfg, why, lang));
        data["no_receipt_detail"] = json!(why.to_string());
        // `kvittens case receipt` needs an address; for everything else a person may judge
        // that the receipt should go after all.
        if !case.resident.email.is_empty() {
            let receipt = crate::mail::words::kvittens_command(cfg, "case receipt", &case.number);
            data["receipt_command"] = json!(receipt);
        }
    }
    data["flag_summary"] = json!(flag_words(facts, case.flagged.is_some(), lang));
    // The raw reason follows the words, unless it is only the withheld receipt's, which the
    // notice gives with the receipt.
    data["flag_detail"] = match (&case.flagged, facts.no_receipt) {
        (Some(f), Some(r)) if facts.header_only.is_none() && *f == r.to_string() => json!(null),
        (f, _) => json!(f),
    };
    if !facts.note.trim().is_empty() {
        data["note"] = json!(facts.note.trim());
    }
    data["case_url"] = json!(cfg.web.case_url(&case.number));
    data
}

/// The receipt's subject: `Re: <subject> [BMN-2026-0042]`, or a neutral one when the resident's
/// subject is empty or could not be decoded.
pub fn receipt_subject(case: &Case) -> String {
    let mut s = case.subject.trim();
    for prefix in ["re:", "sv:", "aw:", "vs:", "fw:", "fwd:"] {
        if s.get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
        {
            s = s[prefix.len()..].trim_start();
        }
    }
    let s = s.replace(['\r', '\n'], " ");
    let tag = format!("[{}]", case.number);
    if s.is_empty() || s.contains('\u{FFFD}') {
        let neutral = match case.language {
            Language::Sv => "Ditt meddelande",
            Language::En => "Your message",
        };
        format!("{neutral} {tag}")
    } else if s.contains(&tag) {
        format!("Re: {s}")
    } else {
        format!("Re: {s} {tag}")
    }
}

/// The Message-ID of a case's receipt or officer notice (see [`ids::case_mail_id`]).
pub fn message_id(cfg: &Config, case: &str, kind: Kind) -> String {
    ids::case_mail_id(case, kind, cfg.id_domain())
}

/// The receipt for a new case. `thread` is the resident's Message-ID and references.
///
/// # Errors
/// A [`ComposeError`] when the template fails or an address is refused.
pub fn receipt(
    cfg: &Config,
    dept: &Department,
    case: &Case,
    thread: (&Option<String>, &[String]),
    templates: &Templates,
    now: DateTime<Utc>,
) -> Result<Outgoing, ComposeError> {
    let body = templates.render(
        &format!("receipt.{}", case.language.code()),
        &template_data(dept, case, case.language),
    )?;
    let id = message_id(cfg, &case.number, Kind::Receipt);
    let mut b = Message::builder()
        .from(cfg.smtp.from.clone())
        .reply_to(mailbox(Some(&dept.name), &dept.email)?)
        .to(mailbox(
            case.resident.name.as_deref(),
            &case.resident.email,
        )?)
        .subject(receipt_subject(case));
    b = marked(b, &id, now, Automatic::Replied, &dept.email, &case.number);
    let (resident_id, references) = thread;
    if let Some(mid) = resident_id.as_deref() {
        b = in_thread(b, mid, references);
    }
    let msg = b.singlepart(text_part(body)).map_err(ComposeError::Mail)?;
    Ok(Outgoing {
        id,
        about: About::Case(case.number.clone()),
        kind: Kind::Receipt,
        envelope_from: dept.email.clone(),
        to: vec![case.resident.email.clone()],
        bytes: msg.formatted(),
        received: Some(case.received),
        copy: dept.copies,
    })
}

/// The notice to the assigned officer, with the resident's message attached.
///
/// # Errors
/// A [`ComposeError`] when the template fails or an address is refused.
pub fn officer_notice(
    cfg: &Config,
    dept: &Department,
    case: &Case,
    original: &[u8],
    templates: &Templates,
    now: DateTime<Utc>,
    facts: &NoticeFacts<'_>,
) -> Result<Outgoing, ComposeError> {
    let id = message_id(cfg, &case.number, Kind::OfficerNotice);
    let data = notice_data(cfg, dept, case, facts);
    officer_notice_as(cfg, dept, case, original, templates, now, (id, data))
}

/// [`officer_notice`] with its Message-ID and template values given: for a case that gets a
/// second officer notice (moved to another department), which must not share the first's id.
///
/// # Errors
/// A [`ComposeError`] when the template fails or an address is refused.
pub fn officer_notice_as(
    cfg: &Config,
    dept: &Department,
    case: &Case,
    original: &[u8],
    templates: &Templates,
    now: DateTime<Utc>,
    (id, data): (String, serde_json::Value),
) -> Result<Outgoing, ComposeError> {
    // Staff mail is in the staff language (`staff_language`, Swedish unless set).
    let lang = dept.staff_language;
    let body = templates.render(&format!("officer-notice.{}", lang.code()), &data)?;
    // A complaint's notice goes to the manager who owns it and is the one mail they get of
    // it at once: its subject says so, as the complaint notice's does.
    let subject = format!(
        "{} {}: {}",
        match (lang, case.category == crate::model::Category::Complaint) {
            (Language::Sv, false) => "Nytt ärende",
            (Language::En, false) => "New case",
            (Language::Sv, true) => "Klagomål",
            (Language::En, true) => "Complaint",
        },
        case.number,
        case.subject.replace(['\r', '\n'], " ")
    );
    let attachment = attached_message(original, &format!("{}.eml", case.number))?;
    let mut b = Message::builder().from(cfg.smtp.from.clone());
    // A case without an address (decide's `no_address`) still tells its officer.
    // Replies go to the resident when the case has an address mail can go to: not a case
    // without one (decide's no_address), nor one whose address was erased (GDPR art. 17).
    if let Ok(resident) = mailbox(case.resident.name.as_deref(), &case.resident.email) {
        b = b.reply_to(resident);
    }
    let b = b
        .to(mailbox(Some(&case.officer.name), &case.officer.email)?)
        .subject(subject);
    let msg = marked(b, &id, now, Automatic::Generated, &dept.email, &case.number)
        .multipart(
            MultiPart::mixed()
                .singlepart(text_part(body))
                .singlepart(attachment),
        )
        .map_err(ComposeError::Mail)?;
    Ok(Outgoing {
        id,
        about: About::Case(case.number.clone()),
        kind: Kind::OfficerNotice,
        envelope_from: dept.email.clone(),
        to: vec![case.officer.email.clone()],
        bytes: msg.formatted(),
        received: None,
        copy: false,
    })
}

/// The longest line a 7bit or 8bit body may carry: 998 octets before its CRLF (RFC 5322
/// §2.1.1, RFC 2045 §2.8).
const MAX_LINE: usize = 998;

/// The resident's message as a part of the officer notice. RFC 2046 §5.2.1 allows only 7bit, 8bit
/// or binary as the transfer encoding of a `message/rfc822` part — a quoted-printable one is
/// misread by Dovecot's BODYSTRUCTURE and by other parsers — so the message goes as it is: 7bit
/// when every octet is ASCII, else 8bit (the submission then says `BODY=8BITMIME`, RFC 6152).
/// Line ends become CRLF (RFC 5322 §2.3). A message that neither can carry (a line over 998
/// octets, a NUL, nothing at all) goes as a file, `application/octet-stream` in base64: Postfix
/// has no BINARYMIME (RFC 3030), so `binary` is not an option.
pub(crate) fn attached_message(
    original: &[u8],
    file_name: &str,
) -> Result<SinglePart, ComposeError> {
    use lettre::message::header::{ContentDisposition, ContentTransferEncoding};
    use lettre::message::Body;
    let crlf = crlf_line_ends(original);
    if crlf.is_empty() || crlf.contains(&0) || longest_line(&crlf) > MAX_LINE {
        let body = Body::new_with_encoding(original.to_vec(), ContentTransferEncoding::Base64)
            .map_err(|_| ComposeError::Encoding("cannot encode the attachment as base64"))?;
        return Ok(Attachment::new(file_name.to_string()).body(
            body,
            ContentType::parse("application/octet-stream").map_err(ComposeError::ContentType)?,
        ));
    }
    let encoding = if crlf.is_ascii() {
        ContentTransferEncoding::SevenBit
    } else {
        ContentTransferEncoding::EightBit
    };
    // Checked above: CRLF line ends only, no NUL, no line over 998 octets — what RFC 2045 §2.7
    // and §2.8 ask of 7bit and 8bit data, so the bytes may go unchanged.
    Ok(SinglePart::builder()
        .header(ContentDisposition::attachment(file_name))
        .header(ContentType::parse("message/rfc822").map_err(ComposeError::ContentType)?)
        .body(Body::dangerous_pre_encoded(crlf, encoding)))
}

/// `raw` with every line end — CRLF, a bare LF or a bare CR — written as CRLF.
fn crlf_line_ends(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 50);
    let mut bytes = raw.iter().copied().peekable();
    while let Some(b) = bytes.next() {
        match b {
            b'\r' => {
                if bytes.peek() == Some(&b'\n') {
                    bytes.next();
                }
                out.extend_from_slice(b"\r\n");
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            _ => out.push(b),
        }
    }
    out
}

/// The length of the longest line of CRLF-ended `text`, in octets without the CRLF.
fn longest_line(text: &[u8]) -> usize {
    text.split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line).len())
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::check::sample_case;
    use crate::testkit::Sample;
    use mail_parser::{MessageParser, MimeHeaders};

    /// The officer notice for `original`, as the bytes that go to the SMTP server.
    fn notice(original: &[u8]) -> Vec<u8> {
        let cfg = Sample::default().config();
        let dept = &cfg.departments[0];
        let templates = Templates::load(None).unwrap();
        let case = sample_case(dept, Utc::now());
        officer_notice(
            &cfg,
            dept,
            &case,
            original,
            &templates,
            Utc::now(),
            &NoticeFacts::default(),
        )
        .unwrap()
        .bytes
    }

    /// Every line of `raw` ends in CRLF and has at most 998 octets before it.
    fn assert_valid_lines(raw: &[u8]) {
        for line in raw.split_inclusive(|&b| b == b'\n') {
            assert!(
                line.ends_with(b"\r\n"),
                "{:?}",
                String::from_utf8_lossy(line)
            );
            assert!(
                line.len() - 2 <= MAX_LINE,
                "a line of {} octets",
                line.len()
            );
        }
        assert!(
            raw.windows(2).all(|w| w[0] != b'\r' || w[1] == b'\n'),
            "a bare CR"
        );
    }

    /// The Content-Transfer-Encoding the notice gives its attached part.
    fn attached_encoding(raw: &[u8]) -> String {
        let notice = MessageParser::default().parse(raw).unwrap();
        let part = notice.attachment(0).expect("an attachment");
        part.content_transfer_encoding()
            .unwrap_or("7bit")
            .to_ascii_lowercase()
    }

    /// Parses the notice back and compares its attached message with `original`.
    fn assert_attached(original: &[u8], encoding: &str) {
        let raw = notice(original);
        assert_valid_lines(&raw);
        assert_eq!(attached_encoding(&raw), encoding);
        let parsed = MessageParser::default().parse(&raw).unwrap();
        let part = parsed.attachment(0).unwrap();
        assert_eq!(part.content_type().map(|c| c.ctype()), Some("message"));
        let attached = part.message().expect("a message/rfc822 part");
        let want = MessageParser::default().parse(original).unwrap();
        assert_eq!(attached.subject(), want.subject());
        assert_eq!(
            attached
                .from()
                .and_then(|f| f.first())
                .map(|a| (a.name(), a.address())),
            want.from()
                .and_then(|f| f.first())
                .map(|a| (a.name(), a.address()))
        );
        let lines = |t: Option<std::borrow::Cow<'_, str>>| {
            t.map(|t| t.replace("\r\n", "\n").replace('\r', "\n"))
        };
        assert_eq!(lines(attached.body_text(0)), lines(want.body_text(0)));
        assert!(want.body_text(0).is_some_and(|t| !t.is_empty()));
    }

    #[test]
    fn an_ascii_mail_is_attached_as_7bit() {
        assert_attached(
            b"From: Anna Berg <anna@medborgare.test>\r\nSubject: Question about a permit\r\nMessage-ID: <a1@medborgare.test>\r\n\r\nHello,\r\nwhen may I build my garage? a=b =3D\r\n",
            "7bit",
        );
    }

    #[test]
    fn an_eight_bit_utf8_mail_is_attached_as_8bit() {
        assert_attached(
            "From: Åsa Öberg <asa@medborgare.test>\r\nSubject: Fråga om bygglov för garage\r\nMessage-ID: <a2@medborgare.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nHej! När får jag svar på min ansökan om bygglov?\r\n".as_bytes(),
            "8bit",
        );
    }

    #[test]
    fn encoded_words_reach_the_officer_as_they_were_written() {
        let original = b"From: =?utf-8?q?Fran=C3=A7ois_Dupont?= <francois@medborgare.test>\r\nSubject: =?UTF-8?Q?Ans=C3=B6kan_om_bygglov_f=C3=B6r_garage?=\r\nMessage-ID: <a3@medborgare.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nHej! Jag s=C3=B6ker bygglov.\r\n";
        assert_attached(original, "7bit");
        let raw = notice(original);
        let text = String::from_utf8_lossy(&raw);
        // The quoted-printable of old wrote "=3D?UTF-8?Q?…": parsers then saw charset "3D".
        assert!(
            text.contains("Subject: =?UTF-8?Q?Ans=C3=B6kan_om_bygglov_f=C3=B6r_garage?=\r\n"),
            "{text}"
        );
        let parsed = MessageParser::default().parse(&raw).unwrap();
        let attached = parsed.attachment(0).unwrap().message().unwrap();
        assert_eq!(attached.subject(), Some("Ansökan om bygglov för garage"));
    }

    #[test]
    fn bare_line_feeds_become_crlf() {
        let original = b"From: Anna <anna@medborgare.test>\nSubject: Hej\nMessage-ID: <a4@medborgare.test>\n\nrad ett\rrad tva\n";
        assert_attached(original, "7bit");
        let raw = notice(original);
        assert!(
            raw.windows(b"Subject: Hej\r\nMessage-ID".len())
                .any(|w| w == b"Subject: Hej\r\nMessage-ID"),
            "{}",
            String::from_utf8_lossy(&raw)
        );
        assert!(raw
            .windows(b"rad ett\r\nrad tva\r\n".len())
            .any(|w| w == b"rad ett\r\nrad tva\r\n"));
    }

    #[test]
    fn a_line_over_998_octets_goes_as_an_eml_file() {
        let original = format!(
            "From: Anna <anna@medborgare.test>\r\nSubject: Lång rad\r\nMessage-ID: <a5@medborgare.test>\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>{}</p>\r\n",
            "å".repeat(1000)
        );
        let raw = notice(original.as_bytes());
        assert_valid_lines(&raw);
        assert_eq!(attached_encoding(&raw), "base64");
        let parsed = MessageParser::default().parse(&raw).unwrap();
        let part = parsed.attachment(0).unwrap();
        assert_eq!(
            part.content_type().map(|c| (c.ctype(), c.subtype())),
            Some(("application", Some("octet-stream")))
        );
        assert_eq!(part.attachment_name(), Some("BMN-2026-0001.eml"));
        assert_eq!(
            part.contents(),
            original.as_bytes(),
            "the file is the message"
        );
    }

    #[test]
    fn a_header_alone_is_a_valid_message() {
        // Mail over the attach limit goes by its header only.
        let original = "From: Anna <anna@medborgare.test>\nSubject: Ritningar för garage\nMessage-ID: <a6@medborgare.test>\nContent-Type: multipart/mixed; boundary=x\n\n";
        let raw = notice(original.as_bytes());
        assert_valid_lines(&raw);
        assert_eq!(attached_encoding(&raw), "8bit");
        let parsed = MessageParser::default().parse(&raw).unwrap();
        let attached = parsed.attachment(0).unwrap().message().unwrap();
        assert_eq!(attached.subject(), Some("Ritningar för garage"));
        assert_eq!(attached.message_id(), Some("a6@medborgare.test"));
    }

    #[test]
    fn a_nul_octet_goes_as_an_eml_file() {
        let original = b"From: Anna <anna@medborgare.test>\r\nSubject: Hej\r\n\r\nett\0tva\r\n";
        let raw = notice(original);
        assert_eq!(attached_encoding(&raw), "base64");
    }
}
