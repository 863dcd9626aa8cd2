//! A hundred department mailboxes on the real Dovecot, also when it restarts under them: the
//! short version of `scripts/bench --only many`, so that CI keeps the figures of the
//! README's *Sizing* honest. Every inbox is watched within 10 s at the default login rate;
//! after a restart every folder is watched again, and every mail put in a mailbox at the
//! server's return is answered, within 60 s.
//!
//! A test binary of its own: it restarts the stack's Dovecot, which no other test may meet
//! half-way (cargo runs test binaries one after another).

mod common;

use common::{http_get, Setup};
use std::time::{Duration, Instant};

const MAILBOXES: usize = 100;

/// The times (seconds of the day) of the log lines containing `text`.
fn times(log: &str, text: &str) -> Vec<f64> {
    log.lines()
        .filter(|l| l.contains(text))
        .filter_map(|l| {
            let t = chrono::DateTime::parse_from_rfc3339(l.split_whitespace().next()?).ok()?;
            Some(t.timestamp_millis() as f64 / 1000.0)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_mailboxes_are_watched_and_come_back_after_the_imap_server_restarts() {
    let names: Vec<String> = (0..MAILBOXES).map(|i| format!("d{i}")).collect();
    let depts: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "")).collect();
    let s = Setup::with_departments("many", &depts);
    let t0 = Instant::now();
    let daemon = s.spawn();
    daemon.wait_log("ready: every inbox is watched", 1);
    // How fast is the benchmark's to measure (`scripts/bench --only many`), not a test's: here
    // READY must come (within wait_log's 30 s), on a machine that may be busy.
    let ready = t0.elapsed();
    let healthy = |log: &str| http_get(log, "/healthz").0.contains("200");
    let until_healthy = |limit: Duration| {
        let t = Instant::now();
        loop {
            let log = daemon.log_text();
            if healthy(&log) {
                return t.elapsed();
            }
            assert!(
                t.elapsed() < limit,
                "/healthz: {:?}",
                http_get(&log, "/healthz")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    until_healthy(Duration::from_secs(30));

    let dir = std::env::var("KVITTENS_MAILSTACK").expect("run with scripts/test");
    let restart =
        std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/mailstack"))
            .args(["imap-restart", &dir])
            .status()
            .unwrap();
    assert!(restart.success());
    let back = Instant::now();
    // Mail arriving while the watchers come back, in five mailboxes across the config.
    let asked: Vec<(usize, String)> = (0..5)
        .map(|i| (i * 23 % MAILBOXES, s.resident(i as u32)))
        .collect();
    for (i, (m, _)) in asked.iter().enumerate() {
        let mailbox = format!("d{m}-many@kommun.test");
        let raw = s
            .question(
                i as u32,
                &format!("restart-{i}-many"),
                "Fråga efter omstarten",
            )
            .replace(&s.mailbox(), &mailbox);
        s.stack.append(&mailbox, &raw).await;
    }
    until_healthy(Duration::from_secs(60));
    let again = back.elapsed();
    for (_, resident) in &asked {
        s.stack.wait_for(resident, 1).await;
    }
    let answered = back.elapsed();
    assert!(
        again < Duration::from_secs(60),
        "watched again after {again:?}"
    );
    assert!(
        answered < Duration::from_secs(60),
        "answered after {answered:?}"
    );

    // Each folder logged in again, spaced by the gate rather than all at once: 200 sessions at
    // the default 200 logins a second take a second at least.
    // A folder is watched (and /healthz says so) a moment before its line is written.
    let log = daemon.wait_log("mailbox working again", 2 * MAILBOXES);
    let returns = times(&log, "mailbox working again");
    assert_eq!(returns.len(), 2 * MAILBOXES, "one line per folder");
    let spread = returns.iter().cloned().fold(f64::MIN, f64::max)
        - returns.iter().cloned().fold(f64::MAX, f64::min);
    assert!(
        spread >= 0.9,
        "every folder came back within {spread:.2} s: a herd"
    );
    println!("{MAILBOXES} mailboxes: READY after {ready:.2?}; after the restart watched again after {again:.2?}, mail answered after {answered:.2?}");
    daemon.stop();
}
