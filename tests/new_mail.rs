//! No mail waits for the next one: new mail is noticed however its announcement (the untagged
//! `* N EXISTS` of RFC 3501 §7.3.1) reaches kvittens — during IDLE, inside the response to
//! another command, or while the mailbox is first opened.
//!
//! The windows are made to happen on purpose: a small TCP proxy between kvittens and Dovecot
//! holds back the server's tagged completion of one chosen command until the test has delivered
//! a new mail, so that Dovecot's announcement of it lands exactly where the test wants it.

mod common;

use common::{Setup, Stack};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// A command whose completion is to be held back: the first command on a connection that
/// EXAMINEd `folder` whose line contains `pattern`.
struct Arm {
    pattern: String,
    folder: String,
    held: Option<oneshot::Sender<()>>,
    release: Option<oneshot::Receiver<Vec<String>>>,
}

#[derive(Default)]
struct State {
    arm: Option<Arm>,
    /// Every client command line and the first line of every server response, in order, with
    /// the connection's number: what the test looks at to see that the window did happen.
    transcript: Vec<(usize, String)>,
}

/// The proxy: every connection to `port` goes on to Dovecot.
struct Proxy {
    port: u16,
    state: Arc<Mutex<State>>,
}

/// A hold set on the proxy: `held` resolves when the completion is being held back; what is
/// sent on `release` goes to the client just before it (lines a server may send unsolicited).
struct Hold {
    held: oneshot::Receiver<()>,
    release: oneshot::Sender<Vec<String>>,
}

impl Proxy {
    async fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        tokio::spawn(async move {
            let mut n = 0;
            while let Ok((client, _)) = listener.accept().await {
                n += 1;
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                    continue;
                };
                tokio::spawn(connection(n, client, server, shared.clone()));
            }
        });
        Proxy { port, state }
    }

    /// Holds back the completion of the next command containing `pattern` on a connection that
    /// examined `folder`.
    fn hold(&self, folder: &str, pattern: &str) -> Hold {
        let (held_tx, held) = oneshot::channel();
        let (release, release_rx) = oneshot::channel();
        self.state.lock().unwrap().arm = Some(Arm {
            pattern: pattern.to_string(),
            folder: format!("EXAMINE \"{folder}\""),
            held: Some(held_tx),
            release: Some(release_rx),
        });
        Hold { held, release }
    }

    fn transcript(&self) -> Vec<(usize, String)> {
        self.state.lock().unwrap().transcript.clone()
    }

    /// Waits until `n` client lines contain `text` (at most 30 s).
    async fn wait_client(&self, text: &str, n: usize) {
        let start = Instant::now();
        loop {
            let seen = self
                .transcript()
                .iter()
                .filter(|(_, l)| l.starts_with("C: ") && l.contains(text))
                .count();
            if seen >= n {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "kvittens never sent {text:?} {n} times: {:#?}",
                self.transcript()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Hold {
    async fn wait(&mut self) {
        tokio::time::timeout(Duration::from_secs(30), &mut self.held)
            .await
            .expect("kvittens never sent the command to hold")
            .unwrap();
    }
}

/// One proxied connection: client lines pass at once; server responses (with their literals)
/// pass whole, except the held completion.
async fn connection(n: usize, client: TcpStream, server: TcpStream, state: Arc<Mutex<State>>) {
    let (client_read, mut client_write) = client.into_split();
    let (server_read, mut server_write) = server.into_split();
    // The tag whose completion is to be held, once the client has sent that command.
    let (tag_tx, mut tag_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let up = state.clone();
    tokio::spawn(async move {
        let mut lines = BufReader::new(client_read);
        let mut examined = String::new();
        let mut line = Vec::new();
        loop {
            line.clear();
            if lines.read_until(b'\n', &mut line).await.unwrap_or(0) == 0 {
                break;
            }
            let text = String::from_utf8_lossy(&line).trim_end().to_string();
            if text.contains("EXAMINE") {
                examined = text.clone();
            }
            {
                let mut st = up.lock().unwrap();
                st.transcript.push((n, format!("C: {text}")));
                let fits = st.arm.as_ref().is_some_and(|a| {
                    a.held.is_some()
                        && text.contains(&a.pattern)
                        && (examined.contains(&a.folder) || text.contains(&a.folder))
                });
                if fits {
                    let tag = text.split(' ').next().unwrap_or_default().to_string();
                    tag_tx.send(tag).ok();
                }
            }
            if server_write.write_all(&line).await.is_err() {
                break;
            }
        }
        server_write.shutdown().await.ok();
    });
    let mut responses = BufReader::new(server_read);
    let mut held_tag: Option<String> = None;
    loop {
        let Some((head, whole)) = response(&mut responses).await else {
            break;
        };
        if held_tag.is_none() {
            held_tag = tag_rx.try_recv().ok();
        }
        let completes_held = held_tag
            .as_ref()
            .is_some_and(|t| head.starts_with(&format!("{t} ")));
        let release = if completes_held {
            held_tag = None;
            let mut st = state.lock().unwrap();
            st.transcript.push((n, "-- held --".into()));
            st.arm.take().and_then(|mut a| {
                a.held.take().map(|h| h.send(()).ok());
                a.release.take()
            })
        } else {
            None
        };
        if let Some(release) = release {
            let inject = release.await.unwrap_or_default();
            state
                .lock()
                .unwrap()
                .transcript
                .push((n, "-- released --".into()));
            for line in inject {
                state
                    .lock()
                    .unwrap()
                    .transcript
                    .push((n, format!("S: {line} (injected)")));
                if client_write
                    .write_all(format!("{line}\r\n").as_bytes())
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
        state.lock().unwrap().transcript.push((
            n,
            format!("S: {}", head.chars().take(100).collect::<String>()),
        ));
        if client_write.write_all(&whole).await.is_err() {
            break;
        }
    }
}

/// One server response: its first line (for the transcript) and all its bytes, literals
/// (`{n}` at a line's end, RFC 3501 §4.3) included.
async fn response<R: tokio::io::AsyncRead + Unpin>(
    r: &mut BufReader<R>,
) -> Option<(String, Vec<u8>)> {
    let mut whole = Vec::new();
    let mut head = None;
    loop {
        let start = whole.len();
        if r.read_until(b'\n', &mut whole).await.ok()? == 0 {
            return None;
        }
        let line = String::from_utf8_lossy(&whole[start..])
            .trim_end()
            .to_string();
        head.get_or_insert_with(|| line.clone());
        let literal = line
            .strip_suffix('}')
            .and_then(|l| l.rsplit_once('{'))
            .and_then(|(_, n)| n.parse::<usize>().ok());
        match literal {
            Some(len) => {
                let at = whole.len();
                whole.resize(at + len, 0);
                r.read_exact(&mut whole[at..]).await.ok()?;
            }
            None => return Some((head.unwrap_or_default(), whole)),
        }
    }
}

/// A config whose mailboxes are reached through the proxy.
fn via_proxy(s: &Setup, proxy: &Proxy) {
    let text = std::fs::read_to_string(&s.config).unwrap();
    let imap = format!("port = {}\n", s.stack.imap_port);
    assert!(text.contains(&imap));
    let text = text.replacen(&imap, &format!("port = {}\n", proxy.port), 1);
    std::fs::write(&s.config, text).unwrap();
}

/// A colleague's mail: it opens no case and sends nothing, so no copy of a receipt arrives
/// after it to wake the watcher by chance.
fn colleague(s: &Setup, id: &str) -> String {
    format!(
        "From: Kollega <kollega-{tag}@kommun.test>\nTo: {mailbox}\nSubject: Lunch\nMessage-ID: <{id}@kommun.test>\nDate: Sat, 28 Nov 2026 10:00:00 +0100\n\nSes vid tolv.\n",
        tag = s.tag,
        mailbox = s.mailbox()
    )
}

/// How long until `user` has a message (at most `limit`).
async fn time_to_first(stack: &Stack, user: &str, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if !stack.inbox(user).await.is_empty() {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Whether the server announced new mail (`* N EXISTS`) on the inbox connection after the held
/// completion: proof that the window did happen.
fn exists_after_hold(transcript: &[(usize, String)]) -> bool {
    let Some((at, conn)) = transcript
        .iter()
        .enumerate()
        .find(|(_, (_, l))| l == "-- held --")
        .map(|(i, (c, _))| (i, *c))
    else {
        return false;
    };
    transcript[at..]
        .iter()
        .any(|(c, l)| *c == conn && l.starts_with("S: *") && l.ends_with("EXISTS"))
}

/// The case of the report: mail delivered while the watcher reads the mailbox, announced inside
/// the response to a later command (not the listing that decides what to read), gets its
/// receipt at once and not when the next mail arrives.
#[tokio::test(flavor = "multi_thread")]
async fn mail_announced_inside_a_fetch_gets_its_receipt_at_once() {
    let stack = Stack::from_env();
    let proxy = Proxy::start(stack.imap_port).await;
    let s = Setup::new("window-fetch", "");
    via_proxy(&s, &proxy);
    let _daemon = s.start();
    // Both watchers (inbox and Sent) are in IDLE.
    proxy.wait_client("IDLE", 2).await;

    // The listing that follows the colleague's mail is held until the resident's mail is in.
    let mut hold = proxy.hold("INBOX", "RFC822.SIZE");
    s.stack
        .append(&s.mailbox(), &colleague(&s, "c1-window"))
        .await;
    hold.wait().await;
    s.stack
        .append(
            &s.mailbox(),
            &s.question(2, "q2-window", "Fråga om bygglov"),
        )
        .await;
    hold.release.send(Vec::new()).unwrap();

    let waited = time_to_first(&s.stack, &s.resident(2), Duration::from_secs(15)).await;
    let transcript = proxy.transcript();
    assert!(
        exists_after_hold(&transcript),
        "the window did not happen: {transcript:#?}"
    );
    println!("the resident's mail waited {waited:?} for its receipt");
    let waited = waited.expect("the resident's mail got no receipt within 15 s");
    assert!(waited < Duration::from_secs(5), "it waited {waited:?}");
}

/// Mail announced just before IDLE begins (in the completion of the last FETCH, or before the
/// server's `+ idling`) is read before kvittens waits.
#[tokio::test(flavor = "multi_thread")]
async fn mail_announced_before_idle_gets_its_receipt_at_once() {
    let stack = Stack::from_env();
    let proxy = Proxy::start(stack.imap_port).await;
    let s = Setup::new("window-idle", "");
    via_proxy(&s, &proxy);
    let _daemon = s.start();
    proxy.wait_client("IDLE", 2).await;

    // The FETCH of the colleague's mail is the last command before IDLE.
    let mut hold = proxy.hold("INBOX", "BODY.PEEK[]");
    s.stack
        .append(&s.mailbox(), &colleague(&s, "c1-idle"))
        .await;
    hold.wait().await;
    s.stack
        .append(&s.mailbox(), &s.question(3, "q3-idle", "Fråga om bygglov"))
        .await;
    hold.release.send(Vec::new()).unwrap();

    let waited = time_to_first(&s.stack, &s.resident(3), Duration::from_secs(15)).await;
    let transcript = proxy.transcript();
    assert!(
        exists_after_hold(&transcript),
        "the window did not happen: {transcript:#?}"
    );
    println!("the resident's mail waited {waited:?} for its receipt");
    let waited = waited.expect("the resident's mail got no receipt within 15 s");
    assert!(waited < Duration::from_secs(5), "it waited {waited:?}");
}

/// On the first start the mailbox's state at EXAMINE (its UIDNEXT) is where "new" begins: a mail
/// delivered a moment after it is acknowledged, not taken for old mail.
#[tokio::test(flavor = "multi_thread")]
async fn mail_arriving_while_a_first_start_opens_the_mailbox_gets_its_receipt() {
    let stack = Stack::from_env();
    let proxy = Proxy::start(stack.imap_port).await;
    let s = Setup::new("window-first", "");
    via_proxy(&s, &proxy);
    // Old mail, there before kvittens first starts: no receipt.
    s.stack
        .append(&s.mailbox(), &s.question(1, "q1-first", "Gammal fråga"))
        .await;

    let mut hold = proxy.hold("INBOX", "EXAMINE \"INBOX\"");
    let daemon = s.spawn();
    hold.wait().await;
    s.stack
        .append(&s.mailbox(), &s.question(2, "q2-first", "Ny fråga"))
        .await;
    hold.release.send(Vec::new()).unwrap();
    daemon.wait_log("watching mailbox", 1);

    let waited = time_to_first(&s.stack, &s.resident(2), Duration::from_secs(15)).await;
    println!("the resident's mail waited {waited:?} for its receipt");
    assert!(
        waited.is_some(),
        "a mail delivered after EXAMINE was taken for old mail:\n{}",
        daemon.log_text()
    );
    assert!(
        s.stack.inbox(&s.resident(1)).await.is_empty(),
        "old mail got a receipt"
    );
}

/// A server may tell of another client's flag change at any time (RFC 3501 §7.4.2, with the UID
/// in a UID command's response, §6.4.8): a registrar opens a mail that has just arrived while
/// kvittens fetches an earlier one. That FETCH carries no text; it must not be taken for the
/// new mail (handled as empty, the cursor moved past it) and the mail must still get its
/// receipt.
#[tokio::test(flavor = "multi_thread")]
async fn a_flag_change_reported_inside_a_fetch_is_not_taken_for_the_mail() {
    let stack = Stack::from_env();
    let proxy = Proxy::start(stack.imap_port).await;
    let s = Setup::new("window-flags", "");
    via_proxy(&s, &proxy);
    let daemon = s.start();
    proxy.wait_client("IDLE", 2).await;

    // UID 1, the colleague's mail, is being fetched when the resident's mail (UID 2) arrives
    // and a registrar opens it.
    let mut hold = proxy.hold("INBOX", "BODY.PEEK[]");
    s.stack
        .append(&s.mailbox(), &colleague(&s, "c1-flags"))
        .await;
    hold.wait().await;
    s.stack
        .append(&s.mailbox(), &s.question(4, "q4-flags", "Fråga om bygglov"))
        .await;
    hold.release
        .send(vec![
            "* 2 EXISTS".into(),
            "* 2 FETCH (UID 2 FLAGS (\\Seen))".into(),
        ])
        .unwrap();

    let waited = time_to_first(&s.stack, &s.resident(4), Duration::from_secs(15)).await;
    println!("the resident's mail waited {waited:?} for its receipt");
    let waited = waited
        .unwrap_or_else(|| panic!("the resident's mail got no receipt:\n{}", daemon.log_text()));
    assert!(waited < Duration::from_secs(5), "it waited {waited:?}");
}

/// SIGHUP puts a new `idle_renew` in force at once: a watcher in IDLE starts its wait again
/// instead of sitting out the old one (up to 29 minutes, during which a firewall that drops
/// quiet connections sooner — the reason to lower it — would hide new mail).
#[tokio::test(flavor = "multi_thread")]
async fn a_reload_starts_the_wait_again_with_the_new_settings() {
    let stack = Stack::from_env();
    let proxy = Proxy::start(stack.imap_port).await;
    let s = Setup::new("window-reload", "");
    via_proxy(&s, &proxy);
    let daemon = s.start();
    proxy.wait_client("IDLE", 2).await;

    let text = std::fs::read_to_string(&s.config).unwrap();
    std::fs::write(
        &s.config,
        text.replace("idle_renew = \"25m\"", "idle_renew = \"2s\""),
    )
    .unwrap();
    let before = proxy.transcript().len();
    daemon.signal("HUP");
    daemon.wait_log("config and templates reloaded", 1);
    // Both watchers end their IDLE at once, and then renew it every 2 s.
    tokio::time::sleep(Duration::from_millis(5500)).await;
    let transcript = proxy.transcript();
    let done = transcript[before..]
        .iter()
        .filter(|(_, l)| l == "C: DONE")
        .count();
    assert!(
        done >= 4,
        "{done} IDLE ended after the reload: {transcript:#?}"
    );
}
