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
use std::collections::HashSet;

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

/// Renders every template for each department with sample values — a case of every
/// category, a fault report of each catalogued type and one of none — so that a mistake in
/// any branch a mail can take stops the start-up.
///
/// A render whose outcome an earlier one already decided is skipped: the same template (the
/// department's own file, else the global one) with data of the same shape
/// ([`Templates::check_key`]: the same keys, list lengths and empty or not). So 1 000
/// departments alike cost about as much as one, while a department with its own folder, fault
/// catalogue, phone number or officers still has its own renders.
///
/// # Errors
/// The first template that fails to render with the sample values.
pub fn check_templates(cfg: &Config, templates: &Templates) -> Result<(), ComposeError> {
    renders(cfg, templates).map(|_| ())
}

/// [`check_templates`], saying how many renders it took.
fn renders(cfg: &Config, templates: &Templates) -> Result<usize, ComposeError> {
    let now = Utc::now();
    let mut done = Done {
        templates,
        keys: HashSet::new(),
        rendered: 0,
    };
    for dept in &cfg.departments {
        for case in sample_cases(dept, now) {
            check_department(cfg, dept, &mut done, &case, now)?;
        }
    }
    Ok(done.rendered)
}

/// Template data and its shape ([`crate::mail::templates::shape_of`]), hashed once for all
/// the templates rendered with it.
struct Shaped {
    data: serde_json::Value,
    shape: u64,
}

impl Shaped {
    fn new(data: serde_json::Value) -> Shaped {
        let shape = crate::mail::templates::shape_of(&data);
        Shaped { data, shape }
    }
}

/// The renders the start-up check has done, by [`Templates::check_key`].
struct Done<'t> {
    templates: &'t Templates,
    keys: HashSet<u64>,
    /// How many renders were done (for the tests).
    rendered: usize,
}

impl Done<'_> {
    /// Renders `name` with `data` unless a render with the same key has already succeeded.
    fn render(&mut self, name: &str, data: &Shaped) -> Result<(), ComposeError> {
        let (shape, data) = (data.shape, &data.data);
        let key = self.templates.check_key(name, data, shape);
        if key.is_some_and(|k| self.keys.contains(&k)) {
            return Ok(());
        }
        self.templates.render(name, data)?;
        self.rendered += 1;
        self.keys.extend(key);
        Ok(())
    }
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
#[cfg(test)]
fn follow_up_data(dept: &Department, case: &Case, lang: Language) -> serde_json::Value {
    follow_up_with(dept, template_data(dept, case, lang))
}

/// [`follow_up_data`] made from the case's `template_data`.
fn follow_up_with(dept: &Department, mut data: serde_json::Value) -> serde_json::Value {
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
    done: &mut Done<'_>,
    case: &Case,
    now: DateTime<Utc>,
) -> Result<(), ComposeError> {
    use crate::mail::notices::{gathered_row, gathered_with};
    // The other branches of the officer notice (a receipt withheld, a flagged case, a note)
    // and of the gathered notice (a case listed without a receipt, flagged).
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
    flagged.no_receipt = Some("Test".into());
    // The data of each language once, not once a template.
    let data = |lang| {
        let digest = crate::mail::notices::digest_data(dept, std::slice::from_ref(case), now, lang);
        let base = template_data(dept, case, lang);
        let rows = |c| vec![gathered_row(cfg, c, base.clone())];
        let gathered = gathered_with(dept, &case.officer, rows(case));
        let gathered_flagged = gathered_with(dept, &case.officer, rows(&flagged));
        let follow_up = follow_up_with(dept, base);
        [digest, follow_up, gathered, gathered_flagged].map(Shaped::new)
    };
    let (sv, en) = (data(Language::Sv), data(Language::En));
    for name in crate::mail::templates::names() {
        let [digest, follow_up, gathered, gathered_flagged] =
            if name.ends_with(".en") { &en } else { &sv };
        if name.starts_with("digest.") {
            done.render(&name, digest)?;
        } else if name.starts_with("notice-batch.") {
            done.render(&name, gathered)?;
            done.render(&name, gathered_flagged)?;
        } else {
            done.render(&name, follow_up)?;
        }
    }
    for lang in ["sv", "en"] {
        let data = Shaped::new(notice_data(cfg, dept, &flagged, &facts));
        done.render(&format!("officer-notice.{lang}"), &data)?;
    }
    Ok(())
}

/// A case with sample values, for rendering the templates once at start-up.
pub(crate) fn sample_case(dept: &Department, now: DateTime<Utc>) -> Case {
    Case {
        number: crate::model::ids::case_number(&dept.case_prefix, 2026, 1),
        department: dept.id.clone(),
        resident: crate::model::Person {
            name: Some("Test Testsson".into()),
            email: "test@example.org".into(),
        },
        subject: "Test".into(),
        officer: dept.officers[0].contact.clone(),
        substitute_for: Some(dept.officers[0].contact.clone()),
        decision_due: now + chrono::Duration::days(3),
        ..Case::sample("", &[], now)
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
                    if !name.ends_with(lang.code())
                        || name.starts_with("digest.")
                        || name.starts_with("notice-batch.")
                    {
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

    /// `n` departments `d0`… like the sample one, as `[[department]]` tables, each with the
    /// lines `extra(i)`.
    fn departments(n: usize, extra: impl Fn(usize) -> String) -> String {
        (0..n)
            .map(|i| {
                format!(
                    "[[department]]\nid = \"d{i}\"\nname = \"Förvaltning {i}\"\ncase_prefix = \"D{i}\"\nmailbox = {{ user = \"d{i}@kommun.test\", password = \"x\" }}\nmanager = {{ name = \"M\", email = \"m@kommun.test\" }}\nofficers = [{{ name = \"O{i}\", email = \"o{i}@kommun.test\" }}]\n{}\n",
                    extra(i)
                )
            })
            .collect()
    }

    /// The sample config with `more` departments after the sample one, and `daemon` lines.
    fn config_with(daemon: &str, more: &str) -> Config {
        Sample {
            daemon,
            department: more,
            ..Sample::default()
        }
        .config()
    }

    #[test]
    fn departments_alike_are_rendered_once() {
        let t = Templates::load(None).unwrap();
        let one = renders(&config_with("", ""), &t).unwrap();
        let many = renders(&config_with("", &departments(200, |_| String::new())), &t).unwrap();
        assert!(one > 40, "{one}");
        // The 200 differ only in names and addresses: no render of their own.
        assert_eq!(many, one);
        // One with a phone number and a catalogue has renders of its own.
        let own = departments(1, |_| format!("phone = \"08-123\"\n{GATUBELYSNING}"));
        let more = renders(&config_with("", &own), &t).unwrap();
        assert!(more > one, "{more} > {one}");
    }

    /// What a department has that the one before has not is still checked: a branch only a
    /// phone number takes, a second officer, its own folder, its own values compared.
    #[test]
    fn a_department_unlike_the_others_is_still_checked() {
        let dir = tempfile::tempdir().unwrap();
        let global = |text: &str| {
            std::fs::write(dir.path().join("receipt.sv.hbs"), text).unwrap();
            format!("templates = {:?}", dir.path())
        };
        let broken = |daemon: &str, more: &str| {
            let cfg = config_with(daemon, more);
            let t = Templates::load(cfg.templates.as_deref()).unwrap();
            check_templates(&cfg, &t).unwrap_err().to_string()
        };
        let phone = departments(3, |i| match i {
            2 => "phone = \"08-123\"".into(),
            _ => String::new(),
        });
        let daemon = global("{{#if department.phone}}{{department.phon}}{{/if}}");
        assert!(broken(&daemon, &phone).contains("receipt.sv.hbs"));
        // A helper comparing values: rendered for every department.
        let daemon = global("{{#if (eq department.id \"d7\")}}{{case.numbr}}{{/if}}");
        let err = broken(&daemon, &departments(8, |_| String::new()));
        assert!(err.contains("receipt.sv.hbs"), "{err}");
        // A department's own folder, the last of many.
        let own = tempfile::tempdir().unwrap();
        std::fs::write(own.path().join("delay.en.hbs"), "{{case.numbr}}").unwrap();
        let more = departments(5, |i| match i {
            4 => format!("templates = {:?}", own.path()),
            _ => String::new(),
        });
        let err = load_templates(&config_with("", &more))
            .unwrap_err()
            .to_string();
        assert!(err.contains("delay.en.hbs"), "{err}");
    }

    #[test]
    fn only_values_and_their_blocks_are_rendered_by_shape() {
        let t = Templates::load(None).unwrap();
        let data = json!({"department": {"id": "x"}, "case": {"number": "N"}});
        // Every built-in template is decided by the shape of its data.
        for name in crate::mail::templates::names() {
            assert!(t.check_key(&name, &data, 0).is_some(), "{name}");
        }
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("receipt.sv", "{{#if (eq case.number \"N\")}}x{{/if}}"),
            ("receipt.en", "{{lookup case \"number\"}}"),
            ("delay.sv", "{{> receipt.sv}}"),
            ("delay.en", "{{#each case as |v k|}}{{v}}{{/each}}"),
        ];
        for (name, text) in cases {
            std::fs::write(dir.path().join(format!("{name}.hbs")), text).unwrap();
        }
        let t = Templates::load(Some(dir.path())).unwrap();
        for (name, text) in &cases[..3] {
            assert!(t.check_key(name, &data, 0).is_none(), "{text}");
        }
        // Block parameters name values; the shape still decides.
        assert!(t.check_key("delay.en", &data, 0).is_some());
        // Same shape, same key; an empty value or a longer list is another shape.
        let key = |v: serde_json::Value| crate::mail::templates::shape_of(&v);
        assert_eq!(
            key(json!({"a": "x", "l": [1]})),
            key(json!({"a": "y", "l": [2]}))
        );
        assert_ne!(key(json!({"a": "x"})), key(json!({"a": ""})));
        assert_ne!(key(json!({"l": [1]})), key(json!({"l": [1, 1]})));
        assert_ne!(key(json!({"n": 0})), key(json!({"n": 1})));
        assert_ne!(key(json!({"a": null})), key(json!({"b": null})));
    }
}
