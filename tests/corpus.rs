//! The bounce corpus in ../shared/corpus: 629 real bounces, delivery reports and auto-replies
//! from many mail systems must all be ignored; the ordinary messages must be acknowledged.
//! Runs the same path as `kvittens explain --json`.

#[path = "common/opening.rs"]
mod opening;

use kvittens::config::Config;
use kvittens::ops::inspect::explain;
use std::path::{Path, PathBuf};

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "NOTE: {} is absent (a clone outside CI); corpus tests skipped",
            dir.display()
        );
        None
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    v.sort();
    v
}

fn decisions(files: &[PathBuf]) -> Vec<serde_json::Value> {
    let cfg =
        Config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo.toml")).unwrap();
    // Decide without the demo store: as if nothing was known yet.
    let mut cfg = cfg;
    cfg.store = std::env::temp_dir().join("kvittens-corpus-test-no-store");
    let dept = cfg.department("bygg").unwrap().clone();
    let mut out = Vec::new();
    explain(&cfg, &dept, files, true, &mut out).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn no_bounce_or_auto_reply_is_acknowledged() {
    let Some(dir) = corpus() else { return };
    let files = files(&dir.join("bounces"));
    assert!(files.len() >= 600, "corpus has only {} files", files.len());
    let decided = decisions(&files);
    assert_eq!(decided.len(), files.len(), "every file gets its line");
    let acknowledged: Vec<_> = decided.iter().filter(|d| d["action"] != "ignore").collect();
    assert!(
        acknowledged.is_empty(),
        "{} of {} bounces acknowledged: {acknowledged:#?}",
        acknowledged.len(),
        files.len()
    );
}

#[test]
fn ordinary_messages_are_acknowledged() {
    let Some(dir) = corpus() else { return };
    let files = files(&dir.join("not-bounces"));
    let decided = decisions(&files);
    for d in &decided {
        assert_eq!(d["action"], "acknowledge", "{d}");
    }
    assert!(
        decided
            .iter()
            .filter(|d| d["action"] == "acknowledge")
            .count()
            >= 2
    );
}

/// Every corpus message, whatever the decision, also goes through case building and receipt
/// rendering without a panic, and no header kvittens writes carries a line break from it.
#[test]
fn odd_mail_never_breaks_receipt_building() {
    let Some(dir) = corpus() else { return };
    let cfg =
        Config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo.toml")).unwrap();
    let templates = kvittens::mail::check::load_templates(&cfg).unwrap();
    let dept = cfg.department("bygg").unwrap();
    let mut all = files(&dir.join("bounces"));
    all.extend(files(&dir.join("not-bounces")));
    for file in all {
        let raw = std::fs::read(&file).unwrap();
        let msg = kvittens::model::Inbound::parse(&raw);
        let resident = msg
            .reply_address()
            .cloned()
            .unwrap_or(kvittens::model::Person {
                name: None,
                email: "x@example.org".into(),
            });
        let lang = kvittens::rules::decide::language(&msg);
        let who = (kvittens::model::Category::Question, lang, &resident);
        let (case, mails) = opening::first_case(&cfg, &templates, dept, &raw, &msg, who, None);
        assert!(!case.subject.contains(['\r', '\n']), "{}", file.display());
        for mail in mails.mails.into_iter().map(|q| q.mail) {
            let text = String::from_utf8_lossy(&mail.bytes);
            let head = text.split("\r\n\r\n").next().unwrap();
            assert!(
                !head
                    .lines()
                    .any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
                "{}",
                file.display()
            );
        }
    }
}
