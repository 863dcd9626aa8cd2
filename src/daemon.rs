//! Wires the daemon together: the store, one watcher per mailbox folder, one sender, the clock,
//! the control socket and `/metrics`, each a task tracked by one [`TaskTracker`] and stopped by
//! one [`CancellationToken`]. Both are handed in, so that a test can start the daemon in-process
//! and stop it; [`run_until_signal`] ties the token to SIGINT and SIGTERM. Stopping finishes the
//! work in flight and flushes the store.

use crate::app::engine::Engine;
use crate::config::Config;
use crate::mail::templates::Templates;
use crate::net::imap::Watcher;
use crate::net::sender::Sender;
use crate::net::smtp;
use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::mail::check::load_templates;

/// How long the tasks get to finish the work in flight after a stop; what is left is recorded
/// in the store and resumes on the next start.
const FINISH_WITHIN: Duration = Duration::from_secs(20);

/// Fails with every secret (password file, environment variable) that cannot be read, each
/// with its file and key.
///
/// # Errors
/// One line per unreadable secret.
pub fn secrets_readable(cfg: &Config) -> anyhow::Result<()> {
    let missing = cfg.check_secrets();
    if missing.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = missing.iter().map(|e| e.to_string()).collect();
    anyhow::bail!("{}", lines.join("\n"))
}

/// `kvittens check-config`: the config, the templates and every secret, checked as `run` checks
/// them at start, warnings on stderr, one line on `out`; with `connect`, also a login to every
/// mailbox and the SMTP server, one line each.
///
/// # Errors
/// The first thing found wrong, or how many connection checks failed.
pub fn check_config(
    file: &std::path::Path,
    connect: bool,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    let cfg = Config::load(file)?;
    load_templates(&cfg)?;
    // Secrets are read only here and when a connection is made, never by the store
    // commands: every unreadable one is named, not just the first.
    secrets_readable(&cfg)?;
    for warning in &cfg.warnings {
        eprintln!("warning: {warning}");
    }
    let departments = cfg.departments.len();
    writeln!(out, "{}: ok ({departments} department(s))", file.display())?;
    if !connect {
        return Ok(());
    }
    // The database first, outside the runtime: its sync client would block inside one.
    let database = Store::check_connection(&cfg.store_location);
    let rt = tokio::runtime::Runtime::new()?;
    let lines = rt.block_on(crate::net::check::connect_all(&cfg));
    let checks = lines.len() + usize::from(database.is_some());
    let mut failed = 0;
    match database {
        Some(Ok(name)) => writeln!(out, "store {name}: ok")?,
        Some(Err(e)) => {
            failed += 1;
            writeln!(out, "{e}")?;
        }
        None => {}
    }
    for line in &lines {
        writeln!(out, "{line}")?;
    }
    failed += lines.iter().filter(|l| l.problem.is_some()).count();
    if failed > 0 {
        anyhow::bail!("{failed} of {checks} connection check(s) failed");
    }
    Ok(())
}

/// Runs the daemon until SIGINT or SIGTERM (the `kvittens run` command).
///
/// # Errors
/// As [`run`], and when the signal handlers cannot be installed.
pub async fn run_until_signal(cfg: Config) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let stop = CancellationToken::new();
    let on_signal = stop.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
            _ = on_signal.cancelled() => return,
        }
        on_signal.cancel();
    });
    let result = run(cfg, stop.clone(), TaskTracker::new()).await;
    stop.cancel();
    result
}

/// Runs until `stop` is cancelled or the store fails; SIGHUP reloads the config and templates
/// meanwhile. Every task is spawned on `tasks`; after the stop they get 20 s to
/// end, and then the store is flushed.
///
/// # Errors
/// A secret or template that cannot be read, a store that cannot be opened, an SMTP setting the
/// transport refuses (all before any mail is read), or a store that failed while running.
pub async fn run(cfg: Config, stop: CancellationToken, tasks: TaskTracker) -> anyhow::Result<()> {
    // First: a second daemon on this state directory would take the first's control socket.
    crate::ops::control::refuse_second_daemon(&cfg.store)?;
    // The store commands never read secrets; the daemon's start is where a missing one must
    // stop everything, loudly, rather than at the first login minutes later.
    secrets_readable(&cfg)?;
    let templates = load_templates(&cfg)?;
    let store = Store::connect(&cfg.store_location)?;
    if let crate::config::StoreLocation::Postgres(_) = &cfg.store_location {
        // The control socket's directory; sled makes its own store directory.
        let _ = std::fs::create_dir_all(&cfg.store);
    }
    crate::net::tls::prepare_config(&cfg);
    for warning in &cfg.warnings {
        tracing::warn!("{warning}");
    }
    let engine = Engine::new(cfg, store.clone(), templates);
    let leases = crate::app::lease::Keeper::start(&engine);
    let started = spawn_tasks(&engine, &stop, &tasks);
    let failure = match started {
        Ok(()) => wait_for_stop(&engine, &stop).await,
        Err(e) => Err(e),
    };
    let failure = match failure {
        Ok(failure) => failure,
        Err(e) => {
            stop.cancel();
            finish(&tasks).await;
            leases.stop().await;
            return Err(e);
        }
    };
    tracing::info!("stopping: finishing the work in flight");
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    stop.cancel();
    finish(&tasks).await;
    // Only now: another instance must not send what this one is still finishing.
    leases.stop().await;
    if let Some(why) = failure {
        anyhow::bail!("the store failed ({why}); stopped so that nothing is half-recorded. Make room or fix the store, then start kvittens again: it goes on where the store left off");
    }
    store.flush()?;
    tracing::info!("stopped");
    Ok(())
}

/// Closes `tasks` and waits up to [`FINISH_WITHIN`] for them to end.
async fn finish(tasks: &TaskTracker) {
    tasks.close();
    if tokio::time::timeout(FINISH_WITHIN, tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!("some work did not finish within 20 s; it is still recorded and resumes on the next start");
    }
}

/// Spawns the sender (first: receipts left pending by a crash go out first; it settles the mail
/// left in flight when it takes its lease), the clock, the sockets and two watchers per
/// department (inbox and Sent folder).
fn spawn_tasks(
    engine: &Engine,
    stop: &CancellationToken,
    tasks: &TaskTracker,
) -> anyhow::Result<()> {
    let cfg = engine.cfg();
    // Bound before anything runs: an address in use stops the start with nothing sent.
    let metrics = (cfg.listen.map(|a| bind(&cfg, "daemon.listen", a))).transpose()?;
    let web = (cfg.web.listen.map(|a| bind(&cfg, "web.listen", a))).transpose()?;
    let outbox = engine.outbox_handle();
    let transport = smtp::transport(&cfg.smtp, cfg.id_domain()).map_err(anyhow::Error::msg)?;
    let spent = outbox.spent_since(chrono::Utc::now() - chrono::Duration::days(1))?;
    let wake = engine.outbox_bell();
    let schedule = Arc::new(Notify::new());
    tasks.spawn(
        Sender {
            outbox,
            transport,
            wake: wake.clone(),
            shutdown: stop.clone(),
            metrics: engine.metrics().clone(),
            store_failed: engine.store_failed.clone(),
            reloaded: engine.reloaded.clone(),
            budget: std::sync::Mutex::new(crate::rules::budget::Budget::new(
                cfg.smtp.limits,
                spent,
            )),
        }
        .run(),
    );
    tasks.spawn(
        crate::ops::scheduler::Scheduler {
            engine: engine.clone(),
            outbox: wake.clone(),
            wake: schedule.clone(),
            shutdown: stop.clone(),
        }
        .run(),
    );
    tasks.spawn(crate::ops::control::serve(engine.clone(), stop.clone()));
    if let Some(listener) = metrics {
        tasks.spawn(crate::ops::http::serve(
            engine.clone(),
            listener,
            stop.clone(),
        ));
    }
    if let Some(listener) = web {
        tasks.spawn(crate::web::serve(engine.clone(), listener, stop.clone()));
    }
    let logins = crate::net::imap::LoginGate::new(cfg.imap_logins_per_second);
    for dept in &cfg.departments {
        for sent in [false, true] {
            let watcher = Watcher {
                logins: logins.clone(),
                engine: engine.clone(),
                mailboxes: crate::net::imap::Imap,
                outbox: wake.clone(),
                schedule: schedule.clone(),
                shutdown: stop.clone(),
                sent,
            };
            tasks.spawn(watcher.run(dept.clone()));
        }
    }
    tasks.spawn(tell_systemd(engine.clone(), stop.clone()));
    tracing::info!(departments = cfg.departments.len(), store = %cfg.store_location, "kvittens running");
    Ok(())
}

/// Listens on `addr`, the config's `key`, now, before any mail is read: an address in use (a
/// second instance with the same config, another program) stops the start, naming the key,
/// rather than leave a daemon running that monitoring cannot see.
fn bind(cfg: &Config, key: &str, addr: std::net::SocketAddr) -> anyhow::Result<TcpListener> {
    let bound = std::net::TcpListener::bind(addr).and_then(|l| {
        l.set_nonblocking(true)?;
        TcpListener::from_std(l)
    });
    bound.map_err(|e| {
        let why = if e.kind() == std::io::ErrorKind::AddrInUse {
            "is in use (another kvittens with the same config, or another program): give each instance on one machine its own state_dir and listen, or write \"off\"".to_string()
        } else {
            format!("cannot be listened on: {e}")
        };
        anyhow::anyhow!("{}: key `{key}`: {addr} {why}", cfg.file.display())
    })
}

/// Tells systemd (Type=notify) READY=1 once every department mailbox has been tried —
/// watched or failed — so that one department's wrong password does not keep the unit (and
/// the other departments' receipts) from starting; `/healthz` and `kvittens_mailbox_problem`
/// say which mailbox is down. Then pets the watchdog while the store answers. Without systemd
/// these messages go nowhere.
async fn tell_systemd(engine: Engine, stop: CancellationToken) {
    loop {
        if let Some(status) = readiness(&engine) {
            let _ = sd_notify::notify(
                false,
                &[
                    sd_notify::NotifyState::Ready,
                    sd_notify::NotifyState::Status(&status),
                ],
            );
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = stop.cancelled() => return,
        }
    }
    let mut usec = 0;
    if !sd_notify::watchdog_enabled(false, &mut usec) || usec == 0 {
        return;
    }
    let every = Duration::from_micros(usec / 2);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.cancelled() => return,
        }
        if crate::app::admin::store_readable(&engine).is_ok() {
            let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
        }
    }
}

/// The status line for systemd once every mailbox has been tried (logged too), else `None`.
fn readiness(engine: &Engine) -> Option<String> {
    let cfg = engine.cfg();
    let tried: Vec<_> = cfg
        .departments
        .iter()
        .map(|d| engine.metrics().folder_status(&d.id, false))
        .collect();
    if !tried.iter().all(Option::is_some) {
        return None;
    }
    let down = tried.iter().filter(|s| matches!(s, Some(Some(_)))).count();
    if down == 0 {
        tracing::info!("ready: every inbox is watched");
        return Some("watching every mailbox".to_string());
    }
    let status = format!(
        "watching {} of {} mailboxes; see /healthz",
        tried.len() - down,
        tried.len()
    );
    tracing::warn!(down, "ready: {status}");
    Some(status)
}

/// Waits for `stop`; on SIGHUP reloads the config and templates in between. A config that
/// fails its checks is refused and the running one kept. Returns the store failure that
/// stopped the daemon, if that is what did.
async fn wait_for_stop(
    engine: &Engine,
    stop: &CancellationToken,
) -> anyhow::Result<Option<String>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup())?;
    let mut failed = engine.store_failed.subscribe();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return Ok(None),
            _ = hup.recv() => reload(engine),
            _ = failed.changed() => {
                let why = failed.borrow().clone();
                if let Some(why) = why {
                    tracing::error!(error = %why, "the store failed: stopping, taking no new work");
                    return Ok(Some(why));
                }
            }
        }
    }
}

/// The config and templates read anew and checked; `None` (logged) when they fail.
fn reread(old: &Config) -> Option<(Config, Templates)> {
    let checked = Config::load(&old.file)
        .map_err(anyhow::Error::from)
        .and_then(|cfg| {
            secrets_readable(&cfg)?;
            let templates = load_templates(&cfg)?;
            Ok((cfg, templates))
        });
    match checked {
        Ok(pair) => Some(pair),
        Err(e) => {
            tracing::error!(error = %crate::ops::control::describe(e.as_ref()), "reload refused; the running config is kept");
            None
        }
    }
}

fn reload(engine: &Engine) {
    let old = engine.cfg();
    let Some((cfg, templates)) = reread(&old) else {
        return;
    };
    let same_mailboxes = cfg.departments.len() == old.departments.len()
        && cfg
            .departments
            .iter()
            .zip(&old.departments)
            .all(|(a, b)| a.id == b.id && a.email == b.email && a.imap == b.imap);
    if !same_mailboxes
        || cfg.store != old.store
        || cfg.store_location != old.store_location
        || cfg.smtp.server != old.smtp.server
    {
        tracing::warn!("reloaded; changes to departments, mailboxes, servers or the store take effect at the next restart");
    }
    crate::net::tls::prepare_config(&cfg);
    engine.reload(cfg, templates);
    tracing::info!(file = %old.file.display(), "config and templates reloaded");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::control::{self, cmd::cases::Cases, Filter, Request};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_daemon_started_in_process_stops_when_its_token_is_cancelled() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = crate::testkit::test_config(dir.path(), "listen = \"127.0.0.1:0\"");
        let socket = control::socket_path(&cfg.store);
        let (stop, tasks) = (CancellationToken::new(), TaskTracker::new());
        let daemon = tokio::spawn(run(cfg, stop.clone(), tasks.clone()));
        let list = Request::Cases(Cases {
            department: None,
            filter: Filter::All,
            json: false,
        });
        let started = std::time::Instant::now();
        let reply = loop {
            match control::client::ask(&socket, &list, control::MAX_REQUEST_BYTES).await {
                Some(reply) => break reply.unwrap(),
                None => assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "no control socket"
                ),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(reply.ok, "{reply:?}");
        // A client that never finishes its request does not hold the stop up.
        let mut half = tokio::net::UnixStream::connect(&socket).await.unwrap();
        tokio::io::AsyncWriteExt::write_all(
            &mut half,
            b"POST /cases HTTP/1.1\r\nHost: k\r\nContent-Length: 100\r\n\r\n{",
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;

        stop.cancel();
        let stopped = std::time::Instant::now();
        let ran = tokio::time::timeout(Duration::from_secs(5), daemon).await;
        assert!(matches!(ran, Ok(Ok(Ok(())))), "{ran:?}");
        assert!(stopped.elapsed() < Duration::from_secs(5));
        assert!(tasks.is_closed() && tasks.is_empty(), "every task ended");
        assert!(!socket.exists(), "the socket file is removed");
    }
}
