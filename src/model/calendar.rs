//! The business calendar: which moments are working time for a department, and when a deadline
//! falls. Pure code: every function takes the time it works on, none reads a clock.

use crate::model::holidays;
use crate::model::span::Span;
use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;
use std::fmt;
use std::str::FromStr;

/// Which days besides weekends are days off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HolidayRule {
    /// Swedish public holidays and the eves treated as days off.
    Swedish,
    /// No holidays and no weekends: every day is a working day (a 24/7 service).
    None,
}

impl FromStr for HolidayRule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "swedish" | "se" => Ok(HolidayRule::Swedish),
            "none" => Ok(HolidayRule::None),
            other => Err(format!(
                "{other:?} is not a holiday rule; use \"swedish\" or \"none\""
            )),
        }
    }
}

/// Opening hours of a working day, in minutes after local midnight; `close` may be 1440
/// ("24:00") for a service that works the whole day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkingHours {
    /// Minutes after midnight when work starts.
    pub open: u32,
    /// Minutes after midnight when work ends (exclusive), at most 1440.
    pub close: u32,
}

impl Default for WorkingHours {
    fn default() -> Self {
        WorkingHours {
            open: 8 * 60,
            close: 17 * 60,
        }
    }
}

impl FromStr for WorkingHours {
    type Err = String;
    /// Reads `"08:00-17:00"`.
    fn from_str(s: &str) -> Result<Self, String> {
        let err = || format!("{s:?} is not a range of hours; write it like \"08:00-17:00\"");
        let (a, b) = s.split_once('-').ok_or_else(err)?;
        let minutes = |t: &str| -> Option<u32> {
            let (h, m) = t.trim().split_once(':')?;
            let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
            (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
        };
        let (open, close) = (minutes(a).ok_or_else(err)?, minutes(b).ok_or_else(err)?);
        if open >= close {
            return Err(format!("{s:?}: the day must end after it starts"));
        }
        Ok(WorkingHours { open, close })
    }
}

impl fmt::Display for WorkingHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hm = |m: u32| format!("{:02}:{:02}", m / 60, m % 60);
        write!(f, "{}-{}", hm(self.open), hm(self.close))
    }
}

/// A department's working calendar.
#[derive(Clone, Debug, PartialEq)]
pub struct Calendar {
    /// Where the department is; working hours and dates are local to it.
    pub tz: Tz,
    /// Opening hours on working days.
    pub hours: WorkingHours,
    /// Which days are off.
    pub holidays: HolidayRule,
    /// Further days off of this department or municipality (`extra_days_off`): klämdagar
    /// (a working day between a holiday and a weekend that the municipality gives off) and
    /// local days off. Sorted, no duplicates. Off under any holiday rule, since someone named
    /// each of them.
    pub extra_off: Vec<NaiveDate>,
}

impl Default for Calendar {
    fn default() -> Self {
        Calendar {
            tz: chrono_tz::Europe::Stockholm,
            hours: WorkingHours::default(),
            holidays: HolidayRule::Swedish,
            extra_off: Vec::new(),
        }
    }
}

impl Calendar {
    /// Whether staff work on `date` at all.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        if self.extra_off.binary_search(&date).is_ok() {
            return false;
        }
        match self.holidays {
            HolidayRule::None => true,
            HolidayRule::Swedish => {
                !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
                    && holidays::holiday_on(date).is_none()
            }
        }
    }

    /// Whether `t` falls inside working hours on a working day.
    pub fn is_working_time(&self, t: DateTime<Utc>) -> bool {
        let local = t.with_timezone(&self.tz);
        let minute = local.hour_minute();
        self.is_working_day(local.date_naive())
            && minute >= self.hours.open
            && minute < self.hours.close
    }

    /// The first working day after `date`.
    pub fn next_working_day(&self, date: NaiveDate) -> NaiveDate {
        let mut d = date;
        loop {
            d = d.succ_opt().unwrap_or(d);
            if self.is_working_day(d) {
                return d;
            }
        }
    }

    /// The moment work ends on `date`.
    pub fn end_of_day(&self, date: NaiveDate) -> DateTime<Utc> {
        self.local_moment(date, self.hours.close)
    }

    /// The moment work starts on `date`.
    pub fn start_of_day(&self, date: NaiveDate) -> DateTime<Utc> {
        self.local_moment(date, self.hours.open)
    }

    /// `t` itself when it is working time, else the end of the next working day: a deadline
    /// must never fall when nobody is there to meet it.
    pub fn roll_forward(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        if self.is_working_time(t) {
            return t;
        }
        let local = t.with_timezone(&self.tz);
        let date = local.date_naive();
        if self.is_working_day(date) && local.hour_minute() < self.hours.open {
            self.end_of_day(date)
        } else {
            self.end_of_day(self.next_working_day(date))
        }
    }

    /// When something received at `from` is due, `span` later: elapsed time for calendar spans
    /// (rolled forward out of non-working time), or the end of the n-th working day after the
    /// day it arrived.
    pub fn deadline(&self, from: DateTime<Utc>, span: Span) -> DateTime<Utc> {
        match span {
            Span::Calendar(secs) => self.roll_forward(from + Duration::seconds(secs)),
            Span::WorkingDays(0) => self.roll_forward(from),
            Span::WorkingDays(n) => {
                let mut date = from.with_timezone(&self.tz).date_naive();
                for _ in 0..n {
                    date = self.next_working_day(date);
                }
                self.end_of_day(date)
            }
        }
    }

    /// The local calendar date of `t`, as residents and staff read it.
    pub fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.tz).date_naive()
    }

    fn local_moment(&self, date: NaiveDate, minute: u32) -> DateTime<Utc> {
        let (date, minute) = if minute >= 1440 {
            (date.succ_opt().unwrap_or(date), minute - 1440)
        } else {
            (date, minute)
        };
        let time = NaiveTime::from_hms_opt(minute / 60, minute % 60, 0).unwrap_or(NaiveTime::MIN);
        let naive = date.and_time(time);
        match self.tz.from_local_datetime(&naive) {
            LocalResult::Single(t) => t.with_timezone(&Utc),
            // The clock goes back: the later of the two, so no time is taken from the officer.
            LocalResult::Ambiguous(_, later) => later.with_timezone(&Utc),
            // The clock jumps forward over this moment: the same wall time an hour on.
            LocalResult::None => {
                let shifted = naive + Duration::hours(1);
                self.tz
                    .from_local_datetime(&shifted)
                    .earliest()
                    .map(|t| t.with_timezone(&Utc))
                    .unwrap_or_else(|| Utc.from_utc_datetime(&naive))
            }
        }
    }
}

trait HourMinute {
    fn hour_minute(&self) -> u32;
}

impl<T: TimeZone> HourMinute for DateTime<T> {
    fn hour_minute(&self) -> u32 {
        use chrono::Timelike;
        self.hour() * 60 + self.minute()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::se;

    fn cal() -> Calendar {
        Calendar::default()
    }

    fn span(text: &str) -> Span {
        text.parse().unwrap()
    }

    #[test]
    fn three_days_on_a_plain_week() {
        // Monday 10:00 + 72 h = Thursday 10:00, working time.
        assert_eq!(
            cal().deadline(se("2026-11-30 10:00"), span("3d")),
            se("2026-12-03 10:00")
        );
    }

    #[test]
    fn weekend_moves_to_end_of_next_working_day() {
        // Thursday 10:00 + 72 h = Sunday: end of Monday.
        assert_eq!(
            cal().deadline(se("2026-11-26 10:00"), span("3d")),
            se("2026-11-30 17:00")
        );
    }

    #[test]
    fn after_hours_moves_to_end_of_next_working_day() {
        // Tuesday 18:30 + 72 h = Friday 18:30: end of Monday.
        assert_eq!(
            cal().deadline(se("2026-12-01 18:30"), span("3d")),
            se("2026-12-07 17:00")
        );
        // Before opening on a working day: the end of that same day.
        assert_eq!(
            cal().roll_forward(se("2026-12-02 06:00")),
            se("2026-12-02 17:00")
        );
    }

    #[test]
    fn easter_is_skipped() {
        // Wednesday 1 April 2026 + 72 h = Saturday; Good Friday, Easter Monday are off.
        assert_eq!(
            cal().deadline(se("2026-04-01 11:00"), span("3d")),
            se("2026-04-07 17:00")
        );
        // Three working days from Thursday before Easter: Tue, Wed, Thu.
        assert_eq!(
            cal().deadline(se("2026-04-02 09:00"), span("3wd")),
            se("2026-04-09 17:00")
        );
    }

    #[test]
    fn midsommar_and_christmas_are_skipped() {
        // Wednesday 17 June 2026 + 48 h = midsommarafton 19 June: end of Monday 22 June.
        assert_eq!(
            cal().deadline(se("2026-06-17 12:00"), span("2d")),
            se("2026-06-22 17:00")
        );
        // Monday 21 Dec 2026 + 3d = julafton: the next working day is 28 Dec.
        assert_eq!(
            cal().deadline(se("2026-12-21 12:00"), span("3d")),
            se("2026-12-28 17:00")
        );
        // New year's eve and day, then trettondedag (Wednesday 6 Jan 2027).
        assert_eq!(
            cal().deadline(se("2026-12-30 12:00"), span("1d")),
            se("2027-01-04 17:00")
        );
        assert_eq!(
            cal().deadline(se("2027-01-04 12:00"), span("2wd")),
            se("2027-01-07 17:00")
        );
    }

    #[test]
    fn working_days_count_only_working_days() {
        // Friday + 1wd = Monday; Saturday + 1wd = Monday.
        assert_eq!(
            cal().deadline(se("2026-11-27 10:00"), span("1wd")),
            se("2026-11-30 17:00")
        );
        assert_eq!(
            cal().deadline(se("2026-11-28 10:00"), span("1wd")),
            se("2026-11-30 17:00")
        );
        assert_eq!(
            cal().deadline(se("2026-11-30 10:00"), span("5wd")),
            se("2026-12-07 17:00")
        );
    }

    #[test]
    fn elapsed_time_across_dst_changes() {
        // Autumn: 72 h from Friday 23 Oct 2026 10:00 CEST is Monday 26 Oct 09:00 CET.
        assert_eq!(
            cal().deadline(se("2026-10-23 10:00"), span("72h")),
            se("2026-10-26 09:00")
        );
        // Spring: 72 h from Friday 27 Mar 2026 10:00 CET is Monday 30 Mar 11:00 CEST.
        assert_eq!(
            cal().deadline(se("2026-03-27 10:00"), span("72h")),
            se("2026-03-30 11:00")
        );
        // The end of a working day is 17:00 local on either side of a change.
        assert_eq!(
            cal().end_of_day("2026-10-26".parse().unwrap()).to_rfc3339(),
            "2026-10-26T16:00:00+00:00"
        );
        assert_eq!(
            cal().end_of_day("2026-10-23".parse().unwrap()).to_rfc3339(),
            "2026-10-23T15:00:00+00:00"
        );
    }

    #[test]
    fn always_open_calendar_never_moves_a_deadline() {
        let always = Calendar {
            tz: chrono_tz::Europe::Stockholm,
            hours: "00:00-24:00".parse().unwrap(),
            holidays: HolidayRule::None,
            extra_off: Vec::new(),
        };
        let t = se("2026-12-24 23:59");
        assert!(always.is_working_time(t));
        assert_eq!(always.deadline(t, span("20s")), t + Duration::seconds(20));
    }

    #[test]
    fn working_hours_are_read_and_checked() {
        assert_eq!(
            "08:00-17:00".parse::<WorkingHours>(),
            Ok(WorkingHours::default())
        );
        assert_eq!(
            "00:00-24:00".parse::<WorkingHours>().map(|h| h.close),
            Ok(1440)
        );
        for bad in ["8-17", "17:00-08:00", "08:00-24:30", "08:60-17:00", ""] {
            assert!(bad.parse::<WorkingHours>().is_err(), "{bad}");
        }
        assert_eq!(WorkingHours::default().to_string(), "08:00-17:00");
    }

    #[test]
    fn working_time_edges() {
        let c = cal();
        assert!(!c.is_working_time(se("2026-12-01 07:59")));
        assert!(c.is_working_time(se("2026-12-01 08:00")));
        assert!(c.is_working_time(se("2026-12-01 16:59")));
        assert!(!c.is_working_time(se("2026-12-01 17:00")));
        assert!(!c.is_working_time(se("2026-12-05 10:00")), "Saturday");
    }

    #[test]
    fn extra_days_off_are_skipped_like_holidays() {
        // Kristi himmelsfärd is Thursday 14 May 2026; the Friday after is a klämdag.
        let mut c = cal();
        assert!(c.is_working_day("2026-05-15".parse().unwrap()));
        c.extra_off = vec!["2026-05-15".parse().unwrap()];
        assert!(!c.is_working_day("2026-05-15".parse().unwrap()));
        // Wednesday 13 May + 1wd: not Thursday (a holiday), not Friday (off): Monday.
        assert_eq!(
            c.deadline(se("2026-05-13 10:00"), span("1wd")),
            se("2026-05-18 17:00")
        );
        // Elapsed time ending on the day off rolls on to the end of the next working day.
        assert_eq!(
            c.deadline(se("2026-05-12 10:00"), span("3d")),
            se("2026-05-18 17:00")
        );
        // A named day is off on a 24/7 calendar too.
        let always = Calendar {
            hours: "00:00-24:00".parse().unwrap(),
            holidays: HolidayRule::None,
            extra_off: vec!["2026-05-15".parse().unwrap()],
            ..Calendar::default()
        };
        assert!(!always.is_working_time(se("2026-05-15 12:00")));
        assert!(always.is_working_time(se("2026-05-16 12:00")));
    }
}
