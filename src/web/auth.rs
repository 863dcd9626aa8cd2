//! Who is asking: the user the authenticating proxy names in `[web] user_header`, believed only
//! when the request comes from one of `[web] trusted_proxies` — anyone who can reach the
//! listener directly could write that header. No header (or not through the proxy): 401; a
//! user with no role in the config: 403.

use super::i18n::Lang;
use super::Web;
use crate::rules::permit::Viewer;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use std::net::{IpAddr, SocketAddr};

/// A signed-in user with a role, and the language their pages are in.
#[derive(Clone, Debug)]
pub struct User {
    /// Who they are to the config today.
    pub viewer: Viewer,
    /// The language of their pages.
    pub lang: Lang,
}

/// Why a request has no user.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not from a trusted proxy, or without the user header: 401.
    NotSignedIn(&'static str),
    /// Signed in, but nobody to kvittens: 403.
    NoRole(String),
}

/// The user of a request from `peer` with `header`'s value (the proxy's user header), as
/// `[web]` says: the pure core of [`User`]'s extraction.
///
/// # Errors
/// [`Refusal`] as the module says.
pub fn identify(
    trusted: &[IpAddr],
    peer: Option<IpAddr>,
    header: Option<&[u8]>,
) -> Result<String, Refusal> {
    let Some(peer) = peer.map(|p| p.to_canonical()) else {
        return Err(Refusal::NotSignedIn("no peer address"));
    };
    if !trusted.iter().any(|t| t.to_canonical() == peer) {
        return Err(Refusal::NotSignedIn("not through the sign-in proxy"));
    }
    let value = header
        .and_then(|h| std::str::from_utf8(h).ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && !v.contains(char::is_control));
    match value {
        Some(v) => Ok(v.to_lowercase()),
        None => Err(Refusal::NotSignedIn("no user from the sign-in proxy")),
    }
}

impl FromRequestParts<Web> for User {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, web: &Web) -> Result<Self, Self::Rejection> {
        let cfg = web.engine.cfg();
        let lang = Lang::of(parts);
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let header = parts
            .headers
            .get(cfg.web.user_header.as_str())
            .map(|v| v.as_bytes());
        let email = identify(&cfg.web.trusted_proxies, peer, header).map_err(|r| {
            if let Refusal::NotSignedIn(why) = &r {
                tracing::warn!(target: "kvittens::audit", peer = ?peer, path = %parts.uri.path(), why, "request refused: not signed in");
            }
            refusal_page(&r, lang)
        })?;
        let away = web.engine.view().absences().unwrap_or_default();
        let viewer = Viewer::of(&cfg, &email, &away, chrono::Utc::now());
        if !viewer.has_role() {
            tracing::warn!(target: "kvittens::audit", user = %email, path = %parts.uri.path(), "request refused: no role");
            return Err(refusal_page(&Refusal::NoRole(email), lang));
        }
        Ok(User { viewer, lang })
    }
}

/// The 401 or 403 page: plain, with no case data.
fn refusal_page(r: &Refusal, lang: Lang) -> Response {
    let sv = lang == Lang::Sv;
    let (status, title, text) = match r {
        Refusal::NotSignedIn(_) if sv => (
            StatusCode::UNAUTHORIZED,
            "Inte inloggad",
            "Logga in via kommunens inloggning för att se kvittens.".to_string(),
        ),
        Refusal::NotSignedIn(_) => (
            StatusCode::UNAUTHORIZED,
            "Not signed in",
            "Sign in through the municipality's sign-in to see kvittens.".to_string(),
        ),
        Refusal::NoRole(who) if sv => (
            StatusCode::FORBIDDEN,
            "Ingen behörighet",
            format!("{who} har ingen roll i kvittens. Kontakta den som sköter kvittens."),
        ),
        Refusal::NoRole(who) => (
            StatusCode::FORBIDDEN,
            "No access",
            format!("{who} has no role in kvittens. Ask whoever runs kvittens."),
        ),
    };
    let body = format!(
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{title}</title></head><body><main><h1>{title}</h1><p>{}</p></main></body></html>",
        lang.code(),
        super::render::escape(&text)
    );
    (status, Html(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_believed_only_from_a_trusted_proxy() {
        let trusted = [IpAddr::from([127, 0, 0, 1])];
        let local = Some(IpAddr::from([127, 0, 0, 1]));
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let h = Some(&b" Anna.Svensson@Kommun.se "[..]);
        assert_eq!(
            identify(&trusted, local, h),
            Ok("anna.svensson@kommun.se".to_string())
        );
        assert_eq!(
            identify(&trusted, Some(mapped), h),
            Ok("anna.svensson@kommun.se".into())
        );
        assert!(matches!(
            identify(&trusted, Some(IpAddr::from([10, 0, 0, 5])), h),
            Err(Refusal::NotSignedIn(_))
        ));
        assert!(matches!(
            identify(&trusted, local, None),
            Err(Refusal::NotSignedIn(_))
        ));
        assert!(matches!(
            identify(&trusted, local, Some(b"  ")),
            Err(Refusal::NotSignedIn(_))
        ));
    }
}
