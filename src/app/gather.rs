//! Officer notices in a burst of new cases (`[daemon] notice_burst`, the rule in
//! [`crate::rules::burst`]): a new case whose notice the burst holds keeps the resident's
//! message in the store, in the transaction that opens the case, and the schedule entry of
//! its gathering (`DueKind::Gathered`) sends one mail per officer listing the held cases, in
//! the transaction that removes them. So a crash loses no case from the gathered mail and
//! sends no notice twice; like every staff mail the gathered one has no copy (see the README's
//! *Exactly once*).

use crate::app::engine::Engine;
use crate::config::{Config, Department};
use crate::mail::notices;
use crate::model::{Case, Contact};
use crate::rules::burst::{self, Burst, Notice};
use crate::rules::schedule::{Due, DueKind};
use crate::store::{Edit, Effects, Gather, Held, StoreError};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// A new case's change to its officer's burst, and the schedule entry of a gathering it starts.
pub type Gathering = (Gather, Option<Due>);

/// What a new case `c` does to its officer's burst (read as `bursts`): its notice held, with
/// the resident's `message` to attach, when the case makes a burst — noted on the case — and
/// the burst counted on either way. `None` when gathering is off (`cases = 0`).
pub(crate) fn on_new_case(
    cfg: &Config,
    dept: &Department,
    c: &mut Case,
    bursts: &[(String, Burst)],
    message: &[u8],
    now: DateTime<Utc>,
) -> Option<Gathering> {
    let rule = &cfg.notice_burst;
    if rule.cases == 0 {
        return None;
    }
    let officer = c.officer.email.to_lowercase();
    let before = (bursts.iter())
        .find(|(o, _)| *o == officer)
        .map(|(_, b)| b.clone());
    let (notice, after) = burst::on_new_case(rule, &before.clone().unwrap_or_default(), now);
    let mut gather = Gather {
        department: dept.id.clone(),
        officer,
        before,
        after,
        hold: None,
        release: Vec::new(),
    };
    let Notice::Gather { due, starts } = notice else {
        return Some((gather, None));
    };
    c.log(
        now,
        format!(
            "officer notice to {} held for one gathered mail at {} (a burst: more than {} new cases for them within {} s; receipts go first)",
            c.officer.email,
            due.format("%Y-%m-%d %H:%M:%S UTC"),
            rule.cases,
            rule.within.num_seconds()
        ),
    );
    gather.hold = Some(Held {
        case: c.number.clone(),
        message: message.to_vec(),
    });
    let entry = starts.then(|| Due {
        at: due,
        department: dept.id.clone(),
        case: None,
        kind: DueKind::Gathered,
        deadline: None,
    });
    Some((gather, entry))
}

impl Engine {
    /// The gathered mails of `dept` due by `now`, one per officer whose gathering is due: the
    /// mail listing the held cases, a line on each case's timeline (in `cases`, the edits of
    /// the batch being fired), and the held notices released — all into `effects`, applied
    /// only if the officer's burst is still as read.
    ///
    /// # Errors
    /// When the store fails.
    pub(crate) fn plan_gathered(
        &self,
        dept: &Department,
        now: DateTime<Utc>,
        cases: &mut BTreeMap<String, Edit>,
        effects: &mut Effects,
    ) -> Result<(), StoreError> {
        for (officer, burst) in self.store.bursts(&dept.id)? {
            let Some(at) = burst.gathering.filter(|at| *at <= now) else {
                continue;
            };
            let held = self.store.held(&dept.id, &officer)?;
            for h in &held {
                if !cases.contains_key(&h.case) {
                    // A case erased meanwhile is left out of the mail; its notice is released.
                    if let Some(before) = self.store.case(&h.case)? {
                        let after = before.clone();
                        cases.insert(h.case.clone(), Edit { before, after });
                    }
                }
            }
            let listed: Vec<&Held> = held
                .iter()
                .filter(|h| cases.contains_key(&h.case))
                .collect();
            if !listed.is_empty() {
                self.gathered_mail(dept, &officer, at, now, &listed, cases, effects);
            }
            effects.gather.push(Gather {
                department: dept.id.clone(),
                officer,
                after: burst::gathered(&burst),
                before: Some(burst),
                hold: None,
                release: held.into_iter().map(|h| h.case).collect(),
            });
        }
        Ok(())
    }

    /// Builds the gathered mail to `officer` of the `listed` cases (each in `cases`), queues it
    /// in `effects` and notes it on each case — or notes why it could not be built.
    #[allow(clippy::too_many_arguments)]
    fn gathered_mail(
        &self,
        dept: &Department,
        officer: &str,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
        listed: &[&Held],
        cases: &mut BTreeMap<String, Edit>,
        effects: &mut Effects,
    ) {
        let (cfg, templates) = (self.cfg(), self.templates());
        let built = {
            let rows: Vec<(&Case, &[u8])> = (listed.iter())
                .filter_map(|h| Some((&cases.get(&h.case)?.after, h.message.as_slice())))
                .collect();
            // The officer as the cases name them (they were held for this address).
            let contact = (rows.iter())
                .map(|(c, _)| &c.officer)
                .find(|o| o.email.eq_ignore_ascii_case(officer))
                .cloned()
                .unwrap_or_else(|| Contact {
                    name: officer.to_string(),
                    email: officer.to_string(),
                });
            notices::gathered(&cfg, dept, &templates, &contact, &rows, at, now)
        };
        let line = match &built {
            Ok(mail) => format!(
                "officer notice to {officer} queued in one gathered mail listing {} new case(s) of a burst (Message-ID <{}>)",
                listed.len(),
                mail.id
            ),
            Err(e) => format!("the gathered officer notice to {officer} could not be built: {e}"),
        };
        for h in listed {
            if let Some(edit) = cases.get_mut(&h.case) {
                edit.after.log(now, line.clone());
            }
        }
        if let Ok(mail) = built {
            effects.mails.push(super::outbox::queued(mail));
        }
    }
}
