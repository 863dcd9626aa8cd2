//! A small OAuth2 token endpoint for the OAuth2 tests, on a free loopback port in its own
//! thread (the tests wait with blocking sleeps). It issues JWTs that the mail stack's Dovecot
//! validates locally (HS256 with `KVITTENS_OAUTH2_KEY`; the `email` claim is the user), with a
//! short, configurable lifetime. Client credentials (RFC 6749 §4.4): each client is bound to
//! one mailbox, and a wrong secret is answered `invalid_client`. JWT bearer (RFC 7523): the
//! assertion, signed with tests/data/oauth2-test-rsa.pem, names the mailbox as its subject.

use base64::Engine;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct TokenEndpoint {
    pub url: String,
    /// Tokens issued, per user.
    pub issued: Arc<std::sync::Mutex<HashMap<String, usize>>>,
    pub refused: Arc<AtomicUsize>,
}

/// The stack's signing key.
pub fn key() -> Vec<u8> {
    let b64 = std::env::var("KVITTENS_OAUTH2_KEY")
        .expect("KVITTENS_OAUTH2_KEY is not set: run the OAuth2 tests with scripts/test");
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .unwrap()
}

/// A token for `user` valid from `iat` for `lifetime_secs` (negative for one already expired).
pub fn sign(user: &str, lifetime_secs: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({
        "sub": user, "email": user, "iat": now - 5, "nbf": now - 5,
        "exp": now + lifetime_secs,
    });
    let claims = if lifetime_secs < 0 {
        serde_json::json!({"sub": user, "email": user, "iat": now - 600, "nbf": now - 600, "exp": now + lifetime_secs})
    } else {
        claims
    };
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&key()),
    )
    .unwrap()
}

fn form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            let v = v.replace('+', " ");
            let mut out = Vec::new();
            let b = v.as_bytes();
            let mut i = 0;
            while i < b.len() {
                if b[i] == b'%' && i + 2 < b.len() {
                    out.push(u8::from_str_radix(&v[i + 1..i + 3], 16).unwrap());
                    i += 3;
                } else {
                    out.push(b[i]);
                    i += 1;
                }
            }
            (k.to_string(), String::from_utf8(out).unwrap())
        })
        .collect()
}

impl TokenEndpoint {
    /// Starts the endpoint. `clients`: (client_id, secret, the mailbox its tokens are for).
    pub fn start(clients: &[(&str, &str, &str)], lifetime: Duration) -> TokenEndpoint {
        let clients: HashMap<String, (String, String)> = clients
            .iter()
            .map(|(id, s, u)| (id.to_string(), (s.to_string(), u.to_string())))
            .collect();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}/token", listener.local_addr().unwrap());
        let issued = Arc::new(std::sync::Mutex::new(HashMap::new()));
        let refused = Arc::new(AtomicUsize::new(0));
        let (i2, r2) = (issued.clone(), refused.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let (mut s, _) = listener.accept().await.unwrap();
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 8192];
                    let body = loop {
                        let n = s.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            break None;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        let text = String::from_utf8_lossy(&buf).to_string();
                        if let Some(end) = text.find("\r\n\r\n") {
                            let len = text[..end]
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length:")
                                        .and_then(|v| v.trim().parse::<usize>().ok())
                                })
                                .unwrap_or(0);
                            if buf.len() >= end + 4 + len {
                                break Some(text[end + 4..].to_string());
                            }
                        }
                    };
                    let Some(body) = body else { continue };
                    let f = form(&body);
                    let user = match f.get("grant_type").map(String::as_str) {
                        Some("client_credentials") => match clients.get(f.get("client_id").map(String::as_str).unwrap_or("")) {
                            Some((secret, user)) if Some(secret) == f.get("client_secret") => Some(user.clone()),
                            _ => None,
                        },
                        Some("urn:ietf:params:oauth:grant-type:jwt-bearer") => {
                            let pem = include_bytes!("../data/oauth2-test-rsa.pub.pem");
                            let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
                            v.validate_aud = false;
                            jsonwebtoken::decode::<serde_json::Value>(
                                f.get("assertion").map(String::as_str).unwrap_or(""),
                                &jsonwebtoken::DecodingKey::from_rsa_pem(pem).unwrap(),
                                &v,
                            )
                            .ok()
                            .and_then(|d| d.claims["sub"].as_str().map(str::to_string))
                        }
                        _ => None,
                    };
                    let (status, json) = match user {
                        Some(user) => {
                            *i2.lock().unwrap().entry(user.clone()).or_default() += 1;
                            let token = sign(&user, lifetime.as_secs() as i64);
                            ("200 OK", serde_json::json!({"access_token": token, "token_type": "Bearer", "expires_in": lifetime.as_secs()}).to_string())
                        }
                        None => {
                            r2.fetch_add(1, Ordering::SeqCst);
                            ("401 Unauthorized", r#"{"error":"invalid_client","error_description":"Invalid client secret provided."}"#.to_string())
                        }
                    };
                    let reply = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{json}",
                        json.len()
                    );
                    let _ = s.write_all(reply.as_bytes()).await;
                }
            });
        });
        TokenEndpoint {
            url,
            issued,
            refused,
        }
    }

    pub fn issued_for(&self, user: &str) -> usize {
        self.issued.lock().unwrap().get(user).copied().unwrap_or(0)
    }
}
