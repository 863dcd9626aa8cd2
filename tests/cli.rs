//! The command line as an operator uses it: exit codes and messages of `check-config`,
//! `explain --json` (with and without the daemon and its store) and `preview`. These need no
//! mail server: the daemon started here finds none and keeps retrying.

mod common;

use common::kvittens;
use std::path::Path;
use std::process::Command;

fn demo_config() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config/demo.toml")
        .display()
        .to_string()
}

#[test]
fn check_config_accepts_the_demo_and_names_file_and_key_of_a_mistake() {
    let (code, out, _) = kvittens(&["check-config", "--config", &demo_config()]);
    assert_eq!(code, 0);
    assert!(out.contains("ok"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    let text = std::fs::read_to_string(demo_config())
        .unwrap()
        .replace("reply_within = \"3d\"", "reply_within = \"3 dagar\"");
    let line = text.lines().position(|l| l.contains("3 dagar")).unwrap() + 1;
    std::fs::write(&bad, text).unwrap();
    let (code, _, err) = kvittens(&["check-config", "--config", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!(
            "bad.toml:{line}: key `department[0].reply_within`: "
        )),
        "{err}"
    );
    // Said once, in plain words: not again in the TOML library's words behind it.
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!err.contains("TOML parse error"), "{err}");

    let (code, _, err) = kvittens(&["check-config", "--config", "/nonexistent/k.toml"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("/nonexistent/k.toml") && err.contains("cannot read"),
        "{err}"
    );
    assert_eq!(err.matches("os error 2").count(), 1, "said once: {err}");
    // The same for a command that reads the config to open the store.
    let (code, _, err) = kvittens(&["cases", "--config", "/nonexistent/k.toml"]);
    assert_eq!(code, 1);
    assert_eq!(err.matches("os error 2").count(), 1, "said once: {err}");
}

#[test]
fn a_template_typo_stops_check_config() {
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    for entry in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("templates")).unwrap()
    {
        let p = entry.unwrap().path();
        std::fs::copy(&p, templates.join(p.file_name().unwrap())).unwrap();
    }
    let receipt = templates.join("receipt.sv.hbs");
    let text = std::fs::read_to_string(&receipt)
        .unwrap()
        .replace("{{officer.name}}", "{{oficer.name}}");
    std::fs::write(&receipt, text).unwrap();
    let config = dir.path().join("k.toml");
    let text = std::fs::read_to_string(demo_config())
        .unwrap()
        .replace("templates = \"../templates\"", "templates = \"templates\"");
    std::fs::write(&config, text).unwrap();
    let (code, _, err) = kvittens(&["check-config", "--config", config.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("receipt.sv.hbs"), "{err}");
}

#[test]
fn explain_json_gives_every_file_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.eml");
    std::fs::write(&good, "From: Anna <anna@medborgare.test>\r\nSubject: Felanmälan gatlykta\r\nMessage-ID: <x1@medborgare.test>\r\n\r\nLampan är trasig.\r\n").unwrap();
    let auto = dir.path().join("auto.eml");
    std::fs::write(&auto, "From: b@medborgare.test\r\nAuto-Submitted: auto-replied\r\nSubject: Autosvar\r\n\r\nBorta.\r\n").unwrap();
    let missing = dir.path().join("missing.eml");
    let (code, out, err) = kvittens(&[
        "explain",
        "--config",
        &demo_config(),
        "--department",
        "bygg",
        "--json",
        good.to_str().unwrap(),
        auto.to_str().unwrap(),
        missing.to_str().unwrap(),
    ]);
    // Every file gets its line, and the missing one fails the command.
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("1 of 3 file(s) could not be read"), "{err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["action"], "acknowledge");
    assert_eq!(lines[0]["category"], "fault_report");
    assert_eq!(lines[0]["language"], "sv");
    assert_eq!(lines[1]["action"], "ignore");
    assert!(lines[1]["reason"]
        .as_str()
        .unwrap()
        .contains("auto-submitted"));
    assert_eq!(lines[2]["action"], "ignore");
    assert!(lines[2]["file"].as_str().unwrap().ends_with("missing.eml"));

    let (code, _, err) = kvittens(&[
        "explain",
        "--config",
        &demo_config(),
        "--department",
        "nope",
        good.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("no department \"nope\"") && err.contains("bygg"),
        "{err}"
    );
}

#[test]
fn preview_prints_the_receipt_without_sending() {
    let dir = tempfile::tempdir().unwrap();
    // A copy of the demo config with its own (empty) store.
    let config = dir.path().join("k.toml");
    let text = std::fs::read_to_string(demo_config())
        .unwrap()
        .replace("store = \"../var/demo\"", "store = \"store\"")
        .replace(
            "templates = \"../templates\"",
            &format!(
                "templates = \"{}\"",
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("templates")
                    .display()
            ),
        );
    std::fs::write(&config, text).unwrap();
    let mail = dir.path().join("m.eml");
    std::fs::write(&mail, "From: Anna <anna@medborgare.test>\r\nSubject: =?utf-8?b?SGVqDQpCY2M6IHZpY3RpbUBleGFtcGxlLm9yZw==?=\r\nMessage-ID: <p1@medborgare.test>\r\n\r\nHej {{officer.email}}\r\n").unwrap();
    let (code, out, err) = kvittens(&[
        "preview",
        "--config",
        config.to_str().unwrap(),
        "--department",
        "bygg",
        mail.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("MAIL FROM:<bygg@kommun.test>"), "{out}");
    assert!(out.contains("RCPT TO:<anna@medborgare.test>"), "{out}");
    assert!(out.contains("Auto-Submitted: auto-replied"), "{out}");
    // The subject decodes to "Hej\r\nBcc: victim@example.org": it must not become a header.
    assert!(
        !out.lines()
            .any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
        "{out}"
    );
    let year = chrono::Utc::now().format("%Y").to_string();
    assert!(out.contains(&format!("BMN-{year}-0001")), "{out}");
}

/// A copy of the demo config in `dir` with its own store, no HTTP listener and mail servers that
/// are not there (the daemon keeps retrying them, and still answers on its control socket).
fn own_config(dir: &Path, store: &str, daemon_extra: &str) -> std::path::PathBuf {
    let config = dir.join("k.toml");
    let text = std::fs::read_to_string(demo_config())
        .unwrap()
        .replace(
            "store = \"../var/demo\"",
            &format!("store = \"{store}\"\nlisten = \"off\"\n{daemon_extra}"),
        )
        .replace("port = 1143", "port = 1")
        .replace("port = 2525", "port = 1")
        .replace(
            "templates = \"../templates\"",
            &format!(
                "templates = \"{}\"",
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("templates")
                    .display()
            ),
        );
    std::fs::write(&config, text).unwrap();
    config
}

/// Opens a case for `raw` in department bygg through the library, as the daemon would, and
/// returns its number.
fn open_case(config: &Path, raw: &str) -> String {
    open_cases(config, 1, &[raw]).remove(0)
}

/// Opens a case for each of `raws` (UIDs `first_uid`, and on) in department bygg, as the
/// daemon would, and returns their numbers.
fn open_cases(config: &Path, first_uid: u32, raws: &[&str]) -> Vec<String> {
    use kvittens::app::engine::{Engine, Incoming, Outcome};
    let cfg = kvittens::config::Config::load(config).unwrap();
    let dept = cfg.department("bygg").unwrap().clone();
    let store = kvittens::store::Store::open(&cfg.store).unwrap();
    let templates = kvittens::mail::check::load_templates(&cfg).unwrap();
    let engine = Engine::new(cfg, store.clone(), templates);
    let mut numbers = Vec::new();
    for (uid, raw) in (first_uid..).zip(raws) {
        let incoming = Incoming {
            key: kvittens::store::MessageKey {
                department: "bygg".into(),
                uid_validity: 1,
                uid,
            },
            received: chrono::Utc::now(),
            raw: raw.as_bytes(),
            sent_folder: false,
        };
        let Outcome::Opened(case) = engine.handle(&dept, &incoming).unwrap() else {
            panic!("no case opened")
        };
        numbers.push(case.number);
    }
    store.flush().unwrap();
    numbers
}

/// Starts the daemon on `config` (whose store is `dir`/store) and waits for its control socket.
fn start_daemon(config: &Path, dir: &Path) -> std::process::Child {
    let daemon = Command::new(env!("CARGO_BIN_EXE_kvittens"))
        .args(["run", "--config", config.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let socket = dir.join("store/control.sock");
    let start = std::time::Instant::now();
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "the daemon opened no control socket"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    daemon
}

fn explain_json(config: &Path, files: &[&Path]) -> (Vec<serde_json::Value>, String) {
    let mut args = vec![
        "explain",
        "--config",
        config.to_str().unwrap(),
        "--department",
        "bygg",
        "--json",
    ];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let (code, out, err) = kvittens(&args);
    assert_eq!(code, 0, "{err}");
    let lines = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (lines, err)
}

#[test]
fn explain_decides_with_the_store_as_the_daemon_does() {
    let dir = tempfile::tempdir().unwrap();
    let config = own_config(dir.path(), "store", "receipts_per_sender_per_day = 1");
    let number = open_case(
        &config,
        "From: Anna <anna@medborgare.test>\r\nSubject: Bygglov för garage\r\nMessage-ID: <first@medborgare.test>\r\n\r\nHej! Jag vill bygga ett garage.\r\n",
    );
    // The resident writes again in a new thread, with the case number in the subject.
    let more = dir.path().join("more.eml");
    std::fs::write(&more, format!("From: Anna <anna@medborgare.test>\r\nSubject: Komplettering till {number}\r\nMessage-ID: <more@medborgare.test>\r\n\r\nHär är ritningen.\r\n")).unwrap();
    // Anna has had her one receipt for today; Bo has had none.
    let anna = dir.path().join("anna.eml");
    std::fs::write(&anna, "From: Anna <anna@medborgare.test>\r\nSubject: Fråga om parkering\r\nMessage-ID: <anna2@medborgare.test>\r\n\r\nHej!\r\n").unwrap();
    let bo = dir.path().join("bo.eml");
    std::fs::write(&bo, "From: Bo <bo@medborgare.test>\r\nSubject: Fråga om parkering\r\nMessage-ID: <bo1@medborgare.test>\r\n\r\nHej!\r\n").unwrap();
    let files = [more.as_path(), anna.as_path(), bo.as_path()];

    let check = |lines: &[serde_json::Value], how: &str| {
        assert_eq!(lines.len(), 3, "{how}");
        assert_eq!(lines[0]["action"], "attach", "{how}: {}", lines[0]);
        assert_eq!(lines[0]["case"], "existing", "{how}: {}", lines[0]);
        assert_eq!(lines[0]["receipt"], false, "{how}: {}", lines[0]);
        assert!(
            lines[0]["reason"].as_str().unwrap().contains(&number),
            "{how}: {}",
            lines[0]
        );
        assert_eq!(lines[1]["action"], "acknowledge", "{how}: {}", lines[1]);
        assert_eq!(lines[1]["case"], "new", "{how}: {}", lines[1]);
        assert_eq!(lines[1]["receipt"], false, "{how}: {}", lines[1]);
        assert!(
            lines[1]["reason"].as_str().unwrap().contains("daily cap"),
            "{how}: {}",
            lines[1]
        );
        assert_eq!(lines[2]["case"], "new", "{how}: {}", lines[2]);
        assert_eq!(lines[2]["receipt"], true, "{how}: {}", lines[2]);
    };

    // The daemon stopped: the store is read directly.
    let (lines, err) = explain_json(&config, &files);
    check(&lines, "daemon stopped");
    assert!(!err.contains("as if no case existed"), "{err}");

    // The daemon running holds the store: the daemon decides, through its control socket.
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_kvittens"))
        .args(["run", "--config", config.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let socket = dir.path().join("store/control.sock");
    let start = std::time::Instant::now();
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "the daemon opened no control socket"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (lines, err) = explain_json(&config, &files);
    daemon.kill().ok();
    daemon.wait().ok();
    check(&lines, "daemon running");
    assert!(!err.contains("as if no case existed"), "{err}");

    // Text output says the same.
    let (code, out, err) = kvittens(&[
        "explain",
        "--config",
        config.to_str().unwrap(),
        "--department",
        "bygg",
        more.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("attach") && out.contains(&number), "{out}");
}

#[test]
fn explain_works_on_a_fresh_install_and_tells_a_withheld_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let config = own_config(dir.path(), "no-store-yet", "");
    let more = dir.path().join("more.eml");
    std::fs::write(&more, "From: Anna <anna@medborgare.test>\r\nSubject: Komplettering till BMN-2026-0001\r\nMessage-ID: <more@medborgare.test>\r\n\r\nHär är ritningen.\r\n").unwrap();
    let forged = dir.path().join("forged.eml");
    std::fs::write(&forged, "Authentication-Results: mx.kommun.test; dmarc=fail header.from=medborgare.test\r\nFrom: Anna <anna@medborgare.test>\r\nSubject: Fråga om bygglov\r\nMessage-ID: <forged@medborgare.test>\r\n\r\nHej!\r\n").unwrap();
    let auto = dir.path().join("auto.eml");
    std::fs::write(&auto, "From: b@medborgare.test\r\nAuto-Submitted: auto-replied\r\nSubject: Autosvar\r\n\r\nBorta.\r\n").unwrap();
    let (lines, err) = explain_json(&config, &[&more, &forged, &auto]);
    assert_eq!(
        err.lines()
            .filter(|l| l.contains("as if no case existed"))
            .count(),
        1,
        "{err}"
    );
    assert!(
        !dir.path().join("no-store-yet").exists(),
        "explain creates no store"
    );
    // No store, so no case 0001: a new matter.
    assert_eq!(lines[0]["action"], "acknowledge", "{}", lines[0]);
    assert_eq!(lines[0]["case"], "new", "{}", lines[0]);
    assert_eq!(lines[0]["receipt"], true, "{}", lines[0]);
    // A sender that may be forged: a case, flagged, but no receipt.
    assert_eq!(lines[1]["case"], "new", "{}", lines[1]);
    assert_eq!(lines[1]["receipt"], false, "{}", lines[1]);
    assert!(
        lines[1]["reason"]
            .as_str()
            .unwrap()
            .contains("without a receipt"),
        "{}",
        lines[1]
    );
    assert_eq!(lines[2]["action"], "ignore", "{}", lines[2]);
    assert_eq!(lines[2]["case"], "none", "{}", lines[2]);
    assert_eq!(lines[2]["receipt"], false, "{}", lines[2]);
}

#[test]
fn preview_decides_and_numbers_with_the_store_as_the_daemon_does() {
    let dir = tempfile::tempdir().unwrap();
    let config = own_config(dir.path(), "store", "");
    let first = "From: Anna <anna@medborgare.test>\r\nSubject: Bygglov för garage\r\nMessage-ID: <first@medborgare.test>\r\n\r\nHej! Jag vill bygga ett garage.\r\n";
    let number = open_case(&config, first);
    let year = chrono::Utc::now().format("%Y").to_string();
    assert_eq!(number, format!("BMN-{year}-0001"));
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let again = write("again.eml", first);
    let more = write("more.eml", &format!("From: Anna <anna@medborgare.test>\r\nSubject: Komplettering till {number}\r\nMessage-ID: <more@medborgare.test>\r\n\r\nHär är ritningen.\r\n"));
    let new = write("new.eml", "From: Bo <bo@medborgare.test>\r\nSubject: Fråga om parkering\r\nMessage-ID: <bo1@medborgare.test>\r\n\r\nHej!\r\n");
    let preview = |file: &str| {
        kvittens(&[
            "preview",
            "--config",
            config.to_str().unwrap(),
            "--department",
            "bygg",
            file,
        ])
    };
    let check = |how: &str| {
        let (code, out, err) = preview(&again);
        assert_eq!(code, 1, "{how}: {out}");
        assert!(err.contains("no receipt: duplicate"), "{how}: {err}");
        let (code, out, err) = preview(&more);
        assert_eq!(code, 1, "{how}: {out}");
        assert!(
            err.contains(&format!("no receipt: this message joins case {number}")),
            "{how}: {err}"
        );
        let (code, out, err) = preview(&new);
        assert_eq!(code, 0, "{how}: {err}");
        assert!(!err.contains("as if no case existed"), "{how}: {err}");
        let next = format!("BMN-{year}-0002");
        assert!(
            out.contains(&format!("The case number would be {next}")),
            "{how}: {out}"
        );
        assert!(out.contains(&format!("[{next}]")), "{how}: {out}");
        assert!(!out.contains(&number), "{how}: {out}");
        // Round robin: the first case went to the first officer, this one would go to the
        // second (unless she is away on the day the test runs).
        assert!(out.contains("the officer"), "{how}: {out}");
    };
    check("daemon stopped");
    let mut daemon = start_daemon(&config, dir.path());
    check("daemon running");
    // A preview takes no number: the daemon's next case is still 0002.
    check("daemon running, again");
    daemon.kill().ok();
    daemon.wait().ok();
    assert_eq!(
        open_cases(&config, 2, &[&std::fs::read_to_string(&new).unwrap()]),
        [format!("BMN-{year}-0002")]
    );
}

/// Runs the command with its output going to a pipe that the reader has closed (as `| head`
/// does once it has its lines): exit code and error output.
fn into_closed_pipe(args: &[String]) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kvittens"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_closed_output_pipe_ends_a_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let config = own_config(dir.path(), "store", "");
    open_case(&config, "From: Anna <anna@medborgare.test>\r\nSubject: Bygglov\r\nMessage-ID: <p1@medborgare.test>\r\n\r\nHej!\r\n");
    let mail = dir.path().join("m.eml");
    std::fs::write(&mail, "From: Bo <bo@medborgare.test>\r\nSubject: Fråga\r\nMessage-ID: <p2@medborgare.test>\r\n\r\nHej!\r\n").unwrap();
    let (config, mail) = (config.display().to_string(), mail.display().to_string());
    let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // Far more than a pipe holds (64 KiB): the writer meets the closed pipe for certain.
    let mut explain = words(&["explain", "--config", &config, "--department", "bygg"]);
    explain.extend(std::iter::repeat_n(mail.clone(), 3000));
    let runs = [
        explain,
        words(&[
            "preview",
            "--config",
            &config,
            "--department",
            "bygg",
            &mail,
        ]),
        words(&["cases", "--config", &config]),
        words(&["export", "--config", &config]),
        words(&["ignored", "--config", &config]),
    ];
    for args in runs {
        let (code, err) = into_closed_pipe(&args);
        assert_eq!(code, 0, "{}: {err}", args[0]);
        assert!(
            !err.contains("Broken pipe") && !err.contains("panicked"),
            "{}: {err}",
            args[0]
        );
    }
}

#[test]
fn cases_lists_flagged_and_closed_cases_in_local_time() {
    let dir = tempfile::tempdir().unwrap();
    let config = own_config(dir.path(), "store", "");
    let numbers = open_cases(
        &config,
        1,
        &[
            "From: Anna <anna@medborgare.test>\r\nSubject: Bygglov\r\nMessage-ID: <c1@medborgare.test>\r\n\r\nHej!\r\n",
            "Authentication-Results: mx.kommun.test; dmarc=fail header.from=medborgare.test\r\nFrom: Bo <bo@medborgare.test>\r\nSubject: Fråga om bygglov\r\nMessage-ID: <c2@medborgare.test>\r\n\r\nHej!\r\n",
            "From: Cilla <cilla@medborgare.test>\r\nSubject: Fråga om tomt\r\nMessage-ID: <c3@medborgare.test>\r\n\r\nHej!\r\n",
        ],
    );
    let config = config.to_str().unwrap();
    let run = |args: &[&str]| {
        let (code, out, err) = kvittens(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        out
    };
    run(&[
        "case",
        "close",
        "--config",
        config,
        &numbers[2],
        "--note",
        "dubblett",
    ]);
    let line_of = |out: &str, n: &str| {
        out.lines()
            .find(|l| l.starts_with(n))
            .unwrap_or_else(|| panic!("{n} not in {out}"))
            .to_string()
    };

    let flagged = run(&["cases", "--config", config, "--flagged"]);
    assert!(flagged.contains("1 case(s)"), "{flagged}");
    assert!(
        line_of(&flagged, &numbers[1]).contains("flagged"),
        "{flagged}"
    );
    let closed = run(&["cases", "--config", config, "--closed"]);
    assert!(closed.contains("1 case(s)"), "{closed}");
    assert!(line_of(&closed, &numbers[2]).contains("closed"), "{closed}");

    // Every case, the flagged one marked; times in Swedish local time, the zone named once.
    let all = run(&["cases", "--config", config]);
    assert!(
        all.contains("3 case(s); times in Europe/Stockholm"),
        "{all}"
    );
    assert!(!all.contains("UTC"), "{all}");
    assert!(!line_of(&all, &numbers[0]).contains("flagged"), "{all}");
    assert!(line_of(&all, &numbers[1]).contains("flagged"), "{all}");
    let json: Vec<serde_json::Value> = run(&["cases", "--config", config, "--json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let case = |n: &str| json.iter().find(|c| c["number"] == n).unwrap().clone();
    assert!(case(&numbers[0])["flagged"].is_null());
    assert!(
        case(&numbers[1])["flagged"]
            .as_str()
            .unwrap()
            .contains("dmarc=fail"),
        "{}",
        case(&numbers[1])
    );
    let local = |v: &serde_json::Value| {
        let t: chrono::DateTime<chrono::Utc> = serde_json::from_value(v.clone()).unwrap();
        t.with_timezone(&chrono_tz::Europe::Stockholm)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    };
    let due = local(&case(&numbers[0])["reply_due"]);
    assert!(
        line_of(&all, &numbers[0]).contains(&format!("answer by {due}")),
        "{all}"
    );

    let show = run(&["case", "show", "--config", config, &numbers[1]]);
    assert!(
        show.lines()
            .next()
            .unwrap()
            .contains("times in Europe/Stockholm"),
        "{show}"
    );
    assert_eq!(show.matches("Europe/Stockholm").count(), 1, "{show}");
    assert!(!show.contains("UTC"), "{show}");
    let received = local(&case(&numbers[1])["received"]);
    assert!(show.contains(&format!("received: {received}\n")), "{show}");
    assert!(show.contains("flagged:  unverified_sender"), "{show}");
}

#[test]
fn check_config_names_unreadable_oauth2_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let config = own_config(dir.path(), "store", "");
    let text = std::fs::read_to_string(&config).unwrap()
        + r#"
[oauth2.entra]
provider = "microsoft"
tenant = "kommun.onmicrosoft.com"
client_id = "11111111-2222-3333-4444-555555555555"
client_secret_file = "/nonexistent/entra.secret"

[oauth2.desk]
provider = "generic"
token_url = "https://login.example.test/token"
client_id = "desk"
client_secret_env = "KVITTENS_TEST_UNSET_SECRET"

[oauth2.gws]
provider = "google"
service_account_file = "/nonexistent/sa.json"
"#;
    std::fs::write(&config, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kvittens"))
        .args(["check-config", "--config", config.to_str().unwrap()])
        .env_remove("KVITTENS_TEST_UNSET_SECRET")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    // Each names the line its key is on in the file written above.
    let line_of = |key: &str| {
        let text = std::fs::read_to_string(&config).unwrap();
        1 + text
            .lines()
            .position(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("{key} is not in the config"))
    };
    for (key, line) in [
        ("client_secret_file", "key `oauth2.entra.client_secret_file`: cannot read /nonexistent/entra.secret"),
        ("client_secret_env", "key `oauth2.desk.client_secret_env`: the environment variable KVITTENS_TEST_UNSET_SECRET is not set"),
        ("service_account_file", "key `oauth2.gws.service_account_file`: cannot read /nonexistent/sa.json"),
    ] {
        let line = format!("k.toml:{}: {line}", line_of(key));
        assert!(err.contains(&line), "{line}\n{err}");
    }
    // The store commands still need none of them.
    let (code, _, err) = kvittens(&["cases", "--config", config.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
}

/// A copy of the demo config, with its own store, whose secrets cannot be read: the SMTP
/// password in a file that does not exist, the mailbox's in an unset environment variable — as
/// in an admin's shell, which lacks the unit's environment and credentials.
fn config_without_secrets(dir: &Path) -> std::path::PathBuf {
    let config = dir.join("k.toml");
    let text = std::fs::read_to_string(demo_config())
        .unwrap()
        .replace("store = \"../var/demo\"", "store = \"store\"")
        .replace(
            "templates = \"../templates\"",
            &format!(
                "templates = \"{}\"",
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("templates")
                    .display()
            ),
        )
        .replace(
            "from = \"Salems kommun <noreply@kommun.test>\"",
            "from = \"Salems kommun <noreply@kommun.test>\"\nuser = \"kvittens\"\npassword_file = \"/nonexistent/smtp.pw\"",
        )
        .replacen(
            "password = \"secret\"",
            "password_env = \"KVITTENS_TEST_UNSET_PW\"",
            1,
        );
    std::fs::write(&config, text).unwrap();
    config
}

#[test]
fn store_commands_need_no_secrets_and_check_config_names_each_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_without_secrets(dir.path());
    let config = config.to_str().unwrap();
    let mail = dir.path().join("m.eml");
    std::fs::write(&mail, "From: Anna <anna@medborgare.test>\r\nSubject: Fråga\r\nMessage-ID: <s1@medborgare.test>\r\n\r\nHej\r\n").unwrap();
    let mail = mail.to_str().unwrap();
    let runs: [&[&str]; 6] = [
        &["cases", "--config", config],
        &["cases", "--config", config, "--json"],
        &["export", "--config", config],
        &["explain", "--config", config, "--department", "bygg", mail],
        &["preview", "--config", config, "--department", "bygg", mail],
        &[
            "officer",
            "away",
            "--config",
            config,
            "officer1@kommun.test",
            "--from",
            "2027-02-01",
            "--to",
            "2027-02-03",
            "--substitute",
            "officer2@kommun.test",
        ],
    ];
    for args in runs {
        let out = Command::new(env!("CARGO_BIN_EXE_kvittens"))
            .args(args)
            .env_remove("KVITTENS_TEST_UNSET_PW")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    }
    let (code, _, err) = kvittens(&["case", "show", "--config", config, "BMN-2026-0001"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        !err.contains("password") && !err.contains("not set"),
        "an unknown case, not a missing secret: {err}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_kvittens"))
        .args(["check-config", "--config", config])
        .env_remove("KVITTENS_TEST_UNSET_PW")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let text = std::fs::read_to_string(config).unwrap();
    let line_of = |key: &str| text.lines().position(|l| l.contains(key)).unwrap() + 1;
    let (smtp, mailbox) = (line_of("password_file"), line_of("password_env"));
    assert!(
        err.contains(&format!(
            "k.toml:{smtp}: key `smtp.password_file`: cannot read /nonexistent/smtp.pw"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("k.toml:{mailbox}: key `department[0].mailbox.password_env`: the environment variable KVITTENS_TEST_UNSET_PW is not set")),
        "{err}"
    );
    // The daemon's start fails as loudly, before it opens anything.
    let out = Command::new(env!("CARGO_BIN_EXE_kvittens"))
        .args(["run", "--config", config])
        .env_remove("KVITTENS_TEST_UNSET_PW")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("KVITTENS_TEST_UNSET_PW is not set"), "{err}");
}

/// The README's configuration example and the example the Debian package installs are what
/// admins copy: both must parse (a TOML inline table cannot span lines, for one).
#[test]
fn the_documented_config_examples_parse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let section = readme
        .split("\n## Configuration\n")
        .nth(1)
        .expect("a Configuration section");
    let block = section
        .split("```toml\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("a toml block in the Configuration section");
    let file = Path::new("/etc/kvittens/kvittens.toml");
    let cfg = kvittens::config::Config::parse(file, block).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.departments[0].officers.len(), 2);
    assert_eq!(cfg.departments[0].officers[1].absent.len(), 1);

    let example = std::fs::read_to_string(root.join("contrib/kvittens.toml")).unwrap();
    let cfg = kvittens::config::Config::parse(file, &example).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.store, Path::new("/var/lib/kvittens"));
    // Its passwords come from systemd's credentials: named, not read, by the config.
    assert_eq!(cfg.secrets().len(), 2);
}

/// With the daemon stopped, a store command run while another has the store waits for it, and
/// says plainly what holds it when it does not come free (sled admits one process at a time).
#[test]
fn a_store_command_waits_for_another_then_says_what_holds_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let config = own_config(dir.path(), "store", "");
    let config = config.to_str().unwrap();
    let store_dir = dir.path().join("store");
    let held = kvittens::store::Store::open(&store_dir).unwrap();
    let started = std::time::Instant::now();
    let (code, _, err) = kvittens(&["cases", "--config", config]);
    assert_eq!(code, 1, "{err}");
    assert!(started.elapsed() >= kvittens::store::LOCK_WAIT, "{err}");
    assert!(
        err.contains(&format!(
            "store {}: in use by another kvittens process (the daemon or a command)",
            store_dir.display()
        )) && err.contains("try again")
            && !err.contains("WouldBlock"),
        "{err}"
    );
    // The other command finishes while this one waits: this one runs.
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(500));
        drop(held);
    });
    let (code, _, err) = kvittens(&["cases", "--config", config]);
    releaser.join().unwrap();
    assert_eq!(code, 0, "{err}");
}
