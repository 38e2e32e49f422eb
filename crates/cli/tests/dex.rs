//! `kubectl jit login`'s OIDC flows against a real Dex (sandbox/dex), with this test acting as
//! the person's browser: it follows Dex's redirects, fills in Dex's own login and device-code
//! forms, and delivers the redirect to the CLI's loopback listener. No part of the flow is
//! mocked.
//!
//! Needs Dex running (its certificate comes from DIR/pki/ca.crt and ca.key, PKCS#8):
//!
//! ```sh
//! scripts/dex.sh up DIR
//! JITGATE_DEX_DIR=DIR/dex cargo test -p jitgate-cli --test dex -- --ignored
//! scripts/dex.sh down DIR
//! ```
//!
//! `JITGATE_DEX_DIR` defaults to `.sandbox/dex` in the workspace.

// A test harness: a panic with a message is how a helper fails the test.
#![allow(clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jitgate_api::OidcSettings;
use jitgate_cli::CliError;
use jitgate_cli::login::OidcLogin;
use serde_json::Value;
use url::Url;

/// What scripts/dex.sh wrote into DIR/dex.
struct Dex {
    issuer: String,
    ca_pem: String,
    client_id: String,
    client_secret: String,
}

impl Dex {
    fn load() -> Self {
        let dir = std::env::var_os("JITGATE_DEX_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.sandbox/dex")
            });
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| {
                panic!(
                    "{}/{name}: {e}; start Dex first (scripts/dex.sh up DIR) and point JITGATE_DEX_DIR at DIR/dex",
                    dir.display()
                )
            })
        };
        let client: Value = serde_json::from_str(&read("client.json")).expect("client.json");
        Self {
            issuer: read("issuer").trim().to_owned(),
            ca_pem: read("ca.crt"),
            client_id: client["clientID"].as_str().expect("clientID").to_owned(),
            client_secret: client["clientSecret"]
                .as_str()
                .expect("clientSecret")
                .to_owned(),
        }
    }

    /// What the gateway's `GET /jitgate/v1/config` would say about this Dex.
    fn settings(&self) -> OidcSettings {
        OidcSettings {
            issuer: self.issuer.clone(),
            client_id: self.client_id.clone(),
            client_secret: Some(self.client_secret.clone()),
            scopes: vec![
                "openid".into(),
                "email".into(),
                "profile".into(),
                "groups".into(),
            ],
            ca_certificate: Some(self.ca_pem.clone()),
        }
    }
}

/// A browser without JavaScript: GET, form POST, redirects, Dex's CA trusted, plain HTTP
/// allowed (for the loopback callback).
struct Browser {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// One answer: status, `Location`, body.
struct Page {
    status: u16,
    location: Option<String>,
    body: String,
}

impl Browser {
    fn new(ca_pem: &str) -> Self {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(cert.expect("CA PEM")).expect("CA certificate");
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        Self {
            client: Client::builder(TokioExecutor::new()).build(https),
        }
    }

    async fn send(&self, method: &str, url: &Url, form: Option<String>) -> Page {
        let mut req = http::Request::builder()
            .method(method)
            .uri(url.as_str())
            .header("accept", "text/html");
        let body = match form {
            Some(form) => {
                req = req.header("content-type", "application/x-www-form-urlencoded");
                Full::new(Bytes::from(form))
            }
            None => Full::new(Bytes::new()),
        };
        let resp = tokio::time::timeout(
            Duration::from_secs(20),
            self.client.request(req.body(body).expect("request")),
        )
        .await
        .unwrap_or_else(|_| panic!("{method} {url}: no answer in 20s"))
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        Page {
            status,
            location,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    /// Browses from `start` the way a person would: follows redirects, logs in as
    /// `login`/`password` on Dex's password form, submits `user_code` on Dex's device page.
    /// Stops before fetching a URL that starts with `stop_at` and returns it; or returns the
    /// final page's URL and body when there is nothing more to do.
    async fn log_in(
        &self,
        start: &str,
        login: &str,
        password: &str,
        stop_at: Option<&str>,
    ) -> (Url, Page) {
        let mut url = Url::parse(start).expect("start URL");
        let mut form: Option<String> = None;
        for _ in 0..20 {
            if let Some(stop) = stop_at
                && url.as_str().starts_with(stop)
            {
                return (
                    url,
                    Page {
                        status: 0,
                        location: None,
                        body: String::new(),
                    },
                );
            }
            let page = match form.take() {
                Some(f) => self.send("POST", &url, Some(f)).await,
                None => self.send("GET", &url, None).await,
            };
            if (300..400).contains(&page.status) {
                let location = page.location.as_deref().expect("redirect without Location");
                url = url.join(location).expect("Location URL");
                continue;
            }
            assert_eq!(
                page.status, 200,
                "{url} answered {}: {}",
                page.status, page.body
            );
            let Some((action, inputs)) = first_form(&page.body) else {
                return (url, page);
            };
            let mut fields: Vec<(String, String)> = inputs;
            let names: Vec<String> = fields.iter().map(|(n, _)| n.clone()).collect();
            if names.iter().any(|n| n == "password") {
                assert!(
                    !page.body.contains("Invalid "),
                    "Dex refused the password: {}",
                    page.body
                );
                for (name, value) in &mut fields {
                    match name.as_str() {
                        "login" => *value = login.to_owned(),
                        "password" => *value = password.to_owned(),
                        _ => {}
                    }
                }
            } else if names.iter().any(|n| n == "user_code") {
                assert!(
                    fields
                        .iter()
                        .any(|(n, v)| n == "user_code" && !v.is_empty()),
                    "the device page has no user code filled in: {}",
                    page.body
                );
            } else {
                return (url, page);
            }
            form = Some(
                url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(fields.iter().map(|(n, v)| (n.as_str(), v.as_str())))
                    .finish(),
            );
            url = url.join(&action).expect("form action");
        }
        panic!("more than 20 steps browsing from {start}; stuck at {url}");
    }
}

/// The first `<form>`'s action and its `<input>` names and values (HTML entities decoded).
fn first_form(html: &str) -> Option<(String, Vec<(String, String)>)> {
    let start = html.find("<form")?;
    let end = html[start..]
        .find("</form>")
        .map_or(html.len(), |e| start + e);
    let form = &html[start..end];
    let tag_end = form.find('>')?;
    let action = attribute(&form[..tag_end], "action").unwrap_or_default();
    let mut inputs = Vec::new();
    let mut rest = &form[tag_end..];
    while let Some(i) = rest.find("<input") {
        let tag = &rest[i..];
        let close = tag.find('>').unwrap_or(tag.len());
        let tag = &tag[..close];
        if let Some(name) = attribute(tag, "name") {
            // Dex's device page renders two user_code inputs (with and without a value); keep one.
            let value = attribute(tag, "value").unwrap_or_default();
            match inputs
                .iter_mut()
                .find(|(n, _): &&mut (String, String)| *n == name)
            {
                Some((_, v)) if v.is_empty() => *v = value,
                Some(_) => {}
                None => inputs.push((name, value)),
            }
        }
        rest = &rest[i + close..];
    }
    Some((action, inputs))
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let len = tag[start..].find('"')?;
    Some(
        tag[start..start + len]
            .replace("&amp;", "&")
            .replace("&#34;", "\"")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Dex"]
async fn auth_code_with_pkce_logs_alice_in_with_her_groups_and_a_checked_nonce() {
    let dex = Dex::load();
    let login = OidcLogin::discover(dex.settings())
        .await
        .expect("discovery");
    let pending = login.start_auth_code().await.expect("start");
    let url = pending.authorization_url().to_owned();
    let redirect_uri = pending.redirect_uri().to_owned();
    let nonce = pending.nonce().to_owned();
    assert!(redirect_uri.starts_with("http://127.0.0.1:") && redirect_uri.ends_with("/callback"));
    let parsed = Url::parse(&url).expect("authorization URL");
    let query: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
    let param = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(param("code_challenge").map(|c| c.len()), Some(43));
    assert_eq!(param("nonce").as_deref(), Some(nonce.as_str()));
    assert_eq!(
        param("redirect_uri").as_deref(),
        Some(redirect_uri.as_str())
    );
    assert!(param("state").is_some_and(|s| s.len() >= 43));

    let browser = Browser::new(&dex.ca_pem);
    let person = async {
        let (callback, _) = browser
            .log_in(
                &url,
                "alice@example.com",
                "alice-password",
                Some(&redirect_uri),
            )
            .await;
        // The browser delivers the code to kubectl jit's loopback listener.
        browser.send("GET", &callback, None).await
    };
    let (page, token) = tokio::join!(
        person,
        login.finish_auth_code(pending, Duration::from_secs(60))
    );
    let token = token.expect("login");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("You can close this tab"),
        "{}",
        page.body
    );
    assert_eq!(token.claims.username, "alice@example.com");
    assert_eq!(token.claims.issuer, dex.issuer);
    assert!(
        token.claims.groups.contains(&"oncall-payments".to_owned()),
        "{:?}",
        token.claims.groups
    );
    assert!(
        token.claims.groups.contains(&"sre".to_owned()),
        "{:?}",
        token.claims.groups
    );
    assert_eq!(token.nonce.as_deref(), Some(nonce.as_str()));
    assert!(
        !format!("{token:?}").contains(token.raw()),
        "the token must not reach Debug output"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Dex"]
async fn a_callback_with_a_forged_state_is_refused_and_not_exchanged() {
    let dex = Dex::load();
    let login = OidcLogin::discover(dex.settings())
        .await
        .expect("discovery");
    let pending = login.start_auth_code().await.expect("start");
    let url = pending.authorization_url().to_owned();
    let redirect_uri = pending.redirect_uri().to_owned();
    let browser = Browser::new(&dex.ca_pem);
    let person = async {
        let (callback, _) = browser
            .log_in(&url, "bob@example.com", "bob-password", Some(&redirect_uri))
            .await;
        let mut forged = callback.clone();
        let pairs: Vec<(String, String)> = callback
            .query_pairs()
            .into_owned()
            .map(|(k, v)| {
                if k == "state" {
                    (k, "forged-state".to_owned())
                } else {
                    (k, v)
                }
            })
            .collect();
        forged.query_pairs_mut().clear().extend_pairs(pairs);
        browser.send("GET", &forged, None).await
    };
    let (page, result) = tokio::join!(
        person,
        login.finish_auth_code(pending, Duration::from_secs(60))
    );
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(matches!(result, Err(CliError::StateMismatch)), "{result:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Dex"]
async fn a_wrong_password_never_reaches_the_callback() {
    let dex = Dex::load();
    let login = OidcLogin::discover(dex.settings())
        .await
        .expect("discovery");
    let pending = login.start_auth_code().await.expect("start");
    let url = Url::parse(pending.authorization_url()).expect("URL");
    let browser = Browser::new(&dex.ca_pem);
    // Follow to the password form and post a wrong password by hand.
    let mut page = browser.send("GET", &url, None).await;
    let mut at = url.clone();
    while let Some(location) = page.location.clone() {
        at = at.join(&location).expect("Location");
        page = browser.send("GET", &at, None).await;
    }
    let (action, _) = first_form(&page.body).expect("Dex's login form");
    let form = "login=alice%40example.com&password=not-her-password".to_owned();
    let answer = browser
        .send("POST", &at.join(&action).expect("action"), Some(form))
        .await;
    assert_eq!(answer.status, 401, "Dex refuses and renders the form again");
    assert!(answer.body.contains("Invalid"), "{}", answer.body);
    let result = login
        .finish_auth_code(pending, Duration::from_secs(2))
        .await;
    assert!(
        matches!(result, Err(CliError::LoginTimeout { .. })),
        "{result:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Dex"]
async fn device_code_logs_carol_in_after_she_enters_the_code() {
    let dex = Dex::load();
    let login = OidcLogin::discover(dex.settings())
        .await
        .expect("discovery");
    let pending = login.start_device().await.expect("device code");
    assert!(!pending.user_code.is_empty());
    assert!(
        pending.verification_uri.starts_with(&dex.issuer),
        "{}",
        pending.verification_uri
    );
    let page_url = pending
        .verification_uri_complete
        .clone()
        .unwrap_or_else(|| pending.verification_uri.clone());
    let browser = Browser::new(&dex.ca_pem);
    let person = async {
        // Give the CLI a moment to start polling, as a person would.
        tokio::time::sleep(Duration::from_secs(1)).await;
        browser
            .log_in(&page_url, "carol@example.com", "carol-password", None)
            .await
    };
    let ((last_url, page), token) = tokio::join!(person, login.finish_device(pending));
    assert!(
        last_url.path().ends_with("/device/callback"),
        "ended at {last_url}"
    );
    assert_eq!(page.status, 200, "{}", page.body);
    let token = token.expect("device login");
    assert_eq!(token.claims.username, "carol@example.com");
    assert_eq!(
        token.claims.groups,
        vec!["payments-dev".to_owned(), "payments-leads".to_owned()]
    );
    assert_eq!(token.nonce, None, "the device flow carries no nonce");
}
