//! The web page in a real browser: Debian's headless Chromium driven through chromedriver
//! (WebDriver) with fantoccini, against the real daemon and mail stack. The test plays the
//! authenticating proxy (a small reverse proxy that adds `X-Forwarded-Email`, as oauth2-proxy
//! does). A resident writes; the manager opens the overview and the case, postpones it with a
//! reason; the resident's real inbox gets the delay notice with the reason, and the case's
//! timeline shows the action with the manager's address. Another resident's complaint gets its
//! contact recorded through the page, and the timeline shows it answered by the manager. The
//! screenshots of the overview, the complaint's page and the report are saved in
//! `docs/screenshots/` for the README.
//!
//! Needs `scripts/test` (the mail stack, and `scripts/browser install` for chromium and
//! chromium-driver).

mod common;

use axum::body::Body;
use axum::http::{HeaderValue, Request, Uri};
use axum::response::{IntoResponse, Response};
use common::{body, header, Setup, CHROMIUM_FLAGS};
use fantoccini::{ClientBuilder, Locator};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// chromedriver on a free port; killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn chromedriver() -> Driver {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver is not installed: run the tests with scripts/test (it runs scripts/browser install)");
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "chromedriver did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

/// The authenticating proxy: every request is passed to the web page (once its address is
/// known) with `X-Forwarded-Email: user`, whatever the browser sent in that header.
async fn proxy(
    listener: tokio::net::TcpListener,
    upstream: Arc<OnceLock<SocketAddr>>,
    user: String,
) {
    let app = axum::Router::new().fallback(move |req: Request<Body>| {
        let (upstream, user) = (upstream.clone(), user.clone());
        async move { forward(req, &upstream, &user).await }
    });
    axum::serve(listener, app).await.unwrap();
}

async fn forward(mut req: Request<Body>, upstream: &OnceLock<SocketAddr>, user: &str) -> Response {
    let Some(addr) = upstream.get() else {
        return (axum::http::StatusCode::BAD_GATEWAY, "not started").into_response();
    };
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
    tokio::spawn(conn);
    let path = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    *req.uri_mut() = path.parse::<Uri>().unwrap();
    req.headers_mut()
        .insert("x-forwarded-email", HeaderValue::from_str(user).unwrap());
    let response = sender.send_request(req).await.unwrap();
    response.map(Body::new)
}

/// The address the daemon's log says the web page is served on.
fn web_address(daemon: &common::Daemon) -> SocketAddr {
    let start = Instant::now();
    loop {
        let log = daemon.log_text();
        if let Some(line) = log.lines().find(|l| l.contains("serving the web page")) {
            let addr = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix("address="))
                .expect("address=");
            return addr.parse().unwrap();
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no web page:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The case number a receipt's subject names.
fn case_number(subject: &str) -> String {
    regex::Regex::new(r"T[A-Z0-9]+-\d{4}-\d{4}")
        .unwrap()
        .find(subject)
        .expect("the receipt names the case")
        .as_str()
        .to_string()
}

/// The page's source once it says `text` (after a form's redirect), within 15 seconds.
async fn wait_for_text(browser: &fantoccini::Client, text: &str) -> String {
    let start = Instant::now();
    loop {
        let page = browser.source().await.unwrap();
        if page.contains(text) {
            return page;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "{page}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn save(name: &str, png: &[u8]) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), png).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manager_postpones_a_case_and_records_a_complaint_contact_in_the_browser() {
    let s = Setup::new("webbrowser", "");
    let manager = s.manager();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let site = format!("http://{}", listener.local_addr().unwrap());
    let upstream = Arc::new(OnceLock::new());
    tokio::spawn(proxy(listener, upstream.clone(), manager.clone()));
    let mut config = std::fs::read_to_string(&s.config).unwrap();
    config.push_str(&format!(
        "\n[web]\nlisten = \"127.0.0.1:0\"\ntrusted_proxies = [\"127.0.0.1\"]\nbase_url = \"{site}\"\n"
    ));
    std::fs::write(&s.config, config).unwrap();
    let daemon = s.start();
    upstream.set(web_address(&daemon)).unwrap();

    s.stack
        .append(&s.mailbox(), &s.question(1, "web-1", "Bygglov för garage"))
        .await;
    let receipt = s.stack.wait_for(&s.resident(1), 1).await;
    let subject = header(&receipt[0], "subject").unwrap();
    let number = case_number(&subject);
    // The officer's notice links to the case's page.
    let url = format!("{site}/cases/{number}");
    let notice = loop {
        let got = [
            s.stack.inbox(&s.officer(1)).await,
            s.stack.inbox(&s.officer(2)).await,
        ]
        .concat();
        if let Some(n) = got.first() {
            break body(n);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(notice.contains(&url), "{notice}");

    let driver = chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| f.to_string()).collect();
    args.push(format!("--user-data-dir={}", profile.path().display()));
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), "chrome".into());
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({ "binary": "/usr/bin/chromium", "args": args }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let browser = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("chromium starts under chromedriver");

    // The language switch (headless Chromium asks for English whatever its --lang): Swedish
    // from here on, kept in a cookie.
    browser.goto(&format!("{site}/?lang=sv")).await.unwrap();
    browser.goto(&format!("{site}/")).await.unwrap();
    let page = browser.source().await.unwrap();
    assert!(page.contains("Översikt") && page.contains("<svg"), "{page}");
    save("overview.png", &browser.screenshot().await.unwrap());

    // The number as a person might type it.
    browser
        .goto(&format!("{site}/cases/{}", number.to_lowercase()))
        .await
        .unwrap();
    let page = browser.source().await.unwrap();
    assert!(page.contains(&format!("Ärende {number}")), "{page}");
    let to = (chrono::Utc::now() + chrono::Duration::days(30))
        .date_naive()
        .to_string();
    let reason = "Vi väntar på ett yttrande från miljöenheten.";
    let form = browser
        .form(Locator::Css("form[action$='/postpone']"))
        .await
        .unwrap();
    form.set_by_name("to", &to).await.unwrap();
    form.set_by_name("note", reason).await.unwrap();
    form.submit_with(Locator::Css("button[type=submit]"))
        .await
        .unwrap();

    // Back on the case page, the timeline names who did it.
    let page = wait_for_text(&browser, " date moved to ").await;
    assert!(page.contains(&manager) && page.contains(reason), "{page}");
    let here = browser.current_url().await.unwrap();
    assert_eq!(here.path(), format!("/cases/{number}"));

    // A complaint is the manager's: the call to the resident is recorded in the page.
    s.stack
        .append(
            &s.mailbox(),
            &s.question(2, "web-2", "Klagomål på snöröjningen"),
        )
        .await;
    let receipt = s.stack.wait_for(&s.resident(2), 1).await;
    let complaint = case_number(&header(&receipt[0], "subject").unwrap());
    browser
        .goto(&format!("{site}/cases/{complaint}"))
        .await
        .unwrap();
    let form = browser
        .form(Locator::Css("form[action$='/contact']"))
        .await
        .unwrap();
    form.set_by_name("note", "Ringde, plogning bokad till i morgon")
        .await
        .unwrap();
    form.submit_with(Locator::Css("button[type=submit]"))
        .await
        .unwrap();
    let page = wait_for_text(&browser, "contact by phone on").await;
    assert!(page.contains("Ringde, plogning bokad till i morgon") && page.contains(&manager));
    assert!(page.contains("answered by the contact recorded"), "{page}");
    save("case.png", &browser.screenshot().await.unwrap());

    // The report to the nämnd, for the README.
    browser.goto(&format!("{site}/report")).await.unwrap();
    let page = browser.source().await.unwrap();
    assert!(page.contains("<iframe class=\"report\""), "{page}");
    save("report.png", &browser.screenshot().await.unwrap());
    browser.close().await.unwrap();

    let resident = s.stack.wait_for(&s.resident(1), 2).await;
    let delay = body(&resident[1]);
    assert!(delay.contains(reason), "{delay}");
    assert!(header(&resident[1], "subject").unwrap().contains(&number));
    let log = daemon.log_text();
    assert!(
        log.contains("kvittens::audit") && log.contains("postpone"),
        "the audit trail names the action:\n{log}"
    );
    assert!(daemon.stop().success());
}
