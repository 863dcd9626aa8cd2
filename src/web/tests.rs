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

/// An engine with admins and registrars configured, departments `bygg` and `plan`, and two
/// cases in `bygg`: BMN-2026-0001 (Olle's) and BMN-2026-0002 (Ada's).
fn engine(dir: &std::path::Path) -> Engine {
    let department = format!("reply_within = \"3d\"\n{}", crate::testkit::PLAN);
    let mut cfg = crate::testkit::Sample {
        officers: crate::testkit::OLLE_AND_ADA,
        department: &department,
        ..crate::testkit::Sample::default()
    }
    .served(dir);
    cfg.web.admins = vec![ADMIN.into()];
    cfg.web.registrars = vec![REGISTRAR.into()];
    cfg.web.base_url = Some(ORIGIN.into());
    let templates = crate::mail::check::load_templates(&cfg).unwrap();
    let store = crate::store::Store::connect(&cfg.store_location).unwrap();
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
        "/report",
        "/report/file?format=csv",
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
async fn the_reassign_list_offers_the_manager_and_every_other_officer() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    let router = router(engine.clone()).unwrap();
    let n = "/cases/BMN-2026-0001";
    let options = |page: &str| -> Vec<String> {
        let list = page
            .split("<select id=\"reassign-to\"")
            .nth(1)
            .and_then(|s| s.split("</select>").next())
            .unwrap_or_default();
        list.split("<option value=\"")
            .skip(1)
            .filter_map(|o| o.split('"').next().map(str::to_string))
            .collect()
    };
    let (_, page) = get(&router, n, Some(MANAGER)).await;
    assert_eq!(options(&page), [MANAGER, ADA], "{page}");
    // Handed to the manager, the case can go to either officer; and back to the manager.
    let to_manager = post(
        &engine,
        &router,
        &format!("{n}/reassign"),
        MANAGER,
        &format!("officer={}", MANAGER.replace('@', "%40")),
    )
    .await;
    assert_eq!(to_manager, StatusCode::SEE_OTHER);
    assert_eq!(
        crate::app::admin::case(&engine, "BMN-2026-0001")
            .unwrap()
            .officer
            .email,
        MANAGER
    );
    let (_, page) = get(&router, n, Some(MANAGER)).await;
    assert_eq!(options(&page), [OLLE, ADA], "{page}");
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
    // The checks of `officer away`: wholly in the past is refused with the reason.
    let past = "officer=o1%40kommun.test&from=2020-01-01&to=2020-01-09&substitute=o2%40kommun.test";
    assert_eq!(
        post(&engine, &router, "/absences", OLLE, past).await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // The manager's own absence, from today; ended today it is gone (`officer back`).
    let today = engine.cfg().departments[0]
        .calendar
        .local_date(chrono::Utc::now());
    let mine = format!("officer=m%40kommun.test&from={today}&to=2099-01-09&substitute={olle}");
    assert_eq!(
        post(&engine, &router, "/absences", MANAGER, &mine).await,
        StatusCode::SEE_OTHER
    );
    let (_, page) = get(&router, "/absences", Some(MANAGER)).await;
    assert!(page.contains("M &lt;m@kommun.test&gt;"), "{page}");
    let back = format!("officer=m%40kommun.test&from={today}");
    assert_eq!(
        post(&engine, &router, "/absences/end", MANAGER, &back).await,
        StatusCode::SEE_OTHER
    );
    assert!(engine.view().absences().unwrap().is_empty());
}

/// Each of the complaint actions (contact, measure, close with an outcome, move) as the page
/// posts them: refused to a registrar, to an officer on a colleague's case and to nobody,
/// done for the case's officer and its manager with the user in the timeline.
#[tokio::test]
async fn contact_measure_close_and_move_are_permitted_as_any_action_on_the_case() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    let router = router(engine.clone()).unwrap();
    let today = engine.cfg().departments[0]
        .calendar
        .local_date(chrono::Utc::now());
    let contact = format!("way=phone&on={today}&note=Ringde+Sara");
    let actions = [
        ("contact", contact.as_str(), "contact by phone on"),
        (
            "measure",
            "note=Rutinen+%C3%A4ndrad",
            "measure: Rutinen ändrad",
        ),
        (
            "close",
            "outcome=befogat&note=klart",
            "closed by hand: klart (outcome: befogat)",
        ),
    ];
    let n = "/cases/BMN-2026-0001";
    for (action, fields, said) in actions {
        let path = format!("{n}/{action}");
        for who in [REGISTRAR, ADA, NOBODY] {
            let status = post(&engine, &router, &path, who, fields).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{who} {action}");
        }
        let status = post(&engine, &router, &path, OLLE, fields).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{action}");
        let c = crate::app::admin::case(&engine, "BMN-2026-0001").unwrap();
        let last = c.events.iter().rev().find(|e| e.what.contains(said));
        assert_eq!(
            last.and_then(|e| e.by.as_deref()),
            Some(OLLE),
            "{action}: {:?}",
            c.events
        );
    }
    let c = crate::app::admin::case(&engine, "BMN-2026-0001").unwrap();
    assert_eq!(c.contacts.len(), 1);
    assert_eq!(c.contacts[0].by, OLLE);
    assert_eq!(c.measures[0].note, "Rutinen ändrad");
    assert_eq!(c.outcome.as_deref(), Some("befogat"));
    // The case page shows them.
    let (_, page) = get(&router, n, Some(ADA)).await;
    for shown in [
        "Ringde Sara",
        "telefon",
        "Rutinen ändrad",
        "befogat",
        "Utfall",
    ] {
        assert!(page.contains(shown), "{shown}: {page}");
    }
    // A bad way of contact is the application's refusal, with the words to use.
    let p2 = "/cases/BMN-2026-0002/contact";
    let bad = post(&engine, &router, p2, ADA, "way=fax&note=x").await;
    assert_eq!(bad, StatusCode::UNPROCESSABLE_ENTITY);
    // Moving: the manager may, the registrar and a colleague may not; the case leaves for plan.
    let p2 = "/cases/BMN-2026-0002/move";
    for who in [REGISTRAR, OLLE] {
        let status = post(&engine, &router, p2, who, "department=plan").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who} move");
    }
    let unknown = post(&engine, &router, p2, MANAGER, "department=nowhere").await;
    assert_eq!(unknown, StatusCode::UNPROCESSABLE_ENTITY);
    let moved = post(&engine, &router, p2, MANAGER, "department=plan").await;
    assert_eq!(moved, StatusCode::SEE_OTHER);
    let c = crate::app::admin::case(&engine, "BMN-2026-0002").unwrap();
    assert_eq!(
        (c.department.as_str(), c.officer.email.as_str()),
        ("plan", "pia@kommun.test")
    );
    assert_eq!(c.events.last().unwrap().by.as_deref(), Some(MANAGER));
    // Now plan's: bygg's manager no longer acts on it, nor sees it.
    let again = post(&engine, &router, p2, MANAGER, "department=bygg").await;
    assert_eq!(again, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_case_page_shows_the_fault_type_and_the_six_month_mark_and_the_overview_counts_it() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    let router = router(engine.clone()).unwrap();
    let mut c = crate::app::admin::case(&engine, "BMN-2026-0001").unwrap();
    c.category = crate::model::Category::FaultReport;
    c.fault_type = Some("Gatubelysning".into());
    c.six_months = Some(chrono::Utc::now());
    engine
        .update_case("BMN-2026-0001", |x| {
            *x = c.clone();
            Ok(crate::store::Effects::default())
        })
        .unwrap();
    let (_, page) = get(&router, "/cases/BMN-2026-0001", Some(OLLE)).await;
    assert!(
        page.contains("Feltyp") && page.contains("Gatubelysning"),
        "{page}"
    );
    assert!(page.contains("Sex månader (12 §)"), "{page}");
    let (_, overview) = get(&router, "/", Some(MANAGER)).await;
    let row = overview
        .split("<tr>")
        .find(|r| r.contains("filter=flagged"))
        .unwrap();
    // open 2, due today 0, overdue 0, flagged 0, § 12: 1.
    assert!(row.ends_with("<td class=\"n\">1</td></tr>\n"), "{row}");
}

#[tokio::test]
async fn the_overviews_week_is_the_daily_totals() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    let router = router(engine.clone()).unwrap();
    let today = engine.cfg().departments[0]
        .calendar
        .local_date(chrono::Utc::now());
    let tick = crate::model::tally::Tick::new("bygg", today, |t| {
        t.received = 7;
        t.receipts = 6;
        t.answered = 4;
        t.answered_in_time = 3;
    });
    engine.store.add_ticks(&[tick]).unwrap();
    let (_, page) = get(&router, "/", Some(MANAGER)).await;
    let row = format!(
        "<tr><th scope=\"row\">{today}</th><td class=\"n\">7</td><td class=\"n\">6</td><td class=\"n\">3</td></tr>"
    );
    assert!(page.contains(&row), "{page}");
}

#[tokio::test]
async fn the_report_is_the_managers_admins_and_registrars() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    let router = router(engine.clone()).unwrap();
    let period = "from=2026-01-01&to=2026-03-31";
    for (user, department, want) in [
        (OLLE, "bygg", StatusCode::FORBIDDEN),
        (MANAGER, "bygg", StatusCode::OK),
        (MANAGER, "plan", StatusCode::FORBIDDEN),
        (MANAGER, "", StatusCode::FORBIDDEN),
        (ADMIN, "", StatusCode::OK),
        (REGISTRAR, "plan", StatusCode::OK),
    ] {
        let q = format!("{period}&department={department}");
        for path in [
            format!("/report?{q}"),
            format!("/report/file?{q}&format=csv"),
        ] {
            let (status, _) = get(&router, &path, Some(user)).await;
            assert_eq!(status, want, "{user} {path}");
        }
    }
    // A manager's report without a department chosen is their department's.
    let (status, page) = get(&router, "/report", Some(MANAGER)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("department&#x3D;bygg&amp;format&#x3D;html&amp;view&#x3D;1"),
        "{page}"
    );
    assert!(!page.contains(">Alla förvaltningar<"), "{page}");
    let (_, h, _) = send(
        &router,
        request("GET", "/report", Some(MANAGER), PROXY, None),
    )
    .await;
    assert_eq!(
        h[header::CONTENT_SECURITY_POLICY],
        headers::CSP_FRAMING_REPORT
    );
    // The files: the report's own renderings, downloaded or framed.
    let csv = format!("/report/file?{period}&department=&format=csv");
    let (status, h, body) = send(&router, request("GET", &csv, Some(ADMIN), PROXY, None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert_eq!(
        h[header::CONTENT_DISPOSITION],
        "attachment; filename=\"kvittens-rapport-alla-2026-01-01-2026-03-31.csv\""
    );
    let q = crate::app::report::Query {
        from: "2026-01-01".parse().unwrap(),
        to: "2026-03-31".parse().unwrap(),
        department: None,
    };
    let csv_now = crate::app::report::render(
        &engine,
        &q,
        crate::mail::report::Format::Csv,
        chrono::Utc::now(),
    )
    .unwrap();
    assert_eq!(
        body.lines().next(),
        csv_now.lines().next(),
        "the report's CSV"
    );
    let view = format!("/report/file?{period}&department=bygg&format=html&view=1");
    let (status, h, body) = send(&router, request("GET", &view, Some(MANAGER), PROXY, None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h[header::CONTENT_DISPOSITION], "inline");
    assert_eq!(h[header::CONTENT_SECURITY_POLICY], headers::CSP_REPORT);
    assert_eq!(h[header::X_FRAME_OPTIONS], "SAMEORIGIN");
    assert!(
        body.contains("<svg") && body.contains("Rapport till nämnden"),
        "{body:.400}"
    );
    let bad = get(&router, "/report?from=1%2F1&to=2026-03-31", Some(ADMIN)).await;
    assert_eq!(bad.0, StatusCode::UNPROCESSABLE_ENTITY);
    let reversed = "/report/file?from=2026-03-31&to=2026-01-01&format=csv";
    assert_eq!(
        get(&router, reversed, Some(ADMIN)).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn a_complaints_deadline_is_its_contact_and_a_catalogued_faults_its_repair() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    let router = router(engine.clone()).unwrap();
    let set = |number: &str, category, fault: Option<&str>| {
        engine
            .update_case(number, |x| {
                x.category = category;
                x.fault_type = fault.map(str::to_string);
                Ok(crate::store::Effects::default())
            })
            .unwrap();
    };
    set("BMN-2026-0001", crate::model::Category::Complaint, None);
    set(
        "BMN-2026-0002",
        crate::model::Category::FaultReport,
        Some("Gatubelysning"),
    );
    for (lang, contact, done, answer) in [
        ("sv", "Kontakt senast", "Åtgärdat senast", "Svar senast"),
        ("en", "Contact by", "Done by", "Reply by"),
    ] {
        let (_, list) = get(&router, &format!("/cases?lang={lang}"), Some(MANAGER)).await;
        let row = |n: &str| {
            let r = list.split("<tr>").find(|r| r.contains(n));
            r.unwrap_or_default().to_string()
        };
        assert!(row("BMN-2026-0001").contains(contact), "{list}");
        assert!(row("BMN-2026-0002").contains(done), "{list}");
        assert!(!list.contains(answer), "{list}");
        let (_, page) = get(
            &router,
            &format!("/cases/BMN-2026-0001?lang={lang}"),
            Some(OLLE),
        )
        .await;
        assert!(page.contains(&format!("<dt>{contact}</dt>")), "{page}");
        let (_, page) = get(
            &router,
            &format!("/cases/BMN-2026-0002?lang={lang}"),
            Some(ADA),
        )
        .await;
        assert!(page.contains(&format!("<dt>{done}</dt>")), "{page}");
    }
    // A question is answered.
    set("BMN-2026-0001", crate::model::Category::Question, None);
    let (_, page) = get(&router, "/cases/BMN-2026-0001?lang=sv", Some(OLLE)).await;
    assert!(page.contains("<dt>Svar senast</dt>"), "{page}");
}
