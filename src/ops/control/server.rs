//! The daemon's side of the control socket: an axum router, one POST route per command, served
//! on the Unix socket only. A command runs on the blocking pool (it reads and writes the store)
//! and then wakes the sender, since it may have queued mail (a delay notice, a receipt).

use super::cmd::{
    case, cases, contact, explain, ignored, import, measure, officer, person, purge, r#move, report,
};
use super::request::{Command, Reply};
use super::{socket_path, MAX_REQUEST_BYTES};
use crate::app::engine::Engine;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use chrono::Utc;
use std::path::Path;
use tokio_util::sync::CancellationToken;

/// How long a request still open when the daemon stops may take to end, in seconds.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// The routes of the control socket, taking bodies of at most `limit` bytes. Never to be served
/// on a TCP listener: the socket file's permissions are its only access control.
pub fn router(engine: Engine, limit: usize) -> Router {
    Router::new()
        .route(cases::Cases::PATH, post(handle::<cases::Cases>))
        .route(cases::Show::PATH, post(handle::<cases::Show>))
        .route(case::Close::PATH, post(handle::<case::Close>))
        .route(case::Postpone::PATH, post(handle::<case::Postpone>))
        .route(case::Receipt::PATH, post(handle::<case::Receipt>))
        .route(import::Import::PATH, post(handle::<import::Import>))
        .route(purge::Purge::PATH, post(handle::<purge::Purge>))
        .route(ignored::Ignored::PATH, post(handle::<ignored::Ignored>))
        .route(
            ignored::OpenIgnored::PATH,
            post(handle::<ignored::OpenIgnored>),
        )
        .route(officer::Away::PATH, post(handle::<officer::Away>))
        .route(officer::Back::PATH, post(handle::<officer::Back>))
        .route(officer::List::PATH, post(handle::<officer::List>))
        .route(person::Export::PATH, post(handle::<person::Export>))
        .route(person::Erase::PATH, post(handle::<person::Erase>))
        .route(contact::Contact::PATH, post(handle::<contact::Contact>))
        .route(measure::Measure::PATH, post(handle::<measure::Measure>))
        .route(r#move::Move::PATH, post(handle::<r#move::Move>))
        .route(explain::Explain::PATH, post(handle::<explain::Explain>))
        .route(explain::Preview::PATH, post(handle::<explain::Preview>))
        .route(report::Report::PATH, post(handle::<report::Report>))
        .fallback(|| async { (StatusCode::NOT_FOUND, "no such command\n") })
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                refuse_declared_over(limit, req, next)
            },
        ))
        .with_state(Served { engine, limit })
}

/// A request whose `Content-Length` says it is over `limit` bytes is refused before its body is
/// read (without this the body limit would read `limit` bytes first, then refuse).
async fn refuse_declared_over(
    limit: usize,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large(limit);
    }
    next.run(req).await
}

/// The refusal of a request over `limit` bytes, the same whether its declared length or its
/// body as it streamed in was found too long.
fn too_large(limit: usize) -> Response {
    let why = format!(
        "the request is larger than the control socket takes ({limit} bytes at most); send less at a time\n"
    );
    (StatusCode::PAYLOAD_TOO_LARGE, why).into_response()
}

/// What every handler has: the engine, and the size limit to name in a refusal.
#[derive(Clone)]
struct Served {
    engine: Engine,
    limit: usize,
}

/// The answer to one request: 200 with the output, 422 with the error when the command failed,
/// 400 when the body is not the command, 413 when it is over the limit, 500 when the command
/// panicked (the daemon goes on).
async fn handle<C: Command>(
    State(Served { engine, limit }): State<Served>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return too_large(limit);
        }
        Err(rejection) => return (rejection.status(), rejection.body_text()).into_response(),
    };
    let command: C = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("not a command: {e}")).into_response(),
    };
    let outbox = engine.outbox_bell();
    let ran =
        tokio::task::spawn_blocking(move || Reply::of(command.run(&engine, Utc::now()))).await;
    outbox.notify_one();
    match ran {
        Ok(Reply { ok: true, output }) => (StatusCode::OK, output).into_response(),
        Ok(Reply { ok: false, output }) => {
            (StatusCode::UNPROCESSABLE_ENTITY, output).into_response()
        }
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the command failed: {e}"),
        )
            .into_response(),
    }
}

/// Refuses to start a second daemon on the state directory `store`: when a daemon answers on
/// its control socket, this one would take the socket over (the first's commands and `export`
/// would then no longer see it). A socket file nothing answers on (left by a daemon that was
/// killed) is no daemon: [`serve`] replaces it.
///
/// # Errors
/// When a daemon answers, naming its pid (read with `SO_PEERCRED`) when the system tells it.
pub fn refuse_second_daemon(store: &Path) -> anyhow::Result<()> {
    let path = socket_path(store);
    let Ok(stream) = std::os::unix::net::UnixStream::connect(&path) else {
        return Ok(());
    };
    let pid = rustix::net::sockopt::socket_peercred(&stream)
        .map_or_else(|_| "?".to_string(), |c| c.pid.as_raw_nonzero().to_string());
    anyhow::bail!(
        "a kvittens daemon already runs with this state_dir {} (pid {pid}; its control socket {} answers): \
         give each instance on one machine its own state_dir and listen",
        store.display(),
        path.display()
    )
}

/// Serves the control socket of `engine`'s store until `stop` is cancelled, then removes the
/// socket file. A socket that cannot be made is logged, not fatal: receipts matter more, and
/// commands can wait until the daemon is stopped.
pub async fn serve(engine: Engine, stop: CancellationToken) {
    let path = socket_path(&engine.cfg().store);
    let _ = std::fs::remove_file(&path);
    let listener = match tokio::net::UnixListener::bind(&path) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "no control socket; commands must wait until the daemon is stopped");
            return;
        }
    };
    let app = router(engine, MAX_REQUEST_BYTES);
    let served = std::future::IntoFuture::into_future(
        axum::serve(listener, app).with_graceful_shutdown(stop.clone().cancelled_owned()),
    );
    // A request still open at the stop (a client that never finishes sending, say) gets
    // STOP_GRACE to end; then the socket closes under it rather than hold the daemon's stop.
    let grace = async {
        stop.cancelled().await;
        tokio::time::sleep(STOP_GRACE).await;
    };
    tokio::select! {
        result = served => {
            if let Err(e) = result {
                tracing::warn!(path = %path.display(), error = %e, "the control socket failed; commands must wait until the daemon is stopped");
            }
        }
        () = grace => tracing::info!("control socket closed with requests still open"),
    }
    let _ = std::fs::remove_file(&path);
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request as HttpRequest;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    /// Sends `body` to `path` of `router`; the status and the text of the answer.
    async fn post(router: &Router, path: &str, body: impl Into<Body>) -> (StatusCode, String) {
        let request = HttpRequest::post(path).body(body.into()).unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn each_command_has_its_route_and_a_failure_is_a_422_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let router = router(crate::testkit::test_engine(dir.path(), ""), 1024);
        let list = r#"{"department":null,"filter":"all","json":false}"#;
        assert_eq!(
            post(&router, "/cases", list).await,
            (StatusCode::OK, "0 case(s)\n".to_string())
        );
        let close = r#"{"case":"BMN-2026-0001","note":""}"#;
        assert_eq!(
            post(&router, "/case/close", close).await,
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "no case BMN-2026-0001".to_string()
            )
        );
        let (status, text) = post(&router, "/purge", r#"{"dry_run":true}"#).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            text,
            "no [daemon] retention is configured: nothing is purged"
        );
    }

    #[tokio::test]
    async fn what_is_not_a_command_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let router = router(crate::testkit::test_engine(dir.path(), ""), 1024);
        let (status, text) = post(&router, "/case/close", "{\"case\":1}").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(text.starts_with("not a command: "), "{text}");
        let (status, text) = post(&router, "/shutdown", "{}").await;
        assert_eq!(
            (status, text.as_str()),
            (StatusCode::NOT_FOUND, "no such command\n")
        );
        let get = HttpRequest::get("/cases").body(Body::empty()).unwrap();
        let status = router.clone().oneshot(get).await.unwrap().status();
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    }

    #[tokio::test]
    async fn an_oversize_request_is_refused_and_the_next_one_served() {
        let dir = tempfile::tempdir().unwrap();
        let router = router(crate::testkit::test_engine(dir.path(), ""), 64);
        let note = "x".repeat(200);
        let big = format!(r#"{{"case":"BMN-2026-0001","note":"{note}"}}"#);
        let (status, text) = post(&router, "/case/close", big.clone()).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            text,
            "the request is larger than the control socket takes (64 bytes at most); send less at a time\n"
        );
        // Without a Content-Length the limit holds as the body streams in.
        let chunks = futures::stream::iter([Ok::<_, std::io::Error>(big)]);
        let (status, _) = post(&router, "/case/close", Body::from_stream(chunks)).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        let (status, _) = post(&router, "/case/show", r#"{"case":"BMN-2026-0001"}"#).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "still serving");
        // A declared length over the limit is refused before any of the body is read: this
        // body never ends, so only the header can have answered.
        let endless = futures::stream::pending::<Result<Vec<u8>, std::io::Error>>();
        let req = HttpRequest::post("/case/close")
            .header("content-length", "70000000")
            .body(Body::from_stream(endless))
            .unwrap();
        let answered = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            router.clone().oneshot(req),
        )
        .await
        .expect("answered without the body");
        assert_eq!(answered.unwrap().status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
}
