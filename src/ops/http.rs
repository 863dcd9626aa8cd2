//! `/metrics` (OpenMetrics text format) and `/healthz` over plain HTTP, on a loopback address by
//! default (`[daemon] listen`), served by axum. Read-only: nothing on this listener acts on
//! cases (that is the control socket's, which is never served on TCP).

use crate::app::admin;
use crate::app::engine::Engine;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use chrono::Utc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The content type of `/metrics`: OpenMetrics 1.0, as prometheus-client encodes it.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The content type of `/healthz` and of the 404 page.
const TEXT: &str = "text/plain; charset=utf-8";

/// Whether the daemon is healthy: every watched folder (inbox and Sent) working, the SMTP
/// server taking mail (or not yet tried), the store readable. The text lists what is wrong,
/// one line per mailbox or server, in the words of [`crate::net::diagnose::Problem`].
pub fn health(engine: &Engine) -> (bool, String) {
    let mut problems = Vec::new();
    for dept in &engine.cfg().departments {
        for sent in [false, true] {
            let folder = if sent { "Sent folder" } else { "mailbox" };
            match engine.metrics().folder_status(&dept.id, sent) {
                Some(None) => {}
                // Told once: a refused login shows on the inbox's line.
                Some(Some(why))
                    if sent
                        && engine.metrics().folder_status(&dept.id, false)
                            == Some(Some(why.clone())) => {}
                Some(Some(why)) => problems.push(format!(
                    "{folder} of {} ({}) is not watched: {why}",
                    dept.id, dept.email
                )),
                // Not tried yet: the inbox counts as not watched, the Sent folder not yet.
                None if !sent => problems.push(format!(
                    "mailbox of {} ({}) is not watched",
                    dept.id, dept.email
                )),
                None => {}
            }
        }
    }
    if let Some(Some(why)) = engine.metrics().smtp_status() {
        problems.push(format!("the SMTP server does not take mail: {why}"));
    }
    if let Err(e) = admin::store_readable(engine) {
        problems.push(format!("the store cannot be read: {e}"));
    }
    // Waiting for the provider's send limit is not a fault, but an admin should see it.
    let queued = engine.metrics().send_budget_queue.get();
    let note = if queued > 0 {
        format!(
            "{queued} mail(s) wait for the SMTP account's send limit (next in {} s)\n",
            engine.metrics().send_budget_wait.get()
        )
    } else {
        String::new()
    };
    if problems.is_empty() {
        (true, format!("ok\n{note}"))
    } else {
        (false, problems.join("\n") + "\n" + &note)
    }
}

/// Sets the gauges read from the store (open and overdue cases, outbox, in flight).
fn refresh(engine: &Engine) {
    let gauges = admin::gauges(engine, Utc::now());
    for (department, open, late) in gauges.cases {
        let label = crate::app::metrics::Dept { department };
        engine.metrics().cases_open.get_or_create(&label).set(open);
        engine
            .metrics()
            .cases_overdue
            .get_or_create(&label)
            .set(late);
    }
    if let Some(n) = gauges.outbox {
        engine.metrics().outbox.set(n);
    }
    if let Some(n) = gauges.in_flight {
        engine.metrics().in_flight.set(n);
    }
}

/// The two pages, and a 404 that names them.
pub fn router(engine: Engine) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, TEXT)],
                "try /metrics or /healthz\n",
            )
        })
        .with_state(engine)
}

/// `/metrics`: the gauges refreshed from the store (on the blocking pool: it reads every
/// case), then everything encoded.
async fn metrics(State(engine): State<Engine>) -> impl IntoResponse {
    let body = tokio::task::spawn_blocking(move || {
        refresh(&engine);
        engine.metrics().encode()
    })
    .await
    .unwrap_or_default();
    ([(header::CONTENT_TYPE, OPENMETRICS)], body)
}

/// `/healthz`: 200 and `ok`, or 503 and what is wrong.
async fn healthz(State(engine): State<Engine>) -> impl IntoResponse {
    let (ok, text) = health(&engine);
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, [(header::CONTENT_TYPE, TEXT)], text)
}

/// Serves on `listener` (bound at start by the daemon, which stops when the address is in use:
/// a second instance with the same config must not run on without its metrics) until `stop`
/// is cancelled.
pub async fn serve(engine: Engine, listener: TcpListener, stop: CancellationToken) {
    let addr = listener.local_addr().ok();
    let bound = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tracing::info!(address = %bound, "serving /metrics and /healthz");
    if let Err(e) = axum::serve(listener, router(engine))
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
    {
        tracing::warn!(?addr, error = %e, "/metrics and /healthz stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use std::future::IntoFuture;
    use tower::ServiceExt;

    /// GETs `path`: status, content type, body.
    async fn get(router: &Router, path: &str) -> (StatusCode, String, String) {
        let request = Request::get(path).body(Body::empty()).unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let ctype = response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_string();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, ctype, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn the_pages_keep_their_paths_statuses_and_types() {
        let dir = tempfile::tempdir().unwrap();
        let engine = crate::testkit::test_engine(dir.path(), "");
        let router = router(engine.clone());
        let (status, ctype, text) = get(&router, "/healthz").await;
        assert_eq!(
            (status, ctype.as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, TEXT)
        );
        assert_eq!(text, "mailbox of bygg (bygg@kommun.test) is not watched\n");
        engine.metrics().folder_problem("bygg", false, None);
        engine.metrics().folder_problem("bygg", true, None);
        let (status, _, text) = get(&router, "/healthz").await;
        assert_eq!((status, text.as_str()), (StatusCode::OK, "ok\n"));
        let (status, ctype, text) = get(&router, "/metrics").await;
        assert_eq!((status, ctype.as_str()), (StatusCode::OK, OPENMETRICS));
        assert!(
            text.contains("kvittens_cases_open{department=\"bygg\"} 0"),
            "{text}"
        );
        let (status, ctype, text) = get(&router, "/").await;
        assert_eq!((status, ctype.as_str()), (StatusCode::NOT_FOUND, TEXT));
        assert_eq!(text, "try /metrics or /healthz\n");
    }

    #[tokio::test]
    async fn a_request_arriving_in_pieces_is_answered() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let dir = tempfile::tempdir().unwrap();
        let engine = crate::testkit::test_engine(dir.path(), "");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let served = tokio::spawn(
            axum::serve(listener, router(engine))
                .with_graceful_shutdown(stop.clone().cancelled_owned())
                .into_future(),
        );
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        for piece in ["GET /heal", "thz HTTP/1.0\r\n", "\r\n"] {
            s.write_all(piece.as_bytes()).await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let mut text = String::new();
        s.read_to_string(&mut text).await.unwrap();
        assert!(text.starts_with("HTTP/1.0 503"), "{text}");
        stop.cancel();
        served.await.unwrap().unwrap();
    }
}
