//! Wires the daemon together: the store, one watcher per mailbox, one sender, and an explicit
//! graceful shutdown on SIGINT or SIGTERM (work in flight is finished, the store flushed).

use crate::compose;
use crate::config::Config;
use crate::engine::Engine;
use crate::imap::Watcher;
use crate::smtp::{self, Sender};
use crate::store::Store;
use crate::templates::Templates;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// Loads the templates and renders each once, so a mistake is found before any mail is read.
pub fn load_templates(cfg: &Config) -> anyhow::Result<Templates> {
    let templates = Templates::load(cfg.templates.as_deref())?;
    compose::check_templates(cfg, &templates)?;
    Ok(templates)
}

/// Runs until SIGINT or SIGTERM.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let templates = load_templates(&cfg)?;
    let store = Store::open(&cfg.store)?;
    let transport = smtp::transport(&cfg.smtp, cfg.id_domain()).map_err(anyhow::Error::msg)?;
    let cfg = Arc::new(cfg);
    let engine = Engine {
        cfg: cfg.clone(),
        store: store.clone(),
        templates: Arc::new(templates),
    };
    let (stop, shutdown) = watch::channel(false);
    let wake = Arc::new(Notify::new());
    let schedule = Arc::new(Notify::new());

    let mut tasks = tokio::task::JoinSet::new();
    // Receipts left pending by a crash go out first.
    tasks.spawn(
        Sender {
            store: store.clone(),
            transport,
            wake: wake.clone(),
            shutdown: shutdown.clone(),
        }
        .run(),
    );
    tasks.spawn(
        crate::scheduler::Scheduler {
            engine: engine.clone(),
            outbox: wake.clone(),
            wake: schedule.clone(),
            shutdown: shutdown.clone(),
        }
        .run(),
    );
    tasks.spawn(crate::control::serve(engine.clone(), shutdown.clone()));
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
    tracing::info!(departments = cfg.departments.len(), store = %cfg.store.display(), "kvittens running");

    wait_for_signal().await?;
    tracing::info!("stopping: finishing the work in flight");
    let _ = stop.send(true);
    let finished = tokio::time::timeout(Duration::from_secs(20), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        tracing::warn!("some work did not finish within 20 s; it is still recorded and resumes on the next start");
    }
    store.flush()?;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
