//! Who may see and do what on the web page: one pure function, [`may`], over who the user is to
//! the config ([`Viewer`]) and what they ask ([`Deed`]). Cases hold personal data, so the rule
//! is "need to know" (GDPR art. 5.1 f, art. 32): a department's staff see that department, the
//! registrar (registrator) sees everything to check what got no case, and acting on a case is
//! for whoever answers for it.
//!
//! | role | sees | acts on |
//! | --- | --- | --- |
//! | admin (`[web] admins`) | everything | everything |
//! | registrar (`[web] registrars`) | everything | nothing |
//! | manager, `escalate_to` of a department | that department, its ignored mail, its report | its cases, its people's absences |
//! | officer (handläggare) of a department | that department's cases | their own cases, those of whom they stand in for today, their own absence |
//!
//! The report to the nämnd is the managers' (each of their departments) and the admins' and
//! registrars' (any department, and all of them together): it is about how a department keeps
//! its promises, not about one officer's cases.
//!
//! Anyone else has no role (the web page answers 403).

use crate::config::Config;
use crate::model::Absence;
use chrono::{DateTime, Utc};

/// A signed-in user as the config knows them, on one day. Addresses are lower case.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Viewer {
    /// Their address (or UPN), lower case.
    pub email: String,
    /// In `[web] admins`.
    pub admin: bool,
    /// In `[web] registrars`.
    pub registrar: bool,
    /// The departments (ids) whose manager or `escalate_to` they are.
    pub manages: Vec<String>,
    /// The departments (ids) they are an officer of.
    pub officer_in: Vec<String>,
    /// The officers (addresses) whose cases they stand in for today (hänvisning: planned in the
    /// config or set at run time).
    pub stands_in_for: Vec<String>,
}

/// What a user asks to see or do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deed<'a> {
    /// See a department's cases and figures.
    SeeDepartment(&'a str),
    /// See the mail of a department's mailbox that got no case (the registrar's check).
    SeeIgnored(&'a str),
    /// Change a case (close, postpone, flag, reassign, …) of `department` handled by `officer`.
    ActOnCase {
        /// The case's department id.
        department: &'a str,
        /// The address of the case's officer.
        officer: &'a str,
    },
    /// Set or end the absence of `officer` (an officer or the manager of `department`).
    SetAbsence {
        /// The department id.
        department: &'a str,
        /// The absent person's address.
        officer: &'a str,
    },
    /// Read the report to the nämnd of one department (`Some(id)`), or of every department
    /// and their total (`None`).
    SeeReport(Option<&'a str>),
}

impl Viewer {
    /// Who `email` is in `cfg` on the day of `now`, with the absences set at run time (`away`).
    pub fn of(cfg: &Config, email: &str, away: &[(String, Absence)], now: DateTime<Utc>) -> Viewer {
        let email = email.trim().to_lowercase();
        let mut v = Viewer {
            admin: cfg.web.admins.contains(&email),
            registrar: cfg.web.registrars.contains(&email),
            ..Viewer::default()
        };
        for d in &cfg.departments {
            let escalate_to = d.follow_up.escalate_to.as_ref();
            if d.manager.email == email || escalate_to.is_some_and(|c| c.email == email) {
                v.manages.push(d.id.clone());
            }
            if d.officer(&email).is_none() {
                continue;
            }
            v.officer_in.push(d.id.clone());
            for o in &d.officers {
                let sub = crate::rules::schedule::substitute(d, &o.contact, now, away);
                if sub.is_some_and(|s| s.email.eq_ignore_ascii_case(&email)) {
                    v.stands_in_for.push(o.contact.email.to_lowercase());
                }
            }
        }
        v.email = email;
        v
    }

    /// Whether the user has any role at all (else the page answers 403).
    pub fn has_role(&self) -> bool {
        self.admin || self.registrar || !self.manages.is_empty() || !self.officer_in.is_empty()
    }

    /// Whether they see every department (admin or registrar).
    pub fn sees_all(&self) -> bool {
        self.admin || self.registrar
    }
}

/// Whether `viewer` may do `deed`. The one place the web page asks; see the module's table.
pub fn may(viewer: &Viewer, deed: Deed<'_>) -> bool {
    let manages = |d: &str| viewer.manages.iter().any(|m| m == d);
    let officer_in = |d: &str| viewer.officer_in.iter().any(|m| m == d);
    let is_me = |o: &str| o.eq_ignore_ascii_case(&viewer.email);
    match deed {
        Deed::SeeDepartment(d) => viewer.sees_all() || manages(d) || officer_in(d),
        Deed::SeeIgnored(d) => viewer.sees_all() || manages(d),
        Deed::ActOnCase {
            department,
            officer,
        } => {
            viewer.admin
                || manages(department)
                || (officer_in(department)
                    && (is_me(officer)
                        || viewer
                            .stands_in_for
                            .iter()
                            .any(|s| s.eq_ignore_ascii_case(officer))))
        }
        Deed::SetAbsence {
            department,
            officer,
        } => viewer.admin || manages(department) || (officer_in(department) && is_me(officer)),
        Deed::SeeReport(Some(d)) => viewer.sees_all() || manages(d),
        Deed::SeeReport(None) => viewer.sees_all(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Sample, OLLE_AND_ADA};
    use chrono::NaiveDate;

    fn cfg() -> Config {
        let mut cfg = Sample {
            officers: OLLE_AND_ADA,
            department: "escalate_to = { name = \"C\", email = \"chef@kommun.test\" }",
            ..Sample::default()
        }
        .config();
        cfg.web.admins = vec!["it@kommun.test".into()];
        cfg.web.registrars = vec!["reg@kommun.test".into()];
        cfg
    }

    fn now() -> DateTime<Utc> {
        crate::testkit::se("2026-12-03 10:00")
    }

    fn who(email: &str) -> Viewer {
        Viewer::of(&cfg(), email, &[], now())
    }

    const SEE: Deed<'static> = Deed::SeeDepartment("bygg");
    const SEE_OTHER: Deed<'static> = Deed::SeeDepartment("soc");
    const IGNORED: Deed<'static> = Deed::SeeIgnored("bygg");
    const ACT_O1: Deed<'static> = Deed::ActOnCase {
        department: "bygg",
        officer: "o1@kommun.test",
    };
    const ACT_O2: Deed<'static> = Deed::ActOnCase {
        department: "bygg",
        officer: "o2@kommun.test",
    };
    const AWAY_O1: Deed<'static> = Deed::SetAbsence {
        department: "bygg",
        officer: "o1@kommun.test",
    };
    const AWAY_O2: Deed<'static> = Deed::SetAbsence {
        department: "bygg",
        officer: "o2@kommun.test",
    };

    const REPORT: Deed<'static> = Deed::SeeReport(Some("bygg"));
    const REPORT_ALL: Deed<'static> = Deed::SeeReport(None);

    /// Each role against each deed: (see, see another department, ignored, act on o1's case,
    /// act on o2's case, o1's absence, o2's absence, bygg's report, every department's report).
    fn row(v: &Viewer) -> [bool; 9] {
        [
            SEE, SEE_OTHER, IGNORED, ACT_O1, ACT_O2, AWAY_O1, AWAY_O2, REPORT, REPORT_ALL,
        ]
        .map(|d| may(v, d))
    }

    #[test]
    fn each_role_sees_and_does_what_the_table_says() {
        let t = true;
        let f = false;
        assert_eq!(row(&who("it@kommun.test")), [t; 9], "admin");
        assert_eq!(
            row(&who("reg@kommun.test")),
            [t, t, t, f, f, f, f, t, t],
            "registrar"
        );
        assert_eq!(
            row(&who("m@kommun.test")),
            [t, f, t, t, t, t, t, t, f],
            "manager"
        );
        assert_eq!(
            row(&who("chef@kommun.test")),
            [t, f, t, t, t, t, t, t, f],
            "escalate_to"
        );
        assert_eq!(
            row(&who("o1@kommun.test")),
            [t, f, f, t, f, t, f, f, f],
            "officer o1"
        );
        let nobody = who("someone@kommun.test");
        assert!(!nobody.has_role());
        assert_eq!(row(&nobody), [f; 9], "no role");
        assert!(!may(&who("m@kommun.test"), Deed::SeeReport(Some("soc"))));
    }

    #[test]
    fn addresses_and_upns_match_whatever_their_case() {
        let v = who("  O1@Kommun.TEST ");
        assert_eq!(v.email, "o1@kommun.test");
        assert!(v.has_role() && may(&v, ACT_O1));
        assert!(who("IT@kommun.test").admin);
    }

    #[test]
    fn an_officer_acts_on_the_cases_of_whom_they_stand_in_for_today_only() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        let away = vec![(
            "o1@kommun.test".to_string(),
            Absence {
                from: day(2),
                to: day(4),
                substitute: "o2@kommun.test".into(),
            },
        )];
        let ada = Viewer::of(&cfg(), "o2@kommun.test", &away, now());
        assert_eq!(ada.stands_in_for, vec!["o1@kommun.test".to_string()]);
        assert!(may(&ada, ACT_O1), "standing in");
        assert!(
            !may(&ada, AWAY_O1),
            "but not setting the colleague's absence"
        );
        let later = crate::testkit::se("2026-12-05 10:00");
        let ada = Viewer::of(&cfg(), "o2@kommun.test", &away, later);
        assert!(!may(&ada, ACT_O1), "the absence is over");
    }
}
