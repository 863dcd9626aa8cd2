//! The outbox: mail waiting to go, mail in flight, and what became of it.
//!
//! SMTP has no two-phase commit: once the final dot has left, the server may have taken the
//! mail whether or not its answer ever arrives. So a mail is marked *in flight* (on disk) just
//! before its dot, and leaves the outbox when the answer is recorded. A mail still in flight
//! after a crash is resolved by evidence, not by guessing: mail to residents carries a copy to
//! the department's own mailbox in the same SMTP transaction, and when the mailbox watcher sees
//! that copy the mail is recorded as sent; when no copy has come after a while, it goes again.

use super::kv::KvTx;
use super::{keys, tx_get, tx_mark, tx_put, MessageKey, Store, StoreError, TxResult};
use crate::mail::outgoing::Outgoing;
use crate::model::Case;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// A mail in its place in the outbox. The outbox goes in `rank` order (0 first), then by
/// Message-ID; the caller chooses the rank (receipts go first: the resident is promised one
/// at once) — the store does not know what a receipt is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Queued {
    /// Its place in the outbox's order, 0 first.
    pub rank: u8,
    /// The mail.
    pub mail: Outgoing,
}

impl Queued {
    pub(super) fn key(&self) -> String {
        keys::outbox(self.rank, &self.mail.id)
    }
}

/// A line for a case's timeline, written by the caller and stored with an outbox change in the
/// same transaction: what became of a mail is in the case exactly when the outbox says so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// The case's number.
    pub case: String,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The line.
    pub what: String,
    /// Set as the case's flag for a person, when given.
    pub flag: Option<String>,
    /// A mail queued with the line, in the same transaction (the officer told that the
    /// receipt was refused), when the case is there.
    pub tell: Option<Queued>,
    /// What the mail's fate adds to the report's tallies (a receipt sent), written in the
    /// same transaction: counted exactly when the outbox lets the mail go, so never twice.
    pub ticks: Vec<crate::model::tally::Tick>,
}

/// What a mail's leaving the outbox did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gone {
    /// It left the outbox now (and its note, if any, is on its case).
    Left,
    /// It had left before (its copy was seen first, or it was recorded twice): nothing changed.
    Before,
}

/// What became of a mail, as the sender or the watcher saw it (for the caller's wording).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate<'a> {
    /// The SMTP server said it took it.
    Accepted,
    /// Its copy arrived in the department mailbox, so the server took it.
    Copied,
    /// The server refused it for good.
    Refused(&'a str),
}

/// A mail in flight put back into the outbox because no copy confirmed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Released {
    /// The mail, waiting again.
    pub mail: Outgoing,
}

/// A mail handed to the SMTP server whose answer is not recorded yet.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Flight {
    /// The mail's Message-ID.
    pub id: String,
    /// Its place in the outbox.
    key: String,
    /// When its final dot was about to go.
    pub since: DateTime<Utc>,
    /// The department mailbox its copy goes to (the envelope sender).
    pub mailbox: String,
}

impl Store {
    /// Mail waiting to be sent, in outbox order, leaving out mail in flight — flushed to disk
    /// first, so that no mail goes out whose case a crash could still take back.
    ///
    /// # Errors
    /// When the store cannot be read or flushed.
    pub fn pending(&self) -> Result<Vec<Queued>, StoreError> {
        self.flush()?;
        let flying: HashSet<String> = self.flights()?.into_iter().map(|f| f.id).collect();
        let mut mails = Vec::new();
        for kv in self.scan_prefix(keys::prefix::OUTBOX.as_bytes()) {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            let key = String::from_utf8_lossy(&k);
            let mail: Outgoing =
                serde_json::from_slice(&v).map_err(|e| self.fail(key.clone(), e))?;
            if flying.contains(&mail.id) {
                continue;
            }
            let rank = keys::outbox_rank(&key).unwrap_or(u8::MAX);
            mails.push(Queued { rank, mail });
        }
        Ok(mails)
    }

    /// Marks `q` in flight: its final dot is about to go to the SMTP server. Only mail with a
    /// copy is marked — without one, nothing could tell after a crash whether it went, and it
    /// is sent again either way. On disk when this returns.
    ///
    /// # Errors
    /// When the store cannot be written.
    pub fn take_off(&self, q: &Queued, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.take_off_unflushed(q, at)?;
        self.flush()
    }

    /// [`Store::take_off`] without the flush: the caller flushes before the final dot (the
    /// sender flushes the marks of the mails it sends at once together).
    ///
    /// # Errors
    /// When the store cannot be written.
    pub fn take_off_unflushed(&self, q: &Queued, at: DateTime<Utc>) -> Result<(), StoreError> {
        if !q.mail.copy {
            return Ok(());
        }
        let flight = Flight {
            id: q.mail.id.clone(),
            key: q.key(),
            since: at,
            mailbox: q.mail.envelope_from.clone(),
        };
        let key = keys::flight(&q.mail.id);
        self.transaction_unflushed(|tx| tx_put(tx, &key, &flight))
    }

    /// The server answered "try later" to a mail in flight: it waits in the outbox again, and
    /// `note` goes on its case. On disk when this returns.
    ///
    /// # Errors
    /// When the store cannot be written.
    pub fn ground(&self, q: &Queued, note: Option<&Note>) -> Result<(), StoreError> {
        let key = keys::flight(&q.mail.id);
        self.transaction(|tx| {
            tx.remove(key.as_bytes())?;
            tx_note(tx, note)
        })
    }

    /// Takes `q` out of the outbox (and out of flight) with `note` on its case, in one
    /// transaction; flushed unless `flushed` is false (an accepted mail: losing the record in a
    /// crash leaves a mail with a copy in flight, resolved by its copy, and one without is sent
    /// again). Once: when it has left already, nothing changes.
    ///
    /// # Errors
    /// When the store cannot be written.
    pub fn mark_sent(
        &self,
        q: &Queued,
        note: Option<&Note>,
        flushed: bool,
    ) -> Result<Gone, StoreError> {
        let place = q.key();
        let id = q.mail.id.clone();
        let apply = |tx: &dyn KvTx| tx_sent(tx, &id, &place, note);
        if flushed {
            self.transaction(apply)
        } else {
            self.transaction_unflushed(apply)
        }
    }

    /// The mail in flight with Message-ID `id`, if any (read to word its case's note before
    /// [`Store::confirm_copy`]).
    ///
    /// # Errors
    /// When the store cannot be read.
    pub fn flying(&self, id: &str) -> Result<Option<(Flight, Outgoing)>, StoreError> {
        let Some(flight) = self.get::<Flight>(&keys::flight(id))? else {
            return Ok(None);
        };
        Ok(self.get::<Outgoing>(&flight.key)?.map(|m| (flight, m)))
    }

    /// A copy of kvittens' own mail `id` arrived in a department mailbox (message `key`): the
    /// SMTP server took the mail. Marks the message handled and, when the mail is still in
    /// flight (kvittens stopped before recording the server's answer, or has not recorded it
    /// yet), takes it out of the outbox with `note` on its case. Returns whether it left now.
    ///
    /// # Errors
    /// When the store cannot be written.
    pub fn confirm_copy(
        &self,
        key: &MessageKey,
        id: &str,
        note: Option<&Note>,
    ) -> Result<Gone, StoreError> {
        let handled = key.key();
        let flight = keys::flight(id);
        // Unflushed: lost in a crash, the copy is read again and confirms again.
        self.transaction_unflushed(|tx| {
            tx_mark(tx, &handled, "a copy of kvittens' own mail")?;
            let Some(flight) = tx_get::<Flight>(tx, &flight)? else {
                return Ok(Gone::Before);
            };
            tx_sent(tx, id, &flight.key, note)
        })
    }

    /// Every mail in flight.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub fn flights(&self) -> Result<Vec<Flight>, StoreError> {
        self.scan(keys::prefix::FLIGHT)
    }

    /// Puts the mail in flight `flight` back into the outbox, with `note` on its case: no copy
    /// confirmed it, so it goes again. Returns the mail, or none when it is no longer in flight.
    ///
    /// # Errors
    /// When the store cannot be written.
    pub fn release(
        &self,
        flight: &Flight,
        note: impl Fn(&Outgoing) -> Option<Note>,
    ) -> Result<Option<Released>, StoreError> {
        let key = keys::flight(&flight.id);
        let mail = self.get::<Outgoing>(&flight.key)?;
        let note = mail.as_ref().and_then(&note);
        self.transaction(|tx| {
            if tx.remove(key.as_bytes())?.is_none() {
                return Ok(None);
            }
            let Some(mail) = tx_get::<Outgoing>(tx, &flight.key)? else {
                return Ok(None);
            };
            tx_note(tx, note.as_ref())?;
            Ok(Some(Released { mail }))
        })
    }

    /// Whether mail `id` is in flight.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub fn is_flying(&self, id: &str) -> Result<bool, StoreError> {
        self.has(&keys::flight(id))
    }

    /// Whether mail `id` waits in the outbox at `rank`.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub fn is_queued(&self, rank: u8, id: &str) -> Result<bool, StoreError> {
        self.has(&keys::outbox(rank, id))
    }

    /// Whether the store holds `key`.
    pub(super) fn has(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self
            .kv
            .get(key.as_bytes())
            .map_err(|e| self.err(e))?
            .is_some())
    }

    /// How many mails are in flight.
    ///
    /// # Errors
    /// None today (sled counts from memory); kept for a store that must ask a server.
    pub fn in_flight(&self) -> Result<usize, StoreError> {
        Ok(self.scan_prefix(keys::prefix::FLIGHT.as_bytes()).count())
    }
}

/// Adds the caller's line to a case's timeline (and its flag), if the case is there.
fn tx_note(tx: &dyn KvTx, note: Option<&Note>) -> TxResult<()> {
    let Some(note) = note else {
        return Ok(());
    };
    super::tally::tx_ticks(tx, &note.ticks)?;
    let key = keys::case(&note.case);
    if let Some(before) = tx_get::<Case>(tx, &key)? {
        let mut case = before.clone();
        if let Some(flag) = &note.flag {
            case.flagged = Some(flag.clone());
        }
        case.log(note.at, note.what.clone());
        super::open::tx_write_case(tx, Some(&before), &case)?;
        if let Some(q) = &note.tell {
            tx_put(tx, &q.key(), &q.mail)?;
        }
    }
    Ok(())
}

/// Takes mail `id` (at `place`) out of the outbox and out of flight, with `note` on its case —
/// once: when it has left already, nothing changes.
fn tx_sent(tx: &dyn KvTx, id: &str, place: &str, note: Option<&Note>) -> TxResult<Gone> {
    tx.remove(keys::flight(id).as_bytes())?;
    if tx.remove(place.as_bytes())?.is_none() {
        return Ok(Gone::Before);
    }
    tx_note(tx, note)?;
    Ok(Gone::Left)
}
