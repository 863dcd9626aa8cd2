//! Cross-site request forgery: a page elsewhere must not make a signed-in user's browser close
//! or postpone a case. Two checks, each enough on its own against today's browsers (OWASP CSRF
//! Prevention Cheat Sheet): every form carries a token, the HMAC-SHA256 of the user's address
//! under a secret kept in the store (made on first use, so it survives restarts and is never
//! written in a file); and the request's `Origin` (else `Referer`) must be the page's own
//! (`[web] base_url`, else the `Host` the browser asked for).

use axum::http::{header, HeaderMap};
use base64::Engine as _;
use ring::hmac;

/// The form field that carries the token.
pub const FIELD: &str = "csrf";

/// The token of `user` under `key`.
pub fn token(key: &[u8], user: &str) -> String {
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    let tag = hmac::sign(
        &k,
        format!("kvittens-csrf:{}", user.to_lowercase()).as_bytes(),
    );
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag.as_ref())
}

/// Whether `given` is `user`'s token under `key` (compared in constant time).
pub fn valid(key: &[u8], user: &str, given: &str) -> bool {
    let Ok(tag) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(given.trim()) else {
        return false;
    };
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    let msg = format!("kvittens-csrf:{}", user.to_lowercase());
    hmac::verify(&k, msg.as_bytes(), &tag).is_ok()
}

/// Whether the request comes from a page of ours: its `Origin`, or when a browser sent none its
/// `Referer`, is `base_url`'s origin — or, without one, names the host the request was sent to.
/// A request with neither header is refused (browsers send `Origin` with every form POST).
pub fn same_origin(headers: &HeaderMap, base_url: Option<&str>) -> bool {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let claimed = match (text(header::ORIGIN), text(header::REFERER)) {
        (Some(o), _) if o != "null" => o.to_string(),
        (_, Some(r)) => crate::config::web::origin_of(r).to_string(),
        _ => return false,
    };
    match base_url {
        Some(base) => claimed.eq_ignore_ascii_case(crate::config::web::origin_of(base)),
        None => {
            let host = claimed
                .split_once("://")
                .map(|(_, h)| h)
                .unwrap_or_default();
            text(header::HOST).is_some_and(|h| !h.is_empty() && h.eq_ignore_ascii_case(host))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn a_token_is_the_users_own() {
        let key = [7u8; 32];
        let t = token(&key, "Anna@kommun.se");
        assert!(valid(&key, "anna@kommun.se", &t));
        assert!(!valid(&key, "bertil@kommun.se", &t));
        assert!(!valid(&[8u8; 32], "anna@kommun.se", &t));
        assert!(!valid(&key, "anna@kommun.se", "not base64!"));
        assert!(!valid(&key, "anna@kommun.se", ""));
    }

    fn headers(pairs: &[(header::HeaderName, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn a_form_must_come_from_the_page_itself() {
        let base = Some("https://kvittens.kommun.se");
        let ours = headers(&[(header::ORIGIN, "https://kvittens.kommun.se")]);
        assert!(same_origin(&ours, base));
        let evil = headers(&[(header::ORIGIN, "https://evil.example")]);
        assert!(!same_origin(&evil, base));
        let referer = headers(&[(header::REFERER, "https://kvittens.kommun.se/cases/X")]);
        assert!(same_origin(&referer, base));
        assert!(!same_origin(&HeaderMap::new(), base), "neither header");
        let by_host = headers(&[
            (header::ORIGIN, "http://127.0.0.1:4180"),
            (header::HOST, "127.0.0.1:4180"),
        ]);
        assert!(same_origin(&by_host, None));
        let other_host = headers(&[
            (header::ORIGIN, "http://127.0.0.1:9999"),
            (header::HOST, "127.0.0.1:4180"),
        ]);
        assert!(!same_origin(&other_host, None));
    }
}
