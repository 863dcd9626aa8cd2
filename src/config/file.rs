//! The configuration file as written (serde's view of the TOML) and the checks that turn it into
//! a [`Config`], naming the key of every mistake.

use super::locate::{self, Locator};
use super::{Config, ConfigError, Department, FollowUp, Position, Secret, Security, Server, Smtp};
use crate::config::oauth2::Auth;
use crate::model::calendar::{Calendar, HolidayRule, WorkingHours};
use crate::model::span::Span;
use crate::model::Category;
use crate::model::{Absence, Contact, Officer};
use chrono_tz::Tz;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
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
            ConfigError {
                at: inner.span().map(|s| Position::of_offset(text, s.start)),
                ..ConfigError::new(
                    path,
                    if key == "." { String::new() } else { key },
                    inner.message().trim(),
                )
            }
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
    #[serde(default)]
    oauth2: BTreeMap<String, RawOAuth2>,
}

/// `[oauth2.NAME]`: a client that fetches tokens (see `crate::net::oauth2`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOAuth2 {
    provider: String,
    tenant: Option<String>,
    token_url: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_secret_env: Option<String>,
    client_secret_file: Option<PathBuf>,
    scope: Option<String>,
    service_account_file: Option<PathBuf>,
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
    loop_window: Option<Span>,
    loop_answers: Option<u32>,
    loop_hold: Option<Span>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServer {
    host: Option<String>,
    port: Option<u16>,
    security: Option<String>,
    ca_file: Option<PathBuf>,
    auth: Option<String>,
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
    auth: Option<String>,
    #[serde(flatten)]
    password: RawPassword,
    max_per_minute: Option<u32>,
    max_per_day: Option<u64>,
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
    auth: Option<String>,
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
    words: Option<Vec<String>>,
}

// ---- checking ------------------------------------------------------------------------------

/// The most quick answers in a row `daemon.loop_answers` may wait for: a mail loop sends a
/// receipt for each, so a higher count only lets a loop run longer (the mail loops RFC 3834
/// asks automatic responders to avoid).
const MAX_LOOP_ANSWERS: u32 = 100;

/// Reads an elapsed-time key: the value, its key name, the default in seconds.
type SpanReader<'a> = dyn Fn(Option<Span>, &str, u64) -> Result<Duration, ConfigError> + 'a;

struct Checker<'a> {
    file: &'a Path,
    /// Where keys are written, for mistakes found later (a secret that cannot be read).
    locator: &'a Locator<'a>,
    /// Whether the file itself holds a password (then it must not be world-readable).
    plain_passwords: bool,
    /// The checked `[oauth2.NAME]` clients, which `auth = "oauth2:NAME"` refers to.
    oauth2: BTreeMap<String, Arc<crate::config::oauth2::Client>>,
}

impl Checker<'_> {
    fn err(&self, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::new(self.file, key, message)
    }

    /// The loop breaker's `[daemon] loop_*` keys, checked: a window under a second would miss
    /// every machine and one over an hour would catch people who write twice; a single quick
    /// answer is what a person does too, so it takes at least two (or 0 for off).
    fn loop_rule(
        &self,
        daemon: &RawDaemon,
        secs: &SpanReader<'_>,
    ) -> Result<crate::rules::loopbreak::Rule, ConfigError> {
        let dflt = crate::rules::loopbreak::Rule::default();
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
        Ok(crate::rules::loopbreak::Rule {
            window: d(window),
            answers,
            hold: d(hold),
        })
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
        // Checked even when every mailbox sets its own: a mistake is not kept for later.
        self.auth("imap.auth", imap_defaults.auth.as_deref())?;
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
        let unconfirmed_wait = secs(
            raw.daemon.unconfirmed_wait,
            "daemon.unconfirmed_wait",
            10 * 60,
        )?;
        if unconfirmed_wait < Duration::from_secs(1) {
            return Err(self.err(
                "daemon.unconfirmed_wait",
                "must be at least 1s: it is how long a copy may take to arrive, and a copy that comes later means a receipt sent twice",
            ));
        }
        let loop_rule = self.loop_rule(&raw.daemon, &secs)?;
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
        if unconfirmed_wait < Duration::from_secs(60) {
            warnings.push(format!("{}: daemon.unconfirmed_wait is under a minute; on a busy mail server a receipt's copy can take longer to arrive, and the receipt is then sent twice", self.file.display()));
        }
        if self.plain_passwords {
            use std::os::unix::fs::PermissionsExt;
            if std::fs::metadata(self.file).is_ok_and(|m| m.permissions().mode() & 0o004 != 0) {
                warnings.push(format!("{} holds passwords and anyone on this machine can read it: chmod o-r, or use password_env / password_file", self.file.display()));
            }
        }
        let mut cfg = Config {
            trusted_authserv_ids: raw
                .daemon
                .trusted_authserv_ids
                .iter()
                .map(|s| s.trim().to_string())
                .collect(),
            receipts_per_sender_per_day: raw.daemon.receipts_per_sender_per_day.unwrap_or(10),
            retention: raw.daemon.retention,
            unconfirmed_wait,
            loop_rule,

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
            oauth2: self.oauth2.clone(),
            departments,
            text: self.locator.text().into(),
            staff: Vec::new(),
        };
        cfg.staff = cfg.gather_staff();
        Ok(cfg)
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
    ) -> Result<crate::rules::budget::Limits, ConfigError> {
        if per_minute == Some(0) {
            return Err(self.err(
                "smtp.max_per_minute",
                "0 would send nothing; leave it out for no limit (Exchange Online allows 30)",
            ));
        }
        if per_day == Some(0) {
            return Err(self.err("smtp.max_per_day", "0 would send nothing; leave it out for no limit (Exchange Online allows 10000 recipients)"));
        }
        Ok(crate::rules::budget::Limits {
            per_minute,
            per_day,
        })
    }

    /// `auth = "password" | "oauth2:NAME"`.
    fn auth(&self, key: &str, value: Option<&str>) -> Result<Auth, ConfigError> {
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

    fn oauth2_clients(
        &self,
        raw: &BTreeMap<String, RawOAuth2>,
    ) -> Result<BTreeMap<String, Arc<crate::config::oauth2::Client>>, ConfigError> {
        raw.iter()
            .map(|(name, c)| Ok((name.clone(), Arc::new(self.oauth2_client(name, c)?))))
            .collect()
    }

    fn oauth2_client(
        &self,
        name: &str,
        c: &RawOAuth2,
    ) -> Result<crate::config::oauth2::Client, ConfigError> {
        use crate::config::oauth2::{Provider, SecretSource};
        let key = format!("oauth2.{name}");
        let provider = match c.provider.trim() {
            "microsoft" => Provider::Microsoft,
            "google" => Provider::Google,
            "generic" => Provider::Generic,
            other => {
                return Err(self.err(
                    format!("{key}.provider"),
                    format!("{other:?}: use \"microsoft\", \"google\" or \"generic\""),
                ))
            }
        };
        let secrets = [
            c.client_secret.clone().map(SecretSource::Inline),
            c.client_secret_env.clone().map(SecretSource::Env),
            c.client_secret_file
                .as_deref()
                .map(|p| SecretSource::File(self.path(p))),
        ];
        if secrets.iter().flatten().count() > 1 {
            return Err(self.err(
                key,
                "give only one of client_secret, client_secret_env and client_secret_file",
            ));
        }
        let secret = secrets.into_iter().flatten().next();
        if let Some(url) = &c.token_url {
            let loopback = [
                "http://127.0.0.1:",
                "http://127.0.0.1/",
                "http://localhost:",
                "http://localhost/",
                "http://[::1]",
            ];
            if !url.starts_with("https://") && !loopback.iter().any(|p| url.starts_with(p)) {
                return Err(self.err(
                    format!("{key}.token_url"),
                    format!("{url:?}: the token endpoint must be https:// (plain http only on this machine)"),
                ));
            }
        }
        let token_url = match (provider, &c.tenant, &c.token_url) {
            (_, _, Some(url)) => Some(url.clone()),
            (Provider::Microsoft, Some(t), None) => Some(crate::config::oauth2::microsoft_token_url(t.trim())),
            (Provider::Microsoft, None, None) => {
                return Err(self.err(
                    format!("{key}.tenant"),
                    "microsoft needs the tenant (e.g. \"kommun.onmicrosoft.com\" or its id), or a token_url",
                ))
            }
            (Provider::Generic, _, None) => {
                return Err(self.err(format!("{key}.token_url"), "generic needs the token endpoint's URL"))
            }
            (Provider::Google, _, None) => None,
        };
        let client_id = c
            .client_id
            .clone()
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        match provider {
            Provider::Google => {
                if c.service_account_file.is_none() {
                    return Err(self.err(
                        format!("{key}.service_account_file"),
                        "google needs the service account's JSON key (service_account_file)",
                    ));
                }
                if secret.is_some() {
                    return Err(self.err(
                        key,
                        "google signs with the service account's key: remove the client secret",
                    ));
                }
            }
            Provider::Microsoft | Provider::Generic => {
                if client_id.is_empty() {
                    return Err(self.err(
                        format!("{key}.client_id"),
                        "missing: the application (client) id of the app registration",
                    ));
                }
                if secret.is_none() {
                    return Err(self.err(
                        key,
                        "no client secret: give client_secret_file, client_secret_env or client_secret",
                    ));
                }
                if c.service_account_file.is_some() {
                    return Err(self.err(
                        format!("{key}.service_account_file"),
                        "only for provider = \"google\"",
                    ));
                }
            }
        }
        let scope = c
            .scope
            .clone()
            .or_else(|| provider.default_scope().map(str::to_string))
            .unwrap_or_default();
        Ok(crate::config::oauth2::Client {
            name: name.to_string(),
            provider,
            token_url,
            client_id,
            secret,
            scope,
            service_account_file: c.service_account_file.as_deref().map(|p| self.path(p)),
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
        let (auth_key, auth_value) = match &d.mailbox.auth {
            Some(a) => (format!("{key}.mailbox.auth"), Some(a.as_str())),
            None => ("imap.auth".to_string(), imap.auth.as_deref()),
        };
        let auth = self.auth(&auth_key, auth_value)?;
        let password = self.password(&format!("{key}.mailbox"), &d.mailbox.password)?;
        let password = match (&auth, password) {
            (Auth::OAuth2(_), Some(_)) => {
                return Err(self.err(
                    format!("{key}.mailbox"),
                    format!(
                        "{auth_key} is OAuth2, which logs in with a token: remove the password"
                    ),
                ))
            }
            (Auth::OAuth2(_), None) => Some(Secret::from("")),
            (Auth::Password, p) => p,
        };
        let password = password.ok_or_else(|| {
            self.err(
                format!("{key}.mailbox"),
                "no password: give password, password_env or password_file",
            )
        })?;
        // A value from [imap] is named by its own key: that is the line to fix.
        let own_or_imap = |own: bool, name: &str| match own {
            true => format!("{key}.mailbox.{name}"),
            false => format!("imap.{name}"),
        };
        let security = self.security(
            &own_or_imap(d.mailbox.security.is_some(), "security"),
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
            host: self.host(&own_or_imap(d.mailbox.host.is_some(), "host"), host)?,
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
        let mut category_words = crate::model::CategoryWords::default();
        for (name, c) in &d.categories {
            let cat = Category::from_key(name).ok_or_else(|| self.err(format!("{key}.categories.{name}"), format!("{name:?} is not a category; use question, application, fault_report or complaint")))?;
            if let Some(s) = c.decide_within {
                decide_within.insert(cat, s);
            }
            if let Some(words) = &c.words {
                let wkey = format!("{key}.categories.{name}.words");
                if words.is_empty() {
                    return Err(self.err(
                        wkey,
                        format!("no words: no mail would ever be found to be a {name}, so none would be handled as one; give at least one word, or leave words out for the built-in ones"),
                    ));
                }
                if let Some(i) = words.iter().position(|w| w.trim().is_empty()) {
                    return Err(self.err(
                        format!("{wkey}[{i}]"),
                        "an empty word would name every mail; remove it",
                    ));
                }
                category_words.set(cat, words);
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
            None | Some("sv") => crate::model::Language::Sv,
            Some("en") => crate::model::Language::En,
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
            auth,
            imap,
            manager,
            officers,
            reply_within: d.reply_within.unwrap_or(default_reply),
            decide_within,
            default_category,
            category_words,
            calendar,
            phone: d.phone,
            web: d.web,
        })
    }
}
