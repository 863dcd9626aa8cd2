//! The outbox: mail waiting to go, mail in flight, and what became of it.
//!
//! SMTP has no two-phase commit: once the final dot has left, the server may have taken the
//! mail whether or not its answer ever arrives. So a mail is marked *in flight* (on disk) just
//! before its dot, and leaves the outbox when the answer is recorded. A mail still in flight
//! after a crash is resolved by evidence, not by guessing: mail to residents carries a copy to
//! the department's own mailbox in the same SMTP transaction, and when the mailbox watcher sees
//! that copy the mail is recorded as sent; when no copy has come after a while, it goes again.

use super::{tx_get, tx_put, MessageKey, Store, StoreError, TxResult};
use crate::mail::outgoing::Outgoing;
use crate::model::Case;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sled::transaction::TransactionalTree;
use std::collections::HashSet;

/// Receipts sort before everything else in the outbox: the resident is promised one at once.
pub(super) fn outbox_key(mail: &Outgoing) -> String {
    let rank = match mail.kind {
        crate::model::Kind::Receipt => 0,
        _ => 1,
    };
    format!("outbox/{rank}/{}", mail.id)
}

fn flight_key(id: &str) -> String {
    format!("flight/{id}")
}

/// A mail handed to the SMTP server whose answer is not recorded yet.
#[derive(Debug, Serialize, Deserialize)]
struct Flight {
    /// The mail's Message-ID.
    id: String,
    /// Its place in the outbox.
    key: String,
    /// When its final dot was about to go.
    since: DateTime<Utc>,
    /// The department mailbox its copy goes to (the envelope sender).
    mailbox: String,
}

/// What became of a mail, for its case's timeline.
#[derive(Clone, Copy)]
enum Fate<'a> {
    /// The SMTP server said it took it.
    Accepted,
    /// Its copy arrived in the department mailbox, so the server took it.
    Copied,
    /// The server refused it for good.
    Refused(&'a str),
}

impl Store {
    /// Mail waiting to be sent, receipts first, leaving out mail in flight — flushed to disk
    /// first, so that no mail goes out whose case a crash could still take back.
    pub fn pending(&self) -> Result<Vec<Outgoing>, StoreError> {
        self.flush()?;
        let flying: HashSet<String> = self
            .scan::<Flight>("flight/")?
            .into_iter()
            .map(|f| f.id)
            .collect();
        let mut mails: Vec<Outgoing> = self.scan("outbox/")?;
        mails.retain(|m| !flying.contains(&m.id));
        Ok(mails)
    }

    /// Marks `mail` in flight: its final dot is about to go to the SMTP server. Only mail with a
    /// copy is marked — without one, nothing could tell after a crash whether it went, and it
    /// is sent again either way. On disk when this returns.
    pub fn take_off(&self, mail: &Outgoing, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.take_off_unflushed(mail, at)?;
        self.flush()
    }

    /// [`Store::take_off`] without the flush: the caller flushes before the final dot (the
    /// sender flushes the marks of the mails it sends at once together).
    pub fn take_off_unflushed(&self, mail: &Outgoing, at: DateTime<Utc>) -> Result<(), StoreError> {
        if !mail.copy {
            return Ok(());
        }
        let flight = Flight {
            id: mail.id.clone(),
            key: outbox_key(mail),
            since: at,
            mailbox: mail.envelope_from.clone(),
        };
        let key = flight_key(&mail.id);
        self.transaction_unflushed(|tx| tx_put(tx, &key, &flight))
    }

    /// The server answered "try later" to a mail in flight: it waits in the outbox again.
    pub fn ground(&self, mail: &Outgoing, at: DateTime<Utc>, why: &str) -> Result<(), StoreError> {
        let case_key = format!("case/{}", mail.case);
        let key = flight_key(&mail.id);
        self.transaction(|tx| {
            tx.remove(key.as_bytes())?;
            note(tx, &case_key, at, || {
                format!("{} not taken yet ({why}); queued again", mail.kind.word())
            })
        })
    }

    /// [`Store::mark_sent`] of an accepted mail without the flush. Safe to lose in a crash: a
    /// mail with a copy is then still in flight and resolved by its copy; one without is sent
    /// again.
    pub fn mark_sent_unflushed(
        &self,
        mail: &Outgoing,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.transaction_unflushed(|tx| tx_sent(tx, &outbox_key(mail), mail, at, Fate::Accepted))
    }

    /// Records that the SMTP server accepted `mail` (or refused it for good, with `failure`):
    /// it leaves the outbox and the case's timeline says so.
    pub fn mark_sent(
        &self,
        mail: &Outgoing,
        at: DateTime<Utc>,
        failure: Option<&str>,
    ) -> Result<(), StoreError> {
        let fate = match failure {
            None => Fate::Accepted,
            Some(why) => Fate::Refused(why),
        };
        self.transaction(|tx| tx_sent(tx, &outbox_key(mail), mail, at, fate))
    }

    /// A copy of kvittens' own mail `id` arrived in a department mailbox (message `key`): the
    /// SMTP server took the mail. Marks the message handled and, when the mail is still in
    /// flight (kvittens stopped before recording the server's answer, or has not recorded it
    /// yet), records it as sent. Returns the case of a mail recorded so.
    pub fn confirm_copy(
        &self,
        key: &MessageKey,
        id: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        let handled = key.key();
        let flight = flight_key(id);
        // Unflushed: lost in a crash, the copy is read again and confirms again.
        self.transaction_unflushed(|tx| {
            tx_put(tx, &handled, &"a copy of kvittens' own mail")?;
            let Some(flight) = tx_get::<Flight>(tx, &flight)? else {
                return Ok(None);
            };
            let Some(mail) = tx_get::<Outgoing>(tx, &flight.key)? else {
                return Ok(None);
            };
            tx_sent(tx, &flight.key, &mail, at, Fate::Copied)?;
            Ok(Some(mail.case))
        })
    }

    /// Mail to residents that was in flight when kvittens stopped, whose copy has not reached
    /// `mailbox` although that mailbox was read through after `cutoff`: the server never took
    /// it, so it goes again. Returns the mails released.
    pub fn release_unconfirmed(
        &self,
        mailbox: &str,
        cutoff: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<Vec<Outgoing>, StoreError> {
        self.release(|f| f.mailbox == mailbox && f.since <= cutoff, at)
    }

    /// Mail in flight whose copy went to a mailbox kvittens no longer watches (the department's
    /// address changed, or the department went, since the crash): no copy can confirm it, so it
    /// goes again rather than wait for ever.
    pub fn release_orphans(
        &self,
        watched: &[String],
        at: DateTime<Utc>,
    ) -> Result<Vec<Outgoing>, StoreError> {
        self.release(
            |f| !watched.iter().any(|w| w.eq_ignore_ascii_case(&f.mailbox)),
            at,
        )
    }

    fn release(
        &self,
        which: impl Fn(&Flight) -> bool,
        at: DateTime<Utc>,
    ) -> Result<Vec<Outgoing>, StoreError> {
        let mut released = Vec::new();
        for flight in self.scan::<Flight>("flight/")? {
            if !which(&flight) {
                continue;
            }
            let key = flight_key(&flight.id);
            let mail = self.transaction(|tx| {
                if tx.remove(key.as_bytes())?.is_none() {
                    return Ok(None);
                }
                let Some(mail) = tx_get::<Outgoing>(tx, &flight.key)? else {
                    return Ok(None);
                };
                note(tx, &format!("case/{}", mail.case), at, || {
                    format!(
                        "{} to {}: kvittens stopped while sending it and no copy of it reached the department mailbox; sending it again",
                        mail.kind.word(),
                        mail.to.join(", ")
                    )
                })?;
                Ok(Some(mail))
            })?;
            released.extend(mail);
        }
        Ok(released)
    }

    /// Whether kvittens' own mail `id` is in flight or was sent: only then can a message with
    /// that id in a department mailbox be its copy. A sent mail has left the outbox and is
    /// still named by its case; a mail waiting in the outbox has not gone yet, and one no case
    /// names was never kvittens' (or was purged with its case).
    pub fn went(&self, id: &str) -> Result<bool, StoreError> {
        let has = |key: String| {
            self.kv
                .contains_key(key.as_bytes())
                .map_err(|e| self.err(e))
        };
        if has(flight_key(id))? {
            return Ok(true);
        }
        if self.case_of_message(id)?.is_none() {
            return Ok(false);
        }
        // Both ranks of `outbox_key`.
        for rank in 0..2 {
            if has(format!("outbox/{rank}/{id}"))? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// How many mails are in flight.
    pub fn in_flight(&self) -> Result<usize, StoreError> {
        Ok(self.kv.scan_prefix(b"flight/").count())
    }

    /// When the longest-waiting unconfirmed mail with a copy to `mailbox` went into flight.
    pub fn unconfirmed_since(&self, mailbox: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self
            .scan::<Flight>("flight/")?
            .into_iter()
            .filter(|f| f.mailbox == mailbox)
            .map(|f| f.since)
            .min())
    }
}

/// Adds a line to a case's timeline, if the case is there.
fn note(
    tx: &TransactionalTree,
    case_key: &str,
    at: DateTime<Utc>,
    what: impl Fn() -> String,
) -> TxResult<()> {
    if let Some(mut case) = tx_get::<Case>(tx, case_key)? {
        case.log(at, what());
        tx_put(tx, case_key, &case)?;
    }
    Ok(())
}

/// Takes `mail` (at `place`) out of the outbox and writes what became of it into its case's
/// timeline — once: when it has left already (its copy was seen first), nothing changes.
fn tx_sent(
    tx: &TransactionalTree,
    place: &str,
    mail: &Outgoing,
    at: DateTime<Utc>,
    fate: Fate<'_>,
) -> TxResult<()> {
    tx.remove(flight_key(&mail.id).as_bytes())?;
    if tx.remove(place.as_bytes())?.is_none() {
        return Ok(());
    }
    let case_key = format!("case/{}", mail.case);
    let (what, to) = (mail.kind.word(), mail.to.join(", "));
    if let Some(mut case) = tx_get::<Case>(tx, &case_key)? {
        match fate {
            Fate::Accepted => case.log(at, format!("{what} sent to {to}")),
            Fate::Copied => case.log(
                at,
                format!("{what} sent to {to} (confirmed by its copy in the department mailbox)"),
            ),
            Fate::Refused(why) => {
                case.flagged = Some(format!("{what} could not be delivered"));
                case.log(at, format!("{what} to {to} could not be delivered: {why}"));
            }
        }
        tx_put(tx, &case_key, &case)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::{key, mail, open};
    use super::*;
    use crate::model::Kind;

    fn timeline(store: &Store) -> Vec<String> {
        let case = store.case("BMN-2026-0001").unwrap().unwrap();
        case.events.into_iter().map(|e| e.what).collect()
    }

    fn sent_lines(store: &Store) -> usize {
        timeline(store)
            .iter()
            .filter(|w| w.starts_with("receipt sent"))
            .count()
    }

    #[test]
    fn sent_mail_leaves_the_outbox_and_enters_the_timeline() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        open(&store, 1, "m1@x");
        let m = store.pending().unwrap().remove(0);
        store.take_off(&m, Utc::now()).unwrap();
        store.mark_sent(&m, Utc::now(), None).unwrap();
        assert!(store.pending().unwrap().is_empty());
        assert_eq!(store.unconfirmed_since("bygg@kommun.test").unwrap(), None);
        assert_eq!(sent_lines(&store), 1, "{:?}", timeline(&store));
    }

    #[test]
    fn mail_in_flight_survives_a_restart_and_waits_for_its_copy() {
        let dir = tempfile::tempdir().unwrap();
        let since = Utc::now();
        {
            let store = Store::open(dir.path()).unwrap();
            open(&store, 1, "m1@x");
            let m = store.pending().unwrap().remove(0);
            store.take_off(&m, since).unwrap();
            // The server's answer, recorded unflushed, is lost with the process.
        }
        let store = Store::open(dir.path()).unwrap();
        assert!(
            store.pending().unwrap().is_empty(),
            "in flight: not pending"
        );
        assert_eq!(
            store.unconfirmed_since("bygg@kommun.test").unwrap(),
            Some(since)
        );
        let id = mail("BMN-2026-0001").id;
        let case = store.confirm_copy(&key(2), &id, Utc::now()).unwrap();
        assert_eq!(case.as_deref(), Some("BMN-2026-0001"));
        assert!(store.was_handled(&key(2)).unwrap());
        assert!(store.pending().unwrap().is_empty());
        assert_eq!(store.unconfirmed_since("bygg@kommun.test").unwrap(), None);
        assert!(timeline(&store)
            .iter()
            .any(|w| w.contains("confirmed by its copy")));
        // A later record of the same mail (or a second copy) changes nothing.
        store
            .mark_sent(&mail("BMN-2026-0001"), Utc::now(), None)
            .unwrap();
        assert_eq!(store.confirm_copy(&key(3), &id, Utc::now()).unwrap(), None);
        assert_eq!(sent_lines(&store), 1, "{:?}", timeline(&store));
    }

    #[test]
    fn mail_without_its_copy_goes_again_only_after_the_wait() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        open(&store, 1, "m1@x");
        let m = store.pending().unwrap().remove(0);
        let since = Utc::now();
        store.take_off(&m, since).unwrap();
        let before = since - chrono::Duration::seconds(1);
        let released = store.release_unconfirmed("bygg@kommun.test", before, Utc::now());
        assert!(released.unwrap().is_empty(), "released before its time");
        let other = store.release_unconfirmed("other@kommun.test", since, Utc::now());
        assert!(other.unwrap().is_empty(), "released by another mailbox");
        let released = store
            .release_unconfirmed("bygg@kommun.test", since, Utc::now())
            .unwrap();
        assert_eq!(released, vec![m.clone()]);
        assert_eq!(store.pending().unwrap(), vec![m]);
        assert!(timeline(&store)
            .iter()
            .any(|w| w.contains("sending it again")));
    }

    #[test]
    fn only_mail_with_a_copy_is_marked_in_flight() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        open(&store, 1, "m1@x");
        let staff = Outgoing {
            id: "kvittens.reminder.BMN-2026-0001@kommun.test".into(),
            kind: Kind::Reminder,
            copy: false,
            ..mail("BMN-2026-0001")
        };
        assert!(store.queue_digest("bygg", Utc::now(), &staff).unwrap());
        store.take_off(&staff, Utc::now()).unwrap();
        assert_eq!(store.in_flight().unwrap(), 0);
        assert_eq!(store.pending().unwrap().len(), 2, "both still pending");
    }

    #[test]
    fn mail_whose_mailbox_is_no_longer_watched_goes_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        open(&store, 1, "m1@x");
        let m = store.pending().unwrap().remove(0);
        store.take_off(&m, Utc::now()).unwrap();
        let watched = vec!["BYGG@kommun.test".to_string()];
        assert!(store
            .release_orphans(&watched, Utc::now())
            .unwrap()
            .is_empty());
        let watched = vec!["bygg2@kommun.test".to_string()];
        assert_eq!(
            store.release_orphans(&watched, Utc::now()).unwrap(),
            vec![m.clone()]
        );
        assert_eq!(store.pending().unwrap(), vec![m]);
    }

    #[test]
    fn try_later_puts_the_mail_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        open(&store, 1, "m1@x");
        let m = store.pending().unwrap().remove(0);
        store.take_off(&m, Utc::now()).unwrap();
        store.ground(&m, Utc::now(), "452 mailbox full").unwrap();
        assert_eq!(store.pending().unwrap(), vec![m]);
        assert!(timeline(&store).iter().any(|w| w.contains("452")));
    }
}
