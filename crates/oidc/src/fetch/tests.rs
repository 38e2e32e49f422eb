//! The cache against a real HTTPS server on loopback that plays the issuer: discovery and JWKS,
//! with keys that can be rotated and answers that can be broken.

use std::sync::Mutex;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use super::*;
use crate::testing::{FakeIssuer, jwks_json};
use crate::{Jwks, VerifierConfig};

/// What the fake issuer answers.
struct Behaviour {
    jwks: String,
    /// The issuer the discovery document names; the real one when `None`.
    discovery_issuer: Option<String>,
    status: u16,
    jwks_hits: usize,
}

struct TestIssuer {
    issuer: String,
    ca_pem: String,
    behaviour: Arc<Mutex<Behaviour>>,
}

fn make_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key"))
        .expect("CA certificate")
}

impl TestIssuer {
    async fn start(jwks: &Jwks) -> Self {
        let ca = make_ca("issuer test CA");
        let leaf_key = KeyPair::generate().expect("leaf key");
        let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .expect("leaf params")
            .signed_by(&leaf_key, &ca)
            .expect("leaf certificate");
        let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der())
                .expect("leaf key DER"),
        )
        .expect("server TLS config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let issuer = format!("https://{}/dex", listener.local_addr().expect("address"));
        let behaviour = Arc::new(Mutex::new(Behaviour {
            jwks: jwks_json(jwks),
            discovery_issuer: None,
            status: 200,
            jwks_hits: 0,
        }));
        let (state, base) = (Arc::clone(&behaviour), issuer.clone());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, state, base) = (acceptor.clone(), Arc::clone(&state), base.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 8192 {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&request);
                    let path = text.split(' ').nth(1).unwrap_or("/").to_owned();
                    let (status, body) = {
                        let mut b = state.lock().expect("behaviour lock");
                        let body = if path == "/dex/.well-known/openid-configuration" {
                            let named = b.discovery_issuer.clone().unwrap_or_else(|| base.clone());
                            json!({"issuer": named, "jwks_uri": format!("{base}/keys")}).to_string()
                        } else if path == "/dex/keys" {
                            b.jwks_hits += 1;
                            b.jwks.clone()
                        } else {
                            "not found".to_owned()
                        };
                        (b.status, body)
                    };
                    let response = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(response.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        Self {
            issuer,
            ca_pem: ca.pem(),
            behaviour,
        }
    }

    fn config(&self) -> JwksCacheConfig {
        let mut config = JwksCacheConfig::new(self.issuer.clone());
        config.ca_bundle_pem = Some(self.ca_pem.clone().into_bytes());
        config.refetch_cooldown = Duration::from_millis(400);
        config
    }

    fn set(&self, edit: impl FnOnce(&mut Behaviour)) {
        edit(&mut self.behaviour.lock().expect("behaviour lock"));
    }

    fn jwks_hits(&self) -> usize {
        self.behaviour.lock().expect("behaviour lock").jwks_hits
    }

    fn authenticator(&self, config: JwksCacheConfig) -> Authenticator {
        let verifier =
            Verifier::new(VerifierConfig::new(self.issuer.clone(), "jitgate")).expect("verifier");
        Authenticator::new(verifier, JwksCache::new(config).expect("cache")).expect("authenticator")
    }

    /// A good token from this issuer, valid now, signed by `key` under `kid`.
    fn token(&self, fake: &FakeIssuer, key: &crate::testing::SigningKey, kid: &str) -> String {
        let now = unix_now().expect("clock");
        let mut claims = fake.claims();
        claims["iss"] = json!(self.issuer);
        claims["iat"] = json!(now);
        claims["exp"] = json!(now + 600);
        fake.sign(key, &json!({"alg": "RS256", "kid": kid}), &claims)
    }
}

#[tokio::test]
async fn fetches_keys_through_discovery_once_and_caches_them() {
    let fake = FakeIssuer::new();
    let server = TestIssuer::start(&Jwks::new(vec![fake.rsa.jwk("rsa-1")])).await;
    let auth = server.authenticator(server.config());
    let token = server.token(&fake, &fake.rsa, "rsa-1");
    for _ in 0..3 {
        let claims = auth.authenticate(&token).await.expect("good token");
        assert_eq!(claims.username, "alice@example.com");
        assert_eq!(claims.groups, ["oncall-payments", "sre"]);
    }
    assert_eq!(auth.keys().fetch_count(), 1);
    assert_eq!(server.jwks_hits(), 1);
}

#[tokio::test]
async fn refetches_on_an_unknown_kid_at_most_once_per_cooldown() {
    let fake = FakeIssuer::new();
    let server = TestIssuer::start(&Jwks::new(vec![fake.rsa.jwk("rsa-1")])).await;
    let auth = server.authenticator(server.config());
    auth.authenticate(&server.token(&fake, &fake.rsa, "rsa-1"))
        .await
        .expect("first key");

    // The issuer rotates in a new key; a token signed with it arrives within the cooldown.
    server.set(|b| {
        b.jwks = jwks_json(&Jwks::new(vec![
            fake.rsa.jwk("rsa-1"),
            fake.rsa_other.jwk("rsa-2"),
        ]));
    });
    let rotated = server.token(&fake, &fake.rsa_other, "rsa-2");
    let err = auth
        .authenticate(&rotated)
        .await
        .expect_err("within the cooldown nothing is fetched");
    assert!(matches!(err, OidcError::UnknownKey { .. }), "{err}");
    assert_eq!(server.jwks_hits(), 1);

    tokio::time::sleep(Duration::from_millis(450)).await;
    let claims = auth
        .authenticate(&rotated)
        .await
        .expect("refetched and verified with the new key");
    assert_eq!(claims.key_id.as_deref(), Some("rsa-2"));
    assert_eq!(server.jwks_hits(), 2);

    // Made-up key ids cost at most one fetch per cooldown.
    for i in 0..10 {
        let forged = server.token(&fake, &fake.rsa_other, &format!("made-up-{i}"));
        assert!(matches!(
            auth.authenticate(&forged).await,
            Err(OidcError::UnknownKey { .. })
        ));
    }
    assert_eq!(server.jwks_hits(), 2);
    tokio::time::sleep(Duration::from_millis(450)).await;
    for i in 0..10 {
        let forged = server.token(&fake, &fake.rsa_other, &format!("made-up-again-{i}"));
        assert!(matches!(
            auth.authenticate(&forged).await,
            Err(OidcError::UnknownKey { .. })
        ));
    }
    assert_eq!(server.jwks_hits(), 3);
}

#[tokio::test]
async fn failures_are_retried_only_after_the_cooldown() {
    let fake = FakeIssuer::new();
    let server = TestIssuer::start(&Jwks::new(vec![fake.rsa.jwk("rsa-1")])).await;
    server.set(|b| b.status = 503);
    let cache = JwksCache::new(server.config()).expect("cache");
    let err = cache.keys().await.expect_err("the issuer is down");
    assert!(
        matches!(&err, OidcError::Fetch { .. }) && err.to_string().contains("503"),
        "{err}"
    );
    let err = cache.keys().await.expect_err("still in the cooldown");
    assert!(err.to_string().contains("next attempt within"), "{err}");
    assert_eq!(cache.fetch_count(), 1);

    server.set(|b| b.status = 200);
    tokio::time::sleep(Duration::from_millis(450)).await;
    let jwks = cache.keys().await.expect("the issuer is back");
    assert_eq!(jwks.keys().len(), 1);
    assert_eq!(cache.fetch_count(), 2);
}

#[tokio::test]
async fn keys_older_than_max_age_are_fetched_again() {
    let fake = FakeIssuer::new();
    let server = TestIssuer::start(&Jwks::new(vec![fake.rsa.jwk("rsa-1")])).await;
    let mut config = server.config();
    config.max_age = Duration::from_millis(200);
    let cache = JwksCache::new(config).expect("cache");
    cache.keys().await.expect("first fetch");
    cache.keys().await.expect("cached");
    assert_eq!(server.jwks_hits(), 1);
    tokio::time::sleep(Duration::from_millis(250)).await;
    cache.keys().await.expect("refetched");
    assert_eq!(server.jwks_hits(), 2);
}

#[tokio::test]
async fn refuses_an_issuer_whose_certificate_another_ca_signed() {
    let fake = FakeIssuer::new();
    let server = TestIssuer::start(&Jwks::new(vec![fake.rsa.jwk("rsa-1")])).await;
    let mut config = server.config();
    config.ca_bundle_pem = Some(make_ca("some other CA").pem().into_bytes());
    let err = JwksCache::new(config)
        .expect("cache")
        .keys()
        .await
        .expect_err("untrusted certificate");
    assert!(
        err.to_string()
            .contains("invalid peer certificate: UnknownIssuer"),
        "{err}"
    );
    assert_eq!(server.jwks_hits(), 0);
}

#[tokio::test]
async fn refuses_a_discovery_document_that_names_another_issuer() {
    let fake = FakeIssuer::new();
    let server = TestIssuer::start(&Jwks::new(vec![fake.rsa.jwk("rsa-1")])).await;
    server.set(|b| b.discovery_issuer = Some("https://evil.example.test/dex".into()));
    let err = JwksCache::new(server.config())
        .expect("cache")
        .keys()
        .await
        .expect_err("wrong issuer");
    assert!(
        matches!(&err, OidcError::Discovery(m) if m.contains("evil.example.test")),
        "{err}"
    );
    assert_eq!(server.jwks_hits(), 0);
}

#[tokio::test]
async fn refuses_oversized_and_empty_key_sets() {
    let fake = FakeIssuer::new();
    let server = TestIssuer::start(&Jwks::new(vec![fake.rsa.jwk("rsa-1")])).await;
    let mut config = server.config();
    config.max_response_bytes = 200;
    let err = JwksCache::new(config)
        .expect("cache")
        .keys()
        .await
        .expect_err("JWKS over 200 bytes");
    assert!(err.to_string().contains("larger than 200 bytes"), "{err}");

    server.set(|b| b.jwks = r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#.into());
    let err = JwksCache::new(server.config())
        .expect("cache")
        .keys()
        .await
        .expect_err("no usable key");
    assert!(
        matches!(&err, OidcError::Jwks(m) if m.contains("no key")),
        "{err}"
    );
}

#[tokio::test]
async fn oversized_tokens_are_refused_without_fetching() {
    let fake = FakeIssuer::new();
    let server = TestIssuer::start(&Jwks::new(vec![fake.rsa.jwk("rsa-1")])).await;
    let auth = server.authenticator(server.config());
    let err = auth
        .authenticate(&"e".repeat(20_000))
        .await
        .expect_err("too large");
    assert!(matches!(err, OidcError::TokenTooLarge { .. }), "{err}");
    assert_eq!(auth.keys().fetch_count(), 0);
}

#[test]
fn refuses_configurations_that_cannot_work() {
    let err =
        JwksCache::new(JwksCacheConfig::new("http://127.0.0.1/dex")).expect_err("http issuer");
    assert!(matches!(err, OidcError::Config(_)), "{err}");
    let mut config = JwksCacheConfig::new("https://127.0.0.1/dex");
    config.ca_bundle_pem = Some(b"no certificates here".to_vec());
    assert!(matches!(
        JwksCache::new(config),
        Err(OidcError::CaBundle(_))
    ));

    let mut config = JwksCacheConfig::new("https://127.0.0.1/dex");
    config.ca_bundle_pem = Some(make_ca("a CA").pem().into_bytes());
    let cache = JwksCache::new(config).expect("cache");
    let verifier =
        Verifier::new(VerifierConfig::new("https://127.0.0.1/other", "jitgate")).expect("verifier");
    assert!(matches!(
        Authenticator::new(verifier, cache),
        Err(OidcError::Config(_))
    ));
}
