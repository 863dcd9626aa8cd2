//! What the watcher needs of a mailbox, as a trait: EXAMINE with its UIDVALIDITY, UID FETCH of
//! what lies above a cursor, the message itself, and a wait for EXISTS (RFC 2177 IDLE, or a
//! poll). [`Imap`] is the real one over async-imap; `net::fake` keeps mailboxes in memory so
//! that the whole loop runs in a plain `cargo test`.

use super::connect::{connect_dept, examine, Session};
use super::WatchError;
use crate::config::Department;
use async_imap::types::{Fetch, UnsolicitedResponse};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use std::future::Future;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// A folder as EXAMINE reports it (RFC 3501 §6.3.2, §2.3.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Examined {
    /// UIDVALIDITY: when it changes, every UID the watcher knows means nothing any more.
    pub uid_validity: u32,
    /// UIDNEXT, when the server gives it: the UID the next delivered message will get.
    pub uid_next: Option<u32>,
}

/// One message of a listing: its UID, its size in bytes (RFC822.SIZE) and its message
/// sequence number (which tells the mailbox's size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed {
    /// UID.
    pub uid: u32,
    /// Size in bytes.
    pub size: u32,
    /// Message sequence number.
    pub seq: u32,
}

/// One message of a first listing: its UID and when it arrived (INTERNALDATE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dated {
    /// UID.
    pub uid: u32,
    /// INTERNALDATE, when the server gives it.
    pub received: Option<DateTime<Utc>>,
}

/// One fetched message: its bytes (or, for a large one, its header's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// UID.
    pub uid: u32,
    /// INTERNALDATE, when the server gives it.
    pub received: Option<DateTime<Utc>>,
    /// The message, or its header.
    pub raw: Vec<u8>,
}

/// A logged-in session on one mailbox, as the watcher uses it. Read-only by design: nothing
/// here marks a message \Seen or moves it.
pub trait Mailbox: Send + Sized {
    /// EXAMINEs `folder`; a missing folder is [`Problem::FolderMissing`](crate::net::diagnose::Problem).
    fn examine(
        &mut self,
        folder: &str,
    ) -> impl Future<Output = Result<Examined, WatchError>> + Send;
    /// The folder marked `\Sent` (RFC 6154 SPECIAL-USE), else one called "Sent".
    fn find_sent(&mut self) -> impl Future<Output = Result<Option<String>, WatchError>> + Send;
    /// Whether the server has IDLE (RFC 2177).
    fn can_idle(&mut self) -> impl Future<Output = Result<bool, WatchError>> + Send;
    /// Every message's UID and INTERNALDATE, for where to begin on a new mailbox.
    fn list_all(&mut self) -> impl Future<Output = Result<Vec<Dated>, WatchError>> + Send;
    /// `UID FETCH first:*`: as IMAP does, the newest message comes even when below `first`.
    fn list_from(
        &mut self,
        first: u32,
    ) -> impl Future<Output = Result<Vec<Listed>, WatchError>> + Send;
    /// The messages `uids` in full, or only their headers (`header_only`), unread (PEEK).
    fn fetch(
        &mut self,
        uids: &[u32],
        header_only: bool,
    ) -> impl Future<Output = Result<Vec<Fetched>, WatchError>> + Send;
    /// Forgets what the server announced so far (a listing is about to cover it).
    fn forget_announced(&mut self);
    /// Takes what the server announced (EXISTS, EXPUNGE) since into `size`.
    fn absorb_announced(&mut self, size: &mut MailboxSize);
    /// Waits until the server announces mail beyond `size`, `renew` passes, the daemon stops
    /// (`shutdown`) or reloads (`reloaded`).
    fn idle(
        self,
        renew: Duration,
        size: MailboxSize,
        shutdown: &CancellationToken,
        reloaded: &Notify,
    ) -> impl Future<Output = Result<Self, WatchError>> + Send;
    /// NOOP, for a server without IDLE: the answer carries what arrived.
    fn noop(&mut self) -> impl Future<Output = Result<(), WatchError>> + Send;
    /// LOGOUT; a failure does not matter, the session ends anyway.
    fn logout(self) -> impl Future<Output = ()> + Send;
}

/// Logs in to a department's mailbox.
pub trait Connect: Clone + Send + Sync + std::fmt::Debug + 'static {
    /// The session.
    type Mailbox: Mailbox;
    /// Connects and logs in as `dept` says; returns the session and, for an OAuth2 login,
    /// until when it may be kept (see `oauth2::Token::use_until`).
    fn connect(
        &self,
        dept: &Department,
    ) -> impl Future<Output = Result<(Self::Mailbox, Option<Instant>), WatchError>> + Send;
}

/// The real mail servers, over async-imap.
#[derive(Debug, Clone, Copy, Default)]
pub struct Imap;

impl Connect for Imap {
    type Mailbox = Session;
    async fn connect(&self, dept: &Department) -> Result<(Session, Option<Instant>), WatchError> {
        connect_dept(dept).await
    }
}

fn received(f: &Fetch) -> Option<DateTime<Utc>> {
    f.internal_date().map(|d| d.with_timezone(&Utc))
}

impl Mailbox for Session {
    async fn examine(&mut self, folder: &str) -> Result<Examined, WatchError> {
        let mailbox = examine(self, folder).await?;
        Ok(Examined {
            uid_validity: mailbox.uid_validity.unwrap_or(0),
            uid_next: mailbox.uid_next,
        })
    }

    async fn find_sent(&mut self) -> Result<Option<String>, WatchError> {
        super::connect::special_sent(self).await
    }

    async fn can_idle(&mut self) -> Result<bool, WatchError> {
        Ok(self.capabilities().await?.has_str("IDLE"))
    }

    async fn list_all(&mut self) -> Result<Vec<Dated>, WatchError> {
        let all: Vec<Fetch> = self
            .uid_fetch("1:*", "(UID INTERNALDATE)")
            .await?
            .try_collect()
            .await?;
        Ok(all
            .iter()
            .filter_map(|f| {
                Some(Dated {
                    uid: f.uid?,
                    received: received(f),
                })
            })
            .collect())
    }

    async fn list_from(&mut self, first: u32) -> Result<Vec<Listed>, WatchError> {
        let listing: Vec<Fetch> = self
            .uid_fetch(format!("{first}:*"), "(UID RFC822.SIZE)")
            .await?
            .try_collect()
            .await?;
        Ok(listing
            .iter()
            .filter_map(|f| {
                Some(Listed {
                    uid: f.uid?,
                    size: f.size.unwrap_or(0),
                    seq: f.message,
                })
            })
            .collect())
    }

    async fn fetch(&mut self, uids: &[u32], header_only: bool) -> Result<Vec<Fetched>, WatchError> {
        let items = if header_only {
            "(UID INTERNALDATE BODY.PEEK[HEADER])"
        } else {
            "(UID INTERNALDATE BODY.PEEK[])"
        };
        let set: Vec<String> = uids.iter().map(u32::to_string).collect();
        let got: Vec<Fetch> = self
            .uid_fetch(set.join(","), items)
            .await?
            .try_collect()
            .await?;
        // An unsolicited FETCH (another client changed a message's flags) comes in the same
        // stream without the message's text: it is not the message, and must neither be
        // handled as an empty mail nor move the cursor past the real one.
        Ok(got
            .iter()
            .filter_map(|f| {
                let raw = f.body().or_else(|| f.header())?;
                Some(Fetched {
                    uid: f.uid?,
                    received: received(f),
                    raw: raw.to_vec(),
                })
            })
            .collect())
    }

    fn forget_announced(&mut self) {
        while self.unsolicited_responses.try_recv().is_ok() {}
    }

    fn absorb_announced(&mut self, size: &mut MailboxSize) {
        let rx = &self.unsolicited_responses;
        size.absorb(rx.is_full(), std::iter::from_fn(|| rx.try_recv().ok()));
    }

    async fn idle(
        self,
        renew: Duration,
        size: MailboxSize,
        shutdown: &CancellationToken,
        reloaded: &Notify,
    ) -> Result<Self, WatchError> {
        idle(self, renew, size, shutdown, reloaded).await
    }

    async fn noop(&mut self) -> Result<(), WatchError> {
        Ok(async_imap::Session::noop(self).await?)
    }

    async fn logout(mut self) {
        let _ = async_imap::Session::logout(&mut self).await;
    }
}

/// The number of messages in the mailbox as the server has told it since a listing (RFC 3501
/// §7.3.1 EXISTS; §7.4.1 EXPUNGE lowers it by one without an EXISTS), and whether it has told
/// of more than that: new mail, to be read before waiting. A server may repeat an EXISTS with
/// the same number, so only a larger one counts: the watcher never loops on a repetition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxSize {
    /// How many messages the mailbox holds.
    pub known: u32,
    /// Whether the server told of more than the listing showed.
    pub grew: bool,
}

impl MailboxSize {
    /// After a listing whose highest message sequence number was `highest` (none: empty).
    pub fn new(highest: Option<u32>) -> Self {
        MailboxSize {
            known: highest.unwrap_or(0),
            grew: false,
        }
    }

    /// Takes in the unsolicited responses in the order the server sent them. `overflowed`: the
    /// channel was full, so some may have been dropped — then the mailbox may have grown.
    pub fn absorb(
        &mut self,
        overflowed: bool,
        responses: impl IntoIterator<Item = UnsolicitedResponse>,
    ) {
        self.grew |= overflowed;
        for r in responses {
            match r {
                UnsolicitedResponse::Exists(n) => {
                    self.grew |= n > self.known;
                    self.known = n;
                }
                UnsolicitedResponse::Expunge(_) => self.known = self.known.saturating_sub(1),
                _ => {}
            }
        }
    }
}

/// Waits in IDLE (RFC 2177) until the server reports something, `renew` passes
/// (async-imap's timeout is reset by server keepalives, so it alone could wait forever), or
/// the daemon stops or reloads its config. `size` is the mailbox as read just before: a server
/// may announce new mail before its `+ idling` continuation, where async-imap puts it on the
/// unsolicited channel rather than ending the wait; such mail ends the IDLE at once.
async fn idle(
    s: Session,
    renew: Duration,
    mut size: MailboxSize,
    shutdown: &CancellationToken,
    reloaded: &Notify,
) -> Result<Session, WatchError> {
    // A reload from here on ends the wait: `renew` was read just before.
    let reload = reloaded.notified();
    tokio::pin!(reload);
    reload.as_mut().enable();
    let rx = s.unsolicited_responses.clone();
    let mut handle = s.idle();
    handle.init().await?;
    size.absorb(rx.is_full(), std::iter::from_fn(|| rx.try_recv().ok()));
    if !size.grew {
        let (wait, _stop) = handle.wait_with_timeout(renew);
        tokio::select! {
            r = tokio::time::timeout(renew, wait) => {
                if let Ok(Err(e)) = r {
                    return Err(e.into());
                }
            }
            _ = shutdown.cancelled() => {}
            _ = reload => {}
        }
    }
    Ok(handle.done().await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::imap::connect::greeting;
    use crate::net::imap::Io;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::{TcpListener, TcpStream};
    use UnsolicitedResponse::{Exists, Expunge, Recent};

    #[test]
    fn only_a_larger_exists_is_new_mail() {
        let mut size = MailboxSize::new(Some(7));
        size.absorb(false, [Exists(7), Recent(0)]);
        assert_eq!(
            size,
            MailboxSize {
                known: 7,
                grew: false
            },
            "a repetition"
        );
        size.absorb(false, [Exists(8)]);
        assert_eq!(
            size,
            MailboxSize {
                known: 8,
                grew: true
            }
        );
    }

    #[test]
    fn expunges_lower_the_count_so_a_later_arrival_is_seen() {
        // 7 known; two expunged (5), then one new: EXISTS 6 is below the listing's 7.
        let mut size = MailboxSize::new(Some(7));
        size.absorb(false, [Expunge(3), Expunge(3)]);
        assert!(!size.grew);
        size.absorb(false, [Exists(6)]);
        assert!(size.grew);
    }

    #[test]
    fn an_empty_mailbox_grows_with_its_first_mail() {
        let mut size = MailboxSize::new(None);
        size.absorb(false, [Exists(0)]);
        assert!(!size.grew);
        size.absorb(false, [Exists(1)]);
        assert!(size.grew);
    }

    #[test]
    fn a_full_channel_counts_as_growth() {
        // async-imap drops what does not fit in its channel: an EXISTS may be among it.
        let mut size = MailboxSize::new(Some(3));
        size.absorb(true, []);
        assert!(size.grew);
    }

    /// A scripted IMAP server: greets, accepts LOGIN, and answers IDLE with `before` followed by
    /// `+ idling`; answers DONE with the IDLE's completion. Returns its port.
    async fn server(before: &'static str) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (conn, _) = listener.accept().await.unwrap();
            let (r, mut w) = conn.into_split();
            let mut lines = BufReader::new(r).lines();
            w.write_all(b"* OK [CAPABILITY IMAP4rev1 IDLE] ready\r\n")
                .await
                .unwrap();
            let mut idle_tag = String::new();
            while let Ok(Some(line)) = lines.next_line().await {
                let (tag, command) = line.split_once(' ').unwrap_or((&line, ""));
                let reply = if line == "DONE" {
                    format!("{idle_tag} OK idle done\r\n")
                } else if command == "IDLE" {
                    idle_tag = tag.to_string();
                    format!("{before}+ idling\r\n")
                } else {
                    format!("{tag} OK done\r\n")
                };
                w.write_all(reply.as_bytes()).await.unwrap();
            }
        });
        port
    }

    async fn session(port: u16) -> Session {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut client = async_imap::Client::new(Box::new(tcp) as Box<dyn Io>);
        greeting(&mut client, "127.0.0.1", port).await.unwrap();
        client.login("u", "p").await.map_err(|(e, _)| e).unwrap()
    }

    /// How long `idle` waited, with `renew` as the longest wait, after a listing that saw 4
    /// messages.
    async fn idle_time(before: &'static str, renew: Duration) -> Duration {
        let s = session(server(before).await).await;
        let shutdown = CancellationToken::new();
        let start = std::time::Instant::now();
        let waited = tokio::time::timeout(
            Duration::from_secs(10),
            idle(
                s,
                renew,
                MailboxSize::new(Some(4)),
                &shutdown,
                &Notify::new(),
            ),
        )
        .await;
        assert!(matches!(waited, Ok(Ok(_))), "IDLE failed: {waited:?}");
        start.elapsed()
    }

    #[tokio::test]
    async fn mail_announced_before_the_idling_continuation_ends_the_idle_at_once() {
        let waited = idle_time("* 5 EXISTS\r\n* 1 RECENT\r\n", Duration::from_secs(8)).await;
        assert!(waited < Duration::from_secs(2), "waited {waited:?}");
    }

    #[tokio::test]
    async fn a_repeated_exists_before_the_idling_continuation_does_not_end_the_idle() {
        let renew = Duration::from_millis(500);
        let waited = idle_time("* 4 EXISTS\r\n", renew).await;
        assert!(waited >= renew, "waited {waited:?}");
    }
}
