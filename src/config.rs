//! The configuration file: read, checked and turned into typed values once, at start-up. Every
//! mistake is reported with the file, the key and what is wrong, so an operator can fix it
//! without reading code.

use crate::calendar::{Calendar, HolidayRule, WorkingHours};
use crate::decide::Category;
use crate::span::Span;
use chrono::NaiveDate;
use chrono_tz::Tz;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A configuration mistake: which file, which key, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The config file.
    pub file: PathBuf,
    /// The key, as a path: `department[0].officers[1].email`; empty when the whole file is bad.
    pub key: String,
    /// What is wrong, and where useful how to fix it.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(
                f,
                "{}: key `{}`: {}",
                self.file.display(),
                self.key,
                self.message
            )
        }
    }
}

impl std::error::Error for ConfigError {}

/// A password, kept out of logs and error messages.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The password itself, for the login command only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_string())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
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

/// A person with a name and an address.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Contact {
    /// The name, as residents read it.
    pub name: String,
    /// The address, lower-cased.
    pub email: String,
}

/// A period an officer is away, and who covers (hänvisning).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Absence {
    /// First day away.
    pub from: NaiveDate,
    /// Last day away.
    pub to: NaiveDate,
    /// Who takes the officer's cases meanwhile.
    pub substitute: String,
}

impl Absence {
    /// Whether the officer is away on `date`.
    pub fn covers(&self, date: NaiveDate) -> bool {
        self.from <= date && date <= self.to
    }
}

/// A case officer (handläggare).
#[derive(Clone, Debug, PartialEq)]
pub struct Officer {
    /// Name and address.
    pub contact: Contact,
    /// Planned absences from the config.
    pub absent: Vec<Absence>,
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
    /// The IMAP password.
    pub password: Secret,
    /// Where the mailbox is.
    pub imap: Server,
    /// The folder residents' mail arrives in.
    pub folder: String,
    /// The manager (förvaltningschef or enhetschef).
    pub manager: Contact,
    /// The case officers, in round-robin order.
    pub officers: Vec<Officer>,
    /// Reply deadline.
    pub reply_within: Span,
    /// Expected decision time per category.
    pub decide_within: HashMap<Category, Span>,
    /// Category when the subject names none.
    pub default_category: Category,
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
    pub staff_language: crate::decide::Language,
    /// Whether mail to residents is copied to the department mailbox (see `Outgoing::copy`).
    pub copies: bool,
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
    /// The officer with this address.
    pub fn officer(&self, email: &str) -> Option<&Officer> {
        self.officers
            .iter()
            .find(|o| o.contact.email.eq_ignore_ascii_case(email))
    }
}

/// SMTP submission settings.
#[derive(Clone, Debug)]
pub struct Smtp {
    /// Where to submit.
    pub server: Server,
    /// Login, when the server wants one.
    pub login: Option<(String, Secret)>,
    /// The From header of everything kvittens sends.
    pub from: lettre::message::Mailbox,
}

/// The whole, checked configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The file it was read from.
    pub file: PathBuf,
    /// The store directory.
    pub store: PathBuf,
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
    /// Warnings about the config that do not stop kvittens (logged at start).
    pub warnings: Vec<String>,
    /// SMTP settings.
    pub smtp: Smtp,
    /// The departments.
    pub departments: Vec<Department>,
}

impl Config {
    /// The department with this id.
    pub fn department(&self, id: &str) -> Option<&Department> {
        self.departments.iter().find(|d| d.id == id)
    }

    /// The domain of Message-IDs kvittens mints: the domain of the From address.
    pub fn id_domain(&self) -> &str {
        self.smtp.from.email.domain()
    }

    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            key: String::new(),
            message: format!("cannot read the file: {e}"),
        })?;
        Config::parse(path, &text)
    }

    /// Checks `text` as if read from `path` (relative paths in it are taken from `path`'s folder).
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = {
            let de = toml::Deserializer::new(text);
            serde_path_to_error::deserialize(de).map_err(|e| {
                let key = e.path().to_string();
                let inner = e.into_inner();
                let line = inner
                    .span()
                    .map(|s| {
                        format!(
                            " (line {})",
                            text[..s.start.min(text.len())].lines().count().max(1)
                        )
                    })
                    .unwrap_or_default();
                ConfigError {
                    file: path.to_path_buf(),
                    key: if key == "." { String::new() } else { key },
                    message: format!("{}{line}", inner.message().trim()),
                }
            })?
        };
        let plain_passwords = raw.smtp.password.password.is_some()
            || raw
                .department
                .iter()
                .any(|d| d.mailbox.password.password.is_some());
        Checker {
            file: path,
            plain_passwords,
        }
        .config(raw)
    }
}

// ---- the file as written -------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    daemon: RawDaemon,
    imap: RawServer,
    smtp: RawSmtp,
    #[serde(default)]
    calendar: RawCalendar,
    #[serde(default)]
    department: Vec<RawDepartment>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDaemon {
    store: PathBuf,
    timezone: Option<String>,
    #[serde(default)]
    internal_domains: Vec<String>,
    templates: Option<PathBuf>,
    backfill: Option<Span>,
    poll_interval: Option<Span>,
    idle_renew: Option<Span>,
    listen: Option<String>,
    #[serde(default)]
    trusted_authserv_ids: Vec<String>,
    receipts_per_sender_per_day: Option<u64>,
    retention: Option<Span>,
    unconfirmed_wait: Option<Span>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServer {
    host: Option<String>,
    port: Option<u16>,
    security: Option<String>,
    ca_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSmtp {
    host: String,
    port: Option<u16>,
    security: Option<String>,
    ca_file: Option<PathBuf>,
    from: String,
    user: Option<String>,
    #[serde(flatten)]
    password: RawPassword,
}

#[derive(Deserialize, Default)]
struct RawPassword {
    password: Option<String>,
    password_env: Option<String>,
    password_file: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCalendar {
    working_hours: Option<String>,
    holidays: Option<String>,
    reply_within: Option<Span>,
    remind_before: Option<Span>,
    escalate_again_after: Option<Span>,
    digest_at: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDepartment {
    id: String,
    name: String,
    case_prefix: String,
    mailbox: RawMailbox,
    manager: RawContact,
    officers: Vec<RawOfficer>,
    reply_within: Option<Span>,
    decide_within: Option<Span>,
    category: Option<String>,
    #[serde(default)]
    categories: BTreeMap<String, RawCategory>,
    working_hours: Option<String>,
    holidays: Option<String>,
    phone: Option<String>,
    web: Option<String>,
    remind_before: Option<Span>,
    escalate_to: Option<RawContact>,
    escalate_again_after: Option<Span>,
    digest_at: Option<String>,
    staff_language: Option<String>,
    copies: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMailbox {
    user: String,
    login: Option<String>,
    #[serde(flatten)]
    password: RawPassword,
    folder: Option<String>,
    sent_folder: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    security: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContact {
    name: String,
    email: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOfficer {
    name: String,
    email: String,
    #[serde(default)]
    absent: Vec<Absence>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCategory {
    decide_within: Option<Span>,
}

// ---- checking ------------------------------------------------------------------------------

struct Checker<'a> {
    file: &'a Path,
    /// Whether the file itself holds a password (then it must not be world-readable).
    plain_passwords: bool,
}

impl Checker<'_> {
    fn err(&self, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_path_buf(),
            key: key.into(),
            message: message.into(),
        }
    }

    fn path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.file.parent().unwrap_or(Path::new(".")).join(p)
        }
    }

    fn config(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let tz_name = raw.daemon.timezone.as_deref().unwrap_or("Europe/Stockholm");
        let tz: Tz = tz_name.parse().map_err(|_| {
            self.err(
                "daemon.timezone",
                format!("{tz_name:?} is not a time zone; write e.g. \"Europe/Stockholm\""),
            )
        })?;
        let imap_defaults = raw.imap;
        let smtp = self.smtp(raw.smtp)?;
        let default_hours = self.hours(
            "calendar.working_hours",
            raw.calendar.working_hours.as_deref(),
        )?;
        let default_holidays =
            self.holidays("calendar.holidays", raw.calendar.holidays.as_deref())?;
        let default_reply = raw
            .calendar
            .reply_within
            .unwrap_or(Span::Calendar(3 * 86_400));

        if raw.department.is_empty() {
            return Err(self.err(
                "department",
                "no [[department]] is configured; kvittens needs at least one mailbox to watch",
            ));
        }
        let mut departments = Vec::new();
        let mut ids = HashSet::new();
        let mut prefixes = HashSet::new();
        let mut mailboxes = HashSet::new();
        for (i, d) in raw.department.into_iter().enumerate() {
            let key = format!("department[{i}]");
            let dept = self.department(
                &key,
                d,
                &imap_defaults,
                tz,
                default_hours,
                default_holidays,
                default_reply,
                &raw.calendar,
            )?;
            if !ids.insert(dept.id.clone()) {
                return Err(self.err(
                    format!("{key}.id"),
                    format!("{:?} is used by two departments", dept.id),
                ));
            }
            if !prefixes.insert(dept.case_prefix.clone()) {
                return Err(self.err(
                    format!("{key}.case_prefix"),
                    format!(
                        "{:?} is used by two departments; case numbers must be unique",
                        dept.case_prefix
                    ),
                ));
            }
            if !mailboxes.insert((
                dept.imap.host.clone(),
                dept.login.clone(),
                dept.folder.clone(),
            )) {
                return Err(self.err(
                    format!("{key}.mailbox"),
                    "this mailbox is watched by another department already",
                ));
            }
            departments.push(dept);
        }
        let internal_domains = raw
            .daemon
            .internal_domains
            .iter()
            .map(|d| d.trim().trim_start_matches('@').to_lowercase())
            .collect();
        let secs = |s: Option<Span>, key: &str, default: u64| -> Result<Duration, ConfigError> {
            match s {
                None => Ok(Duration::from_secs(default)),
                Some(Span::Calendar(n)) => Ok(Duration::from_secs(n.max(0) as u64)),
                Some(Span::WorkingDays(_)) => {
                    Err(self.err(key, "must be elapsed time (s, m, h, d), not working days"))
                }
            }
        };
        let idle_renew = secs(raw.daemon.idle_renew, "daemon.idle_renew", 25 * 60)?;
        if idle_renew > Duration::from_secs(29 * 60) {
            return Err(self.err(
                "daemon.idle_renew",
                "must be at most 29m: servers may drop an IDLE after 30 minutes (RFC 3501)",
            ));
        }
        let listen = match raw.daemon.listen.as_deref().unwrap_or("127.0.0.1:9477") {
            "off" | "none" => None,
            a => Some(a.parse().map_err(|_| self.err("daemon.listen", format!("{a:?} is not an address and port; write e.g. \"127.0.0.1:9477\", or \"off\"")))?),
        };
        let mut warnings = Vec::new();
        let loopback = |h: &str| {
            h == "localhost" || h.parse::<std::net::IpAddr>().is_ok_and(|a| a.is_loopback())
        };
        for d in &departments {
            if d.imap.security == Security::None && !loopback(&d.imap.host) {
                warnings.push(format!("{}: the password of {} crosses the network unencrypted to {} (security = \"none\")", self.file.display(), d.login, d.imap.host));
            }
        }
        if smtp.login.is_some()
            && smtp.server.security == Security::None
            && !loopback(&smtp.server.host)
        {
            warnings.push(format!(
                "{}: the SMTP password crosses the network unencrypted to {} (security = \"none\")",
                self.file.display(),
                smtp.server.host
            ));
        }
        if self.plain_passwords {
            use std::os::unix::fs::PermissionsExt;
            if std::fs::metadata(self.file).is_ok_and(|m| m.permissions().mode() & 0o004 != 0) {
                warnings.push(format!("{} holds passwords and anyone on this machine can read it: chmod o-r, or use password_env / password_file", self.file.display()));
            }
        }
        Ok(Config {
            trusted_authserv_ids: raw
                .daemon
                .trusted_authserv_ids
                .iter()
                .map(|s| s.trim().to_string())
                .collect(),
            receipts_per_sender_per_day: raw.daemon.receipts_per_sender_per_day.unwrap_or(10),
            retention: raw.daemon.retention,
            unconfirmed_wait: secs(
                raw.daemon.unconfirmed_wait,
                "daemon.unconfirmed_wait",
                10 * 60,
            )?,
            warnings,
            listen,
            file: self.file.to_path_buf(),
            store: self.path(&raw.daemon.store),
            internal_domains,
            templates: raw.daemon.templates.as_deref().map(|p| self.path(p)),
            backfill: secs(raw.daemon.backfill, "daemon.backfill", 0)?,
            poll_interval: secs(raw.daemon.poll_interval, "daemon.poll_interval", 60)?
                .max(Duration::from_secs(1)),
            idle_renew: idle_renew.max(Duration::from_secs(1)),
            smtp,
            departments,
        })
    }

    fn security(
        &self,
        key: &str,
        value: Option<&str>,
        default: Security,
    ) -> Result<Security, ConfigError> {
        match value {
            None => Ok(default),
            Some("none") => Ok(Security::None),
            Some("starttls") => Ok(Security::StartTls),
            Some("tls") => Ok(Security::Tls),
            Some(other) => Err(self.err(
                key,
                format!("{other:?} is not a security mode; use \"tls\", \"starttls\" or \"none\""),
            )),
        }
    }

    fn password(&self, key: &str, raw: &RawPassword) -> Result<Option<Secret>, ConfigError> {
        let given = [
            raw.password.is_some(),
            raw.password_env.is_some(),
            raw.password_file.is_some(),
        ];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(self.err(
                key,
                "give only one of password, password_env and password_file",
            ));
        }
        if let Some(p) = &raw.password {
            return Ok(Some(Secret(p.clone())));
        }
        if let Some(var) = &raw.password_env {
            return std::env::var(var).map(|p| Some(Secret(p))).map_err(|_| {
                self.err(
                    format!("{key}.password_env"),
                    format!("the environment variable {var} is not set"),
                )
            });
        }
        if let Some(file) = &raw.password_file {
            let path = self.path(file);
            return std::fs::read_to_string(&path)
                .map(|p| Some(Secret(p.trim_end_matches(['\r', '\n']).to_string())))
                .map_err(|e| {
                    self.err(
                        format!("{key}.password_file"),
                        format!("cannot read {}: {e}", path.display()),
                    )
                });
        }
        Ok(None)
    }

    fn smtp(&self, raw: RawSmtp) -> Result<Smtp, ConfigError> {
        let security =
            self.security("smtp.security", raw.security.as_deref(), Security::StartTls)?;
        let default_port = match security {
            Security::Tls => 465,
            Security::StartTls => 587,
            Security::None => 25,
        };
        let from = raw
            .from
            .parse::<lettre::message::Mailbox>()
            .map_err(|e| self.err("smtp.from", format!("{:?} is not a mail address ({e}); write e.g. \"Salems kommun <noreply@kommun.se>\"", raw.from)))?;
        let password = self.password("smtp", &raw.password)?;
        let login = match (raw.user, password) {
            (Some(u), Some(p)) => Some((u, p)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(self.err(
                    "smtp.user",
                    "a user needs a password, password_env or password_file",
                ))
            }
            (None, Some(_)) => return Err(self.err("smtp.user", "a password is given but no user")),
        };
        Ok(Smtp {
            server: Server {
                host: self.host("smtp.host", raw.host)?,
                port: raw.port.unwrap_or(default_port),
                security,
                ca_file: raw.ca_file.as_deref().map(|p| self.path(p)),
            },
            login,
            from,
        })
    }

    fn host(&self, key: &str, host: String) -> Result<String, ConfigError> {
        let h = host.trim();
        if h.is_empty() || h.contains(char::is_whitespace) {
            return Err(self.err(key, format!("{host:?} is not a host name")));
        }
        Ok(h.to_string())
    }

    fn hours(&self, key: &str, value: Option<&str>) -> Result<Option<WorkingHours>, ConfigError> {
        value
            .map(|v| v.parse().map_err(|e| self.err(key, e)))
            .transpose()
    }

    fn holidays(&self, key: &str, value: Option<&str>) -> Result<Option<HolidayRule>, ConfigError> {
        value
            .map(|v| v.parse().map_err(|e| self.err(key, e)))
            .transpose()
    }

    fn email(&self, key: &str, email: &str) -> Result<String, ConfigError> {
        let e = email.trim().to_lowercase();
        let ok = e.parse::<lettre::Address>().is_ok();
        if !ok {
            return Err(self.err(key, format!("{email:?} is not a mail address")));
        }
        Ok(e)
    }

    #[allow(clippy::too_many_arguments)]
    fn department(
        &self,
        key: &str,
        d: RawDepartment,
        imap: &RawServer,
        tz: Tz,
        default_hours: Option<WorkingHours>,
        default_holidays: Option<HolidayRule>,
        default_reply: Span,
        cal_defaults: &RawCalendar,
    ) -> Result<Department, ConfigError> {
        let id_ok = !d.id.is_empty()
            && d.id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !id_ok {
            return Err(self.err(
                format!("{key}.id"),
                format!("{:?}: use lower-case letters, digits, - and _", d.id),
            ));
        }
        let prefix_ok = (1..=10).contains(&d.case_prefix.len())
            && d.case_prefix.starts_with(|c: char| c.is_ascii_uppercase())
            && d.case_prefix
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if !prefix_ok {
            return Err(self.err(
                format!("{key}.case_prefix"),
                format!(
                    "{:?}: use 1 to 10 upper-case letters or digits, starting with a letter",
                    d.case_prefix
                ),
            ));
        }
        let email = self.email(&format!("{key}.mailbox.user"), &d.mailbox.user)?;
        let password = self
            .password(&format!("{key}.mailbox"), &d.mailbox.password)?
            .ok_or_else(|| {
                self.err(
                    format!("{key}.mailbox"),
                    "no password: give password, password_env or password_file",
                )
            })?;
        let security = self.security(
            &format!("{key}.mailbox.security"),
            d.mailbox.security.as_deref().or(imap.security.as_deref()),
            Security::Tls,
        )?;
        let default_port = if security == Security::Tls { 993 } else { 143 };
        let host = d
            .mailbox
            .host
            .clone()
            .or_else(|| imap.host.clone())
            .ok_or_else(|| {
                self.err(
                    format!("{key}.mailbox.host"),
                    "no IMAP host: set [imap] host or this key",
                )
            })?;
        let imap = Server {
            host: self.host(&format!("{key}.mailbox.host"), host)?,
            port: d.mailbox.port.or(imap.port).unwrap_or(default_port),
            security,
            ca_file: imap.ca_file.as_deref().map(|p| self.path(p)),
        };
        let manager = Contact {
            name: d.manager.name.trim().to_string(),
            email: self.email(&format!("{key}.manager.email"), &d.manager.email)?,
        };
        if d.officers.is_empty() {
            return Err(self.err(
                format!("{key}.officers"),
                "a department needs at least one officer",
            ));
        }
        let mut officers = Vec::new();
        for (j, o) in d.officers.iter().enumerate() {
            let okey = format!("{key}.officers[{j}]");
            if o.name.trim().is_empty() {
                return Err(self.err(
                    format!("{okey}.name"),
                    "an officer needs a name: it is written in the receipt",
                ));
            }
            officers.push(Officer {
                contact: Contact {
                    name: o.name.trim().to_string(),
                    email: self.email(&format!("{okey}.email"), &o.email)?,
                },
                absent: Vec::new(),
            });
        }
        for (j, o) in d.officers.into_iter().enumerate() {
            for (k, mut a) in o.absent.into_iter().enumerate() {
                let akey = format!("{key}.officers[{j}].absent[{k}]");
                if a.to < a.from {
                    return Err(self.err(
                        format!("{akey}.to"),
                        format!("{} is before from = {}", a.to, a.from),
                    ));
                }
                a.substitute = a.substitute.trim().to_lowercase();
                if a.substitute == officers[j].contact.email {
                    return Err(self.err(
                        format!("{akey}.substitute"),
                        "an officer cannot substitute for themselves",
                    ));
                }
                if !officers.iter().any(|x| x.contact.email == a.substitute) {
                    return Err(self.err(
                        format!("{akey}.substitute"),
                        format!("{:?} is not an officer of this department", a.substitute),
                    ));
                }
                officers[j].absent.push(a);
            }
        }
        let default_category = match d.category.as_deref() {
            None => Category::Question,
            Some(c) => Category::from_key(c).ok_or_else(|| self.err(format!("{key}.category"), format!("{c:?} is not a category; use question, application, fault_report or complaint")))?,
        };
        let base_decide = d.decide_within.unwrap_or(Span::Calendar(3 * 86_400));
        let mut decide_within: HashMap<Category, Span> =
            Category::ALL.iter().map(|c| (*c, base_decide)).collect();
        decide_within.insert(Category::Complaint, Span::Calendar(7 * 86_400));
        for (name, c) in &d.categories {
            let cat = Category::from_key(name).ok_or_else(|| self.err(format!("{key}.categories.{name}"), format!("{name:?} is not a category; use question, application, fault_report or complaint")))?;
            if let Some(s) = c.decide_within {
                decide_within.insert(cat, s);
            }
        }
        let calendar = Calendar {
            tz,
            hours: self
                .hours(&format!("{key}.working_hours"), d.working_hours.as_deref())?
                .or(default_hours)
                .unwrap_or_default(),
            holidays: self
                .holidays(&format!("{key}.holidays"), d.holidays.as_deref())?
                .or(default_holidays)
                .unwrap_or(HolidayRule::Swedish),
        };
        let digest_key = if d.digest_at.is_some() {
            format!("{key}.digest_at")
        } else {
            "calendar.digest_at".to_string()
        };
        let digest_at = match d
            .digest_at
            .as_deref()
            .or(cal_defaults.digest_at.as_deref())
            .unwrap_or("07:30")
        {
            "off" | "none" => None,
            t => {
                let minutes = chrono::NaiveTime::parse_from_str(t.trim(), "%H:%M")
                    .or_else(|_| chrono::NaiveTime::parse_from_str(t.trim(), "%H:%M:%S"))
                    .ok();
                Some(minutes.ok_or_else(|| {
                    self.err(
                        digest_key,
                        format!("{t:?} is not a time of day; write e.g. \"07:30\", or \"off\""),
                    )
                })?)
            }
        };
        let escalate_to = match &d.escalate_to {
            None => None,
            Some(c) => Some(Contact {
                name: c.name.trim().to_string(),
                email: self.email(&format!("{key}.escalate_to.email"), &c.email)?,
            }),
        };
        let follow_up = FollowUp {
            remind_before: d.remind_before.or(cal_defaults.remind_before),
            escalate_to,
            escalate_again_after: d
                .escalate_again_after
                .or(cal_defaults.escalate_again_after)
                .unwrap_or(Span::WorkingDays(1)),
            digest_at,
        };
        let staff_language = match d.staff_language.as_deref() {
            None | Some("sv") => crate::decide::Language::Sv,
            Some("en") => crate::decide::Language::En,
            Some(other) => {
                return Err(self.err(
                    format!("{key}.staff_language"),
                    format!("{other:?}: use \"sv\" or \"en\""),
                ))
            }
        };
        Ok(Department {
            copies: d.copies.unwrap_or(true),
            staff_language,
            sent_folder: d.mailbox.sent_folder.clone(),
            follow_up,
            login: d
                .mailbox
                .login
                .clone()
                .unwrap_or_else(|| d.mailbox.user.trim().to_string()),
            folder: d
                .mailbox
                .folder
                .clone()
                .unwrap_or_else(|| "INBOX".to_string()),
            id: d.id,
            name: d.name.trim().to_string(),
            case_prefix: d.case_prefix,
            email,
            password,
            imap,
            manager,
            officers,
            reply_within: d.reply_within.unwrap_or(default_reply),
            decide_within,
            default_category,
            calendar,
            phone: d.phone,
            web: d.web,
        })
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
                "security = \"none\"",
                "security = \"ssl\"",
                "department[0].mailbox.security",
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
                "password = \"secret\"",
                "password_env = \"KVITTENS_NO_SUCH_VAR\"",
                "department[0].mailbox.password_env",
                "not set",
            ),
            (
                "from = \"Salems kommun <noreply@kommun.test>\"",
                "from = \"Salems kommun\"",
                "smtp.from",
                "not a mail address",
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

    #[test]
    fn a_file_that_is_not_toml_says_where() {
        let e = parse("[daemon\nstore = 1").unwrap_err();
        assert!(e.message.contains("line 1"), "{e}");
    }

    #[test]
    fn passwords_from_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "hemligt\n").unwrap();
        let path = dir.path().join("k.toml");
        let text = GOOD.replace("password = \"secret\"", "password_file = \"pw\"");
        let c = Config::parse(&path, &text).unwrap();
        assert_eq!(c.departments[0].password.expose(), "hemligt");
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
}
