//! Who gets a new case: round robin over a department's officers, with substitutes for the
//! absent (hänvisning); a complaint (klagomål) goes to the department's manager, who answers
//! for the contact with the resident under the service policy. Pure code.

use crate::config::Department;
use crate::model::{Absence, Category, Contact};
use chrono::NaiveDate;

/// Who owns a new case of `category`: a complaint the manager ([`manager_or_substitute`]),
/// every other category the round robin ([`assign`]).
pub fn owner(
    dept: &Department,
    category: Category,
    date: NaiveDate,
    turn: u64,
    extra_absences: &[(String, Absence)],
) -> Assignment {
    match category {
        Category::Complaint => manager_or_substitute(dept, date, extra_absences),
        _ => assign(dept, date, turn, extra_absences),
    }
}

/// Whether `case` was assigned by the department's round robin, and so took a turn: not a
/// complaint (the manager's) nor a fault of a catalogued type (its responsible unit's, which
/// `Case::fault_type` names). Only such a case moves the turn on, so that the next officer in
/// line is not skipped because the manager or a unit got a case in between.
pub fn took_turn(case: &crate::model::Case) -> bool {
    case.category != Category::Complaint && case.fault_type.is_none()
}

/// The department's manager, or on a day the manager is away (an absence recorded at run
/// time, `extra_absences`), the substitute named for it — an officer of the department, or
/// `escalate_to`. A substitute who is no one the department knows is passed over: the manager
/// keeps the case rather than it going to an address nobody configured.
pub fn manager_or_substitute(
    dept: &Department,
    date: NaiveDate,
    extra_absences: &[(String, Absence)],
) -> Assignment {
    let manager = &dept.manager;
    let covering = extra_absences
        .iter()
        .filter(|(e, _)| e.eq_ignore_ascii_case(&manager.email))
        .find(|(_, a)| a.covers(date))
        .and_then(|(_, a)| dept.colleague(&a.substitute));
    match covering {
        Some(sub) if sub != *manager => Assignment {
            officer: sub,
            substitute_for: Some(manager.clone()),
        },
        _ => Assignment {
            officer: manager.clone(),
            substitute_for: None,
        },
    }
}

/// Who gets a new case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    /// The officer who handles it.
    pub officer: Contact,
    /// The absent officer whose turn it was, when a substitute takes it.
    pub substitute_for: Option<Contact>,
}

/// Picks the officer for the `turn`-th case of the department on `date`: round robin over the
/// officers; an officer who is away that day is covered by their substitute (hänvisning).
/// `extra_absences` are absences recorded at run time, by officer address.
pub fn assign(
    dept: &Department,
    date: NaiveDate,
    turn: u64,
    extra_absences: &[(String, Absence)],
) -> Assignment {
    let away = |email: &str| -> Option<String> {
        let officer = dept.officer(email)?;
        officer
            .absent
            .iter()
            .chain(
                extra_absences
                    .iter()
                    .filter(|(e, _)| e == email)
                    .map(|(_, a)| a),
            )
            .find(|a| a.covers(date))
            .map(|a| a.substitute.clone())
    };
    let n = dept.officers.len();
    let start = (turn % n as u64) as usize;
    let first = &dept.officers[start].contact;
    // Follow the chain of substitutes, at most once round the department.
    let mut current = first.clone();
    for _ in 0..n {
        match away(&current.email) {
            None => {
                let substitute_for = (current != *first).then(|| first.clone());
                return Assignment {
                    officer: current,
                    substitute_for,
                };
            }
            Some(sub) => match dept.officer(&sub) {
                Some(o) => current = o.contact.clone(),
                None => break,
            },
        }
    }
    // Everyone is away: the next officer who is not, else the one whose turn it was.
    for k in 1..n {
        let o = &dept.officers[(start + k) % n].contact;
        if away(&o.email).is_none() {
            return Assignment {
                officer: o.clone(),
                substitute_for: Some(first.clone()),
            };
        }
    }
    Assignment {
        officer: first.clone(),
        substitute_for: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::Sample;

    fn dept() -> Department {
        let officers = r#"[
  { name = "Olle", email = "o1@kommun.test" },
  { name = "Lisa", email = "o2@kommun.test", absent = [{ from = "2026-12-21", to = "2027-01-06", substitute = "o3@kommun.test" }] },
  { name = "Kim", email = "o3@kommun.test" },
]"#;
        Sample {
            officers,
            ..Sample::default()
        }
        .department()
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_complaint_goes_to_the_manager_or_the_managers_substitute() {
        let dep = dept();
        let a = owner(&dep, Category::Complaint, d("2026-12-01"), 1, &[]);
        assert_eq!(a.officer, dep.manager);
        assert_eq!(a.substitute_for, None);
        // Other categories stay round robin.
        let q = owner(&dep, Category::Question, d("2026-12-01"), 1, &[]);
        assert_eq!(q.officer.name, "Lisa");
        let away = vec![(
            dep.manager.email.to_uppercase(),
            Absence {
                from: d("2026-12-01"),
                to: d("2026-12-02"),
                substitute: "o3@kommun.test".into(),
            },
        )];
        let a = owner(&dep, Category::Complaint, d("2026-12-02"), 0, &away);
        assert_eq!(a.officer.name, "Kim");
        assert_eq!(a.substitute_for, Some(dep.manager.clone()));
        let back = owner(&dep, Category::Complaint, d("2026-12-03"), 0, &away);
        assert_eq!(back.officer, dep.manager);
        // A substitute nobody configured: the manager keeps it.
        let stranger = vec![(
            dep.manager.email.clone(),
            Absence {
                from: d("2026-12-01"),
                to: d("2026-12-02"),
                substitute: "x@elsewhere.test".into(),
            },
        )];
        let a = manager_or_substitute(&dep, d("2026-12-01"), &stranger);
        assert_eq!(a.officer, dep.manager);
    }

    #[test]
    fn round_robin_when_all_are_in() {
        let dep = dept();
        let names: Vec<_> = (0..6)
            .map(|t| assign(&dep, d("2026-12-01"), t, &[]).officer.name)
            .collect();
        assert_eq!(names, ["Olle", "Lisa", "Kim", "Olle", "Lisa", "Kim"]);
    }

    #[test]
    fn an_absent_officers_turn_goes_to_the_substitute() {
        let dep = dept();
        let a = assign(&dep, d("2026-12-22"), 1, &[]);
        assert_eq!(a.officer.name, "Kim");
        assert_eq!(a.substitute_for.map(|c| c.name), Some("Lisa".to_string()));
        // The last day of the absence still counts; the day after does not.
        assert_eq!(assign(&dep, d("2027-01-06"), 1, &[]).officer.name, "Kim");
        assert_eq!(assign(&dep, d("2027-01-07"), 1, &[]).officer.name, "Lisa");
    }

    #[test]
    fn run_time_absences_count_too() {
        let dep = dept();
        let away = vec![(
            "o1@kommun.test".to_string(),
            Absence {
                from: d("2026-12-01"),
                to: d("2026-12-02"),
                substitute: "o2@kommun.test".into(),
            },
        )];
        let a = assign(&dep, d("2026-12-01"), 0, &away);
        assert_eq!(a.officer.name, "Lisa");
        assert_eq!(a.substitute_for.unwrap().name, "Olle");
    }

    #[test]
    fn a_substitute_who_is_away_too_passes_it_on() {
        let dep = dept();
        let away = vec![(
            "o3@kommun.test".to_string(),
            Absence {
                from: d("2026-12-21"),
                to: d("2026-12-31"),
                substitute: "o1@kommun.test".into(),
            },
        )];
        let a = assign(&dep, d("2026-12-22"), 1, &away);
        assert_eq!(a.officer.name, "Olle");
        assert_eq!(a.substitute_for.unwrap().name, "Lisa");
    }
}
