//! The parts of a department that the service policy's felanmälan (fault report) and its
//! calendar add: the fault catalogue (`[[department.fault_type]]`), the department's own
//! template folder, and the extra days off (`extra_days_off`, in `[calendar]` and per
//! department). Each mistake names its key, placed at its line by [`super::Config::parse`].

use super::checker::Checker;
use super::raw::RawFaultType;
use super::ConfigError;
use crate::model::span::Span;
use crate::model::Contact;
use chrono::NaiveDate;

/// One type of fault in a department's catalogue: the service policy promises the resident of
/// a fault report which measure will be taken, by when, and who is responsible.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultType {
    /// The type's name, as the receipt and the report show it ("Gatubelysning").
    pub name: String,
    /// The words that make a mail a fault report of this type, lower-case; matched at the
    /// start of a word of the subject, else of the body's first lines, as category words are
    /// (see [`crate::model::CategoryWords`]).
    pub words: Vec<String>,
    /// What will be done, in the residents' words ("Vi byter trasiga lampor …"); it goes into
    /// the receipt as written.
    pub measure: String,
    /// How long the measure takes from when the mail reached the mailbox, on the department's
    /// calendar (`"10wd"`: the end of the tenth working day).
    pub within: Span,
    /// The unit that does it ("Gatuenheten"). It owns the case: its address gets the notice,
    /// the reminders and the escalations an officer would get.
    pub responsible: Contact,
}

impl Checker<'_> {
    /// `key.fault_type`, checked: every type has a name (unique in the department), at least
    /// one non-empty word, a measure, and a responsible unit with a name and an address.
    pub(super) fn fault_types(
        &self,
        key: &str,
        raw: Vec<RawFaultType>,
    ) -> Result<Vec<FaultType>, ConfigError> {
        let mut out: Vec<FaultType> = Vec::new();
        for (i, t) in raw.into_iter().enumerate() {
            let tkey = format!("{key}.fault_type[{i}]");
            let name = t.name.trim().to_string();
            if name.is_empty() {
                return Err(self.err(
                    format!("{tkey}.name"),
                    "a fault type needs a name: the receipt tells the resident which type of fault it is",
                ));
            }
            if out.iter().any(|o| o.name.eq_ignore_ascii_case(&name)) {
                return Err(self.err(
                    format!("{tkey}.name"),
                    format!("{name:?} is named by two fault types of this department; give each type its own name"),
                ));
            }
            if t.words.is_empty() {
                return Err(self.err(
                    format!("{tkey}.words"),
                    format!("no words: no mail would ever be found to be about {name}; give at least one word, e.g. words = [\"gatlykta\"]"),
                ));
            }
            if let Some(j) = t.words.iter().position(|w| w.trim().is_empty()) {
                return Err(self.err(
                    format!("{tkey}.words[{j}]"),
                    "an empty word would name every mail; remove it",
                ));
            }
            if t.measure.trim().is_empty() {
                return Err(self.err(
                    format!("{tkey}.measure"),
                    "the measure is empty: write what will be done, as the resident should read it in the receipt",
                ));
            }
            if t.responsible.name.trim().is_empty() {
                return Err(self.err(
                    format!("{tkey}.responsible.name"),
                    "the responsible unit needs a name: it is written in the receipt",
                ));
            }
            let responsible = Contact {
                name: t.responsible.name.trim().to_string(),
                email: self.email(&format!("{tkey}.responsible.email"), &t.responsible.email)?,
            };
            out.push(FaultType {
                name,
                words: t.words.iter().map(|w| w.trim().to_lowercase()).collect(),
                measure: t.measure.trim().to_string(),
                within: t.within,
                responsible,
            });
        }
        Ok(out)
    }

    /// `key` (`calendar.extra_days_off` or `department[i].extra_days_off`): dates written
    /// `"2026-05-15"`, sorted and without duplicates; `None` when the key is not there.
    pub(super) fn days_off(
        &self,
        key: &str,
        list: Option<&[String]>,
    ) -> Result<Option<Vec<NaiveDate>>, ConfigError> {
        let Some(list) = list else { return Ok(None) };
        let mut days = Vec::with_capacity(list.len());
        for (i, text) in list.iter().enumerate() {
            let day = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
                self.err(
                    format!("{key}[{i}]"),
                    format!("{text:?} is not a date; write it as \"2026-05-15\" (year-month-day)"),
                )
            })?;
            days.push(day);
        }
        days.sort();
        days.dedup();
        Ok(Some(days))
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigError};
    use crate::model::span::Span;
    use crate::testkit::{Sample, GATUBELYSNING};
    use std::path::Path;

    fn parse(department: &str) -> Result<Config, ConfigError> {
        let text = Sample {
            department,
            ..Sample::default()
        }
        .text();
        Config::parse(Path::new("k.toml"), &text)
    }

    /// The line of `needle`'s first occurrence in `text`, from 1.
    fn line_of(text: &str, needle: &str) -> usize {
        text[..text.find(needle).unwrap()].matches('\n').count() + 1
    }

    #[test]
    fn the_catalogue_as_documented_loads() {
        let cfg = parse(GATUBELYSNING).unwrap();
        let t = &cfg.departments[0].fault_types[0];
        assert_eq!(t.name, "Gatubelysning");
        assert_eq!(t.words, ["gatlykta", "gatubelysning", "belysning"]);
        assert_eq!(t.measure, "Vi byter trasiga lampor och lagar armaturen.");
        assert_eq!(t.within, Span::WorkingDays(10));
        assert_eq!(
            (t.responsible.name.as_str(), t.responsible.email.as_str()),
            ("Gatuenheten", "gata@kommun.se")
        );
        // The unit is staff: no receipt ever goes to it.
        assert!(cfg.staff_addresses().iter().any(|a| a == "gata@kommun.se"));
    }

    #[test]
    fn catalogue_mistakes_name_key_and_line() {
        // (written, written instead, the key named, words of the message, the line's text)
        let cases = [
            (
                "within = \"10wd\"",
                "within = \"10x\"",
                "department[0].fault_type[0].within",
                "unknown unit",
                "within",
            ),
            (
                "words = [\"gatlykta\", \"gatubelysning\", \"belysning\"]",
                "words = []",
                "department[0].fault_type[0].words",
                "no words",
                "words",
            ),
            (
                "words = [\"gatlykta\", \"gatubelysning\", \"belysning\"]",
                "words = [\"gatlykta\", \" \"]",
                "department[0].fault_type[0].words[1]",
                "empty word",
                "words",
            ),
            (
                "measure = \"Vi byter trasiga lampor och lagar armaturen.\"",
                "measure = \"\"",
                "department[0].fault_type[0].measure",
                "measure is empty",
                "measure",
            ),
            (
                "email = \"gata@kommun.se\"",
                "email = \"gata\"",
                "department[0].fault_type[0].responsible.email",
                "not a mail address",
                "responsible",
            ),
            (
                "name = \"Gatubelysning\"",
                "name = \" \"",
                "department[0].fault_type[0].name",
                "needs a name",
                "name = \" \"",
            ),
        ];
        for (from, to, key, words, line) in cases {
            let lines = GATUBELYSNING.replace(from, to);
            let err = parse(&lines).unwrap_err();
            assert_eq!(err.key, key, "{err}");
            assert!(err.to_string().contains(words), "{err}");
            let text = Sample {
                department: &lines,
                ..Sample::default()
            }
            .text();
            let after = text.find("[[department.fault_type]]").unwrap();
            let want =
                line_of(&text, "[[department.fault_type]]") - 1 + line_of(&text[after..], line);
            assert_eq!(err.at.map(|p| p.line), Some(want), "{err}");
        }
        let lines =
            GATUBELYSNING.replace("within = \"10wd\"", "within = \"10wd\"\ncolour = \"red\"");
        let err = parse(&lines).unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
        // Two types of one name.
        let twice = format!(
            "{GATUBELYSNING}{}",
            GATUBELYSNING.replace("gatlykta", "lykta")
        );
        let err = parse(&twice).unwrap_err();
        assert_eq!(err.key, "department[0].fault_type[1].name", "{err}");
    }

    #[test]
    fn extra_days_off_are_read_from_calendar_and_department_together() {
        let cfg = parse("extra_days_off = [\"2026-06-05\", \"2026-05-15\"]").unwrap();
        let off = &cfg.departments[0].calendar.extra_off;
        assert_eq!(off.len(), 2);
        assert_eq!(off[0].to_string(), "2026-05-15");
        let text = Sample::default()
            .text()
            .replace(
                "[imap]",
                "[calendar]\nextra_days_off = [\"2026-05-15\"]\n[imap]",
            )
            .replace(
                "officers = ",
                "extra_days_off = [\"2026-05-15\", \"2026-12-23\"]\nofficers = ",
            );
        let cfg = Config::parse(Path::new("k.toml"), &text).unwrap();
        let off: Vec<String> = (cfg.departments[0].calendar.extra_off.iter())
            .map(|d| d.to_string())
            .collect();
        assert_eq!(off, ["2026-05-15", "2026-12-23"]);
    }

    #[test]
    fn a_bad_day_off_is_named_with_key_and_line() {
        let text = Sample::default().text().replace(
            "[imap]",
            "[calendar]\nextra_days_off = [\"2026-05-15\",\n  \"2026-13-01\"]\n[imap]",
        );
        let err = Config::parse(Path::new("k.toml"), &text).unwrap_err();
        assert_eq!(err.key, "calendar.extra_days_off[1]", "{err}");
        assert_eq!(
            err.at.map(|p| p.line),
            Some(line_of(&text, "  \"2026-13-01\"")),
            "{err}"
        );
        assert!(
            err.message.contains("\"2026-13-01\" is not a date"),
            "{err}"
        );
        let err = parse("extra_days_off = [\"15 maj\"]").unwrap_err();
        assert_eq!(err.key, "department[0].extra_days_off[0]", "{err}");
        assert!(err.to_string().starts_with("k.toml:"), "{err}");
        let err = parse("extra_days_off = \"2026-05-15\"").unwrap_err();
        assert!(err.key.contains("extra_days_off"), "{err}");
    }
}
