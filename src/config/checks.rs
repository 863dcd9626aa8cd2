//! The checks that turn the file as written ([`super::raw`]) into a [`Config`], naming the key
//! of every mistake; the departments' own checks are in [`super::department`], the OAuth2
//! clients' in [`super::oauth2`]. Nothing here reads a secret (see [`super::secrets`]).

use super::checker::{Checker, Defaults};
use super::locate::{self, Locator};
use super::oauth2::Auth;
use super::raw::{RawConfig, RawDaemon, RawDepartment, RawPassword, RawSmtp};
use super::{Config, ConfigError, Department, Position, Secret, Security, Server, Smtp};
use super::{DEFAULT_LEASE_SECONDS, MAX_LEASE_SECONDS};
use super::{DEFAULT_LOGINS_PER_SECOND, MAX_LOGINS_PER_SECOND};
use crate::model::calendar::{HolidayRule, WorkingHours};
use crate::model::span::Span;
use chrono_tz::Tz;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

/// Reads `text` as the file at `path` and checks it. Every error is placed here, from its key,
/// at the line the key is written on (see `locate`).
pub(super) fn read(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let locator = Locator::new(text).map_err(|e| locate::syntax_error(path, text, &e))?;
    check(path, text, &locator).map_err(|mut e| {
        if e.at.is_none() && !e.key.is_empty() {
            e.at = Some(locator.find(&e.key));
        }
        e
    })
}

fn check(path: &Path, text: &str, locator: &Locator<'_>) -> Result<Config, ConfigError> {
    let raw: RawConfig = {
        let de = toml::Deserializer::new(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            let key = if key == "." { String::new() } else { key };
            ConfigError {
                at: inner.span().map(|s| Position::of_offset(text, s.start)),
                ..ConfigError::new(path, key, inner.message().trim())
            }
            .caused_by(inner)
        })?
    };
    let plain_passwords = raw.smtp.password.password.is_some()
        || raw
            .department
            .iter()
            .any(|d| d.mailbox.password.password.is_some())
        || raw.oauth2.values().any(|c| c.client_secret.is_some());
    let mut checker = Checker {
        file: path,
        locator,
        plain_passwords,
        oauth2: BTreeMap::new(),
    };
    checker.oauth2 = checker.oauth2_clients(&raw.oauth2)?;
    checker.config(raw)
}

/// The most quick answers in a row `daemon.loop_answers` may wait for: a mail loop sends a
/// receipt for each, so a higher count only lets a loop run longer (the mail loops RFC 3834
/// asks automatic responders to avoid).
const MAX_LOOP_ANSWERS: u32 = 100;

/// Reads an elapsed-time key: the value, its key name, the default in seconds.
type SpanReader<'a> = dyn Fn(Option<Span>, &str, u64) -> Result<Duration, ConfigError> + 'a;

/// The `[daemon]` times, checked.
struct Times {
    idle_renew: Duration,
    listen: Option<std::net::SocketAddr>,
    unconfirmed_wait: Duration,
    loop_rule: crate::model::limits::LoopRule,
    notice_burst: crate::model::limits::NoticeBurst,
    backfill: Duration,
    poll_interval: Duration,
}

impl Checker<'_> {
    /// The loop breaker's `[daemon] loop_*` keys, checked: a window under a second would miss
    /// every machine and one over an hour would catch people who write twice; a single quick
    /// answer is what a person does too, so it takes at least two (or 0 for off).
    fn loop_rule(
        &self,
        daemon: &RawDaemon,
        secs: &SpanReader<'_>,
    ) -> Result<crate::model::limits::LoopRule, ConfigError> {
        let dflt = crate::model::limits::LoopRule::default();
        let window = secs(daemon.loop_window, "daemon.loop_window", 120)?;
        if !(1..=3600).contains(&window.as_secs()) {
            return Err(self.err(
                "daemon.loop_window",
                "must be between 1s and 1h: how soon a machine answers a receipt, not a person",
            ));
        }
        let answers = daemon.loop_answers.unwrap_or(dflt.answers);
        if answers == 1 {
            return Err(self.err(
                "daemon.loop_answers",
                "must be 0 (off) or at least 2: one quick answer is what a person does too",
            ));
        }
        if answers > MAX_LOOP_ANSWERS {
            return Err(self.err(
                "daemon.loop_answers",
                format!("{answers} is too many: at most {MAX_LOOP_ANSWERS}; each quick answer before the loop is broken costs a receipt to a machine"),
            ));
        }
        let hold = secs(daemon.loop_hold, "daemon.loop_hold", 24 * 3600)?;
        if !(60..=30 * 86_400).contains(&hold.as_secs()) {
            return Err(self.err("daemon.loop_hold", "must be between 1m and 30d"));
        }
        let d = |x: Duration| chrono::Duration::seconds(x.as_secs() as i64);
        Ok(crate::model::limits::LoopRule {
            window: d(window),
            answers,
            hold: d(hold),
        })
    }

    /// `[daemon] notice_burst`, checked: the window between 10 s and 1 h (a gathered mail waits
    /// that long, and an officer should hear of a new case within the hour); `cases` at most
    /// 10 000 (0 is off).
    fn notice_burst(
        &self,
        daemon: &RawDaemon,
        secs: &SpanReader<'_>,
    ) -> Result<crate::model::limits::NoticeBurst, ConfigError> {
        let dflt = crate::model::limits::NoticeBurst::default();
        let Some(raw) = &daemon.notice_burst else {
            return Ok(dflt);
        };
        let within = secs(raw.within, "daemon.notice_burst.within", 300)?;
        if !(10..=3600).contains(&within.as_secs()) {
            return Err(self.err(
                "daemon.notice_burst.within",
                "must be between 10s and 1h: the gathered notices wait that long before they go",
            ));
        }
        let cases = raw.cases.unwrap_or(dflt.cases);
        if cases > 10_000 {
            return Err(self.err(
                "daemon.notice_burst.cases",
                format!("{cases} is too many: at most 10000, or 0 to send every notice at once"),
            ));
        }
        Ok(crate::model::limits::NoticeBurst {
            cases,
            within: chrono::Duration::seconds(within.as_secs() as i64),
        })
    }

    /// The whole file, checked: `[daemon]`, `[imap]`, `[smtp]`, `[calendar]`, then every
    /// department, then the daemon's times, then the warnings that do not stop it.
    fn config(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let tz_name = raw.daemon.timezone.as_deref().unwrap_or("Europe/Stockholm");
        let tz: Tz = tz_name.parse().map_err(|_| {
            self.err(
                "daemon.timezone",
                format!("{tz_name:?} is not a time zone; write e.g. \"Europe/Stockholm\""),
            )
        })?;
        // Checked even when every mailbox sets its own: a mistake is not kept for later.
        self.auth("imap.auth", raw.imap.auth.as_deref())?;
        let logins_per_second = self.logins_per_second(raw.imap.logins_per_second)?;
        let lease_seconds = self.lease_seconds(raw.daemon.lease_seconds)?;
        let smtp = self.smtp(raw.smtp)?;
        let cal = &raw.calendar;
        let defaults = Defaults {
            imap: &raw.imap,
            tz,
            hours: self.hours("calendar.working_hours", cal.working_hours.as_deref())?,
            holidays: self.holidays("calendar.holidays", cal.holidays.as_deref())?,
            reply: cal.reply_within.unwrap_or(Span::Calendar(3 * 86_400)),
            extra_off: (self.days_off("calendar.extra_days_off", cal.extra_days_off.as_deref())?)
                .unwrap_or_default(),
            calendar: cal,
        };
        let departments = self.departments(raw.department, &defaults)?;
        let internal_domains = (raw.daemon.internal_domains.iter())
            .map(|d| d.trim().trim_start_matches('@').to_lowercase())
            .collect();
        let times = self.times(&raw.daemon)?;
        let report = &raw.report;
        let report =
            self.report_plan("report", &report.report_to, report.report_every.as_deref())?;
        let web = self.web(raw.web)?;
        // Port 0 (any free port, in tests) never collides.
        if web.listen.is_some_and(|a| a.port() != 0) && web.listen == times.listen {
            return Err(self.err(
                "web.listen",
                "is [daemon] listen's address already (/metrics and /healthz); give the web page its own port",
            ));
        }
        let warnings = self.warnings(&departments, &smtp, times.unconfirmed_wait);
        let daemon = raw.daemon;
        let (store_location, store) = self.store_location(
            &daemon.store,
            daemon.state_dir.as_deref(),
            daemon.store_password_env.as_deref(),
            daemon.store_password_file.as_deref(),
        )?;
        let mut cfg = Config {
            trusted_authserv_ids: (daemon.trusted_authserv_ids.iter())
                .map(|s| s.trim().to_string())
                .collect(),
            receipts_per_sender_per_day: daemon.receipts_per_sender_per_day.unwrap_or(10),
            retention: daemon.retention,
            unconfirmed_wait: times.unconfirmed_wait,
            loop_rule: times.loop_rule,
            notice_burst: times.notice_burst,
            warnings,
            listen: times.listen,
            file: self.file.to_path_buf(),
            store,
            store_location,
            internal_domains,
            templates: daemon.templates.as_deref().map(|p| self.path(p)),
            backfill: times.backfill,
            poll_interval: times.poll_interval,
            idle_renew: times.idle_renew.max(Duration::from_secs(1)),
            imap_logins_per_second: logins_per_second,
            lease_seconds,
            smtp,
            oauth2: self.oauth2.clone(),
            departments,
            web,
            report,
            text: self.locator.text().into(),
            staff: Vec::new(),
        };
        cfg.staff = cfg.gather_staff();
        Ok(cfg)
    }

    /// Every `[[department]]`, checked; ids, case number prefixes and mailboxes are unique
    /// (two departments sharing a prefix would mint the same case numbers).
    fn departments(
        &self,
        raw: Vec<RawDepartment>,
        defaults: &Defaults<'_>,
    ) -> Result<Vec<Department>, ConfigError> {
        if raw.is_empty() {
            return Err(self.err(
                "department",
                "no [[department]] is configured; kvittens needs at least one mailbox to watch",
            ));
        }
        let mut departments = Vec::new();
        let mut ids = HashSet::new();
        let mut prefixes = HashSet::new();
        let mut mailboxes = HashSet::new();
        for (i, d) in raw.into_iter().enumerate() {
            let key = format!("department[{i}]");
            let dept = self.department(&key, d, defaults)?;
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
            let mailbox = (
                dept.imap.host.clone(),
                dept.login.clone(),
                dept.folder.clone(),
            );
            if !mailboxes.insert(mailbox) {
                return Err(self.err(
                    format!("{key}.mailbox"),
                    "this mailbox is watched by another department already",
                ));
            }
            departments.push(dept);
        }
        Ok(departments)
    }

    /// The `[daemon]` times and the listen address, checked in the order they are written.
    /// `[imap] logins_per_second`: 1 to [`MAX_LOGINS_PER_SECOND`], by default
    /// [`DEFAULT_LOGINS_PER_SECOND`].
    fn logins_per_second(&self, raw: Option<u32>) -> Result<u32, ConfigError> {
        let n = raw.unwrap_or(DEFAULT_LOGINS_PER_SECOND);
        if !(1..=MAX_LOGINS_PER_SECOND).contains(&n) {
            return Err(self.err(
                "imap.logins_per_second",
                format!("{n} is out of range: write a whole number from 1 to {MAX_LOGINS_PER_SECOND} (logins a second across every mailbox; default {DEFAULT_LOGINS_PER_SECOND})"),
            ));
        }
        Ok(n)
    }

    /// `[daemon] lease_seconds`: 3 to [`MAX_LEASE_SECONDS`], by default
    /// [`DEFAULT_LEASE_SECONDS`].
    fn lease_seconds(&self, raw: Option<u32>) -> Result<u32, ConfigError> {
        let n = raw.unwrap_or(DEFAULT_LEASE_SECONDS);
        if !(3..=MAX_LEASE_SECONDS).contains(&n) {
            return Err(self.err(
                "daemon.lease_seconds",
                format!("{n} is out of range: write a whole number of seconds from 3 to {MAX_LEASE_SECONDS} (a killed instance's work is taken over within the lease and a third of it, which must stay within 30 s; default {DEFAULT_LEASE_SECONDS})"),
            ));
        }
        Ok(n)
    }

    fn times(&self, daemon: &RawDaemon) -> Result<Times, ConfigError> {
        let secs = |s: Option<Span>, key: &str, default: u64| -> Result<Duration, ConfigError> {
            match s {
                None => Ok(Duration::from_secs(default)),
                Some(Span::Calendar(n)) => Ok(Duration::from_secs(n.max(0) as u64)),
                Some(Span::WorkingDays(_)) => {
                    Err(self.err(key, "must be elapsed time (s, m, h, d), not working days"))
                }
            }
        };
        let idle_renew = secs(daemon.idle_renew, "daemon.idle_renew", 25 * 60)?;
        if idle_renew > Duration::from_secs(29 * 60) {
            return Err(self.err(
                "daemon.idle_renew",
                "must be at most 29m: servers may drop an IDLE after 30 minutes (RFC 3501)",
            ));
        }
        let listen = match daemon.listen.as_deref().unwrap_or("127.0.0.1:9477") {
            "off" | "none" => None,
            a => Some(a.parse().map_err(|_| self.err("daemon.listen", format!("{a:?} is not an address and port; write e.g. \"127.0.0.1:9477\", or \"off\"")))?),
        };
        let unconfirmed_wait = secs(daemon.unconfirmed_wait, "daemon.unconfirmed_wait", 600)?;
        if unconfirmed_wait < Duration::from_secs(1) {
            return Err(self.err(
                "daemon.unconfirmed_wait",
                "must be at least 1s: it is how long a copy may take to arrive, and a copy that comes later means a receipt sent twice",
            ));
        }
        let loop_rule = self.loop_rule(daemon, &secs)?;
        let notice_burst = self.notice_burst(daemon, &secs)?;
        Ok(Times {
            idle_renew,
            listen,
            unconfirmed_wait,
            loop_rule,
            notice_burst,
            backfill: secs(daemon.backfill, "daemon.backfill", 0)?,
            poll_interval: secs(daemon.poll_interval, "daemon.poll_interval", 60)?
                .max(Duration::from_secs(1)),
        })
    }

    /// What is allowed but unwise: a password crossing the network unencrypted, a copy wait
    /// too short for a busy server, passwords in a file anyone can read.
    fn warnings(&self, departments: &[Department], smtp: &Smtp, wait: Duration) -> Vec<String> {
        let mut warnings = Vec::new();
        let file = self.file.display();
        let loopback = |h: &str| {
            h == "localhost" || h.parse::<std::net::IpAddr>().is_ok_and(|a| a.is_loopback())
        };
        for d in departments {
            if d.imap.security == Security::None && !loopback(&d.imap.host) {
                warnings.push(format!("{file}: the password of {} crosses the network unencrypted to {} (security = \"none\")", d.login, d.imap.host));
            }
        }
        if smtp.login.is_some()
            && smtp.server.security == Security::None
            && !loopback(&smtp.server.host)
        {
            warnings.push(format!(
                "{file}: the SMTP password crosses the network unencrypted to {} (security = \"none\")",
                smtp.server.host
            ));
        }
        if wait < Duration::from_secs(60) {
            warnings.push(format!("{file}: daemon.unconfirmed_wait is under a minute; on a busy mail server a receipt's copy can take longer to arrive, and the receipt is then sent twice"));
        }
        if self.plain_passwords && super::secrets::readable_by_anyone(self.file) {
            warnings.push(format!("{file} holds passwords and anyone on this machine can read it: chmod o-r, or use password_env / password_file"));
        }
        warnings
    }

    pub(super) fn security(
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

    pub(super) fn password(
        &self,
        key: &str,
        raw: &RawPassword,
    ) -> Result<Option<Secret>, ConfigError> {
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
            return Ok(Some(Secret::from(p.as_str())));
        }
        // Read only when a connection is made (see `Secret`).
        if let Some(var) = &raw.password_env {
            let var = var.trim().to_string();
            if var.is_empty() {
                return Err(self.err(format!("{key}.password_env"), "empty variable name"));
            }
            let key = format!("{key}.password_env");
            let at = Some(self.locator.find(&key));
            return Ok(Some(Secret::env(self.file, key, var).at(at)));
        }
        if let Some(file) = &raw.password_file {
            let key = format!("{key}.password_file");
            let at = Some(self.locator.find(&key));
            let file = file.to_string_lossy().into_owned();
            return Ok(Some(Secret::file(self.file, key, file).at(at)));
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
        let auth = self.auth("smtp.auth", raw.auth.as_deref())?;
        let password = match (&auth, password) {
            (Auth::OAuth2(_), Some(_)) => {
                return Err(self.err(
                    "smtp.auth",
                    "OAuth2 logs in with a token: remove the password",
                ))
            }
            (Auth::OAuth2(_), None) if raw.user.is_none() => {
                return Err(self.err(
                    "smtp.user",
                    "OAuth2 needs the mailbox to send as: set user, e.g. \"noreply@kommun.se\"",
                ))
            }
            (Auth::OAuth2(_), None) => Some(Secret::from("")),
            (Auth::Password, p) => p,
        };
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
            auth,
            from,
            limits: self.limits(raw.max_per_minute, raw.max_per_day)?,
        })
    }

    fn limits(
        &self,
        per_minute: Option<u32>,
        per_day: Option<u64>,
    ) -> Result<crate::model::limits::Limits, ConfigError> {
        if per_minute == Some(0) {
            return Err(self.err(
                "smtp.max_per_minute",
                "0 would send nothing; leave it out for no limit (Exchange Online allows 30)",
            ));
        }
        if per_day == Some(0) {
            return Err(self.err("smtp.max_per_day", "0 would send nothing; leave it out for no limit (Exchange Online allows 10000 recipients)"));
        }
        Ok(crate::model::limits::Limits {
            per_minute,
            per_day,
        })
    }

    /// `auth = "password" | "oauth2:NAME"`.
    pub(super) fn auth(&self, key: &str, value: Option<&str>) -> Result<Auth, ConfigError> {
        let value = match value.map(str::trim) {
            None | Some("password") => return Ok(Auth::Password),
            Some(v) => v,
        };
        let Some(name) = value.strip_prefix("oauth2:") else {
            return Err(self.err(
                key,
                format!(
                    "{value:?}: write \"password\" or \"oauth2:NAME\" for an [oauth2.NAME] client"
                ),
            ));
        };
        match self.oauth2.get(name.trim()) {
            Some(c) => Ok(Auth::OAuth2(c.clone())),
            None if self.oauth2.is_empty() => Err(self.err(
                key,
                format!("there is no [oauth2.{name}] client: no [oauth2.NAME] is configured"),
            )),
            None => Err(self.err(
                key,
                format!(
                    "there is no [oauth2.{name}] client; configured: {}",
                    self.oauth2.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }

    pub(super) fn host(&self, key: &str, host: String) -> Result<String, ConfigError> {
        let h = host.trim();
        if h.is_empty() || h.contains(char::is_whitespace) {
            return Err(self.err(key, format!("{host:?} is not a host name")));
        }
        Ok(h.to_string())
    }

    pub(super) fn hours(
        &self,
        key: &str,
        value: Option<&str>,
    ) -> Result<Option<WorkingHours>, ConfigError> {
        value
            .map(|v| v.parse().map_err(|e| self.err(key, e)))
            .transpose()
    }

    pub(super) fn holidays(
        &self,
        key: &str,
        value: Option<&str>,
    ) -> Result<Option<HolidayRule>, ConfigError> {
        value
            .map(|v| v.parse().map_err(|e| self.err(key, e)))
            .transpose()
    }

    pub(super) fn email(&self, key: &str, email: &str) -> Result<String, ConfigError> {
        let e = email.trim().to_lowercase();
        let ok = e.parse::<lettre::Address>().is_ok();
        if !ok {
            return Err(self.err(key, format!("{email:?} is not a mail address")));
        }
        Ok(e)
    }
}
