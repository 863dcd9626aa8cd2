//! The daemon's tasks in-process, against the in-memory mail servers of `net::fake`: one
//! department's config, and its sender and two watchers (inbox and Sent folder) over a fake
//! server. Shared by `tests/inprocess.rs` (one instance, crashes and restarts) and
//! `tests/leases.rs` (two instances over one store, with leases).

use kvittens::app::engine::Engine;
use kvittens::net::fake::FakeServer;
use kvittens::net::imap::Watcher;
use kvittens::net::sender::Sender;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The department's mailbox on the fake server.
pub const MAILBOX: &str = "bygg@kommun.test";
/// The department's one officer.
pub const OFFICER: &str = "o1@kommun.test";

/// Writes `kvittens.toml` in `dir` for one department (`bygg`, mailbox [`MAILBOX`], officer
/// [`OFFICER`]) on servers that are never dialled, with `daemon` (whole lines) added to
/// `[daemon]`; returns its path.
pub fn config(dir: &Path, daemon: &str) -> PathBuf {
    let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let text = format!(
        r#"[daemon]
store = "store"
internal_domains = ["kommun.test"]
templates = "{templates}"
{daemon}

[imap]
host = "imap.invalid"
port = 143
security = "none"

[smtp]
host = "smtp.invalid"
port = 25
security = "none"
from = "Salems kommun <noreply@kommun.test>"

[calendar]
working_hours = "00:00-24:00"
holidays = "none"

[[department]]
id = "bygg"
name = "Bygg- och miljöförvaltningen"
case_prefix = "BYGG"
reply_within = "3d"
digest_at = "off"
mailbox = {{ user = "{MAILBOX}", password = "secret" }}
manager = {{ name = "Maria Chef", email = "manager@kommun.test" }}
officers = [ {{ name = "Olle Handläggare", email = "{OFFICER}" }} ]
"#,
        templates = templates.display(),
    );
    let path = dir.join("kvittens.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Starts the sender and the watchers of the inbox and the Sent folder of the first
/// department, over `server`, as the daemon wires them; `stop` cancels them all.
pub fn spawn_tasks(
    engine: &Engine,
    server: &FakeServer,
    stop: &CancellationToken,
) -> Vec<JoinHandle<()>> {
    let sender = Sender {
        outbox: engine.outbox_handle(),
        transport: server.clone(),
        wake: engine.outbox_bell(),
        shutdown: stop.clone(),
        metrics: engine.metrics().clone(),
        store_failed: engine.store_failed.clone(),
        reloaded: engine.reloaded.clone(),
        budget: std::sync::Mutex::new(kvittens::rules::budget::Budget::new(
            Default::default(),
            Vec::new(),
        )),
    };
    let mut tasks = vec![tokio::spawn(sender.run())];
    let dept = engine.cfg().departments[0].clone();
    for sent in [false, true] {
        let watcher = Watcher {
            engine: engine.clone(),
            mailboxes: server.clone(),
            outbox: engine.outbox_bell(),
            schedule: Arc::new(Notify::new()),
            shutdown: stop.clone(),
            sent,
            logins: kvittens::net::imap::LoginGate::default(),
        };
        tasks.push(tokio::spawn(watcher.run(dept.clone())));
    }
    tasks
}
