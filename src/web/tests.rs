//! The web page's routes answered in-process (no socket): who gets 401, 403 and 200 on each
//! page, which forms are refused (no token, a foreign origin, a registrar, an officer on a
//! colleague's case), and that a permitted action lands in the timeline with the user.

use super::*;
use crate::model::{Contact, State as CaseState};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use std::net::SocketAddr;
use tower::ServiceExt;

const ADMIN: &str = "it@kommun.test";
const REGISTRAR: &str = "reg@kommun.test";
const MANAGER: &str = "m@kommun.test";
const OLLE: &str = "o1@kommun.test";
const ADA: &str = "o2@kommun.test";
const NOBODY: &str = "someone@kommun.test";
const ORIGIN: &str = "http://kvittens.test";

/// An engine with admins and registrars configured and two cases: BMN-2026-0001 (Olle's) and
/// BMN-2026-0002 (Ada's).
fn engine(dir: &std::path::Path) -> Engine {
    let mut cfg = crate::testkit::test_config(dir, "");
    cfg.web.admins = vec![ADMIN.into()];
    cfg.web.registrars = vec![REGISTRAR.into()];
    cfg.web.base_url = Some(ORIGIN.into());
    let templates = crate::mail::check::load_templates(&cfg).unwrap();
    let store = crate::store::Store::open(&cfg.store).unwrap();
    let engine = Engine::new(cfg, store, templates);
    let mk = |n: &str, name: &str, email: &str| {
        let mut c = crate::testkit::case(n, &[]);
        c.officer = Contact {
            name: name.into(),
            email: email.into(),
        };
        c.reply_due = chrono::Utc::now() + chrono::Duration::days(3);
        c.decision_due = c.reply_due;
        c
    };
    let cases = [
        mk("BMN-2026-0001", "Olle", OLLE),
        mk("BMN-2026-0002", "Ada", ADA),
    ];
    engine.store.put_many(&cases, &[]).unwrap();
    engine
}

/// A request from `peer` as `user` (no header when `None`).
fn request(
    method: &str,
    path: &str,
    user: Option<&str>,
    peer: [u8; 4],
    form: Option<String>,
) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(path);
    if let Some(u) = user {
        b = b.header("X-Forwarded-Email", u);
    }
    let body = match form {
        Some(f) => {
            b = b
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::ORIGIN, ORIGIN);
            Body::from(f)
        }
        None => Body::empty(),
    };
    let mut r = b.body(body).unwrap();
    r.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((peer, 40000))));
    r
}

const PROXY: [u8; 4] = [127, 0, 0, 1];

async fn send(router: &Router, r: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
    let response = router.clone().oneshot(r).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

async fn get(router: &Router, path: &str, user: Option<&str>) -> (StatusCode, String) {
    let (s, _, b) = send(router, request("GET", path, user, PROXY, None)).await;
    (s, b)
}

/// Posts `fields` as `user`, with their valid token unless `fields` has one.
async fn post(
    engine: &Engine,
    router: &Router,
    path: &str,
    user: &str,
    fields: &str,
) -> StatusCode {
    let token = csrf::token(&engine.web_key().unwrap(), user);
    let form = if fields.contains("csrf=") {
        fields.to_string()
    } else {
        format!("{fields}&csrf={token}")
    };
    send(router, request("POST", path, Some(user), PROXY, Some(form)))
        .await
        .0
}

#[tokio::test]
async fn nothing_is_served_without_the_proxys_user_and_a_role() {
    let dir = tempfile::tempdir().unwrap();
    let router = router(engine(dir.path())).unwrap();
    for path in [
        "/",
        "/cases",
        "/cases/BMN-2026-0001",
        "/ignored",
        "/absences",
        "/style.css",
    ] {
        assert_eq!(
            get(&router, path, None).await.0,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
        let from_elsewhere = request("GET", path, Some(ADMIN), [10, 1, 2, 3], None);
        let (status, _, _) = send(&router, from_elsewhere).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{path}: not through the proxy"
        );
        let (status, body) = get(&router, path, Some(NOBODY)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert!(
            body.contains("someone@kommun.test har ingen roll"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn each_role_sees_its_pages() {
    let dir = tempfile::tempdir().unwrap();
    let router = router(engine(dir.path())).unwrap();
    for user in [ADMIN, REGISTRAR, MANAGER, OLLE, ADA] {
        for path in [
            "/",
            "/cases?filter=all",
            "/cases/bmn-2026-0001",
            "/absences",
        ] {
            let (status, body) = get(&router, path, Some(user)).await;
            assert_eq!(status, StatusCode::OK, "{user} {path}: {body}");
            assert!(
                body.starts_with("<!doctype html>\n<html lang=\"sv\">"),
                "{body:.80}"
            );
        }
        let (status, _) = get(&router, "/ignored", Some(user)).await;
        let sees = [ADMIN, REGISTRAR, MANAGER].contains(&user);
        let want = if sees {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(status, want, "{user} /ignored");
    }
    // The header's value in any case, a UPN as well as an address.
    let (status, body) = get(&router, "/cases/BMN-2026-0001", Some("M@Kommun.TEST")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("name=\"csrf\""), "the manager gets the forms");
    let (_, body) = get(&router, "/cases/BMN-2026-0001", Some(REGISTRAR)).await;
    assert!(!body.contains("method=\"post\""), "the registrar gets none");
    let (_, body) = get(&router, "/cases/BMN-2026-0001", Some(ADA)).await;
    assert!(
        body.contains("Du kan se ärendet men inte ändra det."),
        "Ada sees Olle's case"
    );
    let (status, _) = get(&router, "/cases/BMN-2026-0999", Some(ADMIN)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = get(&router, "/?lang=en", Some(OLLE)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("<html lang=\"en\">") && body.contains("Overview"),
        "{body:.300}"
    );
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let dir = tempfile::tempdir().unwrap();
    let router = router(engine(dir.path())).unwrap();
    for user in [None, Some(OLLE)] {
        let (_, h, _) = send(
            &router,
            request("GET", "/cases/BMN-2026-0001", user, PROXY, None),
        )
        .await;
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], headers::CSP);
        assert!(!headers::CSP.contains("unsafe-inline"));
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(h[header::REFERRER_POLICY], "same-origin");
        assert_eq!(h[header::CACHE_CONTROL], "no-store");
    }
    let (_, h, _) = send(
        &router,
        request("GET", "/?lang=en", Some(OLLE), PROXY, None),
    )
    .await;
    assert!(h[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .starts_with("kvittens_lang=en;"));
}

#[tokio::test]
async fn forms_without_the_token_or_from_elsewhere_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    let router = router(engine.clone()).unwrap();
    let path = "/cases/BMN-2026-0001/close";
    let wrong = post(&engine, &router, path, MANAGER, "note=x&csrf=AAAA").await;
    assert_eq!(wrong, StatusCode::FORBIDDEN, "a wrong token");
    let olles_token = csrf::token(&engine.web_key().unwrap(), OLLE);
    let borrowed = post(
        &engine,
        &router,
        path,
        MANAGER,
        &format!("note=x&csrf={olles_token}"),
    )
    .await;
    assert_eq!(borrowed, StatusCode::FORBIDDEN, "another user's token");
    let token = csrf::token(&engine.web_key().unwrap(), MANAGER);
    let mut foreign = request(
        "POST",
        path,
        Some(MANAGER),
        PROXY,
        Some(format!("csrf={token}")),
    );
    foreign
        .headers_mut()
        .insert(header::ORIGIN, "https://evil.example".parse().unwrap());
    assert_eq!(
        send(&router, foreign).await.0,
        StatusCode::FORBIDDEN,
        "a foreign origin"
    );
    let mut no_origin = request(
        "POST",
        path,
        Some(MANAGER),
        PROXY,
        Some(format!("csrf={token}")),
    );
    no_origin.headers_mut().remove(header::ORIGIN);
    assert_eq!(
        send(&router, no_origin).await.0,
        StatusCode::FORBIDDEN,
        "no origin"
    );
    let c = crate::app::admin::case(&engine, "BMN-2026-0001").unwrap();
    assert_eq!(c.state, CaseState::Open, "nothing was done");
}

#[tokio::test]
async fn only_those_who_answer_for_a_case_act_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    let router = router(engine.clone()).unwrap();
    let flag = "why=ring+tillbaka";
    let p1 = "/cases/BMN-2026-0001/flag";
    assert_eq!(
        post(&engine, &router, p1, REGISTRAR, flag).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(&engine, &router, p1, ADA, flag).await,
        StatusCode::FORBIDDEN,
        "Olle's case"
    );
    assert_eq!(
        post(&engine, &router, p1, NOBODY, flag).await,
        StatusCode::FORBIDDEN
    );
    assert!(crate::app::admin::case(&engine, "BMN-2026-0001")
        .unwrap()
        .flagged
        .is_none());
    assert_eq!(
        post(&engine, &router, p1, OLLE, flag).await,
        StatusCode::SEE_OTHER
    );
    let p2 = "/cases/bmn-2026-0002/flag";
    assert_eq!(
        post(&engine, &router, p2, MANAGER, flag).await,
        StatusCode::SEE_OTHER
    );
    let c = crate::app::admin::case(&engine, "BMN-2026-0001").unwrap();
    assert_eq!(c.flagged.as_deref(), Some("ring tillbaka"));
    assert_eq!(c.events.last().unwrap().by.as_deref(), Some(OLLE));
    let unknown = post(&engine, &router, "/cases/BMN-2026-0001/explode", ADMIN, "").await;
    assert_eq!(unknown, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn actions_go_through_the_application_and_its_refusals_are_shown() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    let router = router(engine.clone()).unwrap();
    let n = "/cases/BMN-2026-0001";
    let no_reason = post(
        &engine,
        &router,
        &format!("{n}/postpone"),
        OLLE,
        "to=2099-01-15&note=",
    )
    .await;
    assert_eq!(
        no_reason,
        StatusCode::UNPROCESSABLE_ENTITY,
        "§ 11 needs the reason"
    );
    let bad_date = post(
        &engine,
        &router,
        &format!("{n}/postpone"),
        OLLE,
        "to=15%2F1&note=x",
    )
    .await;
    assert_eq!(bad_date, StatusCode::UNPROCESSABLE_ENTITY);
    let done = post(
        &engine,
        &router,
        &format!("{n}/postpone"),
        OLLE,
        "to=2099-01-15&note=v%C3%A4ntar+p%C3%A5+yttrande",
    )
    .await;
    assert_eq!(done, StatusCode::SEE_OTHER);
    let c = crate::app::admin::case(&engine, "BMN-2026-0001").unwrap();
    let e = c.events.last().unwrap();
    assert!(
        e.what.contains("2099-01-15") && e.what.contains("väntar på yttrande"),
        "{e:?}"
    );
    assert_eq!(e.by.as_deref(), Some(OLLE));
    assert!(c.delay_told, "the delay notice is queued");
    let moved = post(
        &engine,
        &router,
        &format!("{n}/reassign"),
        MANAGER,
        "officer=o2%40kommun.test",
    )
    .await;
    assert_eq!(moved, StatusCode::SEE_OTHER);
    let c = crate::app::admin::case(&engine, "BMN-2026-0001").unwrap();
    assert_eq!(c.officer.email, ADA);
    let closed = post(&engine, &router, &format!("{n}/close"), ADA, "note=klart").await;
    assert_eq!(closed, StatusCode::SEE_OTHER);
    let again = post(&engine, &router, &format!("{n}/close"), ADA, "note=igen").await;
    assert_eq!(again, StatusCode::UNPROCESSABLE_ENTITY, "closed already");
    let (_, page) = get(&router, n, Some(ADA)).await;
    assert!(
        page.contains("closed by hand: klart") && page.contains(ADA),
        "the timeline names who"
    );
}

#[tokio::test]
async fn an_officer_sets_their_own_absence_and_a_manager_any_of_the_department() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    let router = router(engine.clone()).unwrap();
    let away = |who: &str| {
        format!("officer={who}&from=2099-01-01&to=2099-01-09&substitute=o2%40kommun.test")
    };
    let olle = "o1%40kommun.test";
    assert_eq!(
        post(&engine, &router, "/absences", ADA, &away(olle)).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(&engine, &router, "/absences", REGISTRAR, &away(olle)).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(&engine, &router, "/absences", OLLE, &away(olle)).await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(engine.view().absences().unwrap().len(), 1);
    let (_, page) = get(&router, "/absences", Some(MANAGER)).await;
    assert!(page.contains("2099-01-09"), "{page}");
    let end = format!("officer={olle}&from=2099-01-01");
    assert_eq!(
        post(&engine, &router, "/absences/end", ADA, &end).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(&engine, &router, "/absences/end", MANAGER, &end).await,
        StatusCode::SEE_OTHER
    );
    assert!(engine.view().absences().unwrap().is_empty());
}
