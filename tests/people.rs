//! What the people who run kvittens meet on the command line, against the real Dovecot and
//! Postfix: who is in (`officer list`, `officer back`, a manager's absence and substitute),
//! a resident's data exported and erased (GDPR articles 15 and 17) with the daemon running
//! and stopped, a receipt refused at RCPT told to the officer once, case numbers in any case,
//! an unknown department named, and every command a staff mail prints run as printed.

mod common;

use common::{body, header, kvittens, kvittens_ok, Setup};
use std::time::{Duration, Instant};

/// Today in Stockholm, and `days` later, as the command line takes dates.
fn day(days: i64) -> String {
    (chrono::Utc::now().with_timezone(&chrono_tz::Europe::Stockholm) + chrono::Duration::days(days))
        .date_naive()
        .to_string()
}

/// The case number of a receipt (its subject ends with `[NUMBER]`).
fn number_of(receipt: &[u8]) -> String {
    let subject = header(receipt, "subject").unwrap();
    subject
        .rsplit('[')
        .next()
        .unwrap()
        .trim_end_matches(']')
        .to_string()
}

/// `kvittens cases --json` as values.
fn cases(s: &Setup) -> Vec<serde_json::Value> {
    kvittens_ok(&["cases", "--config", s.config.to_str().unwrap(), "--json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Waits until `f` holds (polling every 200 ms, at most 20 s).
async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out: {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn officers_and_a_manager_are_away_listed_back_and_stood_in_for() {
    let s = Setup::new("people", "");
    let config = s.config.to_str().unwrap();
    let daemon = s.start();
    let (manager, o1, o2) = (s.manager(), s.officer(1), s.officer(2));
    // Refused, with the reason: in the past, the wrong way round, a substitute away too.
    let refused = |args: &[&str]| {
        let (code, _, err) = kvittens(args);
        assert_eq!(code, 1, "{args:?}");
        err
    };
    let past = refused(&[
        "officer",
        "away",
        "--config",
        config,
        &o1,
        "--from",
        &day(-5),
        "--to",
        &day(-2),
        "--substitute",
        &o2,
    ]);
    assert!(past.contains("lies wholly in the past"), "{past}");
    let reversed = refused(&[
        "officer",
        "away",
        "--config",
        config,
        &o1,
        "--from",
        &day(3),
        "--to",
        &day(1),
        "--substitute",
        &o2,
    ]);
    assert!(reversed.contains("is before --from"), "{reversed}");
    kvittens_ok(&[
        "officer",
        "away",
        "--config",
        config,
        &o2,
        "--from",
        &day(0),
        "--to",
        &day(3),
        "--substitute",
        &o1,
    ]);
    let busy = refused(&[
        "officer",
        "away",
        "--config",
        config,
        &manager,
        "--from",
        &day(1),
        "--to",
        &day(5),
        "--substitute",
        &o2,
    ]);
    assert!(
        busy.contains(&format!("{o2} is away")) && busy.contains("at the same time"),
        "{busy}"
    );
    // The manager away, Olle standing in; the list says so (through the running daemon).
    kvittens_ok(&[
        "officer",
        "away",
        "--config",
        config,
        &manager,
        "--from",
        &day(0),
        "--to",
        &day(5),
        "--substitute",
        &o1,
    ]);
    let list = kvittens_ok(&["officer", "list", "--config", config]);
    let line = |who: &str| {
        list.lines()
            .find(|l| l.contains(who))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        line(&format!("<{manager}>")).contains(&format!(
            "away until {}, Olle Handläggare <{o1}> stands in",
            day(5)
        )),
        "{list}"
    );
    assert!(line(&format!("<{o1}>")).ends_with("in"), "{list}");
    // A complaint while the manager is away: the notice goes to Olle, not to the manager.
    let complaint = s.question(1, "c1-people", "Klagomål på bygglovshandläggningen");
    s.stack.append(&s.mailbox(), &complaint).await;
    s.stack.wait_for(&s.resident(1), 1).await;
    let start = Instant::now();
    loop {
        let olle = s.stack.inbox(&o1).await;
        if olle.iter().any(|m| {
            header(m, "subject")
                .unwrap_or_default()
                .starts_with("Klagomål")
        }) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no complaint notice to the substitute"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        s.stack.inbox(&manager).await.is_empty(),
        "the absent manager got mail"
    );
    // Back: the list shows the manager in, and ending it again is refused with the reason.
    let back = kvittens_ok(&[
        "officer",
        "back",
        "--config",
        config,
        &manager.to_uppercase(),
    ]);
    assert!(back.contains("is back"), "{back}");
    let list = kvittens_ok(&[
        "officer",
        "list",
        "--config",
        config,
        "--department",
        "bygg",
    ]);
    assert!(
        list.lines()
            .any(|l| l.contains(&format!("<{manager}>")) && l.ends_with("in")),
        "{list}"
    );
    let again = refused(&["officer", "back", "--config", config, &manager]);
    assert!(again.contains("is not away today"), "{again}");
    let unknown = refused(&[
        "officer",
        "list",
        "--config",
        config,
        "--department",
        "plan",
    ]);
    assert!(
        unknown.contains(&format!(
            "no department \"plan\" in {config}; the departments are: bygg ("
        )),
        "{unknown}"
    );
    assert!(daemon.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn case_numbers_in_any_case_and_unknown_departments_named() {
    let s = Setup::new("anycase", "");
    let config = s.config.to_str().unwrap();
    let daemon = s.start();
    s.stack
        .append(&s.mailbox(), &s.question(1, "q1-anycase", "Fråga"))
        .await;
    let number = number_of(&s.stack.wait_for(&s.resident(1), 1).await[0]);
    let lower = number.to_lowercase();
    let shown = kvittens_ok(&["case", "show", "--config", config, &lower]);
    assert!(shown.starts_with(&number), "{shown}");
    kvittens_ok(&[
        "case", "close", "--config", config, &lower, "--note", "klart",
    ]);
    let listed = kvittens_ok(&["cases", "--config", config, "--closed"]);
    assert!(listed.contains(&number), "{listed}");
    assert!(!kvittens_ok(&["cases", "--config", config, "--flagged"]).contains(&number));
    for args in [
        vec!["cases", "--config", config, "--department", "byg"],
        vec!["ignored", "--config", config, "--department", "byg"],
    ] {
        let (code, _, err) = kvittens(&args);
        assert_eq!(code, 1, "{args:?}");
        assert!(
            err.contains(&format!(
                "no department \"byg\" in {config}; the departments are: bygg ("
            )),
            "{err}"
        );
    }
    assert!(daemon.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_persons_data_is_exported_and_erased_across_cases_ignored_mail_and_the_outbox() {
    let s = Setup::new("gdpr", "");
    let config = s.config.to_str().unwrap();
    let resident = s.resident(1);
    let daemon = s.start();
    s.stack
        .append(
            &s.mailbox(),
            &s.question(1, "q1-gdpr", "Fråga om Storgatan 5"),
        )
        .await;
    let first = number_of(&s.stack.wait_for(&resident, 1).await[0]);
    let auto = format!(
        "From: {resident}\nTo: {}\nAuto-Submitted: auto-replied\nSubject: Autosvar\nMessage-ID: <a1-gdpr@medborgare.test>\n\nBorta.\n",
        s.mailbox()
    );
    s.stack.append(&s.mailbox(), &auto).await;
    let ignored_id = || -> Option<String> {
        let out = kvittens_ok(&["ignored", "--config", config, "--json"]);
        out.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|v| v["subject"] == "Autosvar")
            .map(|v| v["id"].to_string())
    };
    until("the auto-reply is listed", || ignored_id().is_some()).await;
    // Export through the running daemon: the case with its timeline and the ignored mail.
    let export: serde_json::Value = serde_json::from_str(&kvittens_ok(&[
        "person",
        "export",
        "--config",
        config,
        &resident.to_uppercase(),
    ]))
    .unwrap();
    assert_eq!(export["address"], resident.as_str());
    assert_eq!(export["cases"].as_array().unwrap().len(), 1);
    assert_eq!(export["cases"][0]["number"], first.as_str());
    assert!(!export["cases"][0]["events"].as_array().unwrap().is_empty());
    assert_eq!(export["ignored"].as_array().unwrap().len(), 1);
    assert!(daemon.stop().success());

    // With the daemon stopped, a case opened from the ignored mail queues its receipt, unsent.
    let id = ignored_id().unwrap();
    kvittens_ok(&[
        "ignored",
        "open",
        "--config",
        config,
        &id,
        "--note",
        "en människa",
    ]);
    let export: serde_json::Value = serde_json::from_str(&kvittens_ok(&[
        "person", "export", "--config", config, &resident,
    ]))
    .unwrap();
    assert_eq!(export["cases"].as_array().unwrap().len(), 2);
    let outbox = export["outbox"].as_array().unwrap();
    assert!(
        outbox
            .iter()
            .any(|m| m["kind"] == "receipt" && m["to"][0] == resident.as_str()),
        "{outbox:?}"
    );

    let erased = kvittens_ok(&["person", "erase", "--config", config, &resident]);
    assert!(
        erased.contains(&first) && erased.contains("ignored mail removed: 1"),
        "{erased}"
    );
    // Asked again, there is nothing left: the command says so, and does not fail.
    let again = kvittens_ok(&["person", "erase", "--config", config, &resident]);
    assert!(
        again.contains(&format!("nothing is held about {resident}; nothing erased")),
        "{again}"
    );
    let export: serde_json::Value = serde_json::from_str(&kvittens_ok(&[
        "person", "export", "--config", config, &resident,
    ]))
    .unwrap();
    for part in ["cases", "ignored", "outbox"] {
        assert!(
            export[part].as_array().unwrap().is_empty(),
            "{part}: {export}"
        );
    }
    // The case stays for the registry: number and dates, without address, name or subject.
    let shown = kvittens_ok(&["case", "show", "--config", config, &first]);
    assert!(shown.starts_with(&first), "{shown}");
    assert!(
        !shown.contains(&resident) && !shown.contains("Storgatan"),
        "{shown}"
    );
    assert!(
        shown.contains("resident: (erased)") && shown.contains("personal data erased"),
        "{shown}"
    );
    let listed = cases(&s);
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|c| c["resident"]["email"] == "(erased)"));

    // The receipt that waited is gone: the daemon sends the resident nothing more.
    let daemon = s.start();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        s.stack.inbox(&resident).await.len(),
        1,
        "an erased address got mail"
    );
    // And through the running daemon the export is empty too.
    let export = kvittens_ok(&["person", "export", "--config", config, &resident]);
    assert!(export.contains("\"cases\": []"), "{export}");
    assert!(daemon.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receipt_refused_at_rcpt_tells_the_officer_once_and_flags_the_case() {
    let s = Setup::new("rcpt", "");
    let daemon = s.start();
    // The test stack refuses mail to refused-…@ at RCPT, as a server refuses an unknown mailbox.
    let refused = format!("refused-r1-{}@medborgare.test", s.tag);
    let raw = s
        .question(1, "q1-rcpt", "Fråga om tomten")
        .replace(&s.resident(1), &refused);
    s.stack.append(&s.mailbox(), &raw).await;
    let officer = s.officer(1);
    let told = |mails: &[Vec<u8>]| {
        mails
            .iter()
            .filter(|m| {
                header(m, "subject")
                    .unwrap_or_default()
                    .contains("kunde inte levereras")
            })
            .count()
    };
    let start = Instant::now();
    while told(&s.stack.inbox(&officer).await) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the officer was not told"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let inbox = s.stack.inbox(&officer).await;
    let notice = inbox
        .iter()
        .find(|m| {
            header(m, "subject")
                .unwrap_or_default()
                .contains("kunde inte levereras")
        })
        .unwrap();
    let text = body(notice);
    assert!(text.contains(&refused), "{text}");
    let listed = cases(&s);
    assert_eq!(listed.len(), 1);
    let flag = listed[0]["flagged"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        flag.contains("could not be delivered") && flag.contains("550"),
        "{flag}"
    );
    // Once: not again later, nor after a restart.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(daemon.stop().success());
    let daemon = s.start();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(told(&s.stack.inbox(&officer).await), 1);
    assert!(daemon.stop().success());
}

/// The command lines a staff mail prints: each `kvittens case …` as the text sets it off — in
/// backticks, in brackets, or alone on its line (indented).
fn printed_commands(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            l.find("kvittens case")
                .map(|at| (l[..at].chars().last(), &l[at..]))
        })
        .map(|(before, c)| {
            let c = match before {
                Some('`') => c.split('`').next().unwrap_or(c),
                Some('(') => c.rsplit_once(')').map_or(c, |(inner, _)| inner),
                _ => c.trim_end(),
            };
            c.to_string()
        })
        .collect()
}

/// Runs a printed command as a shell would split it, its date placeholder filled in.
fn run_printed(command: &str) -> String {
    let filled = command
        .replace("ÅÅÅÅ-MM-DD", &day(20))
        .replace("YYYY-MM-DD", &day(20));
    let words = shlex::split(&filled).expect("a command a shell can split");
    assert_eq!(words[0], "kvittens", "{command}");
    let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
    kvittens_ok(&args)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_command_a_staff_mail_prints_runs_as_printed() {
    let s = Setup::new("printed", "reply_within = \"8s\"\ndecide_within = \"2s\"");
    let daemon = s.start();
    // A withheld receipt: the officer notice prints `case receipt`, run while the case is
    // still within its reply time.
    let raw = s.question(1, "p1-printed", "Fråga").replacen(
        "From:",
        "Authentication-Results: mx.kommun.test; spf=fail smtp.mailfrom=medborgare.test; dkim=none; dmarc=fail\nFrom:",
        1,
    );
    s.stack.append(&s.mailbox(), &raw).await;
    let notice = s.stack.wait_for(&s.officer(1), 1).await;
    let printed = printed_commands(&body(&notice[0]));
    let receipt = printed
        .iter()
        .find(|c| c.starts_with("kvittens case receipt"));
    run_printed(receipt.unwrap_or_else(|| panic!("no receipt command in {printed:?}")));
    s.stack.wait_for(&s.resident(1), 1).await;
    // The new-date request prints `case postpone`, the escalation `case close`.
    let manager = s.stack.wait_for(&s.manager(), 2).await;
    let commands: Vec<String> = manager
        .iter()
        .flat_map(|m| printed_commands(&body(m)))
        .collect();
    for word in ["kvittens case postpone", "kvittens case close"] {
        let command = commands.iter().find(|c| c.starts_with(word));
        run_printed(command.unwrap_or_else(|| panic!("no {word} in {commands:?}")));
    }
    let listed = cases(&s);
    assert_eq!(listed[0]["state"], "closed", "{listed:?}");
    s.stack.wait_for(&s.resident(1), 2).await; // the receipt after all and the delay notice
    assert!(daemon.stop().success());
}
