//! The report to the nämnd end to end: mails of several categories through the running daemon
//! against the real Dovecot and Postfix, two answered in time and one late, then `kvittens
//! report --format csv` with exact figures — again after the cases are purged, from the daily
//! totals alone; the HTML page opened in headless Chromium; and `report_to` mailed once on the
//! first working day of the month after the one it was installed in (none of the month before
//! it ran), not again after a restart.

mod common;

use common::{header, kvittens, kvittens_ok, Setup};
use std::collections::HashMap;
use std::time::{Duration, Instant};

fn number_of(receipt: &[u8]) -> String {
    let subject = header(receipt, "subject").unwrap();
    subject
        .rsplit('[')
        .next()
        .unwrap()
        .trim_end_matches(']')
        .to_string()
}

/// The report's CSV for today, as `department → column → value`.
fn report_csv(s: &Setup) -> HashMap<String, HashMap<String, String>> {
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Stockholm)
        .date_naive()
        .to_string();
    let out = s.dir.path().join("report.csv");
    kvittens_ok(&[
        "report",
        "--config",
        s.config.to_str().unwrap(),
        "--from",
        &today,
        "--to",
        &today,
        "--format",
        "csv",
        "--out",
        out.to_str().unwrap(),
    ]);
    let mut r = csv::Reader::from_path(&out).unwrap();
    let head: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            let row: HashMap<String, String> = head
                .iter()
                .cloned()
                .zip(rec.iter().map(String::from))
                .collect();
            (row["department"].clone(), row)
        })
        .collect()
}

/// Waits up to 20 s for `ok` (the receipts' records follow the SMTP server's answers); the
/// caller then asserts what it waited for, with the values it found.
fn until(mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(300));
    }
}

const EXPECTED: [(&str, &str); 13] = [
    ("received", "5"),
    ("cases", "3"),
    ("no_case", "1"),
    ("receipts_within_1d", "3"),
    ("answered_in_time", "2"),
    ("overdue", "0"),
    ("complaints", "1"),
    ("complaints_contacted_within_week", "0"),
    ("fault_reports", "0"),
    ("cases_question", "1"),
    ("cases_application", "1"),
    ("answered", "3"),
    ("escalations", "1"),
];

#[tokio::test(flavor = "multi_thread")]
async fn the_report_counts_a_known_scenario_and_outlives_the_purge() {
    // A complaint's own deadline (a week unless set) is shortened too, so that it is answered late.
    let s = Setup::new(
        "report",
        "reply_within = \"6s\"\ncategories = { complaint = { reply_within = \"6s\" } }",
    );
    // Answered cases may go at once: the report must not need them.
    let text = std::fs::read_to_string(&s.config).unwrap();
    std::fs::write(
        &s.config,
        text.replacen("[daemon]\n", "[daemon]\nretention = \"1s\"\n", 1),
    )
    .unwrap();
    let daemon = s.start();
    let m = s.mailbox();
    let mail = |n: u32, id: &str, subject: &str| {
        format!(
            "From: Resident {n} <{}>\nTo: {m}\nSubject: {subject}\nMessage-ID: <{id}@medborgare.test>\nContent-Type: text/plain; charset=utf-8\n\nHej! Detta gäller mitt ärende.\n",
            s.resident(n)
        )
    };
    s.stack
        .append(&m, &mail(1, "q-rep", "Fråga om garage"))
        .await;
    s.stack
        .append(&m, &mail(2, "c-rep", "Klagomål på bygglovet"))
        .await;
    s.stack
        .append(&m, &mail(3, "a-rep", "Ansökan om bygglov"))
        .await;
    // A machine's mail: received, no case.
    let auto = format!(
        "From: System <sys@leverantor.test>\nTo: {m}\nSubject: Driftinformation\nMessage-ID: <auto-rep@leverantor.test>\nAuto-Submitted: auto-generated\n\nInformation.\n"
    );
    s.stack.append(&m, &auto).await;
    let q = number_of(&s.stack.wait_for(&s.resident(1), 1).await[0]);
    let c = number_of(&s.stack.wait_for(&s.resident(2), 1).await[0]);
    let a = number_of(&s.stack.wait_for(&s.resident(3), 1).await[0]);
    // A follow-up on the question while it is open: received, no new case.
    let follow = format!(
        "From: Resident 1 <{}>\nTo: {m}\nSubject: Re: Fråga om garage [{q}]\nMessage-ID: <q2-rep@medborgare.test>\nIn-Reply-To: <q-rep@medborgare.test>\n\nEn sak till.\n",
        s.resident(1)
    );
    s.stack.append(&m, &follow).await;
    let answer = |n: u32, number: &str, id: &str| {
        format!(
            "From: {m}\nTo: {r}\nSubject: Re: [{number}]\nMessage-ID: <ans-{id}@kommun.test>\nIn-Reply-To: <{id}@medborgare.test>\n\nSvar.\n",
            r = s.resident(n)
        )
    };
    // The question and the application answered in time (the deadline is six seconds).
    s.stack.append_to(&m, "Sent", &answer(1, &q, "q-rep")).await;
    s.stack.append_to(&m, "Sent", &answer(3, &a, "a-rep")).await;
    // The complaint passes its deadline, is escalated (the manager owns it and gets its
    // notices at once; the escalation comes after them), and is answered late.
    let overdue = format!("Försenat ärende {c}");
    let start = Instant::now();
    while !s
        .stack
        .inbox(&s.manager())
        .await
        .iter()
        .any(|e| header(e, "subject").unwrap_or_default().contains(&overdue))
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no escalation of {c}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // INTERNALDATE has whole seconds: the answer must come in a later second than the deadline.
    tokio::time::sleep(Duration::from_secs(2)).await;
    s.stack.append_to(&m, "Sent", &answer(2, &c, "c-rep")).await;
    daemon.wait_log("staff answered the case", 3);

    let mut figures = HashMap::new();
    until(|| {
        figures = report_csv(&s);
        EXPECTED.iter().all(|(col, v)| figures["bygg"][*col] == *v)
    });
    for (col, v) in EXPECTED {
        assert_eq!(figures["bygg"][col], v, "bygg {col}: {:?}", figures["bygg"]);
        assert_eq!(figures["total"][col], v, "total {col}");
    }
    assert_eq!(figures.len(), 2, "one department and the total");

    // The cases go (retention); the figures do not.
    std::thread::sleep(Duration::from_secs(2));
    let purged = kvittens_ok(&["purge", "--config", s.config.to_str().unwrap()]);
    assert!(purged.contains("3 case(s) purged"), "{purged}");
    let after = report_csv(&s);
    for (col, v) in EXPECTED {
        assert_eq!(after["bygg"][col], v, "after the purge: bygg {col}");
    }
    assert_eq!(after["total"]["received"], "5");

    html_in_chromium(&s);
    drop(daemon);
}

/// The page as Chromium renders it: the table's figures and one chart per section with a bar
/// of each colour per week.
fn html_in_chromium(s: &Setup) {
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Stockholm)
        .date_naive()
        .to_string();
    let page = s.dir.path().join("report.html");
    kvittens_ok(&[
        "report",
        "--config",
        s.config.to_str().unwrap(),
        "--from",
        &today,
        "--to",
        &today,
        "--format",
        "html",
        "--out",
        page.to_str().unwrap(),
    ]);
    let profile = s.dir.path().join("chromium");
    let out = std::process::Command::new("chromium")
        .args(common::CHROMIUM_FLAGS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium (Debian's package; scripts/test installs it)");
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("<th>Inkomna e-brev</th><td class=\"n\">5</td>"),
        "{dom}"
    );
    assert!(
        dom.contains("<th>Klagomål</th><td class=\"n\">1</td>"),
        "{dom}"
    );
    // Two sections (bygg, total), one week each: one chart each, one bar per series.
    assert_eq!(dom.matches("<svg").count(), 2, "{dom}");
    assert_eq!(dom.matches("fill=\"#1F5FA8\"").count(), 2, "{dom}");
    assert_eq!(dom.matches("fill=\"#3C9A4A\"").count(), 2, "{dom}");
}

#[tokio::test(flavor = "multi_thread")]
async fn report_to_gets_the_months_report_once_also_after_a_restart() {
    let s = Setup::new(
        "reportmail",
        "report_to = [\"namnd-reportmail@kommun.test\"]\nreport_every = \"month\"",
    );
    let namnd = "namnd-reportmail@kommun.test";
    // Installed in December: no report of November, before kvittens ran.
    let december = [("KVITTENS_TEST_REPORT_NOW", "2026-12-15T09:00:00+01:00")];
    let first = s.spawn_env(&[], &december);
    first.wait_log("the first report goes when this period has ended", 1);
    first.wait_log("watching mailbox", 1);
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        s.stack.inbox(namnd).await.is_empty(),
        "no report of November"
    );
    assert!(first.stop().success());
    // 1 January 2027, the first working day of January on this calendar (it has no days off).
    let env = [("KVITTENS_TEST_REPORT_NOW", "2027-01-01T09:00:00+01:00")];
    let daemon = s.spawn_env(&[], &env);
    let got = s.stack.wait_for(namnd, 1).await;
    let subject = header(&got[0], "subject").unwrap();
    assert!(subject.contains("2026-12-01 – 2026-12-31"), "{subject}");
    let raw = String::from_utf8_lossy(&got[0]);
    assert!(
        raw.contains("text/html") && raw.contains("text/csv"),
        "both attached"
    );
    daemon.wait_log("sent case=report-bygg", 1);
    // Stopped, not killed: staff mail has no copy to confirm it, so a kill between the
    // server's answer and its record on disk sends it again by design (README, "Exactly
    // once"); what this test is about is the period's mark, which a restart must keep.
    assert!(daemon.stop().success());
    let again = s.spawn_env(&[], &env);
    again.wait_log("watching mailbox", 1);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        s.stack.inbox(namnd).await.len(),
        1,
        "once, not again after the restart"
    );
    let (code, _, err) = kvittens(&[
        "report",
        "--config",
        s.config.to_str().unwrap(),
        "--from",
        "2026-12-02",
        "--to",
        "2026-12-01",
        "--format",
        "csv",
        "--out",
        "-",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("--from 2026-12-02 is after --to 2026-12-01"),
        "{err}"
    );
}

/// kvittens' own mail to a resident comes back as a copy into the department mailbox: the
/// receipt's, the delay notice's and the move notice's copies are all its own, so none is
/// listed as ignored and none is counted as received or as mail without a case.
#[tokio::test(flavor = "multi_thread")]
async fn the_copies_of_a_delay_and_a_move_notice_are_neither_counted_nor_listed() {
    let s = Setup::with_departments("repcopy", &[("bygg", ""), ("plan", "")]);
    let daemon = s.start();
    s.stack
        .append(
            &s.mailbox(),
            &s.question(1, "q-repcopy", "Ansökan om bygglov"),
        )
        .await;
    let number = number_of(&s.stack.wait_for(&s.resident(1), 1).await[0]);
    let config = s.config.to_str().unwrap();
    let later = (chrono::Utc::now().date_naive() + chrono::Duration::days(30)).to_string();
    kvittens_ok(&[
        "case", "postpone", "--config", config, &number, "--to", &later, "--note", "Yttrande",
    ]);
    kvittens_ok(&["case", "move", "--config", config, &number, "--to", "plan"]);
    s.stack.wait_for(&s.resident(1), 3).await;
    // Three copies come back (receipt, delay notice, move notice): each is either known as
    // kvittens' own or, before this was so, ignored as `copy`.
    let seen = |log: &str| {
        log.matches("copy of a mail kvittens sent").count() + log.matches("reason=copy").count()
    };
    until(|| seen(&daemon.log_text()) >= 3);
    let log = daemon.log_text();
    assert_eq!(
        log.matches("copy of a mail kvittens sent").count(),
        3,
        "{log}"
    );
    let figures = report_csv(&s);
    for dept in ["bygg", "plan", "total"] {
        let row = &figures[dept];
        let want = if dept == "plan" { "0" } else { "1" };
        assert_eq!(row["received"], want, "{dept} received: {row:?}");
        assert_eq!(row["no_case"], "0", "{dept} no_case: {row:?}");
        assert!(!row.contains_key("no_case:copy"), "{dept}: {row:?}");
    }
    let listed = kvittens_ok(&["ignored", "--config", config]);
    assert!(
        listed.trim() == "0 ignored mail(s)",
        "nothing listed as ignored: {listed}"
    );
    drop(daemon);
}
