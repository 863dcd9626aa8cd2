//! The checks of one `[[department]]`: its ids, its mailbox, its people, its categories, its
//! calendar and follow-up, each naming the key of a mistake. The checks run in the order of
//! the keys in the README's example, so the first mistake reported is the first one written.

use super::checker::{Checker, Defaults};
use super::oauth2::Auth;
use super::raw::{RawCalendar, RawDepartment, RawMailbox, RawOfficer, RawServer};
use super::{ConfigError, Department, FollowUp, Secret, Security, Server};
use crate::model::calendar::{Calendar, HolidayRule};
use crate::model::span::Span;
use crate::model::{ids, Category, CategoryWords, Contact, Language, Officer};
use std::collections::HashMap;

/// The mailbox of a department, checked.
struct Mailbox {
    email: String,
    auth: Auth,
    password: Secret,
    imap: Server,
}

/// The words naming the categories and the times to decide them.
struct Categories {
    default: Category,
    reply_within: HashMap<Category, Span>,
    decide_within: HashMap<Category, Span>,
    words: CategoryWords,
}

const NOT_A_CATEGORY: &str =
    "is not a category; use question, application, fault_report or complaint";

impl Checker<'_> {
    /// `department[i]` (`key`), checked.
    pub(super) fn department(
        &self,
        key: &str,
        mut d: RawDepartment,
        defaults: &Defaults<'_>,
    ) -> Result<Department, ConfigError> {
        self.department_ids(key, &d)?;
        let mailbox = self.mailbox(key, &d.mailbox, defaults.imap)?;
        let manager = Contact {
            name: d.manager.name.trim().to_string(),
            email: self.email(&format!("{key}.manager.email"), &d.manager.email)?,
        };
        let officers = self.officers(key, std::mem::take(&mut d.officers))?;
        let categories = self.categories(key, &d)?;
        let calendar = Calendar {
            tz: defaults.tz,
            hours: self
                .hours(&format!("{key}.working_hours"), d.working_hours.as_deref())?
                .or(defaults.hours)
                .unwrap_or_default(),
            holidays: self
                .holidays(&format!("{key}.holidays"), d.holidays.as_deref())?
                .or(defaults.holidays)
                .unwrap_or(HolidayRule::Swedish),
            extra_off: self.extra_off(key, &d, defaults)?,
        };
        let fault_types = self.fault_types(key, std::mem::take(&mut d.fault_type))?;
        let follow_up = self.follow_up(key, &d, defaults.calendar)?;
        let report = self.report_plan(key, &d.report_to, d.report_every.as_deref())?;
        let staff_language = match d.staff_language.as_deref() {
            None | Some("sv") => Language::Sv,
            Some("en") => Language::En,
            Some(other) => {
                return Err(self.err(
                    format!("{key}.staff_language"),
                    format!("{other:?}: use \"sv\" or \"en\""),
                ))
            }
        };
        Ok(Department {
            report,
            copies: d.copies.unwrap_or(true),
            staff_language,
            sent_folder: d.mailbox.sent_folder.clone(),
            follow_up,
            login: (d.mailbox.login.clone()).unwrap_or_else(|| d.mailbox.user.trim().to_string()),
            folder: (d.mailbox.folder.clone()).unwrap_or_else(|| "INBOX".to_string()),
            id: d.id,
            name: d.name.trim().to_string(),
            case_prefix: d.case_prefix,
            email: mailbox.email,
            password: mailbox.password,
            auth: mailbox.auth,
            imap: mailbox.imap,
            manager,
            officers,
            reply_within: d.reply_within.unwrap_or(defaults.reply),
            decide_within: categories.decide_within,
            category_reply_within: categories.reply_within,
            default_category: categories.default,
            category_words: categories.words,
            calendar,
            phone: d.phone,
            web: d.web,
            fault_types,
            templates: d.templates.as_deref().map(|p| self.path(p)),
        })
    }

    /// The department's days off beyond the holiday rule: `[calendar] extra_days_off` and
    /// its own, together (a klämdag of the municipality is off in every department; a local
    /// day off only in its own).
    fn extra_off(
        &self,
        key: &str,
        d: &RawDepartment,
        defaults: &Defaults<'_>,
    ) -> Result<Vec<chrono::NaiveDate>, ConfigError> {
        let own = self.days_off(
            &format!("{key}.extra_days_off"),
            d.extra_days_off.as_deref(),
        )?;
        let mut all = defaults.extra_off.clone();
        all.extend(own.unwrap_or_default());
        all.sort();
        all.dedup();
        Ok(all)
    }

    /// The department's id (used in the store and on the command line) and its case number
    /// prefix (see [`crate::model::ids::case_number`]).
    fn department_ids(&self, key: &str, d: &RawDepartment) -> Result<(), ConfigError> {
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
        if !ids::is_prefix(&d.case_prefix) {
            return Err(self.err(
                format!("{key}.case_prefix"),
                format!(
                    "{:?}: use 1 to 10 upper-case letters or digits, starting with a letter",
                    d.case_prefix
                ),
            ));
        }
        Ok(())
    }

    /// The mailbox: its address, how it logs in, and its server (from `[imap]` unless it
    /// names its own). A value from `[imap]` is named by its own key: that is the line to fix.
    fn mailbox(&self, key: &str, m: &RawMailbox, imap: &RawServer) -> Result<Mailbox, ConfigError> {
        let email = self.email(&format!("{key}.mailbox.user"), &m.user)?;
        let (auth_key, auth_value) = match &m.auth {
            Some(a) => (format!("{key}.mailbox.auth"), Some(a.as_str())),
            None => ("imap.auth".to_string(), imap.auth.as_deref()),
        };
        let auth = self.auth(&auth_key, auth_value)?;
        let password = self.password(&format!("{key}.mailbox"), &m.password)?;
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
        let own_or_imap = |own: bool, name: &str| match own {
            true => format!("{key}.mailbox.{name}"),
            false => format!("imap.{name}"),
        };
        let security = self.security(
            &own_or_imap(m.security.is_some(), "security"),
            m.security.as_deref().or(imap.security.as_deref()),
            Security::Tls,
        )?;
        let default_port = if security == Security::Tls { 993 } else { 143 };
        let host = (m.host.clone())
            .or_else(|| imap.host.clone())
            .ok_or_else(|| {
                self.err(
                    format!("{key}.mailbox.host"),
                    "no IMAP host: set [imap] host or this key",
                )
            })?;
        let imap = Server {
            host: self.host(&own_or_imap(m.host.is_some(), "host"), host)?,
            port: m.port.or(imap.port).unwrap_or(default_port),
            security,
            ca_file: imap.ca_file.as_deref().map(|p| self.path(p)),
        };
        Ok(Mailbox {
            email,
            auth,
            password,
            imap,
        })
    }

    /// The officers in round-robin order, then their planned absences: a substitute must be an
    /// officer of the same department, and not the absent officer.
    fn officers(&self, key: &str, raw: Vec<RawOfficer>) -> Result<Vec<Officer>, ConfigError> {
        if raw.is_empty() {
            return Err(self.err(
                format!("{key}.officers"),
                "a department needs at least one officer",
            ));
        }
        let mut officers = Vec::new();
        for (j, o) in raw.iter().enumerate() {
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
        for (j, o) in raw.into_iter().enumerate() {
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
                // Two absences of one person at once would leave it to chance which substitute
                // stands in.
                if let Some(b) = officers[j]
                    .absent
                    .iter()
                    .find(|b| b.from <= a.to && a.from <= b.to)
                {
                    return Err(self.err(
                        akey,
                        format!(
                            "{} – {} overlaps the absence {} – {} (standing in: {}) of the same officer: join them or move one",
                            a.from, a.to, b.from, b.to, b.substitute
                        ),
                    ));
                }
                officers[j].absent.push(a);
            }
        }
        Ok(officers)
    }

    /// The default category, the time to reply to and to decide each (a complaint: a week
    /// for both, the manager's promise), and the words that name each (`categories.<name>`).
    fn categories(&self, key: &str, d: &RawDepartment) -> Result<Categories, ConfigError> {
        let default = match d.category.as_deref() {
            None => Category::Question,
            Some(c) => Category::from_key(c).ok_or_else(|| {
                self.err(format!("{key}.category"), format!("{c:?} {NOT_A_CATEGORY}"))
            })?,
        };
        let base_decide = d.decide_within.unwrap_or(Span::Calendar(3 * 86_400));
        let mut decide_within: HashMap<Category, Span> =
            Category::ALL.iter().map(|c| (*c, base_decide)).collect();
        decide_within.insert(Category::Complaint, Span::Calendar(7 * 86_400));
        // The policy: a complaint is taken up by the manager within a week.
        let mut reply_within = HashMap::from([(Category::Complaint, Span::Calendar(7 * 86_400))]);
        let mut words = CategoryWords::default();
        for (name, c) in &d.categories {
            let cat = Category::from_key(name).ok_or_else(|| {
                self.err(
                    format!("{key}.categories.{name}"),
                    format!("{name:?} {NOT_A_CATEGORY}"),
                )
            })?;
            if let Some(s) = c.decide_within {
                decide_within.insert(cat, s);
            }
            if let Some(s) = c.reply_within {
                reply_within.insert(cat, s);
            }
            if let Some(list) = &c.words {
                let wkey = format!("{key}.categories.{name}.words");
                if list.is_empty() {
                    return Err(self.err(
                        wkey,
                        format!("no words: no mail would ever be found to be a {name}, so none would be handled as one; give at least one word, or leave words out for the built-in ones"),
                    ));
                }
                if let Some(i) = list.iter().position(|w| w.trim().is_empty()) {
                    return Err(self.err(
                        format!("{wkey}[{i}]"),
                        "an empty word would name every mail; remove it",
                    ));
                }
                words.set(cat, list);
            }
        }
        Ok(Categories {
            default,
            reply_within,
            decide_within,
            words,
        })
    }

    /// When reminders, escalations and the digest go out, from the department or `[calendar]`.
    fn follow_up(
        &self,
        key: &str,
        d: &RawDepartment,
        cal: &RawCalendar,
    ) -> Result<FollowUp, ConfigError> {
        let digest_key = if d.digest_at.is_some() {
            format!("{key}.digest_at")
        } else {
            "calendar.digest_at".to_string()
        };
        let digest_at = match d
            .digest_at
            .as_deref()
            .or(cal.digest_at.as_deref())
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
        Ok(FollowUp {
            remind_before: d.remind_before.or(cal.remind_before),
            escalate_to,
            escalate_again_after: (d.escalate_again_after.or(cal.escalate_again_after))
                .unwrap_or(Span::WorkingDays(1)),
            digest_at,
        })
    }
}
