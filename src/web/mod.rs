//! The web page for managers, officers and registrars (`[web] listen`): the overview, the
//! cases, one case with its timeline and the actions on it, the ignored mail, the absences and
//! the report to the nämnd, in Swedish and English, as plain server-rendered HTML.
//!
//! kvittens keeps no passwords: an authenticating reverse proxy in front (oauth2-proxy against
//! the municipality's single sign-on) names the user in a header, and only requests from the
//! proxy's addresses are believed ([`auth`]). What a user may see and do is
//! [`crate::rules::permit`]'s; every change goes through the same `app` function as the command
//! line ([`actions`]) and lands in the case's timeline with the user's address. Forms carry a
//! CSRF token and must come from the page's own origin ([`csrf`]); every response carries
//! strict security headers ([`headers`]); who opened which case and who did what is logged to
//! the `kvittens::audit` target ([`audit`]).
//!
//! Layer: beside `ops`. May import: `app`, `rules`, `config`, `model`; never `store` (every read
//! and change goes through `app`), nor `ops` or `net`.

pub mod actions;
pub mod audit;
pub mod auth;
pub mod chart;
pub mod csrf;
pub mod headers;
pub mod i18n;
pub mod pages;
pub mod render;
pub mod report;

use crate::app::engine::Engine;
use axum::routing::{get, post};
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// What every handler shares: the engine (the one way to the cases) and the page templates.
#[derive(Clone)]
pub struct Web {
    /// The application.
    pub engine: Engine,
    /// The page templates, checked once when the router is built.
    pub pages: Arc<render::Pages>,
}

/// The page's routes. Every one of them needs the proxy's user (see [`auth::User`]).
///
/// # Errors
/// When a page template does not compile (a fault in the build, caught by the tests).
pub fn router(engine: Engine) -> Result<Router, handlebars::TemplateError> {
    let web = Web {
        engine,
        pages: Arc::new(render::Pages::new()?),
    };
    Ok(Router::new()
        .route("/", get(pages::overview))
        .route("/cases", get(pages::cases))
        .route("/cases/{number}", get(pages::case))
        .route("/cases/{number}/{action}", post(actions::on_case))
        .route("/ignored", get(pages::ignored))
        .route("/absences", get(pages::absences).post(actions::set_absence))
        .route("/absences/end", post(actions::end_absence))
        .route("/report", get(report::page))
        .route("/report/file", get(report::file))
        .route("/style.css", get(pages::style))
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn(headers::secure))
        .with_state(web))
}

/// Serves the page on `listener` (bound at start by the daemon, which stops when the address
/// is in use) until `stop` is cancelled. Templates that do not compile are logged, not fatal:
/// receipts matter more than the page.
pub async fn serve(engine: Engine, listener: TcpListener, stop: CancellationToken) {
    let addr = listener.local_addr().ok();
    let app = match router(engine) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "the web page's templates do not compile; not serving it");
            return;
        }
    };
    let bound = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tracing::info!(address = %bound, "serving the web page");
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    if let Err(e) = axum::serve(listener, service)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
    {
        tracing::warn!(?addr, error = %e, "the web page stopped");
    }
}

#[cfg(test)]
mod tests;
