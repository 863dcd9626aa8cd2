//! The checker every part of the config check extends: the file being checked, where its keys
//! are written, and what the departments take from `[imap]` and `[calendar]`. Its methods are
//! spread by subject over `checks` (the file, `[daemon]`, `[smtp]`), `department` and
//! `clients` (`[oauth2.NAME]`); this file holds only what they all share.

use super::locate::Locator;
use super::oauth2::Client;
use super::raw::{RawCalendar, RawServer};
use super::ConfigError;
use crate::model::calendar::{HolidayRule, WorkingHours};
use crate::model::span::Span;
use chrono_tz::Tz;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Checks the raw file, key by key; every mistake names its key (placed at its line later).
pub(super) struct Checker<'a> {
    pub(super) file: &'a Path,
    /// Where keys are written, for mistakes found later (a secret that cannot be read).
    pub(super) locator: &'a Locator<'a>,
    /// Whether the file itself holds a password (then it must not be world-readable).
    pub(super) plain_passwords: bool,
    /// The checked `[oauth2.NAME]` clients, which `auth = "oauth2:NAME"` refers to.
    pub(super) oauth2: BTreeMap<String, Arc<Client>>,
}

/// What every department takes from `[imap]` and `[calendar]` unless it says otherwise.
pub(super) struct Defaults<'a> {
    /// `[imap]`.
    pub imap: &'a RawServer,
    /// `[daemon] timezone`.
    pub tz: Tz,
    /// `[calendar] working_hours`.
    pub hours: Option<WorkingHours>,
    /// `[calendar] holidays`.
    pub holidays: Option<HolidayRule>,
    /// `[calendar] reply_within`.
    pub reply: Span,
    /// `[calendar] extra_days_off`: days off for every department.
    pub extra_off: Vec<chrono::NaiveDate>,
    /// The rest of `[calendar]` (follow-up times).
    pub calendar: &'a RawCalendar,
}

impl Checker<'_> {
    pub(super) fn err(&self, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::new(self.file, key, message)
    }

    pub(super) fn path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.file.parent().unwrap_or(Path::new(".")).join(p)
        }
    }
}
