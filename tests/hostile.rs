//! Hostile and odd mail against the real mail stack: forged senders, floods, bounced receipts,
//! header injection, template syntax, charsets, and a very large message.

mod common;

use common::{body, header, kvittens_ok, Setup};

/// The sentinel pattern: messages are handled in order, so once the sentinel's receipt is there
/// every earlier message has been decided.
async fn sentinel(s: &Setup, n: u32) {
    s.stack
        .append(
            &s.mailbox(),
            &s.question(n, &format!("sentinel{n}-{}", s.tag), "Sentinel"),
        )
        .await;
    s.stack.wait_for(&s.resident(n), 1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_senders_get_no_receipt_but_a_case() {
    let s = Setup::new("forged", "");
    let _d = s.start();
    let raw = s.question(1, "f1-forged", "Fråga").replacen(
        "From:",
        "Authentication-Results: mx.kommun.test; spf=fail smtp.mailfrom=medborgare.test; dkim=none; dmarc=fail\nFrom:",
        1,
    );
    s.stack.append(&s.mailbox(), &raw).await;
    sentinel(&s, 2).await;
    assert!(
        s.stack.inbox(&s.resident(1)).await.is_empty(),
        "backscatter to a forged sender"
    );
    // The case exists and its officer was told; `case show` says why it is flagged.
    let notices = s.stack.wait_for(&s.officer(1), 1).await;
    assert!(header(&notices[0], "subject")
        .unwrap()
        .starts_with("Nytt ärende"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_from_one_sender_is_capped() {
    let s = Setup::new("flood", "");
    std::fs::write(
        &s.config,
        std::fs::read_to_string(&s.config)
            .unwrap()
            .replace("listen = ", "receipts_per_sender_per_day = 2\nlisten = "),
    )
    .unwrap();
    let _d = s.start();
    for i in 0..4 {
        s.stack
            .append(
                &s.mailbox(),
                &s.question(1, &format!("fl{i}-flood"), &format!("Fråga {i}")),
            )
            .await;
    }
    sentinel(&s, 2).await;
    assert_eq!(
        s.stack.inbox(&s.resident(1)).await.len(),
        2,
        "two receipts, then the cap"
    );
    // Every message still opened a case: four notices (round robin over two officers).
    let notices = s.stack.wait_for(&s.officer(1), 3).await.len()
        + s.stack.wait_for(&s.officer(2), 2).await.len();
    assert_eq!(notices, 5, "4 cases + the sentinel");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bounced_receipt_flags_the_case_and_tells_the_officer() {
    let s = Setup::new("bounced", "");
    let daemon = s.start();
    // bounce.test accepts the receipt, then returns a delivery report to the department mailbox.
    let raw = s
        .question(1, "b1-bounced", "Fråga")
        .replace(&s.resident(1), "nobody@bounce.test");
    s.stack.append(&s.mailbox(), &raw).await;
    for _ in 0..100 {
        if s.stack.inbox(&s.officer(1)).await.len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let officer = s.stack.inbox(&s.officer(1)).await;
    assert_eq!(officer.len(), 2, "{}", daemon.log_text());
    let subjects: Vec<_> = officer
        .iter()
        .map(|m| header(m, "subject").unwrap())
        .collect();
    assert!(
        subjects.iter().any(|x| x.contains("kunde inte levereras")),
        "{subjects:?}"
    );
    assert!(daemon.stop().success());
    let number = subjects[0]
        .split_whitespace()
        .nth(2)
        .unwrap()
        .trim_end_matches(':')
        .to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kvittens"))
        .args([
            "case",
            "show",
            "--config",
            s.config.to_str().unwrap(),
            &number,
        ])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("flagged:") && shown.contains("could not be delivered"),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn injected_headers_and_template_syntax_stay_text() {
    let s = Setup::new("inject", "");
    let _d = s.start();
    // The subject decodes to "Hej\r\nBcc: victim@medborgare.test"; the name holds template syntax.
    let raw = format!(
        "From: \"{{{{officer.email}}}}\" <{}>\nTo: {}\nSubject: =?utf-8?b?SGVqDQpCY2M6IHZpY3RpbS1pbmplY3RAbWVkYm9yZ2FyZS50ZXN0?=\nMessage-ID: <i1-inject@medborgare.test>\n\nHej\n",
        s.resident(1),
        s.mailbox()
    );
    s.stack.append(&s.mailbox(), &raw).await;
    let receipt = s.stack.wait_for(&s.resident(1), 1).await.remove(0);
    let text = String::from_utf8_lossy(&receipt);
    let head = text.split("\r\n\r\n").next().unwrap();
    assert!(
        !head
            .lines()
            .any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
        "{head}"
    );
    assert!(header(&receipt, "subject")
        .unwrap()
        .contains("Hej Bcc: victim-inject@medborgare.test"));
    assert!(
        body(&receipt).contains("Hej {{officer.email}}!"),
        "{}",
        body(&receipt)
    );
    sentinel(&s, 2).await;
    assert!(s
        .stack
        .inbox("victim-inject@medborgare.test")
        .await
        .is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn charsets_and_broken_mime_are_acknowledged() {
    let s = Setup::new("charset", "");
    let _d = s.start();
    let m = s.mailbox();
    // ISO-8859-1 in 8 bit, a Windows-1252 encoded word in the name, broken MIME, and a subject
    // in a charset nobody knows.
    let latin1: Vec<u8> = [
        format!("From: =?windows-1252?q?J=F6rgen_=96_Smith?= <{}>\r\nTo: {m}\r\nSubject: =?iso-8859-1?q?Fr=E5ga_om_f=F6rskola?=\r\nMessage-ID: <c1-charset@medborgare.test>\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n", s.resident(1)).into_bytes(),
        b"Hej! N\xe4r b\xf6rjar f\xf6rskolan?\r\n".to_vec(),
    ]
    .concat();
    let mut session = s.stack.session(&m).await;
    session.append("INBOX", None, None, &latin1).await.unwrap();
    let broken = format!("From: {}\r\nTo: {m}\r\nSubject: Trasig\r\nMessage-ID: <c2-charset@medborgare.test>\r\nContent-Type: multipart/mixed; boundary=\"nope\r\n\r\n--x\r\nhalf a part", s.resident(2));
    session
        .append("INBOX", None, None, broken.as_bytes())
        .await
        .unwrap();
    let unknown = format!("From: {}\r\nTo: {m}\r\nSubject: =?x-unknown-charset?b?//79?=\r\nMessage-ID: <c3-charset@medborgare.test>\r\n\r\nHej\r\n", s.resident(3));
    session
        .append("INBOX", None, None, unknown.as_bytes())
        .await
        .unwrap();
    session.logout().await.ok();

    let r1 = s.stack.wait_for(&s.resident(1), 1).await.remove(0);
    assert!(
        header(&r1, "subject")
            .unwrap()
            .starts_with("Re: Fråga om förskola ["),
        "{:?}",
        header(&r1, "subject")
    );
    assert!(body(&r1).contains("Jörgen – Smith"), "{}", body(&r1));
    let r2 = s.stack.wait_for(&s.resident(2), 1).await.remove(0);
    assert!(header(&r2, "subject").unwrap().starts_with("Re: Trasig ["));
    let r3 = s.stack.wait_for(&s.resident(3), 1).await.remove(0);
    let subject = header(&r3, "subject").unwrap();
    assert!(
        subject.starts_with("Re: ") || subject.starts_with("Ditt meddelande"),
        "{subject}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fifty_megabyte_message_gets_its_receipt() {
    let s = Setup::new("large", "");
    let _d = s.start();
    let attachment =
        "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\r\n"
            .repeat(50 * 1024 * 1024 / 78);
    let raw = format!(
        "From: {}\r\nTo: {}\r\nSubject: Ritningar\r\nMessage-ID: <l1-large@medborgare.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHär kommer ritningarna.\r\n--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n{attachment}--b--\r\n",
        s.resident(1),
        s.mailbox()
    );
    assert!(raw.len() > 50_000_000);
    let mut session = s.stack.session(&s.mailbox()).await;
    session
        .append("INBOX", None, None, raw.as_bytes())
        .await
        .unwrap();
    session.logout().await.ok();
    drop(raw);
    let receipt = s.stack.wait_for(&s.resident(1), 1).await.remove(0);
    assert!(header(&receipt, "subject")
        .unwrap()
        .starts_with("Re: Ritningar ["));
    // The officer gets the notice with the message's header attached, not 50 MB.
    let notice = s.stack.wait_for(&s.officer(1), 1).await.remove(0);
    assert!(
        notice.len() < 1_000_000,
        "the notice is {} bytes",
        notice.len()
    );
    // The header alone is still a valid attached message (RFC 2046 §5.2.1: 7bit or 8bit).
    let parsed = mail_parser::MessageParser::default()
        .parse(&notice)
        .unwrap();
    let attached = parsed
        .attachment(0)
        .and_then(|a| a.message())
        .expect("the header attached as a message");
    assert_eq!(attached.subject(), Some("Ritningar"));
}

/// The case number a receipt names in its subject (`… [PREFIX-YYYY-NNNN]`).
fn number_of(receipt: &[u8]) -> String {
    let subject = header(receipt, "subject").unwrap();
    let start = subject.rfind('[').unwrap() + 1;
    let end = subject.rfind(']').unwrap();
    subject[start..end].to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receipt_never_goes_to_an_internal_reply_to() {
    let s = Setup::new("replyin", "");
    let _d = s.start();
    let all_staff = "alla-anstallda-replyin@kommun.test";
    // Reply-To the whole staff, the manager, the department mailbox: the receipt goes to the
    // From, the resident.
    for (n, reply_to) in [
        (1, all_staff.to_string()),
        (2, s.manager()),
        (3, s.mailbox()),
    ] {
        let raw = s.question(n, &format!("ri{n}-replyin"), "Fråga").replacen(
            "To:",
            &format!("Reply-To: {reply_to}\nTo:"),
            1,
        );
        s.stack.append(&s.mailbox(), &raw).await;
    }
    // No person outside at all: a case for a person, no receipt.
    let nobody = format!(
        "From: Okänd\nReply-To: {all_staff}\nTo: {}\nSubject: Fråga utan avsändare\nMessage-ID: <ri4-replyin@medborgare.test>\n\nHej\n",
        s.mailbox()
    );
    s.stack.append(&s.mailbox(), &nobody).await;
    sentinel(&s, 5).await;
    for n in 1..=3 {
        let got = s.stack.wait_for(&s.resident(n), 1).await;
        assert_eq!(got.len(), 1, "resident {n}");
    }
    assert!(
        s.stack.inbox(all_staff).await.is_empty(),
        "a receipt went to all staff"
    );
    assert!(
        s.stack.inbox(&s.manager()).await.is_empty(),
        "a receipt went to the manager"
    );
    // Every mail opened a case: five notices to the two officers.
    let notices = s.stack.wait_for(&s.officer(1), 3).await.len()
        + s.stack.wait_for(&s.officer(2), 2).await.len();
    assert_eq!(notices, 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn another_departments_case_number_opens_a_new_case_here() {
    let s = Setup::with_departments("xdept", &[("bygg", ""), ("soc", "")]);
    let _d = s.start();
    let soc = format!("soc-{}@kommun.test", s.tag);
    // Resident 1 has a case at soc.
    let raw = s
        .question(1, "x1-xdept", "Fråga om hemtjänst")
        .replace(&s.mailbox(), &soc);
    s.stack.append(&soc, &raw).await;
    let number = number_of(&s.stack.wait_for(&s.resident(1), 1).await[0]);
    assert!(number.starts_with(&s.prefix(1)), "{number}");
    // A stranger names it in a mail to bygg: a new bygg case, with its own receipt.
    let stranger = s.question(2, "x2-xdept", &format!("Ang {number}"));
    s.stack.append(&s.mailbox(), &stranger).await;
    let receipt = s.stack.wait_for(&s.resident(2), 1).await.remove(0);
    let theirs = number_of(&receipt);
    assert!(theirs.starts_with(&s.prefix(0)), "{theirs}");
    // The case's own resident writing to bygg about it joins the soc case: no new receipt.
    let own = s.question(1, "x3-xdept", &format!("Re: {number}"));
    s.stack.append(&s.mailbox(), &own).await;
    sentinel(&s, 3).await;
    assert_eq!(s.stack.inbox(&s.resident(1)).await.len(), 1);
    let shown = kvittens_ok(&[
        "case",
        "show",
        "--config",
        s.config.to_str().unwrap(),
        &number,
    ]);
    assert!(shown.contains("of department soc"), "{shown}");
    assert!(!shown.contains(&s.resident(2)), "{shown}");
}
