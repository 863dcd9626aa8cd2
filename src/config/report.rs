//! `report_to` and `report_every`: who gets the report to the nämnd by mail, and how often.
//! Written in a global `[report]` table (the whole municipality: every department and the
//! total) and/or per `[[department]]` (that department alone, for its own nämnd).

use super::checker::Checker;
use super::ConfigError;
use serde::Deserialize;

/// How often the report goes out: each on the first working day of the period, for the
/// period before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportEvery {
    /// Calendar months.
    Month,
    /// Calendar quarters (January–March, April–June, July–September, October–December).
    Quarter,
}

/// Who gets the report by mail, and how often.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportPlan {
    /// The addresses (e.g. the nämnd's secretary), at least one.
    pub to: Vec<String>,
    /// How often.
    pub every: ReportEvery,
}

/// `[report]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReport {
    #[serde(default)]
    pub(super) report_to: Vec<String>,
    pub(super) report_every: Option<String>,
}

impl Checker<'_> {
    /// The plan written at `key` (`report` or `department[i]`): none without `report_to`;
    /// `report_every` defaults to `"month"`, and alone (nobody to mail) is a mistake.
    pub(super) fn report_plan(
        &self,
        key: &str,
        to: &[String],
        every: Option<&str>,
    ) -> Result<Option<ReportPlan>, ConfigError> {
        let every_key = format!("{key}.report_every");
        let every_read = match every {
            None | Some("month") => ReportEvery::Month,
            Some("quarter") => ReportEvery::Quarter,
            Some(other) => {
                return Err(self.err(
                    every_key,
                    format!("{other:?}: use \"month\" or \"quarter\""),
                ))
            }
        };
        if to.is_empty() {
            return match every {
                Some(_) => Err(self.err(
                    every_key,
                    "is set but report_to is empty: add report_to = [\"namnd@kommun.se\"] (who gets the report)",
                )),
                None => Ok(None),
            };
        }
        let mut addresses = Vec::new();
        for (i, a) in to.iter().enumerate() {
            addresses.push(self.email(&format!("{key}.report_to[{i}]"), a)?);
        }
        Ok(Some(ReportPlan {
            to: addresses,
            every: every_read,
        }))
    }
}
