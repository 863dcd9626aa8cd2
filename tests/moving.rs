//! Moving a store (`kvittens export | kvittens import -`) with everything in it that makes
//! "exactly once" hold, then running the real daemon on the moved store against the real
//! Dovecot and Postfix: no resident gets a receipt twice, a receipt in flight is confirmed by
//! its copy or sent once, mail queued goes once, and mail that arrived during the move is
//! answered.

mod common;
#[path = "common/crash.rs"]
mod crash;

use common::{header, kvittens, kvittens_ok, Setup};
use kvittens::mail::outgoing::Outgoing;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// How long an unconfirmed mail waits for its copy in these tests.
const WAIT: &str = "3s";

fn setup(tag: &str) -> Setup {
    crash::setup_waiting(tag, WAIT)
}

fn config(s: &Setup) -> &str {
    s.config.to_str().unwrap()
}

/// A case for resident `n` opened through the library as the daemon would have, its receipt
/// marked in flight (the dot sent, the answer never recorded): a crash mid-send.
fn in_flight(s: &Setup, n: u32) -> Outgoing {
    crash::receipt_in_flight(s, n, &format!("q{n}-{}", s.tag)).receipt
}

/// The store as the daemon leaves it after some work: two residents answered (one case
/// closed), an automatic mail ignored, an absence, and — the daemon stopped — two receipts in
/// flight (one the server took, one it never did) with their officer notices still queued.
/// Returns the two receipts in flight.
async fn used_store(s: &Setup) -> (Outgoing, Outgoing) {
    let daemon = s.start();
    for n in 1..=2 {
        let q = s.question(n, &format!("q{n}-{}", s.tag), "Fråga");
        s.stack.append(&s.mailbox(), &q).await;
        s.stack.wait_for(&s.resident(n), 1).await;
    }
    let auto = format!(
        "From: <{}>\nTo: {}\nSubject: Autosvar\nAuto-Submitted: auto-replied\nMessage-ID: <auto-{}@medborgare.test>\n\nJag är borta.\n",
        s.resident(9),
        s.mailbox(),
        s.tag
    );
    s.stack.append(&s.mailbox(), &auto).await;
    daemon.wait_log("no receipt department=bygg", 1);
    let first = kvittens_ok(&["cases", "--config", config(s), "--json"]);
    let first: serde_json::Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    let number = first["number"].as_str().unwrap().to_string();
    kvittens_ok(&["case", "close", "--config", config(s), &number]);
    kvittens_ok(&[
        "officer",
        "away",
        "--config",
        config(s),
        &s.officer(1),
        "--from",
        "2027-02-01",
        "--to",
        "2027-02-03",
        "--substitute",
        &s.officer(2),
    ]);
    assert!(daemon.stop().success());
    let took = in_flight(s, 3);
    let never = in_flight(s, 4);
    crash::server_took(s, &took).await;
    (took, never)
}

/// `kvittens export --config C`, whole.
fn export(s: &Setup) -> String {
    let (code, out, err) = kvittens(&["export", "--config", config(s)]);
    assert_eq!(code, 0, "{err}");
    out
}

/// `kvittens import --config C -` with `dump` on standard input.
fn import_stdin(s: &Setup, dump: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kvittens"))
        .args(["import", "--config", config(s), "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(dump.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// Everything but the head line (whose id floor rises with each export).
fn body_lines(dump: &str) -> Vec<&str> {
    dump.lines().skip(1).collect()
}

fn store_dir(s: &Setup) -> std::path::PathBuf {
    s.dir.path().join("store")
}

/// Moves the store at `s` aside and imports `dump` into a new one in its place.
fn move_into_new_store(s: &Setup, dump: &str, aside: &Path) {
    std::fs::rename(store_dir(s), aside).unwrap();
    let said = import_stdin(s, dump);
    assert!(
        said.contains("key(s) and 0 \"being read\" mark(s) imported"),
        "{said}"
    );
}

/// Runs the daemon on the moved store and checks that each resident has exactly one receipt,
/// the one in flight that the server took is confirmed by its copy, the other sent once.
async fn run_after_the_move(s: &Setup, took: &Outgoing, never: &Outgoing) {
    // Arrived while the store was being moved.
    let q5 = s.question(5, &format!("q5-{}", s.tag), "Fråga");
    s.stack.append(&s.mailbox(), &q5).await;
    let daemon = s.start();
    s.stack.wait_for(&s.resident(5), 1).await;
    s.stack.wait_for(&s.resident(4), 1).await;
    daemon.wait_log("recorded as sent", 1);
    daemon.wait_log("no copy of it arrived; sending it again", 1);
    // Past the wait, the taken receipt would have gone again had its copy not been known.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let log = daemon.log_text();
    assert!(daemon.stop().success());
    for n in 1..=5 {
        let got = s.stack.inbox(&s.resident(n)).await;
        assert_eq!(
            got.len(),
            1,
            "resident {n} has {} receipts\n{log}",
            got.len()
        );
    }
    assert!(s.stack.inbox(&s.resident(9)).await.is_empty());
    let r3 = s.stack.inbox(&s.resident(3)).await;
    assert_eq!(
        header(&r3[0], "message-id").unwrap(),
        format!("<{}>", took.id)
    );
    let show = |case: &str| kvittens_ok(&["case", "show", case, "--config", config(s)]);
    let text = show(&took.about.to_string());
    assert!(text.contains("confirmed by its copy"), "{text}");
    assert!(!text.contains("sending it again"), "{text}");
    let text = show(&never.about.to_string());
    assert!(
        text.contains("no copy of it reached the department mailbox"),
        "{text}"
    );
    let ignored = kvittens_ok(&["ignored", "--config", config(s)]);
    assert!(ignored.contains("Autosvar"), "{ignored}");
    let staff = kvittens_ok(&["officer", "list", "--config", config(s)]);
    assert!(staff.contains("2027-02-01"), "{staff}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_moved_by_export_and_import_sends_nothing_twice_and_loses_nothing() {
    let s = setup("move");
    let (took, never) = used_store(&s).await;
    let dump = export(&s);
    for prefix in [
        "case/", "cursor/", "outbox/", "flight/", "handled/", "ignored/", "away/", "tally/",
    ] {
        let line = format!("{{\"key\":\"{prefix}");
        assert!(dump.contains(&line), "no {prefix} in the dump:\n{dump}");
    }
    let aside = s.dir.path().join("store.before");
    move_into_new_store(&s, &dump, &aside);
    // Key for key the same store.
    assert_eq!(body_lines(&export(&s)), body_lines(&dump));
    // A second import into the now full store is refused plainly and changes nothing.
    let file = s.dir.path().join("dump.jsonl");
    std::fs::write(&file, &dump).unwrap();
    let (code, _, err) = kvittens(&["import", "--config", config(&s), file.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("not empty") && err.contains("a dump goes into a new store only"),
        "{err}"
    );
    run_after_the_move(&s, &took, &never).await;
}

#[test]
fn a_list_of_cases_on_standard_input_is_imported_as_before() {
    let s = setup("movecases");
    let number = format!("{}-2026-0007", s.prefix(0));
    let received = chrono::Utc::now();
    let line = serde_json::json!({
        "number": number, "department": "bygg", "state": "open",
        "category": "question", "language": "sv",
        "resident": {"name": "Sara Berg", "email": s.resident(1)},
        "officer": {"name": "Olle Handläggare", "email": s.officer(1)},
        "subject": "Fråga", "received": received, "reply_due": received,
        "decision_due": received, "events": [], "message_ids": [],
    });
    let said = import_stdin(&s, &format!("\n{line}\n"));
    assert!(said.contains("1 case(s) imported"), "{said}");
    let said = import_stdin(&s, &format!("{line}\n"));
    assert!(
        said.contains("0 case(s) imported, 1 already there"),
        "{said}"
    );
    let listed = kvittens_ok(&["cases", "--config", config(&s), "--json"]);
    assert!(listed.contains(&number), "{listed}");
    // An input that cannot be read, or is empty, is named.
    let (code, _, err) = kvittens(&["import", "--config", config(&s), "/nonexistent/dump.jsonl"]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot read /nonexistent/dump.jsonl"), "{err}");
    let (code, _, err) = kvittens(&["import", "--config", config(&s), "-"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("standard input is empty: nothing to import"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_moved_to_postgresql_and_back_sends_nothing_twice_and_loses_nothing() {
    let s = setup("movepg");
    let (took, never) = used_store(&s).await;
    let dump = export(&s);
    let on_sled = std::fs::read_to_string(&s.config).unwrap();

    // sled → PostgreSQL: a fresh database, the same keys; the daemon runs on it.
    s.use_postgres();
    let said = import_stdin(&s, &dump);
    assert!(said.contains("imported into postgresql://"), "{said}");
    let from_pg = export(&s);
    assert_eq!(body_lines(&from_pg), body_lines(&dump));
    let file = s.dir.path().join("dump.jsonl");
    std::fs::write(&file, &dump).unwrap();
    let (code, _, e) = kvittens(&["import", "--config", config(&s), file.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(e.contains("not empty"), "{e}");
    run_after_the_move(&s, &took, &never).await;

    // PostgreSQL → sled, after the daemon's work there: the same keys again, and the daemon
    // on sled sends nothing a second time and answers new mail.
    let after_run = export(&s);
    std::fs::write(&s.config, on_sled).unwrap();
    move_into_new_store(&s, &after_run, &s.dir.path().join("store.before"));
    assert_eq!(body_lines(&export(&s)), body_lines(&after_run));
    let q6 = s.question(6, &format!("q6-{}", s.tag), "Fråga");
    s.stack.append(&s.mailbox(), &q6).await;
    let daemon = s.start();
    s.stack.wait_for(&s.resident(6), 1).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(daemon.stop().success());
    for n in 1..=6 {
        let got = s.stack.inbox(&s.resident(n)).await;
        assert_eq!(got.len(), 1, "resident {n} has {} receipts", got.len());
    }
}
