//! What becomes of kvittens' mail, on its case: the outbox's bookkeeping seen from the case.
//! The store keeps the outbox and flights; this module decides each mail's place in the
//! outbox (receipts first) and writes each mail's fate into its case's timeline — the store
//! applies the line with the outbox change in one transaction, so the timeline says "sent"
//! exactly when the outbox no longer holds the mail.

use crate::mail::outgoing::Outgoing;
use crate::model::tally::Tick;
use crate::model::Kind;
use crate::rules::budget::Spent;
use crate::store::{CaseStore, Fate, Gone, MessageKey, Note, Queued, StoreError};
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// A mail's place in the outbox: receipts before everything else, as the resident is promised
/// one at once.
pub fn rank(kind: Kind) -> u8 {
    match kind {
        Kind::Receipt => 0,
        _ => 1,
    }
}

/// Every rank [`rank`] gives, to look a mail up by its id.
const RANKS: [u8; 2] = [0, 1];

/// `mail` in its place in the outbox.
pub fn queued(mail: Outgoing) -> Queued {
    Queued {
        rank: rank(mail.kind),
        mail,
    }
}

/// Whether kvittens' own mail `id` is in flight or was sent (see [`Outbox::went`]).
///
/// # Errors
/// When the store cannot be read.
pub fn went(store: &dyn CaseStore, id: &str) -> Result<bool, StoreError> {
    if store.is_flying(id)? {
        return Ok(true);
    }
    if store.case_of_message(id)?.is_none() {
        return Ok(false);
    }
    for rank in RANKS {
        if store.is_queued(rank, id)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The case a mail's fate is written on: none for the digest, which is about a department.
fn case_of(mail: &Outgoing) -> Option<&str> {
    mail.about.case()
}

/// The line for `mail`'s case when `fate` befell it.
pub fn fate_note(mail: &Outgoing, fate: Fate<'_>, at: DateTime<Utc>) -> Option<Note> {
    let case = case_of(mail)?.to_string();
    let (what, to) = (mail.kind.word(), mail.to.join(", "));
    let (what, flag) = match fate {
        Fate::Accepted => (format!("{what} sent to {to}"), None),
        Fate::Copied => (
            format!("{what} sent to {to} (confirmed by its copy in the department mailbox)"),
            None,
        ),
        Fate::Refused(why) => (
            format!("{what} to {to} could not be delivered: {why}"),
            Some(format!("{what} could not be delivered")),
        ),
    };
    Some(Note {
        case,
        at,
        what,
        flag,
        tell: None,
        ticks: Vec::new(),
    })
}

/// What a receipt that will not reach its resident does to the case, whether the SMTP server
/// refused the address for good at RCPT (RFC 5321 §4.2.1, a 5xx reply) or a delivery report
/// came back later (RFC 3464): one line for the timeline, the same words as the case's flag,
/// and the notice that tells the officer ("undeliverable"), or why it could not be built.
/// The one place both ways word it, so that the officer learns of it the same way.
pub struct Undelivered {
    /// The timeline's line, also the flag.
    pub line: String,
    /// The officer's notice, in its place in the outbox, or why it could not be built.
    pub notice: Result<Queued, String>,
}

/// [`Undelivered`] for case `c` of `dept` at `at`, `why` being the server's or the report's
/// words.
pub fn undelivered(
    cfg: &crate::config::Config,
    dept: &crate::config::Department,
    templates: &crate::mail::templates::Templates,
    c: &crate::model::Case,
    why: &str,
    at: DateTime<Utc>,
) -> Undelivered {
    let line = format!(
        "the receipt to {} could not be delivered ({why})",
        c.resident.email
    );
    let notice = crate::mail::notices::undeliverable(cfg, dept, templates, c, at)
        .map(queued)
        .map_err(|e| e.to_string());
    Undelivered { line, notice }
}

/// The sender's way into the outbox: what waits, and what became of each mail. A handle the
/// sender task owns (cheap to clone), so that the sender never writes the store itself.
#[derive(Clone, Debug)]
pub struct Outbox {
    store: Arc<dyn CaseStore>,
    /// The engine whose config and templates word the officer's notice of a refused
    /// receipt, and whose departments' calendars give the local day a receipt counts on in
    /// the report; without one (a bare outbox in tests) the case is only flagged and
    /// nothing counted.
    engine: Option<crate::app::engine::Engine>,
}

impl Outbox {
    /// The outbox of `store`, telling no officer and counting nothing for the report.
    pub fn new(store: Arc<dyn CaseStore>) -> Outbox {
        Outbox {
            store,
            engine: None,
        }
    }

    /// The outbox of `engine`'s store, telling officers of refused receipts and counting
    /// the receipts it lets go for the report.
    pub fn of(engine: &crate::app::engine::Engine) -> Outbox {
        Outbox {
            store: engine.store.clone(),
            engine: Some(engine.clone()),
        }
    }

    /// The note of a receipt the server refused for good: flagged with the words a bounce
    /// gets, and the officer told ([`undelivered`]) in the same transaction. Once: the note
    /// is applied only when the mail leaves the outbox now.
    fn refusal_note(&self, mail: &Outgoing, why: &str, at: DateTime<Utc>) -> Option<Note> {
        let mut note = fate_note(mail, Fate::Refused(why), at)?;
        let engine = self
            .engine
            .as_ref()
            .filter(|_| mail.kind == Kind::Receipt)?;
        let Ok(Some(c)) = self.store.case(&note.case) else {
            return Some(note);
        };
        let (cfg, templates) = (engine.cfg(), engine.templates());
        let Some(dept) = cfg.department(&c.department) else {
            return Some(note);
        };
        let told = undelivered(&cfg, dept, &templates, &c, why, at);
        note.what = told.line.clone();
        note.flag = Some(told.line);
        match told.notice {
            Ok(q) => note.tell = Some(q),
            Err(e) => note.what = format!("{}; the officer could not be told: {e}", note.what),
        }
        Some(note)
    }

    /// The report's tick for `mail` sent at `sent`: a receipt, measured from when its case's
    /// mail reached the mailbox (see [`super::tally::receipt_sent`]); nothing for other mail.
    fn sent_ticks(&self, mail: &Outgoing, sent: DateTime<Utc>) -> Result<Vec<Tick>, StoreError> {
        let (Some(engine), Kind::Receipt, Some(number)) = (&self.engine, mail.kind, case_of(mail))
        else {
            return Ok(Vec::new());
        };
        let Some(case) = self.store.case(number)? else {
            return Ok(Vec::new());
        };
        let cfg = engine.cfg();
        Ok(cfg
            .department(&case.department)
            .map(|dept| super::tally::receipt_sent(dept, &case, sent))
            .into_iter()
            .collect())
    }

    /// [`fate_note`] with the report's ticks of an accepted mail.
    fn sent_note(
        &self,
        mail: &Outgoing,
        fate: Fate<'_>,
        at: DateTime<Utc>,
        sent: DateTime<Utc>,
    ) -> Result<Option<Note>, StoreError> {
        let mut note = fate_note(mail, fate, at);
        if let (Some(n), Fate::Accepted | Fate::Copied) = (&mut note, fate) {
            n.ticks = self.sent_ticks(mail, sent)?;
        }
        Ok(note)
    }

    /// Mail waiting to be sent, receipts first, leaving out mail in flight; flushed first, so
    /// that no mail goes out whose case a crash could still take back.
    ///
    /// # Errors
    /// When the store cannot be read or flushed.
    pub fn pending(&self) -> Result<Vec<Outgoing>, StoreError> {
        Ok(self.store.pending()?.into_iter().map(|q| q.mail).collect())
    }

    /// Marks `mail` in flight, on disk when this returns (see `Store::take_off`).
    ///
    /// # Errors
    /// When the store cannot be written.
    pub fn take_off(&self, mail: &Outgoing, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.store.take_off(&queued(mail.clone()), at)
    }

    /// [`Outbox::take_off`] without the flush: the caller flushes before the final dot.
    ///
    /// # Errors
    /// When the store cannot be written.
    pub fn take_off_unflushed(&self, mail: &Outgoing, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.store.take_off_unflushed(&queued(mail.clone()), at)
    }

    /// The server answered "try later" to a mail in flight: it waits again, and its case says
    /// so.
    ///
    /// # Errors
    /// When the store cannot be written.
    pub fn ground(&self, mail: &Outgoing, at: DateTime<Utc>, why: &str) -> Result<(), StoreError> {
        let note = case_of(mail).map(|case| Note {
            case: case.to_string(),
            at,
            what: format!("{} not taken yet ({why}); queued again", mail.kind.word()),
            flag: None,
            tell: None,
            ticks: Vec::new(),
        });
        self.store.ground(&queued(mail.clone()), note.as_ref())
    }

    /// Records that the server accepted `mail` (or refused it for good, with `failure`): it
    /// leaves the outbox and its case says so. On disk when this returns.
    ///
    /// # Errors
    /// When the store cannot be written.
    pub fn mark_sent(
        &self,
        mail: &Outgoing,
        at: DateTime<Utc>,
        failure: Option<&str>,
    ) -> Result<(), StoreError> {
        let note = match failure {
            Some(why) => self.refusal_note(mail, why, at),
            None => self.sent_note(mail, Fate::Accepted, at, at)?,
        };
        let gone = self
            .store
            .mark_sent(&queued(mail.clone()), note.as_ref(), true)?;
        if gone == Gone::Left && note.is_some_and(|n| n.tell.is_some()) {
            if let Some(engine) = &self.engine {
                engine.outbox_bell().notify_one();
            }
        }
        Ok(())
    }

    /// [`Outbox::mark_sent`] of an accepted mail without the flush. Safe to lose in a crash: a
    /// mail with a copy is then still in flight and resolved by its copy; one without is sent
    /// again.
    ///
    /// # Errors
    /// When the store cannot be written.
    pub fn mark_sent_unflushed(
        &self,
        mail: &Outgoing,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let note = self.sent_note(mail, Fate::Accepted, at, at)?;
        self.store
            .mark_sent(&queued(mail.clone()), note.as_ref(), false)?;
        Ok(())
    }

    /// Writes everything to disk (the sender flushes the in-flight marks of a group at once).
    ///
    /// # Errors
    /// When the disk refuses the write.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.store.flush()
    }

    /// Records a mail the SMTP server took, for the sending account's budget.
    ///
    /// # Errors
    /// When the store cannot be written.
    pub fn record_spent(&self, spent: &Spent) -> Result<(), StoreError> {
        self.store.record_spent(spent)
    }

    /// What was spent since `since`.
    ///
    /// # Errors
    /// When the store cannot be read or written.
    pub fn spent_since(&self, since: DateTime<Utc>) -> Result<Vec<Spent>, StoreError> {
        self.store.spent_since(since)
    }

    /// How many mails are in flight.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub fn in_flight(&self) -> Result<usize, StoreError> {
        self.store.in_flight()
    }

    /// A copy of kvittens' own mail `id` arrived as message `key`: the server took the mail.
    /// Marks the message handled and, when the mail was still in flight, records it sent on
    /// its case. Returns that case.
    ///
    /// # Errors
    /// When the store cannot be written.
    pub fn confirm_copy(
        &self,
        key: &MessageKey,
        id: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        let flying = self.store.flying(id)?;
        // The server took it when it went into flight, not when its copy was read.
        let note = match &flying {
            Some((flight, mail)) => self.sent_note(mail, Fate::Copied, at, flight.since)?,
            None => None,
        };
        let gone = self.store.confirm_copy(key, id, note.as_ref())?;
        Ok(match (gone, flying) {
            (Gone::Left, Some((_, mail))) => Some(mail.about.to_string()),
            _ => None,
        })
    }

    /// Whether kvittens' own mail `id` is in flight or was sent: only then can a message with
    /// that id in a department mailbox be its copy. A sent mail has left the outbox and is
    /// still named by its case; a mail waiting in the outbox has not gone yet, and one no case
    /// names was never kvittens' (or was purged with its case).
    ///
    /// # Errors
    /// When the store cannot be read.
    pub fn went(&self, id: &str) -> Result<bool, StoreError> {
        went(&*self.store, id)
    }

    /// Mail to residents in flight with a copy to `mailbox` since `cutoff` or before, whose copy
    /// has not come although the mailbox was read through after it: the server never took it,
    /// so it goes again, and its case says why. Returns the mails released.
    ///
    /// # Errors
    /// When the store cannot be written.
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
    ///
    /// # Errors
    /// When the store cannot be written.
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

    /// The sender's lease ([`super::lease::SENDER`]): held for good for an outbox without an
    /// engine (a test).
    pub fn lease(&self) -> super::lease::Held {
        self.engine
            .as_ref()
            .map_or_else(super::lease::Held::always, |e| {
                e.leases().held(super::lease::SENDER)
            })
    }

    /// What the sender does whenever it takes its lease — at start, and when it takes over
    /// from an instance that died: mail in flight whose copy went to a mailbox no longer
    /// watched is released ([`Outbox::release_orphans`]). Mail in flight with a copy to a
    /// watched mailbox is left to that folder's watcher, wherever it runs: its copy confirms
    /// it, or it is released after `unconfirmed_wait` — so nothing is sent twice or lost.
    ///
    /// # Errors
    /// When the store cannot be written.
    pub fn take_over(&self, at: DateTime<Utc>) -> Result<Vec<Outgoing>, StoreError> {
        let Some(engine) = &self.engine else {
            return Ok(Vec::new());
        };
        let watched: Vec<String> = (engine.cfg().departments.iter())
            .map(|d| d.email.clone())
            .collect();
        self.release_orphans(&watched, at)
    }

    fn release(
        &self,
        which: impl Fn(&crate::store::Flight) -> bool,
        at: DateTime<Utc>,
    ) -> Result<Vec<Outgoing>, StoreError> {
        let mut released = Vec::new();
        for flight in self.store.flights()?.iter().filter(|f| which(f)) {
            let note = |mail: &Outgoing| {
                case_of(mail).map(|case| Note {
                    case: case.to_string(),
                    at,
                    what: format!(
                        "{} to {}: kvittens stopped while sending it and no copy of it reached the department mailbox; sending it again",
                        mail.kind.word(),
                        mail.to.join(", ")
                    ),
                    flag: None,
                    tell: None,
                    ticks: Vec::new(),
                })
            };
            released.extend(self.store.release(flight, &note)?.map(|r| r.mail));
        }
        Ok(released)
    }

    /// When the longest-waiting unconfirmed mail with a copy to `mailbox` went into flight.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub fn unconfirmed_since(&self, mailbox: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self
            .store
            .flights()?
            .into_iter()
            .filter(|f| f.mailbox == mailbox)
            .map(|f| f.since)
            .min())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Kind;
    use crate::store::tests::{key, mail, open};
    use crate::store::Store;

    #[test]
    fn receipts_go_first_and_a_digest_is_on_no_case() {
        let receipt = mail("BMN-2026-0001");
        let notice = Outgoing {
            kind: Kind::OfficerNotice,
            ..receipt.clone()
        };
        assert!(queued(receipt.clone()).rank < queued(notice).rank);
        let digest = Outgoing {
            id: "kvittens.digest@kommun.test".into(),
            kind: Kind::Digest,
            ..mail("digest-bygg")
        };
        assert_eq!(fate_note(&digest, Fate::Accepted, Utc::now()), None);
        let note = fate_note(&receipt, Fate::Refused("550 no such user"), Utc::now()).unwrap();
        assert_eq!(note.case, "BMN-2026-0001");
        assert_eq!(note.flag.as_deref(), Some("receipt could not be delivered"));
        // The digest leaves the outbox without looking for a case "digest-bygg".
        let dir = tempfile::tempdir().unwrap();
        let raw = Store::open(dir.path()).unwrap();
        let outbox = Outbox::new(Arc::new(raw.clone()));
        assert!(raw
            .queue_digest("bygg", Utc::now(), &queued(digest.clone()))
            .unwrap());
        assert_eq!(outbox.pending().unwrap(), vec![digest.clone()]);
        outbox.mark_sent(&digest, Utc::now(), None).unwrap();
        assert!(outbox.pending().unwrap().is_empty());
        assert!(raw.case("digest-bygg").unwrap().is_none());
    }

    #[test]
    fn a_receipt_refused_for_good_flags_the_case_and_tells_the_officer_once() {
        let dir = tempfile::tempdir().unwrap();
        let (engine, _) = crate::testkit::Sample::default().engine(dir.path());
        let dept = engine.cfg().departments[0].clone();
        let raw = "From: Sara <sara@example.se>\r\nTo: bygg@kommun.test\r\nSubject: Fråga\r\nMessage-ID: <q1@example.se>\r\n\r\nHej! En fråga.\r\n";
        let incoming = crate::app::engine::Incoming {
            key: MessageKey {
                department: "bygg".into(),
                uid_validity: 1,
                uid: 1,
            },
            received: Utc::now(),
            raw: raw.as_bytes(),
            sent_folder: false,
        };
        engine.handle(&dept, &incoming).unwrap();
        let outbox = engine.outbox_handle();
        let receipt = outbox
            .pending()
            .unwrap()
            .into_iter()
            .find(|m| m.kind == Kind::Receipt)
            .unwrap();
        let why = "550 5.1.1 <sara@example.se>: mailbox unknown";
        outbox.mark_sent(&receipt, Utc::now(), Some(why)).unwrap();
        outbox.mark_sent(&receipt, Utc::now(), Some(why)).unwrap();
        let told: Vec<_> = outbox
            .pending()
            .unwrap()
            .into_iter()
            .filter(|m| m.kind == Kind::Undeliverable)
            .collect();
        assert_eq!(told.len(), 1, "told once");
        assert_eq!(told[0].to, vec!["o1@kommun.test".to_string()]);
        let case = engine.store.cases().unwrap().remove(0);
        let line = format!("the receipt to sara@example.se could not be delivered ({why})");
        assert_eq!(case.flagged.as_deref(), Some(line.as_str()));
        assert_eq!(case.events.iter().filter(|e| e.what == line).count(), 1);
    }

    /// A store in `dir` with one case open, its outbox, and the case's receipt, pending.
    fn one_case(dir: &std::path::Path) -> (Store, Outbox, Outgoing) {
        let raw = Store::open(dir).unwrap();
        let store = Outbox::new(Arc::new(raw.clone()));
        open(&raw, 1, "m1@x");
        let m = store.pending().unwrap().remove(0);
        (raw, store, m)
    }

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
        let (raw, store, m) = one_case(dir.path());
        store.take_off(&m, Utc::now()).unwrap();
        store.mark_sent(&m, Utc::now(), None).unwrap();
        assert!(store.pending().unwrap().is_empty());
        assert_eq!(store.unconfirmed_since("bygg@kommun.test").unwrap(), None);
        assert_eq!(sent_lines(&raw), 1, "{:?}", timeline(&raw));
    }

    #[test]
    fn mail_in_flight_survives_a_restart_and_waits_for_its_copy() {
        let dir = tempfile::tempdir().unwrap();
        let since = Utc::now();
        {
            let (_raw, store, m) = one_case(dir.path());
            store.take_off(&m, since).unwrap();
            // The server's answer, recorded unflushed, is lost with the process.
        }
        let raw = Store::open(dir.path()).unwrap();
        let store = Outbox::new(Arc::new(raw.clone()));
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
        assert!(raw.was_handled(&key(2)).unwrap());
        assert!(store.pending().unwrap().is_empty());
        assert_eq!(store.unconfirmed_since("bygg@kommun.test").unwrap(), None);
        assert!(timeline(&raw)
            .iter()
            .any(|w| w.contains("confirmed by its copy")));
        // A later record of the same mail (or a second copy) changes nothing.
        store
            .mark_sent(&mail("BMN-2026-0001"), Utc::now(), None)
            .unwrap();
        assert_eq!(store.confirm_copy(&key(3), &id, Utc::now()).unwrap(), None);
        assert_eq!(sent_lines(&raw), 1, "{:?}", timeline(&raw));
    }

    #[test]
    fn mail_without_its_copy_goes_again_only_after_the_wait() {
        let dir = tempfile::tempdir().unwrap();
        let (raw, store, m) = one_case(dir.path());
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
        assert!(timeline(&raw)
            .iter()
            .any(|w| w.contains("sending it again")));
    }

    #[test]
    fn only_mail_with_a_copy_is_marked_in_flight() {
        let dir = tempfile::tempdir().unwrap();
        let (raw, store, _) = one_case(dir.path());
        let staff = Outgoing {
            id: "kvittens.reminder.BMN-2026-0001@kommun.test".into(),
            kind: Kind::Reminder,
            copy: false,
            ..mail("BMN-2026-0001")
        };
        assert!(raw
            .queue_digest("bygg", Utc::now(), &queued(staff.clone()))
            .unwrap());
        store.take_off(&staff, Utc::now()).unwrap();
        assert_eq!(store.in_flight().unwrap(), 0);
        assert_eq!(store.pending().unwrap().len(), 2, "both still pending");
    }

    #[test]
    fn mail_whose_mailbox_is_no_longer_watched_goes_again() {
        let dir = tempfile::tempdir().unwrap();
        let (_raw, store, m) = one_case(dir.path());
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
        let (raw, store, m) = one_case(dir.path());
        store.take_off(&m, Utc::now()).unwrap();
        store.ground(&m, Utc::now(), "452 mailbox full").unwrap();
        assert_eq!(store.pending().unwrap(), vec![m]);
        assert!(timeline(&raw).iter().any(|w| w.contains("452")));
    }
}
