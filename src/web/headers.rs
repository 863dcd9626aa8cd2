//! The security headers on every response of the web page. Its pages hold personal data and
//! its forms change cases, so: no script at all and nothing from elsewhere
//! (`Content-Security-Policy`), never in a frame (clickjacking: `frame-ancestors` and, for older
//! browsers, `X-Frame-Options`), no type guessing, no address leaked to other sites
//! (`Referrer-Policy`), and nothing kept in a browser's or proxy's cache (`no-store`). Two
//! responses of `/report` set their own policy, each a narrow widening of this one: the page
//! may frame the report from its own origin ([`CSP_FRAMING_REPORT`]), and the report — a
//! self-contained document with inline style, as it is mailed — may use that style and be
//! framed by the page, nothing more ([`CSP_REPORT`]).

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The page's Content-Security-Policy: its own stylesheet, no scripts, forms only to itself.
/// The chart is inline SVG whose styling is in attributes, so no inline style is needed.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// `/report`'s policy: [`CSP`], and frames from the page's own origin (the report).
pub const CSP_FRAMING_REPORT: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The report file's policy: its own inline style and inline SVG, no script, no form, nothing
/// fetched; framed only by the page itself.
pub const CSP_REPORT: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; frame-ancestors 'self'; base-uri 'none'";

/// Adds the headers to `next`'s response (a Content-Security-Policy or X-Frame-Options a
/// handler set is kept: see the module's note on `/report`); keeps the language switch's
/// choice in its cookie.
pub async fn secure(request: Request, next: Next) -> Response {
    let switched = request
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .find_map(|kv| match kv {
            "lang=sv" => Some("sv"),
            "lang=en" => Some("en"),
            _ => None,
        });
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    if let Some(lang) = switched {
        let cookie = format!(
            "{}={lang}; Path=/; Max-Age=31536000; SameSite=Lax; HttpOnly",
            super::i18n::COOKIE
        );
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            h.append(header::SET_COOKIE, v);
        }
    }
    let set = |h: &mut axum::http::HeaderMap, k, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    for (k, v) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        h.entry(k).or_insert(HeaderValue::from_static(v));
    }
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "same-origin");
    set(h, header::CACHE_CONTROL, "no-store");
    response
}
