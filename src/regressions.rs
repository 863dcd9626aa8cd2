//! Regression tests for faults found by trying to break the complaint, report, erasure and
//! absence features: each states what the README promises, across the layers it crosses
//! (a mail in, a command, the store), with the values that once came out wrong.

use crate::app::engine::{Engine, Incoming};
use crate::app::{admin, caseops, person};
use crate::model::{Case, Kind};
use crate::store::{MessageKey, Store};
use crate::testkit::{Sample, OLLE_AND_ADA, PLAN};
use chrono::{Duration, Utc};

/// An engine with departments `bygg` (Olle, Ada) and `plan` (Pia).
fn two_departments(dir: &std::path::Path) -> (Engine, Store) {
    Sample {
        officers: OLLE_AND_ADA,
        department: PLAN,
        ..Sample::default()
    }
    .engine(dir)
}

/// Hands `raw` to `bygg`'s inbox as UID `uid`; returns the case it opened.
fn mail(engine: &Engine, store: &Store, uid: u32, raw: &str) -> Case {
    mail_to(engine, store, 0, uid, raw)
}

/// Hands `raw` to the inbox of the `i`th department as UID `uid`; returns the case it opened.
fn mail_to(engine: &Engine, store: &Store, i: usize, uid: u32, raw: &str) -> Case {
    let dept = engine.cfg().departments[i].clone();
    let before: Vec<String> = store
        .cases()
        .unwrap()
        .into_iter()
        .map(|c| c.number)
        .collect();
    engine
        .handle(
            &dept,
            &Incoming {
                key: MessageKey {
                    department: dept.id.clone(),
                    uid_validity: 1,
                    uid,
                },
                received: Utc::now(),
                raw: raw.as_bytes(),
                sent_folder: false,
            },
        )
        .unwrap();
    store
        .cases()
        .unwrap()
        .into_iter()
        .find(|c| !before.contains(&c.number))
        .expect("the mail opened a case")
}

fn mails_to(store: &Store, address: &str, kind: Kind) -> usize {
    store
        .outbox_all()
        .unwrap()
        .iter()
        .filter(|q| {
            q.mail.kind == kind && q.mail.to.iter().any(|t| t.eq_ignore_ascii_case(address))
        })
        .count()
}

/// A far future working day for `postpone`.
fn later() -> chrono::NaiveDate {
    (Utc::now() + Duration::days(40)).date_naive()
}

/// A mail whose sender failed DMARC gets a case but no receipt ("no automatic
/// reply" to an address that may be forged, flagged for a person). `case move` honours that
/// ("when a receipt went to them when the case opened"); `case postpone` does not: the § 11
/// delay notice goes to the unverified (possibly spoofed) address — backscatter, and a reply
/// kvittens decided it must not send.
#[test]
fn postpone_sends_no_delay_notice_where_the_receipt_was_withheld() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, store) = two_departments(dir.path());
    let raw = "Authentication-Results: mx.kommun.test; dmarc=fail header.from=example.org\r\nFrom: Spoofed <victim@example.org>\r\nTo: bygg@kommun.test\r\nSubject: Bygglov garage\r\nMessage-ID: <spoof1@example.org>\r\n\r\nHej! Jag vill bygga ett garage vid huset.\r\n";
    let case = mail(&engine, &store, 1, raw);
    assert!(case.no_receipt.is_some(), "withheld: {:?}", case.no_receipt);
    assert_eq!(mails_to(&store, "victim@example.org", Kind::Receipt), 0);
    admin::postpone(
        &engine,
        &case.number,
        later(),
        "Vi väntar på remissvar",
        Some("m@kommun.test"),
        Utc::now(),
    )
    .unwrap();
    assert_eq!(
        mails_to(&store, "victim@example.org", Kind::Delay),
        0,
        "a delay notice was queued to an address whose receipt kvittens withheld (dmarc=fail)"
    );
}

/// A case with no address (no usable From or Reply-To) cannot be
/// postponed at all: the delay notice cannot be built for an empty address, so the whole
/// postpone is refused and the decision date cannot be moved (the manager keeps being asked
/// for a new date). (Moving it works: `case move` checks `no_receipt`.)
#[test]
fn a_case_with_no_address_can_be_postponed() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, store) = two_departments(dir.path());
    let raw = "To: bygg@kommun.test\r\nSubject: Bygglov garage\r\nMessage-ID: <form1@example.org>\r\n\r\nNamn: Sara. Jag vill bygga ett garage vid huset.\r\n";
    let case = mail(&engine, &store, 1, raw);
    assert_eq!(case.resident.email, "", "no address: {:?}", case.no_receipt);
    let done = admin::postpone(
        &engine,
        &case.number,
        later(),
        "Vi väntar på remissvar",
        Some("m@kommun.test"),
        Utc::now(),
    );
    assert!(done.is_ok(), "postpone: {done:?}");
}

/// After `person erase`, the case keeps existing "for the registry", but it can no
/// longer be moved (förvaltningslagen § 4) nor postponed (§ 11): each builds a mail naming the
/// resident's address, now "(erased)", which is no address ("Missing domain or user": for a
/// move already the officer notice's stand-in From), and the whole action is refused.
#[test]
fn an_erased_case_can_still_be_moved_and_postponed() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, store) = two_departments(dir.path());
    let raw = "From: Sara Berg <sara@example.org>\r\nTo: bygg@kommun.test\r\nSubject: Detaljplan Storgatan\r\nMessage-ID: <s1@example.org>\r\n\r\nHej! En fråga om detaljplanen för Storgatan.\r\n";
    let case = mail(&engine, &store, 1, raw);
    person::erase(&engine, "sara@example.org", "dso", Utc::now()).unwrap();
    let postponed = admin::postpone(
        &engine,
        &case.number,
        later(),
        "Remiss",
        Some("m@kommun.test"),
        Utc::now(),
    );
    let moved = caseops::move_case(&engine, &case.number, "plan", "m@kommun.test", Utc::now());
    assert!(
        postponed.is_ok() && moved.is_ok(),
        "postpone: {postponed:?}\nmove: {moved:?}"
    );
}

/// The daily totals are "never purged" and "name no person", but `case close
/// --outcome` (free text, from the command line or the web form) is kept as a key of the
/// day's `closed` map. A name written there survives `person erase` for ever. (The report
/// does not even show the `closed` figures, though the README says they are counted in it.)
#[test]
fn the_daily_totals_keep_no_free_text_after_erasure() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, store) = two_departments(dir.path());
    let raw = "From: Sara Berg <sara@example.org>\r\nTo: bygg@kommun.test\r\nSubject: Klagomål: sophämtning\r\nMessage-ID: <k1@example.org>\r\n\r\nHej! Soporna hämtades inte på Storgatan 5.\r\n";
    let case = mail(&engine, &store, 1, raw);
    let outcome = "befogat, Sara Berg Storgatan 5 fick ny tömning";
    caseops::close(
        &engine,
        &case.number,
        ("", Some(outcome)),
        Some("m@kommun.test"),
        Utc::now(),
    )
    .unwrap();
    person::erase(&engine, "sara@example.org", "dso", Utc::now()).unwrap();
    let today = Utc::now().date_naive();
    let tallies = store
        .tallies(None, today - Duration::days(2), today + Duration::days(2))
        .unwrap();
    let text = serde_json::to_string(&tallies).unwrap();
    assert!(
        !text.to_lowercase().contains("sara"),
        "the daily totals hold the resident's name after erasure: {text}"
    );
}

/// The report's period has no bound: `/report?from=0001-01-01&to=9999-12-31` (any
/// manager, or a link a manager follows) makes the daemon walk every day of 10,000 years and
/// draw a chart of half a million weeks, in the daemon that sends the receipts.
#[test]
fn a_report_over_a_thousand_years_is_refused_or_quick() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, _store) = two_departments(dir.path());
    let q = crate::app::report::Query {
        from: chrono::NaiveDate::from_ymd_opt(1000, 1, 1).unwrap(),
        to: chrono::NaiveDate::from_ymd_opt(1999, 12, 31).unwrap(),
        department: None,
    };
    let started = std::time::Instant::now();
    let r = crate::app::report::render(&engine, &q, crate::mail::report::Format::Html, Utc::now());
    let took = started.elapsed();
    let size = r.as_ref().map_or(0, String::len);
    assert!(
        r.is_err() || took < std::time::Duration::from_secs(2),
        "rendered {size} bytes in {took:?}"
    );
}

/// Notes typed by staff (contact, measure, flag, close, postpone; from the web form
/// or the command line) reach the case's timeline with their control characters: an ESC
/// sequence is replayed on the terminal of whoever runs `kvittens case show`, and a newline
/// forges a timeline line ("  2026-… closed by hand (by it@…)"). The resident's subject and
/// name are cleaned (`mail::message::clean_text`); staff text is not.
#[test]
fn notes_from_staff_carry_no_control_characters_into_the_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, store) = two_departments(dir.path());
    let raw = "From: Sara Berg <sara@example.org>\r\nTo: bygg@kommun.test\r\nSubject: Bygglov garage\r\nMessage-ID: <c1@example.org>\r\n\r\nHej! Jag vill bygga ett garage vid huset.\r\n";
    let case = mail(&engine, &store, 1, raw);
    let note = "ringde\u{1b}]0;owned\u{7}\u{1b}[2J\n  2026-01-01 09:00:00  closed by hand (by it@kommun.test)";
    let made = caseops::NewContact {
        way: crate::model::ContactWay::Phone,
        on: None,
        note: note.to_string(),
    };
    caseops::contact(&engine, &case.number, &made, "o1@kommun.test", Utc::now()).unwrap();
    let c = store.case(&case.number).unwrap().unwrap();
    let bad: Vec<&str> = c
        .events
        .iter()
        .map(|e| e.what.as_str())
        .chain(c.contacts.iter().map(|m| m.note.as_str()))
        .filter(|t| t.chars().any(char::is_control))
        .collect();
    assert!(bad.is_empty(), "control characters kept: {bad:?}");
}

/// `officer away` refuses a substitute who is away, but not a substitute who goes
/// away later: Olle away with Ada standing in, then Ada away (with Bo) over the same days is
/// accepted, and Olle's reminders and escalation copies for those days go to Ada, who is away
/// herself (the substitute is not followed further, and no one is told).
#[test]
fn a_substitute_who_goes_away_later_leaves_no_one_standing_in() {
    let dir = tempfile::tempdir().unwrap();
    let officers = r#"[{ name = "Olle", email = "o1@kommun.test" }, { name = "Ada", email = "o2@kommun.test" }, { name = "Bo", email = "o3@kommun.test" }]"#;
    let (engine, _store) = Sample {
        officers,
        ..Sample::default()
    }
    .engine(dir.path());
    let now = Utc::now();
    let today = now.date_naive();
    let away = |who: &str, sub: &str| admin::Away {
        officer: who.into(),
        substitute: sub.into(),
        from: today,
        to: today + Duration::days(10),
    };
    admin::away(&engine, away("o1@kommun.test", "o2@kommun.test"), now).unwrap();
    let second = admin::away(&engine, away("o2@kommun.test", "o3@kommun.test"), now);
    let cfg = engine.cfg();
    let dept = &cfg.departments[0];
    let olle = dept.officer("o1@kommun.test").unwrap().contact.clone();
    let recorded = engine.store.absences().unwrap();
    let stands_in = crate::rules::schedule::substitute(dept, &olle, now, &recorded);
    assert!(
        second.is_err()
            || stands_in
                .as_ref()
                .is_none_or(|s| s.email != "o2@kommun.test"),
        "Ada's absence was accepted ({second:?}) and Olle's stand-in is still Ada: {stands_in:?}"
    );
}

/// A mail to `bygg` from a different resident each time (no gathering, no loop breaker).
fn from_resident(n: u32, subject: &str) -> String {
    format!(
        "From: Invånare {n} <r{n}@example.org>\r\nTo: bygg@kommun.test\r\nSubject: {subject}\r\nMessage-ID: <t{n}@example.org>\r\n\r\nHej!\r\n"
    )
}

/// "Complaints are not in the round robin": Olle got case 1, the complaint (case 2) went to
/// the manager, and case 3 went to Olle again — Ada was skipped, because the complaint had
/// moved the department's turn on. A fault of a catalogued type (its unit's) is the same.
#[test]
fn cases_not_assigned_by_turn_do_not_move_the_round_robin_on() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, store) = Sample {
        officers: OLLE_AND_ADA,
        department: crate::testkit::GATUBELYSNING,
        ..Sample::default()
    }
    .engine(dir.path());
    let first = mail(&engine, &store, 1, &from_resident(1, "Fråga om bygglov"));
    assert_eq!(first.officer.email, "o1@kommun.test");
    let complaint = mail(
        &engine,
        &store,
        2,
        &from_resident(2, "Klagomål: sophämtning"),
    );
    assert_eq!(complaint.officer.email, "m@kommun.test");
    let third = mail(&engine, &store, 3, &from_resident(3, "Fråga om altan"));
    assert_eq!(
        third.officer.email, "o2@kommun.test",
        "Ada's turn was skipped"
    );
    let fault = mail(
        &engine,
        &store,
        4,
        &from_resident(4, "Felanmälan: trasig gatlykta"),
    );
    assert_eq!(fault.officer.email, "gata@kommun.se");
    let fifth = mail(&engine, &store, 5, &from_resident(5, "Fråga om staket"));
    assert_eq!(
        fifth.officer.email, "o1@kommun.test",
        "Olle's turn was skipped"
    );
}

/// A case moved into a department and assigned by its round robin takes a turn there, as a
/// new case does: two cases moved one after the other went both to Olle, and the next new
/// case to Olle again.
#[test]
fn a_case_moved_in_by_turn_moves_the_round_robin_on() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, store) = two_departments(dir.path());
    let mut owners = Vec::new();
    for n in 1..=2 {
        let raw = format!(
            "From: Invånare {n} <r{n}@example.org>\r\nTo: plan@kommun.test\r\nSubject: Fråga {n}\r\nMessage-ID: <p{n}@example.org>\r\n\r\nHej!\r\n"
        );
        let case = mail_to(&engine, &store, 1, n, &raw);
        let moved =
            caseops::move_case(&engine, &case.number, "bygg", "m@kommun.test", Utc::now()).unwrap();
        owners.push(moved.officer.email);
    }
    assert_eq!(owners, ["o1@kommun.test", "o2@kommun.test"]);
    let next = mail(&engine, &store, 3, &from_resident(3, "Fråga om altan"));
    assert_eq!(next.officer.email, "o1@kommun.test");
}
