//! OAuth2 access tokens for IMAP and SMTP (SASL XOAUTH2): Exchange Online refuses password
//! logins over IMAP and Google Workspace over both, so a municipality there can only be served
//! with a token.
//!
//! Two grants: the client-credentials grant (RFC 6749 §4.4) for Microsoft Entra and any
//! `generic` provider, and the JWT-bearer grant (RFC 7523 §2.1) for a Google service account
//! with domain-wide delegation, whose assertion names the mailbox as its subject. Tokens are
//! cached per client and subject and fetched again well before they expire; concurrent
//! mailboxes wait for one request instead of each sending their own (single flight). Secrets
//! are read when a token is fetched, never at start, so commands that make no connection need
//! none.

// The clients and how they log in are the config's words; they are named here too because
// the token code is where a reader looks for them.
use crate::config::oauth2::ServiceAccount;
pub use crate::config::oauth2::{microsoft_token_url, Auth, Client, Provider, SecretSource};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// An access token and when to stop using it.
#[derive(Clone)]
pub struct Token {
    /// The bearer token; never logged.
    pub access: String,
    /// When the server stops accepting it.
    pub expires_at: Instant,
    /// From when a new one is fetched instead (see [`margin`]).
    pub refresh_at: Instant,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("access", &"***")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl Token {
    /// A token valid for `lifetime` from `now`.
    pub fn new(access: String, now: Instant, lifetime: Duration) -> Token {
        Token {
            access,
            expires_at: now + lifetime,
            refresh_at: now + lifetime - margin(lifetime),
        }
    }

    /// Until when a session logged in with this token may be kept: Exchange Online ends an IMAP
    /// session whose token expired (`BYE … AccessTokenExpired`), so it is replaced before.
    pub fn use_until(&self) -> Instant {
        self.refresh_at
    }
}

/// How long before expiry a token is replaced: a tenth of its lifetime, at most five minutes,
/// at least one second — long enough for clocks that differ and a slow token endpoint, short
/// enough that an hour's token is used for 55 minutes.
pub fn margin(lifetime: Duration) -> Duration {
    (lifetime / 10)
        .min(Duration::from_secs(300))
        .max(Duration::from_secs(1).min(lifetime / 2))
}

/// Why no token could be had, in the words an admin needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The config's secret or key could not be read.
    #[error("OAuth2 client {client}: {message}")]
    Config {
        /// The `[oauth2.NAME]`.
        client: String,
        /// What is wrong.
        message: String,
    },
    /// The token endpoint could not be reached or answered nonsense.
    #[error("OAuth2 client {client}: token endpoint {url}: {message}")]
    Endpoint {
        /// The `[oauth2.NAME]`.
        client: String,
        /// The token endpoint.
        url: String,
        /// What happened.
        message: String,
    },
    /// The token endpoint refused (RFC 6749 §5.2), e.g. `invalid_client` for a wrong secret.
    #[error("OAuth2 client {client}: token endpoint {url} answered {error}{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Refused {
        /// The `[oauth2.NAME]`.
        client: String,
        /// The token endpoint.
        url: String,
        /// The RFC 6749 §5.2 error code, e.g. `invalid_client`, `unauthorized_client`.
        error: String,
        /// The server's explanation, first line only.
        description: Option<String>,
    },
}

type Slot = Arc<tokio::sync::Mutex<Option<Token>>>;
type Key = (String, String, String, String);

/// Which cached token serves `client` for `mailbox`. Client credentials give one token for the
/// application, good for every mailbox it was granted; a Google token is for one mailbox (the
/// assertion's subject).
fn key(client: &Client, mailbox: &str) -> Key {
    let subject = match client.provider {
        Provider::Google => mailbox.to_lowercase(),
        _ => String::new(),
    };
    (
        client.token_url.clone().unwrap_or_default(),
        client.client_id.clone(),
        client.scope.clone(),
        subject,
    )
}

/// The process's tokens, per client and subject. It outlives config reloads, so that a reload
/// does not fetch every token again.
#[derive(Default)]
pub struct Tokens {
    slots: Mutex<HashMap<Key, Slot>>,
}

/// The tokens of this process.
pub fn tokens() -> &'static Tokens {
    static TOKENS: OnceLock<Tokens> = OnceLock::new();
    TOKENS.get_or_init(Tokens::default)
}

impl Tokens {
    /// A token of `client` for `mailbox`: the cached one while it is fresh, else a new one.
    /// Concurrent callers for the same client and subject wait for one request.
    pub async fn get(&self, client: &Client, mailbox: &str) -> Result<Token, TokenError> {
        let key = key(client, mailbox);
        let subject = key.3.clone();
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots.entry(key).or_default().clone()
        };
        let mut cached = slot.lock().await;
        if let Some(t) = cached.as_ref() {
            if Instant::now() < t.refresh_at {
                return Ok(t.clone());
            }
        }
        let token = fetch(client, &subject).await?;
        tracing::debug!(client = %client.name, subject = %subject, expires_in = ?token.expires_at.saturating_duration_since(Instant::now()), "OAuth2 token fetched");
        *cached = Some(token.clone());
        Ok(token)
    }

    /// Whether the cached token of `client` for `mailbox` is fresh (not within its margin): a
    /// session that ended while it was not is taken to have ended because its token ran out.
    pub fn fresh(&self, client: &Client, mailbox: &str) -> bool {
        let slot = self
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key(client, mailbox))
            .cloned();
        slot.is_some_and(|slot| {
            slot.try_lock()
                .map(|t| t.as_ref().is_some_and(|t| Instant::now() < t.refresh_at))
                .unwrap_or(true)
        })
    }

    /// Forgets the token of `client` for `mailbox`, after a server refused it.
    pub fn forget(&self, client: &Client, mailbox: &str) {
        let slot = self
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key(client, mailbox))
            .cloned();
        if let Some(slot) = slot {
            if let Ok(mut t) = slot.try_lock() {
                *t = None;
            }
        }
    }
}

/// The SASL XOAUTH2 initial response (before base64), as Google and Microsoft define it:
/// `user=<mailbox>^Aauth=Bearer <token>^A^A`.
pub fn xoauth2(user: &str, token: &str) -> String {
    format!("user={user}\x01auth=Bearer {token}\x01\x01")
}

/// What a server's XOAUTH2 failure challenge (base64-decoded JSON such as
/// `{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}`) says, for the log:
/// the status and scope only — the challenge never holds the token, but it is not echoed whole.
pub fn describe_challenge(challenge: &[u8]) -> String {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(challenge) else {
        return "the server refused the token".into();
    };
    let field = |k: &str| match v.get(k) {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let mut out = format!(
        "the server refused the token (status {}",
        field("status").unwrap_or_else(|| "?".into())
    );
    if let Some(scope) = field("scope") {
        out.push_str(&format!(", scope {scope}"));
    }
    out.push(')');
    out
}

fn http() -> Result<&'static reqwest::Client, String> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c);
    }
    let c = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("kvittens/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())?;
    Ok(CLIENT.get_or_init(|| c))
}

/// Google's token endpoint, when the service account's key names none.
const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";

#[derive(serde::Serialize)]
struct Assertion<'a> {
    iss: &'a str,
    sub: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

/// Fetches a new token.
async fn fetch(client: &Client, subject: &str) -> Result<Token, TokenError> {
    let config = |message: String| TokenError::Config {
        client: client.name.clone(),
        message,
    };
    let (url, form) = match client.provider {
        Provider::Google => {
            let file = client
                .service_account_file
                .as_ref()
                .ok_or_else(|| config("no service_account_file".into()))?;
            let text = std::fs::read_to_string(file)
                .map_err(|e| config(format!("cannot read {}: {e}", file.display())))?;
            let key: ServiceAccount = serde_json::from_str(&text).map_err(|e| {
                config(format!(
                    "{} is not a service account key: {e}",
                    file.display()
                ))
            })?;
            let url = client
                .token_url
                .clone()
                .or(key.token_uri.clone())
                .unwrap_or_else(|| GOOGLE_TOKEN_URL.to_string());
            let assertion = assertion(&key, subject, &client.scope, &url)
                .map_err(|e| config(format!("{}: {e}", file.display())))?;
            let form = vec![
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:jwt-bearer".to_string(),
                ),
                ("assertion", assertion),
            ];
            (url, form)
        }
        Provider::Microsoft | Provider::Generic => {
            let url = client
                .token_url
                .clone()
                .ok_or_else(|| config("no token_url".into()))?;
            let secret = client
                .secret
                .as_ref()
                .ok_or_else(|| config("no client secret".into()))?
                .read()
                .map_err(|e| config(e.to_string()))?;
            let mut form = vec![
                ("grant_type", "client_credentials".to_string()),
                ("client_id", client.client_id.clone()),
                ("client_secret", secret),
            ];
            if !client.scope.is_empty() {
                form.push(("scope", client.scope.clone()));
            }
            (url, form)
        }
    };
    request(client, &url, &form).await
}

/// The RFC 7523 §3 assertion of a Google service account acting for `subject`.
fn assertion(
    key: &ServiceAccount,
    subject: &str,
    scope: &str,
    aud: &str,
) -> Result<String, String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = key.private_key_id.clone();
    let signer = jsonwebtoken::EncodingKey::from_rsa_pem(key.private_key.as_bytes())
        .map_err(|e| format!("the private_key is not an RSA key: {e}"))?;
    jsonwebtoken::encode(
        &header,
        &Assertion {
            iss: &key.client_email,
            sub: subject,
            scope,
            aud,
            iat: now,
            // Google accepts assertions of at most an hour.
            exp: now + 3600,
        },
        &signer,
    )
    .map_err(|e| e.to_string())
}

/// The token endpoint's answer (RFC 6749 §5.1 and §5.2).
#[derive(serde::Deserialize)]
struct Answer {
    access_token: Option<String>,
    expires_in: Option<serde_json::Value>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn request(client: &Client, url: &str, form: &[(&str, String)]) -> Result<Token, TokenError> {
    let endpoint = |message: String| TokenError::Endpoint {
        client: client.name.clone(),
        url: url.to_string(),
        message,
    };
    let started = Instant::now();
    let response = http()
        .map_err(endpoint)?
        .post(url)
        .form(form)
        .send()
        .await
        .map_err(|e| endpoint(plain_http_error(&e)))?;
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|e| endpoint(plain_http_error(&e)))?;
    let answer: Answer = serde_json::from_str(&body)
        .map_err(|_| endpoint(format!("HTTP {status}, and the answer is not OAuth2 JSON")))?;
    if let Some(error) = answer.error {
        return Err(TokenError::Refused {
            client: client.name.clone(),
            url: url.to_string(),
            error,
            description: answer
                .error_description
                .and_then(|d| d.lines().next().map(|l| l.trim().to_string())),
        });
    }
    let access = answer
        .access_token
        .filter(|_| status.is_success())
        .ok_or_else(|| endpoint(format!("HTTP {status} without an access_token")))?;
    // RFC 6749 §5.1 makes expires_in a number; some servers send it as a string.
    let seconds = match answer.expires_in {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .unwrap_or(3600)
    .max(1);
    Ok(Token::new(access, started, Duration::from_secs(seconds)))
}

/// A reqwest error in plain words: which of connection, TLS or time failed.
fn plain_http_error(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    if e.is_timeout() {
        format!("no answer within 30 s ({text})")
    } else if e.is_connect() {
        format!("cannot connect ({text})")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A token endpoint in this process: answers every request with `answer` (status, JSON)
    /// after `delay`, and counts the requests and remembers their bodies.
    struct Fake {
        url: String,
        hits: Arc<AtomicUsize>,
        bodies: Arc<Mutex<Vec<String>>>,
    }

    async fn fake(status: u16, json: &'static str, delay: Duration) -> Fake {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/token", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let (h, b) = (hits.clone(), bodies.clone());
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                let (h, b) = (h.clone(), b.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let n = s.read(&mut chunk).await.unwrap();
                        buf.extend_from_slice(&chunk[..n]);
                        let text = String::from_utf8_lossy(&buf).to_string();
                        if let Some(end) = text.find("\r\n\r\n") {
                            let len = text[..end]
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length:")
                                        .map(|v| v.trim().parse::<usize>().unwrap())
                                })
                                .unwrap_or(0);
                            if buf.len() >= end + 4 + len {
                                b.lock().unwrap().push(text[end + 4..].to_string());
                                break;
                            }
                        }
                        if n == 0 {
                            return;
                        }
                    }
                    h.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(delay).await;
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{json}",
                        json.len()
                    );
                    s.write_all(reply.as_bytes()).await.unwrap();
                });
            }
        });
        Fake { url, hits, bodies }
    }

    fn client(url: &str, id: &str) -> Client {
        Client {
            name: "entra".into(),
            provider: Provider::Microsoft,
            token_url: Some(url.to_string()),
            client_id: id.into(),
            secret: Some(SecretSource::Inline("s3cret".into())),
            scope: "https://outlook.office365.com/.default".into(),
            service_account_file: None,
        }
    }

    #[test]
    fn the_margin_scales_with_the_lifetime() {
        assert_eq!(margin(Duration::from_secs(3600)), Duration::from_secs(300));
        assert_eq!(margin(Duration::from_secs(600)), Duration::from_secs(60));
        assert_eq!(margin(Duration::from_secs(20)), Duration::from_secs(2));
        assert_eq!(margin(Duration::from_secs(5)), Duration::from_secs(1));
        assert_eq!(margin(Duration::from_secs(1)), Duration::from_millis(500));
        let now = Instant::now();
        let t = Token::new("qqq".into(), now, Duration::from_secs(3600));
        assert_eq!(t.use_until(), now + Duration::from_secs(3300));
        assert!(!format!("{t:?}").contains("qqq"));
    }

    #[tokio::test]
    async fn client_credentials_are_sent_and_the_token_is_cached() {
        let f = fake(
            200,
            r#"{"access_token":"tok-1","token_type":"Bearer","expires_in":3599}"#,
            Duration::ZERO,
        )
        .await;
        let tokens = Tokens::default();
        let c = client(&f.url, "cached");
        let t = tokens.get(&c, "bygg@kommun.se").await.unwrap();
        assert_eq!(t.access, "tok-1");
        let t2 = tokens.get(&c, "miljo@kommun.se").await.unwrap();
        assert_eq!(t2.access, "tok-1");
        assert_eq!(f.hits.load(Ordering::SeqCst), 1, "one token for the app");
        let body = f.bodies.lock().unwrap()[0].clone();
        for part in [
            "grant_type=client_credentials",
            "client_id=cached",
            "client_secret=s3cret",
            "scope=https%3A%2F%2Foutlook.office365.com%2F.default",
        ] {
            assert!(body.contains(part), "{body}");
        }
    }

    #[tokio::test]
    async fn a_token_is_fetched_again_within_its_margin() {
        // expires_in 2 s: the margin is 1 s, so after a second the next call fetches again.
        let f = fake(
            200,
            r#"{"access_token":"short","expires_in":"2"}"#,
            Duration::ZERO,
        )
        .await;
        let tokens = Tokens::default();
        let c = client(&f.url, "short");
        tokens.get(&c, "a@kommun.se").await.unwrap();
        tokens.get(&c, "a@kommun.se").await.unwrap();
        assert_eq!(f.hits.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        tokens.get(&c, "a@kommun.se").await.unwrap();
        assert_eq!(f.hits.load(Ordering::SeqCst), 2);
        assert!(tokens.fresh(&c, "a@kommun.se"));
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert!(!tokens.fresh(&c, "a@kommun.se"), "within its margin");
        tokens.get(&c, "a@kommun.se").await.unwrap();
        tokens.forget(&c, "a@kommun.se");
        tokens.get(&c, "a@kommun.se").await.unwrap();
        assert_eq!(
            f.hits.load(Ordering::SeqCst),
            4,
            "a refused token is not reused"
        );
    }

    #[tokio::test]
    async fn concurrent_mailboxes_share_one_request() {
        let f = fake(
            200,
            r#"{"access_token":"shared","expires_in":3600}"#,
            Duration::from_millis(300),
        )
        .await;
        let tokens = Arc::new(Tokens::default());
        let c = client(&f.url, "flight");
        let mut tasks = Vec::new();
        for i in 0..8 {
            let (tokens, c) = (tokens.clone(), c.clone());
            tasks.push(tokio::spawn(async move {
                tokens.get(&c, &format!("d{i}@kommun.se")).await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap().access, "shared");
        }
        assert_eq!(f.hits.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_refusal_names_the_error_code_and_not_the_secret() {
        let f = fake(
            401,
            r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1"}"#,
            Duration::ZERO,
        )
        .await;
        let e = Tokens::default()
            .get(&client(&f.url, "bad"), "a@kommun.se")
            .await
            .unwrap_err();
        let text = e.to_string();
        assert!(text.contains("answered invalid_client"), "{text}");
        assert!(text.contains(&f.url), "{text}");
        assert!(text.contains("AADSTS7000215"), "{text}");
        assert!(!text.contains("Trace ID"), "{text}");
        assert!(!text.contains("s3cret"), "{text}");
    }

    #[tokio::test]
    async fn an_endpoint_that_is_down_or_not_oauth2_says_so() {
        let e = Tokens::default()
            .get(&client("http://127.0.0.1:9/token", "down"), "a@kommun.se")
            .await
            .unwrap_err();
        assert!(e.to_string().contains("cannot connect"), "{e}");
        let f = fake(200, "<html>login</html>", Duration::ZERO).await;
        let e = Tokens::default()
            .get(&client(&f.url, "html"), "a@kommun.se")
            .await
            .unwrap_err();
        assert!(e.to_string().contains("not OAuth2 JSON"), "{e}");
        let mut c = client(&f.url, "env");
        c.secret = Some(SecretSource::Env("KVITTENS_TEST_NO_SUCH_SECRET".into()));
        let e = Tokens::default().get(&c, "a@kommun.se").await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "OAuth2 client entra: the environment variable KVITTENS_TEST_NO_SUCH_SECRET is not set"
        );
    }

    #[tokio::test]
    async fn google_asserts_the_mailbox_as_subject() {
        let f = fake(
            200,
            r#"{"access_token":"g","expires_in":3600}"#,
            Duration::ZERO,
        )
        .await;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("sa.json");
        let pem = include_str!("../../tests/data/oauth2-test-rsa.pem");
        std::fs::write(
            &key,
            serde_json::json!({"type":"service_account","client_email":"kvittens@proj.iam.gserviceaccount.com","private_key":pem,"private_key_id":"k1","token_uri":f.url}).to_string(),
        )
        .unwrap();
        let c = Client {
            name: "google".into(),
            provider: Provider::Google,
            token_url: None,
            client_id: "1234".into(),
            secret: None,
            scope: "https://mail.google.com/".into(),
            service_account_file: Some(key),
        };
        let tokens = Tokens::default();
        tokens.get(&c, "Bygg@kommun.se").await.unwrap();
        tokens.get(&c, "miljo@kommun.se").await.unwrap();
        assert_eq!(f.hits.load(Ordering::SeqCst), 2, "one token per mailbox");
        let body = f.bodies.lock().unwrap()[0].clone();
        assert!(
            body.contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"),
            "{body}"
        );
        let jwt = body.split("assertion=").nth(1).unwrap();
        let payload = jwt.split('.').nth(1).unwrap();
        use base64::Engine;
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["sub"], "bygg@kommun.se");
        assert_eq!(v["iss"], "kvittens@proj.iam.gserviceaccount.com");
        assert_eq!(v["aud"], f.url.as_str());
        assert_eq!(v["scope"], "https://mail.google.com/");
    }

    #[test]
    fn the_sasl_string_and_the_failure_challenge() {
        assert_eq!(
            xoauth2("bygg@kommun.se", "abc"),
            "user=bygg@kommun.se\x01auth=Bearer abc\x01\x01"
        );
        assert_eq!(
            describe_challenge(
                br#"{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}"#
            ),
            "the server refused the token (status 401, scope https://mail.google.com/)"
        );
        assert_eq!(
            describe_challenge(br#"{"status":"invalid_token"}"#),
            "the server refused the token (status invalid_token)"
        );
        assert_eq!(
            describe_challenge(b"garbage"),
            "the server refused the token"
        );
    }
}
