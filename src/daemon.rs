//! Wires the daemon together: the store, one watcher per mailbox, one sender, and an explicit
//! graceful shutdown on SIGINT or SIGTERM (work in flight is finished, the store flushed).

use crate::app::engine::Engine;
use crate::config::Config;
use crate::mail::compose;
use crate::mail::templates::Templates;
use crate::net::imap::Watcher;
use crate::net::sender::Sender;
use crate::net::smtp;
use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// Loads the templates and renders each once, so a mistake is found before any mail is read.
pub fn load_templates(cfg: &Config) -> anyhow::Result<Templates> {
    let templates = Templates::load(cfg.templates.as_deref())?;
    compose::check_templates(cfg, &templates)?;
    Ok(templates)
}

/// Fails with every secret (password file, environment variable) that cannot be read, each
/// with its file and key.
pub fn secrets_readable(cfg: &Config) -> anyhow::Result<()> {
    let missing = cfg.check_secrets();
    if missing.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = missing.iter().map(|e| e.to_string()).collect();
    anyhow::bail!("{}", lines.join("\n"))
}

/// Runs until SIGINT or SIGTERM; SIGHUP reloads the config and templates.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    // The store commands never read secrets; the daemon's start is where a missing one must
    // stop everything, loudly, rather than at the first login minutes later.
    secrets_readable(&cfg)?;
    let templates = load_templates(&cfg)?;
    let store = Store::open(&cfg.store)?;
    let transport = smtp::transport(&cfg.smtp, cfg.id_domain()).map_err(anyhow::Error::msg)?;
    for warning in &cfg.warnings {
        tracing::warn!("{warning}");
    }
    let engine = Engine::new(cfg, store.clone(), templates);
    let cfg = engine.cfg();
    let (stop, shutdown) = watch::channel(false);
    let wake = engine.outbox_bell();
    let schedule = Arc::new(Notify::new());

    let watched: Vec<String> = cfg.departments.iter().map(|d| d.email.clone()).collect();
    for mail in engine
        .outbox_handle()
        .release_orphans(&watched, chrono::Utc::now())?
    {
        tracing::warn!(case = %mail.case, kind = mail.kind.word(), to = %mail.to.join(","), mailbox = %mail.envelope_from, "this mail was being sent when kvittens stopped, and its copy went to a mailbox no longer watched; sending it again");
    }

    let mut tasks = tokio::task::JoinSet::new();
    // Receipts left pending by a crash go out first.
    tasks.spawn(
        Sender {
            store: engine.outbox_handle(),
            transport,
            wake: wake.clone(),
            shutdown: shutdown.clone(),
            metrics: engine.metrics().clone(),
            store_failed: engine.store_failed.clone(),
            reloaded: engine.reloaded.clone(),
            budget: std::sync::Mutex::new(crate::rules::budget::Budget::new(
                cfg.smtp.limits,
                store.spent_since(chrono::Utc::now() - chrono::Duration::days(1))?,
            )),
        }
        .run(),
    );
    tasks.spawn(
        crate::ops::scheduler::Scheduler {
            engine: engine.clone(),
            outbox: wake.clone(),
            wake: schedule.clone(),
            shutdown: shutdown.clone(),
        }
        .run(),
    );
    tasks.spawn(crate::ops::control::serve(engine.clone(), shutdown.clone()));
    if let Some(addr) = cfg.listen {
        tasks.spawn(crate::ops::http::serve(
            engine.clone(),
            addr,
            shutdown.clone(),
        ));
    }
    for dept in &cfg.departments {
        for sent in [false, true] {
            let watcher = Watcher {
                engine: engine.clone(),
                outbox: wake.clone(),
                schedule: schedule.clone(),
                shutdown: shutdown.clone(),
                sent,
            };
            tasks.spawn(watcher.run(dept.clone()));
        }
    }
    tasks.spawn(tell_systemd(engine.clone(), shutdown.clone()));
    tracing::info!(departments = cfg.departments.len(), store = %cfg.store.display(), "kvittens running");

    let failure = wait_for_stop(&engine).await?;
    tracing::info!("stopping: finishing the work in flight");
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    let _ = stop.send(true);
    let finished = tokio::time::timeout(Duration::from_secs(20), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        tracing::warn!("some work did not finish within 20 s; it is still recorded and resumes on the next start");
    }
    if let Some(why) = failure {
        anyhow::bail!("the store failed ({why}); stopped so that nothing is half-recorded. Make room or fix the store, then start kvittens again: it goes on where the store left off");
    }
    store.flush()?;
    tracing::info!("stopped");
    Ok(())
}

/// Tells systemd (Type=notify) READY=1 once every department mailbox has been tried —
/// watched or failed — so that one department's wrong password does not keep the unit (and
/// the other departments' receipts) from starting; `/healthz` and `kvittens_mailbox_problem`
/// say which mailbox is down. Then pets the watchdog while the store answers. Without systemd
/// these messages go nowhere.
async fn tell_systemd(engine: Engine, mut shutdown: watch::Receiver<bool>) {
    loop {
        let cfg = engine.cfg();
        let tried: Vec<_> = cfg
            .departments
            .iter()
            .map(|d| engine.metrics().folder_status(&d.id, false))
            .collect();
        if tried.iter().all(Option::is_some) {
            let down = tried.iter().filter(|s| matches!(s, Some(Some(_)))).count();
            let status = if down == 0 {
                "watching every mailbox".to_string()
            } else {
                format!(
                    "watching {} of {} mailboxes; see /healthz",
                    tried.len() - down,
                    tried.len()
                )
            };
            let _ = sd_notify::notify(
                false,
                &[
                    sd_notify::NotifyState::Ready,
                    sd_notify::NotifyState::Status(&status),
                ],
            );
            if down == 0 {
                tracing::info!("ready: every mailbox is watched");
            } else {
                tracing::warn!(down, "ready: {status}");
            }
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = shutdown.changed() => return,
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
            _ = shutdown.changed() => return,
        }
        if engine.store_works().is_ok() {
            let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
        }
    }
}

/// Waits for SIGINT or SIGTERM; on SIGHUP reloads the config and templates in between. A config
/// that fails its checks is refused and the running one kept.
/// Returns the store failure that stopped the daemon, if that is what did.
async fn wait_for_stop(engine: &Engine) -> anyhow::Result<Option<String>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut failed = engine.store_failed.subscribe();
    loop {
        tokio::select! {
            _ = term.recv() => return Ok(None),
            _ = int.recv() => return Ok(None),
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

fn reload(engine: &Engine) {
    let old = engine.cfg();
    let checked = Config::load(&old.file)
        .map_err(anyhow::Error::from)
        .and_then(|cfg| {
            secrets_readable(&cfg)?;
            let templates = load_templates(&cfg)?;
            Ok((cfg, templates))
        });
    match checked {
        Ok((cfg, templates)) => {
            let same_mailboxes = cfg.departments.len() == old.departments.len()
                && cfg
                    .departments
                    .iter()
                    .zip(&old.departments)
                    .all(|(a, b)| a.id == b.id && a.email == b.email && a.imap == b.imap);
            if !same_mailboxes || cfg.store != old.store || cfg.smtp.server != old.smtp.server {
                tracing::warn!("reloaded; changes to departments, mailboxes, servers or the store take effect at the next restart");
            }
            engine.reload(cfg, templates);
            tracing::info!(file = %old.file.display(), "config and templates reloaded");
        }
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "reload refused; the running config is kept")
        }
    }
}
