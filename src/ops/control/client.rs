//! The command line's side of the control socket: one HTTP/1.1 POST over the Unix socket per
//! command, with hyper, the reply's status saying whether the command worked.

use super::request::{Reply, Request};
use super::{socket_path, MAX_REQUEST_BYTES};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use std::path::Path;

/// Why a command could not be asked of a daemon that listens.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The request is larger than the socket takes; refused here, before it is sent.
    #[error("the request is {size} bytes, more than the control socket takes ({limit} bytes at most); send less at a time")]
    TooLarge {
        /// The request's size in bytes.
        size: usize,
        /// The socket's limit in bytes.
        limit: usize,
    },
    /// The request could not be written as JSON.
    #[error("the command could not be written")]
    Encode(#[source] serde_json::Error),
    /// The HTTP exchange failed (the daemon stopped in between, or answered nonsense).
    #[error("the daemon did not answer on its control socket")]
    Http(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// No runtime could be started to talk to the socket.
    #[error("cannot reach the control socket")]
    Runtime(#[source] std::io::Error),
}

/// Sends a command to the daemon running on the store at `store`; `None` when no daemon listens
/// there (no socket, or nobody behind it), so the caller may open the store itself.
///
/// # Errors
/// [`ClientError`] inside the `Some` when a daemon listens but the exchange fails.
pub fn send(store: &Path, request: &Request) -> Option<Result<Reply, ClientError>> {
    send_to(&socket_path(store), request, MAX_REQUEST_BYTES)
}

/// [`send`] to the socket at `socket`, refusing requests over `limit` bytes. Blocks; works from
/// inside an async runtime too (on a thread of its own).
pub fn send_to(
    socket: &Path,
    request: &Request,
    limit: usize,
) -> Option<Result<Reply, ClientError>> {
    let blocking = || -> Option<Result<Reply, ClientError>> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        match rt {
            Ok(rt) => rt.block_on(ask(socket, request, limit)),
            Err(e) => Some(Err(ClientError::Runtime(e))),
        }
    };
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|s| s.spawn(blocking).join().unwrap_or(None))
    } else {
        blocking()
    }
}

/// Asks `request` of the daemon on `socket`: `None` when none listens.
pub async fn ask(
    socket: &Path,
    request: &Request,
    limit: usize,
) -> Option<Result<Reply, ClientError>> {
    let stream = tokio::net::UnixStream::connect(socket).await.ok()?;
    Some(exchange(stream, request, limit).await)
}

/// One request and its reply over a connected `stream`.
async fn exchange(
    stream: tokio::net::UnixStream,
    request: &Request,
    limit: usize,
) -> Result<Reply, ClientError> {
    let body = request.body().map_err(ClientError::Encode)?;
    if body.len() > limit {
        return Err(ClientError::TooLarge {
            size: body.len(),
            limit,
        });
    }
    let http = |e: hyper::Error| ClientError::Http(Box::new(e));
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(http)?;
    let driver = tokio::spawn(conn);
    let req = hyper::Request::post(request.path())
        .header(hyper::header::HOST, "kvittens")
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| ClientError::Http(Box::new(e)))?;
    let response = sender.send_request(req).await.map_err(http)?;
    let ok = response.status().is_success();
    let bytes = response.into_body().collect().await.map_err(http)?;
    driver.abort();
    Ok(Reply {
        ok,
        output: String::from_utf8_lossy(&bytes.to_bytes()).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::control::cmd::{case, cases};
    use crate::ops::control::{server, Filter};
    use std::future::IntoFuture;

    fn list() -> Request {
        Request::Cases(cases::Cases {
            department: None,
            filter: Filter::All,
            json: false,
        })
    }

    #[tokio::test]
    async fn a_command_goes_over_the_unix_socket_and_its_reply_comes_back() {
        let dir = tempfile::tempdir().unwrap();
        let engine = crate::testkit::test_engine(dir.path(), "");
        let socket = dir.path().join("control.sock");
        let listener = tokio::net::UnixListener::bind(&socket).unwrap();
        let served = tokio::spawn(axum::serve(listener, server::router(engine, 256)).into_future());

        let reply = ask(&socket, &list(), 256).await.unwrap().unwrap();
        assert_eq!(
            reply,
            Reply {
                ok: true,
                output: "0 case(s)\n".into()
            }
        );
        let show = Request::Show(cases::Show {
            case: "BMN-2026-0007".into(),
        });
        let reply = ask(&socket, &show, 256).await.unwrap().unwrap();
        assert_eq!(
            reply,
            Reply {
                ok: false,
                output: "no case BMN-2026-0007".into()
            }
        );

        // Over the client's own limit: refused before it is sent.
        let close = Request::Close(case::Close {
            case: "BMN-2026-0007".into(),
            note: "x".repeat(300),
            outcome: None,
            by: String::new(),
        });
        let refused = ask(&socket, &close, 256).await.unwrap().unwrap_err();
        assert!(
            matches!(refused, ClientError::TooLarge { limit: 256, .. }),
            "{refused}"
        );
        // Over the server's: refused by the daemon, which goes on.
        let reply = ask(&socket, &close, 1024).await.unwrap().unwrap();
        assert!(!reply.ok);
        assert!(
            reply
                .output
                .contains("larger than the control socket takes (256 bytes"),
            "{}",
            reply.output
        );
        let reply = ask(&socket, &list(), 256).await.unwrap().unwrap();
        assert!(reply.ok, "still serving: {reply:?}");
        served.abort();
    }

    #[test]
    fn no_daemon_is_none_and_a_blocking_send_works_inside_a_runtime_too() {
        let dir = tempfile::tempdir().unwrap();
        assert!(send(dir.path(), &list()).is_none(), "no socket file");
        std::fs::write(dir.path().join("control.sock"), "").unwrap();
        assert!(send(dir.path(), &list()).is_none(), "nobody behind it");
        let rt = tokio::runtime::Runtime::new().unwrap();
        let engine = crate::testkit::test_engine(dir.path(), "");
        let socket = dir.path().join("served.sock");
        let listener = rt
            .block_on(async { tokio::net::UnixListener::bind(&socket) })
            .unwrap();
        rt.spawn(axum::serve(listener, server::router(engine, 256)).into_future());
        let reply = rt.block_on(async { send_to(&socket, &list(), 256) });
        assert!(reply.unwrap().unwrap().ok);
    }
}
