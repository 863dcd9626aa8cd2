//! A crash between the final dot and the record of the server's answer, set up through the
//! library while the daemon is stopped: a case opened as the daemon would have, its receipt
//! marked in flight, and what the real SMTP server did with it played by the test. Shared by
//! the tests of a crash mid-send (`tests/in_flight.rs`) and of moving a store with such a
//! receipt in it (`tests/moving.rs`); a binary using it also declares `mod common;`.

use crate::common::Setup;
use kvittens::app::engine::{Engine, Incoming, Outcome};
use kvittens::mail::outgoing::Outgoing;
use kvittens::model::Kind;
use kvittens::store::{MessageKey, Store};
use lettre::AsyncTransport;

/// A setup whose daemon waits `wait` (e.g. `"3s"`) for an unconfirmed mail's copy.
pub fn setup_waiting(tag: &str, wait: &str) -> Setup {
    let s = Setup::new(tag, "");
    let text = std::fs::read_to_string(&s.config).unwrap().replacen(
        "[daemon]\n",
        &format!("[daemon]\nunconfirmed_wait = \"{wait}\"\n"),
        1,
    );
    std::fs::write(&s.config, text).unwrap();
    s
}

/// What [`receipt_in_flight`] left behind (`tests/moving.rs` reads only the receipt).
#[allow(dead_code)]
pub struct InFlight {
    /// The receipt, marked in flight.
    pub receipt: Outgoing,
    /// The outbox as the case left it, before the receipt was taken off (the receipt and the
    /// officer notice).
    pub pending: Vec<Outgoing>,
    /// The store, still open.
    pub store: Store,
}

/// Opens a case for resident `n` through the library from a message with id `message_id`
/// (uid `n`, one the daemon will not see in the mailbox), as the daemon would have before the
/// crash, and marks its receipt in flight.
pub fn receipt_in_flight(s: &Setup, n: u32, message_id: &str) -> InFlight {
    let cfg = kvittens::config::Config::load(&s.config).unwrap();
    let templates = kvittens::mail::check::load_templates(&cfg).unwrap();
    let store = Store::open(&cfg.store).unwrap();
    let dept = cfg.departments[0].clone();
    let engine = Engine::new(cfg, store.clone(), templates);
    let raw = s.question(n, message_id, "Fråga om strandskydd");
    let incoming = Incoming {
        key: MessageKey {
            department: dept.id.clone(),
            uid_validity: 0,
            uid: n,
        },
        received: chrono::Utc::now(),
        raw: raw.as_bytes(),
        sent_folder: false,
    };
    let outcome = engine.handle(&dept, &incoming).unwrap();
    assert!(matches!(outcome, Outcome::Opened(_)), "{outcome:?}");
    let outbox = engine.outbox_handle();
    let pending = outbox.pending().unwrap();
    let receipt = (pending.iter())
        .find(|m| m.kind == Kind::Receipt)
        .unwrap()
        .clone();
    outbox.take_off(&receipt, chrono::Utc::now()).unwrap();
    InFlight {
        receipt,
        pending,
        store,
    }
}

/// What the SMTP server did with the final dot: it took the receipt, and its copy to the
/// department mailbox.
pub async fn server_took(s: &Setup, receipt: &Outgoing) {
    let mailer =
        lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(s.stack.smtp_port)
            .build();
    let envelope = lettre::address::Envelope::new(
        Some(receipt.envelope_from.parse().unwrap()),
        vec![
            receipt.to[0].parse().unwrap(),
            receipt.envelope_from.parse().unwrap(),
        ],
    )
    .unwrap();
    mailer.send_raw(&envelope, &receipt.bytes).await.unwrap();
}
