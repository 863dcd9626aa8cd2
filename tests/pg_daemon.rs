//! The daemon with its store in PostgreSQL (`store = "postgresql://…"`), end to end: the real
//! Dovecot and Postfix from scripts/mailstack, the database from scripts/pgstack (both started
//! by scripts/test).

mod common;

use common::{header, kvittens, kvittens_ok, Setup};

#[tokio::test(flavor = "multi_thread")]
async fn a_resident_gets_one_receipt_with_the_store_in_postgresql_across_a_restart() {
    let s = Setup::new("pgdaemon", "");
    let url = s.use_postgres();
    let config = s.config.to_str().unwrap();
    // check-config --connect logs in to the database too, and names it without password.
    let (code, out, err) = kvittens(&["check-config", "--connect", "--config", config]);
    let name = url.split('?').next().unwrap();
    assert!(
        out.contains(&format!("store {name}: ok")),
        "{code} {out}{err}"
    );
    let m = s.mailbox();
    let daemon = s.start();
    s.stack
        .append(&m, &s.question(1, "q1-pgdaemon", "Bygglov"))
        .await;
    let receipts = s.stack.wait_for(&s.resident(1), 1).await;
    let subject = header(&receipts[0], "subject").unwrap();
    let log = s.dir.path().join("kvittens.log");
    let stopped = daemon.stop().success();
    assert!(
        stopped,
        "SIGTERM must exit 0:\n{}",
        std::fs::read_to_string(&log).unwrap()
    );
    // Stopped, the commands read the database itself.
    let list = kvittens_ok(&["cases", "--config", config]);
    assert!(list.contains(&format!("{}-", s.prefix(0))), "{list}");

    // Started again: the same message is not acknowledged twice; a new one is, numbered on.
    let daemon = s.start();
    s.stack
        .append(&m, &s.question(2, "q2-pgdaemon", "Bygglov igen"))
        .await;
    s.stack.wait_for(&s.resident(2), 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(
        s.stack.inbox(&s.resident(1)).await.len(),
        1,
        "a second receipt"
    );
    let second = header(&s.stack.inbox(&s.resident(2)).await[0], "subject").unwrap();
    assert_ne!(subject, second);
    // The log names the database without its password.
    let log = daemon.log_text();
    let password = std::env::var("KVITTENS_PG_PASSWORD").unwrap();
    assert!(log.contains(name) && !log.contains(&password), "{log}");
    assert!(daemon.stop().success(), "{log}");
}
