//! The registrar's side against the real mail stack: mail that opened no case is listed by
//! `kvittens ignored` and a case can be opened from it; a withheld receipt goes after all with
//! `kvittens case receipt`, once; and a help desk that answers every receipt at once with a new
//! thread stops getting receipts. The commands run while the daemon runs (control socket).

mod common;

use common::{header, kvittens_ok, Setup};
use std::time::Duration;

/// Runs the command line and returns its error output; fails the test if it succeeded.
fn kvittens_fails(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kvittens"))
        .args(args)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Once the sentinel's receipt is there, every earlier message has been decided.
async fn sentinel(s: &Setup, n: u32) {
    let raw = s.question(n, &format!("sentinel{n}-{}", s.tag), "Sentinel");
    s.stack.append(&s.mailbox(), &raw).await;
    s.stack.wait_for(&s.resident(n), 1).await;
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The cases of `email`, as `kvittens cases --json` shows them.
fn cases_of(s: &Setup, email: &str) -> Vec<serde_json::Value> {
    let out = kvittens_ok(&["cases", "--config", s.config.to_str().unwrap(), "--json"]);
    json_lines(&out)
        .into_iter()
        .filter(|c| c["resident"]["email"] == email)
        .collect()
}

/// The text of the officer notice of case `number`, from the officers' real inboxes.
async fn notice_of(s: &Setup, number: &str) -> String {
    let start = std::time::Instant::now();
    loop {
        for n in [1, 2] {
            for raw in s.stack.inbox(&s.officer(n)).await {
                if header(&raw, "subject").is_some_and(|x| x.contains(number)) {
                    return common::body(&raw).replace("\r\n", "\n");
                }
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no notice of {number}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ignored_mail_is_listed_and_a_case_opened_from_it() {
    let s = Setup::new("reglist", "");
    let config = s.config.to_str().unwrap();
    let _d = s.start();
    // A resident's mail whose client marked it automatic: no case, no receipt.
    let raw = s
        .question(1, "auto-reglist", "Ansökan om bygglov")
        .replacen("From:", "Auto-Submitted: auto-generated\nFrom:", 1);
    s.stack.append(&s.mailbox(), &raw).await;
    sentinel(&s, 2).await;
    assert!(s.stack.inbox(&s.resident(1)).await.is_empty());

    let listed = json_lines(&kvittens_ok(&["ignored", "--config", config, "--json"]));
    assert_eq!(listed.len(), 1, "{listed:?}");
    let entry = &listed[0];
    assert_eq!(entry["reason"], "automatic");
    assert_eq!(entry["from"]["email"], s.resident(1));
    assert_eq!(entry["subject"], "Ansökan om bygglov");
    assert_eq!(entry["mailbox"], s.mailbox());
    assert!(entry["detail"]
        .as_str()
        .unwrap()
        .to_lowercase()
        .contains("auto-submitted"));
    let text = kvittens_ok(&["ignored", "--config", config, "--since", "2020-01-01"]);
    assert!(
        text.contains(&s.resident(1)) && text.contains("1 ignored mail(s)"),
        "{text}"
    );
    // The text names what was seen, not only the reason's code.
    let detail = entry["detail"].as_str().unwrap();
    assert!(text.contains(&format!("({detail})")), "{text}");
    let id = entry["id"].to_string();

    let opened = kvittens_ok(&[
        "ignored",
        "open",
        "--config",
        config,
        &id,
        "--note",
        "ett bygglov",
    ]);
    assert!(opened.contains("opened from ignored mail"), "{opened}");
    let receipts = s.stack.wait_for(&s.resident(1), 1).await;
    let subject = header(&receipts[0], "subject").unwrap();
    assert!(subject.contains(&s.prefix(0)), "{subject}");
    assert_eq!(
        header(&receipts[0], "in-reply-to").as_deref(),
        Some("<auto-reglist@medborgare.test>")
    );
    let cases = cases_of(&s, &s.resident(1));
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0]["category"], "application");
    // The registrar's note reaches the officer, with the receipt told as sent.
    let text = notice_of(&s, cases[0]["number"].as_str().unwrap()).await;
    assert!(
        text.contains("Registratorns anteckning: ett bygglov\n"),
        "{text}"
    );
    assert!(text.contains("Invånaren har fått en bekräftelse"), "{text}");
    // The entry points to its case, and it is opened once.
    let listed = json_lines(&kvittens_ok(&["ignored", "--config", config, "--json"]));
    assert_eq!(listed[0]["case"], cases[0]["number"]);
    let again = kvittens_fails(&["ignored", "open", "--config", config, &id]);
    assert!(again.contains("already"), "{again}");
    let unknown = kvittens_fails(&["ignored", "open", "--config", config, "999"]);
    assert!(unknown.contains("no ignored mail 999"), "{unknown}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(s.stack.inbox(&s.resident(1)).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_list_reply_to_gets_no_receipt_and_to_names_the_address() {
    let s = Setup::new("regto", "");
    let config = s.config.to_str().unwrap();
    let _d = s.start();
    let list = "alla-regto-request@kommun.test";
    // Ignored for its list Reply-To: opened, the receipt goes to the resident, not the list.
    let listy =
        s.question(1, "l1-regto", "Fråga")
            .replacen("To:", &format!("Reply-To: {list}\nTo:"), 1);
    // An e-service with nobody to answer: opened without a receipt, unless `--to` names one.
    let relay = s
        .question(3, "l2-regto", "Ansökan")
        .replace(&s.resident(3), "noreply@e-tjanst.vendor.test");
    s.stack.append(&s.mailbox(), &listy).await;
    s.stack.append(&s.mailbox(), &relay).await;
    sentinel(&s, 2).await;
    let listed = json_lines(&kvittens_ok(&["ignored", "--config", config, "--json"]));
    let id_of = |who: &str| {
        listed
            .iter()
            .find(|e| e["from"]["email"] == who)
            .unwrap_or_else(|| panic!("{who} not listed: {listed:?}"))["id"]
            .to_string()
    };
    let (first, second) = (id_of(&s.resident(1)), id_of("noreply@e-tjanst.vendor.test"));
    let out = kvittens_ok(&["ignored", "open", "--config", config, &first]);
    assert!(
        out.contains(&format!("receipt to {} queued", s.resident(1))),
        "{out}"
    );
    s.stack.wait_for(&s.resident(1), 1).await;
    let refused = kvittens_fails(&["ignored", "open", "--config", config, &second, "--to", list]);
    assert!(refused.contains("no receipt may go"), "{refused}");
    let out = kvittens_ok(&[
        "ignored",
        "open",
        "--config",
        config,
        &second,
        "--to",
        &s.resident(3),
    ]);
    assert!(
        out.contains(&format!("receipt to {} queued", s.resident(3))),
        "{out}"
    );
    s.stack.wait_for(&s.resident(3), 1).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        s.stack.inbox(list).await.is_empty(),
        "a receipt went to the list"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_withheld_receipt_goes_after_all_exactly_once() {
    let s = Setup::new("regreceipt", "");
    let config = s.config.to_str().unwrap();
    let d = s.start();
    let raw = s.question(1, "f1-regreceipt", "Fråga").replacen(
        "From:",
        "Authentication-Results: mx.kommun.test; spf=fail smtp.mailfrom=medborgare.test; dkim=none; dmarc=fail\nFrom:",
        1,
    );
    s.stack.append(&s.mailbox(), &raw).await;
    sentinel(&s, 2).await;
    assert!(s.stack.inbox(&s.resident(1)).await.is_empty());
    let cases = cases_of(&s, &s.resident(1));
    assert_eq!(cases.len(), 1);
    assert!(!cases[0]["flagged"].is_null());
    let number = cases[0]["number"].as_str().unwrap().to_string();
    // The officer is told, from the real inbox, that no receipt went, why, and what to do;
    // the log says the same.
    let text = notice_of(&s, &number).await;
    assert!(
        !text.contains("Invånaren har fått en bekräftelse"),
        "{text}"
    );
    assert!(
        text.contains(
            "Ingen bekräftelse har skickats till invånaren: avsändaren klarade inte kontrollen"
        ),
        "{text}"
    );
    assert!(text.contains("dmarc=fail"), "{text}");
    assert!(
        text.contains(&format!(
            "`kvittens case receipt --config {config} {number}`"
        )),
        "{text}"
    );
    let log = d.log_text();
    assert!(
        log.contains("new case; no receipt (unverified_sender: "),
        "{log}"
    );
    assert!(
        !log.lines()
            .any(|l| l.contains(&number) && l.contains("receipt queued")),
        "{log}"
    );

    let out = kvittens_ok(&["case", "receipt", "--config", config, &number]);
    assert!(out.contains("queued"), "{out}");
    let again = kvittens_fails(&["case", "receipt", "--config", config, &number]);
    assert!(again.contains("already"), "{again}");
    let receipts = s.stack.wait_for(&s.resident(1), 1).await;
    assert!(header(&receipts[0], "subject").unwrap().contains(&number));
    // Its copy reached the department mailbox as for any receipt.
    let copies = s.stack.inbox(&s.mailbox()).await;
    assert!(copies
        .iter()
        .any(|m| header(m, "subject").is_some_and(|x| x.contains(&number))));
    let shown = kvittens_ok(&["case", "show", "--config", config, &number]);
    assert!(
        !shown.contains("flagged:") && shown.contains("sent after all"),
        "{shown}"
    );
    // A case whose receipt went at once gets none more; an unknown case is named.
    let other = cases_of(&s, &s.resident(2))[0]["number"]
        .as_str()
        .unwrap()
        .to_string();
    let refused = kvittens_fails(&["case", "receipt", "--config", config, &other]);
    assert!(refused.contains("already"), "{refused}");
    let unknown = kvittens_fails(&["case", "receipt", "--config", config, "X-2026-0001"]);
    assert!(unknown.contains("no case"), "{unknown}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(s.stack.inbox(&s.resident(1)).await.len(), 1);
    assert_eq!(s.stack.inbox(&s.resident(2)).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_help_desk_answering_every_receipt_at_once_is_stopped() {
    let s = Setup::new("regloop", "");
    let daemon = s.start();
    // The test plays another help desk: every receipt it gets, it answers at once with a new
    // ticket, a new thread with no case number and no reference to the receipt. A machine's
    // round trip takes a second or so; the wait keeps the answer out of the receipt's second
    // (INTERNALDATE has whole seconds, and a mail from that second may predate the receipt).
    let desk = s.resident(1);
    for i in 0..5u32 {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        let raw = s
            .question(
                1,
                &format!("ticket{i}-regloop"),
                &format!("Ticket #{} created", 4711 + i),
            )
            .replace("Resident 1", "Acme Support");
        s.stack.append(&s.mailbox(), &raw).await;
        if i < 3 {
            s.stack.wait_for(&desk, i as usize + 1).await;
        } else {
            daemon.wait_log("new case", i as usize + 1);
        }
    }
    sentinel(&s, 2).await;
    assert_eq!(
        s.stack.inbox(&desk).await.len(),
        3,
        "three receipts, then the loop is broken"
    );
    let cases = cases_of(&s, &desk);
    assert_eq!(cases.len(), 5, "every ticket still opened a case");
    let held: Vec<_> = cases
        .iter()
        .filter(|c| c["flagged"].as_str().is_some_and(|f| f.starts_with("loop")))
        .collect();
    assert_eq!(held.len(), 2, "{cases:?}");
    assert!(daemon.log_text().contains("held as a machine"));
    // Their officers are told that no receipt went, and why.
    for case in held {
        let text = notice_of(&s, case["number"].as_str().unwrap()).await;
        assert!(
            text.contains("Ingen bekräftelse har skickats till invånaren: avsändaren har svarat på flera bekräftelser"),
            "{text}"
        );
    }
    assert_eq!(
        daemon
            .log_text()
            .matches("new case; no receipt (loop: ")
            .count(),
        2
    );
    // The resident who wrote in between is not affected.
    assert_eq!(s.stack.inbox(&s.resident(2)).await.len(), 1);
}
