//! Fixtures shared by the unit tests: one sample config (as text, parsed, or as its
//! department), one sample case, and an engine over a fresh store in a temporary directory.
//! One copy of each, so that a change to the config's shape or to `Case` is made once and
//! every test module keeps testing against the same department.

use crate::app::engine::Engine;
use crate::config::{Config, Department};
use crate::model::Case;
use crate::store::Store;
use chrono::{DateTime, TimeZone, Utc};
use std::path::Path;

/// The sample department's one officer.
pub(crate) const OLLE: &str = r#"[{ name = "Olle", email = "o1@kommun.test" }]"#;

/// Two officers, so that round-robin assignment has someone to turn to.
pub(crate) const OLLE_AND_ADA: &str =
    r#"[{ name = "Olle", email = "o1@kommun.test" }, { name = "Ada", email = "o2@kommun.test" }]"#;

/// A fault catalogue of one type, as the README writes it: lines for [`Sample::department`].
pub(crate) const GATUBELYSNING: &str = r#"
[[department.fault_type]]
name = "Gatubelysning"
words = ["gatlykta", "gatubelysning", "belysning"]    # matched in subject and body
measure = "Vi byter trasiga lampor och lagar armaturen."
within = "10wd"
responsible = { name = "Gatuenheten", email = "gata@kommun.se" }
"#;

/// Mail servers that are named but never reached: the tests that parse a config or build
/// mails without I/O.
const NAMED_SERVERS: &str = r#"[imap]
host = "h"
[smtp]
host = "h"
from = "Salems kommun <noreply@kommun.test>"
"#;

/// Mail servers on port 1, which refuses every connection, and a calendar that is open all
/// day every day, for the engines of [`Sample::engine`].
const REFUSING_SERVERS: &str = r#"[imap]
host = "127.0.0.1"
port = 1
security = "none"
[smtp]
host = "127.0.0.1"
port = 1
security = "none"
from = "Salems kommun <noreply@kommun.test>"
[calendar]
working_hours = "00:00-24:00"
holidays = "none"
"#;

/// The sample config: one department `bygg` (case prefix BMN, mailbox bygg@kommun.test,
/// manager m@kommun.test) and what a test varies in it.
#[derive(Clone, Copy)]
pub(crate) struct Sample<'a> {
    /// Lines added to `[daemon]`.
    pub(crate) daemon: &'a str,
    /// The department's `officers` array ([`OLLE`] unless given).
    pub(crate) officers: &'a str,
    /// Lines added to the department's table.
    pub(crate) department: &'a str,
}

impl Default for Sample<'_> {
    fn default() -> Self {
        Sample {
            daemon: "",
            officers: OLLE,
            department: "",
        }
    }
}

impl Sample<'_> {
    /// The config file's text, with servers that are never reached and the default calendar.
    pub(crate) fn text(&self) -> String {
        self.render("store = \"s\"", NAMED_SERVERS)
    }

    /// [`Sample::text`], parsed as `k.toml`.
    pub(crate) fn config(&self) -> Config {
        Config::parse(Path::new("k.toml"), &self.text()).unwrap()
    }

    /// The department of [`Sample::config`].
    pub(crate) fn department(&self) -> Department {
        self.config().departments.remove(0)
    }

    /// The config as an engine in `dir` runs on it: the store in `dir/store`, mail for
    /// `kommun.test` internal, the servers refusing, the calendar always open.
    pub(crate) fn served(&self, dir: &Path) -> Config {
        let daemon = "store = \"store\"\ninternal_domains = [\"kommun.test\"]";
        let text = self.render(daemon, REFUSING_SERVERS);
        Config::parse(&dir.join("kvittens.toml"), &text).unwrap()
    }

    /// An engine on a fresh store in `dir` with [`Sample::served`], and that store.
    pub(crate) fn engine(&self, dir: &Path) -> (Engine, Store) {
        let cfg = self.served(dir);
        let templates = crate::mail::check::load_templates(&cfg).unwrap();
        let store = Store::connect(&cfg.store_location).unwrap();
        (Engine::new(cfg, store.clone(), templates), store)
    }

    fn render(&self, daemon: &str, servers: &str) -> String {
        format!(
            r#"[daemon]
{daemon}
{extra}
{servers}
[[department]]
id = "bygg"
name = "Bygg- och miljöförvaltningen"
case_prefix = "BMN"
mailbox = {{ user = "bygg@kommun.test", password = "x" }}
manager = {{ name = "M", email = "m@kommun.test" }}
officers = {officers}
{department}
"#,
            extra = self.daemon,
            officers = self.officers,
            department = self.department,
        )
    }
}

/// A second department, `plan` (manager P, officer Pia; open all day every day), for the
/// tests that move a case: added after the sample department's own lines
/// ([`Sample::department`]).
pub(crate) const PLAN: &str = r#"[[department]]
id = "plan"
name = "Planavdelningen"
case_prefix = "PLAN"
mailbox = { user = "plan@kommun.test", password = "x" }
manager = { name = "P", email = "p@kommun.test" }
officers = [{ name = "Pia", email = "pia@kommun.test" }]
"#;

/// The sample department with officers o1 and o2 and replies due within 3 days, as the
/// served config for `dir` with `daemon` lines added to `[daemon]`.
pub(crate) fn test_config(dir: &Path, daemon: &str) -> Config {
    two_officers(daemon).served(dir)
}

/// An engine on a fresh store in `dir` with [`test_config`], for the tests of what calls
/// into `app`; its mail servers refuse every connection (port 1).
pub(crate) fn test_engine(dir: &Path, daemon: &str) -> Engine {
    two_officers(daemon).engine(dir).0
}

fn two_officers(daemon: &str) -> Sample<'_> {
    Sample {
        daemon,
        officers: OLLE_AND_ADA,
        department: "reply_within = \"3d\"",
    }
}

/// An open question case `number` of department `bygg` with the message ids `ids`, received
/// and due now.
pub(crate) fn case(number: &str, ids: &[&str]) -> Case {
    Case::sample(number, ids, Utc::now())
}

/// A Stockholm wall-clock time written `YYYY-MM-DD HH:MM`, as a test would write it.
pub(crate) fn se(text: &str) -> DateTime<Utc> {
    let naive = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap();
    chrono_tz::Europe::Stockholm
        .from_local_datetime(&naive)
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

/// Where `text` cites a section the English way, "§ 12" (or "§12"), which Swedish writes
/// "12 §" (förvaltningslagen 12 §): the text around the first such citation, if any.
pub(crate) fn section_sign_first(text: &str) -> Option<String> {
    text.match_indices('§').find_map(|(i, _)| {
        let after = text[i + '§'.len_utf8()..].trim_start_matches(' ');
        after.starts_with(|c: char| c.is_ascii_digit()).then(|| {
            let from = text[..i].char_indices().rev().nth(20).map_or(0, |(j, _)| j);
            let to = text[i..]
                .char_indices()
                .nth(20)
                .map_or(text.len(), |(j, _)| i + j);
            text[from..to].to_string()
        })
    })
}
