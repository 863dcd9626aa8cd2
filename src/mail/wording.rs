//! Tests of what the mails say: the words and dates each template is given agree with the
//! case, and the mails read as a person would write them.

use crate::config::{Config, Department};
use crate::mail::check::load_templates;
use crate::mail::compose::{self, NoticeFacts};
use crate::mail::notices::{complaint_notice, for_action};
use crate::mail::outgoing::Outgoing;
use crate::model::{Case, Category, Language};
use crate::rules::schedule::Action;
use crate::testkit::Sample;
use chrono::Utc;

/// The text of a built mail (its first text part).
fn text(mail: &Outgoing) -> String {
    let parsed = mail_parser::MessageParser::default()
        .parse(&mail.bytes)
        .unwrap();
    parsed.body_text(0).unwrap_or_default().to_string()
}

/// `text` with each run of white space (a line break too) as one space.
fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The sample config with `lines` added to its department, in staff language `lang`.
fn config(lines: &str, lang: Language) -> Config {
    let lang = format!("staff_language = \"{}\"\n{lines}", lang.code());
    Sample {
        department: &lang,
        ..Sample::default()
    }
    .config()
}

/// An open case of `category` of the config's department, owned by its first officer.
fn case_of(dept: &Department, category: Category) -> Case {
    Case {
        category,
        officer: dept.officers[0].contact.clone(),
        ..crate::testkit::case("BMN-2026-0001", &[])
    }
}

/// The officer notice, the complaint notice and the first escalation of `case`.
fn staff_mails(cfg: &Config, case: &Case) -> [String; 3] {
    let dept = &cfg.departments[0];
    let templates = load_templates(cfg).unwrap();
    let now = Utc::now();
    let facts = NoticeFacts::default();
    let notice = compose::officer_notice(
        cfg,
        dept,
        case,
        b"Subject: s\r\n\r\nx",
        &templates,
        now,
        &facts,
    );
    let complaint = complaint_notice(cfg, dept, &templates, case, now);
    let escalate = Action::Escalate {
        to: dept.manager.clone(),
        cc: None,
        level: 1,
    };
    let escalation = for_action(cfg, dept, &templates, case, &escalate, now, now);
    [notice, complaint, escalation].map(|m| text(&m.unwrap()))
}

#[test]
fn the_span_in_words_is_the_one_the_case_was_counted_with() {
    // The department replies within three days; a complaint's contact is a week (the
    // policy), a question here has its own span.
    let lines = "reply_within = \"3d\"\ncategories.question.reply_within = \"5d\"\n";
    for (lang, week, three, five) in [
        (Language::Sv, "en vecka", "tre dagar", "fem dagar"),
        (Language::En, "one week", "three days", "five days"),
    ] {
        let cfg = config(lines, lang);
        let dept = &cfg.departments[0];
        let complaint = case_of(dept, Category::Complaint);
        for body in staff_mails(&cfg, &complaint) {
            assert!(body.contains(week), "{body}");
            assert!(!body.contains(three), "{body}");
        }
        let question = case_of(dept, Category::Question);
        let [_, _, escalation] = staff_mails(&cfg, &question);
        assert!(escalation.contains(five), "{escalation}");
        let application = case_of(dept, Category::Application);
        let [_, _, escalation] = staff_mails(&cfg, &application);
        assert!(escalation.contains(three), "{escalation}");
    }
}

/// The resident's receipt for `case`, in the case's language.
fn receipt(cfg: &Config, case: &Case) -> String {
    let templates = load_templates(cfg).unwrap();
    let dept = &cfg.departments[0];
    let mail = compose::receipt(cfg, dept, case, (&None, &[]), &templates, Utc::now());
    text(&mail.unwrap())
}

#[test]
fn a_substitute_for_the_manager_is_not_called_the_manager() {
    // Olle takes the complaint while the manager, M, is away.
    for (lang, stands_in, not_chef) in [
        (
            Language::Sv,
            "Olle (o1@kommun.test) ersätter M",
            "chef. Olle",
        ),
        (
            Language::En,
            "Olle (o1@kommun.test) is standing in for M",
            "charge. Olle",
        ),
    ] {
        let cfg = config("", lang);
        let dept = &cfg.departments[0];
        let case = Case {
            language: lang,
            substitute_for: Some(dept.manager.clone()),
            ..case_of(dept, Category::Complaint)
        };
        let body = flat(&receipt(&cfg, &case));
        assert!(body.contains(stands_in), "{body}");
        assert!(!body.contains(not_chef), "{body}");
        // The manager who owns it is still named as the one who calls.
        let own = Case {
            language: lang,
            officer: dept.manager.clone(),
            ..case_of(dept, Category::Complaint)
        };
        let body = flat(&receipt(&cfg, &own));
        assert!(body.contains("M (m@kommun.test)"), "{body}");
    }
}

#[test]
fn the_manager_is_told_how_to_record_a_call_or_a_visit() {
    for (lang, web) in [
        (Language::Sv, "eller på ärendets webbsida"),
        (Language::En, "or on the case's web page"),
    ] {
        let mut cfg = config("", lang);
        let dept = cfg.departments[0].clone();
        let complaint = Case {
            officer: dept.manager.clone(),
            ..case_of(&dept, Category::Complaint)
        };
        let command = "kvittens case contact --config";
        let [notice, _, escalation] = staff_mails(&cfg, &complaint);
        for body in [&notice, &escalation] {
            let body = flat(body);
            assert!(body.contains(command), "{body}");
            assert!(body.contains("BMN-2026-0001 --by phone"), "{body}");
            assert!(!body.contains(web), "{body}");
        }
        cfg.web.base_url = Some("https://kvittens.kommun.test".into());
        let [notice, _, escalation] = staff_mails(&cfg, &complaint);
        for body in [&notice, &escalation] {
            assert!(flat(body).contains(web), "{body}");
        }
        // Other cases are answered by mail: no contact to record.
        let question = case_of(&dept, Category::Question);
        for body in staff_mails(&cfg, &question) {
            assert!(!body.contains(command), "{body}");
        }
    }
}

#[test]
fn swedish_mail_cites_a_section_the_swedish_way() {
    use crate::testkit::section_sign_first;
    assert!(section_sign_first("förvaltningslagen 12 §").is_none());
    assert!(section_sign_first("förvaltningslagen § 12").is_some());
    assert!(section_sign_first("(§12)").is_some());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let mut swedish = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(".sv.hbs") {
            swedish += 1;
            let text = std::fs::read_to_string(&path).unwrap();
            let found = section_sign_first(&text);
            assert!(found.is_none(), "{}: {found:?}", path.display());
        }
    }
    assert!(
        swedish > 5,
        "the Swedish templates were not found in {}",
        dir.display()
    );
    // The Swedish report to the nämnd, with every law row in it.
    let day = chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
    let depts = [("bygg".to_string(), "Bygg".to_string())];
    let scope = crate::rules::report::Scope {
        from: day,
        to: day,
        departments: &depts,
        only: None,
        now: Utc::now(),
    };
    let tally = crate::model::tally::DayTally {
        received: 1,
        ..Default::default()
    };
    let f = crate::rules::report::figures(&scope, &[("bygg".into(), day, tally)], &[]);
    let html = crate::mail::report::html::page(&f, Language::Sv).unwrap();
    assert!(html.contains("12 §"), "{html}");
    let found = section_sign_first(&html);
    assert!(found.is_none(), "{found:?}");
}

#[test]
fn a_fault_report_reads_well_to_the_resident_and_the_unit() {
    let lines = format!("reply_within = \"3d\"\n{}", crate::testkit::GATUBELYSNING);
    for (lang, concerns, unit_greeting, unit_named, assesses) in [
        (
            Language::Sv,
            "Din felanmälan gäller: Gatubelysning.",
            "Hej!",
            ["till Gatuenheten", "Påminnelse till Gatuenheten:"],
            "Olle bedömer felet",
        ),
        (
            Language::En,
            "Your fault report concerns: Gatubelysning.",
            "Hello,",
            ["for Gatuenheten", "Reminder to Gatuenheten:"],
            "Olle will assess the fault",
        ),
    ] {
        let cfg = config(&lines, lang);
        let dept = &cfg.departments[0];
        let unit = dept.fault_types[0].responsible.clone();
        let fault = Case {
            language: lang,
            category: Category::FaultReport,
            fault_type: Some("Gatubelysning".into()),
            officer: unit.clone(),
            ..case_of(dept, Category::FaultReport)
        };
        let body = flat(&receipt(&cfg, &fault));
        assert!(body.contains(concerns), "{body}");
        let [notice, _, _] = staff_mails(&cfg, &fault);
        let templates = load_templates(&cfg).unwrap();
        let remind = Action::Remind {
            to: unit.clone(),
            on_behalf_of: None,
        };
        let now = Utc::now();
        let reminder = for_action(&cfg, dept, &templates, &fault, &remind, now, now);
        for (body, named) in [notice, text(&reminder.unwrap())].iter().zip(unit_named) {
            assert!(body.starts_with(unit_greeting), "{body}");
            assert!(flat(body).contains(named), "{body}");
            assert!(!body.contains("Gatuenheten!"), "{body}");
        }
        // A fault of no type is assessed by its officer, by name.
        let untyped = Case {
            language: lang,
            ..case_of(dept, Category::FaultReport)
        };
        let body = flat(&receipt(&cfg, &untyped));
        assert!(body.contains(assesses), "{body}");
        assert!(
            !body.contains("nsvarig enhet") && !body.contains("unit responsible"),
            "{body}"
        );
    }
}

#[test]
fn a_delay_notice_gives_its_reason_after_a_lead_in_and_its_number_once() {
    for (lang, subject, reason) in [
        (
            Language::Sv,
            "Ditt ärende tar längre tid [BMN-2026-0001]",
            "Skäl: Vi väntar på ett yttrande.",
        ),
        (
            Language::En,
            "Your case is taking longer [BMN-2026-0001]",
            "Reason: Vi väntar på ett yttrande.",
        ),
    ] {
        let cfg = config("", lang);
        let dept = &cfg.departments[0];
        let templates = load_templates(&cfg).unwrap();
        let case = Case {
            language: lang,
            ..case_of(dept, Category::Application)
        };
        let note = "Vi väntar på ett yttrande.";
        let mail =
            crate::mail::notices::delay_notice(&cfg, dept, &templates, &case, note, Utc::now())
                .unwrap();
        let parsed = mail_parser::MessageParser::default()
            .parse(&mail.bytes)
            .unwrap();
        assert_eq!(parsed.subject(), Some(subject));
        let body = text(&mail);
        assert!(body.contains(reason), "{body}");
    }
}
