//! The daemon's side of the control socket: an axum router, one POST route per command, served
//! on the Unix socket only. A command runs on the blocking pool (it reads and writes the store)
//! and then wakes the sender, since it may have queued mail (a delay notice, a receipt).

use super::cmd::{case, cases, explain, ignored, import, officer, purge};
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
use tokio_util::sync::CancellationToken;

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
        .route(explain::Explain::PATH, post(handle::<explain::Explain>))
        .route(explain::Preview::PATH, post(handle::<explain::Preview>))
        .fallback(|| async { (StatusCode::NOT_FOUND, "no such command\n") })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(Served { engine, limit })
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
            let why = format!(
                "the request is larger than the control socket takes ({limit} bytes at most); send less at a time\n"
            );
            return (StatusCode::PAYLOAD_TOO_LARGE, why).into_response();
        }
        Err(rejection) => return (rejection.status(), rejection.body_text()).into_response(),
    };
    let command: C = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("not a command: {e}")).into_response(),
    };
    let outbox = engine.outbox.clone();
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
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
    {
        tracing::warn!(path = %path.display(), error = %e, "the control socket failed; commands must wait until the daemon is stopped");
    }
    let _ = std::fs::remove_file(&path);
}
