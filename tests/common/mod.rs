//! Helpers for the end-to-end tests: a config for the mail stack that `scripts/mailstack`
//! started (see `scripts/test`), the real `kvittens` binary as a child process, and an IMAP
//! client to put mail in mailboxes and read what arrives.

#![allow(dead_code)]

use futures::TryStreamExt;
use kvittens::config::{Secret, Security, Server};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The flags Debian's headless Chromium needs on a machine with no display, no GPU and no
/// network (the report's page opened with `--dump-dom`, the web page driven by chromedriver).
pub const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1200,1000",
];

/// The running mail stack.
#[derive(Clone, Debug)]
pub struct Stack {
    pub imap_port: u16,
    pub smtp_port: u16,
}

impl Stack {
    pub fn from_env() -> Stack {
        let port = |var: &str| -> u16 {
            std::env::var(var)
                .unwrap_or_else(|_| panic!("{var} is not set: the end-to-end tests need the mail stack; run them with scripts/test"))
                .parse()
                .unwrap_or_else(|_| panic!("{var} is not a port"))
        };
        Stack {
            imap_port: port("KVITTENS_IMAP_PORT"),
            smtp_port: port("KVITTENS_SMTP_PORT"),
        }
    }

    fn server(&self) -> Server {
        Server {
            host: "127.0.0.1".into(),
            port: self.imap_port,
            security: Security::None,
            ca_file: None,
        }
    }

    pub async fn session(&self, user: &str) -> kvittens::net::imap::Session {
        kvittens::net::imap::connect(&self.server(), user, &Secret::from("secret"))
            .await
            .unwrap_or_else(|e| panic!("IMAP login as {user}: {e}"))
    }

    /// Puts a message in `user`'s INBOX, as delivery would.
    pub async fn append(&self, user: &str, raw: &str) {
        self.append_to(user, "INBOX", raw).await
    }

    /// Puts a message in one of `user`'s folders (e.g. "Sent", as a mail program would).
    pub async fn append_to(&self, user: &str, folder: &str, raw: &str) {
        let mut s = self.session(user).await;
        s.append(
            folder,
            None,
            None,
            raw.replace("\r\n", "\n").replace('\n', "\r\n").as_bytes(),
        )
        .await
        .unwrap();
        s.logout().await.ok();
    }

    /// Every message in `user`'s INBOX, oldest first.
    pub async fn inbox(&self, user: &str) -> Vec<Vec<u8>> {
        let mut s = self.session(user).await;
        let mailbox = s.examine("INBOX").await.unwrap();
        let mut out = Vec::new();
        if mailbox.exists > 0 {
            let fetched: Vec<_> = s
                .fetch("1:*", "BODY.PEEK[]")
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap();
            out = fetched
                .iter()
                .map(|f| f.body().unwrap_or_default().to_vec())
                .collect();
        }
        s.logout().await.ok();
        out
    }

    /// Waits until `user` has at least `n` messages (at most 30 s), and returns them.
    pub async fn wait_for(&self, user: &str, n: usize) -> Vec<Vec<u8>> {
        let start = Instant::now();
        loop {
            let got = self.inbox(user).await;
            if got.len() >= n {
                return got;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{user} has {} message(s), expected {n}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// One test's own department, officers and residents, so tests run side by side.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub tag: String,
    pub stack: Stack,
}

impl Setup {
    /// A config with one department `{tag}` watching `bygg-{tag}@kommun.test`. `extra` is
    /// appended to the department table.
    pub fn new(tag: &str, extra: &str) -> Setup {
        Setup::with_departments(tag, &[("bygg", extra)])
    }

    pub fn with_departments(tag: &str, depts: &[(&str, &str)]) -> Setup {
        let stack = Stack::from_env();
        let dir = tempfile::tempdir().unwrap();
        let mut text = format!(
            r#"[daemon]
store = "store"
internal_domains = ["kommun.test"]
templates = "{templates}"
idle_renew = "25m"
listen = "127.0.0.1:0"

[imap]
host = "127.0.0.1"
port = {imap}
security = "none"

[smtp]
host = "127.0.0.1"
port = {smtp}
security = "none"
from = "Salems kommun <noreply@kommun.test>"

[calendar]
working_hours = "00:00-24:00"
holidays = "none"
"#,
            templates = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("templates")
                .display(),
            imap = stack.imap_port,
            smtp = stack.smtp_port,
        );
        for (i, (name, extra)) in depts.iter().enumerate() {
            let prefix = format!(
                "T{}{}",
                tag.to_uppercase()
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric())
                    .take(6)
                    .collect::<String>(),
                i
            );
            text.push_str(&format!(
                r#"
[[department]]
id = "{name}"
name = "Bygg- och miljöförvaltningen"
case_prefix = "{prefix}"
mailbox = {{ user = "{name}-{tag}@kommun.test", password = "secret" }}
manager = {{ name = "Maria Chef", email = "manager-{tag}@kommun.test" }}
officers = [
  {{ name = "Olle Handläggare", email = "o1-{tag}@kommun.test" }},
  {{ name = "Lisa Handläggare", email = "o2-{tag}@kommun.test" }},
]
{defaults}{extra}
"#,
                defaults = [
                    ("reply_within", "reply_within = \"3d\"\n"),
                    ("digest_at", "digest_at = \"off\"\n")
                ]
                .iter()
                .filter(|(key, _)| !extra.contains(key))
                .map(|(_, line)| *line)
                .collect::<String>(),
            ));
        }
        let config = dir.path().join("kvittens.toml");
        std::fs::write(&config, text).unwrap();
        Setup {
            dir,
            config,
            tag: tag.to_string(),
            stack,
        }
    }

    pub fn mailbox(&self) -> String {
        format!("bygg-{}@kommun.test", self.tag)
    }

    pub fn resident(&self, n: u32) -> String {
        format!("r{n}-{}@medborgare.test", self.tag)
    }

    pub fn manager(&self) -> String {
        format!("manager-{}@kommun.test", self.tag)
    }

    pub fn officer(&self, n: u32) -> String {
        format!("o{n}-{}@kommun.test", self.tag)
    }

    pub fn prefix(&self, i: usize) -> String {
        format!(
            "T{}{}",
            self.tag
                .to_uppercase()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .take(6)
                .collect::<String>(),
            i
        )
    }

    /// Starts the daemon and waits until it watches every mailbox: on a first start, mail that
    /// arrived before that is old mail and gets no receipt.
    pub fn start(&self) -> Daemon {
        let d = self.spawn();
        let departments = std::fs::read_to_string(&self.config)
            .unwrap()
            .matches("[[department]]")
            .count();
        let start = Instant::now();
        while d.log_text().matches("watching mailbox").count() < departments {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "kvittens did not start:\n{}",
                d.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        d
    }

    /// Starts the daemon without waiting.
    pub fn spawn(&self) -> Daemon {
        self.spawn_with(&[])
    }

    /// Starts the daemon with extra global options (e.g. `--log-format json`) without waiting.
    pub fn spawn_with(&self, options: &[&str]) -> Daemon {
        self.spawn_env(options, &[])
    }

    /// Starts the daemon with extra global options and environment variables, without waiting.
    pub fn spawn_env(&self, options: &[&str], env: &[(&str, &str)]) -> Daemon {
        // Each start gets its own log so that readiness is judged by this run's lines.
        let _ = std::fs::remove_file(self.dir.path().join("kvittens.log"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("kvittens.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_kvittens"))
            .args(options)
            .args(["run", "--config"])
            .arg(&self.config)
            .env("KVITTENS_LOG", "kvittens=debug")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Daemon {
            child,
            log: self.dir.path().join("kvittens.log"),
        }
    }

    /// A resident's plain question to the department.
    pub fn question(&self, resident: u32, id: &str, subject: &str) -> String {
        format!(
            "From: Resident {resident} <{}>\nTo: {}\nSubject: {subject}\nMessage-ID: <{id}@medborgare.test>\nDate: Sat, 28 Nov 2026 10:00:00 +0100\nContent-Type: text/plain; charset=utf-8\n\nHej! Jag har en fråga om bygglov för mitt garage.\n",
            self.resident(resident),
            self.mailbox()
        )
    }
}

/// The running daemon; stopped (SIGKILL) when dropped, unless stopped before.
pub struct Daemon {
    child: Child,
    pub log: PathBuf,
}

impl Daemon {
    /// SIGTERM, and the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(25),
                "kvittens did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends a signal by name (e.g. "HUP").
    pub fn signal(&self, name: &str) {
        Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
    }

    /// Waits until the log has `n` lines containing `text` (at most 30 s).
    pub fn wait_log(&self, text: &str, n: usize) -> String {
        let start = Instant::now();
        loop {
            let log = self.log_text();
            if log.matches(text).count() >= n {
                return log;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no {text:?} in the log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits (at most 30 s) for the daemon to end by itself, e.g. by a crash.
    pub fn wait_exit(mut self) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "kvittens did not stop:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the daemon is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// SIGKILL: a crash.
    pub fn kill(mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// A header of a raw message, unfolded and decoded.
pub fn header(raw: &[u8], name: &str) -> Option<String> {
    let msg = mail_parser::MessageParser::default().parse(raw)?;
    if name.eq_ignore_ascii_case("subject") {
        return msg.subject().map(str::to_string);
    }
    let value = msg
        .headers_raw()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_string());
    value
}

/// The text body of a raw message.
pub fn body(raw: &[u8]) -> String {
    mail_parser::MessageParser::default()
        .parse(raw)
        .and_then(|m| m.body_text(0).map(|t| t.to_string()))
        .unwrap_or_default()
}

/// Runs the `kvittens` command line and returns what it printed; fails the test if it failed.
pub fn kvittens_ok(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_kvittens"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// GET `path` from the daemon's HTTP address, read from its `log`: the status line and the
/// body.
pub fn http_get(log: &str, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let line = log
        .lines()
        .find(|l| l.contains("serving /metrics and /healthz"))
        .expect("the daemon says where it serves");
    let addr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("address="))
        .expect("address=");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_string(), body.to_string())
}

/// `kvittens ARGS`: the exit code (-1 when killed by a signal), stdout and stderr.
pub fn kvittens(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kvittens"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A fresh, empty PostgreSQL database for one test on the server `scripts/pgstack` started
/// (`scripts/test` starts it): its URL (`postgresql://kvittens@127.0.0.1:PORT/NAME?sslmode=disable`,
/// no password) and a file holding the password, for `store_password_file`. The database is
/// named after `tag` and made again when it exists, so a test run twice starts empty.
pub fn pg_database(tag: &str) -> (String, PathBuf) {
    let admin = std::env::var("KVITTENS_PG_URL").unwrap_or_else(|_| {
        panic!("KVITTENS_PG_URL is not set: the PostgreSQL tests need the server scripts/pgstack starts; run them with scripts/test")
    });
    let password = std::env::var("KVITTENS_PG_PASSWORD").unwrap_or_else(|_| {
        panic!("KVITTENS_PG_PASSWORD is not set: run the tests with scripts/test")
    });
    let dir = std::env::var("KVITTENS_PG_DIR")
        .unwrap_or_else(|_| panic!("KVITTENS_PG_DIR is not set: run the tests with scripts/test"));
    let name: String = format!("t_{tag}")
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    // On a thread of its own: the sync client cannot block inside a tokio test's runtime.
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut config: postgres::Config = admin.parse().unwrap();
            config.password(&password);
            let mut client = config
                .connect(postgres::NoTls)
                .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL at {admin}: {e}"));
            // Two statements: neither may run inside a transaction block (one batch is one).
            client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .unwrap();
            client
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .unwrap();
        });
    });
    let (base, _) = admin.rsplit_once('/').unwrap();
    (
        format!("{base}/{name}?sslmode=disable"),
        Path::new(&dir).join("password"),
    )
}

/// Where a store in a fresh database named after `tag` is (see [`pg_database`]), as the
/// config would name it: the URL and the password from the test server's password file.
pub fn pg_location(tag: &str) -> kvittens::config::StoreLocation {
    let (url, password_file) = pg_database(tag);
    pg_at(&url, &std::fs::read_to_string(password_file).unwrap())
}

/// The store at `url` with `password`, as the config would name it (the password read from
/// `daemon.store_password_file`; relative paths against the temporary directory).
pub fn pg_at(url: &str, password: &str) -> kvittens::config::StoreLocation {
    kvittens::config::StoreLocation::Postgres(kvittens::config::PgLocation {
        url: url.to_string(),
        password: Some(Secret::from(password)),
        password_key: Some("daemon.store_password_file".into()),
        base: std::env::temp_dir(),
    })
}

/// `scripts/pgstack down|up DIR` on the test server: for the tests that restart the database
/// under a store (each in a binary of its own, as it stops the server every test shares).
pub fn pgstack(what: &str) {
    let dir = std::env::var("KVITTENS_PG_DIR")
        .unwrap_or_else(|_| panic!("KVITTENS_PG_DIR is not set: run the tests with scripts/test"));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pgstack");
    let status = Command::new(script).args([what, &dir]).status().unwrap();
    assert!(status.success(), "pgstack {what}");
}

impl Setup {
    /// The same config with its store in a fresh PostgreSQL database (see [`pg_database`])
    /// instead of the sled directory: `store` the URL, the password from
    /// `store_password_file`, the control socket in `state_dir` `state`. Returns the URL.
    pub fn use_postgres(&self) -> String {
        let (url, password_file) = pg_database(&self.tag);
        let text = std::fs::read_to_string(&self.config).unwrap().replacen(
            "store = \"store\"\n",
            &format!(
                "store = \"{url}\"\nstore_password_file = \"{}\"\nstate_dir = \"state\"\n",
                password_file.display()
            ),
            1,
        );
        std::fs::write(&self.config, text).unwrap();
        url
    }
}
