//! Every key kvittens writes into sled, made in one place. A key's shape is part of the
//! on-disk format (see [`super::schema`]): a store written by one version is read by the next,
//! so a shape changes only with a schema version and its migration.
//!
//! Keys sort as bytes; where order matters (the schedule by time, the outbox receipts first,
//! the ignored list by id) the numbers are zero-padded so that byte order is numeric order.

use chrono::{DateTime, NaiveDate, Utc};

/// The schema version of the store (a JSON number).
pub(super) const SCHEMA: &str = "schema/version";
/// When housekeeping last ran.
pub(super) const HOUSEKEEPING: &str = "housekeeping/last";
/// The last id handed to an ignored mail.
pub(super) const IGNORED_SEQ: &str = "ignored-seq";
/// The web page's secret: the key of its forms' CSRF tokens (random, made on first use).
pub(super) const WEB_KEY: &str = "web/key";
/// Written when an import begins and removed when it has loaded everything (see
/// [`super::dump`]): a store that still has it holds part of another and is not opened.
pub(super) const IMPORT_UNFINISHED: &str = "import/unfinished";

/// Key prefixes, for scans.
pub(super) mod prefix {
    /// Cases by number.
    pub const CASE: &str = "case/";
    /// The thread index: Message-ID → case number.
    pub const MESSAGE: &str = "msg/";
    /// "Message handled" marks.
    pub const HANDLED: &str = "handled/";
    /// Receipts per sender and day (the daily cap).
    pub const RATE: &str = "rate/";
    /// The schedule, by time.
    pub const DUE: &str = "due/";
    /// Mail waiting to go.
    pub const OUTBOX: &str = "outbox/";
    /// Mail in flight.
    pub const FLIGHT: &str = "flight/";
    /// Absences set at run time.
    pub const AWAY: &str = "away/";
    /// Mail that opened no case.
    pub const IGNORED: &str = "ignored/";
    /// The loop breaker's memory of senders.
    pub const LOOP: &str = "loop/";
    /// What the sending account spent.
    pub const SPENT: &str = "spent/";
    /// Per department, the newest mark removed (see [`super::horizon`]).
    pub const HORIZON: &str = "horizon/";
    /// Daily totals, by day then department (see [`crate::model::tally`]).
    pub const TALLY: &str = "tally/";
    /// The open cases, by department and number (see [`super::super::open`]).
    pub const OPEN: &str = "open/";
    /// The cases with an answer time, by that time.
    pub const ANSWERED: &str = "answered/";
    /// Per department and officer, the burst of new cases (see [`crate::rules::burst`]).
    pub const BURST: &str = "burst/";
    /// Officer notices held for a gathered mail, by department, officer and case.
    pub const HELD: &str = "held/";
}

/// An officer's burst: `burst/<department>/<officer address, lower case>`.
pub(super) fn burst(department: &str, officer: &str) -> String {
    format!("{}{department}/{}", prefix::BURST, officer.to_lowercase())
}

/// A held officer notice: `held/<department>/<officer address, lower case>/<case number>`; with
/// an empty number, the prefix of the officer's held notices.
pub(super) fn held(department: &str, officer: &str, case: &str) -> String {
    format!(
        "{}{department}/{}/{case}",
        prefix::HELD,
        officer.to_lowercase()
    )
}

/// A case, by its number.
pub(super) fn case(number: &str) -> String {
    format!("{}{number}", prefix::CASE)
}

/// An open case's entry in the open-case index: `open/<department>/<number>`.
pub(super) fn open(department: &str, number: &str) -> String {
    format!("{}{department}/{number}", prefix::OPEN)
}

/// The department and number of an open-case index key.
pub(super) fn open_parts(key: &str) -> Option<(&str, &str)> {
    key.strip_prefix(prefix::OPEN)?.split_once('/')
}

/// An answered case's entry, by its answer time: `answered/<millis, 20 digits>/<number>`; with
/// an empty number, the first key at that time.
pub(super) fn answered(at: DateTime<Utc>, number: &str) -> String {
    format!(
        "{}{:020}/{number}",
        prefix::ANSWERED,
        at.timestamp_millis().max(0)
    )
}

/// The case number of an answered-case index key.
pub(super) fn answered_number(key: &str) -> Option<&str> {
    key.strip_prefix(prefix::ANSWERED)?
        .split_once('/')
        .map(|(_, n)| n)
}

/// The thread index entry of a Message-ID.
pub(super) fn message(id: &str) -> String {
    format!("{}{id}", prefix::MESSAGE)
}

/// The "handled" mark of a message in a mailbox.
pub(super) fn handled(department: &str, uid_validity: u32, uid: u32) -> String {
    format!("{}{department}/{uid_validity}/{uid}", prefix::HANDLED)
}

/// The department of a "handled" mark's key (`handled/<department>/<validity>/<uid>`; a Sent
/// folder's department is `bygg/sent`, so the department is all but the last two parts).
pub(super) fn handled_department(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(prefix::HANDLED)?;
    let (head, _uid) = rest.rsplit_once('/')?;
    let (department, _validity) = head.rsplit_once('/')?;
    Some(department)
}

/// The receipt count of one sender on one day, `sender_today` as made by
/// [`super::sender_day`] (`address/YYYY-MM-DD`).
pub(super) fn rate(sender_today: &str) -> String {
    format!("{}{sender_today}", prefix::RATE)
}

/// The day of a rate key (its last part), for pruning by age.
pub(super) fn rate_day(key: &str) -> Option<NaiveDate> {
    key.rsplit_once('/')?.1.parse().ok()
}

/// The case-number counter of a prefix and year.
pub(super) fn seq(prefix: &str, year: i32) -> String {
    format!("seq/{prefix}/{year}")
}

/// The round-robin turn of a department.
pub(super) fn turn(department: &str) -> String {
    format!("turn/{department}")
}

/// Where a mailbox was read up to (with an empty place, the prefix of them all).
pub(super) fn cursor(place: &str) -> String {
    format!("cursor/{place}")
}

/// A schedule entry: ordered by time (milliseconds), then by a unique id.
pub(super) fn due(at: DateTime<Utc>, id: u64) -> String {
    format!(
        "{}{:020}/{id:020}",
        prefix::DUE,
        at.timestamp_millis().max(0)
    )
}

/// The first key of the schedule after `now`: everything before it is due.
pub(super) fn due_after(now: DateTime<Utc>) -> String {
    format!("{}{:020}/", prefix::DUE, now.timestamp_millis().max(0) + 1)
}

/// A mail in the outbox; `rank` orders the outbox (0 goes first), set by the caller.
pub(super) fn outbox(rank: u8, id: &str) -> String {
    format!("{}{rank}/{id}", prefix::OUTBOX)
}

/// The rank of an outbox key (`outbox/<rank>/<id>`).
pub(super) fn outbox_rank(key: &str) -> Option<u8> {
    key.strip_prefix(prefix::OUTBOX)?
        .split_once('/')?
        .0
        .parse()
        .ok()
}

/// A mail in flight.
pub(super) fn flight(id: &str) -> String {
    format!("{}{id}", prefix::FLIGHT)
}

/// When a department's last digest was due.
pub(super) fn digest(department: &str) -> String {
    format!("digest/{department}")
}

/// An absence set at run time.
pub(super) fn away(officer: &str, from: NaiveDate) -> String {
    format!("{}{officer}/{from}", prefix::AWAY)
}

/// An ignored mail by id.
pub(super) fn ignored(id: u64) -> String {
    format!("{}{id:012}", prefix::IGNORED)
}

/// The loop breaker's record of a sender (addresses compared without case).
pub(super) fn sender(email: &str) -> String {
    format!("{}{}", prefix::LOOP, email.to_lowercase())
}

/// One record of the sending account's spending: by time (microseconds), then a unique id.
pub(super) fn spent(at: DateTime<Utc>, id: u64) -> String {
    format!(
        "{}{:020}-{id:020}",
        prefix::SPENT,
        at.timestamp_micros().max(0)
    )
}

/// The first spending key at `since`: everything before it is older.
pub(super) fn spent_from(since: DateTime<Utc>) -> String {
    format!("{}{:020}", prefix::SPENT, since.timestamp_micros().max(0))
}

/// A department's re-read horizon.
pub(super) fn horizon(department: &str) -> String {
    format!("{}{department}", prefix::HORIZON)
}

/// The daily totals of a department on a day: `tally/YYYY-MM-DD/<department>`, day first so
/// that a period is one range.
pub(super) fn tally(day: NaiveDate, department: &str) -> String {
    format!("{}{day}/{department}", prefix::TALLY)
}

/// The keys from `from`'s first tally up to (not including) the day after `to`.
pub(super) fn tally_range(from: NaiveDate, to: NaiveDate) -> (String, String) {
    let after = to.succ_opt().unwrap_or(to);
    (
        format!("{}{from}/", prefix::TALLY),
        format!("{}{after}/", prefix::TALLY),
    )
}

/// The day and department of a tally key.
pub(super) fn tally_parts(key: &str) -> Option<(NaiveDate, &str)> {
    let (day, department) = key.strip_prefix(prefix::TALLY)?.split_once('/')?;
    Some((day.parse().ok()?, department))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_the_shapes_stores_on_disk_have() {
        assert_eq!(case("BMN-2026-0001"), "case/BMN-2026-0001");
        assert_eq!(handled("bygg/sent", 7, 9), "handled/bygg/sent/7/9");
        assert_eq!(
            handled_department("handled/bygg/sent/7/9"),
            Some("bygg/sent")
        );
        assert_eq!(handled_department("handled/bygg/7/9"), Some("bygg"));
        assert_eq!(
            rate_day("rate/a@b.se/2026-03-04"),
            "2026-03-04".parse().ok()
        );
        assert_eq!(outbox(0, "x@y"), "outbox/0/x@y");
        assert_eq!(open("bygg", "BMN-2026-0001"), "open/bygg/BMN-2026-0001");
        assert_eq!(
            open_parts("open/bygg/BMN-2026-0001"),
            Some(("bygg", "BMN-2026-0001"))
        );
        let t = DateTime::from_timestamp_millis(1_700_000_000_000).unwrap();
        assert_eq!(
            answered(t, "BMN-2026-0001"),
            "answered/00000001700000000000/BMN-2026-0001"
        );
        assert_eq!(
            answered_number(&answered(t, "BMN-2026-0001")),
            Some("BMN-2026-0001")
        );
        assert!(answered(t, "") < answered(t, "A"));
        assert_eq!(ignored(12), "ignored/000000000012");
        assert_eq!(sender("A@B.se"), "loop/a@b.se");
        let at = DateTime::from_timestamp_millis(5).unwrap();
        assert!(due(at, 1) < due_after(at));
        assert!(due_after(at) < due(at + chrono::Duration::milliseconds(1), 0));
    }
}
