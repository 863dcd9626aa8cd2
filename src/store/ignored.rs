//! What the registrar needs beside the cases: the mail that opened no case (so that nothing a
//! resident wrote vanishes without a trace, and a person can open a case from it after all),
//! receipts sent after all, and the loop breaker's memory of each sender.
//!
//! An ignored mail is kept as metadata only — addresses, subject, ids, times, the reason —
//! never its body, like a case (GDPR art. 5(1)(c), data minimisation); the body stays in the
//! department mailbox, found by the mailbox, UIDVALIDITY and UID kept here.

use super::change::{tx_new_case_counted, tx_unchanged};
use super::{
    keys, tx_effects, tx_get, tx_mark, tx_next, tx_put, Applied, Edit, Effects, MessageKey,
    NewCase, Queued, Store, StoreError,
};
use crate::model::tally::Tick;
use crate::model::Case;
use crate::model::Person;
use crate::model::{Category, Language};
use crate::rules::loopbreak;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use keys::{ignored as ignored_key, sender as sender_key};

/// A mail in a department inbox that opened no case: what a registrar sees in
/// `kvittens ignored`, and what `kvittens ignored open` needs to open a case from it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IgnoredMail {
    /// A short id, stable for the entry's life, shown in the list (1, 2, …).
    pub id: u64,
    /// The department id.
    pub department: String,
    /// The department mailbox it is in.
    pub mailbox: String,
    /// The mailbox's UIDVALIDITY when it was read.
    pub uid_validity: u32,
    /// Its UID there.
    pub uid: u32,
    /// When it reached the mailbox (IMAP INTERNALDATE).
    pub received: DateTime<Utc>,
    /// Its From address.
    pub from: Option<Person>,
    /// Its Reply-To address.
    pub reply_to: Option<Person>,
    /// Its subject, decoded and cleaned.
    pub subject: Option<String>,
    /// Its Message-ID.
    pub message_id: Option<String>,
    /// Its In-Reply-To and References ids (at most 20), so that a receipt sent later threads.
    #[serde(default)]
    pub references: Vec<String>,
    /// Why it opened no case: the reason's code (`automatic`, `internal`, `duplicate`, …).
    pub reason: String,
    /// What exactly was seen.
    pub detail: String,
    /// The category a case from it would have.
    pub category: Category,
    /// The language a receipt to it would have.
    pub language: Language,
    /// The case a registrar opened from it.
    #[serde(default)]
    pub case: Option<String>,
}

/// What [`Store::open_ignored`] did.
#[derive(Debug)]
pub enum FromIgnored {
    /// The case was recorded with its mails, and the entry points to it.
    Created(Box<Case>),
    /// No ignored mail has this id (never, or purged).
    NoEntry,
    /// A case was opened from it before.
    AlreadyOpened(String),
    /// Its Message-ID belongs to a case already (the same mail reached two mailboxes).
    MessageHasCase(String),
}

/// What [`Store::queue_receipt`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum ReceiptQueued {
    /// The receipt waits in the outbox.
    Queued,
    /// No such case.
    NoCase,
    /// The case's receipt was queued or sent before: it goes once.
    AlreadySent,
    /// The receipt may not go, and why.
    Refused(String),
}

impl Store {
    /// Marks a message handled without a case, atomically with its entry in the ignored list
    /// (`entry.id` is assigned here) and the `ticks` that count it in the report's tallies. Returns the entry's id, or `None` when the message was
    /// handled before. Unflushed, like the handled mark alone: lost in a crash, the message is
    /// read again and recorded again.
    pub fn record_ignored(
        &self,
        key: &MessageKey,
        note: &str,
        entry: &IgnoredMail,
        ticks: &[Tick],
    ) -> Result<Option<u64>, StoreError> {
        let handled = key.key();
        self.transaction_unflushed(|tx| {
            if tx.get(handled.as_bytes())?.is_some() {
                return Ok(None);
            }
            super::tally::tx_ticks(tx, ticks)?;
            let id = tx_next(tx, keys::IGNORED_SEQ)?;
            tx_put(
                tx,
                &ignored_key(id),
                &IgnoredMail {
                    id,
                    ..entry.clone()
                },
            )?;
            tx_mark(tx, &handled, note)?;
            Ok(Some(id))
        })
    }

    /// One ignored mail by id.
    pub fn ignored_mail(&self, id: u64) -> Result<Option<IgnoredMail>, StoreError> {
        self.get(&ignored_key(id))
    }

    /// Every ignored mail, in the order they were recorded.
    pub fn ignored_mails(&self) -> Result<Vec<IgnoredMail>, StoreError> {
        self.scan(keys::prefix::IGNORED)
    }

    /// Removes ignored mails (retention).
    pub fn remove_ignored(&self, ids: &[u64]) -> Result<(), StoreError> {
        self.transaction(|tx| {
            for id in ids {
                tx.remove(ignored_key(*id).as_bytes())?;
            }
            Ok(())
        })
    }

    /// Opens the case `new` from ignored mail `entry` (as read), atomically with its mails,
    /// its thread index and the entry's pointer to it, so that it is opened once. Stale when
    /// the entry or the counters changed since they were read. On disk when this returns.
    ///
    /// # Errors
    /// When the store fails.
    pub fn open_ignored(
        &self,
        entry: &IgnoredMail,
        new: &NewCase<'_>,
    ) -> Result<Applied<FromIgnored>, StoreError> {
        let key = ignored_key(entry.id);
        self.transaction(|tx| {
            let Some(now) = tx_get::<IgnoredMail>(tx, &key)? else {
                return Ok(Applied::Done(FromIgnored::NoEntry));
            };
            if let Some(case) = now.case.clone() {
                return Ok(Applied::Done(FromIgnored::AlreadyOpened(case)));
            }
            if let Some(m) = &now.message_id {
                if let Some(case) = tx_get::<String>(tx, &keys::message(m))? {
                    return Ok(Applied::Done(FromIgnored::MessageHasCase(case)));
                }
            }
            if now != *entry || !tx_new_case_counted(tx, new)? {
                return Ok(Applied::Stale);
            }
            let opened = IgnoredMail {
                case: Some(new.case.number.clone()),
                ..now
            };
            tx_put(tx, &key, &opened)?;
            Ok(Applied::Done(FromIgnored::Created(Box::new(
                new.case.clone(),
            ))))
        })
    }

    /// Queues the receipt `mail` of a case whose receipt was withheld when it opened; the case
    /// becomes `edit.after` (the caller records the receipt on it). Exactly once: the
    /// receipt's Message-ID is derived from the case, and a receipt whose id the thread index
    /// or the outbox knows already is refused, also when two calls race. On disk when this
    /// returns.
    ///
    /// # Errors
    /// When the store fails.
    pub fn queue_receipt(
        &self,
        edit: &Edit,
        mail: &Queued,
    ) -> Result<Applied<ReceiptQueued>, StoreError> {
        let id_key = keys::message(&mail.mail.id);
        let out_key = mail.key();
        let effects = Effects {
            mails: vec![mail.clone()],
            ..Effects::default()
        };
        self.transaction(|tx| {
            if tx.get(id_key.as_bytes())?.is_some() || tx.get(out_key.as_bytes())?.is_some() {
                return Ok(Applied::Done(ReceiptQueued::AlreadySent));
            }
            if !tx_unchanged(tx, edit)? {
                return Ok(Applied::Stale);
            }
            tx_put(tx, &id_key, &edit.after.number)?;
            super::open::tx_write_case(tx, Some(&edit.before), &edit.after)?;
            tx_effects(tx, &effects)?;
            Ok(Applied::Done(ReceiptQueued::Queued))
        })
    }

    /// The loop breaker's record of a sender (empty when there is none).
    pub fn sender_record(&self, email: &str) -> Result<loopbreak::Record, StoreError> {
        Ok(self.get(&sender_key(email))?.unwrap_or_default())
    }

    /// Stores the loop breaker's record of a sender. Unflushed: it is a heuristic's memory, and
    /// losing its last step in a crash costs one receipt at most.
    pub fn set_sender_record(
        &self,
        email: &str,
        record: &loopbreak::Record,
    ) -> Result<(), StoreError> {
        let key = sender_key(email);
        self.transaction_unflushed(|tx| tx_put(tx, &key, record))
    }

    /// Removes the loop breaker's records that say nothing any more at `now`; returns how many.
    pub fn prune_sender_records(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut stale = Vec::new();
        for kv in self.scan_prefix(keys::prefix::LOOP.as_bytes()) {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            // A record that cannot be read says nothing either.
            let old =
                serde_json::from_slice::<loopbreak::Record>(&v).map_or(true, |r| r.stale(now));
            if old {
                stale.push(k);
            }
        }
        for k in &stale {
            self.kv.remove(k).map_err(|e| self.err(e))?;
        }
        self.flush()?;
        Ok(stale.len())
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::tests::{edit, key, mail, open};
    use super::*;
    use crate::store::Counters;
    use chrono::Duration;

    pub(in crate::store) fn entry(subject: &str, msg_id: &str) -> IgnoredMail {
        IgnoredMail {
            id: 0,
            department: "bygg".into(),
            mailbox: "bygg@kommun.test".into(),
            uid_validity: 7,
            uid: 0,
            received: Utc::now(),
            from: Some(Person {
                name: Some("Sara Berg".into()),
                email: "sara@example.org".into(),
            }),
            reply_to: None,
            subject: Some(subject.into()),
            message_id: Some(msg_id.into()),
            references: vec![],
            reason: "automatic".into(),
            detail: "Auto-Submitted: auto-generated".into(),
            category: Category::Question,
            language: Language::Sv,
            case: None,
        }
    }

    fn build(c: Counters, e: &IgnoredMail) -> Result<(Case, Effects), String> {
        let number = crate::model::ids::case_number("BMN", 2026, c.seq);
        let case = Case {
            department: e.department.clone(),
            category: e.category,
            language: e.language,
            resident: e.from.clone().unwrap_or_default(),
            subject: e.subject.clone().unwrap_or_default(),
            received: e.received,
            reply_due: e.received,
            decision_due: e.received,
            message_ids: e.message_id.iter().cloned().collect(),
            ..crate::testkit::case(&number, &[])
        };
        Ok((
            case,
            Effects {
                mails: vec![Queued {
                    rank: 0,
                    mail: mail(&number),
                }],
                ..Effects::default()
            },
        ))
    }

    /// Opens a case from ignored mail `id` as the registrar would (an entry that is not there
    /// is handed over as read anyway, to see the store say so).
    fn open_from(store: &Store, id: u64) -> FromIgnored {
        let s = "sara@example.org/2026-01-01";
        loop {
            let e = store
                .ignored_mail(id)
                .unwrap()
                .unwrap_or_else(|| IgnoredMail {
                    id,
                    ..entry("x", "none@x")
                });
            let counters = store.next_counters("bygg", ("BMN", 2026), s).unwrap();
            let (c, effects) = build(counters, &e).unwrap();
            let new = NewCase {
                department: "bygg",
                key: None,
                message_id: e.message_id.as_deref(),
                counter: ("BMN", 2026),
                sender_today: s,
                counters,
                case: &c,
                effects: &effects,
            };
            if let Applied::Done(done) = store.open_ignored(&e, &new).unwrap() {
                return done;
            }
        }
    }

    #[test]
    fn an_ignored_mail_is_recorded_once_with_its_handled_mark() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let e = entry("Automatic reply: away", "a1@x");
        assert_eq!(
            store.record_ignored(&key(5), "automatic", &e, &[]).unwrap(),
            Some(1)
        );
        assert!(store.was_handled(&key(5)).unwrap());
        assert_eq!(
            store.record_ignored(&key(5), "automatic", &e, &[]).unwrap(),
            None
        );
        assert_eq!(
            store.record_ignored(&key(6), "automatic", &e, &[]).unwrap(),
            Some(2)
        );
        let listed = store.ignored_mails().unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].id, 1);
        assert_eq!(listed[0].subject.as_deref(), Some("Automatic reply: away"));
        assert_eq!(store.ignored_mail(2).unwrap().unwrap().id, 2);
        store.remove_ignored(&[1]).unwrap();
        assert!(store.ignored_mail(1).unwrap().is_none());
        assert_eq!(store.ignored_mails().unwrap().len(), 1);
    }

    #[test]
    fn a_case_is_opened_from_an_ignored_mail_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .record_ignored(&key(5), "automatic", &entry("Fråga", "a1@x"), &[])
            .unwrap();
        let FromIgnored::Created(c) = open_from(&store, 1) else {
            panic!("no case")
        };
        assert_eq!(c.number, "BMN-2026-0001");
        assert_eq!(
            store.ignored_mail(1).unwrap().unwrap().case,
            Some(c.number.clone())
        );
        assert_eq!(
            store.case_of_message("a1@x").unwrap().as_deref(),
            Some("BMN-2026-0001")
        );
        assert_eq!(store.pending().unwrap().len(), 1);
        assert!(matches!(
            open_from(&store, 1),
            FromIgnored::AlreadyOpened(n) if n == "BMN-2026-0001"
        ));
        assert!(matches!(open_from(&store, 9), FromIgnored::NoEntry));
        // The same mail ignored in another mailbox as a duplicate belongs to that case.
        store
            .record_ignored(&key(6), "duplicate", &entry("Fråga", "a1@x"), &[])
            .unwrap();
        assert!(matches!(
            open_from(&store, 2),
            FromIgnored::MessageHasCase(_)
        ));
        assert_eq!(store.cases().unwrap().len(), 1);
    }

    #[test]
    fn a_withheld_receipt_is_queued_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        open(&store, 1, "m1@x");
        let number = "BMN-2026-0001";
        // The test case's receipt is in the outbox already: refused.
        let logged = edit(&store, number, |c| c.log(Utc::now(), "receipt after all"));
        let first = Queued {
            rank: 0,
            mail: mail(number),
        };
        assert_eq!(
            store.queue_receipt(&logged, &first).unwrap(),
            Applied::Done(ReceiptQueued::AlreadySent)
        );
        let later = Queued {
            rank: 0,
            mail: crate::mail::outgoing::Outgoing {
                id: format!("kvittens.receipt.{number}.later@kommun.test"),
                ..mail(number)
            },
        };
        let plain = edit(&store, number, |_| {});
        assert_eq!(
            store.queue_receipt(&plain, &later).unwrap(),
            Applied::Done(ReceiptQueued::Queued)
        );
        assert_eq!(
            store.queue_receipt(&plain, &later).unwrap(),
            Applied::Done(ReceiptQueued::AlreadySent)
        );
        assert_eq!(store.pending().unwrap().len(), 2);
        assert_eq!(
            store.case_of_message(&later.mail.id).unwrap().as_deref(),
            Some(number)
        );
        // The events of refused attempts are not kept.
        assert!(store.case(number).unwrap().unwrap().events.is_empty());
    }

    #[test]
    fn sender_records_are_kept_and_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let now = Utc::now();
        let r = loopbreak::Record::default().receipt_queued(now);
        store.set_sender_record("Desk@Example.org", &r).unwrap();
        assert_eq!(store.sender_record("desk@example.org").unwrap(), r);
        assert_eq!(store.prune_sender_records(now).unwrap(), 0);
        assert_eq!(
            store.prune_sender_records(now + Duration::days(2)).unwrap(),
            1
        );
        assert_eq!(
            store.sender_record("desk@example.org").unwrap(),
            loopbreak::Record::default()
        );
    }
}
