//! A bounded fuzz run over the path every incoming message takes — raw bytes → parse →
//! decision → case → receipt and notice rendering — with proptest: no input may panic, and no
//! input may put a header of its own into a mail kvittens sends. Runs in CI with a fixed
//! number of cases (PROPTEST_CASES to change it).

#[path = "common/opening.rs"]
mod opening;

use kvittens::app::engine;
use kvittens::config::Config;
use kvittens::mail::templates::Templates;
use kvittens::model::{Inbound, Person};
use kvittens::rules::decide::{self, Decision};
use proptest::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

fn setup() -> &'static (Config, Templates) {
    static SETUP: OnceLock<(Config, Templates)> = OnceLock::new();
    SETUP.get_or_init(|| {
        let cfg =
            Config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo.toml")).unwrap();
        let templates = kvittens::mail::check::load_templates(&cfg).unwrap();
        (cfg, templates)
    })
}

/// Runs one message through everything kvittens does with it, without I/O.
fn run(raw: &[u8]) {
    let (cfg, templates) = setup();
    let dept = &cfg.departments[0];
    let msg = Inbound::parse(raw);
    let decision = engine::decide_with(cfg, dept, &msg, None, false).unwrap();
    let (category, language, resident) = match decision {
        Decision::Acknowledge {
            category,
            language,
            resident,
            ..
        } => (category, language, resident),
        // Whatever else it is, build a receipt anyway: rendering must hold for any input.
        _ => (
            kvittens::model::Category::Question,
            decide::language(&msg),
            msg.reply_address().cloned().unwrap_or(Person {
                name: None,
                email: "x@example.org".into(),
            }),
        ),
    };
    let who = (category, language, &resident);
    let (case, effects) = opening::first_case(cfg, templates, dept, raw, &msg, who, None);
    assert!(!case.subject.contains(['\r', '\n']));
    for mail in effects.mails.into_iter().map(|q| q.mail) {
        let text = String::from_utf8_lossy(&mail.bytes);
        let head = text.split("\r\n\r\n").next().unwrap_or_default();
        for line in head.lines() {
            let l = line.to_ascii_lowercase();
            assert!(
                !l.starts_with("bcc:") && !l.starts_with("x-injected:"),
                "a header from the input: {line:?}"
            );
        }
    }
}

fn header_soup() -> impl Strategy<Value = Vec<u8>> {
    let name = prop::sample::select(vec![
        "From",
        "Reply-To",
        "Subject",
        "Message-ID",
        "In-Reply-To",
        "References",
        "Content-Type",
        "Content-Transfer-Encoding",
        "Auto-Submitted",
        "Authentication-Results",
        "List-Id",
        "To",
    ]);
    let value = prop_oneof![
        ".{0,80}",
        "=\\?(utf-8|iso-8859-1|windows-1252|x-bogus)\\?[bBqQ]\\?[A-Za-z0-9+/=_]{0,60}\\?=",
        Just("=?utf-8?b?SGVqDQpCY2M6IHZpY3RpbUBleGFtcGxlLm9yZw==?=".to_string()),
        Just("x\r\nX-Injected: yes".to_string()),
        Just("\"{{officer.email}}\" <a@b.c>".to_string()),
        Just("multipart/mixed; boundary=\"".to_string()),
    ];
    let headers = prop::collection::vec((name, value), 0..12);
    let body = prop::collection::vec(any::<u8>(), 0..512);
    (headers, body).prop_map(|(headers, body)| {
        let mut raw = Vec::new();
        for (n, v) in headers {
            raw.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        raw.extend_from_slice(b"\r\n");
        raw.extend_from_slice(&body);
        raw
    })
}

/// Deep and broad MIME: `message/rfc822` and multipart nested up to far past the bounds (some
/// base64-encoded, boundaries shared or never closed), and many parts — the parser must never
/// meet what would overflow its stack or scan without end.
fn deep_nesting() -> impl Strategy<Value = Vec<u8>> {
    let level = prop_oneof![
        Just("Content-Type: message/rfc822\r\n\r\n".to_string()),
        Just("Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nQ29udGVudC1UeXBlOiBtZXNzYWdlL3JmYzgyMg0KDQo=\r\n".to_string()),
        (0..3u8).prop_map(|b| format!("Content-Type: multipart/mixed; boundary=\"n{b}\"\r\n\r\n--n{b}\r\n")),
        Just("Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\n".to_string()),
        Just("--n0\r\nContent-Type: text/plain\r\n\r\nHej\r\n".to_string()),
        Just("--n1--\r\n".to_string()),
    ];
    (prop::collection::vec(level, 1..8), 1..20_000usize).prop_map(|(levels, times)| {
        let mut raw =
            b"From: Anna <anna@example.org>\r\nSubject: Djupt\r\nMessage-ID: <d@example.org>\r\n"
                .to_vec();
        for _ in 0..times {
            for l in &levels {
                raw.extend_from_slice(l.as_bytes());
            }
        }
        raw
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes(raw in prop::collection::vec(any::<u8>(), 0..2048)) {
        run(&raw);
    }

    #[test]
    fn any_headers(raw in header_soup()) {
        run(&raw);
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn deep_mime(raw in deep_nesting()) {
        run(&raw);
    }
}
