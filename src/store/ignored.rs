//! What the registrar needs beside the cases: the mail that opened no case (so that nothing a
//! resident wrote vanishes without a trace, and a person can open a case from it after all),
//! receipts sent after all, and the loop breaker's memory of each sender.
//!
//! An ignored mail is kept as metadata only — addresses, subject, ids, times, the reason —
//! never its body, like a case (GDPR art. 5(1)(c), data minimisation); the body stays in the
//! department mailbox, found by the mailbox, UIDVALIDITY and UID kept here.

use super::{
    keys, tx_effects, tx_get, tx_mark, tx_new_case, tx_next, tx_put, Abort, Counters, Effects,
    MessageKey, Queued, Store, StoreError,
};
use crate::mail::message::Person;
use crate::rules::case::Case;
use crate::rules::decide::{Category, Language};
use crate::rules::loopbreak;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sled::transaction::ConflictableTransactionError;

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
    /// (`entry.id` is assigned here). Returns the entry's id, or `None` when the message was
    /// handled before. Unflushed, like the handled mark alone: lost in a crash, the message is
    /// read again and recorded again.
    pub fn record_ignored(
        &self,
        key: &MessageKey,
        note: &str,
        entry: &IgnoredMail,
    ) -> Result<Option<u64>, StoreError> {
        let handled = key.key();
        self.transaction_unflushed(|tx| {
            if tx.get(handled.as_bytes())?.is_some() {
                return Ok(None);
            }
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

    /// Opens a case from ignored mail `id`, atomically with its mails, its thread index and the
    /// entry's pointer to it, so that it is opened once. `build` works as for
    /// [`Store::open_case`] and gets the entry too. On disk when this returns.
    pub fn open_ignored(
        &self,
        id: u64,
        counter: (&str, i32),
        sender_today: &str,
        build: impl Fn(Counters, &IgnoredMail) -> Result<(Case, Effects), String>,
    ) -> Result<FromIgnored, StoreError> {
        let key = ignored_key(id);
        let rate_key = keys::rate(sender_today);
        let seq_key = keys::seq(counter.0, counter.1);
        self.transaction(|tx| {
            let Some(mut entry) = tx_get::<IgnoredMail>(tx, &key)? else {
                return Ok(FromIgnored::NoEntry);
            };
            if let Some(case) = entry.case {
                return Ok(FromIgnored::AlreadyOpened(case));
            }
            if let Some(m) = &entry.message_id {
                if let Some(case) = tx_get::<String>(tx, &keys::message(m))? {
                    return Ok(FromIgnored::MessageHasCase(case));
                }
            }
            let seq = tx_next(tx, &seq_key)?;
            let turn = tx_next(tx, &keys::turn(&entry.department))? - 1;
            let receipts_today = tx_get::<u64>(tx, &rate_key)?.unwrap_or(0);
            let counters = Counters {
                seq,
                turn,
                receipts_today,
            };
            let (case, effects) =
                build(counters, &entry)
                .map_err(|why| ConflictableTransactionError::Abort(Abort::Refused(why)))?;
            tx_new_case(tx, (&rate_key, receipts_today), &case, &effects)?;
            entry.case = Some(case.number.clone());
            tx_put(tx, &key, &entry)?;
            Ok(FromIgnored::Created(Box::new(case)))
        })
    }

    /// Queues the receipt of case `number` that was withheld when the case opened. `build`
    /// makes the receipt and records it on the case (or refuses). Exactly once: the receipt's
    /// Message-ID is derived from the case, and a receipt whose id the thread index or the
    /// outbox knows already is refused, also when two calls race. On disk when this returns.
    pub fn queue_receipt(
        &self,
        number: &str,
        build: impl Fn(&mut Case) -> Result<Queued, String>,
    ) -> Result<ReceiptQueued, StoreError> {
        let case_key = keys::case(number);
        self.transaction(|tx| {
            let Some(mut case) = tx_get::<Case>(tx, &case_key)? else {
                return Ok(ReceiptQueued::NoCase);
            };
            let mail = match build(&mut case) {
                Ok(mail) => mail,
                Err(why) => return Ok(ReceiptQueued::Refused(why)),
            };
            let id_key = keys::message(&mail.mail.id);
            let out_key = mail.key();
            if tx.get(id_key.as_bytes())?.is_some() || tx.get(out_key.as_bytes())?.is_some() {
                return Ok(ReceiptQueued::AlreadySent);
            }
            if !case.message_ids.contains(&mail.mail.id) {
                case.message_ids.push(mail.mail.id.clone());
            }
            tx_put(tx, &id_key, &case.number)?;
            tx_put(tx, &case_key, &case)?;
            let effects = Effects {
                mails: vec![mail.clone()],
                ..Effects::default()
            };
            tx_effects(tx, &effects)?;
            Ok(ReceiptQueued::Queued)
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
        for kv in self.kv.scan_prefix(keys::prefix::LOOP.as_bytes()) {
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
mod tests {
    use super::super::tests::{key, mail, open};
    use super::*;
    use crate::config::Contact;
    use crate::rules::case::State;
    use chrono::Duration;

    fn entry(subject: &str, msg_id: &str) -> IgnoredMail {
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
        let number = crate::rules::case::case_number("BMN", 2026, c.seq);
        let case = Case {
            number: number.clone(),
            department: e.department.clone(),
            category: e.category,
            language: e.language,
            resident: e.from.clone().unwrap_or_default(),
            subject: e.subject.clone().unwrap_or_default(),
            officer: Contact {
                name: "O".into(),
                email: "o@kommun.test".into(),
            },
            substitute_for: None,
            received: e.received,
            reply_due: e.received,
            decision_due: e.received,
            message_ids: e.message_id.iter().cloned().collect(),
            state: State::Open,
            events: vec![],
            answered_at: None,
            delay_told: false,
            flagged: None,
            no_receipt: None,
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

    #[test]
    fn an_ignored_mail_is_recorded_once_with_its_handled_mark() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let e = entry("Automatic reply: away", "a1@x");
        assert_eq!(
            store.record_ignored(&key(5), "automatic", &e).unwrap(),
            Some(1)
        );
        assert!(store.was_handled(&key(5)).unwrap());
        assert_eq!(
            store.record_ignored(&key(5), "automatic", &e).unwrap(),
            None
        );
        assert_eq!(
            store.record_ignored(&key(6), "automatic", &e).unwrap(),
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
            .record_ignored(&key(5), "automatic", &entry("Fråga", "a1@x"))
            .unwrap();
        let s = "sara@example.org/2026-01-01";
        let FromIgnored::Created(c) = store.open_ignored(1, ("BMN", 2026), s, build).unwrap()
        else {
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
            store.open_ignored(1, ("BMN", 2026), s, build).unwrap(),
            FromIgnored::AlreadyOpened(n) if n == "BMN-2026-0001"
        ));
        assert!(matches!(
            store.open_ignored(9, ("BMN", 2026), s, build).unwrap(),
            FromIgnored::NoEntry
        ));
        // The same mail ignored in another mailbox as a duplicate belongs to that case.
        store
            .record_ignored(&key(6), "duplicate", &entry("Fråga", "a1@x"))
            .unwrap();
        assert!(matches!(
            store.open_ignored(2, ("BMN", 2026), s, build).unwrap(),
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
        let receipt = |c: &mut Case| {
            c.log(Utc::now(), "receipt after all");
            Ok(Queued {
                rank: 0,
                mail: mail(&c.number),
            })
        };
        assert_eq!(
            store.queue_receipt(number, receipt).unwrap(),
            ReceiptQueued::AlreadySent
        );
        let again = |c: &mut Case| {
            Ok(Queued {
                rank: 0,
                mail: crate::mail::compose::Outgoing {
                    id: format!("kvittens.receipt.{}.later@kommun.test", c.number),
                    ..mail(&c.number)
                },
            })
        };
        assert_eq!(
            store.queue_receipt(number, again).unwrap(),
            ReceiptQueued::Queued
        );
        assert_eq!(
            store.queue_receipt(number, again).unwrap(),
            ReceiptQueued::AlreadySent
        );
        assert_eq!(store.pending().unwrap().len(), 2);
        let refuse = |_: &mut Case| Err("closed".to_string());
        assert_eq!(
            store.queue_receipt(number, refuse).unwrap(),
            ReceiptQueued::Refused("closed".into())
        );
        assert_eq!(
            store.queue_receipt("BMN-2026-0099", again).unwrap(),
            ReceiptQueued::NoCase
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
