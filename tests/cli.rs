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
    assert!(
        err.contains("k.toml: key `smtp.password_file`: cannot read /nonexistent/smtp.pw"),
        "{err}"
    );
    assert!(
        err.contains("k.toml: key `department[0].mailbox.password_env`: the environment variable KVITTENS_TEST_UNSET_PW is not set"),
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
