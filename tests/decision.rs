//! The decision as the engine makes it (`engine::decide_with` with the demo config): a mail
//! that is not machine-written opens a case even when no receipt may go, and a case without an
//! address never sends anything.

#[path = "common/opening.rs"]
mod opening;

use kvittens::app::engine::decide_with;
use kvittens::config::Config;
use kvittens::model::Category;
use kvittens::model::Inbound;
use kvittens::rules::decide::Decision;
use std::path::Path;

fn config() -> Config {
    let mut cfg =
        Config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo.toml")).unwrap();
    cfg.store = std::env::temp_dir().join("kvittens-decision-test-no-store");
    cfg
}

fn raw(head: &str, body: &str) -> Vec<u8> {
    format!("{head}\r\nMessage-ID: <d1@medborgare.test>\r\n\r\n{body}\r\n")
        .replace("\r\n", "\n")
        .replace('\n', "\r\n")
        .into_bytes()
}

fn decided(raw: &[u8]) -> Decision {
    let cfg = config();
    let dept = cfg.department("bygg").unwrap();
    decide_with(&cfg, dept, &Inbound::parse(raw), None, false).unwrap()
}

/// The case and mails `new_case` builds for `raw` with `decision`.
fn opened(raw: &[u8], decision: &Decision) -> (kvittens::model::Case, Vec<kvittens::model::Kind>) {
    let Decision::Acknowledge {
        category,
        language,
        resident,
        withhold,
    } = decision
    else {
        panic!("not acknowledged: {decision:?}");
    };
    let cfg = config();
    let templates = kvittens::mail::check::load_templates(&cfg).unwrap();
    let dept = cfg.department("bygg").unwrap();
    let msg = Inbound::parse(raw);
    let who = (*category, *language, resident);
    let (case, effects) =
        opening::first_case(&cfg, &templates, dept, raw, &msg, who, withhold.as_ref());
    (
        case,
        effects.mails.into_iter().map(|q| q.mail.kind).collect(),
    )
}

#[test]
fn an_address_mail_cannot_be_sent_to_opens_a_case_without_receipt() {
    for from in [
        "a..b@medborgare.test",
        "anna@-medborgare.test",
        ".anna@medborgare.test",
    ] {
        let raw = raw(
            &format!("From: Anna <{from}>\r\nSubject: Fråga om bygglov"),
            "Hej",
        );
        let d = decided(&raw);
        let Decision::Acknowledge {
            resident, withhold, ..
        } = &d
        else {
            panic!("{from}: {d:?}");
        };
        assert_eq!(
            withhold.as_ref().map(|r| r.code),
            Some("no_address"),
            "{from}"
        );
        assert!(withhold.as_ref().unwrap().detail.contains(from), "{from}");
        assert_eq!(resident.email, "", "{from}: nothing may ever be sent to it");
        let (case, kinds) = opened(&raw, &d);
        assert!(case.flagged.is_some(), "{from}");
        assert!(
            !kinds.contains(&kvittens::model::Kind::Receipt),
            "{from}: {kinds:?}"
        );
        assert!(!kinds.is_empty(), "{from}: the officer is told");
    }
}

#[test]
fn mail_with_no_address_at_all_is_a_flagged_case() {
    let raw = raw("Subject: Klagomål på snöröjningen", "Ingen har plogat.");
    let d = decided(&raw);
    assert!(
        matches!(&d, Decision::Acknowledge { withhold: Some(r), category: Category::Complaint, .. } if r.code == "no_address"),
        "{d:?}"
    );
    let (case, kinds) = opened(&raw, &d);
    assert!(case.flagged.is_some());
    assert!(
        !kinds.contains(&kvittens::model::Kind::Receipt),
        "{kinds:?}"
    );
    // The manager, who owns a complaint, is still told of it (the case's notice).
    assert_eq!(kinds, [kvittens::model::Kind::OfficerNotice], "{kinds:?}");
    assert_eq!(case.officer.email, "manager@kommun.test", "{case:?}");
}

#[test]
fn a_request_for_no_auto_reply_withholds_only_the_receipt() {
    let raw = raw(
        "From: Anna <anna@medborgare.test>\r\nSubject: Fråga\r\nX-Auto-Response-Suppress: All",
        "Hej, när får jag svar?",
    );
    let d = decided(&raw);
    assert!(
        matches!(&d, Decision::Acknowledge { withhold: Some(r), resident, .. } if r.code == "no_auto_reply" && resident.email == "anna@medborgare.test"),
        "{d:?}"
    );
    let (case, kinds) = opened(&raw, &d);
    assert!(case
        .flagged
        .as_deref()
        .unwrap_or("")
        .contains("no_auto_reply"));
    assert!(
        !kinds.contains(&kvittens::model::Kind::Receipt),
        "{kinds:?}"
    );
}

#[test]
fn body_words_name_the_category_with_the_demo_config() {
    let raw = raw(
        "From: Anna <anna@medborgare.test>\r\nSubject: Hej",
        "Detta är ett klagomål på hur bygglovet hanterades.",
    );
    assert!(matches!(
        decided(&raw),
        Decision::Acknowledge {
            category: Category::Complaint,
            withhold: None,
            ..
        }
    ));
}
