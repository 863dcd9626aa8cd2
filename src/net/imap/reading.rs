//! One message from the mailbox to the engine, and its outcome to `app::outcome`. A message
//! gets a "being read" mark on disk while the engine has it, so that a message that crashes
//! kvittens is set aside after the restart (read by its header only, its case flagged for a
//! person) instead of crashing it again.

use super::mailbox::Connect;
use super::watcher::Watcher;
use super::WatchError;
use crate::app::engine::{Incoming, Outcome};
use crate::app::outcome;
use crate::config::Department;
use crate::store::MessageKey;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Why a message is set aside after a restart: kvittens stopped while reading it.
const STOPPED_WHILE_READING: &str = "kvittens stopped while reading this message";

impl<C: Connect> Watcher<C> {
    /// Hands the message `uid` (UIDVALIDITY `validity`) to the engine with the department as
    /// now configured, and wakes whoever its outcome concerns.
    pub(super) async fn handle(
        &self,
        dept: &Department,
        validity: u32,
        uid: u32,
        received: DateTime<Utc>,
        raw: Vec<u8>,
    ) -> Result<(), WatchError> {
        // Officers and absences as in the config in force (SIGHUP reloads it).
        let d = self
            .engine
            .cfg()
            .department(&dept.id)
            .cloned()
            .unwrap_or_else(|| dept.clone());
        outcome::seen(self.engine.metrics(), &dept.id, self.sent);
        let key = MessageKey {
            department: self.place(dept),
            uid_validity: validity,
            uid,
        };
        let Some(outcome) = self.read_one(&d, &key, received, Arc::new(raw)).await? else {
            return Ok(());
        };
        let wake = outcome::report(self.engine.metrics(), &dept.id, uid, &outcome);
        if wake.outbox {
            self.outbox.notify_one();
        }
        if wake.schedule {
            self.schedule.notify_one();
        }
        Ok(())
    }

    /// Hands one message to the engine, off the async threads (the store writes to disk), with
    /// a "being read" mark around it. A message kvittens stopped while reading the last time
    /// (the mark was still there at the start) and a message whose handling panicked are set
    /// aside: read by their top-level header only, their case flagged for a person and the
    /// officer told, so that one message can stop neither the process nor the mailbox. `None`
    /// when even that failed and the message was only marked handled, with a note.
    async fn read_one(
        &self,
        dept: &Department,
        key: &MessageKey,
        received: DateTime<Utc>,
        raw: Arc<Vec<u8>>,
    ) -> Result<Option<Outcome>, WatchError> {
        let (id, uid) = (dept.id.clone(), key.uid);
        let mut why = self
            .engine
            .begin_reading(key)?
            .then(|| STOPPED_WHILE_READING.to_string());
        let mut attempts = 0;
        let outcome = loop {
            attempts += 1;
            if let Some(why) = &why {
                tracing::error!(department = %id, uid, reason = %why, "setting this message aside: reading its header only; its case is flagged for a person");
            }
            let (engine, d, task_key, bytes) =
                (self.engine.clone(), dept.clone(), key.clone(), raw.clone());
            let sent_folder = self.sent;
            let aside = why.clone();
            let result = tokio::task::spawn_blocking(move || {
                let incoming = Incoming {
                    key: task_key,
                    received,
                    raw: &bytes,
                    sent_folder,
                };
                engine.handle_as(&d, &incoming, aside.as_deref())
            })
            .await;
            match result {
                Ok(Ok(outcome)) => break Some(outcome),
                Ok(Err(e)) => {
                    // The store failed, not the message: it is read again in full next time.
                    let _ = self.engine.end_reading(key);
                    return Err(e.into());
                }
                Err(e) if attempts == 1 => {
                    // A bug met by one message must not stop the mailbox: set it aside.
                    why = Some(format!("kvittens failed while reading this message: {e}"));
                }
                Err(e) => {
                    // Even its header could not be handled: recorded, and left for a person.
                    tracing::error!(department = %id, uid, error = %e, "kvittens failed on this message's header too; it is left for a person in the mailbox");
                    self.engine
                        .mark_handled(key, &format!("kvittens failed on this message: {e}"))?;
                    break None;
                }
            }
        };
        self.engine.end_reading(key)?;
        Ok(outcome)
    }
}
