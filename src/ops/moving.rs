//! `kvittens export` and `kvittens import`: moving a whole store (the format is
//! `app::transfer`'s). They run on the store itself, never through a running daemon: a store
//! is moved while nothing changes it, so both refuse at once when a daemon answers on the
//! store's control socket (and sled's lock refuses another process after its wait anyway) or,
//! on PostgreSQL, while any instance's lease is live; an import holds a lease of its own. A
//! file without a dump's head is the older cases-only list, handed back to `cli` to import as
//! before (through the daemon when one runs).

use crate::app::transfer::{self, TransferError};
use crate::config::Config;
use crate::ops::control::cmd::import;
use crate::ops::control::{self, Request};
use crate::store::{CaseStore, Store, IMPORT_LEASE};
use std::io::{BufRead, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long the import lease runs without renewal (seconds): an import that dies lets a new
/// one start after this.
const IMPORT_SECONDS: u32 = 120;

/// How often a running import renews its lease.
const RENEW_EVERY: Duration = Duration::from_secs(30);

/// The store the config names (a sled directory or a PostgreSQL database), opened for a move.
fn open_store(cfg: &Config) -> anyhow::Result<Store> {
    Ok(Store::connect(&cfg.store_location)?)
}

/// Refuses when a daemon answers on the store's control socket (in the state directory, so
/// only a daemon on this machine; instances elsewhere on a shared PostgreSQL store show by
/// their leases, see [`refuse_leased`]).
fn refuse_running(cfg: &Config, what: &str) -> anyhow::Result<()> {
    let socket = control::socket_path(&cfg.store);
    if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
        anyhow::bail!(
            "kvittens is running on the store {} (its control socket {} answers): stop it \
             (systemctl stop kvittens), and every other instance on the same store, before {what} — \
             a store is moved while nothing changes it. `kvittens cases --json` lists the cases \
             while it runs",
            cfg.store_location,
            socket.display()
        );
    }
    Ok(())
}

/// Refuses while another instance holds a live lease on the store (with PostgreSQL, wherever
/// it runs; sled has none): its holders, what they hold and how long until the leases run
/// out. `own` is this command's own holder, not counted.
fn refuse_leased(cfg: &Config, store: &Store, what: &str, own: Option<&str>) -> anyhow::Result<()> {
    let live: Vec<_> = (store.live_leases()?.into_iter())
        .filter(|l| Some(l.holder.as_str()) != own)
        .collect();
    if live.is_empty() {
        return Ok(());
    }
    let mut holders: Vec<String> = Vec::new();
    let mut longest = 0;
    for holder in live.iter().map(|l| &l.holder) {
        if holders.contains(holder) {
            continue;
        }
        let theirs: Vec<_> = live.iter().filter(|l| &l.holder == holder).collect();
        let left = theirs.iter().map(|l| l.seconds_left).max().unwrap_or(0);
        longest = longest.max(left);
        let names: Vec<&str> = theirs.iter().map(|l| l.name.as_str()).collect();
        holders.push(format!(
            "{holder} (holds {}; runs out in {left} s unless renewed)",
            names.join(", ")
        ));
    }
    anyhow::bail!(
        "kvittens is running on the store {} elsewhere: {}. Stop every instance on this store \
         before {what} — a store is moved while nothing changes it. An instance stopped without \
         a clean stop lets its leases run out: try again in {longest} s",
        cfg.store_location,
        holders.join("; ")
    )
}

/// The dump's lines, renewing the import lease every [`RENEW_EVERY`] while they are read (an
/// import of a big store outlasts one lease). A lease lost (taken by another import after
/// this one stalled past it) stops the import.
struct Renewing<'a, L> {
    lines: L,
    store: &'a Store,
    holder: &'a str,
    renewed: Instant,
}

impl<L: Iterator<Item = std::io::Result<String>>> Iterator for Renewing<'_, L> {
    type Item = std::io::Result<String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.renewed.elapsed() >= RENEW_EVERY {
            self.renewed = Instant::now();
            match self.store.lease(IMPORT_LEASE, self.holder, IMPORT_SECONDS) {
                Ok(true) => {}
                Ok(false) => {
                    return Some(Err(std::io::Error::other(
                        "the import lease ran out and another import took it: this import stopped",
                    )))
                }
                Err(e) => return Some(Err(std::io::Error::other(e.to_string()))),
            }
        }
        self.lines.next()
    }
}

/// Every place kvittens may have a "being read" mark for: each department's inbox and Sent
/// folder (found by SPECIAL-USE when the config names none, so always asked).
fn places(cfg: &Config) -> Vec<String> {
    cfg.departments
        .iter()
        .flat_map(|d| [d.id.clone(), format!("{}/sent", d.id)])
        .collect()
}

/// `kvittens export`: the whole store to `out`. A reader that goes away (`| head`) ends it
/// quietly.
///
/// # Errors
/// The config, a running daemon, the store, or `out` failing.
pub fn export(config: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
    let cfg = Config::load(config)?;
    refuse_running(&cfg, "an export")?;
    let store = open_store(&cfg)?;
    refuse_leased(&cfg, &store, "an export", None)?;
    match transfer::export(&store, &places(&cfg), out) {
        Ok(moved) => {
            tracing::info!(store = %cfg.store_location, keys = moved.keys, marks = moved.marks, "store exported");
            Ok(())
        }
        Err(TransferError::Write(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// `kvittens import FILE|-`: loads a dump into the (empty) store; for the older cases-only
/// list, the request that imports it, for the caller to run as any store command.
///
/// # Errors
/// The config, the input, a running daemon, the store's refusal (not empty, newer), a line
/// that is not a dump's.
pub fn import(config: &Path, file: &Path, out: &mut dyn Write) -> anyhow::Result<Option<Request>> {
    let cfg = Config::load(config)?;
    let stdin = file.as_os_str() == "-";
    let from = if stdin {
        "standard input".to_string()
    } else {
        file.display().to_string()
    };
    let mut input: Box<dyn BufRead> = if stdin {
        Box::new(std::io::stdin().lock())
    } else {
        let f =
            std::fs::File::open(file).map_err(|e| anyhow::anyhow!("cannot read {from}: {e}"))?;
        Box::new(std::io::BufReader::new(f))
    };
    let read_err = |e: std::io::Error| anyhow::anyhow!("cannot read {from}: {e}");
    let mut first = String::new();
    while first.trim().is_empty() {
        first.clear();
        if input.read_line(&mut first).map_err(read_err)? == 0 {
            break;
        }
    }
    if first.trim().is_empty() {
        anyhow::bail!(
            "{from} is empty: nothing to import (`kvittens export` writes at least two lines)"
        );
    }
    let head = match transfer::read_head(first.trim()) {
        None => return import_cases(file, stdin, first, input).map(Some),
        Some(head) => head.map_err(|e| anyhow::anyhow!("{from}, line 1: {e}"))?,
    };
    refuse_running(&cfg, "an import")?;
    let store = open_store(&cfg)?;
    // The import lease first: a second import (from any machine) is refused by it before it
    // looks at whether the store is empty or marks it unfinished.
    let holder = format!("import {}", crate::app::lease::instance_id());
    store.lease(IMPORT_LEASE, &holder, IMPORT_SECONDS)?;
    let moved = refuse_leased(&cfg, &store, "an import", Some(&holder)).and_then(|()| {
        let mut lines = Renewing {
            lines: input.lines(),
            store: &store,
            holder: &holder,
            renewed: Instant::now(),
        };
        Ok(transfer::import(&store, &head, &mut lines, &from)?)
    });
    let released = store.release_leases(&holder);
    let moved = moved?;
    released?;
    writeln!(
        out,
        "{} key(s) and {} \"being read\" mark(s) imported into {}",
        moved.keys, moved.marks, cfg.store_location
    )?;
    out.flush()?;
    Ok(None)
}

/// The request that imports the older cases-only list, as `import` always read it.
fn import_cases(
    file: &Path,
    stdin: bool,
    first: String,
    mut input: Box<dyn BufRead>,
) -> anyhow::Result<Request> {
    let request = if stdin {
        let mut text = first;
        input
            .read_to_string(&mut text)
            .map_err(|e| anyhow::anyhow!("cannot read standard input: {e}"))?;
        import::Import {
            file: "-".into(),
            text: Some(text),
        }
    } else {
        import::Import {
            file: std::path::absolute(file)?,
            text: None,
        }
    };
    Ok(Request::Import(request))
}
