//! Durations as operators write them in the config: `"30s"`, `"10m"`, `"72h"`, `"3d"`, `"1w"`
//! (calendar time) and `"3wd"` (working days on the department's calendar).

use std::fmt;
use std::str::FromStr;

/// A length of time from the config. Calendar spans are exact elapsed time (a day is 24 hours,
/// a week 7 days); working-day spans count only days the calendar says are working days.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Span {
    /// Elapsed time in seconds.
    Calendar(i64),
    /// A number of working days.
    WorkingDays(u32),
}

impl Span {
    /// The span as elapsed time, for calendar spans; `None` for working days, which only a
    /// calendar can turn into time.
    pub fn as_calendar(&self) -> Option<chrono::Duration> {
        match self {
            Span::Calendar(secs) => Some(chrono::Duration::seconds(*secs)),
            Span::WorkingDays(_) => None,
        }
    }
}

/// Why a span could not be read; the text is shown to the operator after the key name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanError(pub String);

impl fmt::Display for SpanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SpanError {}

impl FromStr for Span {
    type Err = SpanError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let t = text.trim();
        let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (number, unit) = t.split_at(digits_end);
        let help = "write a whole number and a unit: s, m, h, d, w or wd (working days), e.g. \"3d\" or \"2wd\"";
        let n: i64 = number
            .parse()
            .map_err(|_| SpanError(format!("{text:?} is not a duration; {help}")))?;
        let seconds_per_unit = match unit.trim() {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            "w" => 7 * 86_400,
            "wd" => {
                let days = u32::try_from(n)
                    .ok()
                    .filter(|d| *d <= 3650)
                    .ok_or_else(|| SpanError(format!("{text:?} is too long")))?;
                return Ok(Span::WorkingDays(days));
            }
            other => {
                return Err(SpanError(format!(
                    "{text:?} has an unknown unit {other:?}; {help}"
                )))
            }
        };
        n.checked_mul(seconds_per_unit)
            .filter(|s| *s <= 10 * 365 * 86_400)
            .map(Span::Calendar)
            .ok_or_else(|| SpanError(format!("{text:?} is too long")))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Span::WorkingDays(n) => write!(f, "{n}wd"),
            Span::Calendar(s) if s % 86_400 == 0 => write!(f, "{}d", s / 86_400),
            Span::Calendar(s) if s % 3600 == 0 => write!(f, "{}h", s / 3600),
            Span::Calendar(s) if s % 60 == 0 => write!(f, "{}m", s / 60),
            Span::Calendar(s) => write!(f, "{s}s"),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Span {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_unit() {
        assert_eq!("30s".parse(), Ok(Span::Calendar(30)));
        assert_eq!("10m".parse(), Ok(Span::Calendar(600)));
        assert_eq!("72h".parse(), Ok(Span::Calendar(72 * 3600)));
        assert_eq!("3d".parse(), Ok(Span::Calendar(3 * 86_400)));
        assert_eq!("1w".parse(), Ok(Span::Calendar(7 * 86_400)));
        assert_eq!("3wd".parse(), Ok(Span::WorkingDays(3)));
        assert_eq!(" 2 wd ".parse(), Ok(Span::WorkingDays(2)));
    }

    #[test]
    fn rejects_what_is_not_a_duration() {
        for bad in [
            "",
            "3",
            "d",
            "3x",
            "-3d",
            "1.5d",
            "3 days",
            "99999999999999999999s",
        ] {
            assert!(bad.parse::<Span>().is_err(), "{bad:?} was accepted");
        }
        let err = "3x".parse::<Span>().unwrap_err();
        assert!(err.0.contains("unknown unit"), "{err}");
    }

    #[test]
    fn displays_as_written() {
        for text in ["30s", "10m", "5h", "3d", "3wd"] {
            assert_eq!(text.parse::<Span>().unwrap().to_string(), text);
        }
    }
}
