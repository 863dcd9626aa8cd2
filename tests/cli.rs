//! The command line as an operator uses it: exit codes and messages of `check-config`,
//! `explain --json` and `preview`. These need no mail server.

use std::path::Path;
use std::process::Command;

fn kvittens(args: &[&str]) -> (i32, String, String) {
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
    std::fs::write(&bad, text).unwrap();
    let (code, _, err) = kvittens(&["check-config", "--config", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("bad.toml") && err.contains("department[0].reply_within"),
        "{err}"
    );

    let (code, _, err) = kvittens(&["check-config", "--config", "/nonexistent/k.toml"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("/nonexistent/k.toml") && err.contains("cannot read"),
        "{err}"
    );
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
    assert_eq!(code, 0, "{err}");
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
