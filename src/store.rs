//! The durable memory of kvittens: cases, mailbox cursors and the outbox. Everything else in the
//! program speaks of these; only this module knows they live in sled, so the engine can be
//! swapped without touching the rest.
//!
//! Every change that belongs together (a new case, its thread index, the "message handled"
//! mark and its outgoing mails) is one transaction, flushed to disk before the call returns:
//! after a crash at any point either all of it is there or none of it is.

use crate::case::Case;
use crate::compose::Outgoing;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use std::path::{Path, PathBuf};

/// A store failure. The daemon stops taking new work on one: nothing may be half-recorded.
#[derive(Debug, thiserror::Error)]
#[error("store {path}: {message}")]
pub struct StoreError {
    /// The store directory.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

/// Where a mailbox was read up to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The mailbox's UIDVALIDITY; when it changes, UIDs mean something else.
    pub uid_validity: u32,
    /// The highest UID handled.
    pub last_uid: u32,
}

/// Identifies one message in one mailbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageKey {
    /// The department whose mailbox it is in.
    pub department: String,
    /// The mailbox's UIDVALIDITY.
    pub uid_validity: u32,
    /// The message's UID.
    pub uid: u32,
}

impl MessageKey {
    fn key(&self) -> String {
        format!(
            "handled/{}/{}/{}",
            self.department, self.uid_validity, self.uid
        )
    }
}

/// What a new case needs from the store: its sequence number and the department's turn for
/// round robin. Supplied inside the transaction, so two mailboxes never get the same number.
#[derive(Clone, Copy, Debug)]
pub struct Counters {
    /// The case's number within its prefix and year (1, 2, …).
    pub seq: u64,
    /// How many cases the department had before this one.
    pub turn: u64,
}

/// What [`Store::open_case`] did.
#[derive(Debug)]
pub enum Opened {
    /// The case was recorded, with its outgoing mails.
    Created(Box<Case>),
    /// The message (by mailbox and UID, or by Message-ID) was handled before: nothing changed.
    AlreadyHandled,
}

/// The store.
#[derive(Clone)]
pub struct Store {
    path: PathBuf,
    db: sled::Db,
    kv: sled::Tree,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.path.display())
    }
}

type TxResult<T> = Result<T, ConflictableTransactionError<String>>;

fn tx_get<T: DeserializeOwned>(tx: &TransactionalTree, key: &str) -> TxResult<Option<T>> {
    match tx.get(key.as_bytes())? {
        None => Ok(None),
        Some(v) => serde_json::from_slice(&v)
            .map(Some)
            .map_err(|e| ConflictableTransactionError::Abort(format!("{key}: {e}"))),
    }
}

fn tx_put<T: Serialize>(tx: &TransactionalTree, key: &str, value: &T) -> TxResult<()> {
    let bytes = serde_json::to_vec(value)
        .map_err(|e| ConflictableTransactionError::Abort(e.to_string()))?;
    tx.insert(key.as_bytes(), bytes)?;
    Ok(())
}

fn tx_next(tx: &TransactionalTree, key: &str) -> TxResult<u64> {
    let n = tx_get::<u64>(tx, key)?.unwrap_or(0) + 1;
    tx_put(tx, key, &n)?;
    Ok(n)
}

/// Receipts sort before everything else in the outbox: the resident is promised one at once.
fn outbox_key(mail: &Outgoing) -> String {
    let rank = match mail.kind {
        crate::compose::Kind::Receipt => 0,
        _ => 1,
    };
    format!("outbox/{rank}/{}", mail.id)
}

impl Store {
    /// Opens (or creates) the store in `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let err = |e: &dyn std::fmt::Display| StoreError {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        std::fs::create_dir_all(path)
            .map_err(|e| err(&format!("cannot create the directory: {e}")))?;
        let db = sled::Config::new()
            .path(path)
            .open()
            .map_err(|e| err(&format!("cannot open: {e}")))?;
        let kv = db.open_tree("kvittens").map_err(|e| err(&e))?;
        Ok(Store {
            path: path.to_path_buf(),
            db,
            kv,
        })
    }

    fn err(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        match self.kv.get(key.as_bytes()).map_err(|e| self.err(e))? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| self.err(format!("{key}: {e}"))),
        }
    }

    fn scan<T: DeserializeOwned>(&self, prefix: &str) -> Result<Vec<T>, StoreError> {
        self.kv
            .scan_prefix(prefix.as_bytes())
            .map(|kv| {
                let (k, v) = kv.map_err(|e| self.err(e))?;
                serde_json::from_slice(&v)
                    .map_err(|e| self.err(format!("{}: {e}", String::from_utf8_lossy(&k))))
            })
            .collect()
    }

    /// Writes everything to disk. Called after every change that must survive a crash.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db
            .flush()
            .map(|_| ())
            .map_err(|e| self.err(format!("cannot write to disk: {e}")))
    }

    fn transaction<T>(
        &self,
        f: impl Fn(&TransactionalTree) -> TxResult<T>,
    ) -> Result<T, StoreError> {
        let out = self.kv.transaction(|tx| f(tx)).map_err(|e| match e {
            TransactionError::Abort(m) => self.err(m),
            TransactionError::Storage(s) => self.err(s),
        })?;
        self.flush()?;
        Ok(out)
    }

    /// Where the department's mailbox was read up to.
    pub fn cursor(&self, department: &str) -> Result<Option<Cursor>, StoreError> {
        self.get(&format!("cursor/{department}"))
    }

    /// Records where the department's mailbox was read up to.
    pub fn set_cursor(&self, department: &str, cursor: Cursor) -> Result<(), StoreError> {
        let key = format!("cursor/{department}");
        self.transaction(|tx| tx_put(tx, &key, &cursor))
    }

    /// Whether this message was handled before.
    pub fn was_handled(&self, key: &MessageKey) -> Result<bool, StoreError> {
        self.kv
            .contains_key(key.key().as_bytes())
            .map_err(|e| self.err(e))
    }

    /// A case by number.
    pub fn case(&self, number: &str) -> Result<Option<Case>, StoreError> {
        self.get(&format!("case/{number}"))
    }

    /// Every case, in number order.
    pub fn cases(&self) -> Result<Vec<Case>, StoreError> {
        self.scan("case/")
    }

    /// The case a Message-ID belongs to.
    pub fn case_of_message(&self, message_id: &str) -> Result<Option<String>, StoreError> {
        self.get(&format!("msg/{message_id}"))
    }

    /// Marks a message handled without a case (ignored).
    pub fn mark_handled(&self, key: &MessageKey, note: &str) -> Result<(), StoreError> {
        let k = key.key();
        self.transaction(|tx| tx_put(tx, &k, &note))
    }

    /// Opens a case for a message, atomically with its outgoing mails, unless the message was
    /// handled already. `build` gets the case's counters and returns the case and its mails; it
    /// may run more than once (on a transaction conflict) and must have no side effects.
    pub fn open_case(
        &self,
        key: &MessageKey,
        message_id: Option<&str>,
        counter: (&str, i32),
        build: impl Fn(Counters) -> Result<(Case, Vec<Outgoing>), String>,
    ) -> Result<Opened, StoreError> {
        let handled_key = key.key();
        let id_key = message_id.map(|m| format!("msg/{m}"));
        let seq_key = format!("seq/{}/{}", counter.0, counter.1);
        let turn_key = format!("turn/{}", key.department);
        self.transaction(|tx| {
            if tx.get(handled_key.as_bytes())?.is_some() {
                return Ok(Opened::AlreadyHandled);
            }
            if let Some(k) = &id_key {
                if tx.get(k.as_bytes())?.is_some() {
                    tx_put(tx, &handled_key, &"duplicate Message-ID")?;
                    return Ok(Opened::AlreadyHandled);
                }
            }
            let seq = tx_next(tx, &seq_key)?;
            let turn = tx_next(tx, &turn_key)? - 1;
            let (case, mails) =
                build(Counters { seq, turn }).map_err(ConflictableTransactionError::Abort)?;
            tx_put(tx, &format!("case/{}", case.number), &case)?;
            for id in &case.message_ids {
                tx_put(tx, &format!("msg/{id}"), &case.number)?;
            }
            for mail in &mails {
                tx_put(tx, &outbox_key(mail), mail)?;
            }
            tx_put(tx, &handled_key, &case.number)?;
            Ok(Opened::Created(Box::new(case)))
        })
    }

    /// Records a further message on a case (no receipt), atomically with the "handled" mark;
    /// `update` changes the case (its state, timeline). Returns false when the message was
    /// handled before.
    pub fn attach(
        &self,
        key: &MessageKey,
        message_id: Option<&str>,
        number: &str,
        update: impl Fn(&mut Case),
    ) -> Result<bool, StoreError> {
        let handled_key = key.key();
        let case_key = format!("case/{number}");
        self.transaction(|tx| {
            if tx.get(handled_key.as_bytes())?.is_some() {
                return Ok(false);
            }
            let Some(mut case) = tx_get::<Case>(tx, &case_key)? else {
                return Err(ConflictableTransactionError::Abort(format!(
                    "case {number} is not in the store"
                )));
            };
            if let Some(id) = message_id {
                if !case.message_ids.iter().any(|m| m == id) {
                    case.message_ids.push(id.to_string());
                }
                tx_put(tx, &format!("msg/{id}"), &case.number)?;
            }
            update(&mut case);
            tx_put(tx, &case_key, &case)?;
            tx_put(tx, &handled_key, &case.number)?;
            Ok(true)
        })
    }

    /// Changes a case by hand (e.g. `kvittens case close`). Returns false when there is no such
    /// case.
    pub fn update_case(
        &self,
        number: &str,
        update: impl Fn(&mut Case),
    ) -> Result<bool, StoreError> {
        let case_key = format!("case/{number}");
        self.transaction(|tx| {
            let Some(mut case) = tx_get::<Case>(tx, &case_key)? else {
                return Ok(false);
            };
            update(&mut case);
            tx_put(tx, &case_key, &case)?;
            Ok(true)
        })
    }

    /// Mail waiting to be sent, oldest case first.
    pub fn pending(&self) -> Result<Vec<Outgoing>, StoreError> {
        self.scan("outbox/")
    }

    /// Records that the SMTP server accepted `mail` (or refused it for good, with `failure`):
    /// it leaves the outbox and the case's timeline says so.
    pub fn mark_sent(
        &self,
        mail: &Outgoing,
        at: chrono::DateTime<chrono::Utc>,
        failure: Option<&str>,
    ) -> Result<(), StoreError> {
        let out_key = outbox_key(mail);
        let case_key = format!("case/{}", mail.case);
        self.transaction(|tx| {
            tx.remove(out_key.as_bytes())?;
            if let Some(mut case) = tx_get::<Case>(tx, &case_key)? {
                let to = mail.to.join(", ");
                match failure {
                    None => case.log(at, format!("{} sent to {to}", mail.kind.word())),
                    Some(why) => case.log(
                        at,
                        format!("{} to {to} could not be delivered: {why}", mail.kind.word()),
                    ),
                }
                tx_put(tx, &case_key, &case)?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::State;
    use crate::compose::Kind;
    use crate::config::Contact;
    use crate::decide::{Category, Language};
    use crate::message::Person;
    use chrono::Utc;

    fn case(number: &str, ids: &[&str]) -> Case {
        Case {
            number: number.into(),
            department: "bygg".into(),
            category: Category::Question,
            language: Language::Sv,
            resident: Person {
                name: None,
                email: "a@example.org".into(),
            },
            subject: "s".into(),
            officer: Contact {
                name: "O".into(),
                email: "o@kommun.test".into(),
            },
            substitute_for: None,
            received: Utc::now(),
            reply_due: Utc::now(),
            decision_due: Utc::now(),
            message_ids: ids.iter().map(|s| s.to_string()).collect(),
            state: State::Open,
            events: vec![],
        }
    }

    fn mail(case: &str) -> Outgoing {
        Outgoing {
            id: format!("kvittens.receipt.{case}@kommun.test"),
            case: case.into(),
            kind: Kind::Receipt,
            envelope_from: "bygg@kommun.test".into(),
            to: vec!["a@example.org".into()],
            bytes: b"Subject: x\r\n\r\nx".to_vec(),
        }
    }

    fn key(uid: u32) -> MessageKey {
        MessageKey {
            department: "bygg".into(),
            uid_validity: 7,
            uid,
        }
    }

    fn open(store: &Store, uid: u32, msg_id: &str) -> Opened {
        store
            .open_case(&key(uid), Some(msg_id), ("BMN", 2026), |c| {
                let n = crate::case::case_number("BMN", 2026, c.seq);
                Ok((case(&n, &[msg_id]), vec![mail(&n)]))
            })
            .unwrap()
    }

    #[test]
    fn a_case_its_index_and_its_mail_arrive_together() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let Opened::Created(c) = open(&store, 1, "m1@x") else {
            panic!()
        };
        assert_eq!(c.number, "BMN-2026-0001");
        assert_eq!(
            store.case_of_message("m1@x").unwrap().as_deref(),
            Some("BMN-2026-0001")
        );
        assert!(store.was_handled(&key(1)).unwrap());
        assert_eq!(store.pending().unwrap().len(), 1);
        assert_eq!(
            store.case("BMN-2026-0001").unwrap().unwrap().number,
            "BMN-2026-0001"
        );
    }

    #[test]
    fn the_same_message_never_opens_two_cases() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(matches!(open(&store, 1, "m1@x"), Opened::Created(_)));
        // Same UID again, and the same Message-ID in another place.
        assert!(matches!(open(&store, 1, "m1@x"), Opened::AlreadyHandled));
        assert!(matches!(open(&store, 2, "m1@x"), Opened::AlreadyHandled));
        assert_eq!(store.cases().unwrap().len(), 1);
        assert_eq!(store.pending().unwrap().len(), 1);
    }

    #[test]
    fn numbers_survive_a_restart_and_are_never_reused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            open(&store, 1, "m1@x");
            open(&store, 2, "m2@x");
        }
        let store = Store::open(dir.path()).unwrap();
        let Opened::Created(c) = open(&store, 3, "m3@x") else {
            panic!()
        };
        assert_eq!(c.number, "BMN-2026-0003");
    }

    #[test]
    fn sent_mail_leaves_the_outbox_and_enters_the_timeline() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        open(&store, 1, "m1@x");
        let m = store.pending().unwrap().remove(0);
        store.mark_sent(&m, Utc::now(), None).unwrap();
        assert!(store.pending().unwrap().is_empty());
        let c = store.case("BMN-2026-0001").unwrap().unwrap();
        assert!(
            c.events.iter().any(|e| e.what.contains("receipt sent")),
            "{:?}",
            c.events
        );
    }

    #[test]
    fn follow_ups_join_the_case_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        open(&store, 1, "m1@x");
        let log = |c: &mut Case| c.log(Utc::now(), "follow-up");
        assert!(store
            .attach(&key(2), Some("m2@x"), "BMN-2026-0001", log)
            .unwrap());
        assert!(!store
            .attach(&key(2), Some("m2@x"), "BMN-2026-0001", log)
            .unwrap());
        let c = store.case("BMN-2026-0001").unwrap().unwrap();
        assert_eq!(c.message_ids, vec!["m1@x", "m2@x"]);
        assert_eq!(c.events.len(), 1);
        assert_eq!(
            store.case_of_message("m2@x").unwrap().as_deref(),
            Some("BMN-2026-0001")
        );
    }

    #[test]
    fn cursors_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.cursor("bygg").unwrap(), None);
        let c = Cursor {
            uid_validity: 5,
            last_uid: 9,
        };
        store.set_cursor("bygg", c).unwrap();
        assert_eq!(store.cursor("bygg").unwrap(), Some(c));
    }
}
