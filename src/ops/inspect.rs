//! `explain` and `preview` as the command line runs them: the running daemon decides, through
//! its control socket (the store admits one process at a time, and a decision that cannot see
//! the cases would be wrong for a follow-up or a duplicate); else the store is read here; else,
//! on a fresh install, as if no case existed.

use crate::app::access::StoreView;
use crate::config::{Config, Department};
use crate::ops::commands::{explain_messages, preview_message, Content, Named};
use crate::ops::control::{self, cmd, Request};
use crate::store::Store;
use std::io::Write;
use std::path::Path;

/// One line per file: what kvittens would do and why, decided exactly as the daemon decides —
/// with its store, so that a mail naming an existing case joins it. While the daemon runs, the
/// daemon decides (through its control socket: the store admits one process at a time); else
/// the store is read here; with no store at all (a fresh install) as if no case existed, said
/// in one line on stderr. A file that cannot be read still gets its line, and fails the command.
pub fn explain(
    cfg: &Config,
    dept: &Department,
    files: &[std::path::PathBuf],
    json_out: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let messages: Vec<Named> = files
        .iter()
        .map(|file| Named {
            file: file.display().to_string(),
            content: match std::fs::read(file) {
                Ok(raw) => Content::Raw(raw),
                Err(e) => Content::Unreadable(e.to_string()),
            },
        })
        .collect();
    let request = Request::Explain(cmd::explain::Explain {
        department: dept.id.clone(),
        messages: messages.clone(),
        json: json_out,
    });
    if let Some(reply) = control::send(&cfg.store, &request) {
        let reply = reply?;
        if !reply.ok {
            anyhow::bail!("the daemon could not explain: {}", reply.output);
        }
        out.write_all(reply.output.as_bytes())?;
    } else {
        let store = store_for_explain(cfg);
        explain_messages(
            cfg,
            dept,
            store.as_ref().map(|s| StoreView::of(s)),
            &messages,
            json_out,
            out,
        )?;
    }
    all_read(&messages)
}

/// An error (exit status 1) when any file could not be read, after every file got its line: a
/// script running `explain` over a folder must not take a typo in a path for a verdict.
fn all_read(messages: &[Named]) -> anyhow::Result<()> {
    let unread = messages
        .iter()
        .filter(|m| matches!(m.content, Content::Unreadable(_)))
        .count();
    if unread > 0 {
        anyhow::bail!(
            "{unread} of {} file(s) could not be read (see their lines)",
            messages.len()
        );
    }
    Ok(())
}

/// The store, opened here because no daemon answers on its socket; `None` (said on stderr) when
/// there is none yet or it cannot be opened.
fn store_for_explain(cfg: &Config) -> Option<Store> {
    let sled = matches!(cfg.store_location, crate::config::StoreLocation::Sled(_));
    if sled && !cfg.store.exists() {
        eprintln!(
            "kvittens: no store at {} yet: deciding as if no case existed",
            cfg.store.display()
        );
        return None;
    }
    match Store::connect(&cfg.store_location) {
        Ok(store) => Some(store),
        Err(e) => {
            eprintln!(
                "kvittens: {e}, and no daemon answers on {}: deciding as if no case existed",
                control::socket_path(&cfg.store).display()
            );
            None
        }
    }
}

/// The receipt for `file` exactly as it would be sent, decided and numbered as the daemon would
/// decide and number it: through its control socket while it runs (the store admits one
/// process at a time, and a preview that cannot see the cases would show a receipt for a
/// duplicate or a follow-up), else with the store read here, else (a fresh install) as if no
/// case existed. Sends nothing and takes no number.
pub fn preview(
    cfg: &Config,
    dept: &Department,
    file: &Path,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let raw = std::fs::read(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let request = Request::Preview(cmd::explain::Preview {
        department: dept.id.clone(),
        message: Named {
            file: file.display().to_string(),
            content: Content::Raw(raw.clone()),
        },
    });
    if let Some(reply) = control::send(&cfg.store, &request) {
        let reply = reply?;
        if !reply.ok {
            anyhow::bail!("{}", reply.output);
        }
        out.write_all(reply.output.as_bytes())?;
        return Ok(());
    }
    let store = store_for_explain(cfg);
    let templates = crate::mail::check::load_templates(cfg)?;
    preview_message(
        cfg,
        &templates,
        dept,
        store.as_ref().map(|s| StoreView::of(s)),
        &raw,
        out,
    )
}
