//! The Swedish public holidays of Lag (1989:253) om allmänna helgdagar, plus the eves that
//! Swedish workplaces treat as days off (midsommarafton, julafton, nyårsafton).
//!
//! Pure date arithmetic: no time zones, no clock. Easter follows the Gregorian computus.

use chrono::{Datelike, Duration, NaiveDate, Weekday};

/// One day off in the Swedish calendar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Holiday {
    /// The day.
    pub date: NaiveDate,
    /// The Swedish name, as shown to staff.
    pub name: &'static str,
}

/// Easter Sunday of `year` in the Gregorian calendar (the anonymous algorithm published by
/// Meeus, after Jones and Butcher). Valid for every year from 1583 on.
pub fn easter_sunday(year: i32) -> NaiveDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    ymd(year, month as u32, day as u32)
}

/// Every day off in `year`, in date order.
pub fn holidays(year: i32) -> Vec<Holiday> {
    let easter = easter_sunday(year);
    let mut days = vec![
        holiday(ymd(year, 1, 1), "nyårsdagen"),
        holiday(ymd(year, 1, 6), "trettondedag jul"),
        holiday(easter - Duration::days(2), "långfredagen"),
        holiday(easter, "påskdagen"),
        holiday(easter + Duration::days(1), "annandag påsk"),
        holiday(ymd(year, 5, 1), "första maj"),
        holiday(easter + Duration::days(39), "Kristi himmelsfärdsdag"),
        holiday(easter + Duration::days(49), "pingstdagen"),
        // The friday and saturday that fall between 19/20 and 25/26 June.
        holiday(
            weekday_on_or_after(ymd(year, 6, 19), Weekday::Fri),
            "midsommarafton",
        ),
        holiday(
            weekday_on_or_after(ymd(year, 6, 20), Weekday::Sat),
            "midsommardagen",
        ),
        holiday(
            weekday_on_or_after(ymd(year, 10, 31), Weekday::Sat),
            "alla helgons dag",
        ),
        holiday(ymd(year, 12, 24), "julafton"),
        holiday(ymd(year, 12, 25), "juldagen"),
        holiday(ymd(year, 12, 26), "annandag jul"),
        holiday(ymd(year, 12, 31), "nyårsafton"),
    ];
    // SFS 2004:1320: from 2005 the national day replaced Whit Monday as a public holiday.
    if year >= 2005 {
        days.push(holiday(ymd(year, 6, 6), "Sveriges nationaldag"));
    } else {
        days.push(holiday(easter + Duration::days(50), "annandag pingst"));
    }
    days.sort_by_key(|h| h.date);
    days
}

/// The holiday on `date`, if any.
pub fn holiday_on(date: NaiveDate) -> Option<Holiday> {
    holidays(date.year()).into_iter().find(|h| h.date == date)
}

fn holiday(date: NaiveDate, name: &'static str) -> Holiday {
    Holiday { date, name }
}

fn weekday_on_or_after(date: NaiveDate, weekday: Weekday) -> NaiveDate {
    let ahead = (7 + weekday.num_days_from_monday() - date.weekday().num_days_from_monday()) % 7;
    date + Duration::days(i64::from(ahead))
}

fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
    // Every caller passes a month and day that exist in every year.
    NaiveDate::from_ymd_opt(year, month, day).expect("fixed calendar date")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    /// Easter Sundays as published in almanacs, independent of the algorithm under test.
    #[test]
    fn easter_matches_the_almanac() {
        let known = [
            "2000-04-23",
            "2001-04-15",
            "2002-03-31",
            "2003-04-20",
            "2004-04-11",
            "2005-03-27",
            "2008-03-23",
            "2011-04-24",
            "2016-03-27",
            "2019-04-21",
            "2024-03-31",
            "2025-04-20",
            "2026-04-05",
            "2027-03-28",
            "2038-04-25",
            "2100-03-28",
        ];
        for day in known {
            let date = d(day);
            assert_eq!(easter_sunday(date.year()), date, "Easter {}", date.year());
        }
    }

    /// Gauss's Easter formula (with the Lichtenberg corrections): a second, independently
    /// derived computus to check every year of the range against.
    fn easter_gauss(year: i32) -> NaiveDate {
        let a = year % 19;
        let b = year % 4;
        let c = year % 7;
        let k = year / 100;
        let p = (13 + 8 * k) / 25;
        let q = k / 4;
        let m = (15 - p + k - q) % 30;
        let n = (4 + k - q) % 7;
        let dd = (19 * a + m) % 30;
        let e = (2 * b + 4 * c + 6 * dd + n) % 7;
        let mut day = 22 + dd + e; // days after 1 March, counted from 22 March
        if dd == 29 && e == 6 {
            day = 50;
        } else if dd == 28 && e == 6 && (11 * m + 11) % 30 < 19 {
            day = 49;
        }
        ymd(year, 3, 1) + Duration::days(i64::from(day - 1))
    }

    #[test]
    fn every_holiday_2000_to_2100() {
        for year in 2000..=2100 {
            let easter = easter_sunday(year);
            assert_eq!(easter, easter_gauss(year), "computus disagrees in {year}");
            assert_eq!(easter.weekday(), Weekday::Sun);
            assert!(easter >= ymd(year, 3, 22) && easter <= ymd(year, 4, 25));

            let days = holidays(year);
            assert_eq!(days.len(), 16, "{year}: {days:?}");
            let by_name = |name: &str| {
                days.iter()
                    .find(|h| h.name == name)
                    .unwrap_or_else(|| panic!("{name} missing in {year}"))
                    .date
            };
            assert_eq!(by_name("nyårsdagen"), ymd(year, 1, 1));
            assert_eq!(by_name("trettondedag jul"), ymd(year, 1, 6));
            assert_eq!(by_name("långfredagen").weekday(), Weekday::Fri);
            assert_eq!(by_name("annandag påsk").weekday(), Weekday::Mon);
            assert_eq!(by_name("första maj"), ymd(year, 5, 1));
            let ascension = by_name("Kristi himmelsfärdsdag");
            assert_eq!(ascension.weekday(), Weekday::Thu);
            assert_eq!(ascension - easter, Duration::days(39));
            assert_eq!(by_name("pingstdagen").weekday(), Weekday::Sun);
            let eve = by_name("midsommarafton");
            assert_eq!(eve.weekday(), Weekday::Fri);
            assert!(eve >= ymd(year, 6, 19) && eve <= ymd(year, 6, 25));
            assert_eq!(by_name("midsommardagen"), eve + Duration::days(1));
            let saints = by_name("alla helgons dag");
            assert_eq!(saints.weekday(), Weekday::Sat);
            assert!(saints >= ymd(year, 10, 31) && saints <= ymd(year, 11, 6));
            assert_eq!(by_name("julafton"), ymd(year, 12, 24));
            assert_eq!(by_name("juldagen"), ymd(year, 12, 25));
            assert_eq!(by_name("annandag jul"), ymd(year, 12, 26));
            assert_eq!(by_name("nyårsafton"), ymd(year, 12, 31));
            if year >= 2005 {
                assert_eq!(by_name("Sveriges nationaldag"), ymd(year, 6, 6));
                assert!(days.iter().all(|h| h.name != "annandag pingst"));
            } else {
                assert_eq!(by_name("annandag pingst").weekday(), Weekday::Mon);
                assert!(days.iter().all(|h| h.name != "Sveriges nationaldag"));
            }
            assert!(days.windows(2).all(|w| w[0].date <= w[1].date));
        }
    }

    #[test]
    fn some_known_years() {
        assert_eq!(
            holiday_on(d("2026-06-19")).map(|h| h.name),
            Some("midsommarafton")
        );
        assert_eq!(
            holiday_on(d("2026-05-14")).map(|h| h.name),
            Some("Kristi himmelsfärdsdag")
        );
        assert_eq!(
            holiday_on(d("2026-10-31")).map(|h| h.name),
            Some("alla helgons dag")
        );
        assert_eq!(
            holiday_on(d("2027-11-06")).map(|h| h.name),
            Some("alla helgons dag")
        );
        assert_eq!(
            holiday_on(d("2004-05-31")).map(|h| h.name),
            Some("annandag pingst")
        );
        assert_eq!(holiday_on(d("2004-06-06")), None);
        assert_eq!(holiday_on(d("2026-12-23")), None);
        assert_eq!(
            holiday_on(d("2026-04-03")).map(|h| h.name),
            Some("långfredagen")
        );
    }
}
