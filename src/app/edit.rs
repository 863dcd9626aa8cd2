//! Changing a case: `app` reads it, works the change out on a copy (with the rules, the
//! notices, the templates) and hands the store the result to apply in one transaction; when
//! the case changed meanwhile (another mailbox, the clock, a command), it reads again and
//! works the change out anew. So no rule runs inside a store transaction, and the store never
//! calls back up.

use crate::app::engine::Engine;
use crate::model::Case;
use crate::store::{Applied, Edit, Effects, StoreError};

/// Why a change to a case was not made.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The change does not apply to the case as it is (a closed case, a mail that could not
    /// be built): said in words for the person who asked.
    #[error("{0}")]
    Refused(String),
}

/// Runs `attempt` until what it read was still so when it was applied.
///
/// # Errors
/// Whatever `attempt` fails with.
pub fn until_applied<T, E>(mut attempt: impl FnMut() -> Result<Applied<T>, E>) -> Result<T, E> {
    loop {
        if let Applied::Done(done) = attempt()? {
            return Ok(done);
        }
    }
}

impl Engine {
    /// Changes case `number` by `change`, which may set mail and schedule entries in motion
    /// (stored with the case) or refuse. Returns false when there is no such case. On disk
    /// when this returns.
    ///
    /// # Errors
    /// [`EditError::Refused`] with `change`'s words; [`EditError::Store`] when the store fails.
    pub fn update_case(
        &self,
        number: &str,
        change: impl Fn(&mut Case) -> Result<Effects, String>,
    ) -> Result<bool, EditError> {
        until_applied(|| {
            let Some(before) = self.store.case(number)? else {
                return Ok(Applied::Done(false));
            };
            let mut after = before.clone();
            let effects = change(&mut after).map_err(EditError::Refused)?;
            record_copied(&mut after, &effects);
            let edit = Edit { before, after };
            Ok(match self.store.update_case(&edit, &effects)? {
                Applied::Done(()) => Applied::Done(true),
                Applied::Stale => Applied::Stale,
            })
        })
    }

    /// Records a further message (`key`, `message_id`) on case `number`, changed by `change`,
    /// atomically with the message's "handled" mark. Returns false when the message was
    /// handled before.
    ///
    /// # Errors
    /// When the store fails, or the case is not in the store.
    pub(crate) fn attach_to(
        &self,
        key: &crate::store::MessageKey,
        message_id: Option<&str>,
        number: &str,
        change: impl Fn(&mut Case) -> Effects,
    ) -> Result<bool, StoreError> {
        until_applied(|| {
            let Some(before) = self.store.case(number)? else {
                return Err(self
                    .store
                    .inconsistent(format!("case {number} is not in the store")));
            };
            let mut after = before.clone();
            if let Some(id) = message_id {
                if !after.message_ids.iter().any(|m| m == id) {
                    after.message_ids.push(id.to_string());
                }
            }
            let effects = change(&mut after);
            let edit = Edit { before, after };
            self.store.attach(key, message_id, &edit, &effects)
        })
    }
}

/// Puts on `case` the Message-ID of every mail in `effects` that is about it and copied to the
/// department mailbox (a delay notice, a move notice, any mail to the resident), so that the
/// store's thread index names it: its copy, when it comes back, is then recognised as
/// kvittens' own and neither listed as ignored nor counted as received (README "The report to
/// the nämnd"). One place for every kind, so that a new kind of mail cannot be forgotten.
fn record_copied(case: &mut Case, effects: &Effects) {
    for q in &effects.mails {
        let mail = &q.mail;
        if mail.copy
            && mail.about.case() == Some(case.number.as_str())
            && !case.message_ids.contains(&mail.id)
        {
            case.message_ids.push(mail.id.clone());
        }
    }
}
