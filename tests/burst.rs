//! Receipts first in a burst, end to end against the real Dovecot and Postfix: sixteen
//! residents write to one department within a moment (`notice_burst = { cases = 3, within =
//! "10s" }`). Every resident gets a receipt; each officer gets three notices at once and then
//! one gathered mail listing the rest, so the officers' inboxes hold fewer notices than there
//! are cases but name every case; the complaint among them reaches the manager at once.

mod common;

use common::Setup;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_burst_sends_every_receipt_and_gathers_the_officer_notices() {
    let s = Setup::new("burst", "");
    let text = std::fs::read_to_string(&s.config).unwrap().replace(
        "[daemon]\n",
        "[daemon]\nnotice_burst = { cases = 3, within = \"10s\" }\n",
    );
    std::fs::write(&s.config, text).unwrap();
    let d = s.start();
    for n in 1..=15 {
        let subject = format!("Fråga nummer {n}");
        let raw = s.question(n, &format!("burst-{n}"), &subject);
        s.stack.append(&s.mailbox(), &raw).await;
    }
    let t0 = Instant::now();
    let complaint = s.question(16, "burst-16", "Klagomål på handläggningen");
    s.stack.append(&s.mailbox(), &complaint).await;
    for n in 1..=16 {
        s.stack.wait_for(&s.resident(n), 1).await;
    }
    // The complaint's notice does not wait for the window.
    s.stack.wait_for(&s.manager(), 1).await;
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "the manager waited {:?}",
        t0.elapsed()
    );
    // The gathered mails go when the window closes: every case named, in fewer mails.
    let prefix = format!("{}-", s.prefix(0));
    let start = Instant::now();
    let (notices, named) = loop {
        let mut notices = Vec::new();
        let mut named = BTreeSet::new();
        for o in [1, 2] {
            for raw in s.stack.inbox(&s.officer(o)).await {
                let text = String::from_utf8_lossy(&raw).into_owned();
                named.extend(
                    kvittens::model::ids::case_numbers(&text).filter(|n| n.starts_with(&prefix)),
                );
                notices.push(text);
            }
        }
        if named.len() >= 15 || start.elapsed() > Duration::from_secs(60) {
            break (notices, named);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(named.len(), 15, "every question's case is named: {named:?}");
    assert!(notices.len() < 15, "{} notices for 15 cases", notices.len());
    let gathered: Vec<&String> = notices
        .iter()
        .filter(|t| {
            let parsed = mail_parser::MessageParser::default().parse(t.as_bytes());
            parsed.is_some_and(|m| m.subject().unwrap_or("").contains("nya ärenden i"))
        })
        .collect();
    assert_eq!(gathered.len(), 2, "one gathered mail per officer");
    for g in gathered {
        assert!(
            g.contains("Content-Type: message/rfc822"),
            "messages attached:\n{g}"
        );
    }
    // Nothing more comes: each notice once.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut total = 0;
    for o in [1, 2] {
        total += s.stack.inbox(&s.officer(o)).await.len();
    }
    assert_eq!(total, notices.len());
    d.stop();
}
