//! The configuration file as written: serde's view of the TOML, unknown keys refused. Nothing
//! here is checked beyond its type; [`super::checks`] turns it into a [`super::Config`].

use crate::model::span::Span;
use crate::model::Absence;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) daemon: RawDaemon,
    pub(super) imap: RawServer,
    pub(super) smtp: RawSmtp,
    #[serde(default)]
    pub(super) calendar: RawCalendar,
    #[serde(default)]
    pub(super) department: Vec<RawDepartment>,
    #[serde(default)]
    pub(super) oauth2: BTreeMap<String, RawOAuth2>,
    pub(super) web: Option<RawWeb>,
    #[serde(default)]
    pub(super) report: super::report::RawReport,
}

/// `[web]`: the web page behind an authenticating proxy (see `super::web`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWeb {
    pub(super) listen: Option<String>,
    pub(super) user_header: Option<String>,
    pub(super) trusted_proxies: Option<Vec<String>>,
    #[serde(default)]
    pub(super) admins: Vec<String>,
    #[serde(default)]
    pub(super) registrars: Vec<String>,
    pub(super) base_url: Option<String>,
}

/// `[oauth2.NAME]`: a client that fetches tokens (see `crate::net::oauth2`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOAuth2 {
    pub(super) provider: String,
    pub(super) tenant: Option<String>,
    pub(super) token_url: Option<String>,
    pub(super) client_id: Option<String>,
    pub(super) client_secret: Option<String>,
    pub(super) client_secret_env: Option<String>,
    pub(super) client_secret_file: Option<PathBuf>,
    pub(super) scope: Option<String>,
    pub(super) service_account_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDaemon {
    pub(super) store: PathBuf,
    pub(super) store_password_env: Option<String>,
    pub(super) store_password_file: Option<PathBuf>,
    pub(super) state_dir: Option<PathBuf>,
    pub(super) timezone: Option<String>,
    #[serde(default)]
    pub(super) internal_domains: Vec<String>,
    pub(super) templates: Option<PathBuf>,
    pub(super) backfill: Option<Span>,
    pub(super) poll_interval: Option<Span>,
    pub(super) idle_renew: Option<Span>,
    pub(super) listen: Option<String>,
    #[serde(default)]
    pub(super) trusted_authserv_ids: Vec<String>,
    pub(super) receipts_per_sender_per_day: Option<u64>,
    pub(super) retention: Option<Span>,
    pub(super) unconfirmed_wait: Option<Span>,
    pub(super) loop_window: Option<Span>,
    pub(super) loop_answers: Option<u32>,
    pub(super) loop_hold: Option<Span>,
    pub(super) notice_burst: Option<RawNoticeBurst>,
    pub(super) lease_seconds: Option<u32>,
}

/// `[daemon] notice_burst = { cases = 10, within = "5m" }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNoticeBurst {
    pub(super) cases: Option<u32>,
    pub(super) within: Option<Span>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    pub(super) host: Option<String>,
    pub(super) port: Option<u16>,
    pub(super) security: Option<String>,
    pub(super) ca_file: Option<PathBuf>,
    pub(super) auth: Option<String>,
    /// `[imap]` only: the cap on logins per second across every mailbox.
    pub(super) logins_per_second: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSmtp {
    pub(super) host: String,
    pub(super) port: Option<u16>,
    pub(super) security: Option<String>,
    pub(super) ca_file: Option<PathBuf>,
    pub(super) from: String,
    pub(super) user: Option<String>,
    pub(super) auth: Option<String>,
    #[serde(flatten)]
    pub(super) password: RawPassword,
    pub(super) max_per_minute: Option<u32>,
    pub(super) max_per_day: Option<u64>,
}

#[derive(Deserialize, Default)]
pub(super) struct RawPassword {
    pub(super) password: Option<String>,
    pub(super) password_env: Option<String>,
    pub(super) password_file: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCalendar {
    pub(super) working_hours: Option<String>,
    pub(super) holidays: Option<String>,
    pub(super) reply_within: Option<Span>,
    pub(super) remind_before: Option<Span>,
    pub(super) escalate_again_after: Option<Span>,
    pub(super) digest_at: Option<String>,
    pub(super) extra_days_off: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDepartment {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) case_prefix: String,
    pub(super) mailbox: RawMailbox,
    pub(super) manager: RawContact,
    pub(super) officers: Vec<RawOfficer>,
    pub(super) reply_within: Option<Span>,
    pub(super) decide_within: Option<Span>,
    pub(super) category: Option<String>,
    #[serde(default)]
    pub(super) categories: BTreeMap<String, RawCategory>,
    pub(super) working_hours: Option<String>,
    pub(super) holidays: Option<String>,
    pub(super) phone: Option<String>,
    pub(super) web: Option<String>,
    pub(super) remind_before: Option<Span>,
    pub(super) escalate_to: Option<RawContact>,
    pub(super) escalate_again_after: Option<Span>,
    pub(super) digest_at: Option<String>,
    pub(super) staff_language: Option<String>,
    pub(super) copies: Option<bool>,
    pub(super) extra_days_off: Option<Vec<String>>,
    pub(super) templates: Option<PathBuf>,
    /// `[[department.fault_type]]`: the fault catalogue.
    #[serde(default)]
    pub(super) fault_type: Vec<RawFaultType>,
    #[serde(default)]
    pub(super) report_to: Vec<String>,
    pub(super) report_every: Option<String>,
}

/// `[[department.fault_type]]`: one type of fault in the catalogue (see `super::fault`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFaultType {
    pub(super) name: String,
    pub(super) words: Vec<String>,
    pub(super) measure: String,
    pub(super) within: Span,
    pub(super) responsible: RawContact,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMailbox {
    pub(super) user: String,
    pub(super) login: Option<String>,
    #[serde(flatten)]
    pub(super) password: RawPassword,
    pub(super) folder: Option<String>,
    pub(super) sent_folder: Option<String>,
    pub(super) host: Option<String>,
    pub(super) port: Option<u16>,
    pub(super) security: Option<String>,
    pub(super) auth: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawContact {
    pub(super) name: String,
    pub(super) email: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOfficer {
    pub(super) name: String,
    pub(super) email: String,
    #[serde(default)]
    pub(super) absent: Vec<Absence>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCategory {
    pub(super) reply_within: Option<Span>,
    pub(super) decide_within: Option<Span>,
    pub(super) words: Option<Vec<String>>,
}
