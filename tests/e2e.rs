//! End to end against the real Dovecot and Postfix started by scripts/mailstack: resident mail
//! goes into a department mailbox by IMAP APPEND, the real `kvittens` binary runs, and the
//! tests read what arrives in the residents' and officers' inboxes.

mod common;

use chrono::{Datelike, Utc};
use common::{body, header, Setup};

/// "torsdag 3 december 2026", written out independently of kvittens' own formatting.
fn swedish_date(t: chrono::DateTime<Utc>) -> String {
    let local = t.with_timezone(&chrono_tz::Europe::Stockholm);
    let days = [
        "måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag",
    ];
    let months = [
        "januari",
        "februari",
        "mars",
        "april",
        "maj",
        "juni",
        "juli",
        "augusti",
        "september",
        "oktober",
        "november",
        "december",
    ];
    format!(
        "{} {} {} {}",
        days[local.weekday().num_days_from_monday() as usize],
        local.day(),
        months[local.month0() as usize],
        local.year()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resident_gets_one_receipt_and_the_officer_a_notice() {
    let s = Setup::new("receipt", "");
    let daemon = s.start();
    let before = Utc::now();
    s.stack
        .append(
            &s.mailbox(),
            &s.question(1, "q1-receipt", "Fråga om bygglov"),
        )
        .await;
    let after = Utc::now();

    let got = s.stack.wait_for(&s.resident(1), 1).await;
    let receipt = &got[0];
    let number = format!(
        "{}-{}-0001",
        s.prefix(0),
        before.with_timezone(&chrono_tz::Europe::Stockholm).year()
    );
    assert_eq!(
        header(receipt, "subject").unwrap(),
        format!("Re: Fråga om bygglov [{number}]")
    );
    assert_eq!(
        header(receipt, "auto-submitted").as_deref(),
        Some("auto-replied")
    );
    assert_eq!(
        header(receipt, "x-auto-response-suppress").as_deref(),
        Some("All")
    );
    assert_eq!(header(receipt, "precedence").as_deref(), Some("bulk"));
    assert_eq!(
        header(receipt, "in-reply-to").as_deref(),
        Some("<q1-receipt@medborgare.test>")
    );
    assert!(header(receipt, "references")
        .unwrap()
        .contains("<q1-receipt@medborgare.test>"));
    assert!(header(receipt, "reply-to").unwrap().contains(&s.mailbox()));
    assert_eq!(
        header(receipt, "message-id").unwrap(),
        format!("<kvittens.receipt.{number}@kommun.test>")
    );
    // The envelope sender is the department mailbox, so a bounce comes back where kvittens looks.
    assert_eq!(
        header(receipt, "return-path").unwrap(),
        format!("<{}>", s.mailbox())
    );

    let text = body(receipt);
    assert!(text.contains(&number), "{text}");
    assert!(
        text.contains("Olle Handläggare") && text.contains(&s.officer(1)),
        "{text}"
    );
    assert!(text.contains("Bygg- och miljöförvaltningen"), "{text}");
    let due = [
        swedish_date(before + chrono::Duration::days(3)),
        swedish_date(after + chrono::Duration::days(3)),
    ];
    assert!(
        due.iter().any(|d| text.contains(d.as_str())),
        "expected one of {due:?} in {text}"
    );
    assert!(
        !text.contains("Jag har en fråga om bygglov"),
        "the receipt must not quote the resident"
    );

    let notices = s.stack.wait_for(&s.officer(1), 1).await;
    let notice = &notices[0];
    assert!(header(notice, "subject").unwrap().contains(&number));
    let parsed = mail_parser::MessageParser::default().parse(notice).unwrap();
    let attached = parsed
        .attachment(0)
        .and_then(|a| a.message())
        .expect("the resident's message is attached");
    assert_eq!(attached.message_id(), Some("q1-receipt@medborgare.test"));

    // The department mailbox keeps a copy of the receipt (the resident's question and the
    // copy), and kvittens takes the copy for what it is: no case, no receipt.
    let department = s.stack.wait_for(&s.mailbox(), 2).await;
    assert_eq!(department.len(), 2);
    assert_eq!(
        header(&department[1], "message-id"),
        header(receipt, "message-id")
    );
    assert_eq!(body(&department[1]), text, "the copy is the receipt itself");
    daemon.wait_log("copy of a mail kvittens sent", 1);

    // Nothing more arrives: exactly one receipt.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(s.stack.inbox(&s.resident(1)).await.len(), 1);
    assert_eq!(s.stack.inbox(&s.mailbox()).await.len(), 2);
    assert!(
        s.stack.inbox(&s.officer(2)).await.is_empty(),
        "round robin starts at the first officer"
    );
    assert!(daemon.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn follow_ups_join_the_case_without_a_new_receipt() {
    let s = Setup::new("follow", "");
    let _daemon = s.start();
    s.stack
        .append(
            &s.mailbox(),
            &s.question(1, "f1-follow", "Ansökan om bygglov"),
        )
        .await;
    let receipt = s.stack.wait_for(&s.resident(1), 1).await.remove(0);
    let receipt_id = header(&receipt, "message-id").unwrap();
    let subject = header(&receipt, "subject").unwrap();

    // A reply to the receipt, and a new mail that names the case number in the subject.
    let reply = format!(
        "From: {r}\nTo: {m}\nSubject: {subject}\nMessage-ID: <f2-follow@medborgare.test>\nIn-Reply-To: {receipt_id}\nReferences: <f1-follow@medborgare.test> {receipt_id}\n\nHär är ritningen.\n",
        r = s.resident(1),
        m = s.mailbox()
    );
    s.stack.append(&s.mailbox(), &reply).await;
    let number = subject
        .rsplit('[')
        .next()
        .unwrap()
        .trim_end_matches(']')
        .to_string();
    let named = format!("From: {r}\nTo: {m}\nSubject: Komplettering {number}\nMessage-ID: <f3-follow@medborgare.test>\n\nOch en bilaga.\n", r = s.resident(1), m = s.mailbox());
    s.stack.append(&s.mailbox(), &named).await;
    // Messages are handled in order: once the next resident's receipt is there, so are these.
    s.stack
        .append(&s.mailbox(), &s.question(2, "f4-follow", "Annan fråga"))
        .await;
    let second = s.stack.wait_for(&s.resident(2), 1).await;
    assert!(
        header(&second[0], "subject").unwrap().ends_with("-0002]"),
        "the follow-ups opened no case"
    );
    assert_eq!(
        s.stack.inbox(&s.resident(1)).await.len(),
        1,
        "a follow-up got a receipt"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn colleagues_and_machines_get_no_receipt() {
    let s = Setup::new("auto", "");
    let _daemon = s.start();
    let m = s.mailbox();
    let automatic = [
        ("Return-Path: <>", "r11"),
        ("Auto-Submitted: auto-replied", "r12"),
        ("Precedence: bulk", "r13"),
        ("List-Id: <nyheter.medborgare.test>", "r14"),
        ("X-Autoreply: yes", "r15"),
        ("X-Auto-Response-Suppress: OOF", "r16"),
        ("X-Failed-Recipients: x@medborgare.test", "r17"),
    ];
    for (i, (h, who)) in automatic.iter().enumerate() {
        let raw = format!("{h}\nFrom: {who}-auto@medborgare.test\nTo: {m}\nSubject: Hej\nMessage-ID: <a{i}-auto@medborgare.test>\n\nAutomatiskt svar.\n");
        s.stack.append(&m, &raw).await;
    }
    let bounce = format!(
        "From: MAILER-DAEMON@medborgare.test\nTo: {m}\nSubject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nfailed\n--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx\n\nFinal-Recipient: rfc822; x@y\nAction: failed\nStatus: 5.1.1\n--b--\n"
    );
    s.stack.append(&m, &bounce).await;
    let noreply =
        format!("From: noreply-auto@medborgare.test\nTo: {m}\nSubject: Nyhetsbrev\n\nx\n");
    s.stack.append(&m, &noreply).await;
    let colleague = format!(
        "From: Olle <{}>\nTo: {m}\nSubject: Lunch?\nMessage-ID: <c1-auto@kommun.test>\n\nSes vi?\n",
        s.officer(1)
    );
    s.stack.append(&m, &colleague).await;
    // The sentinel: a resident's question after all of them.
    s.stack.append(&m, &s.question(1, "s1-auto", "Fråga")).await;
    s.stack.wait_for(&s.resident(1), 1).await;
    for (_, who) in automatic {
        let inbox = format!("{who}-auto@medborgare.test");
        assert!(
            s.stack.inbox(&inbox).await.is_empty(),
            "{inbox} got a receipt"
        );
    }
    assert!(s
        .stack
        .inbox("noreply-auto@medborgare.test")
        .await
        .is_empty());
    assert!(s
        .stack
        .inbox("mailer-daemon@medborgare.test")
        .await
        .is_empty());
    // The colleague is an officer: only the notice for the sentinel's case may be there.
    for mail in s.stack.inbox(&s.officer(1)).await {
        assert!(
            header(&mail, "subject").unwrap().starts_with("Nytt ärende"),
            "colleague got a receipt"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_sends_nothing_twice_and_old_mail_is_left_alone() {
    let s = Setup::new("restart", "");
    let m = s.mailbox();
    // Mail that was there before kvittens was ever started: not acknowledged (no backfill).
    s.stack
        .append(&m, &s.question(9, "old-restart", "Gammal fråga"))
        .await;
    let daemon = s.start();
    for i in 1..=3 {
        s.stack
            .append(&m, &s.question(i, &format!("a{i}-restart"), "Fråga"))
            .await;
    }
    for i in 1..=3 {
        s.stack.wait_for(&s.resident(i), 1).await;
    }
    assert!(daemon.stop().success(), "SIGTERM must exit 0");

    // Mail that arrives while kvittens is down is handled on the next start.
    for i in 4..=5 {
        s.stack
            .append(&m, &s.question(i, &format!("a{i}-restart"), "Fråga"))
            .await;
    }
    let daemon = s.start();
    for i in 4..=5 {
        s.stack.wait_for(&s.resident(i), 1).await;
    }
    // A crash (SIGKILL) and one more start: still nothing twice.
    daemon.kill();
    let daemon = s.start();
    s.stack
        .append(&m, &s.question(6, "a6-restart", "Fråga"))
        .await;
    s.stack.wait_for(&s.resident(6), 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    for i in 1..=6 {
        assert_eq!(s.stack.inbox(&s.resident(i)).await.len(), 1, "resident {i}");
    }
    assert!(
        s.stack.inbox(&s.resident(9)).await.is_empty(),
        "old mail was acknowledged"
    );
    let numbers: Vec<String> = futures::future::join_all((1..=6).map(|i| {
        let stack = s.stack.clone();
        let r = s.resident(i);
        async move { header(&stack.inbox(&r).await[0], "subject").unwrap() }
    }))
    .await;
    let mut unique = numbers.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 6, "case numbers reused: {numbers:?}");
    assert!(daemon.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_mail_in_two_mailboxes_gets_one_receipt() {
    let s = Setup::with_departments("twice", &[("bygg", ""), ("plan", "")]);
    let _daemon = s.start();
    let raw = s.question(1, "t1-twice", "Fråga till två förvaltningar");
    s.stack.append(&s.mailbox(), &raw).await;
    s.stack.append("plan-twice@kommun.test", &raw).await;
    s.stack.wait_for(&s.resident(1), 1).await;
    // Sentinels in both mailboxes.
    s.stack
        .append(&s.mailbox(), &s.question(2, "t2-twice", "Fråga"))
        .await;
    let mut other = s.question(3, "t3-twice", "Fråga");
    other = other.replace(&s.mailbox(), "plan-twice@kommun.test");
    s.stack.append("plan-twice@kommun.test", &other).await;
    s.stack.wait_for(&s.resident(2), 1).await;
    s.stack.wait_for(&s.resident(3), 1).await;
    assert_eq!(s.stack.inbox(&s.resident(1)).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn english_mail_gets_an_english_receipt() {
    let s = Setup::new("english", "");
    let _daemon = s.start();
    let raw = format!(
        "From: Jane Doe <{}>\nTo: {}\nSubject: Question about my building permit\nMessage-ID: <e1-english@medborgare.test>\n\nHello, I would like to know when I can expect an answer about the permit for my garage. Thank you.\n",
        s.resident(1),
        s.mailbox()
    );
    s.stack.append(&s.mailbox(), &raw).await;
    let receipt = s.stack.wait_for(&s.resident(1), 1).await.remove(0);
    let text = body(&receipt);
    assert!(
        text.contains("Your case officer is Olle Handläggare"),
        "{text}"
    );
    assert!(text.contains("case number"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_officers_reply_answers_the_case_and_the_residents_next_mail_reopens_it() {
    let s = Setup::new("answer", "");
    let daemon = s.start();
    let m = s.mailbox();
    s.stack
        .append(&m, &s.question(1, "q1-answer", "Fråga om tomtgräns"))
        .await;
    let receipt = s.stack.wait_for(&s.resident(1), 1).await.remove(0);
    let subject = header(&receipt, "subject").unwrap();
    let number = subject
        .rsplit('[')
        .next()
        .unwrap()
        .trim_end_matches(']')
        .to_string();

    // The officer answers from their own mailbox with the department in Cc.
    let answer = format!(
        "From: Olle <{o}>\nTo: {r}\nCc: {m}\nSubject: {subject}\nMessage-ID: <ans1-answer@kommun.test>\nIn-Reply-To: <q1-answer@medborgare.test>\n\nTomtgränsen går vid staketet.\n",
        o = s.officer(1),
        r = s.resident(1)
    );
    s.stack.append(&m, &answer).await;
    // The resident writes again in the thread: the case is open again.
    let again = format!(
        "From: {r}\nTo: {m}\nSubject: Re: {subject}\nMessage-ID: <q2-answer@medborgare.test>\nIn-Reply-To: <ans1-answer@kommun.test>\n\nTack, men vilket staket?\n",
        r = s.resident(1)
    );
    s.stack.append(&m, &again).await;
    s.stack
        .append(&m, &s.question(2, "q3-answer", "Sentinel"))
        .await;
    s.stack.wait_for(&s.resident(2), 1).await;
    assert!(daemon.stop().success());
    assert_eq!(
        s.stack.inbox(&s.resident(1)).await.len(),
        1,
        "no receipt for the follow-up"
    );

    let kv = common::kvittens_ok;
    let config = s.config.to_str().unwrap();
    let shown = kv(&["case", "show", "--config", config, &number]);
    assert!(
        shown.contains(&format!("answered by {}", s.officer(1))),
        "{shown}"
    );
    assert!(shown.contains("re-opened"), "{shown}");
    assert!(shown.contains("(open"), "{shown}");
    kv(&[
        "case",
        "close",
        "--config",
        config,
        &number,
        "--note",
        "besvarat per telefon",
    ]);
    let shown = kv(&["case", "show", "--config", config, &number]);
    assert!(
        shown.contains("(closed") && shown.contains("besvarat per telefon"),
        "{shown}"
    );
}
