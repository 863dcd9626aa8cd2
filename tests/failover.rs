//! Two instances on one PostgreSQL store, watching the same mailbox (the real Dovecot, Postfix
//! and PostgreSQL of `scripts/test`): one holds the leases, the other waits. A burst of
//! residents' mail arrives, the holder is killed (-9) in the middle of it, the other takes
//! over; every resident must get exactly one receipt — none lost, none twice. Then a clean
//! stop hands the leases over at once. `KVITTENS_FAILOVER_N` sets the number of residents
//! (150 by default, so that CI stays quick; `scripts/faults failover` runs 1 000).
//!
//! The takeover time is printed, not asserted: speed is for `scripts/faults`.

mod common;

use common::{http_get, Daemon, Setup};
use std::time::{Duration, Instant};

/// How long a mail left in flight by the killed instance waits for its copy before it is sent
/// again: long enough for a copy on a loaded machine, short enough for the test.
const UNCONFIRMED_WAIT: &str = "20s";

/// Residents in the burst.
fn residents() -> u32 {
    std::env::var("KVITTENS_FAILOVER_N")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(150)
}

/// Two instances' configs: the same department, each its own directory (log, control socket
/// in `state`), one fresh database.
fn instances(tag: &str) -> (Setup, Setup) {
    let a = Setup::new(tag, "");
    let url = a.use_postgres();
    let b = Setup::new(tag, "");
    let password =
        std::path::Path::new(&std::env::var("KVITTENS_PG_DIR").unwrap()).join("password");
    for s in [&a, &b] {
        let text = std::fs::read_to_string(&s.config).unwrap();
        let text = text.replacen(
            "store = \"store\"\n",
            &format!(
                "store = \"{url}\"\nstore_password_file = \"{}\"\nstate_dir = \"state\"\n",
                password.display()
            ),
            1,
        );
        let text = text.replacen(
            "[daemon]\n",
            &format!("[daemon]\nunconfirmed_wait = \"{UNCONFIRMED_WAIT}\"\n"),
            1,
        );
        std::fs::write(&s.config, text).unwrap();
    }
    (a, b)
}

/// The value of the metric line that begins with `line` (labels included), if any.
fn metric(d: &Daemon, line: &str) -> Option<i64> {
    let (_, body) = http_get(&d.log_text(), "/metrics");
    body.lines()
        .find(|l| l.starts_with(line))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Waits (at most `limit`) until `done` holds, polling every 200 ms.
fn until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "never: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Starts an instance and waits until its leases have been asked for once; whether it holds
/// them is for the caller to see.
fn spawn(s: &Setup) -> Daemon {
    let d = s.spawn();
    d.wait_log("serving /metrics and /healthz", 1);
    d.wait_log("under which it holds its leases", 1);
    d
}

/// Per resident, how many receipts reached their inbox: (lost, duplicated).
async fn count_receipts(s: &Setup, n: u32) -> (Vec<u32>, Vec<u32>) {
    let (mut lost, mut twice) = (Vec::new(), Vec::new());
    for r in 1..=n {
        match s.stack.inbox(&s.resident(r)).await.len() {
            0 => lost.push(r),
            1 => {}
            _ => twice.push(r),
        }
    }
    (lost, twice)
}

/// Residents who have no receipt yet.
async fn waiting(s: &Setup, n: u32) -> u32 {
    let mut left = 0;
    for r in 1..=n {
        if s.stack.inbox(&s.resident(r)).await.is_empty() {
            left += 1;
        }
    }
    left
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instance_is_taken_over_with_no_receipt_lost_or_sent_twice() {
    let n = residents();
    let tag = "failover";
    let (a, b) = instances(tag);
    let first = spawn(&a);
    first.wait_log("watching mailbox", 1);
    until(
        "the first instance holds the sender's lease",
        Duration::from_secs(30),
        || metric(&first, "kvittens_lease_held{lease=\"sender\"}") == Some(1),
    );
    let second = spawn(&b);
    // The second instance waits: every lease is held by the first.
    until(
        "the second instance sees the leases taken",
        Duration::from_secs(30),
        || metric(&second, "kvittens_lease_held{lease=\"sender\"}") == Some(0),
    );
    assert!(
        !second.log_text().contains("watching mailbox"),
        "both watch:\n{}",
        second.log_text()
    );

    // The burst, appended from another task while the first instance is killed in its middle.
    let stack = a.stack.clone();
    let mails: Vec<(String, String)> = (1..=n)
        .map(|r| {
            (
                a.mailbox(),
                a.question(r, &format!("fo-{r}-{tag}"), &format!("Fråga {r}")),
            )
        })
        .collect();
    let burst = tokio::spawn(async move {
        for (to, raw) in mails {
            stack.append(&to, &raw).await;
        }
    });
    let sent_some = i64::from((n / 4).max(1));
    let first = tokio::task::spawn_blocking(move || {
        until(
            "the first instance sends receipts",
            Duration::from_secs(120),
            || {
                metric(&first, "kvittens_mail_sent_total{kind=\"receipt\"}").unwrap_or(0)
                    >= sent_some
            },
        );
        first
    })
    .await
    .unwrap();
    let killed = Instant::now();
    first.kill();
    let watching = {
        let log = b.dir.path().join("kvittens.log");
        tokio::task::spawn_blocking(move || {
            until(
                "the second instance takes over",
                Duration::from_secs(60),
                || {
                    std::fs::read_to_string(&log)
                        .unwrap_or_default()
                        .contains("watching mailbox")
                },
            );
            killed.elapsed()
        })
        .await
        .unwrap()
    };
    println!(
        "failover: the second instance watched the mailbox {:.1} s after the kill -9",
        watching.as_secs_f64()
    );
    burst.await.unwrap();

    let start = Instant::now();
    while waiting(&a, n).await > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(240),
            "receipts still missing after 4 min:\n{}",
            second.log_text()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    println!(
        "failover: {n} receipts delivered {:.1} s after the kill",
        killed.elapsed().as_secs_f64()
    );
    // Nothing may still be on its way that could arrive twice.
    until(
        "the outbox and the flights are empty",
        Duration::from_secs(120),
        || {
            metric(&second, "kvittens_outbox ") == Some(0)
                && metric(&second, "kvittens_in_flight ") == Some(0)
        },
    );
    let (lost, twice) = count_receipts(&a, n).await;
    println!(
        "failover: {n} residents, lost {}, duplicated {}",
        lost.len(),
        twice.len()
    );
    assert!(lost.is_empty(), "no receipt for residents {lost:?}");
    assert!(
        twice.is_empty(),
        "more than one receipt for residents {twice:?}"
    );
    let log = second.log_text();
    assert!(log.contains("leases taken"), "{log}");
    assert_eq!(
        metric(&second, "kvittens_lease_held{lease=\"sender\"}"),
        Some(1)
    );

    // A clean stop: the leases are given up, and a waiting instance takes over at once.
    let third = spawn(&a);
    until(
        "the restarted instance waits",
        Duration::from_secs(30),
        || metric(&third, "kvittens_lease_held{lease=\"sender\"}") == Some(0),
    );
    let stopped = Instant::now();
    assert!(second.stop().success());
    assert!(std::fs::read_to_string(b.dir.path().join("kvittens.log"))
        .unwrap()
        .contains("leases given up"));
    third.wait_log("watching mailbox", 1);
    println!(
        "failover: clean stop handed over in {:.1} s",
        stopped.elapsed().as_secs_f64()
    );
    let more = n + 1;
    a.stack
        .append(
            &a.mailbox(),
            &a.question(more, &format!("fo-{more}-{tag}"), "Efter överlämningen"),
        )
        .await;
    let got = a.stack.wait_for(&a.resident(more), 1).await;
    assert_eq!(got.len(), 1);
    assert!(third.stop().success());
}
