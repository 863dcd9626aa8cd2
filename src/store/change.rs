//! Changes to cases, each applied whole in one transaction, as values the caller prepared.
//!
//! The store does not decide what a case becomes: `app` reads what it needs, works out the
//! change (the case after it, its mails and schedule entries) and hands it over; the store
//! applies it only if what `app` read is still so (the case unchanged, the counters where
//! they were, the message not handled meanwhile) and says [`Applied::Stale`] otherwise, and
//! `app` reads again and retries. So two mailboxes, the clock and a command can work on the
//! same case at once, and each change is still all there or not there after a crash.

use super::kv::KvTx;
use super::open::tx_write_case;
use super::{
    keys, tx_effects, tx_get, tx_mark, tx_new_case, tx_put, Counters, DueKey, Effects, MessageKey,
    Opened, Store, StoreError, TxResult,
};
use crate::model::Case;

/// What a change read from the store before: applied or found stale.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied<T> {
    /// Applied; what it did.
    Done(T),
    /// Something it was worked out from changed meanwhile: nothing was written; read again.
    Stale,
}

/// A case as the caller read it and as it is to be.
#[derive(Clone, Debug, PartialEq)]
pub struct Edit {
    /// As read.
    pub before: Case,
    /// As it is to be.
    pub after: Case,
}

/// A new case for a message, worked out from the counters the store gave
/// ([`Store::next_counters`]).
#[derive(Debug)]
pub struct NewCase<'a> {
    /// The department, whose round-robin turn the case takes (when it was assigned by turn:
    /// [`crate::rules::assign::took_turn`]).
    pub department: &'a str,
    /// The message, marked handled with the case (none for a case opened by hand from an
    /// ignored mail, whose message was marked when it was ignored).
    pub key: Option<&'a MessageKey>,
    /// Its Message-ID: a second message with it opens no second case.
    pub message_id: Option<&'a str>,
    /// The case number's prefix and year, whose counter the case takes.
    pub counter: (&'a str, i32),
    /// The sender's day for the daily cap ([`super::sender_day`]).
    pub sender_today: &'a str,
    /// The counters the case was worked out from.
    pub counters: Counters,
    /// The case.
    pub case: &'a Case,
    /// Its mails and schedule entries.
    pub effects: &'a Effects,
}

/// Writes `new` in `tx` and takes its counters, unless they moved on since they were read
/// (then writes nothing and says false).
pub(super) fn tx_new_case_counted(tx: &dyn KvTx, new: &NewCase<'_>) -> TxResult<bool> {
    let rate_key = keys::rate(new.sender_today);
    let seq_key = keys::seq(new.counter.0, new.counter.1);
    let turn_key = keys::turn(new.department);
    let seq = tx_get::<u64>(tx, &seq_key)?.unwrap_or(0) + 1;
    let turn = tx_get::<u64>(tx, &turn_key)?.unwrap_or(0);
    let receipts_today = tx_get::<u64>(tx, &rate_key)?.unwrap_or(0);
    let c = new.counters;
    if (seq, turn, receipts_today) != (c.seq, c.turn, c.receipts_today) {
        return Ok(false);
    }
    tx_put(tx, &seq_key, &seq)?;
    if crate::rules::assign::took_turn(new.case) {
        tx_put(tx, &turn_key, &(turn + 1))?;
    }
    tx_new_case(tx, (&rate_key, receipts_today), new.case, new.effects)?;
    Ok(true)
}

/// Whether the case under `edit` is still as read.
pub(super) fn tx_unchanged(tx: &dyn KvTx, edit: &Edit) -> TxResult<bool> {
    let now: Option<Case> = tx_get(tx, &keys::case(&edit.before.number))?;
    Ok(now.as_ref() == Some(&edit.before))
}

impl Store {
    /// Opens a case for a message, atomically with its outgoing mails, unless the message (by
    /// key or Message-ID) was handled already. Stale when the counters moved on since they
    /// were read (another message opened a case meanwhile).
    ///
    /// # Errors
    /// When the store fails.
    pub fn open_case(&self, new: &NewCase<'_>) -> Result<Applied<Opened>, StoreError> {
        let handled_key = new.key.map(MessageKey::key);
        let id_key = new.message_id.map(keys::message);
        self.transaction_unflushed(|tx| {
            if let Some(handled) = &handled_key {
                if tx.get(handled.as_bytes())?.is_some() {
                    return Ok(Applied::Done(Opened::AlreadyHandled));
                }
                if let Some(k) = &id_key {
                    if tx.get(k.as_bytes())?.is_some() {
                        tx_mark(tx, handled, "duplicate Message-ID")?;
                        return Ok(Applied::Done(Opened::AlreadyHandled));
                    }
                }
            }
            if !super::gather::tx_unchanged(tx, &new.effects.gather)? {
                return Ok(Applied::Stale);
            }
            if !tx_new_case_counted(tx, new)? {
                return Ok(Applied::Stale);
            }
            if let Some(handled) = &handled_key {
                tx_mark(tx, handled, &new.case.number)?;
            }
            Ok(Applied::Done(Opened::Created(Box::new(new.case.clone()))))
        })
    }

    /// Records a further message on a case (no receipt), atomically with the "handled" mark
    /// and the thread index of `message_id`: the case becomes `edit.after`, with `effects`.
    /// Done(false) when the message was handled before.
    ///
    /// # Errors
    /// When the store fails, or the case is not in the store.
    pub fn attach(
        &self,
        key: &MessageKey,
        message_id: Option<&str>,
        edit: &Edit,
        effects: &Effects,
    ) -> Result<Applied<bool>, StoreError> {
        let handled_key = key.key();
        self.transaction_unflushed(|tx| {
            if tx.get(handled_key.as_bytes())?.is_some() {
                return Ok(Applied::Done(false));
            }
            if !tx_unchanged(tx, edit)? {
                return Ok(Applied::Stale);
            }
            if let Some(id) = message_id {
                tx_put(tx, &keys::message(id), &edit.after.number)?;
            }
            tx_write_case(tx, Some(&edit.before), &edit.after)?;
            tx_effects(tx, effects)?;
            tx_mark(tx, &handled_key, &edit.after.number)?;
            Ok(Applied::Done(true))
        })
    }

    /// Changes a case (a command, a delay notice): it becomes `edit.after`, with `effects`. On
    /// disk when this returns.
    ///
    /// # Errors
    /// When the store fails.
    pub fn update_case(&self, edit: &Edit, effects: &Effects) -> Result<Applied<()>, StoreError> {
        self.transaction(|tx| {
            if !tx_unchanged(tx, edit)? || !super::tx_take_turn(tx, effects)? {
                return Ok(Applied::Stale);
            }
            tx_write_case(tx, Some(&edit.before), &edit.after)?;
            tx_effects(tx, effects)?;
            Ok(Applied::Done(()))
        })
    }

    /// Fires schedule entries in one transaction: removes each, and writes the cases they
    /// changed and what they set in motion. Stale when an entry fired meanwhile or a case
    /// changed. Returns how many fired.
    ///
    /// # Errors
    /// When the store fails.
    pub fn fire_batch(
        &self,
        entries: &[DueKey],
        edits: &[Edit],
        effects: &Effects,
    ) -> Result<Applied<usize>, StoreError> {
        self.transaction_unflushed(|tx| {
            for edit in edits {
                if !tx_unchanged(tx, edit)? {
                    return Ok(Applied::Stale);
                }
            }
            for key in entries {
                if tx.get(key.0.as_slice())?.is_none() {
                    return Ok(Applied::Stale);
                }
            }
            if !super::gather::tx_unchanged(tx, &effects.gather)? {
                return Ok(Applied::Stale);
            }
            // Only now that all is as read: a stale answer must leave every entry in place.
            for key in entries {
                tx.remove(key.0.as_slice())?;
            }
            for edit in edits {
                tx_write_case(tx, Some(&edit.before), &edit.after)?;
            }
            tx_effects(tx, effects)?;
            Ok(Applied::Done(entries.len()))
        })
    }
}
