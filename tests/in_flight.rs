//! A crash between the final dot and the record of the server's answer, set up exactly: the
//! store is prepared through the library (a case, its receipt marked in flight) while the
//! daemon is stopped, and what the real SMTP server did with the receipt is played by this
//! test. On the next start the real `kvittens` binary must neither send the receipt again when
//! the server had it, nor lose it when the server never did.

mod common;
#[path = "common/crash.rs"]
mod crash;

use common::{header, kvittens_ok, Setup};
use kvittens::mail::outgoing::Outgoing;
use kvittens::model::Kind;
use std::time::Duration;

/// How long an unconfirmed mail waits for its copy in these tests.
const WAIT: &str = "3s";

fn setup(tag: &str) -> Setup {
    let s = crash::setup_waiting(tag, WAIT);
    // A first start and stop: the mailbox cursor is set, as on any server kvittens ran on.
    assert!(s.start().stop().success());
    s
}

/// Opens a case through the library, as the daemon would have before the crash, and marks its
/// receipt in flight (the officer notice, without a copy, just waits in the outbox). Returns
/// the receipt.
fn crash_mid_send(s: &Setup) -> Outgoing {
    let sent = crash::receipt_in_flight(s, 1, &format!("q-{}", s.tag));
    assert!(sent.receipt.copy, "receipts are copied to the department");
    assert_eq!(sent.store.in_flight().unwrap(), 1);
    assert!(sent.pending.iter().any(|m| m.kind == Kind::OfficerNotice));
    sent.receipt
}

fn timeline(s: &Setup, case: &str) -> String {
    kvittens_ok(&["case", "show", case, "--config", s.config.to_str().unwrap()])
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receipt_the_server_took_before_the_crash_is_not_sent_again() {
    let s = setup("flown");
    let receipt = crash_mid_send(&s);
    crash::server_took(&s, &receipt).await;
    s.stack.wait_for(&s.mailbox(), 1).await;

    let daemon = s.start();
    daemon.wait_log("recorded as sent", 1);
    // Past the wait, the receipt would have gone again had its copy not been recognised.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let officer = s.stack.wait_for(&s.officer(1), 1).await;
    assert!(daemon.stop().success());

    let got = s.stack.inbox(&s.resident(1)).await;
    assert_eq!(got.len(), 1, "the resident has exactly one receipt");
    assert_eq!(
        header(&got[0], "message-id").unwrap(),
        format!("<{}>", receipt.id)
    );
    assert_eq!(officer.len(), 1, "the officer notice went once");
    assert_eq!(s.stack.inbox(&s.mailbox()).await.len(), 1, "one copy");
    let text = timeline(&s, &receipt.about.to_string());
    assert!(text.contains("confirmed by its copy"), "{text}");
    assert!(!text.contains("sending it again"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receipt_the_server_never_took_goes_after_the_wait() {
    let s = setup("grounded");
    let receipt = crash_mid_send(&s);

    let daemon = s.start();
    // The officer notice goes at once; the receipt waits for its copy, which never comes, and
    // then goes.
    s.stack.wait_for(&s.officer(1), 1).await;
    let got = s.stack.wait_for(&s.resident(1), 1).await;
    let log = daemon.wait_log("no copy of it arrived; sending it again", 1);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(daemon.stop().success());

    assert_eq!(s.stack.inbox(&s.resident(1)).await.len(), 1, "{log}");
    assert_eq!(
        header(&got[0], "message-id").unwrap(),
        format!("<{}>", receipt.id)
    );
    assert_eq!(s.stack.inbox(&s.officer(1)).await.len(), 1);
    // The copy of the receipt, sent with it this time.
    assert_eq!(s.stack.inbox(&s.mailbox()).await.len(), 1);
    let text = timeline(&s, &receipt.about.to_string());
    assert!(
        text.contains("no copy of it reached the department mailbox"),
        "{text}"
    );
    assert!(
        text.contains(&format!("receipt sent to {}", s.resident(1))),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mailbox_that_refuses_the_copy_does_not_hold_the_receipt_back() {
    // The test stack refuses mail to refused-…@ at RCPT: the department's own address here.
    let s = Setup::with_departments("nocopy", &[("refused", "")]);
    let mailbox = format!("refused-{}@kommun.test", s.tag);
    let daemon = s.start();
    let question = s
        .question(1, "q-nocopy", "Fråga om parkering")
        .replace(&s.mailbox(), &mailbox);
    s.stack.append(&mailbox, &question).await;
    let got = s.stack.wait_for(&s.resident(1), 1).await;
    daemon.wait_log("refused the copy", 1);
    s.stack.wait_for(&s.officer(1), 1).await;
    assert!(daemon.stop().success());
    assert_eq!(got.len(), 1);
    assert_eq!(
        s.stack.inbox(&mailbox).await.len(),
        1,
        "only the question: no copy"
    );
    assert_eq!(s.stack.inbox(&s.resident(1)).await.len(), 1);
}
