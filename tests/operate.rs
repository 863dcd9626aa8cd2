//! Running kvittens as a service: /metrics and /healthz, SIGHUP reload, JSON logs without
//! secrets — against the real mail stack.

mod common;

use common::{body, http_get as get, Setup};
use std::time::Duration;

fn metric(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name_and_labels) && l[name_and_labels.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name_and_labels} in\n{text}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_and_health_tell_what_happens() {
    let s = Setup::new("metrics", "");
    let daemon = s.start();
    let log = daemon.wait_log("serving /metrics", 1);
    let (status, text) = get(&log, "/healthz");
    assert!(status.contains("200"), "{status} {text}");

    s.stack
        .append(&s.mailbox(), &s.question(1, "m1-metrics", "Fråga"))
        .await;
    let auto = format!("From: x-metrics@medborgare.test\nTo: {}\nAuto-Submitted: auto-replied\nSubject: Autosvar\n\nBorta.\n", s.mailbox());
    s.stack.append(&s.mailbox(), &auto).await;
    s.stack
        .append(&s.mailbox(), &s.question(2, "m2-metrics", "Fråga"))
        .await;
    s.stack.wait_for(&s.resident(2), 1).await;
    // The notices go out after the receipts, and the receipts' copies come back to the
    // department mailbox: wait until all of that has happened.
    let mut text = String::new();
    let seen = "kvittens_messages_seen_total{department=\"bygg\"}";
    for _ in 0..50 {
        text = get(&log, "/metrics").1;
        if metric(&text, "kvittens_mail_sent_total{kind=\"officer_notice\"}") >= 2.0
            && metric(&text, seen) >= 5.0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Two questions, one auto-reply, two copies of receipts.
    assert_eq!(metric(&text, seen), 5.0);
    assert_eq!(
        metric(&text, "kvittens_cases_opened_total{department=\"bygg\"}"),
        2.0
    );
    assert_eq!(
        metric(
            &text,
            "kvittens_ignored_total{department=\"bygg\",reason=\"automatic\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(&text, "kvittens_mail_sent_total{kind=\"receipt\"}"),
        2.0
    );
    assert_eq!(
        metric(&text, "kvittens_cases_open{department=\"bygg\"}"),
        2.0
    );
    assert_eq!(
        metric(&text, "kvittens_cases_overdue{department=\"bygg\"}"),
        0.0
    );
    assert_eq!(
        metric(
            &text,
            "kvittens_imap_connected{department=\"bygg\",folder=\"inbox\"}"
        ),
        1.0
    );
    assert_eq!(metric(&text, "kvittens_receipt_latency_seconds_count"), 2.0);
    assert_eq!(metric(&text, "kvittens_outbox"), 0.0);
    assert_eq!(metric(&text, "kvittens_in_flight"), 0.0);
    assert!(daemon.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn health_fails_while_a_mailbox_cannot_be_reached() {
    // A second department whose IMAP server is not there (nothing listens on port 9).
    let s = Setup::with_departments("health", &[("bygg", ""), ("plan", "")]);
    let text = std::fs::read_to_string(&s.config).unwrap().replace(
        "mailbox = { user = \"plan-health@kommun.test\", password = \"secret\" }",
        "mailbox = { user = \"plan-health@kommun.test\", password = \"secret\", port = 9 }",
    );
    std::fs::write(&s.config, text).unwrap();
    let daemon = s.spawn();
    let log = daemon.wait_log("watching mailbox", 1);
    let log = daemon.wait_log("mailbox unavailable", 1).max(log);
    let (status, text) = get(&log, "/healthz");
    assert!(status.contains("503"), "{status}");
    assert!(text.contains("plan") && !text.contains("bygg "), "{text}");
    // One line per state change, not one per retry.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let log = daemon.log_text();
    let inbox_lines = log
        .lines()
        .filter(|l| l.contains("mailbox unavailable") && l.contains("folder=inbox"))
        .count();
    assert_eq!(inbox_lines, 1, "{log}");
    // The other mailbox works meanwhile.
    s.stack
        .append(&s.mailbox(), &s.question(1, "h1-health", "Fråga"))
        .await;
    s.stack.wait_for(&s.resident(1), 1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_officers_and_refuses_a_broken_config() {
    let s = Setup::new("reload", "");
    let daemon = s.start();
    let original = std::fs::read_to_string(&s.config).unwrap();
    let changed = original.replace(
        "{ name = \"Olle Handläggare\", email = \"o1-reload@kommun.test\" },",
        "{ name = \"Karin Nyanställd\", email = \"o3-reload@kommun.test\" },",
    );
    assert_ne!(changed, original);
    std::fs::write(&s.config, &changed).unwrap();
    daemon.signal("HUP");
    daemon.wait_log("config and templates reloaded", 1);
    s.stack
        .append(&s.mailbox(), &s.question(1, "r1-reload", "Fråga"))
        .await;
    let text = body(&s.stack.wait_for(&s.resident(1), 1).await[0]);
    assert!(text.contains("Karin Nyanställd"), "{text}");

    std::fs::write(
        &s.config,
        changed.replace("reply_within = \"3d\"", "reply_within = \"tre dagar\""),
    )
    .unwrap();
    daemon.signal("HUP");
    let log = daemon.wait_log("reload refused", 1);
    assert!(log.contains("reply_within"), "the refusal names the key");
    // Still running, with the last good config.
    s.stack
        .append(&s.mailbox(), &s.question(2, "r2-reload", "Fråga"))
        .await;
    s.stack.wait_for(&s.resident(2), 1).await;
    assert!(daemon.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_one_line_per_decision_and_no_secrets() {
    let s = Setup::new("jsonlog", "");
    let daemon = s.spawn_with(&["--log-format", "json"]);
    daemon.wait_log("watching mailbox", 1);
    s.stack
        .append(&s.mailbox(), &s.question(1, "j1-jsonlog", "Fråga"))
        .await;
    s.stack.wait_for(&s.resident(1), 1).await;
    let log = daemon.wait_log("new case", 1);
    for line in log.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["fields"]["message"].is_string(), "{line}");
    }
    assert!(!log.contains("secret"), "a password reached the log");
    assert!(
        !log.contains("Jag har en fråga"),
        "a message body reached the log"
    );
}

use common::kvittens_ok as kv;

#[tokio::test(flavor = "multi_thread")]
async fn export_import_and_retention() {
    let s = Setup::new("export", "");
    let daemon = s.start();
    for i in 1..=3 {
        s.stack
            .append(
                &s.mailbox(),
                &s.question(i, &format!("e{i}-export"), "Fråga"),
            )
            .await;
        s.stack.wait_for(&s.resident(i), 1).await;
    }
    let config = s.config.to_str().unwrap();
    // Close one case while the daemon runs; export while it runs too.
    let first = kv(&["cases", "--config", config, "--json"])
        .lines()
        .next()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["number"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .unwrap();
    kv(&[
        "case", "close", "--config", config, &first, "--note", "klart",
    ]);
    // The list of cases, while it runs; a whole-store export waits for the daemon to stop.
    let exported = kv(&["cases", "--config", config, "--json"]);
    assert_eq!(exported.lines().count(), 3);
    let (code, _, err) = common::kvittens(&["export", "--config", config]);
    assert_eq!(code, 1);
    assert!(
        err.contains("kvittens is running on the store") && err.contains("stop it"),
        "{err}"
    );
    assert!(daemon.stop().success());

    // Into a fresh store: the same cases, and numbering goes on after them.
    let other = Setup::new("export", "");
    let file = other.dir.path().join("cases.jsonl");
    std::fs::write(&file, &exported).unwrap();
    let other_config = other.config.to_str().unwrap();
    assert!(
        kv(&["import", "--config", other_config, file.to_str().unwrap()])
            .contains("3 case(s) imported")
    );
    assert!(
        kv(&["import", "--config", other_config, file.to_str().unwrap()])
            .contains("0 case(s) imported, 3 already there")
    );
    let listed = kv(&["cases", "--config", other_config, "--open"]);
    assert!(listed.contains("2 case(s)"), "{listed}");

    // Retention: the closed case goes, the open ones stay; --dry-run only tells.
    let text = std::fs::read_to_string(&other.config)
        .unwrap()
        .replace("listen = ", "retention = \"1s\"\nlisten = ");
    std::fs::write(&other.config, text).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let dry = kv(&["purge", "--config", other_config, "--dry-run"]);
    assert!(
        dry.contains(&format!("would purge {first}")) && dry.contains("1 case(s) would be purged"),
        "{dry}"
    );
    assert!(kv(&["cases", "--config", other_config]).contains("3 case(s)"));
    assert!(kv(&["purge", "--config", other_config]).contains("1 case(s) purged"));
    let left = kv(&["cases", "--config", other_config]);
    assert!(
        left.contains("2 case(s)") && !left.contains(&first),
        "{left}"
    );
}

/// `[smtp] max_per_minute`: the outbox waits for the provider's limit instead of the provider
/// refusing mail; nothing is dropped, the first receipt goes at once, and `/healthz` and
/// `/metrics` show the queue while it waits.
#[tokio::test(flavor = "multi_thread")]
async fn the_send_limit_spaces_mail_and_drops_none() {
    let s = Setup::new("ratelimit", "");
    let text = std::fs::read_to_string(&s.config).unwrap().replacen(
        "from = \"Salems kommun <noreply@kommun.test>\"",
        "from = \"Salems kommun <noreply@kommun.test>\"\nmax_per_minute = 2",
        1,
    );
    std::fs::write(&s.config, text).unwrap();
    let daemon = s.start();
    let log = daemon.wait_log("serving /metrics", 1);
    let start = std::time::Instant::now();
    // Two residents: two receipts and two officer notices, four mails, two a minute.
    for n in [1, 2] {
        let id = format!("rl{n}-ratelimit");
        s.stack
            .append(&s.mailbox(), &s.question(n, &id, "Fråga om bygglov"))
            .await;
    }
    let first = s.stack.wait_for(&s.resident(1), 1).await;
    assert_eq!(first.len(), 1);
    daemon.wait_log("send limit is reached", 1);
    let delivered = |counts: &[usize]| counts.iter().sum::<usize>();
    let counts = [
        s.stack.inbox(&s.resident(1)).await.len(),
        s.stack.inbox(&s.resident(2)).await.len(),
        s.stack.inbox(&s.officer(1)).await.len(),
        s.stack.inbox(&s.officer(2)).await.len(),
    ];
    assert_eq!(delivered(&counts), 2, "two a minute: {counts:?}");
    let (status, health) = get(&log, "/healthz");
    assert!(status.contains("200"), "{status} {health}");
    assert!(
        health.contains("wait for the SMTP account's send limit"),
        "{health}"
    );
    let metrics = get(&log, "/metrics").1;
    assert!(metric(&metrics, "kvittens_send_budget_queue") >= 1.0);
    assert!(metric(&metrics, "kvittens_send_budget_wait_seconds") > 0.0);

    // The rest goes once the first two are a minute old; none is dropped.
    let deadline = std::time::Instant::now() + Duration::from_secs(100);
    loop {
        let counts = [
            s.stack.inbox(&s.resident(1)).await.len(),
            s.stack.inbox(&s.resident(2)).await.len(),
            s.stack.inbox(&s.officer(1)).await.len() + s.stack.inbox(&s.officer(2)).await.len(),
        ];
        if counts == [1, 1, 2] {
            break;
        }
        assert!(
            counts[0] <= 1 && counts[1] <= 1 && counts[2] <= 2,
            "{counts:?}"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "not all sent: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        start.elapsed() >= Duration::from_secs(55),
        "the last two waited for the minute: {:?}",
        start.elapsed()
    );
    let log = daemon.wait_log("no longer holds mail back", 1);
    assert_eq!(log.matches("send limit is reached").count(), 1, "{log}");
    let (_, health) = get(&log, "/healthz");
    assert_eq!(health, "ok\n");
}
