//! The officer notice end to end against the real Dovecot and Postfix: residents' mails reach a
//! department mailbox, the real `kvittens` binary sends the officer a notice with the mail
//! attached, and the notice is read back from the officer's inbox — parsed, and as Dovecot's
//! BODYSTRUCTURE sees it. The attached message must be the resident's, unchanged: RFC 2046
//! §5.2.1 allows only 7bit, 8bit or binary for a message/rfc822 part.

mod common;

use common::Setup;
use futures::TryStreamExt;
use kvittens::net::imap::Session;
use mail_parser::{MessageParser, MimeHeaders};

/// One resident's mail as appended to the department mailbox (CRLF line ends, as Dovecot
/// stores and serves it).
struct Sent {
    id: &'static str,
    raw: String,
    /// The Subject header as written, before decoding.
    subject_raw: &'static str,
    /// Whether it must go as an `.eml` file (a line over 998 octets).
    as_file: bool,
}

fn mails(s: &Setup) -> Vec<Sent> {
    let head = |n: u32, id: &str, subject: &str, extra: &str| {
        format!(
            "From: Resident {n} <{}>\r\nTo: {}\r\nSubject: {subject}\r\nMessage-ID: <{id}@medborgare.test>\r\nDate: Sat, 28 Nov 2026 10:00:00 +0100\r\nMIME-Version: 1.0\r\n{extra}\r\n",
            s.resident(n),
            s.mailbox()
        )
    };
    let mut v = vec![
        Sent {
            id: "n-ascii",
            subject_raw: "Question about a building permit",
            raw: head(1, "n-ascii", "Question about a building permit", "Content-Type: text/plain; charset=us-ascii\r\n")
                + "Hello,\r\nwhen may I expect an answer? 2+2=4, a=b =3D c\r\n",
            as_file: false,
        },
        Sent {
            id: "n-utf8",
            subject_raw: "Fråga om bygglov för garage",
            raw: head(2, "n-utf8", "Fråga om bygglov för garage", "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n")
                + "Hej! När får jag svar på min fråga om bygglov? Åsa Öberg\r\n",
            as_file: false,
        },
        Sent {
            id: "n-words",
            subject_raw: "=?UTF-8?Q?Ans=C3=B6kan_om_bygglov_f=C3=B6r_garage?=",
            raw: head(3, "n-words", "=?UTF-8?Q?Ans=C3=B6kan_om_bygglov_f=C3=B6r_garage?=", "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n")
                + "Hej! Jag s=C3=B6ker bygglov f=C3=B6r ett garage.\r\n",
            as_file: false,
        },
    ];
    v.push(Sent {
        id: "n-long",
        subject_raw: "Long line",
        raw: head(
            4,
            "n-long",
            "Long line",
            "Content-Type: text/html; charset=utf-8\r\n",
        ) + &format!("<p>{}</p>\r\n", "Garaget är för litet. ".repeat(100)),
        as_file: true,
    });
    v
}

/// Every message in `user`'s INBOX with its BODYSTRUCTURE, summed up as
/// `(type/subtype, transfer encoding, envelope subject)` of the notice's second part.
async fn attached_structures(session: &mut Session) -> Vec<(String, String, Option<Vec<u8>>)> {
    use async_imap::imap_proto::types::{BodyStructure, ContentEncoding};
    session.examine("INBOX").await.unwrap();
    let fetched: Vec<_> = session
        .fetch("1:*", "BODYSTRUCTURE")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    fetched
        .iter()
        .map(|f| {
            let Some(BodyStructure::Multipart { bodies, .. }) = f.bodystructure() else {
                panic!("the notice is not multipart: {:?}", f.bodystructure());
            };
            let (common, other, subject) = match &bodies[1] {
                BodyStructure::Message {
                    common,
                    other,
                    envelope,
                    ..
                } => (common, other, envelope.subject.as_ref().map(|s| s.to_vec())),
                BodyStructure::Basic { common, other, .. } => (common, other, None),
                b => panic!("unexpected attached part: {b:?}"),
            };
            let encoding = match &other.transfer_encoding {
                ContentEncoding::SevenBit => "7bit".to_string(),
                ContentEncoding::EightBit => "8bit".to_string(),
                ContentEncoding::Binary => "binary".to_string(),
                ContentEncoding::Base64 => "base64".to_string(),
                ContentEncoding::QuotedPrintable => "quoted-printable".to_string(),
                ContentEncoding::Other(o) => o.to_string(),
            };
            (
                format!("{}/{}", common.ty.ty, common.ty.subtype).to_lowercase(),
                encoding,
                subject,
            )
        })
        .collect()
}

/// Python's email parser, when there is one on the machine: the attached message's subject as
/// it reads it (`None` when python3 is missing).
fn python_subject(notice: &[u8]) -> Option<String> {
    use std::io::Write;
    let script = "import sys, email, email.policy\n\
        m = email.message_from_bytes(sys.stdin.buffer.read(), policy=email.policy.default)\n\
        part = m.get_payload()[1]\n\
        inner = part.get_payload(0)\n\
        print(inner['subject'])\n";
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(notice).ok()?;
    let out = child.wait_with_output().ok()?;
    assert!(out.status.success(), "python3 could not parse the notice");
    Some(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_officer_gets_the_residents_mail_unchanged() {
    let s = Setup::new("notice", "");
    let daemon = s.start();
    let sent = mails(&s);
    for m in &sent {
        s.stack.append(&s.mailbox(), &m.raw).await;
    }
    // Round robin: two notices each.
    let mut notices = s.stack.wait_for(&s.officer(1), 2).await;
    notices.extend(s.stack.wait_for(&s.officer(2), 2).await);
    let mut structures = Vec::new();
    for officer in [s.officer(1), s.officer(2)] {
        let mut session = s.stack.session(&officer).await;
        structures.extend(attached_structures(&mut session).await);
        session.logout().await.ok();
    }
    assert_eq!(notices.len(), sent.len());

    let mut seen = 0;
    for (notice, (ty, encoding, envelope_subject)) in notices.iter().zip(&structures) {
        let parsed = MessageParser::default().parse(notice).unwrap();
        let part = parsed.attachment(0).expect("the mail is attached");
        // Which mail this notice is about: by the attached Message-ID, or the file's contents.
        let m = sent
            .iter()
            .find(|m| match part.message() {
                Some(inner) => inner.message_id() == Some(&format!("{}@medborgare.test", m.id)),
                None => part.contents() == m.raw.as_bytes(),
            })
            .unwrap_or_else(|| {
                panic!(
                    "an attachment that matches no mail: {}",
                    String::from_utf8_lossy(notice)
                )
            });
        seen += 1;
        if m.as_file {
            assert_eq!(ty, "application/octet-stream", "{}", m.id);
            assert_eq!(encoding, "base64");
            assert_eq!(part.contents(), m.raw.as_bytes(), "the .eml is the mail");
            assert!(part.attachment_name().is_some_and(|n| n.ends_with(".eml")));
            continue;
        }
        assert_eq!(ty, "message/rfc822", "{}", m.id);
        let want_encoding = if m.raw.is_ascii() { "7bit" } else { "8bit" };
        assert_eq!(encoding, want_encoding, "{}", m.id);
        // Dovecot's envelope of the attached message has the subject as it was written.
        assert_eq!(
            envelope_subject.as_deref(),
            Some(m.subject_raw.as_bytes()),
            "{}",
            m.id
        );
        let inner = part.message().unwrap();
        let original = MessageParser::default().parse(m.raw.as_bytes()).unwrap();
        assert_eq!(inner.subject(), original.subject(), "{}", m.id);
        assert_eq!(
            inner
                .from()
                .and_then(|f| f.first())
                .map(|a| (a.name(), a.address())),
            original
                .from()
                .and_then(|f| f.first())
                .map(|a| (a.name(), a.address())),
            "{}",
            m.id
        );
        assert_eq!(inner.body_text(0), original.body_text(0), "{}", m.id);
        if let Some(subject) = python_subject(notice) {
            assert_eq!(Some(subject.as_str()), original.subject(), "{}", m.id);
        }
    }
    assert_eq!(seen, sent.len());
    assert!(daemon.stop().success());
}
