//! The start-up check of the templates: each is rendered once with sample values, so that a
//! typo in a custom template stops kvittens at start rather than the first resident's receipt.

use crate::config::{Config, Department};
use crate::mail::compose::{notice_data, NoticeFacts};
use crate::mail::outgoing::ComposeError;
use crate::mail::templates::Templates;
use crate::mail::words::template_data;
use crate::model::{Case, Category, Language};
use crate::rules::decide::Reason;
use chrono::{DateTime, Utc};
use serde_json::json;

/// Loads the templates (`[daemon] templates` and each department's `templates`, else the
/// built-in ones) and renders each once per department, so that a mistake stops the start,
/// the reload or the command before any mail is read.
///
/// # Errors
/// The template that cannot be read or rendered.
pub fn load_templates(cfg: &Config) -> Result<Templates, ComposeError> {
    let own: Vec<(&str, &std::path::Path)> = (cfg.departments.iter())
        .filter_map(|d| d.templates.as_deref().map(|p| (d.id.as_str(), p)))
        .collect();
    let templates = Templates::load_all(cfg.templates.as_deref(), &own)?;
    check_templates(cfg, &templates)?;
    Ok(templates)
}

/// Renders every template once for each department with sample values — a case of every
/// category, a fault report of each catalogued type and one of none — so that a mistake in
/// any branch a mail can take stops the start-up.
///
/// # Errors
/// The first template that fails to render with the sample values.
pub fn check_templates(cfg: &Config, templates: &Templates) -> Result<(), ComposeError> {
    let now = Utc::now();
    for dept in &cfg.departments {
        for case in sample_cases(dept, now) {
            check_department(cfg, dept, templates, &case, now)?;
        }
    }
    Ok(())
}

/// The sample cases [`check_templates`] renders for `dept`.
fn sample_cases(dept: &Department, now: DateTime<Utc>) -> Vec<Case> {
    let mut cases: Vec<Case> = Category::ALL
        .iter()
        .map(|c| Case {
            category: *c,
            ..sample_case(dept, now)
        })
        .collect();
    for t in &dept.fault_types {
        cases.push(Case {
            category: Category::FaultReport,
            fault_type: Some(t.name.clone()),
            officer: t.responsible.clone(),
            substitute_for: None,
            ..sample_case(dept, now)
        });
    }
    cases
}

/// A case's template data with the values the follow-up mails add (recipient, lateness,
/// level, note, time open, the department moved from), so that their templates are checked too.
fn follow_up_data(dept: &Department, case: &Case, lang: Language) -> serde_json::Value {
    let mut data = template_data(dept, case, lang);
    data["recipient"] = json!(dept.manager);
    data["on_behalf_of"] = json!(dept.officers[0].contact);
    data["late_by"] = json!("1 dag");
    data["level"] = json!(1);
    data["note"] = json!("Test");
    data["open_for"] = json!("183 dagar");
    data["from_department"] = json!({ "id": dept.id, "name": dept.name, "email": dept.email });
    data
}

/// Renders every template for `case` of `dept`.
fn check_department(
    cfg: &Config,
    dept: &Department,
    templates: &Templates,
    case: &Case,
    now: DateTime<Utc>,
) -> Result<(), ComposeError> {
    for name in crate::mail::templates::names() {
        let lang = if name.ends_with(".en") {
            Language::En
        } else {
            Language::Sv
        };
        let data = if name.starts_with("digest.") {
            crate::mail::notices::digest_data(dept, std::slice::from_ref(case), now, lang)
        } else {
            follow_up_data(dept, case, lang)
        };
        templates.render(&name, &data)?;
    }
    // The officer notice's other branch: a receipt withheld, a flagged case, a note.
    let why = Reason {
        code: "no_auto_reply",
        detail: "Test".into(),
    };
    let facts = NoticeFacts {
        no_receipt: Some(&why),
        header_only: Some("Test"),
        note: "Test",
    };
    let mut flagged = case.clone();
    flagged.flagged = Some("Test".into());
    for lang in ["sv", "en"] {
        let data = notice_data(cfg, dept, &flagged, &facts);
        templates.render(&format!("officer-notice.{lang}"), &data)?;
    }
    Ok(())
}

/// A case with sample values, for rendering the templates once at start-up.
pub(crate) fn sample_case(dept: &Department, now: DateTime<Utc>) -> Case {
    Case {
        number: crate::model::ids::case_number(&dept.case_prefix, 2026, 1),
        department: dept.id.clone(),
        category: Category::Question,
        language: Language::Sv,
        resident: crate::model::Person {
            name: Some("Test Testsson".into()),
            email: "test@example.org".into(),
        },
        subject: "Test".into(),
        officer: dept.officers[0].contact.clone(),
        substitute_for: Some(dept.officers[0].contact.clone()),
        received: now,
        reply_due: now,
        decision_due: now + chrono::Duration::days(3),
        message_ids: vec![],
        state: crate::model::State::Open,
        events: vec![],
        answered_at: None,
        delay_told: false,
        flagged: None,
        no_receipt: None,
        fault_type: None,
        contacts: Vec::new(),
        measures: Vec::new(),
        outcome: None,
        six_months: None,
        six_months_scheduled: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::words::written_date;
    use crate::testkit::{se, Sample, GATUBELYSNING};

    /// The sample department with the fault catalogue of the README.
    fn config() -> Config {
        let lines = format!("decide_within = \"15wd\"\n{GATUBELYSNING}");
        Sample {
            department: &lines,
            ..Sample::default()
        }
        .config()
    }

    /// A case of `category` (of fault type `fault`) received Monday 4 May 2026, answer due
    /// on the 7th, decision on the 25th.
    fn case_of(dept: &Department, category: Category, fault: Option<&str>, lang: Language) -> Case {
        let mut c = sample_case(dept, se("2026-05-04 10:00"));
        c.category = category;
        c.language = lang;
        c.substitute_for = None;
        c.reply_due = se("2026-05-07 17:00");
        c.decision_due = se("2026-05-25 17:00");
        if let Some(t) = dept
            .fault_types
            .iter()
            .find(|t| Some(t.name.as_str()) == fault)
        {
            c.fault_type = Some(t.name.clone());
            c.officer = t.responsible.clone();
            c.reply_due = c.decision_due;
        }
        c
    }

    /// The receipt's text for `case`.
    fn receipt(dept: &Department, case: &Case) -> String {
        let t = Templates::load(None).unwrap();
        let data = template_data(dept, case, case.language);
        t.render(&format!("receipt.{}", case.language.code()), &data)
            .unwrap()
    }

    #[test]
    fn each_category_gets_its_own_promise_in_swedish() {
        let cfg = config();
        let d = &cfg.departments[0];
        let sv = Language::Sv;
        let date = |t| written_date(&d.calendar, t, sv);
        let (reply, decision) = (date(se("2026-05-07 17:00")), date(se("2026-05-25 17:00")));
        assert_eq!(reply, "torsdag 7 maj 2026");
        let q = receipt(d, &case_of(d, Category::Question, None, sv));
        assert!(q.contains(&format!("Du får svar senast {reply}.")), "{q}");
        assert!(
            q.contains("Din handläggare är Olle (o1@kommun.test)."),
            "{q}"
        );
        assert!(!q.contains("beslut"), "{q}");
        let a = receipt(d, &case_of(d, Category::Application, None, sv));
        assert!(
            a.contains(&format!("Du får ett första besked senast {reply}.")),
            "{a}"
        );
        assert!(
            a.contains(&format!("fatta beslut\nsenast {decision}.")),
            "{a}"
        );
        let c = receipt(d, &case_of(d, Category::Complaint, None, sv));
        assert!(c.contains("Klagomål tas om hand av ansvarig chef. Olle (o1@kommun.test) kontaktar dig\nsenast torsdag 7 maj 2026"), "{c}");
        assert!(!c.contains("handläggare") && !c.contains("beslut"), "{c}");
        let f = receipt(
            d,
            &case_of(d, Category::FaultReport, Some("Gatubelysning"), sv),
        );
        for want in [
            "Din felanmälan gäller: Gatubelysning. Ansvarig för att felet åtgärdas är\nGatuenheten (gata@kommun.se).",
            "Det här gör vi: Vi byter trasiga lampor och lagar armaturen.",
            &format!("Vi åtgärdar felet inom 10 arbetsdagar, senast {decision}."),
        ] {
            assert!(f.contains(want), "{want:?} in\n{f}");
        }
        assert!(!f.contains("beslut") && !f.contains("handläggare"), "{f}");
        let u = receipt(d, &case_of(d, Category::FaultReport, None, sv));
        assert!(u.contains(&format!("Olle bedömer felet och vad som behöver göras. Senast {reply} får\ndu besked om vilka åtgärder vi vidtar och när.")), "{u}");
        assert!(!u.contains("beslut"), "{u}");
    }

    #[test]
    fn each_category_gets_its_own_promise_in_english() {
        let cfg = config();
        let d = &cfg.departments[0];
        let en = Language::En;
        let q = receipt(d, &case_of(d, Category::Question, None, en));
        assert!(
            q.contains("You will have an answer by Thursday 7 May 2026."),
            "{q}"
        );
        assert!(!q.contains("decision"), "{q}");
        let a = receipt(d, &case_of(d, Category::Application, None, en));
        assert!(
            a.contains("We expect to reach a decision by\nMonday 25 May 2026."),
            "{a}"
        );
        let c = receipt(d, &case_of(d, Category::Complaint, None, en));
        assert!(c.contains("Complaints are dealt with by the manager in charge. Olle (o1@kommun.test)\nwill contact you by Thursday 7 May 2026"), "{c}");
        let f = receipt(
            d,
            &case_of(d, Category::FaultReport, Some("Gatubelysning"), en),
        );
        for want in [
            "Your fault report concerns: Gatubelysning. Gatuenheten\n(gata@kommun.se) is responsible for putting it right.",
            "What we will do: Vi byter trasiga lampor och lagar armaturen.",
            "We will put it right within 10 working days, by Monday 25 May 2026.",
        ] {
            assert!(f.contains(want), "{want:?} in\n{f}");
        }
        assert!(!f.contains("decision"), "{f}");
        let u = receipt(d, &case_of(d, Category::FaultReport, None, en));
        assert!(u.contains("Olle will assess the fault"), "{u}");
        assert!(
            u.contains("By Thursday 7 May 2026\nyou will hear what we will do and when."),
            "{u}"
        );
    }

    /// Every template, rendered for every category (and a fault of a type and of none) in both
    /// languages: no promise of a decision for a question or a fault report, and no blank
    /// where a value belongs.
    #[test]
    fn no_decision_wording_for_questions_and_fault_reports_anywhere() {
        let cfg = config();
        let d = &cfg.departments[0];
        let t = Templates::load(None).unwrap();
        let variants = [
            (Category::Question, None),
            (Category::FaultReport, None),
            (Category::FaultReport, Some("Gatubelysning")),
            (Category::Application, None),
            (Category::Complaint, None),
        ];
        for (category, fault) in variants {
            for lang in [Language::Sv, Language::En] {
                let case = case_of(d, category, fault, lang);
                for name in crate::mail::templates::names() {
                    if !name.ends_with(lang.code()) || name.starts_with("digest.") {
                        continue;
                    }
                    let data = follow_up_data(d, &case, lang);
                    let text = t.render(&name, &data).unwrap();
                    let decision_words = [
                        "fatta beslut",
                        "beslut senast",
                        "reach a decision",
                        "a decision by",
                    ];
                    if matches!(category, Category::Question | Category::FaultReport) {
                        for w in decision_words {
                            assert!(
                                !text.contains(w),
                                "{w:?} in {name} for {category:?} {fault:?}:\n{text}"
                            );
                        }
                    }
                    assert!(!text.contains("  \n"), "{name}: {text}");
                }
            }
        }
    }

    /// No built-in template writes a span itself: the configured ones reach it as variables.
    #[test]
    fn no_template_writes_a_span_of_its_own() {
        for name in crate::mail::templates::names() {
            let path = format!("{}/templates/{name}.hbs", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&path).unwrap().to_lowercase();
            for span in [
                "tre dagar",
                "en vecka",
                "inom tre",
                "three days",
                "a week",
                "one week",
                "arbetsdagar",
                "working days",
            ] {
                assert!(!text.contains(span), "{span:?} in {name}.hbs");
            }
        }
    }

    #[test]
    fn every_department_and_fault_type_is_checked() {
        let cfg = config();
        assert!(load_templates(&cfg).is_ok());
        // A typo in a branch only a catalogued fault takes is found at start.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("receipt.sv.hbs"),
            "{{#if fault}}{{fault.measur}}{{/if}}",
        )
        .unwrap();
        let lines = format!("templates = {:?}\n{GATUBELYSNING}", dir.path());
        let with_own = Sample {
            department: &lines,
            ..Sample::default()
        }
        .config();
        let err = load_templates(&with_own).unwrap_err().to_string();
        assert!(err.contains("receipt.sv.hbs"), "{err}");
    }
}
