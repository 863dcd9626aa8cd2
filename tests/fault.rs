//! Fault reports (felanmälan) end to end against the real Dovecot and Postfix: a mail about a
//! catalogued fault gets a receipt in the resident's inbox naming the type, the measure, the
//! date it will be done (on the department's calendar, an extra day off skipped) and the
//! responsible unit, and that unit's inbox gets the notice; a fault report of no type gets the
//! "will assess" receipt.

mod common;

use chrono::{Duration, Utc};
use common::{body, header, Setup};
use kvittens::mail::words::written_date;
use kvittens::model::calendar::Calendar;
use kvittens::model::Language;

/// `text` with every run of white space one space: the receipt's lines are wrapped.
fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The department of the test: every day a working day from 08:00 to 17:00, a street-lighting
/// unit in its catalogue, and one day off three days from `today` (local date).
fn department(tag: &str, day_off: chrono::NaiveDate) -> String {
    format!(
        r#"working_hours = "08:00-17:00"
holidays = "none"
extra_days_off = ["{day_off}"]

[[department.fault_type]]
name = "Gatubelysning"
words = ["gatlykta", "gatubelysning", "belysning"]
measure = "Vi byter trasiga lampor och lagar armaturen."
within = "10wd"
responsible = {{ name = "Gatuenheten", email = "gata-{tag}@kommun.test" }}
"#
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fault_report_is_told_what_when_and_who_and_the_unit_is_told() {
    let tag = "fault";
    let today = Utc::now()
        .with_timezone(&chrono_tz::Europe::Stockholm)
        .date_naive();
    let day_off = today + Duration::days(3);
    let s = Setup::new(tag, &department(tag, day_off));
    let _daemon = s.start();
    let unit = format!("gata-{tag}@kommun.test");
    s.stack
        .append(
            &s.mailbox(),
            &s.question(1, "f1-fault", "Trasig gatlykta på Storgatan"),
        )
        .await;
    let receipt = s.stack.wait_for(&s.resident(1), 1).await.remove(0);
    let text = flat(&body(&receipt));
    // Ten working days, every day but the day off: the eleventh day from today.
    let done = today + Duration::days(11);
    let done_at = Calendar::default().end_of_day(done);
    let date = written_date(&Calendar::default(), done_at, Language::Sv);
    for want in [
        "registrerat det som en felanmälan".to_string(),
        "Din felanmälan gäller: Gatubelysning.".to_string(),
        format!("Ansvarig för att felet åtgärdas är Gatuenheten ({unit})."),
        "Det här gör vi: Vi byter trasiga lampor och lagar armaturen.".to_string(),
        format!("Vi åtgärdar felet inom 10 arbetsdagar, senast {date}."),
    ] {
        assert!(text.contains(&want), "{want:?} in\n{text}");
    }
    assert!(!text.contains("beslut"), "{text}");
    assert!(!text.contains("handläggare"), "{text}");

    // The unit is told, like an officer, with the resident's message attached.
    let notice = s.stack.wait_for(&unit, 1).await.remove(0);
    let subject = header(&notice, "subject").unwrap();
    assert!(
        subject.starts_with("Nytt ärende") && subject.contains("Trasig gatlykta"),
        "{subject}"
    );
    let notice_text = flat(&body(&notice));
    for want in [
        "Hej! ".to_string(),
        "har fått en felanmälan om Gatubelysning, till Gatuenheten som ansvarig enhet för den."
            .to_string(),
        format!("Åtgärdat senast: {date} (inom 10 arbetsdagar)"),
    ] {
        assert!(notice_text.contains(&want), "{want:?} in\n{notice_text}");
    }
    // No round-robin officer was given the case.
    assert!(s.stack.inbox(&s.officer(1)).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fault_report_of_no_type_is_told_it_will_be_assessed() {
    let tag = "faultnone";
    let today = Utc::now()
        .with_timezone(&chrono_tz::Europe::Stockholm)
        .date_naive();
    let s = Setup::new(tag, &department(tag, today + Duration::days(30)));
    let _daemon = s.start();
    s.stack
        .append(
            &s.mailbox(),
            &s.question(1, "f2-faultnone", "Felanmälan: hål i cykelbanan"),
        )
        .await;
    let receipt = s.stack.wait_for(&s.resident(1), 1).await.remove(0);
    let text = flat(&body(&receipt));
    assert!(
        text.contains("Olle Handläggare bedömer felet och vad som behöver göras. Senast")
            && text.contains("får du besked om vilka åtgärder vi vidtar och när."),
        "{text}"
    );
    assert!(!text.contains("beslut"), "{text}");
    assert!(
        text.contains("Din handläggare är Olle Handläggare"),
        "{text}"
    );
    // The round robin's officer assesses it; the unit of another type hears nothing.
    assert_eq!(s.stack.wait_for(&s.officer(1), 1).await.len(), 1);
    assert!(s
        .stack
        .inbox(&format!("gata-{tag}@kommun.test"))
        .await
        .is_empty());
}
