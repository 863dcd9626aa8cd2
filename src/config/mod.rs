//! The configuration file: read, checked and turned into typed values once, at start-up. Every
//! mistake is reported with the file, the line, the key and what is wrong, so an operator can
//! fix it without reading code.

use crate::model::calendar::Calendar;
use crate::model::span::Span;
use crate::model::{Category, Contact, Officer};
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod checker;
mod checks;
mod clients;
mod department;
mod fault;
mod locate;
pub mod oauth2;
mod raw;
mod report;
mod secrets;
mod store;
pub mod web;

pub use fault::FaultType;
pub use locate::Position;
pub use report::{ReportEvery, ReportPlan};
pub use secrets::Secret;
pub use store::{is_postgres_url, PgLocation, StoreLocation, SSL_MODES};

/// A configuration mistake: which file, where in it, which key, what is wrong. Shown as
/// `kvittens.toml:33: key `daemon.loop_hold`: what` (file:line, as compilers write it).
#[derive(Debug, Clone)]
pub struct ConfigError {
    /// The config file.
    pub file: PathBuf,
    /// Where the key is written (a missing key: its table's header); `None` when the file
    /// could not be read, or the key is not in the file (a secret's variable, say).
    pub at: Option<Position>,
    /// The key, as a path: `department[0].officers[1].email`; empty when the whole file is bad.
    pub key: String,
    /// What is wrong, and where useful how to fix it.
    pub message: String,
    /// The cause, when another error is behind the mistake (the file or a secret could not be
    /// read); its words are in `message` already, so the display does not repeat it.
    pub source: Option<std::sync::Arc<dyn std::error::Error + Send + Sync>>,
}

/// Two mistakes are the same when they say the same of the same key; the cause is not compared
/// (an I/O error has no equality).
impl PartialEq for ConfigError {
    fn eq(&self, other: &Self) -> bool {
        (&self.file, self.at, &self.key, &self.message)
            == (&other.file, other.at, &other.key, &other.message)
    }
}

impl Eq for ConfigError {}

impl ConfigError {
    /// A mistake in `key` of `file`, not yet placed: [`Config::parse`] finds the line of every
    /// error from its key, so the checks need not.
    pub(crate) fn new(file: &Path, key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            at: None,
            key: key.into(),
            message: message.into(),
            source: None,
        }
    }

    /// The same mistake with its cause kept.
    pub(crate) fn caused_by(self, e: impl std::error::Error + Send + Sync + 'static) -> Self {
        ConfigError {
            source: Some(std::sync::Arc::new(e)),
            ..self
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(at) = self.at {
            write!(f, ":{}", at.line)?;
        }
        if !self.key.is_empty() {
            write!(f, ": key `{}`", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// How a connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// Plain text; only for loopback test setups or when configured on purpose.
    None,
    /// Plain connect, then STARTTLS (certificate verified).
    StartTls,
    /// TLS from the first byte (certificate verified).
    Tls,
}

/// A server to connect to.
#[derive(Clone, Debug, PartialEq)]
pub struct Server {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Transport security.
    pub security: Security,
    /// Extra CA certificates (PEM) to trust, for a municipality's own CA.
    pub ca_file: Option<PathBuf>,
}

/// One department and its mailbox.
#[derive(Clone, Debug)]
pub struct Department {
    /// Short stable id, used in the store and on the command line.
    pub id: String,
    /// The name residents see.
    pub name: String,
    /// Case number prefix, e.g. `BMN`.
    pub case_prefix: String,
    /// The department mailbox address (also the IMAP login unless `login` says otherwise).
    pub email: String,
    /// The IMAP login name.
    pub login: String,
    /// The IMAP password (empty when `auth` is OAuth2).
    pub password: Secret,
    /// How the mailbox is logged in to (`auth`, from the mailbox or `[imap]`).
    pub auth: crate::config::oauth2::Auth,
    /// Where the mailbox is.
    pub imap: Server,
    /// The folder residents' mail arrives in.
    pub folder: String,
    /// The manager (förvaltningschef or enhetschef).
    pub manager: Contact,
    /// The case officers, in round-robin order.
    pub officers: Vec<Officer>,
    /// Reply deadline: the default for every category that names none of its own.
    pub reply_within: Span,
    /// Reply deadline per category (`categories.<name>.reply_within`), where it differs from
    /// `reply_within`: a complaint's is the manager's contact, a week unless set (the
    /// service policy). See [`Department::reply_within_for`].
    pub category_reply_within: HashMap<Category, Span>,
    /// Expected decision time per category.
    pub decide_within: HashMap<Category, Span>,
    /// Category when neither the subject nor the body's first lines name one.
    pub default_category: Category,
    /// The words that name each category (`categories.<name>.words`; built-in Swedish and
    /// English words otherwise).
    pub category_words: crate::model::CategoryWords,
    /// Working days and hours.
    pub calendar: Calendar,
    /// A phone number for the receipt, if the department has one.
    pub phone: Option<String>,
    /// A web page for the receipt.
    pub web: Option<String>,
    /// The Sent folder to watch for answers; `None` finds it by SPECIAL-USE `\Sent`.
    pub sent_folder: Option<String>,
    /// When reminders, escalations and digests go out.
    pub follow_up: FollowUp,
    /// The language of mail to staff.
    pub staff_language: crate::model::Language,
    /// Whether mail to residents is copied to the department mailbox (see `Outgoing::copy`).
    pub copies: bool,
    /// The fault catalogue (`[[department.fault_type]]`), in the order written: the first type
    /// whose words a fault report has is its type.
    pub fault_types: Vec<FaultType>,
    /// The department's own template folder (`templates`): each file there replaces the
    /// global folder's (`[daemon] templates`) or the built-in text of that name, for this
    /// department's mail only.
    pub templates: Option<PathBuf>,
    /// The department's own report to its nämnd by mail (`report_to`, `report_every`).
    pub report: Option<ReportPlan>,
}

/// When staff are reminded and managers told.
#[derive(Clone, Debug, PartialEq)]
pub struct FollowUp {
    /// How long before the reply deadline the officer is reminded; `None` means the morning of
    /// the working day the case falls due.
    pub remind_before: Option<Span>,
    /// The second escalation level (e.g. the head of administration), if any.
    pub escalate_to: Option<Contact>,
    /// How long after the deadline the second level is told.
    pub escalate_again_after: Span,
    /// When the manager's daily digest goes out (local time, working days only); `None` for
    /// no digest.
    pub digest_at: Option<chrono::NaiveTime>,
}

impl Department {
    /// The reply deadline of a case of `category`: its own (`categories.<name>.reply_within`),
    /// else the department's `reply_within`.
    pub fn reply_within_for(&self, category: Category) -> Span {
        self.category_reply_within
            .get(&category)
            .copied()
            .unwrap_or(self.reply_within)
    }

    /// The officer with this address.
    pub fn officer(&self, email: &str) -> Option<&Officer> {
        self.officers
            .iter()
            .find(|o| o.contact.email.eq_ignore_ascii_case(email))
    }

    /// The officer, manager or `escalate_to` with this address: who may stand in for someone
    /// of this department (an officer for an officer; for the manager also the level above).
    pub fn colleague(&self, email: &str) -> Option<Contact> {
        let found = |c: &&Contact| c.email.eq_ignore_ascii_case(email);
        self.officer(email)
            .map(|o| o.contact.clone())
            .or_else(|| std::iter::once(&self.manager).find(found).cloned())
            .or_else(|| self.follow_up.escalate_to.iter().find(found).cloned())
    }
}

/// SMTP submission settings.
#[derive(Clone, Debug)]
pub struct Smtp {
    /// Where to submit.
    pub server: Server,
    /// Login, when the server wants one (with an empty password when `auth` is OAuth2).
    pub login: Option<(String, Secret)>,
    /// How the login is made (`[smtp] auth`).
    pub auth: crate::config::oauth2::Auth,
    /// The From header of everything kvittens sends.
    pub from: lettre::message::Mailbox,
    /// The sending account's limits (`max_per_minute`, `max_per_day`): the provider's, so that
    /// the outbox waits instead of the provider refusing mail.
    pub limits: crate::model::limits::Limits,
}

/// The default of `[imap] logins_per_second`: measured, 1 000 department mailboxes (2 000
/// sessions with their Sent folders) are watched within 10 s at this rate on a 2-core machine
/// running Dovecot and kvittens together (README, *Sizing*).
pub const DEFAULT_LOGINS_PER_SECOND: u32 = 200;

/// The most `[imap] logins_per_second` may be: beyond it the cap caps nothing a real server
/// could take.
pub const MAX_LOGINS_PER_SECOND: u32 = 10_000;

/// The default of `[daemon] lease_seconds`: with several instances on one database, a killed
/// instance's mailboxes, sender and scheduler are taken over within this plus a third of it
/// (20 s), inside the 30 s promised.
pub const DEFAULT_LEASE_SECONDS: u32 = 15;

/// The longest `[daemon] lease_seconds`: a lease and a third of it must stay within 30 s.
pub const MAX_LEASE_SECONDS: u32 = 22;

/// The whole, checked configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The file it was read from.
    pub file: PathBuf,
    /// The local state directory: sled's store itself, or with a PostgreSQL store
    /// `state_dir` (the control socket lives here either way).
    pub store: PathBuf,
    /// Where the store is: open it with `crate::store::connect`.
    pub store_location: StoreLocation,
    /// Colleagues' domains.
    pub internal_domains: Vec<String>,
    /// Templates directory; `None` uses the templates built into the binary.
    pub templates: Option<PathBuf>,
    /// On the first start on a mailbox, how far back to acknowledge mail already there.
    pub backfill: Duration,
    /// How often to look for mail when the server has no IDLE.
    pub poll_interval: Duration,
    /// How long one IDLE may last before it is renewed.
    pub idle_renew: Duration,
    /// `[imap] logins_per_second`: at most this many IMAP logins a second across every
    /// mailbox, at start and at every reconnect (see `net::imap::LoginGate`). Fixed at start.
    pub imap_logins_per_second: u32,
    /// `[daemon] lease_seconds`: how long a lease (a watched folder, the sender, the
    /// scheduler) is taken for when several instances share a PostgreSQL store; renewed every
    /// third of it. Fixed at start.
    pub lease_seconds: u32,
    /// Where `/metrics` and `/healthz` are served; `None` for nowhere.
    pub listen: Option<std::net::SocketAddr>,
    /// Whose `Authentication-Results` headers count (empty: all).
    pub trusted_authserv_ids: Vec<String>,
    /// At most this many receipts to one address a day; more mail still opens or joins cases.
    pub receipts_per_sender_per_day: u64,
    /// How long answered and closed cases are kept; `None` keeps them.
    pub retention: Option<Span>,
    /// How long a mail whose sending a crash interrupted waits for its copy in the department
    /// mailbox before it is sent again.
    pub unconfirmed_wait: Duration,
    /// When a sender that keeps answering receipts with new threads is held as a machine.
    pub loop_rule: crate::model::limits::LoopRule,
    /// When officer notices are gathered into one mail per officer (a burst of new cases).
    pub notice_burst: crate::model::limits::NoticeBurst,
    /// Warnings about the config that do not stop kvittens (logged at start).
    pub warnings: Vec<String>,
    /// SMTP settings.
    pub smtp: Smtp,
    /// The `[oauth2.NAME]` clients, by NAME.
    pub oauth2: std::collections::BTreeMap<String, std::sync::Arc<crate::config::oauth2::Client>>,
    /// The departments.
    pub departments: Vec<Department>,
    /// `[web]`: the page for managers, officers and registrars, and the links to it in staff
    /// mails.
    pub web: web::Web,
    /// The whole municipality's report by mail (`[report]`: every department and the total).
    pub report: Option<ReportPlan>,
    /// The text it was read from, to place mistakes found later at their key's line.
    text: std::sync::Arc<str>,
    /// [`Config::staff_addresses`], gathered once when the file is read (every message asks).
    staff: Vec<String>,
}

impl Config {
    /// The department with this id.
    pub fn department(&self, id: &str) -> Option<&Department> {
        self.departments.iter().find(|d| d.id == id)
    }

    /// The department a person named in a command or a form (`bygg`, ` Bygg `), ignoring case
    /// and spaces around it; else the one refusal every command gives: the file and the
    /// departments there are, with their names, so the next try is right.
    ///
    /// # Errors
    /// The refusal's text: `no department "byg" in /etc/kvittens/kvittens.toml; the
    /// departments are: bygg (Bygglov), skola (Skola)`.
    pub fn find_department(&self, named: &str) -> Result<&Department, String> {
        let named = named.trim();
        self.department(named)
            .or_else(|| {
                self.departments
                    .iter()
                    .find(|d| d.id.eq_ignore_ascii_case(named))
            })
            .ok_or_else(|| {
                let known: Vec<String> = self
                    .departments
                    .iter()
                    .map(|d| format!("{} ({})", d.id, d.name))
                    .collect();
                format!(
                    "no department {named:?} in {}; the departments are: {}",
                    self.file.display(),
                    known.join(", ")
                )
            })
    }

    /// The municipality's own addresses the config names, lower-case, sorted: kvittens'
    /// sending address, every department mailbox, officer, planned substitute, manager and
    /// `escalate_to`. No receipt goes to them (see [`crate::rules::decide::unfit_for_receipt`]), also
    /// when their domain is not in `internal_domains`.
    pub fn staff_addresses(&self) -> &[String] {
        &self.staff
    }

    /// Gathers [`Config::staff_addresses`] from the rest of the config.
    fn gather_staff(&self) -> Vec<String> {
        let mut all = vec![self.smtp.from.email.to_string()];
        for d in &self.departments {
            all.push(d.email.clone());
            all.push(d.manager.email.clone());
            all.extend(d.follow_up.escalate_to.iter().map(|c| c.email.clone()));
            all.extend(d.fault_types.iter().map(|t| t.responsible.email.clone()));
            for o in &d.officers {
                all.push(o.contact.email.clone());
                all.extend(o.absent.iter().map(|a| a.substitute.clone()));
            }
        }
        for a in &mut all {
            a.make_ascii_lowercase();
        }
        all.sort();
        all.dedup();
        all
    }

    /// The domain of Message-IDs kvittens mints: the domain of the From address.
    pub fn id_domain(&self) -> &str {
        self.smtp.from.email.domain()
    }

    /// `e`, a mistake found after loading (a secret that cannot be read), at the line of its
    /// key in the text this config was read from, unless it has a place already.
    pub fn place(&self, mut e: ConfigError) -> ConfigError {
        if e.at.is_none() && !e.key.is_empty() {
            e.at = locate::Locator::new(&self.text)
                .ok()
                .map(|l| l.find(&e.key));
        }
        e
    }

    /// Reads and checks the file at `path`.
    ///
    /// # Errors
    /// A [`ConfigError`] when the file cannot be read or any check fails, at the line of its key.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(path, "", format!("cannot read the file: {e}")).caused_by(e)
        })?;
        Config::parse(path, &text)
    }

    /// Checks `text` as if read from `path` (relative paths in it are taken from `path`'s folder).
    ///
    /// # Errors
    /// A [`ConfigError`] for the first mistake, with file:line and key.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        checks::read(path, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[daemon]
store = "var/kvittens"
timezone = "Europe/Stockholm"
internal_domains = ["kommun.test"]

[imap]
host = "127.0.0.1"
port = 1143
security = "none"

[smtp]
host = "127.0.0.1"
port = 2525
security = "none"
from = "Salems kommun <noreply@kommun.test>"

[[department]]
id = "bygg"
name = "Bygg- och miljöförvaltningen"
case_prefix = "BMN"
mailbox = { user = "bygg@kommun.test", password = "secret" }
manager = { name = "Maria Chef", email = "manager@kommun.test" }
officers = [
  { name = "Olle Handläggare", email = "officer1@kommun.test" },
  { name = "Lisa Handläggare", email = "officer2@kommun.test", absent = [{ from = "2026-12-21", to = "2027-01-06", substitute = "officer1@kommun.test" }] },
]
reply_within = "3d"
decide_within = "3d"
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/kvittens/kvittens.toml"), text)
    }

    #[test]
    fn the_documented_shape_works() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.store, PathBuf::from("/etc/kvittens/var/kvittens"));
        let d = &c.departments[0];
        assert_eq!(d.email, "bygg@kommun.test");
        assert_eq!(d.imap.port, 1143);
        assert_eq!(d.imap.security, Security::None);
        assert_eq!(d.officers[1].absent[0].substitute, "officer1@kommun.test");
        assert_eq!(
            d.decide_within[&Category::Question],
            Span::Calendar(3 * 86_400)
        );
        assert_eq!(
            d.decide_within[&Category::Complaint],
            Span::Calendar(7 * 86_400)
        );
        assert_eq!(c.id_domain(), "kommun.test");
        assert_eq!(format!("{:?}", d.password), "Secret(***)");
        assert!(d.copies, "receipts are copied to the department by default");
        assert_eq!(c.unconfirmed_wait, Duration::from_secs(600));
        assert_eq!(c.imap_logins_per_second, DEFAULT_LOGINS_PER_SECOND);
        assert_eq!(c.lease_seconds, DEFAULT_LEASE_SECONDS);
        let capped = GOOD.replace("port = 1143", "port = 1143\nlogins_per_second = 20");
        assert_eq!(parse(&capped).unwrap().imap_logins_per_second, 20);
        assert_eq!(c.loop_rule, crate::model::limits::LoopRule::default());
        let burst = crate::model::limits::NoticeBurst::default();
        assert_eq!(
            (c.notice_burst.cases, c.notice_burst.within.num_seconds()),
            (10, 300)
        );
        assert_eq!(c.notice_burst, burst);
        let set = GOOD.replace(
            "[daemon]\n",
            "[daemon]\nnotice_burst = { cases = 3, within = \"2m\" }\n",
        );
        let set = parse(&set).unwrap().notice_burst;
        assert_eq!((set.cases, set.within.num_seconds()), (3, 120));
        assert!(!c.smtp.limits.any(), "no send limit unless configured");
        let limited = GOOD.replace(
            "from = \"Salems kommun <noreply@kommun.test>\"",
            "from = \"Salems kommun <noreply@kommun.test>\"\nmax_per_minute = 30\nmax_per_day = 10000",
        );
        let l = parse(&limited).unwrap().smtp.limits;
        assert_eq!((l.per_minute, l.per_day), (Some(30), Some(10_000)));
        let c = parse(&GOOD.replace(
            "decide_within = \"3d\"\n",
            "decide_within = \"3d\"\ncopies = false\n",
        ))
        .unwrap();
        assert!(!c.departments[0].copies);
        let short = GOOD.replace("[daemon]\n", "[daemon]\nunconfirmed_wait = \"30s\"\n");
        let c = parse(&short).unwrap();
        assert!(
            c.warnings.iter().any(|w| w.contains("unconfirmed_wait")),
            "{:?}",
            c.warnings
        );
    }

    fn error_for(from: &str, to: &str) -> ConfigError {
        let text = GOOD.replacen(from, to, 1);
        assert_ne!(text, GOOD, "test did not change the config");
        parse(&text).unwrap_err()
    }

    #[test]
    fn mistakes_name_the_file_and_key() {
        let cases = [
            (
                "reply_within = \"3d\"",
                "reply_within = \"3x\"",
                "department[0].reply_within",
                "unknown unit",
            ),
            (
                "port = 1143",
                "port = \"many\"",
                "imap.port",
                "invalid type",
            ),
            (
                "internal_domains",
                "unconfirmed_wait = \"1wd\"\ninternal_domains",
                "daemon.unconfirmed_wait",
                "elapsed time",
            ),
            (
                "internal_domains",
                "unconfirmed_wait = \"0s\"\ninternal_domains",
                "daemon.unconfirmed_wait",
                "at least 1s",
            ),
            (
                "internal_domains",
                "loop_answers = 1\ninternal_domains",
                "daemon.loop_answers",
                "at least 2",
            ),
            (
                "internal_domains",
                "loop_window = \"2h\"\ninternal_domains",
                "daemon.loop_window",
                "between 1s and 1h",
            ),
            (
                "internal_domains",
                "loop_hold = \"2wd\"\ninternal_domains",
                "daemon.loop_hold",
                "elapsed time",
            ),
            (
                "decide_within = \"3d\"\n",
                "decide_within = \"3d\"\ncopies = \"yes\"\n",
                "department[0].copies",
                "invalid type",
            ),
            (
                "security = \"none\"",
                "security = \"ssl\"",
                "imap.security",
                "not a security mode",
            ),
            (
                "timezone = \"Europe/Stockholm\"",
                "timezone = \"Mars/Olympus\"",
                "daemon.timezone",
                "not a time zone",
            ),
            (
                "case_prefix = \"BMN\"",
                "case_prefix = \"bmn\"",
                "department[0].case_prefix",
                "upper-case",
            ),
            (
                "email = \"manager@kommun.test\"",
                "email = \"manager\"",
                "department[0].manager.email",
                "not a mail address",
            ),
            (
                "substitute = \"officer1@kommun.test\"",
                "substitute = \"nobody@kommun.test\"",
                "department[0].officers[1].absent[0].substitute",
                "not an officer",
            ),
            (
                "to = \"2027-01-06\"",
                "to = \"2026-01-06\"",
                "department[0].officers[1].absent[0].to",
                "before",
            ),
            (
                "password = \"secret\"",
                "pasword = \"secret\"",
                "department[0].mailbox",
                "unknown field",
            ),
            (
                "from = \"Salems kommun <noreply@kommun.test>\"",
                "from = \"Salems kommun\"",
                "smtp.from",
                "not a mail address",
            ),
            (
                "from = \"Salems kommun <noreply@kommun.test>\"",
                "from = \"Salems kommun <noreply@kommun.test>\"\nmax_per_minute = 0",
                "smtp.max_per_minute",
                "would send nothing",
            ),
            (
                "from = \"Salems kommun <noreply@kommun.test>\"",
                "from = \"Salems kommun <noreply@kommun.test>\"\nmax_per_day = -1",
                "smtp.max_per_day",
                "invalid value",
            ),
        ];
        for (from, to, key, words) in cases {
            let e = error_for(from, to);
            assert_eq!(e.file, PathBuf::from("/etc/kvittens/kvittens.toml"));
            assert_eq!(e.key, key, "{e}");
            assert!(e.message.contains(words), "{e}");
            assert!(!e.to_string().contains("secret"), "{e}");
        }
    }

    const OAUTH2: &str = r#"
[oauth2.entra]
provider = "microsoft"
tenant = "kommun.onmicrosoft.com"
client_id = "11111111-2222-3333-4444-555555555555"
client_secret_file = "entra.secret"

[oauth2.gws]
provider = "google"
service_account_file = "sa.json"
"#;

    fn with_oauth2(text: &str) -> String {
        format!(
            "{}{OAUTH2}",
            text.replace("port = 1143\n", "port = 1143\nauth = \"oauth2:entra\"\n")
                .replace("password = \"secret\" }", "auth = \"oauth2:gws\" }")
                .replace("security = \"none\"\nfrom", "security = \"none\"\nauth = \"oauth2:entra\"\nuser = \"noreply@kommun.test\"\nfrom")
        )
    }

    #[test]
    fn oauth2_clients_and_auth() {
        use crate::config::oauth2::{Auth, Provider};
        // The secret file need not exist yet: secrets are read when a token is fetched.
        let c = parse(&with_oauth2(GOOD)).unwrap();
        let entra = &c.oauth2["entra"];
        assert_eq!(entra.provider, Provider::Microsoft);
        assert_eq!(
            entra.token_url.as_deref(),
            Some("https://login.microsoftonline.com/kommun.onmicrosoft.com/oauth2/v2.0/token")
        );
        assert_eq!(entra.scope, "https://outlook.office365.com/.default");
        assert_eq!(
            entra.secret,
            Some(crate::config::oauth2::SecretSource::File(PathBuf::from(
                "/etc/kvittens/entra.secret"
            )))
        );
        assert_eq!(c.oauth2["gws"].scope, "https://mail.google.com/");
        assert_eq!(c.oauth2["gws"].token_url, None);
        assert!(matches!(&c.departments[0].auth, Auth::OAuth2(x) if x.name == "gws"));
        assert!(matches!(&c.smtp.auth, Auth::OAuth2(x) if x.name == "entra"));
        assert_eq!(c.smtp.login.as_ref().unwrap().0, "noreply@kommun.test");
        // [imap] auth is the default of every mailbox.
        let text = with_oauth2(GOOD).replace(", auth = \"oauth2:gws\" }", " }");
        let c = parse(&text).unwrap();
        assert!(matches!(&c.departments[0].auth, Auth::OAuth2(x) if x.name == "entra"));
        let c = parse(GOOD).unwrap();
        assert_eq!(c.departments[0].auth, Auth::Password);
        assert_eq!(c.smtp.auth, Auth::Password);
    }

    #[test]
    fn oauth2_mistakes_name_the_file_and_key() {
        let good = with_oauth2(GOOD);
        let cases = [
            (
                "auth = \"oauth2:gws\"",
                "auth = \"oauth2:gmail\"",
                "department[0].mailbox.auth",
                "no [oauth2.gmail] client; configured: entra, gws",
            ),
            (
                "auth = \"oauth2:gws\"",
                "auth = \"token\"",
                "department[0].mailbox.auth",
                "\"oauth2:NAME\"",
            ),
            (
                "auth = \"oauth2:gws\"",
                "auth = \"oauth2:gws\", password = \"x\"",
                "department[0].mailbox",
                "remove the password",
            ),
            (
                "provider = \"microsoft\"",
                "provider = \"azure\"",
                "oauth2.entra.provider",
                "\"microsoft\", \"google\" or \"generic\"",
            ),
            (
                "client_id = \"11111111-2222-3333-4444-555555555555\"\n",
                "",
                "oauth2.entra.client_id",
                "missing",
            ),
            (
                "tenant = \"kommun.onmicrosoft.com\"\n",
                "",
                "oauth2.entra.tenant",
                "needs the tenant",
            ),
            (
                "client_secret_file = \"entra.secret\"",
                "client_secret_fil = \"x\"",
                "oauth2.entra.client_secret_fil",
                "unknown field",
            ),
            (
                "client_secret_file = \"entra.secret\"",
                "client_secret_env = \"A\"\nclient_secret = \"b\"",
                "oauth2.entra",
                "only one of",
            ),
            (
                "client_secret_file = \"entra.secret\"\n",
                "",
                "oauth2.entra",
                "no client secret",
            ),
            (
                "service_account_file = \"sa.json\"",
                "client_secret = \"x\"",
                "oauth2.gws.service_account_file",
                "JSON key",
            ),
            (
                "tenant = \"kommun.onmicrosoft.com\"",
                "token_url = \"http://login.example/token\"",
                "oauth2.entra.token_url",
                "https://",
            ),
            (
                "provider = \"microsoft\"\ntenant = \"kommun.onmicrosoft.com\"",
                "provider = \"generic\"",
                "oauth2.entra.token_url",
                "generic needs",
            ),
            (
                "user = \"noreply@kommun.test\"\n",
                "",
                "smtp.user",
                "OAuth2 needs the mailbox to send as",
            ),
        ];
        for (from, to, key, words) in cases {
            let text = good.replacen(from, to, 1);
            assert_ne!(text, good, "test did not change the config: {from}");
            let e = parse(&text).unwrap_err();
            assert_eq!(e.key, key, "{e}");
            assert!(e.message.contains(words), "{e}");
            assert!(e.to_string().contains("kvittens.toml"), "{e}");
        }
    }

    /// The line (1-based) of the first line of `text` that contains `needle`.
    fn line_of(text: &str, needle: &str) -> usize {
        let found = text.lines().position(|l| l.contains(needle));
        found.unwrap_or_else(|| panic!("{needle:?} not in the config")) + 1
    }

    /// Every family of checks (serde's, the daemon's durations and bounds, departments,
    /// officers, categories, SMTP, OAuth2, a required key left out) names file, line and key.
    #[test]
    fn every_mistake_names_its_line() {
        let daemon = |line: &str| {
            (
                GOOD,
                "internal_domains",
                format!("{line}\ninternal_domains"),
            )
        };
        let dept = |line: &str| {
            (
                GOOD,
                "decide_within = \"3d\"\n",
                format!("decide_within = \"3d\"\n{line}\n"),
            )
        };
        let replace = |from: &'static str, to: &str| (GOOD, from, to.to_string());
        let oauth2 = with_oauth2(GOOD);
        let o = |from: &'static str, to: &str| (oauth2.as_str(), from, to.to_string());
        // (config, replace this, by this), the line's text, the key, words of the message.
        let cases = [
            (daemon("loop_hold = \"0s\""), "loop_hold", "daemon.loop_hold", "between 1m and 30d"),
            (daemon("loop_window = \"3wd\""), "loop_window", "daemon.loop_window", "elapsed time"),
            (daemon("loop_answers = 100000"), "loop_answers", "daemon.loop_answers", "at most 100"),
            (daemon("notice_burst = { cases = 3, within = \"1s\" }"), "notice_burst", "daemon.notice_burst.within", "between 10s and 1h"),
            (daemon("notice_burst = { cases = 20000 }"), "notice_burst", "daemon.notice_burst.cases", "at most 10000"),
            (daemon("idle_renew = \"1h\""), "idle_renew", "daemon.idle_renew", "at most 29m"),
            (daemon("listen = \"everywhere\""), "listen", "daemon.listen", "not an address"),
            (daemon("backfill = \"2wd\""), "backfill", "daemon.backfill", "elapsed time"),
            (replace("timezone = \"Europe/Stockholm\"", "timezone = \"Mars/Olympus\""), "timezone", "daemon.timezone", "not a time zone"),
            (replace("port = 1143", "port = \"many\""), "port = \"many\"", "imap.port", "invalid type"),
            (daemon("lease_seconds = 60"), "lease_seconds", "daemon.lease_seconds", "from 3 to 22"),
            (daemon("lease_seconds = 1"), "lease_seconds", "daemon.lease_seconds", "out of range"),
            (replace("port = 1143", "port = 1143\nlogins_per_second = 0"), "logins_per_second", "imap.logins_per_second", "from 1 to 10000"),
            (replace("port = 1143", "port = 1143\nlogins_per_second = 20000"), "logins_per_second", "imap.logins_per_second", "out of range"),
            (replace("security = \"none\"", "security = \"ssl\""), "\"ssl\"", "imap.security", "not a security mode"),
            (replace("from = \"Salems kommun <noreply@kommun.test>\"", "from = \"Salems kommun\""), "from =", "smtp.from", "not a mail address"),
            (replace("from = \"Salems kommun <noreply@kommun.test>\"", "from = \"S <n@kommun.test>\"\nmax_per_minute = 0"), "max_per_minute", "smtp.max_per_minute", "would send nothing"),
            (replace("[smtp]\nhost = \"127.0.0.1\"\n", "[smtp]\n"), "[smtp]", "smtp", "missing field `host`"),
            (replace("case_prefix = \"BMN\"", "case_prefix = \"bmn\""), "case_prefix", "department[0].case_prefix", "upper-case"),
            (replace("id = \"bygg\"", "id = \"Bygg\""), "id =", "department[0].id", "lower-case"),
            (replace("reply_within = \"3d\"", "reply_within = \"3x\""), "reply_within", "department[0].reply_within", "unknown unit"),
            (replace("password = \"secret\"", "pasword = \"secret\""), "mailbox =", "department[0].mailbox", "unknown field"),
            (replace("password = \"secret\"", "password = \"a\", password_env = \"B\""), "mailbox =", "department[0].mailbox", "only one of"),
            (replace("email = \"manager@kommun.test\"", "email = \"manager\""), "manager =", "department[0].manager.email", "not a mail address"),
            (replace("{ name = \"Olle Handläggare\", email = \"officer1@kommun.test\" },", "{ name = \"Olle\", email = \"olle\" },"), "\"olle\"", "department[0].officers[0].email", "not a mail address"),
            (replace("substitute = \"officer1@kommun.test\"", "substitute = \"nobody@kommun.test\""), "nobody", "department[0].officers[1].absent[0].substitute", "not an officer"),
            (replace("to = \"2027-01-06\"", "to = \"2026-01-06\""), "2026-01-06", "department[0].officers[1].absent[0].to", "before"),
            (replace("substitute = \"officer1@kommun.test\" }]", "substitute = \"officer1@kommun.test\" }, { from = \"2027-01-06\", to = \"2027-01-08\", substitute = \"officer1@kommun.test\" }]"), "officer2@", "department[0].officers[1].absent[1]", "overlaps the absence 2026-12-21 – 2027-01-06 (standing in: officer1@kommun.test)"),
            (dept("category = \"grievance\""), "category =", "department[0].category", "not a category"),
            (dept("categories = { aplication = { decide_within = \"5d\" } }"), "aplication", "department[0].categories.aplication", "not a category"),
            (dept("categories.complaint.words = [\"\"]"), "words", "department[0].categories.complaint.words[0]", "empty word"),
            (dept("categories.complaint.words = []"), "words", "department[0].categories.complaint.words", "no words"),
            (dept("digest_at = \"7.30\""), "digest_at", "department[0].digest_at", "not a time of day"),
            (dept("working_hours = \"8-17\""), "working_hours", "department[0].working_hours", ""),
            (dept("staff_language = \"de\""), "staff_language", "department[0].staff_language", "\"sv\" or \"en\""),
            (replace("officers = [\n  { name = \"Olle Handläggare\", email = \"officer1@kommun.test\" },\n  { name = \"Lisa Handläggare\", email = \"officer2@kommun.test\", absent = [{ from = \"2026-12-21\", to = \"2027-01-06\", substitute = \"officer1@kommun.test\" }] },\n]", "officers = []"), "officers", "department[0].officers", "at least one officer"),
            (o("provider = \"microsoft\"", "provider = \"yahoo\""), "yahoo", "oauth2.entra.provider", "\"microsoft\", \"google\" or \"generic\""),
            (o("tenant = \"kommun.onmicrosoft.com\"", "token_url = \"http://10.1.1.1/t\""), "token_url", "oauth2.entra.token_url", "https://"),
            (o("tenant = \"kommun.onmicrosoft.com\"\n", ""), "[oauth2.entra]", "oauth2.entra.tenant", "needs the tenant"),
            (o("client_secret_file = \"entra.secret\"", "client_secret_env = \"A\"\nclient_secret = \"b\""), "[oauth2.entra]", "oauth2.entra", "only one of"),
            (o("auth = \"oauth2:gws\"", "auth = \"oauth2:nope\""), "oauth2:nope", "department[0].mailbox.auth", "no [oauth2.nope] client"),
            (o("port = 1143\nauth = \"oauth2:entra\"", "port = 1143\nauth = \"oauth2\""), "auth = \"oauth2\"", "imap.auth", "\"oauth2:NAME\""),
            (o("user = \"noreply@kommun.test\"\n", ""), "[smtp]", "smtp.user", "OAuth2 needs the mailbox"),
        ];
        for ((good, from, to), needle, key, words) in cases {
            let text = good.replacen(from, &to, 1);
            assert_ne!(text, good, "test did not change the config: {from}");
            let Err(e) = parse(&text) else {
                panic!("accepted: {to}")
            };
            assert_eq!(e.file, PathBuf::from("/etc/kvittens/kvittens.toml"), "{e}");
            assert_eq!(e.key, key, "{e}");
            assert!(e.message.contains(words), "{e}");
            let line = line_of(&text, needle);
            assert_eq!(e.at.map(|a| a.line), Some(line), "{e}");
            let prefix = format!("/etc/kvittens/kvittens.toml:{line}: key `{key}`: ");
            assert!(e.to_string().starts_with(&prefix), "{e}");
        }
    }

    #[test]
    fn no_department_points_at_the_end_of_the_file() {
        let text = GOOD.split("[[department]]").next().unwrap();
        let e = parse(text).unwrap_err();
        assert_eq!(e.key, "department");
        assert_eq!(e.at.map(|a| a.line), Some(text.trim_end().lines().count()));
    }

    #[test]
    fn the_column_is_where_the_key_starts() {
        let text = GOOD.replace("email = \"manager@kommun.test\"", "email = \"manager\"");
        let e = parse(&text).unwrap_err();
        let line = text.lines().nth(e.at.unwrap().line - 1).unwrap();
        let column = line.find("email").unwrap() + 1;
        assert_eq!(e.at.unwrap().column, column, "{line}");
    }

    /// A file that is not TOML: the parser's line, the key being read, and what to do.
    #[test]
    fn a_file_that_is_not_toml_names_line_key_and_fix() {
        let cases = [
            (
                "name = \"Bygg- och miljöförvaltningen\"",
                "name = \"Bygg- och miljöförvaltningen",
                "name = ",
                "department[0].name",
                "a string is not closed: add the closing \"",
            ),
            (
                "store = \"var/kvittens\"",
                "store = 'var/kvittens",
                "store",
                "daemon.store",
                "a string is not closed: add the closing '",
            ),
            (
                "[daemon]",
                "[daemon",
                "[daemon",
                "",
                "a table header is not closed",
            ),
            (
                "password = \"secret\" }",
                "password = \"secret\"\n}",
                "mailbox =",
                "department[0].mailbox",
                "inline table",
            ),
            (
                "case_prefix = \"BMN\"",
                "case_prefix = \"BMN\"\nid = \"x\"",
                "id = \"x\"",
                "department[0].id",
                "written twice",
            ),
            (
                "port = 2525",
                "port = 2525 security",
                "port = 2525",
                "smtp.port",
                "one key = value per line",
            ),
            (
                "reply_within = \"3d\"",
                "reply_within = 3d",
                "reply_within",
                "department[0].reply_within",
                "a text value needs quotes",
            ),
            (
                "reply_within = \"3d\"",
                "reply_within =",
                "reply_within",
                "department[0].reply_within",
                "no value after =",
            ),
            (
                "store = \"var/kvittens\"",
                "store = \"C:\\var\"",
                "store",
                "daemon.store",
                "starts an escape",
            ),
            (
                // A list may span lines: the parser sees it unclosed on the next line.
                "reply_within = \"3d\"",
                "reply_within = [\"3d\"",
                "decide_within",
                "department[0].reply_within",
                "a list [ … ] is not closed with ]",
            ),
        ];
        for (from, to, needle, key, words) in cases {
            let text = GOOD.replacen(from, to, 1);
            assert_ne!(text, GOOD, "test did not change the config: {from}");
            let e = parse(&text).unwrap_err();
            assert_eq!(e.key, key, "{e}");
            assert!(e.message.contains(words), "{e}");
            assert_eq!(e.at.map(|a| a.line), Some(line_of(&text, needle)), "{e}");
            assert!(!e.message.contains('\n'), "one line: {e}");
        }
    }

    #[test]
    fn passwords_from_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "hemligt\n").unwrap();
        let path = dir.path().join("k.toml");
        let text = GOOD.replace("password = \"secret\"", "password_file = \"pw\"");
        let c = Config::parse(&path, &text).unwrap();
        assert_eq!(c.departments[0].password.read().unwrap(), "hemligt");
        // Read again at each login: a rotated password is picked up without a restart.
        std::fs::write(dir.path().join("pw"), "nytt\n").unwrap();
        assert_eq!(c.departments[0].password.read().unwrap(), "nytt");
    }

    #[test]
    fn unreadable_oauth2_secrets_are_named_like_passwords() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.toml");
        let c = Config::parse(&path, &with_oauth2(GOOD)).unwrap();
        // Neither entra.secret nor sa.json exists beside the config.
        let missing = c.check_secrets();
        let keys: Vec<&str> = missing.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "oauth2.entra.client_secret_file",
                "oauth2.gws.service_account_file"
            ],
            "{missing:?}"
        );
        assert!(missing.iter().all(|e| e.file == path));
        let entra = dir.path().join("entra.secret").display().to_string();
        assert!(
            missing[0]
                .to_string()
                .contains(&format!("cannot read {entra}")),
            "{}",
            missing[0]
        );
        // Readable, and a key that is not a service account's is named too.
        std::fs::write(dir.path().join("entra.secret"), "s3cret\n").unwrap();
        std::fs::write(dir.path().join("sa.json"), "{}").unwrap();
        let missing = c.check_secrets();
        assert_eq!(missing.len(), 1, "{missing:?}");
        assert_eq!(missing[0].key, "oauth2.gws.service_account_file");
        assert!(
            missing[0].message.contains("is not a service account key"),
            "{}",
            missing[0]
        );
        std::fs::write(
            dir.path().join("sa.json"),
            r#"{"client_email":"k@p.iam.gserviceaccount.com","private_key":"-----BEGIN PRIVATE KEY-----"}"#,
        )
        .unwrap();
        assert!(c.check_secrets().is_empty());
        // An environment variable that is not set.
        let text = with_oauth2(GOOD).replace(
            "client_secret_file = \"entra.secret\"",
            "client_secret_env = \"KVITTENS_NO_SUCH_SECRET\"",
        );
        let missing = Config::parse(&path, &text).unwrap().check_secrets();
        assert_eq!(missing[0].key, "oauth2.entra.client_secret_env");
        assert!(
            missing[0]
                .message
                .contains("KVITTENS_NO_SUCH_SECRET is not set"),
            "{}",
            missing[0]
        );
    }

    #[test]
    fn secrets_are_read_when_used_and_checked_on_request() {
        let text = GOOD.replace(
            "password = \"secret\"",
            "password_env = \"KVITTENS_NO_SUCH_VAR\"",
        );
        let text = text.replace(
            "from = \"Salems kommun <noreply@kommun.test>\"",
            "from = \"Salems kommun <noreply@kommun.test>\"\nuser = \"kvittens\"\npassword_file = \"/nonexistent/smtp.pw\"",
        );
        // The config itself loads: store commands need no secrets.
        let c = parse(&text).unwrap();
        let missing = c.check_secrets();
        assert_eq!(missing.len(), 2, "{missing:?}");
        assert_eq!(missing[0].key, "smtp.password_file");
        assert!(
            missing[0].message.contains("/nonexistent/smtp.pw"),
            "{}",
            missing[0]
        );
        assert_eq!(missing[1].key, "department[0].mailbox.password_env");
        assert!(
            missing[1]
                .message
                .contains("KVITTENS_NO_SUCH_VAR is not set"),
            "{}",
            missing[1]
        );
        assert_eq!(
            missing[1].file,
            PathBuf::from("/etc/kvittens/kvittens.toml")
        );
        assert!(parse(GOOD).unwrap().check_secrets().is_empty());
        // Each is placed at its key's line, and so is a mistake found later by other checks.
        assert_eq!(
            missing[0].at.map(|a| a.line),
            Some(line_of(&text, "password_file"))
        );
        assert_eq!(
            missing[1].at.map(|a| a.line),
            Some(line_of(&text, "password_env"))
        );
        let oauth2 = with_oauth2(GOOD);
        let later = ConfigError::new(c.file.as_path(), "smtp.user", "x");
        assert_eq!(
            c.place(later).at.map(|a| a.line),
            Some(line_of(&text, "user ="))
        );
        let c = parse(&oauth2).unwrap();
        let later = ConfigError::new(c.file.as_path(), "oauth2.entra.client_secret_file", "x");
        let placed = c.place(later);
        assert_eq!(
            placed.at.map(|a| a.line),
            Some(line_of(&oauth2, "client_secret_file"))
        );
        assert!(placed.to_string().starts_with(&format!(
            "/etc/kvittens/kvittens.toml:{}: key `oauth2.entra.client_secret_file`: x",
            line_of(&oauth2, "client_secret_file")
        )));
    }

    #[test]
    fn credentials_of_systemd_are_found_by_placeholder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bygg.pw"), "ur-credential\n").unwrap();
        let text = GOOD.replace(
            "password = \"secret\"",
            "password_file = \"${CREDENTIALS_DIRECTORY}/bygg.pw\"",
        );
        let secret = &parse(&text).unwrap().departments[0].password;
        // No other test reads this variable, so setting it here races with nothing.
        std::env::remove_var("CREDENTIALS_DIRECTORY");
        let e = secret.read().unwrap_err();
        assert_eq!(e.key, "department[0].mailbox.password_file");
        assert!(e.message.contains("LoadCredential="), "{e}");
        // It says what to do from a shell, not only why.
        assert!(
            e.message.contains(
                "run the command as `CREDENTIALS_DIRECTORY=/etc/kvittens/credentials kvittens …`"
            ),
            "{e}"
        );
        assert!(
            e.message.contains(
                "`systemd-run --pipe --wait -p LoadCredential=bygg.pw:/etc/kvittens/credentials/bygg.pw kvittens …`"
            ),
            "{e}"
        );
        std::env::set_var("CREDENTIALS_DIRECTORY", dir.path());
        assert_eq!(secret.read().unwrap(), "ur-credential");
        std::env::remove_var("CREDENTIALS_DIRECTORY");
    }

    #[test]
    fn duplicate_departments_are_refused() {
        let second = GOOD
            .split("[[department]]")
            .nth(1)
            .unwrap()
            .replace("id = \"bygg\"", "id = \"bygg2\"");
        let text = format!("{GOOD}\n[[department]]{second}");
        let e = parse(&text).unwrap_err();
        assert_eq!(e.key, "department[1].case_prefix");
    }

    #[test]
    fn category_words_are_configured_per_department() {
        use crate::model::CategoryWords;
        let c = parse(GOOD).unwrap();
        let d = &c.departments[0];
        assert_eq!(d.category_words, CategoryWords::default());
        assert!(d
            .category_words
            .of(Category::Complaint)
            .contains(&"klagomål".to_string()));
        let text = GOOD.replace(
            "decide_within = \"3d\"\n",
            "decide_within = \"3d\"\ncategories = { complaint = { words = [\"Missnöjd\", \"klagomål\"] }, fault_report = { decide_within = \"5d\" } }\n",
        );
        let c = parse(&text).unwrap();
        let words = &c.departments[0].category_words;
        assert_eq!(words.of(Category::Complaint), ["missnöjd", "klagomål"]);
        assert_eq!(
            words.find("Jag är missnöjd med bemötandet"),
            Some(Category::Complaint)
        );
        // The words replace the built-in ones of that category only.
        assert_eq!(words.find("reklamation av tjänst"), None);
        assert_eq!(
            words.find("Felanmälan: gatlykta"),
            Some(Category::FaultReport)
        );
        assert_eq!(
            c.departments[0].decide_within[&Category::FaultReport],
            Span::Calendar(5 * 86_400)
        );
        for (to, key, what) in [
            (
                "categories = { complaint = { words = [\"klaga\", \" \"] } }",
                "department[0].categories.complaint.words[1]",
                "empty word",
            ),
            (
                "categories = { complaint = { words = \"klaga\" } }",
                "department[0].categories.complaint.words",
                "invalid type",
            ),
            (
                "categories = { grievance = { words = [\"klaga\"] } }",
                "department[0].categories.grievance",
                "not a category",
            ),
            (
                "categories = { complaint = { word = [\"klaga\"] } }",
                "department[0].categories.complaint.word",
                "unknown field",
            ),
        ] {
            let e = error_for(
                "decide_within = \"3d\"\n",
                &format!("decide_within = \"3d\"\n{to}\n"),
            );
            assert_eq!(e.key, key, "{e}");
            assert!(e.message.contains(what), "{e}");
            assert!(e.to_string().contains("kvittens.toml"), "{e}");
        }
    }
}
