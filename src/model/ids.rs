//! The identifiers kvittens mints and recognises: case numbers and the Message-IDs of the mail it
//! sends. Each format is written here once; everything that builds or reads one calls these
//! functions, so a change of format cannot leave a reader behind.
//!
//! A Message-ID here is the `id-left "@" id-right` of RFC 5322 §3.6.4, without the angle
//! brackets; [`bracketed`] adds them for a header.

use crate::model::kinds::Kind;
use chrono::{DateTime, Utc};
use regex::Regex;
use std::sync::OnceLock;

/// A case number's shape, `PREFIX-YYYY-NNNN`: a prefix of 1–10 upper-case letters and digits
/// starting with a letter, the year, and a sequence of at least four digits (zero-padded).
const CASE_NUMBER: &str = r"[A-Z][A-Z0-9]{0,9}-\d{4}-\d{4,6}";

/// What every Message-ID kvittens mints starts with, so that its own mail is known when it
/// comes back (a bounce, a resident's reply, a copy in the department mailbox).
const OURS: &str = "kvittens.";

/// Whether `prefix` can start a case number that [`case_numbers`] recognises: 1 to 10
/// upper-case ASCII letters or digits, starting with a letter.
pub fn is_prefix(prefix: &str) -> bool {
    (1..=10).contains(&prefix.len())
        && prefix.starts_with(|c: char| c.is_ascii_uppercase())
        && prefix
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// The case number of the `seq`-th case of a department in `year`: `PREFIX-YYYY-NNNN`,
/// per department and year, never reused.
pub fn case_number(prefix: &str, year: i32, seq: u64) -> String {
    format!("{prefix}-{year}-{seq:04}")
}

/// A case number as a person typed it, in the form kvittens writes it: without the spaces
/// around it and in upper case (`bmn-2026-0001` is `BMN-2026-0001`). Every command and page
/// that takes a case number calls this once, so that a number copied from a mail client that
/// changed its case, or typed in lower case, finds its case. Minted numbers are upper case
/// ([`is_prefix`]); case numbers in mail subjects stay case-sensitive ([`case_numbers`]),
/// since a lower-case look-alike in a resident's text is not a reference.
pub fn typed_case_number(text: &str) -> String {
    text.trim().to_ascii_uppercase()
}

/// Case numbers (`PREFIX-YYYY-NNNN`) written in `text`, in order, as whole words.
pub fn case_numbers(text: &str) -> impl Iterator<Item = String> + '_ {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(&format!(r"\b{CASE_NUMBER}\b")).expect("valid regex"));
    re.find_iter(text).map(|m| m.as_str().to_string())
}

/// Case numbers of kvittens receipts whose Message-ID appears in `raw` (a delivery report
/// quotes the headers of the mail that bounced, RFC 3464 §2.1), in order, without repeats next
/// to each other.
pub fn receipts_named(raw: &[u8]) -> Vec<String> {
    static RE: OnceLock<regex::bytes::Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::bytes::Regex::new(&format!(r"kvittens\.receipt\.({CASE_NUMBER})@"))
            .expect("valid regex")
    });
    let mut found: Vec<String> = re
        .captures_iter(raw)
        .filter_map(|c| {
            c.get(1)
                .map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned())
        })
        .collect();
    found.dedup();
    found
}

/// The Message-ID of a case's receipt or officer notice (any other kind counts as the notice):
/// derived from the case alone, so it is the same on every attempt and a resend after a crash
/// is the same mail (README "Exactly once").
pub fn case_mail_id(case: &str, kind: Kind, domain: &str) -> String {
    let word = if kind == Kind::Receipt {
        "receipt"
    } else {
        "assigned"
    };
    format!("{OURS}{word}.{case}@{domain}")
}

/// The Message-ID of a mail to staff from `template` about `case` (a case number, or the
/// digest's own key), stamped with the time it is about (seconds since the Unix epoch): the
/// same reminder for the same deadline has the same id.
pub fn staff_mail_id(template: &str, case: &str, stamp: DateTime<Utc>, domain: &str) -> String {
    format!("{OURS}{template}.{case}.{}@{domain}", stamp.timestamp())
}

/// The Message-ID of the delay notice for `case` whose decision falls due at `due`: one per
/// new decision date.
pub fn delay_id(case: &str, due: DateTime<Utc>, domain: &str) -> String {
    format!("{OURS}delay.{case}.{}@{domain}", due.timestamp())
}

/// Whether `id` looks like one kvittens minted, whatever its domain: such an id is never the
/// resident's own message, so it is not what a reply threads to.
pub fn looks_ours(id: &str) -> bool {
    id.starts_with(OURS)
}

/// Whether `id` is one kvittens minted under `domain` (its own id domain, compared without
/// regard to case as RFC 5321 §2.4 does for domains).
pub fn minted_under(id: &str, domain: &str) -> bool {
    looks_ours(id)
        && id
            .rsplit_once('@')
            .is_some_and(|(_, d)| d.eq_ignore_ascii_case(domain))
}

/// A Message-ID that is safe to write back into a header: printable ASCII without angle
/// brackets, and not absurdly long (a hostile mail's id must not break or inflate a reply).
pub fn safe(id: &str) -> bool {
    !id.is_empty()
        && id.len() < 500
        && id
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '<' && c != '>')
}

/// `id` as a header writes it: `<id>` (RFC 5322 §3.6.4 msg-id).
pub fn bracketed(id: &str) -> String {
    format!("<{id}>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_zero_padded() {
        assert_eq!(case_number("BMN", 2026, 42), "BMN-2026-0042");
        assert_eq!(case_number("BMN", 2026, 12345), "BMN-2026-12345");
    }

    #[test]
    fn a_minted_number_is_recognised() {
        for (prefix, seq) in [("BMN", 1), ("S0C", 9999), ("A", 123456)] {
            let n = case_number(prefix, 2027, seq);
            assert_eq!(case_numbers(&format!("Re: [{n}]")).collect::<Vec<_>>(), [n]);
        }
        assert_eq!(case_numbers("xBMN-2026-0042 bmn-2026-0042").count(), 0);
        for bad in ["", "bmn", "1BMN", "ABCDEFGHIJK", "BM-N", "BMÅ"] {
            assert!(!is_prefix(bad), "{bad}");
        }
        assert!(is_prefix("A") && is_prefix("S0C") && is_prefix("ABCDEFGHIJ"));
    }

    #[test]
    fn a_typed_number_is_read_in_any_case() {
        for typed in ["bmn-2026-0001", " BMN-2026-0001\n", "Bmn-2026-0001"] {
            assert_eq!(typed_case_number(typed), "BMN-2026-0001", "{typed:?}");
        }
        assert_eq!(typed_case_number("s0c-2027-12345"), "S0C-2027-12345");
    }

    #[test]
    fn a_minted_receipt_id_is_recognised_in_a_bounce() {
        let id = case_mail_id("BMN-2026-0007", Kind::Receipt, "kommun.test");
        assert_eq!(id, "kvittens.receipt.BMN-2026-0007@kommun.test");
        let report = format!(
            "Message-ID: {}\r\nMessage-ID: {}\r\n",
            bracketed(&id),
            bracketed(&id)
        );
        assert_eq!(receipts_named(report.as_bytes()), ["BMN-2026-0007"]);
        let notice = case_mail_id("BMN-2026-0007", Kind::OfficerNotice, "kommun.test");
        assert!(receipts_named(notice.as_bytes()).is_empty());
    }

    #[test]
    fn every_minted_id_is_ours_and_safe() {
        let t = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let ids = [
            case_mail_id("BMN-2026-0001", Kind::Receipt, "kommun.test"),
            case_mail_id("BMN-2026-0001", Kind::OfficerNotice, "kommun.test"),
            staff_mail_id("reminder", "BMN-2026-0001", t, "kommun.test"),
            delay_id("BMN-2026-0001", t, "kommun.test"),
        ];
        for id in &ids {
            assert!(looks_ours(id) && safe(id), "{id}");
            assert!(minted_under(id, "KOMMUN.test"), "{id}");
            assert!(!minted_under(id, "other.test"), "{id}");
        }
        assert_eq!(
            ids[2],
            "kvittens.reminder.BMN-2026-0001.1800000000@kommun.test"
        );
        assert_eq!(
            ids[3],
            "kvittens.delay.BMN-2026-0001.1800000000@kommun.test"
        );
        assert!(!looks_ours("x.kvittens.receipt@kommun.test"));
        assert!(!safe("a<b@c") && !safe("") && !safe(&"a".repeat(500)));
    }
}
