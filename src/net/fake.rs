//! In-memory mail servers for tests: mailboxes with folders, UIDs and UIDVALIDITY, and an SMTP
//! server that delivers to them, so that the whole loop — read, decide, record, send, crash,
//! restart — runs in a plain `cargo test` in milliseconds, beside the tests against Dovecot
//! and Postfix. Each can be told to fail: the IMAP server to refuse connections, the SMTP
//! server to be down, refuse a mail, or lose the connection before or after the final dot.
//!
//! One [`FakeServer`] is both: the SMTP side delivers every accepted mail to each recipient
//! that has a mailbox here (into its INBOX), which is how the copy of a receipt reaches the
//! department mailbox, as Postfix delivers it to Dovecot.

use crate::config::Department;
use crate::mail::outgoing::Outgoing;
use crate::net::diagnose::Problem;
use crate::net::imap::{
    Connect, Dated, Examined, Fetched, Listed, Mailbox, MailboxSize, WatchError,
};
use crate::net::smtp::{Handed, NotSent, Submission, Transaction};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// What the fake SMTP server does with the next transaction (each fault is used once, in the
/// order given).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Not reachable: the mail stays queued and is tried again with backoff.
    Down,
    /// A 550 to the mail: refused for good.
    Refuse,
    /// The connection drops before the final dot: the server has nothing.
    DropBeforeDot,
    /// The server takes the mail and delivers it, but its answer is lost.
    DropAfterDot,
    /// The process stops before the final dot: `finish` never returns (the test then drops
    /// the task, as a crash would), and the server has nothing.
    HangBeforeDot,
    /// The process stops after the final dot: the server delivers the mail, `finish` never
    /// returns.
    HangAfterDot,
}

/// One message in a folder.
#[derive(Debug, Clone)]
struct Stored {
    uid: u32,
    received: DateTime<Utc>,
    raw: Vec<u8>,
}

/// One folder: its UIDVALIDITY, the next UID and the messages in UID order.
#[derive(Debug, Clone)]
struct Folder {
    validity: u32,
    next_uid: u32,
    messages: Vec<Stored>,
}

impl Folder {
    fn new(validity: u32) -> Folder {
        Folder {
            validity,
            next_uid: 1,
            messages: Vec::new(),
        }
    }
}

/// A mail the fake SMTP server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// MAIL FROM.
    pub from: String,
    /// RCPT TO, the copy's recipient included.
    pub to: Vec<String>,
    /// The message.
    pub bytes: Vec<u8>,
}

#[derive(Debug, Default)]
struct World {
    /// Mailbox address → folder name → folder.
    boxes: HashMap<String, HashMap<String, Folder>>,
    delivered: Vec<Delivered>,
    /// Faults to come, each for the next transaction to its recipient (`None`: to anyone).
    faults: VecDeque<(Option<String>, Fault)>,
    imap_down: bool,
    /// Transactions left hanging by [`Fault::HangBeforeDot`] or [`Fault::HangAfterDot`].
    hanging: usize,
}

/// The fake IMAP and SMTP server; clones share the same mailboxes.
#[derive(Debug, Clone, Default)]
pub struct FakeServer {
    world: Arc<Mutex<World>>,
    /// Rung at every change of a folder, for the sessions waiting in IDLE.
    changed: Arc<Notify>,
}

impl FakeServer {
    /// An empty server.
    pub fn new() -> FakeServer {
        FakeServer::default()
    }

    fn world(&self) -> MutexGuard<'_, World> {
        // A test that panicked while holding the lock has failed already.
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates `address`'s mailbox with an INBOX and a Sent folder (UIDVALIDITY 1).
    pub fn add_mailbox(&self, address: &str) {
        let folders = HashMap::from([
            ("INBOX".to_string(), Folder::new(1)),
            ("Sent".to_string(), Folder::new(1)),
        ]);
        self.world().boxes.insert(address.to_lowercase(), folders);
    }

    /// Delivers `raw` into `folder` of `address`'s mailbox, received now; returns its UID.
    pub fn append(&self, address: &str, folder: &str, raw: &[u8]) -> u32 {
        let uid = {
            let mut w = self.world();
            let f = w
                .boxes
                .entry(address.to_lowercase())
                .or_default()
                .entry(folder.to_string())
                .or_insert_with(|| Folder::new(1));
            let uid = f.next_uid;
            f.next_uid += 1;
            f.messages.push(Stored {
                uid,
                received: Utc::now(),
                raw: raw.to_vec(),
            });
            uid
        };
        self.changed.notify_waiters();
        uid
    }

    /// The messages of `folder` of `address`'s mailbox, in UID order.
    pub fn messages(&self, address: &str, folder: &str) -> Vec<Vec<u8>> {
        let w = self.world();
        w.boxes
            .get(&address.to_lowercase())
            .and_then(|b| b.get(folder))
            .map(|f| f.messages.iter().map(|m| m.raw.clone()).collect())
            .unwrap_or_default()
    }

    /// Gives `folder` a new UIDVALIDITY and numbers its messages anew from 1, as a server does
    /// when a mailbox is rebuilt (RFC 3501 §2.3.1.1).
    pub fn renumber(&self, address: &str, folder: &str, validity: u32) {
        {
            let mut w = self.world();
            if let Some(f) = w
                .boxes
                .get_mut(&address.to_lowercase())
                .and_then(|b| b.get_mut(folder))
            {
                f.validity = validity;
                for (i, m) in f.messages.iter_mut().enumerate() {
                    m.uid = i as u32 + 1;
                }
                f.next_uid = f.messages.len() as u32 + 1;
            }
        }
        self.changed.notify_waiters();
    }

    /// Every mail the SMTP side accepted, in order.
    pub fn delivered(&self) -> Vec<Delivered> {
        self.world().delivered.clone()
    }

    /// How many transactions hang where a [`Fault`] told them to: the moment to crash.
    pub fn hanging(&self) -> usize {
        self.world().hanging
    }

    /// Queues `fault` for the next SMTP transaction.
    pub fn fault(&self, fault: Fault) {
        self.world().faults.push_back((None, fault));
    }

    /// Queues `fault` for the next SMTP transaction with `recipient` among its RCPTs.
    pub fn fault_to(&self, recipient: &str, fault: Fault) {
        let to = Some(recipient.to_lowercase());
        self.world().faults.push_back((to, fault));
    }

    /// The first fault queued for a mail to `to`, taken off the queue.
    fn take_fault(&self, to: &[String]) -> Option<Fault> {
        let mut w = self.world();
        let at = w.faults.iter().position(|(rcpt, _)| {
            rcpt.as_ref()
                .is_none_or(|r| to.iter().any(|t| t.eq_ignore_ascii_case(r)))
        })?;
        w.faults.remove(at).map(|(_, f)| f)
    }

    /// Makes the IMAP side refuse (or again accept) connections.
    pub fn imap_down(&self, down: bool) {
        self.world().imap_down = down;
    }

    /// Accepts a mail: logs it and puts it into the INBOX of each recipient kept here.
    fn deliver(&self, from: &str, to: &[String], bytes: &[u8]) {
        self.world().delivered.push(Delivered {
            from: from.to_string(),
            to: to.to_vec(),
            bytes: bytes.to_vec(),
        });
        for rcpt in to {
            let known = self.world().boxes.contains_key(&rcpt.to_lowercase());
            if known {
                self.append(rcpt, "INBOX", bytes);
            }
        }
    }
}

/// A session on one mailbox of a [`FakeServer`].
#[derive(Debug)]
pub struct FakeSession {
    server: FakeServer,
    address: String,
    folder: String,
    /// How many messages the folder held at the last listing or announcement.
    announced: u32,
}

impl FakeSession {
    /// Runs `f` on the selected folder (an empty one when it vanished).
    fn with_folder<R>(&self, f: impl FnOnce(&Folder) -> R) -> R {
        let w = self.server.world();
        let empty = Folder::new(0);
        let folder = w
            .boxes
            .get(&self.address)
            .and_then(|b| b.get(&self.folder))
            .unwrap_or(&empty);
        f(folder)
    }
}

impl Connect for FakeServer {
    type Mailbox = FakeSession;
    async fn connect(
        &self,
        dept: &Department,
    ) -> Result<(FakeSession, Option<Instant>), WatchError> {
        let address = dept.email.to_lowercase();
        let w = self.world();
        if w.imap_down {
            return Err(Problem::Closed {
                host: "fake".into(),
            }
            .into());
        }
        if !w.boxes.contains_key(&address) {
            return Err(Problem::LoginRefused {
                by: "fake".into(),
                user: dept.login.clone(),
            }
            .into());
        }
        drop(w);
        let session = FakeSession {
            server: self.clone(),
            address,
            folder: String::new(),
            announced: 0,
        };
        Ok((session, None))
    }
}

impl Mailbox for FakeSession {
    async fn examine(&mut self, folder: &str) -> Result<Examined, WatchError> {
        let w = self.server.world();
        let Some(f) = w.boxes.get(&self.address).and_then(|b| b.get(folder)) else {
            return Err(Problem::FolderMissing {
                name: folder.to_string(),
            }
            .into());
        };
        let examined = Examined {
            uid_validity: f.validity,
            uid_next: Some(f.next_uid),
        };
        drop(w);
        self.folder = folder.to_string();
        Ok(examined)
    }

    async fn find_sent(&mut self) -> Result<Option<String>, WatchError> {
        let w = self.server.world();
        let has = w
            .boxes
            .get(&self.address)
            .is_some_and(|b| b.contains_key("Sent"));
        Ok(has.then(|| "Sent".to_string()))
    }

    async fn can_idle(&mut self) -> Result<bool, WatchError> {
        Ok(true)
    }

    async fn list_all(&mut self) -> Result<Vec<Dated>, WatchError> {
        Ok(self.with_folder(|f| {
            f.messages
                .iter()
                .map(|m| Dated {
                    uid: m.uid,
                    received: Some(m.received),
                })
                .collect()
        }))
    }

    async fn list_from(&mut self, first: u32) -> Result<Vec<Listed>, WatchError> {
        let listing: Vec<Listed> = self.with_folder(|f| {
            let all = f.messages.iter().enumerate().map(|(i, m)| Listed {
                uid: m.uid,
                size: m.raw.len() as u32,
                seq: i as u32 + 1,
            });
            // As IMAP's "n:*": the newest message comes even when below `first`.
            let newest = all.clone().next_back();
            let mut l: Vec<Listed> = all.filter(|l| l.uid >= first).collect();
            l.extend(newest.filter(|n| n.uid < first));
            l
        });
        self.announced = listing.iter().map(|l| l.seq).max().unwrap_or(0);
        Ok(listing)
    }

    async fn fetch(&mut self, uids: &[u32], header_only: bool) -> Result<Vec<Fetched>, WatchError> {
        Ok(self.with_folder(|f| {
            f.messages
                .iter()
                .filter(|m| uids.contains(&m.uid))
                .map(|m| Fetched {
                    uid: m.uid,
                    received: Some(m.received),
                    raw: if header_only {
                        header_of(&m.raw)
                    } else {
                        m.raw.clone()
                    },
                })
                .collect()
        }))
    }

    fn forget_announced(&mut self) {}

    fn absorb_announced(&mut self, size: &mut MailboxSize) {
        let now = self.with_folder(|f| f.messages.len() as u32);
        if now != self.announced {
            self.announced = now;
            size.absorb(false, [async_imap::types::UnsolicitedResponse::Exists(now)]);
        }
    }

    async fn idle(
        mut self,
        renew: Duration,
        mut size: MailboxSize,
        shutdown: &CancellationToken,
        reloaded: &Notify,
    ) -> Result<FakeSession, WatchError> {
        let changed = self.server.changed.clone();
        let rung = changed.notified();
        tokio::pin!(rung);
        rung.as_mut().enable();
        self.absorb_announced(&mut size);
        if !size.grew {
            tokio::select! {
                _ = rung => {}
                _ = tokio::time::sleep(renew) => {}
                _ = shutdown.cancelled() => {}
                _ = reloaded.notified() => {}
            }
        }
        Ok(self)
    }

    async fn noop(&mut self) -> Result<(), WatchError> {
        Ok(())
    }

    async fn logout(self) {}
}

/// The header of `raw`, up to and with the empty line.
fn header_of(raw: &[u8]) -> Vec<u8> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(raw.len(), |p| p + 4);
    raw[..end].to_vec()
}

/// A transaction on the fake SMTP server, after DATA.
#[derive(Debug)]
pub struct FakeTransaction {
    server: FakeServer,
    from: String,
    to: Vec<String>,
    copied: bool,
    fault: Option<Fault>,
}

impl Submission for FakeServer {
    type Transaction<'a> = FakeTransaction;

    async fn begin(&self, mail: &Outgoing) -> Result<FakeTransaction, NotSent> {
        let fault = self.take_fault(&mail.to);
        match fault {
            Some(Fault::Down) => Err(NotSent::from(Problem::Closed {
                host: "fake".into(),
            })),
            Some(Fault::Refuse) => Err(NotSent {
                permanent: true,
                text: "550 5.1.1 no such user".into(),
                problem: None,
            }),
            fault => {
                let mut to = mail.to.clone();
                if mail.copy {
                    to.push(mail.envelope_from.clone());
                }
                Ok(FakeTransaction {
                    server: self.clone(),
                    from: mail.envelope_from.clone(),
                    to,
                    copied: mail.copy,
                    fault,
                })
            }
        }
    }

    async fn probe(&self) -> Result<(), Problem> {
        Ok(())
    }

    fn logs_in(&self) -> bool {
        false
    }

    fn timeout_problem(&self) -> Problem {
        Problem::Timeout {
            host: "fake".into(),
            port: 25,
        }
    }
}

impl Transaction for FakeTransaction {
    fn copied(&self) -> bool {
        self.copied
    }

    async fn finish(self, bytes: &[u8]) -> Handed {
        let lost = || Handed::Unknown("connection lost".into());
        match self.fault {
            Some(Fault::DropBeforeDot) => lost(),
            Some(Fault::HangBeforeDot) => {
                self.server.world().hanging += 1;
                std::future::pending().await
            }
            Some(Fault::DropAfterDot) => {
                self.server.deliver(&self.from, &self.to, bytes);
                lost()
            }
            Some(Fault::HangAfterDot) => {
                self.server.deliver(&self.from, &self.to, bytes);
                self.server.world().hanging += 1;
                std::future::pending().await
            }
            _ => {
                self.server.deliver(&self.from, &self.to, bytes);
                Handed::Accepted
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn session(server: &FakeServer) -> FakeSession {
        let mut s = FakeSession {
            server: server.clone(),
            address: "a@b.test".into(),
            folder: String::new(),
            announced: 0,
        };
        s.examine("INBOX").await.unwrap();
        s
    }

    #[tokio::test]
    async fn a_listing_from_beyond_the_newest_still_shows_the_newest_as_imap_does() {
        let server = FakeServer::new();
        server.add_mailbox("a@b.test");
        server.append("a@b.test", "INBOX", b"Subject: 1\r\n\r\none");
        server.append("a@b.test", "INBOX", b"Subject: 2\r\n\r\ntwo");
        let mut s = session(&server).await;
        let uids = |l: Vec<Listed>| l.iter().map(|l| (l.uid, l.seq)).collect::<Vec<_>>();
        assert_eq!(uids(s.list_from(1).await.unwrap()), [(1, 1), (2, 2)]);
        assert_eq!(uids(s.list_from(3).await.unwrap()), [(2, 2)]);
        let got = s.fetch(&[2], true).await.unwrap();
        assert_eq!(got[0].raw, b"Subject: 2\r\n\r\n");
    }

    #[tokio::test]
    async fn an_arrival_after_the_listing_is_announced_and_renumbering_changes_uidvalidity() {
        let server = FakeServer::new();
        server.add_mailbox("a@b.test");
        server.append("a@b.test", "INBOX", b"x");
        let mut s = session(&server).await;
        let mut size = MailboxSize::new(s.list_from(1).await.unwrap().last().map(|l| l.seq));
        s.absorb_announced(&mut size);
        assert!(!size.grew);
        server.append("a@b.test", "INBOX", b"y");
        s.absorb_announced(&mut size);
        assert!(size.grew);
        server.renumber("a@b.test", "INBOX", 9);
        let e = s.examine("INBOX").await.unwrap();
        assert_eq!((e.uid_validity, e.uid_next), (9, Some(3)));
    }

    #[tokio::test]
    async fn a_fault_waits_for_a_mail_to_its_recipient() {
        let server = FakeServer::new();
        server.fault_to("r@x.test", Fault::Refuse);
        assert_eq!(server.take_fault(&["other@x.test".into()]), None);
        assert_eq!(server.take_fault(&["R@x.test".into()]), Some(Fault::Refuse));
        assert_eq!(server.take_fault(&["r@x.test".into()]), None);
    }
}
