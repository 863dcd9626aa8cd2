//! What falls due when: reminders before a case's reply deadline, escalations after it, the
//! check of the decision date, and the managers' daily digest. Pure code: given a case, a due
//! entry and the time, it says what to send and what falls due next.

use crate::config::{Department, FollowUp};
use crate::model::calendar::Calendar;
use crate::model::span::Span;
use crate::model::Category;
use crate::model::{Absence, Contact};
use crate::model::{Case, State};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// What kind of thing falls due.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DueKind {
    /// Remind the officer before the reply deadline.
    Remind,
    /// Tell the manager (level 1) or the level above (level 2) that a case is late.
    Escalate {
        /// 1: the department's manager, 2: `escalate_to`.
        level: u8,
    },
    /// The decision date promised to the resident has come.
    DecisionCheck,
    /// The manager's daily digest.
    Digest,
    /// Six months since the case arrived: förvaltningslagen 2017:900 § 12 lets the resident
    /// demand a decision of a case still undecided then.
    SixMonths,
    /// The department's officer notices held in a burst go, one gathered mail per officer
    /// whose gathering is due ([`crate::rules::burst`]); no case of its own.
    Gathered,
}

/// One entry of the schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Due {
    /// When.
    pub at: DateTime<Utc>,
    /// The department.
    pub department: String,
    /// The case, for case entries.
    pub case: Option<String>,
    /// What.
    pub kind: DueKind,
    /// The case's reply deadline when this was planned: an entry planned for an earlier
    /// deadline (before the case was re-opened) is dropped when it comes.
    pub deadline: Option<DateTime<Utc>>,
}

/// What to send when something falls due.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// A reminder to `to` (the officer, or the substitute of an absent officer).
    Remind {
        /// Who gets it.
        to: Contact,
        /// The absent officer, when a substitute is reminded.
        on_behalf_of: Option<Contact>,
    },
    /// A late case, told to a manager.
    Escalate {
        /// Who gets it.
        to: Contact,
        /// Who gets a copy.
        cc: Option<Contact>,
        /// 1 or 2.
        level: u8,
    },
    /// The promised decision date passes with the case open: the manager and officer are
    /// asked to set a new date (Förvaltningslagen 2017:900 § 11: tell the party of the delay).
    AskForNewDate {
        /// The manager.
        to: Contact,
        /// The officer.
        cc: Contact,
    },
    /// The case is still undecided six months after it arrived (förvaltningslagen § 12):
    /// the case is flagged and the manager told, once.
    SixMonths {
        /// The manager.
        to: Contact,
        /// The owner of the case.
        cc: Contact,
    },
}

/// When a case received at `received` has been open six months (förvaltningslagen 2017:900
/// § 12), as calendar months; the same day-of-month or the month's last day.
pub fn six_months_after(received: DateTime<Utc>) -> DateTime<Utc> {
    received
        .checked_add_months(chrono::Months::new(6))
        .unwrap_or(received + Duration::days(183))
}

/// Whether `case` is still undecided for § 12: open, or an application answered but not
/// closed (an officer's answer to an application is not its decision).
pub fn undecided(case: &Case) -> bool {
    match case.state {
        State::Open => true,
        State::Answered => case.category == Category::Application,
        State::Closed => false,
    }
}

/// The schedule entry of a case's six-month check (see [`DueKind::SixMonths`]); it does not
/// depend on the reply deadline, so a reopened case keeps it.
pub fn six_months_due(department: &str, case: &Case) -> Due {
    Due {
        at: six_months_after(case.received),
        department: department.to_string(),
        case: Some(case.number.clone()),
        kind: DueKind::SixMonths,
        deadline: None,
    }
}

/// When the officer is reminded of a deadline `due` for a case received at `received`; `None`
/// when that moment would not come before the deadline (or not after the case arrived).
pub fn remind_time(
    cal: &Calendar,
    follow: &FollowUp,
    received: DateTime<Utc>,
    due: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let t = match follow.remind_before {
        None => cal.start_of_day(cal.local_date(due)),
        Some(Span::Calendar(secs)) => {
            let t = due - Duration::seconds(secs);
            // Only within working hours: a reminder at night waits for the morning.
            if cal.is_working_time(t) {
                t
            } else {
                next_working_moment(cal, t)
            }
        }
        Some(Span::WorkingDays(n)) => {
            let mut date = cal.local_date(due);
            for _ in 0..n {
                date = previous_working_day(cal, date);
            }
            cal.start_of_day(date)
        }
    };
    (t > received && t < due).then_some(t)
}

/// The first working moment at or after `t`.
pub fn next_working_moment(cal: &Calendar, t: DateTime<Utc>) -> DateTime<Utc> {
    if cal.is_working_time(t) {
        return t;
    }
    let date = cal.local_date(t);
    let start = cal.start_of_day(date);
    if cal.is_working_day(date) && t < start {
        start
    } else {
        cal.start_of_day(cal.next_working_day(date))
    }
}

fn previous_working_day(cal: &Calendar, date: chrono::NaiveDate) -> chrono::NaiveDate {
    let mut d = date;
    for _ in 0..400 {
        d = d.pred_opt().unwrap_or(d);
        if cal.is_working_day(d) {
            break;
        }
    }
    d
}

/// Everything that falls due for an open case with its current deadlines.
pub fn case_dues(dept: &Department, case: &Case) -> Vec<Due> {
    let cal = &dept.calendar;
    let due = |at, kind| Due {
        at,
        department: dept.id.clone(),
        case: Some(case.number.clone()),
        kind,
        deadline: Some(case.reply_due),
    };
    let mut dues = Vec::new();
    if let Some(t) = remind_time(cal, &dept.follow_up, case.received, case.reply_due) {
        dues.push(due(t, DueKind::Remind));
    }
    dues.push(due(case.reply_due, DueKind::Escalate { level: 1 }));
    if dept.follow_up.escalate_to.is_some() {
        let t = cal.deadline(case.reply_due, dept.follow_up.escalate_again_after);
        dues.push(due(t, DueKind::Escalate { level: 2 }));
    }
    if !case.delay_told {
        dues.push(due(
            case.decision_due.max(case.received),
            DueKind::DecisionCheck,
        ));
    }
    if case.six_months.is_none() {
        dues.push(six_months_due(&dept.id, case));
    }
    dues
}

/// The digest after `now`: the next working day's (or today's) digest time.
pub fn next_digest(dept: &Department, now: DateTime<Utc>) -> Option<Due> {
    let time = dept.follow_up.digest_at?;
    let cal = &dept.calendar;
    let mut date = cal.local_date(now);
    for _ in 0..400 {
        if cal.is_working_day(date) {
            let at = local_time(cal, date, time);
            if at > now {
                return Some(Due {
                    at,
                    department: dept.id.clone(),
                    case: None,
                    kind: DueKind::Digest,
                    deadline: None,
                });
            }
        }
        date = date.succ_opt()?;
    }
    None
}

fn local_time(cal: &Calendar, date: chrono::NaiveDate, time: chrono::NaiveTime) -> DateTime<Utc> {
    use chrono::TimeZone;
    let naive = date.and_time(time);
    // A time the clock skips (DST) is taken an hour later.
    cal.tz
        .from_local_datetime(&naive)
        .earliest()
        .or_else(|| {
            cal.tz
                .from_local_datetime(&(naive + Duration::hours(1)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&naive))
}

/// Who covers for `officer` (or the manager) on the day of `now`, if they are away: an
/// officer of the department, or — for the manager — `escalate_to` (see
/// [`Department::colleague`]).
pub fn substitute(
    dept: &Department,
    officer: &Contact,
    now: DateTime<Utc>,
    away: &[(String, Absence)],
) -> Option<Contact> {
    let date = dept.calendar.local_date(now);
    let planned = dept
        .officer(&officer.email)
        .map(|o| o.absent.as_slice())
        .unwrap_or_default();
    let runtime = away
        .iter()
        .filter(|(e, _)| e.eq_ignore_ascii_case(&officer.email))
        .map(|(_, a)| a);
    let sub = planned.iter().chain(runtime).find(|a| a.covers(date))?;
    // A manager's substitute may be someone other than an officer (escalate_to); anyone the
    // department names will do, but never the absent person themself.
    dept.colleague(&sub.substitute)
        .filter(|s| !s.email.eq_ignore_ascii_case(&officer.email))
}

/// Who gets the manager's mail (complaint notices, escalations, requests for a new decision
/// date, the digest) at `now`: the manager, or their substitute while an absence recorded
/// with `officer away` covers the day (hänvisning, as for an officer).
pub fn manager(dept: &Department, now: DateTime<Utc>, away: &[(String, Absence)]) -> Contact {
    substitute(dept, &dept.manager, now, away).unwrap_or_else(|| dept.manager.clone())
}

/// `dept` as its mail to the manager sees it at `now`: with [`manager`] in the manager's place,
/// so that every mail composed for the manager reaches whoever stands in.
pub fn acting<'a>(
    dept: &'a Department,
    now: DateTime<Utc>,
    away: &[(String, Absence)],
) -> std::borrow::Cow<'a, Department> {
    let boss = manager(dept, now, away);
    if boss == dept.manager {
        std::borrow::Cow::Borrowed(dept)
    } else {
        let mut acting = dept.clone();
        acting.manager = boss;
        std::borrow::Cow::Owned(acting)
    }
}

/// What to do when `due` comes for `case` at `now`, and what falls due next.
pub fn on_due(
    dept: &Department,
    case: &Case,
    due: &Due,
    now: DateTime<Utc>,
    away: &[(String, Absence)],
) -> (Vec<Action>, Vec<Due>) {
    if due.kind == DueKind::SixMonths {
        let act =
            undecided(case) && case.six_months.is_none() && now >= six_months_after(case.received);
        let told = Action::SixMonths {
            to: dept.manager.clone(),
            cc: case.officer.clone(),
        };
        return (if act { vec![told] } else { vec![] }, vec![]);
    }
    if case.state != State::Open {
        return (vec![], vec![]);
    }
    let current = due.deadline.is_none_or(|d| d == case.reply_due);
    match due.kind {
        DueKind::Remind if current => {
            let action = match substitute(dept, &case.officer, now, away) {
                Some(sub) => Action::Remind {
                    to: sub,
                    on_behalf_of: Some(case.officer.clone()),
                },
                None => Action::Remind {
                    to: case.officer.clone(),
                    on_behalf_of: None,
                },
            };
            (vec![action], vec![])
        }
        DueKind::Escalate { level: 1 } if current => {
            // A complaint is the manager's own matter already: a missed one goes a level up.
            let action = match (&dept.follow_up.escalate_to, case.category) {
                (Some(up), Category::Complaint) => Action::Escalate {
                    to: up.clone(),
                    cc: Some(manager(dept, now, away)),
                    level: 1,
                },
                _ => Action::Escalate {
                    to: manager(dept, now, away),
                    cc: None,
                    level: 1,
                },
            };
            // Repeated once per working day while the case stays open.
            let cal = &dept.calendar;
            let next_day = cal.next_working_day(cal.local_date(now));
            let again = Due {
                at: cal.start_of_day(next_day).max(now + Duration::minutes(1)),
                ..due.clone()
            };
            (vec![action], vec![again])
        }
        DueKind::Escalate { level } if current => match &dept.follow_up.escalate_to {
            Some(up) => (
                vec![Action::Escalate {
                    to: up.clone(),
                    cc: Some(manager(dept, now, away)),
                    level,
                }],
                vec![],
            ),
            None => (vec![], vec![]),
        },
        DueKind::DecisionCheck if !case.delay_told && now >= case.decision_due => (
            vec![Action::AskForNewDate {
                to: manager(dept, now, away),
                cc: case.officer.clone(),
            }],
            vec![],
        ),
        _ => (vec![], vec![]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{se, Sample};

    fn dept(extra: &str) -> Department {
        let officers = r#"[
  { name = "Olle", email = "o1@kommun.test", absent = [{ from = "2026-12-21", to = "2026-12-31", substitute = "o2@kommun.test" }] },
  { name = "Lisa", email = "o2@kommun.test" },
]"#;
        Sample {
            officers,
            department: extra,
            ..Sample::default()
        }
        .department()
    }

    fn case(d: &Department, received: &str, category: Category) -> Case {
        let received = se(received);
        let reply_due = d.calendar.deadline(received, d.reply_within);
        Case {
            category,
            officer: d.officers[0].contact.clone(),
            received,
            reply_due,
            decision_due: d.calendar.deadline(received, d.decide_within[&category]),
            ..crate::testkit::case("BMN-2026-0001", &[])
        }
    }

    #[test]
    fn reminder_in_the_morning_of_the_due_day_by_default() {
        let d = dept("");
        // Monday 10:00 + 3d = Thursday 10:00; reminded Thursday 08:00.
        let c = case(&d, "2026-11-30 10:00", Category::Question);
        let dues = case_dues(&d, &c);
        assert_eq!(dues[0].kind, DueKind::Remind);
        assert_eq!(dues[0].at, se("2026-12-03 08:00"));
        assert_eq!(dues[1].kind, DueKind::Escalate { level: 1 });
        assert_eq!(dues[1].at, se("2026-12-03 10:00"));
    }

    #[test]
    fn remind_before_in_working_days_and_hours() {
        let d = dept("remind_before = \"1wd\"");
        let c = case(&d, "2026-11-30 10:00", Category::Question);
        assert_eq!(case_dues(&d, &c)[0].at, se("2026-12-02 08:00"));
        // Four hours before a deadline at 10:00 is 06:00: too early, so the same morning.
        let d = dept("remind_before = \"4h\"");
        let c = case(&d, "2026-11-30 10:00", Category::Question);
        assert_eq!(case_dues(&d, &c)[0].at, se("2026-12-03 08:00"));
        // Across a weekend: Friday's 1wd-before of a Monday deadline.
        let d = dept("remind_before = \"1wd\"");
        let c = case(&d, "2026-11-26 10:00", Category::Question); // due Monday 30 Nov 17:00
        assert_eq!(c.reply_due, se("2026-11-30 17:00"));
        assert_eq!(case_dues(&d, &c)[0].at, se("2026-11-27 08:00"));
    }

    #[test]
    fn reminders_go_to_the_substitute_during_an_absence() {
        let d = dept("");
        let c = case(&d, "2026-12-18 10:00", Category::Question);
        let due = &case_dues(&d, &c)[0];
        let (actions, _) = on_due(&d, &c, due, se("2026-12-22 08:00"), &[]);
        assert_eq!(
            actions,
            vec![Action::Remind {
                to: d.officers[1].contact.clone(),
                on_behalf_of: Some(d.officers[0].contact.clone())
            }]
        );
        let (actions, _) = on_due(&d, &c, due, se("2026-12-18 12:00"), &[]);
        assert_eq!(
            actions,
            vec![Action::Remind {
                to: d.officers[0].contact.clone(),
                on_behalf_of: None
            }]
        );
    }

    #[test]
    fn escalation_repeats_each_working_day_and_stops_when_answered() {
        let d = dept("");
        let mut c = case(&d, "2026-11-26 10:00", Category::Question); // due Mon 30 Nov 17:00
        let due = case_dues(&d, &c)
            .into_iter()
            .find(|x| x.kind == DueKind::Escalate { level: 1 })
            .unwrap();
        let (actions, next) = on_due(&d, &c, &due, due.at, &[]);
        assert_eq!(
            actions,
            vec![Action::Escalate {
                to: d.manager.clone(),
                cc: None,
                level: 1
            }]
        );
        assert_eq!(next[0].at, se("2026-12-01 08:00"));
        // Friday's repeat comes on Monday.
        let friday = Due {
            at: se("2026-12-04 08:00"),
            ..due.clone()
        };
        let (_, next) = on_due(&d, &c, &friday, friday.at, &[]);
        assert_eq!(next[0].at, se("2026-12-07 08:00"));
        c.state = State::Answered;
        assert_eq!(on_due(&d, &c, &due, due.at, &[]), (vec![], vec![]));
    }

    #[test]
    fn a_due_from_before_a_reopen_is_dropped() {
        let d = dept("");
        let mut c = case(&d, "2026-11-30 10:00", Category::Question);
        let old = case_dues(&d, &c).remove(0);
        c.reply_due = se("2026-12-10 17:00");
        assert_eq!(on_due(&d, &c, &old, old.at, &[]), (vec![], vec![]));
    }

    #[test]
    fn a_missed_complaint_goes_a_level_up() {
        let d = dept("escalate_to = { name = \"Kommundirektör\", email = \"kd@kommun.test\" }");
        let c = case(&d, "2026-11-30 10:00", Category::Complaint);
        let dues = case_dues(&d, &c);
        assert!(dues
            .iter()
            .any(|x| x.kind == DueKind::Escalate { level: 2 }));
        let first = dues
            .iter()
            .find(|x| x.kind == DueKind::Escalate { level: 1 })
            .unwrap();
        let (actions, _) = on_due(&d, &c, first, first.at, &[]);
        assert!(
            matches!(&actions[0], Action::Escalate { to, cc: Some(m), .. } if to.email == "kd@kommun.test" && m.email == "m@kommun.test")
        );
    }

    #[test]
    fn the_decision_date_is_checked_once() {
        let d = dept("decide_within = \"5wd\"");
        let mut c = case(&d, "2026-11-30 10:00", Category::Application);
        let check = case_dues(&d, &c)
            .into_iter()
            .find(|x| x.kind == DueKind::DecisionCheck)
            .unwrap();
        assert_eq!(check.at, se("2026-12-07 17:00"));
        let (actions, _) = on_due(&d, &c, &check, check.at, &[]);
        assert!(matches!(actions[0], Action::AskForNewDate { .. }));
        c.delay_told = true;
        assert!(on_due(&d, &c, &check, check.at, &[]).0.is_empty());
    }

    #[test]
    fn digests_on_working_days_only() {
        let d = dept("digest_at = \"07:30\"");
        // Friday after 07:30: next is Monday 07:30.
        let next = next_digest(&d, se("2026-12-04 09:00")).unwrap();
        assert_eq!(next.at, se("2026-12-07 07:30"));
        let next = next_digest(&d, se("2026-12-07 07:00")).unwrap();
        assert_eq!(next.at, se("2026-12-07 07:30"));
        assert!(next_digest(&dept("digest_at = \"off\""), se("2026-12-07 07:00")).is_none());
    }
}
