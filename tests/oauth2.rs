//! OAuth2 end to end against the mail stack's OAuth2 mode (scripts/mailstack): Dovecot
//! validates the JWTs of a local token endpoint; Postfix's submission port takes AUTH through
//! Dovecot's SASL socket. Run with scripts/test.

mod common;
#[path = "common/token_endpoint.rs"]
mod token_endpoint;

use common::Setup;
use kvittens::config::{Security, Server};
use std::time::{Duration, Instant};
use token_endpoint::{sign, TokenEndpoint};

fn imap_server() -> Server {
    Server {
        host: "127.0.0.1".into(),
        port: std::env::var("KVITTENS_IMAP_PORT")
            .unwrap()
            .parse()
            .unwrap(),
        security: Security::None,
        ca_file: None,
    }
}

/// `setup`'s config with the mailbox logging in through `[oauth2.imap]` (client credentials)
/// and SMTP through the submission port (AUTH required) with `[oauth2.smtp]` (a Google-style
/// service account, JWT bearer).
fn oauth2_config(setup: &Setup, endpoint: &TokenEndpoint, imap_secret: &str) {
    let text = std::fs::read_to_string(&setup.config).unwrap();
    let submit = std::env::var("KVITTENS_SUBMIT_PORT").unwrap();
    let smtp_port = format!("port = {}\nsecurity", setup.stack.smtp_port);
    let key = setup.dir.path().join("sa.json");
    std::fs::write(
        &key,
        serde_json::json!({
            "type": "service_account",
            "client_email": "kvittens@test.iam.gserviceaccount.com",
            "private_key": include_str!("data/oauth2-test-rsa.pem"),
            "private_key_id": "k1",
        })
        .to_string(),
    )
    .unwrap();
    std::fs::write(
        setup.dir.path().join("imap.secret"),
        format!("{imap_secret}\n"),
    )
    .unwrap();
    let text = text
        .replace("password = \"secret\" }", "auth = \"oauth2:imap\" }")
        .replacen(
            &smtp_port,
            &format!(
                "port = {submit}\nauth = \"oauth2:smtp\"\nuser = \"noreply@kommun.test\"\nsecurity"
            ),
            1,
        );
    let text = format!(
        r#"{text}
[oauth2.imap]
provider = "generic"
token_url = "{url}"
client_id = "imap-{tag}"
client_secret_file = "imap.secret"

[oauth2.smtp]
provider = "google"
token_url = "{url}"
service_account_file = "sa.json"
"#,
        url = endpoint.url,
        tag = setup.tag
    );
    std::fs::write(&setup.config, text).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn imap_idle_and_smtp_keep_working_through_token_refreshes() {
    let setup = Setup::new("oauth", "");
    // 20 s tokens: the margin is 2 s, so a session lasts about 18 s.
    let endpoint = TokenEndpoint::start(
        &[(&format!("imap-{}", setup.tag), "right", &setup.mailbox())],
        Duration::from_secs(20),
    );
    oauth2_config(&setup, &endpoint, "right");
    let daemon = setup.start();
    let started = Instant::now();
    for (i, at) in [0u64, 22, 44].into_iter().enumerate() {
        while started.elapsed() < Duration::from_secs(at) {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let n = i as u32 + 1;
        setup
            .stack
            .append(
                &setup.mailbox(),
                &setup.question(n, &format!("oauth-{n}"), "Bygglov"),
            )
            .await;
        let got = setup.stack.wait_for(&setup.resident(n), 1).await;
        assert_eq!(got.len(), 1, "one receipt for question {n}");
    }
    assert!(
        endpoint.issued_for(&setup.mailbox()) >= 3,
        "the IMAP token was refreshed at least twice: {}\n{}",
        endpoint.issued_for(&setup.mailbox()),
        daemon.log_text()
    );
    assert!(
        endpoint.issued_for("noreply@kommun.test") >= 2,
        "SMTP took fresh tokens"
    );
    let log = daemon.log_text();
    assert!(
        !log.contains("mailbox unavailable"),
        "a planned re-login is not an outage:\n{log}"
    );
    assert!(!log.contains("eyJ"), "no token in the log");
    daemon.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_client_secret_names_invalid_client() {
    let setup = Setup::new("oauthsecret", "");
    let endpoint = TokenEndpoint::start(
        &[(&format!("imap-{}", setup.tag), "right", &setup.mailbox())],
        Duration::from_secs(600),
    );
    oauth2_config(&setup, &endpoint, "wrong");
    let daemon = setup.spawn();
    let line = daemon.wait_log("invalid_client", 1);
    assert!(line.contains(&endpoint.url), "{line}");
    assert!(line.contains("OAuth2 client imap"), "{line}");
    assert!(
        !daemon.log_text().contains("wrong\n"),
        "the secret is not logged"
    );
    assert!(endpoint.refused.load(std::sync::atomic::Ordering::SeqCst) >= 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn dovecot_refuses_an_expired_token_and_one_for_another_user() {
    let user = "oauthuser@kommun.test";
    let good = kvittens::net::imap::connect_oauth2(&imap_server(), user, &sign(user, 60)).await;
    assert!(good.is_ok(), "{:?}", good.err());
    for (token, why) in [
        (sign(user, -60), "expired"),
        (sign("someone-else@kommun.test", 60), "another user's"),
    ] {
        let e = kvittens::net::imap::connect_oauth2(&imap_server(), user, &token)
            .await
            .err()
            .unwrap_or_else(|| panic!("an {why} token was taken"))
            .to_string();
        assert!(
            e.contains(&format!("login as {user} with an OAuth2 token refused by")),
            "{why}: {e}"
        );
        assert!(!e.contains(&token), "{e}");
    }
}

/// `check-config --connect` logs in as the daemon does: with a token of the mailbox's OAuth2
/// client (a password login would be refused), and says which client's endpoint refused it.
#[tokio::test(flavor = "multi_thread")]
async fn check_config_connect_logs_in_with_the_oauth2_client() {
    let setup = Setup::new("oauthcheck", "");
    let endpoint = TokenEndpoint::start(
        &[(&format!("imap-{}", setup.tag), "right", &setup.mailbox())],
        Duration::from_secs(600),
    );
    let check = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_kvittens"))
            .args(["check-config", "--connect", "--config"])
            .arg(&setup.config)
            .output()
            .unwrap()
    };
    oauth2_config(&setup, &endpoint, "right");
    let out = check();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let mailbox_line = text
        .lines()
        .find(|l| l.starts_with("mailbox") && l.contains(&setup.mailbox()))
        .unwrap_or_else(|| panic!("no line for the mailbox:\n{text}"));
    assert!(mailbox_line.contains(": ok"), "{text}");
    assert!(
        endpoint.issued_for(&setup.mailbox()) >= 1,
        "the check fetched a token for the mailbox:\n{text}"
    );
    assert_eq!(out.status.code(), Some(0), "{text}");

    // The same config with a wrong client secret: the endpoint's refusal is named.
    std::fs::write(setup.dir.path().join("imap.secret"), "wrong\n").unwrap();
    let out = check();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("invalid_client"), "{text}");
}
