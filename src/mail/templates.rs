//! The texts kvittens sends, as handlebars templates: loaded once, in strict mode, so that a
//! typo in a template stops the start-up instead of leaving a blank in a resident's mail.

use handlebars::Handlebars;
use std::path::{Path, PathBuf};

/// Every template kvittens uses, by name (`<kind>.<language>`); the file is `<name>.hbs`.
pub const NAMES: &[&str] = &[
    "receipt.sv",
    "receipt.en",
    "officer-notice.sv",
    "officer-notice.en",
    "reminder.sv",
    "reminder.en",
    "escalation.sv",
    "escalation.en",
    "new-date.sv",
    "new-date.en",
    "delay.sv",
    "delay.en",
    "complaint.sv",
    "complaint.en",
    "digest.sv",
    "digest.en",
    "undeliverable.sv",
    "undeliverable.en",
];

/// The templates shipped in `templates/`, built into the binary so that an install without the
/// folder still works.
const BUILT_IN: &[(&str, &str)] = &[
    ("receipt.sv", include_str!("../../templates/receipt.sv.hbs")),
    ("receipt.en", include_str!("../../templates/receipt.en.hbs")),
    (
        "officer-notice.sv",
        include_str!("../../templates/officer-notice.sv.hbs"),
    ),
    (
        "officer-notice.en",
        include_str!("../../templates/officer-notice.en.hbs"),
    ),
    (
        "reminder.sv",
        include_str!("../../templates/reminder.sv.hbs"),
    ),
    (
        "reminder.en",
        include_str!("../../templates/reminder.en.hbs"),
    ),
    (
        "escalation.sv",
        include_str!("../../templates/escalation.sv.hbs"),
    ),
    (
        "escalation.en",
        include_str!("../../templates/escalation.en.hbs"),
    ),
    (
        "new-date.sv",
        include_str!("../../templates/new-date.sv.hbs"),
    ),
    (
        "new-date.en",
        include_str!("../../templates/new-date.en.hbs"),
    ),
    ("delay.sv", include_str!("../../templates/delay.sv.hbs")),
    ("delay.en", include_str!("../../templates/delay.en.hbs")),
    (
        "complaint.sv",
        include_str!("../../templates/complaint.sv.hbs"),
    ),
    (
        "complaint.en",
        include_str!("../../templates/complaint.en.hbs"),
    ),
    ("digest.sv", include_str!("../../templates/digest.sv.hbs")),
    ("digest.en", include_str!("../../templates/digest.en.hbs")),
    (
        "undeliverable.sv",
        include_str!("../../templates/undeliverable.sv.hbs"),
    ),
    (
        "undeliverable.en",
        include_str!("../../templates/undeliverable.en.hbs"),
    ),
];

/// A template problem, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("template {file}: {message}")]
pub struct TemplateError {
    /// The template file (or built-in name).
    pub file: String,
    /// What is wrong.
    pub message: String,
}

/// The loaded templates.
#[derive(Debug)]
pub struct Templates {
    hb: Handlebars<'static>,
    source: Option<PathBuf>,
}

impl Templates {
    /// Loads every template from `dir`, or the built-in ones when `dir` is `None`.
    pub fn load(dir: Option<&Path>) -> Result<Templates, TemplateError> {
        let mut hb = Handlebars::new();
        hb.set_strict_mode(true);
        // Plain-text mail: nothing is HTML, and an escaped "&amp;" would reach the resident.
        hb.register_escape_fn(handlebars::no_escape);
        for name in NAMES {
            let (file, text) = match dir {
                None => {
                    let text = BUILT_IN
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, t)| t.to_string())
                        .unwrap_or_default();
                    (format!("(built in) {name}.hbs"), text)
                }
                Some(dir) => {
                    let path = dir.join(format!("{name}.hbs"));
                    let text = std::fs::read_to_string(&path).map_err(|e| TemplateError {
                        file: path.display().to_string(),
                        message: format!("cannot read it: {e}"),
                    })?;
                    (path.display().to_string(), text)
                }
            };
            hb.register_template_string(name, text)
                .map_err(|e| TemplateError {
                    file,
                    message: e.to_string(),
                })?;
        }
        Ok(Templates {
            hb,
            source: dir.map(Path::to_path_buf),
        })
    }

    /// Renders template `name` with `data`.
    pub fn render(&self, name: &str, data: &serde_json::Value) -> Result<String, TemplateError> {
        self.hb.render(name, data).map_err(|e| TemplateError {
            file: match &self.source {
                Some(dir) => dir.join(format!("{name}.hbs")).display().to_string(),
                None => format!("(built in) {name}.hbs"),
            },
            message: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_typo_is_an_error_not_a_blank() {
        let dir = tempfile::tempdir().unwrap();
        for name in NAMES {
            std::fs::write(
                dir.path().join(format!("{name}.hbs")),
                "Case {{case.numbr}}",
            )
            .unwrap();
        }
        let t = Templates::load(Some(dir.path())).unwrap();
        let err = t
            .render("receipt.sv", &json!({"case": {"number": "X"}}))
            .unwrap_err();
        assert!(err.file.ends_with("receipt.sv.hbs"), "{err}");
    }

    #[test]
    fn a_missing_file_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let err = Templates::load(Some(dir.path())).unwrap_err();
        assert!(err.file.ends_with("receipt.sv.hbs"), "{err}");
    }

    #[test]
    fn values_are_text_never_template_or_html() {
        let t = Templates::load(None).unwrap();
        let _ = t; // built-ins parse
        let dir = tempfile::tempdir().unwrap();
        for name in NAMES {
            std::fs::write(dir.path().join(format!("{name}.hbs")), "[{{subject}}]").unwrap();
        }
        let t = Templates::load(Some(dir.path())).unwrap();
        let out = t
            .render("receipt.en", &json!({"subject": "{{officer.email}} & <b>"}))
            .unwrap();
        assert_eq!(out, "[{{officer.email}} & <b>]");
    }
}
