//! Real ID tokens from a real Dex (sandbox/dex), verified by the real verifier and key cache.
//!
//! Needs Dex running beside a sandbox:
//!
//! ```sh
//! scripts/dex.sh up .sandbox            # the sandbox must be up: Dex's certificate comes from its CA
//! JITGATE_DEX_DIR=.sandbox/dex cargo test -p jitgate-oidc --test dex -- --ignored
//! ```
//!
//! `JITGATE_DEX_DIR` defaults to `.sandbox/dex` in the workspace.

// A test harness: a panic with a message is how a helper fails the test.
#![allow(clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use jitgate_oidc::jwk::PublicKey;
use jitgate_oidc::{
    Authenticator, JwksCache, JwksCacheConfig, OidcError, Verifier, VerifierConfig,
};
use serde_json::{Value, json};

/// What scripts/dex.sh wrote into DIR/dex.
struct Dex {
    issuer: String,
    ca_pem: Vec<u8>,
    client_id: String,
    client_secret: String,
    users: Vec<Value>,
}

impl Dex {
    fn load() -> Self {
        let dir = std::env::var_os("JITGATE_DEX_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.sandbox/dex")
            });
        let read = |name: &str| {
            std::fs::read(dir.join(name)).unwrap_or_else(|e| {
                panic!(
                    "{}/{name}: {e}; start Dex first (scripts/dex.sh up .sandbox) or point JITGATE_DEX_DIR at its directory",
                    dir.display()
                )
            })
        };
        let issuer = String::from_utf8(read("issuer"))
            .expect("issuer is UTF-8")
            .trim()
            .to_owned();
        let client: Value = serde_json::from_slice(&read("client.json")).expect("client.json");
        let users: Value = serde_json::from_slice(&read("users.json")).expect("users.json");
        Self {
            issuer,
            ca_pem: read("ca.crt"),
            client_id: client["clientID"].as_str().expect("clientID").to_owned(),
            client_secret: client["clientSecret"]
                .as_str()
                .expect("clientSecret")
                .to_owned(),
            users: users.as_array().expect("users array").clone(),
        }
    }

    fn user(&self, name: &str) -> &Value {
        self.users
            .iter()
            .find(|u| u["username"] == name)
            .unwrap_or_else(|| panic!("no user {name}"))
    }

    fn verifier_config(&self) -> VerifierConfig {
        VerifierConfig::new(self.issuer.clone(), self.client_id.clone())
    }

    fn authenticator(&self) -> Authenticator {
        let mut keys = JwksCacheConfig::new(self.issuer.clone());
        keys.ca_bundle_pem = Some(self.ca_pem.clone());
        let verifier = Verifier::new(self.verifier_config()).expect("verifier");
        Authenticator::new(verifier, JwksCache::new(keys).expect("key cache"))
            .expect("authenticator")
    }

    /// POSTs a form to `path` under the issuer with the client's basic credentials.
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let roots = {
            let mut roots = rustls::RootCertStore::empty();
            for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(&self.ca_pem) {
                roots.add(cert.expect("CA PEM")).expect("CA certificate");
            }
            roots
        };
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .build();
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(https);
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.client_id, self.client_secret));
        let request = http::Request::post(format!("{}{path}", self.issuer))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", format!("Basic {basic}"))
            .body(Full::new(Bytes::from(body)))
            .expect("request");
        let response = tokio::time::timeout(Duration::from_secs(10), client.request(request))
            .await
            .expect("Dex answers within 10 s")
            .expect("request to Dex");
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("response body")
            .to_bytes();
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// An ID token for `user` through the password grant.
    async fn id_token(&self, user: &Value) -> String {
        let (status, body) = self
            .post(
                "/token",
                &[
                    ("grant_type", "password"),
                    ("username", user["email"].as_str().expect("email")),
                    ("password", user["password"].as_str().expect("password")),
                    ("scope", "openid email profile groups"),
                ],
            )
            .await;
        assert_eq!(status, 200, "password grant for {}: {body}", user["email"]);
        body["id_token"]
            .as_str()
            .expect("an id_token in the answer")
            .to_owned()
    }
}

/// Percent-encodes a form value (RFC 3986 unreserved characters pass).
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

fn b64_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

fn decode_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("three parts");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}

#[tokio::test]
#[ignore = "needs dex: run make test"]
async fn every_user_gets_a_verified_id_token_with_their_groups() {
    let dex = Dex::load();
    let auth = dex.authenticator();
    for user in &dex.users {
        let token = dex.id_token(user).await;
        let claims = auth
            .authenticate(&token)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", user["email"]));
        assert_eq!(claims.username, user["email"].as_str().expect("email"));
        let groups: Vec<&str> = user["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(claims.groups, groups, "{}", user["email"]);
        assert_eq!(claims.issuer, dex.issuer);
        assert!(
            claims.expires_at > unix_now(),
            "Dex issues tokens valid for a while"
        );
    }
    // One discovery and one key fetch served every user.
    assert_eq!(auth.keys().fetch_count(), 1);
}

#[tokio::test]
#[ignore = "needs dex: run make test"]
async fn alice_is_on_call_for_payments() {
    let dex = Dex::load();
    let token = dex.id_token(dex.user("alice")).await;
    let claims = dex
        .authenticator()
        .authenticate(&token)
        .await
        .expect("alice's token");
    assert_eq!(claims.username, "alice@example.com");
    assert_eq!(claims.groups, ["oncall-payments", "sre"]);
}

#[tokio::test]
#[ignore = "needs dex: run make test"]
async fn forged_variants_of_a_dex_token_are_refused() {
    let dex = Dex::load();
    let token = dex.id_token(dex.user("alice")).await;
    let mut keys = JwksCacheConfig::new(dex.issuer.clone());
    keys.ca_bundle_pem = Some(dex.ca_pem.clone());
    let jwks = JwksCache::new(keys)
        .expect("cache")
        .keys()
        .await
        .expect("Dex's keys");
    let verifier = Verifier::new(dex.verifier_config()).expect("verifier");
    let now = unix_now();
    verifier
        .verify(&token, &jwks, now)
        .expect("the genuine token");

    let header = decode_part(&token, 0);
    let claims = decode_part(&token, 1);
    let parts: Vec<&str> = token.split('.').collect();
    let kid = header["kid"].as_str().expect("Dex names its key");

    // alg none, with and without the genuine signature.
    let none = b64_json(&json!({"alg": "none", "kid": kid}));
    for token in [
        format!("{none}.{}.", parts[1]),
        format!("{none}.{}.{}", parts[1], parts[2]),
    ] {
        assert!(matches!(
            verifier.verify(&token, &jwks, now),
            Err(OidcError::Unsigned)
        ));
    }

    // HS256 "signed" with Dex's public RSA key material.
    let key = jwks
        .keys()
        .iter()
        .find(|k| k.kid() == Some(kid))
        .expect("the signing key is published");
    let PublicKey::Rsa { n, .. } = key.key() else {
        panic!("Dex signs with RSA")
    };
    let hs_header = b64_json(&json!({"alg": "HS256", "kid": kid}));
    let input = format!("{hs_header}.{}", parts[1]);
    let tag = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, n),
        input.as_bytes(),
    );
    let hs = format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
    assert!(matches!(
        verifier.verify(&hs, &jwks, now),
        Err(OidcError::SymmetricAlgorithm { .. })
    ));

    // More groups than Dex said.
    let mut escalated = claims.clone();
    escalated["groups"] = json!(["oncall-payments", "sre", "platform-admins"]);
    let tampered = format!("{}.{}.{}", parts[0], b64_json(&escalated), parts[2]);
    assert!(matches!(
        verifier.verify(&tampered, &jwks, now),
        Err(OidcError::BadSignature)
    ));

    // Another kid.
    let other_kid = format!(
        "{}.{}.{}",
        b64_json(&json!({"alg": "RS256", "kid": "not-dex"})),
        parts[1],
        parts[2]
    );
    assert!(matches!(
        verifier.verify(&other_kid, &jwks, now),
        Err(OidcError::UnknownKey { .. })
    ));

    // Meant for another client, or trusted from another issuer.
    let mut other_client = dex.verifier_config();
    other_client.client_id = "grafana".into();
    let other_client = Verifier::new(other_client).expect("verifier");
    assert!(matches!(
        other_client.verify(&token, &jwks, now),
        Err(OidcError::WrongAudience { .. })
    ));
    let mut other_issuer = dex.verifier_config();
    other_issuer.issuer = format!("{}/", dex.issuer);
    let other_issuer = Verifier::new(other_issuer).expect("verifier");
    assert!(matches!(
        other_issuer.verify(&token, &jwks, now),
        Err(OidcError::WrongIssuer { .. })
    ));

    // Too late, too early.
    let exp = claims["exp"].as_i64().expect("exp");
    let iat = claims["iat"].as_i64().expect("iat");
    assert!(matches!(
        verifier.verify(&token, &jwks, exp + 61),
        Err(OidcError::Expired { .. })
    ));
    assert!(matches!(
        verifier.verify(&token, &jwks, iat - 120),
        Err(OidcError::IssuedInFuture { .. })
    ));

    // Padded past the size limit.
    let oversized = format!("{token}{}", "A".repeat(16 * 1024));
    assert!(matches!(
        verifier.verify(&oversized, &jwks, now),
        Err(OidcError::TokenTooLarge { .. })
    ));
}

#[tokio::test]
#[ignore = "needs dex: run make test"]
async fn dex_refuses_a_wrong_password_and_offers_the_device_flow() {
    let dex = Dex::load();
    let (status, body) = dex
        .post(
            "/token",
            &[
                ("grant_type", "password"),
                ("username", "alice@example.com"),
                ("password", "not-her-password"),
                ("scope", "openid email groups"),
            ],
        )
        .await;
    assert_ne!(status, 200, "{body}");
    assert!(body.get("id_token").is_none(), "{body}");

    let (status, body) = dex
        .post(
            "/device/code",
            &[
                ("client_id", &dex.client_id),
                ("scope", "openid email groups"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["device_code"].is_string() && body["user_code"].is_string(),
        "{body}"
    );
    assert!(
        body["verification_uri"]
            .as_str()
            .is_some_and(|u| u.starts_with(&dex.issuer)),
        "{body}"
    );
}
