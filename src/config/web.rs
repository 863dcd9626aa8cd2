//! `[web]`: the web page for managers, officers and registrars (see `crate::web`). kvittens keeps
//! no passwords: a municipality's single sign-on runs in an authenticating reverse proxy
//! (oauth2-proxy, Apache mod_auth_openidc, …), which puts the signed-in user's address in a
//! header. That header is believed only from the proxy's own addresses (`trusted_proxies`);
//! anyone else could write it.

use super::checker::Checker;
use super::raw::RawWeb;
use super::ConfigError;
use std::net::{IpAddr, SocketAddr};

/// The header oauth2-proxy sets with `--set-xauthrequest` / `--pass-user-headers`.
pub const DEFAULT_USER_HEADER: &str = "X-Forwarded-Email";

/// The checked `[web]` table. With no `[web]` (or `listen = "off"`) nothing is served, but
/// `base_url` may still give staff mails their links (a page served by another instance).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Web {
    /// Where the page is served; `None` for nowhere. Meant for loopback: only the proxy talks
    /// to it.
    pub listen: Option<SocketAddr>,
    /// The header that names the signed-in user (an e-mail address or a UPN), lower case as
    /// HTTP header names compare (RFC 9110 §5.1: case-insensitive).
    pub user_header: String,
    /// The peer addresses whose user header is believed (the proxy's); a request from any
    /// other address is refused with 401, header or not.
    pub trusted_proxies: Vec<IpAddr>,
    /// Who sees and does everything (lower case).
    pub admins: Vec<String>,
    /// Who sees everything and acts on nothing: the registrar (registrator), who checks what
    /// got no case (lower case).
    pub registrars: Vec<String>,
    /// The page's address as users reach it (through the proxy), without a trailing `/`:
    /// staff mails link to `{base_url}/cases/{number}`, and a form's `Origin` must be this.
    pub base_url: Option<String>,
}

impl Default for Web {
    fn default() -> Self {
        Web {
            listen: None,
            user_header: DEFAULT_USER_HEADER.to_ascii_lowercase(),
            trusted_proxies: vec![
                IpAddr::from([127, 0, 0, 1]),
                IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
            ],
            admins: Vec::new(),
            registrars: Vec::new(),
            base_url: None,
        }
    }
}

impl Web {
    /// The address of case `number`'s page, when `base_url` is set.
    pub fn case_url(&self, number: &str) -> Option<String> {
        self.base_url
            .as_ref()
            .map(|b| format!("{b}/cases/{number}"))
    }
}

impl Checker<'_> {
    /// `[web]`, checked key by key; absent, the defaults (nothing served).
    pub(super) fn web(&self, raw: Option<RawWeb>) -> Result<Web, ConfigError> {
        let Some(raw) = raw else {
            return Ok(Web::default());
        };
        let dflt = Web::default();
        let listen = match raw.listen.as_deref().map(str::trim) {
            None | Some("off") | Some("none") => None,
            Some(a) => Some(a.parse().map_err(|_| {
                self.err(
                    "web.listen",
                    format!("{a:?} is not an address and port; write e.g. \"127.0.0.1:9478\", or \"off\""),
                )
            })?),
        };
        let user_header = match raw.user_header.as_deref().map(str::trim) {
            None => dflt.user_header,
            Some(h) => {
                if h.is_empty() || axum::http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                    return Err(self.err(
                        "web.user_header",
                        format!("{h:?} is not a header name; write e.g. \"X-Forwarded-Email\""),
                    ));
                }
                h.to_ascii_lowercase()
            }
        };
        let trusted_proxies = match raw.trusted_proxies {
            None => dflt.trusted_proxies,
            Some(list) => self.proxies(&list)?,
        };
        let people = |key: &str, list: &[String]| -> Result<Vec<String>, ConfigError> {
            let mut out = Vec::new();
            for (i, a) in list.iter().enumerate() {
                out.push(self.email(&format!("web.{key}[{i}]"), a)?);
            }
            Ok(out)
        };
        Ok(Web {
            listen,
            user_header,
            trusted_proxies,
            admins: people("admins", &raw.admins)?,
            registrars: people("registrars", &raw.registrars)?,
            base_url: raw
                .base_url
                .as_deref()
                .map(|u| self.base_url(u))
                .transpose()?,
        })
    }

    /// `trusted_proxies`: IP addresses (no ranges: a proxy has an address, and a range trusts
    /// every machine in it to name any user).
    fn proxies(&self, list: &[String]) -> Result<Vec<IpAddr>, ConfigError> {
        if list.is_empty() {
            return Err(self.err(
                "web.trusted_proxies",
                "is empty, so no request could ever be believed; name the proxy's address, e.g. [\"127.0.0.1\"]",
            ));
        }
        list.iter()
            .enumerate()
            .map(|(i, p)| {
                p.trim().parse::<IpAddr>().map_err(|_| {
                    self.err(
                        format!("web.trusted_proxies[{i}]"),
                        format!("{p:?} is not an IP address; write the proxy's address, e.g. \"127.0.0.1\" (no ranges, no host names)"),
                    )
                })
            })
            .collect()
    }

    /// `base_url`: `http://` or `https://`, a host, no query; the trailing `/` dropped.
    fn base_url(&self, url: &str) -> Result<String, ConfigError> {
        let u = url.trim().trim_end_matches('/');
        let rest = u
            .strip_prefix("https://")
            .or_else(|| u.strip_prefix("http://"));
        let ok = rest.is_some_and(|r| {
            let host = r.split('/').next().unwrap_or_default();
            !host.is_empty() && !r.contains(['?', '#', ' ', '"', '<', '>'])
        });
        if !ok {
            return Err(self.err(
                "web.base_url",
                format!(
                    "{url:?} is not the page's address; write e.g. \"https://kvittens.kommun.se\""
                ),
            ));
        }
        Ok(u.to_string())
    }
}

/// The origin (`scheme://host[:port]`) of a URL: what a browser sends as `Origin` for a form
/// posted from a page under it (RFC 6454 §6.1).
pub fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::path::Path;

    fn parse(web: &str) -> Result<Config, ConfigError> {
        let text = format!(
            "{}\n[web]\n{web}\n",
            crate::testkit::Sample::default().text()
        );
        Config::parse(Path::new("/etc/kvittens/kvittens.toml"), &text)
    }

    #[test]
    fn the_documented_shape_works_and_addresses_are_lower_case() {
        let c = parse(
            r#"listen = "127.0.0.1:9478"
user_header = "X-Forwarded-Email"
trusted_proxies = ["127.0.0.1", "::1"]
admins = ["IT@Kommun.se"]
registrars = ["registrator@kommun.se"]
base_url = "https://kvittens.kommun.se/""#,
        )
        .unwrap();
        let w = &c.web;
        assert_eq!(w.listen, Some("127.0.0.1:9478".parse().unwrap()));
        assert_eq!(w.user_header, "x-forwarded-email");
        assert_eq!(w.admins, vec!["it@kommun.se".to_string()]);
        assert_eq!(w.base_url.as_deref(), Some("https://kvittens.kommun.se"));
        assert_eq!(
            w.case_url("BMN-2026-0001").as_deref(),
            Some("https://kvittens.kommun.se/cases/BMN-2026-0001")
        );
        assert_eq!(parse("listen = \"off\"").unwrap().web.listen, None);
        assert_eq!(
            parse("").unwrap().web.trusted_proxies.len(),
            2,
            "loopback by default"
        );
    }

    #[test]
    fn mistakes_name_the_key_and_line() {
        for (text, key, words) in [
            ("listen = \"somewhere\"", "web.listen", "not an address"),
            (
                "user_header = \"X Email\"",
                "web.user_header",
                "not a header",
            ),
            ("trusted_proxies = []", "web.trusted_proxies", "is empty"),
            (
                "trusted_proxies = [\"10.0.0.0/8\"]",
                "web.trusted_proxies[0]",
                "no ranges",
            ),
            ("admins = [\"it\"]", "web.admins[0]", "not a mail address"),
            (
                "base_url = \"kvittens.kommun.se\"",
                "web.base_url",
                "https://",
            ),
            ("lisen = \"x\"", "web.lisen", "unknown field"),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.key, key, "{e}");
            assert!(e.to_string().contains(words), "{e}");
            assert!(e.at.is_some(), "placed at a line: {e}");
        }
    }

    #[test]
    fn an_origin_is_scheme_host_and_port() {
        assert_eq!(origin_of("https://k.kommun.se/a/b"), "https://k.kommun.se");
        assert_eq!(origin_of("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
    }
}
