//! `/metrics` (Prometheus text format) and `/healthz` over plain HTTP, on a loopback address by
//! default. Two read-only pages need no web framework: this answers GET with HTTP/1.0 and closes.

use crate::app::engine::Engine;
use chrono::Utc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

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
    if let Err(e) = engine.store_works() {
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

/// Refreshes the gauges read from the store (open and overdue cases, outbox).
fn refresh(engine: &Engine) {
    let now = Utc::now();
    let mut open: std::collections::HashMap<String, (i64, i64)> = std::collections::HashMap::new();
    let counted = engine.for_each_case(&mut |c| {
        if c.state == crate::rules::case::State::Open {
            let entry = open.entry(c.department).or_default();
            entry.0 += 1;
            entry.1 += i64::from(c.reply_due < now);
        }
    });
    if counted.is_ok() {
        for dept in &engine.cfg().departments {
            let label = crate::ops::metrics::Dept {
                department: dept.id.clone(),
            };
            let (o, late) = open.get(&dept.id).copied().unwrap_or_default();
            engine.metrics().cases_open.get_or_create(&label).set(o);
            engine
                .metrics()
                .cases_overdue
                .get_or_create(&label)
                .set(late);
        }
    }
    if let Ok(pending) = engine.outbox_handle().pending() {
        engine.metrics().outbox.set(pending.len() as i64);
    }
    if let Ok(n) = engine.outbox_handle().in_flight() {
        engine.metrics().in_flight.set(n as i64);
    }
}

/// Serves until shutdown. A bind failure is logged, not fatal: receipts matter more.
pub async fn serve(
    engine: Engine,
    addr: std::net::SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) {
    let listener = match TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(%addr, error = %e, "cannot serve /metrics and /healthz");
            return;
        }
    };
    let bound = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tracing::info!(address = %bound, "serving /metrics and /healthz");
    loop {
        let conn = tokio::select! {
            c = listener.accept() => c,
            _ = shutdown.changed() => return,
        };
        let Ok((mut stream, _)) = conn else { continue };
        let engine = engine.clone();
        tokio::spawn(async move {
            // Read up to the end of the request head (a client may send it in pieces).
            let mut buf = Vec::with_capacity(1024);
            let mut chunk = [0u8; 1024];
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 8192 {
                match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
                    Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
                    Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let n = buf.len();
            let request = String::from_utf8_lossy(&buf[..n]);
            let path = request.split_whitespace().nth(1).unwrap_or("/");
            let (status, ctype, body) = match path {
                "/metrics" => {
                    let e = engine.clone();
                    let body = tokio::task::spawn_blocking(move || {
                        refresh(&e);
                        e.metrics().encode()
                    })
                    .await
                    .unwrap_or_default();
                    (
                        "200 OK",
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        body,
                    )
                }
                "/healthz" => {
                    let (ok, text) = health(&engine);
                    (
                        if ok {
                            "200 OK"
                        } else {
                            "503 Service Unavailable"
                        },
                        "text/plain; charset=utf-8",
                        text,
                    )
                }
                _ => (
                    "404 Not Found",
                    "text/plain; charset=utf-8",
                    "try /metrics or /healthz\n".to_string(),
                ),
            };
            let head = format!("HTTP/1.0 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(body.as_bytes()).await;
        });
    }
}
