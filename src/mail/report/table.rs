//! The report as CSV (RFC 4180, written by the `csv` crate): one row per department and
//! period, then the `total` row. The first columns are fixed counts a spreadsheet or script can
//! rely on; the others follow in a fixed order, then one column per no-case reason, outcome of
//! the cases closed and fault type found in the period (`no_case:REASON`, `closed:OUTCOME`,
//! `fault_type:NAME`; `(none)` for none given). Shares are fractions 0–1 with four decimals,
//! empty when there is nothing to share; durations in seconds or minutes as the column says.

use crate::model::Category;
use crate::rules::report::{share, Figures};
use std::collections::BTreeSet;

/// The fixed columns, in order.
pub const COLUMNS: [&str; 41] = [
    "department",
    "from",
    "to",
    "received",
    "cases",
    "no_case",
    "receipts_within_1d",
    "answered_in_time",
    "overdue",
    "complaints",
    "complaints_contacted_within_week",
    "fault_reports",
    "name",
    "cases_question",
    "cases_application",
    "cases_fault_report",
    "cases_complaint",
    "no_case_opened_later",
    "receipts",
    "receipts_within_1h",
    "receipts_same_day",
    "receipts_within_1h_share",
    "receipts_same_day_share",
    "receipts_within_1d_share",
    "receipt_slowest_seconds",
    "answered",
    "answered_in_time_share",
    "median_answer_minutes",
    "escalations",
    "complaints_contacted",
    "complaints_contacted_within_week_share",
    "complaints_open",
    "contacts_phone",
    "contacts_visit",
    "contacts_mail",
    "contacts_letter",
    "measures",
    "faults_done_in_time_share",
    "delay_notices",
    "six_months",
    "closed",
];

/// A column's key as the header writes it: `(none)` for the empty key (a case closed without
/// an outcome, a fault report of no type), so that no column ends in a bare `:`.
fn or_none(key: &str) -> &str {
    if key.is_empty() {
        "(none)"
    } else {
        key
    }
}

fn fraction(s: Option<f64>) -> String {
    s.map(|s| format!("{s:.4}")).unwrap_or_default()
}

fn fixed(f: &Figures) -> Vec<String> {
    let t = &f.sum;
    let contact = |how: &str| t.contacts_by.get(how).copied().unwrap_or(0).to_string();
    let n = |v: u64| v.to_string();
    vec![
        f.department.clone(),
        f.from.to_string(),
        f.to.to_string(),
        n(t.received),
        n(f.cases),
        n(f.no_case),
        n(t.receipts_within_1d),
        n(t.answered_in_time),
        n(f.overdue_now),
        n(f.complaints()),
        n(t.complaints_contacted_in_time),
        n(f.fault_reports()),
        f.name.clone(),
        n(f.category(Category::Question)),
        n(f.category(Category::Application)),
        n(f.category(Category::FaultReport)),
        n(f.category(Category::Complaint)),
        n(t.no_case_opened),
        n(t.receipts),
        n(t.receipts_within_1h),
        n(t.receipts_same_day),
        fraction(share(t.receipts_within_1h, t.receipts)),
        fraction(share(t.receipts_same_day, t.receipts)),
        fraction(share(t.receipts_within_1d, t.receipts)),
        n(t.receipt_slowest_secs),
        n(t.answered),
        fraction(share(t.answered_in_time, t.answered)),
        f.median_answer_minutes
            .map(|m| format!("{m:.1}"))
            .unwrap_or_default(),
        n(t.escalations),
        n(t.complaints_contacted),
        fraction(share(t.complaints_contacted_in_time, f.complaints())),
        n(f.complaints_open_now),
        contact("phone"),
        contact("visit"),
        contact("mail"),
        contact("letter"),
        n(t.measures),
        fraction(share(t.faults_done_in_time, t.faults_done)),
        n(t.delay_notices),
        n(t.six_months),
        n(f.closed),
    ]
}

/// The CSV of `figures`.
///
/// # Errors
/// When the writer fails (it writes to memory; kept as text).
pub fn csv(figures: &[Figures]) -> Result<String, String> {
    let reasons: BTreeSet<&String> = figures.iter().flat_map(|f| f.sum.no_case.keys()).collect();
    let outcomes: BTreeSet<&String> = figures
        .iter()
        .flat_map(|f| f.closed_by_outcome.keys())
        .collect();
    let types: BTreeSet<&String> = figures
        .iter()
        .flat_map(|f| f.sum.fault_types.keys())
        .collect();
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = COLUMNS.iter().map(|c| c.to_string()).collect();
    header.extend(reasons.iter().map(|r| format!("no_case:{r}")));
    header.extend(outcomes.iter().map(|o| format!("closed:{}", or_none(o))));
    header.extend(types.iter().map(|t| format!("fault_type:{}", or_none(t))));
    w.write_record(&header).map_err(|e| e.to_string())?;
    for f in figures {
        let mut record = fixed(f);
        let get = |m: &std::collections::BTreeMap<String, u64>, k: &String| {
            m.get(k).copied().unwrap_or(0).to_string()
        };
        record.extend(reasons.iter().map(|r| get(&f.sum.no_case, r)));
        record.extend(outcomes.iter().map(|o| get(&f.closed_by_outcome, o)));
        record.extend(types.iter().map(|t| get(&f.sum.fault_types, t)));
        w.write_record(&record).map_err(|e| e.to_string())?;
    }
    let bytes = w.into_inner().map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tally::DayTally;
    use crate::rules::report::{figures, Scope};
    use chrono::NaiveDate;

    #[test]
    fn one_row_per_department_then_the_total_with_the_fixed_columns_first() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        let mut a = DayTally {
            received: 3,
            receipts: 2,
            receipts_within_1d: 1,
            ..DayTally::default()
        };
        a.no_case.insert("automatic".into(), 1);
        let mut b = DayTally {
            received: 1,
            ..DayTally::default()
        };
        b.fault_types.insert("Gatubelysning, trasig".into(), 1);
        let depts = [
            ("bygg".to_string(), "Bygg".to_string()),
            ("gata".to_string(), "Gata".to_string()),
        ];
        let scope = Scope {
            from: day,
            to: day,
            departments: &depts,
            only: None,
            now: chrono::Utc::now(),
        };
        let f = figures(
            &scope,
            &[("bygg".into(), day, a), ("gata".into(), day, b)],
            &[],
        );
        let text = csv(&f).unwrap();
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let head: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(&head[..12], &COLUMNS[..12]);
        assert_eq!(head.last().unwrap(), "fault_type:Gatubelysning, trasig");
        let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
        assert_eq!(rows.len(), 3);
        assert_eq!(&rows[2][0], "total");
        assert_eq!(&rows[2][3], "4");
        assert_eq!(&rows[0][6], "1");
        let col = |name: &str| head.iter().position(|h| h == name).unwrap();
        assert_eq!(&rows[0][col("receipts_within_1d_share")], "0.5000");
        assert_eq!(&rows[1][col("receipts_within_1d_share")], "");
        assert_eq!(&rows[2][col("no_case:automatic")], "1");
    }

    #[test]
    fn closed_cases_are_counted_by_outcome_whatever_the_spelling() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        let mut a = DayTally::default();
        a.closed.insert("befogat".into(), 1);
        a.closed.insert(" Befogat".into(), 2);
        a.closed.insert(String::new(), 1);
        a.fault_types.insert(String::new(), 1);
        let mut b = DayTally::default();
        b.closed.insert("Ej befogat".into(), 1);
        let depts = [
            ("bygg".to_string(), "Bygg".to_string()),
            ("gata".to_string(), "Gata".to_string()),
        ];
        let scope = Scope {
            from: day,
            to: day,
            departments: &depts,
            only: None,
            now: chrono::Utc::now(),
        };
        let f = figures(
            &scope,
            &[("bygg".into(), day, a), ("gata".into(), day, b)],
            &[],
        );
        let text = csv(&f).unwrap();
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let head: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
        let col = |name: &str| {
            head.iter()
                .position(|h| h == name)
                .unwrap_or_else(|| panic!("{name} in {head:?}"))
        };
        let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
        assert_eq!(&rows[0][col("closed")], "4");
        assert_eq!(&rows[0][col("closed:befogat")], "3");
        assert_eq!(&rows[0][col("closed:(none)")], "1");
        assert_eq!(&rows[1][col("closed:ej befogat")], "1");
        assert_eq!(&rows[2][col("closed")], "5");
        assert_eq!(&rows[2][col("closed:ej befogat")], "1");
        let closed = head.iter().filter(|h| h.starts_with("closed:")).count();
        assert_eq!(closed, 3, "{head:?}");
        // A fault of no type, like a case closed without an outcome: `(none)`, not a bare `:`.
        assert_eq!(&rows[0][col("fault_type:(none)")], "1");
        assert!(head.iter().all(|h| !h.ends_with(':')), "{head:?}");
    }
}
