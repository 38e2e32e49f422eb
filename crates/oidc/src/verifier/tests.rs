use serde_json::{Map, Value, json};

use super::*;
use crate::testing::{CLIENT_ID, FakeIssuer, ISSUER, NOW, b64, b64_json};

fn verifier() -> Verifier {
    Verifier::new(VerifierConfig::new(ISSUER, CLIENT_ID)).expect("default config is valid")
}

fn with(edit: impl FnOnce(&mut VerifierConfig)) -> Verifier {
    let mut config = VerifierConfig::new(ISSUER, CLIENT_ID);
    edit(&mut config);
    Verifier::new(config).expect("valid config")
}

/// Verifies `token` expecting a refusal, and checks the message does not echo the token.
fn refuse(verifier: &Verifier, issuer: &FakeIssuer, token: &str) -> OidcError {
    let err = verifier
        .verify(token, &issuer.jwks(), NOW)
        .expect_err("the token must be refused");
    let message = err.to_string();
    for part in token.split('.').filter(|p| p.len() > 8) {
        assert!(
            !message.contains(part),
            "the message echoes the token: {message}"
        );
    }
    err
}

fn claims_with(issuer: &FakeIssuer, edit: impl FnOnce(&mut Map<String, Value>)) -> Value {
    let mut claims = issuer.claims();
    edit(claims.as_object_mut().expect("claims are an object"));
    claims
}

#[test]
fn accepts_a_good_token_and_maps_user_and_groups() {
    let issuer = FakeIssuer::new();
    let claims = verifier()
        .verify(&issuer.token(), &issuer.jwks(), NOW)
        .expect("good token");
    assert_eq!(claims.username, "alice@example.com");
    assert_eq!(claims.groups, ["oncall-payments", "sre"]);
    assert_eq!(claims.issuer, ISSUER);
    assert_eq!(claims.email.as_deref(), Some("alice@example.com"));
    assert_eq!(claims.expires_at, NOW + 3600);
    assert_eq!(claims.issued_at, Some(NOW - 10));
    assert_eq!(claims.algorithm, Algorithm::RS256);
    assert_eq!(claims.key_id.as_deref(), Some("rsa-1"));
}

#[test]
fn accepts_every_allowed_algorithm_with_its_key_type() {
    let issuer = FakeIssuer::new();
    let cases = [
        ("RS384", &issuer.rsa, "rsa-1"),
        ("RS512", &issuer.rsa, "rsa-1"),
        ("PS256", &issuer.rsa, "rsa-1"),
        ("ES256", &issuer.p256, "ec-256"),
        ("ES384", &issuer.p384, "ec-384"),
    ];
    for (alg, key, kid) in cases {
        let token = issuer.sign(key, &json!({"alg": alg, "kid": kid}), &issuer.claims());
        let claims = verifier()
            .verify(&token, &issuer.jwks(), NOW)
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(claims.algorithm.name(), alg);
    }
}

#[test]
fn refuses_alg_none() {
    let issuer = FakeIssuer::new();
    let unsigned = format!(
        "{}.{}.",
        b64_json(&json!({"alg": "none"})),
        b64_json(&issuer.claims())
    );
    assert!(matches!(
        refuse(&verifier(), &issuer, &unsigned),
        OidcError::Unsigned
    ));
    // Also with a signature attached, and spelled differently.
    let good = issuer.token();
    let signature = good.rsplit('.').next().expect("three parts");
    for alg in ["none", "None", "NONE"] {
        let token = format!(
            "{}.{}.{signature}",
            b64_json(&json!({"alg": alg, "kid": "rsa-1"})),
            b64_json(&issuer.claims())
        );
        assert!(
            matches!(refuse(&verifier(), &issuer, &token), OidcError::Unsigned),
            "{alg}"
        );
    }
}

#[test]
fn refuses_hs256_signed_with_the_rsa_public_key() {
    // The classic key-confusion attack: a verifier that takes the key type from the token
    // would use the issuer's public key as an HMAC secret.
    let issuer = FakeIssuer::new();
    let pem = issuer.rsa.public_pem();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"));
    for alg in ["HS256", "HS384", "HS512"] {
        let token = FakeIssuer::sign_hmac(
            &json!({"alg": alg, "kid": "rsa-1"}),
            &issuer.claims(),
            pem.as_bytes(),
        );
        let err = refuse(&verifier(), &issuer, &token);
        assert!(
            matches!(err, OidcError::SymmetricAlgorithm { .. }),
            "{alg}: {err}"
        );
        assert!(err.to_string().contains("shared-secret (HMAC)"), "{err}");
    }
    // The same HMAC under an RS256 header is just a bad signature.
    let token = FakeIssuer::sign_hmac(
        &json!({"alg": "RS256", "kid": "rsa-1"}),
        &issuer.claims(),
        pem.as_bytes(),
    );
    assert!(matches!(
        refuse(&verifier(), &issuer, &token),
        OidcError::BadSignature
    ));
}

#[test]
fn refuses_a_key_of_the_wrong_type_for_the_algorithm() {
    let issuer = FakeIssuer::new();
    // ES256 header pointing at the RSA key, RS256 header pointing at the EC key.
    let token = issuer.sign(
        &issuer.p256,
        &json!({"alg": "ES256", "kid": "rsa-1"}),
        &issuer.claims(),
    );
    let err = refuse(&verifier(), &issuer, &token);
    assert!(
        matches!(err, OidcError::KeyMismatch { alg: "ES256", .. }),
        "{err}"
    );
    assert!(err.to_string().contains("an RSA-2048 key"), "{err}");
    let token = issuer.sign(
        &issuer.rsa,
        &json!({"alg": "RS256", "kid": "ec-256"}),
        &issuer.claims(),
    );
    assert!(matches!(
        refuse(&verifier(), &issuer, &token),
        OidcError::KeyMismatch { alg: "RS256", .. }
    ));
    // ES384 on the P-256 key.
    let token = issuer.sign(
        &issuer.p256,
        &json!({"alg": "ES384", "kid": "ec-256"}),
        &issuer.claims(),
    );
    assert!(matches!(
        refuse(&verifier(), &issuer, &token),
        OidcError::KeyMismatch { alg: "ES384", .. }
    ));
}

#[test]
fn refuses_a_key_restricted_to_another_algorithm() {
    let issuer = FakeIssuer::new();
    let jwks = Jwks::new(vec![issuer.rsa.jwk("rsa-1").with_alg("RS256")]);
    let token = issuer.sign(
        &issuer.rsa,
        &json!({"alg": "PS256", "kid": "rsa-1"}),
        &issuer.claims(),
    );
    let err = verifier()
        .verify(&token, &jwks, NOW)
        .expect_err("PS256 with an RS256-only key");
    assert!(matches!(err, OidcError::KeyMismatch { .. }), "{err}");
}

#[test]
fn refuses_algorithms_outside_the_allowlist() {
    let issuer = FakeIssuer::new();
    let token = issuer.sign(
        &issuer.p256,
        &json!({"alg": "ES256", "kid": "ec-256"}),
        &issuer.claims(),
    );
    let only_rs256 = with(|c| c.algorithms = vec![Algorithm::RS256]);
    let err = refuse(&only_rs256, &issuer, &token);
    assert!(
        matches!(err, OidcError::AlgorithmNotAllowed { alg: "ES256", .. }),
        "{err}"
    );
    for alg in ["EdDSA", "RS1", "ES512", ""] {
        let token = issuer.sign(
            &issuer.rsa,
            &json!({"alg": alg, "kid": "rsa-1"}),
            &issuer.claims(),
        );
        assert!(
            matches!(
                refuse(&verifier(), &issuer, &token),
                OidcError::UnsupportedAlgorithm { .. }
            ),
            "{alg:?}"
        );
    }
}

#[test]
fn refuses_an_unknown_kid() {
    let issuer = FakeIssuer::new();
    let token = issuer.sign(
        &issuer.rsa_other,
        &json!({"alg": "RS256", "kid": "rotated-in"}),
        &issuer.claims(),
    );
    let err = refuse(&verifier(), &issuer, &token);
    assert!(matches!(err, OidcError::UnknownKey { .. }), "{err}");
    assert!(err.is_unknown_key());
    assert!(err.to_string().contains("\"rotated-in\""), "{err}");
}

#[test]
fn without_kid_any_key_of_the_right_type_may_verify() {
    let issuer = FakeIssuer::new();
    let token = issuer.sign(&issuer.p384, &json!({"alg": "ES384"}), &issuer.claims());
    let claims = verifier()
        .verify(&token, &issuer.jwks(), NOW)
        .expect("the P-384 key verifies");
    assert_eq!(claims.key_id.as_deref(), Some("ec-384"));
    // Signed by a key the issuer does not publish.
    let token = issuer.sign(
        &issuer.rsa_other,
        &json!({"alg": "RS256"}),
        &issuer.claims(),
    );
    assert!(matches!(
        refuse(&verifier(), &issuer, &token),
        OidcError::BadSignature
    ));
    // No key of the type at all.
    let only_ec = Jwks::new(vec![issuer.p256.jwk("ec-256")]);
    let err = verifier()
        .verify(&token, &only_ec, NOW)
        .expect_err("no RSA key");
    assert!(
        matches!(err, OidcError::NoKeyForAlgorithm { alg: "RS256" }),
        "{err}"
    );
}

#[test]
fn refuses_a_tampered_payload() {
    let issuer = FakeIssuer::new();
    let good = issuer.token();
    let parts: Vec<&str> = good.split('.').collect();
    let escalated = claims_with(&issuer, |c| {
        c.insert(
            "groups".into(),
            json!(["oncall-payments", "sre", "platform-admins"]),
        );
    });
    let token = format!("{}.{}.{}", parts[0], b64_json(&escalated), parts[2]);
    assert!(matches!(
        refuse(&verifier(), &issuer, &token),
        OidcError::BadSignature
    ));
    // Signed by a key with the same kid that is not the issuer's.
    let token = issuer.sign(
        &issuer.rsa_other,
        &json!({"alg": "RS256", "kid": "rsa-1"}),
        &issuer.claims(),
    );
    assert!(matches!(
        refuse(&verifier(), &issuer, &token),
        OidcError::BadSignature
    ));
}

#[test]
fn refuses_single_character_changes_anywhere() {
    let issuer = FakeIssuer::new();
    let good = issuer.token();
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
    let mut rng = fastrand::Rng::with_seed(4211);
    for _ in 0..300 {
        let mut bytes = good.clone().into_bytes();
        let at = rng.usize(..bytes.len());
        let replacement = alphabet[rng.usize(..alphabet.len())];
        if bytes[at] == replacement {
            continue;
        }
        bytes[at] = replacement;
        let token = String::from_utf8(bytes).expect("ASCII");
        assert!(
            verifier().verify(&token, &issuer.jwks(), NOW).is_err(),
            "changing byte {at} was not noticed"
        );
    }
}

#[test]
fn refuses_the_wrong_issuer() {
    let issuer = FakeIssuer::new();
    for iss in [
        "https://evil.example.test/dex",
        "https://idp.example.test/dex/",
        "https://IDP.example.test/dex",
    ] {
        let token = issuer.sign_rs256(&claims_with(&issuer, |c| {
            c.insert("iss".into(), json!(iss));
        }));
        let err = refuse(&verifier(), &issuer, &token);
        assert!(matches!(err, OidcError::WrongIssuer { .. }), "{iss}: {err}");
    }
    let token = issuer.sign_rs256(&claims_with(&issuer, |c| {
        c.remove("iss");
    }));
    assert!(matches!(
        refuse(&verifier(), &issuer, &token),
        OidcError::MissingClaim { .. }
    ));
}

#[test]
fn checks_the_audience_and_authorized_party() {
    let issuer = FakeIssuer::new();
    let token_for = |aud: Value, azp: Option<&str>| {
        issuer.sign_rs256(&claims_with(&issuer, |c| {
            c.insert("aud".into(), aud);
            if let Some(azp) = azp {
                c.insert("azp".into(), json!(azp));
            }
        }))
    };
    let err = refuse(&verifier(), &issuer, &token_for(json!("grafana"), None));
    assert!(matches!(err, OidcError::WrongAudience { .. }), "{err}");
    assert!(err.to_string().contains("\"grafana\""), "{err}");
    let err = refuse(
        &verifier(),
        &issuer,
        &token_for(json!(["grafana", "argo"]), None),
    );
    assert!(matches!(err, OidcError::WrongAudience { .. }), "{err}");
    let err = refuse(
        &verifier(),
        &issuer,
        &token_for(json!(["grafana", CLIENT_ID]), Some("grafana")),
    );
    assert!(
        matches!(err, OidcError::WrongAuthorizedParty { .. }),
        "{err}"
    );
    let err = refuse(&verifier(), &issuer, &token_for(json!(42), None));
    assert!(matches!(err, OidcError::InvalidClaim { .. }), "{err}");

    let v = verifier();
    v.verify(&token_for(json!([CLIENT_ID]), None), &issuer.jwks(), NOW)
        .expect("array with the client");
    v.verify(
        &token_for(json!(["grafana", CLIENT_ID]), None),
        &issuer.jwks(),
        NOW,
    )
    .expect("several, no azp");
    v.verify(
        &token_for(json!(["grafana", CLIENT_ID]), Some(CLIENT_ID)),
        &issuer.jwks(),
        NOW,
    )
    .expect("azp is us");
    // One audience and another azp: a trusted peer obtained the token for this client.
    v.verify(
        &token_for(json!(CLIENT_ID), Some("kubectl-login")),
        &issuer.jwks(),
        NOW,
    )
    .expect("cross-client");
}

#[test]
fn refuses_expired_tokens_beyond_the_clock_skew() {
    let issuer = FakeIssuer::new();
    let expiring_at = |exp: i64| {
        issuer.sign_rs256(&claims_with(&issuer, |c| {
            c.insert("exp".into(), json!(exp));
        }))
    };
    let err = refuse(&verifier(), &issuer, &expiring_at(NOW - 61));
    assert!(
        matches!(err, OidcError::Expired { expired_at, now: NOW } if expired_at == NOW - 61),
        "{err}"
    );
    assert!(err.to_string().contains("61s ago"), "{err}");
    verifier()
        .verify(&expiring_at(NOW - 30), &issuer.jwks(), NOW)
        .expect("within 60 s of skew");
    let strict = with(|c| c.leeway_secs = 0);
    assert!(matches!(
        refuse(&strict, &issuer, &expiring_at(NOW)),
        OidcError::Expired { .. }
    ));
    strict
        .verify(&expiring_at(NOW + 1), &issuer.jwks(), NOW)
        .expect("one second left");
    // A fractional NumericDate is a date too.
    verifier()
        .verify(
            &issuer.sign_rs256(&claims_with(&issuer, |c| {
                c.insert("exp".into(), json!(NOW as f64 + 10.5));
            })),
            &issuer.jwks(),
            NOW,
        )
        .expect("fractional exp");
    // No exp at all, or not a number.
    let token = issuer.sign_rs256(&claims_with(&issuer, |c| {
        c.remove("exp");
    }));
    assert!(
        matches!(refuse(&verifier(), &issuer, &token), OidcError::MissingClaim { claim } if claim == "exp")
    );
    let token = issuer.sign_rs256(&claims_with(&issuer, |c| {
        c.insert("exp".into(), json!("tomorrow"));
    }));
    assert!(matches!(
        refuse(&verifier(), &issuer, &token),
        OidcError::InvalidClaim { .. }
    ));
}

#[test]
fn refuses_tokens_not_yet_valid() {
    let issuer = FakeIssuer::new();
    let token = issuer.sign_rs256(&claims_with(&issuer, |c| {
        c.insert("nbf".into(), json!(NOW + 300));
    }));
    let err = refuse(&verifier(), &issuer, &token);
    assert!(
        matches!(err, OidcError::NotYetValid { not_before, .. } if not_before == NOW + 300),
        "{err}"
    );
    assert!(err.to_string().contains("check the clocks"), "{err}");
    let token = issuer.sign_rs256(&claims_with(&issuer, |c| {
        c.insert("nbf".into(), json!(NOW + 30));
    }));
    verifier()
        .verify(&token, &issuer.jwks(), NOW)
        .expect("within 60 s of skew");
    let token = issuer.sign_rs256(&claims_with(&issuer, |c| {
        c.insert("iat".into(), json!(NOW + 3000));
    }));
    assert!(matches!(
        refuse(&verifier(), &issuer, &token),
        OidcError::IssuedInFuture { .. }
    ));
}

#[test]
fn refuses_oversized_tokens_before_parsing() {
    let issuer = FakeIssuer::new();
    let token = issuer.sign_rs256(&claims_with(&issuer, |c| {
        c.insert("padding".into(), json!("x".repeat(20_000)));
    }));
    let err = refuse(&verifier(), &issuer, &token);
    assert!(
        matches!(err, OidcError::TokenTooLarge { limit: 16384, .. }),
        "{err}"
    );
    // Not even a JWT: still refused for its size, not its shape.
    let junk = "a".repeat(DEFAULT_MAX_TOKEN_BYTES + 1);
    assert!(matches!(
        refuse(&verifier(), &issuer, &junk),
        OidcError::TokenTooLarge { .. }
    ));
    let small = with(|c| c.max_token_bytes = 512);
    assert!(matches!(
        refuse(&small, &issuer, &issuer.token()),
        OidcError::TokenTooLarge { limit: 512, .. }
    ));
}

#[test]
fn refuses_malformed_tokens() {
    let issuer = FakeIssuer::new();
    let good = issuer.token();
    let parts: Vec<&str> = good.split('.').collect();
    let cases = [
        ("empty", String::new()),
        ("one part", "abc".to_owned()),
        ("two parts", format!("{}.{}", parts[0], parts[1])),
        ("four parts", format!("{good}.x")),
        ("JWE", format!("{}.a.b.c.d", parts[0])),
        ("header not base64", format!("!!.{}.{}", parts[1], parts[2])),
        (
            "header padded",
            format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
        ),
        (
            "header not JSON",
            format!("{}.{}.{}", b64(b"alg"), parts[1], parts[2]),
        ),
        (
            "header an array",
            format!("{}.{}.{}", b64(b"[1]"), parts[1], parts[2]),
        ),
        (
            "no alg",
            format!(
                "{}.{}.{}",
                b64_json(&json!({"kid": "rsa-1"})),
                parts[1],
                parts[2]
            ),
        ),
        (
            "alg not a string",
            format!(
                "{}.{}.{}",
                b64_json(&json!({"alg": 256})),
                parts[1],
                parts[2]
            ),
        ),
        (
            "kid not a string",
            format!(
                "{}.{}.{}",
                b64_json(&json!({"alg": "RS256", "kid": 1})),
                parts[1],
                parts[2]
            ),
        ),
        ("empty signature", format!("{}.{}.", parts[0], parts[1])),
        (
            "signature not base64",
            format!("{}.{}.***", parts[0], parts[1]),
        ),
    ];
    for (name, token) in cases {
        let err = refuse(&verifier(), &issuer, &token);
        assert!(matches!(err, OidcError::Malformed(_)), "{name}: {err}");
    }
    // A payload that is not an object, correctly signed.
    let token = issuer.sign(
        &issuer.rsa,
        &json!({"alg": "RS256", "kid": "rsa-1"}),
        &json!(["not", "claims"]),
    );
    assert!(matches!(
        refuse(&verifier(), &issuer, &token),
        OidcError::Malformed(_)
    ));
}

#[test]
fn refuses_critical_header_extensions() {
    let issuer = FakeIssuer::new();
    let token = issuer.sign(
        &issuer.rsa,
        &json!({"alg": "RS256", "kid": "rsa-1", "crit": ["exp"], "exp": 1}),
        &issuer.claims(),
    );
    assert!(matches!(
        refuse(&verifier(), &issuer, &token),
        OidcError::CriticalHeader
    ));
}

#[test]
fn refuses_unverified_email_as_username() {
    let issuer = FakeIssuer::new();
    let token = issuer.sign_rs256(&claims_with(&issuer, |c| {
        c.insert("email_verified".into(), json!(false));
    }));
    assert!(matches!(
        refuse(&verifier(), &issuer, &token),
        OidcError::EmailNotVerified
    ));
    // With the username taken from sub, the unverified email does not matter.
    let by_sub = with(|c| c.username_claim = "sub".into());
    by_sub
        .verify(&token, &issuer.jwks(), NOW)
        .expect("username from sub");
    let token = issuer.sign_rs256(&claims_with(&issuer, |c| {
        c.remove("email");
    }));
    assert!(
        matches!(refuse(&verifier(), &issuer, &token), OidcError::MissingClaim { claim } if claim == "email")
    );
}

#[test]
fn applies_username_and_group_prefixes() {
    let issuer = FakeIssuer::new();
    let v = with(|c| {
        c.username_claim = "sub".into();
        c.username_prefix = Some("dex:".into());
        c.groups_prefix = Some("dex:".into());
    });
    let claims = v
        .verify(&issuer.token(), &issuer.jwks(), NOW)
        .expect("good token");
    assert_eq!(claims.username, format!("dex:{}", claims.subject));
    assert_eq!(claims.groups, ["dex:oncall-payments", "dex:sre"]);
}

#[test]
fn reads_groups_in_every_accepted_shape() {
    let issuer = FakeIssuer::new();
    let groups_of = |groups: Option<Value>| {
        let token = issuer.sign_rs256(&claims_with(&issuer, |c| match groups {
            Some(g) => {
                c.insert("groups".into(), g);
            }
            None => {
                c.remove("groups");
            }
        }));
        verifier()
            .verify(&token, &issuer.jwks(), NOW)
            .map(|c| c.groups)
    };
    assert_eq!(
        groups_of(None).expect("no groups claim"),
        Vec::<String>::new()
    );
    assert_eq!(groups_of(Some(json!("sre"))).expect("one string"), ["sre"]);
    assert_eq!(
        groups_of(Some(json!(["sre", "sre", "oncall"]))).expect("duplicates"),
        ["sre", "oncall"]
    );
    assert!(matches!(
        groups_of(Some(json!(["sre", 7]))),
        Err(OidcError::InvalidClaim { .. })
    ));
    assert!(matches!(
        groups_of(Some(json!({"sre": true}))),
        Err(OidcError::InvalidClaim { .. })
    ));
    assert!(matches!(
        groups_of(Some(json!([""]))),
        Err(OidcError::InvalidClaim { .. })
    ));
    let many: Vec<String> = (0..=MAX_GROUPS).map(|i| format!("g{i}")).collect();
    let v = with(|c| c.max_token_bytes = 64 * 1024);
    let token = issuer.sign_rs256(&claims_with(&issuer, |c| {
        c.insert("groups".into(), json!(many));
    }));
    assert!(matches!(
        v.verify(&token, &issuer.jwks(), NOW),
        Err(OidcError::InvalidClaim { .. })
    ));
    let custom = with(|c| c.groups_claim = "roles".into());
    let token = issuer.sign_rs256(&claims_with(&issuer, |c| {
        c.insert("roles".into(), json!(["approver"]));
    }));
    assert_eq!(
        custom
            .verify(&token, &issuer.jwks(), NOW)
            .expect("roles claim")
            .groups,
        ["approver"]
    );
}

#[test]
fn refuses_reserved_user_and_group_names() {
    let issuer = FakeIssuer::new();
    for group in ["system:masters", "jitgate:debug"] {
        let token = issuer.sign_rs256(&claims_with(&issuer, |c| {
            c.insert("groups".into(), json!(["sre", group]));
        }));
        let err = refuse(&verifier(), &issuer, &token);
        assert!(
            matches!(err, OidcError::ReservedName { what: "group", .. }),
            "{group}: {err}"
        );
    }
    let by_sub = with(|c| c.username_claim = "sub".into());
    let token = issuer.sign_rs256(&claims_with(&issuer, |c| {
        c.insert("sub".into(), json!("system:admin"));
    }));
    assert!(matches!(
        refuse(&by_sub, &issuer, &token),
        OidcError::ReservedName { what: "user", .. }
    ));
    // A prefix makes them harmless.
    let prefixed = with(|c| c.groups_prefix = Some("oidc:".into()));
    let token = issuer.sign_rs256(&claims_with(&issuer, |c| {
        c.insert("groups".into(), json!(["system:masters"]));
    }));
    assert_eq!(
        prefixed
            .verify(&token, &issuer.jwks(), NOW)
            .expect("prefixed")
            .groups,
        ["oidc:system:masters"]
    );
}

#[test]
fn refuses_configurations_that_cannot_work() {
    type Edit = fn(&mut VerifierConfig);
    let cases: [(&str, Edit); 5] = [
        ("http issuer", |c| {
            c.issuer = "http://idp.example.test".into();
        }),
        ("no client", |c| c.client_id.clear()),
        ("no algorithms", |c| c.algorithms.clear()),
        ("negative skew", |c| c.leeway_secs = -1),
        ("no size", |c| c.max_token_bytes = 0),
    ];
    for (name, edit) in cases {
        let mut config = VerifierConfig::new(ISSUER, CLIENT_ID);
        edit(&mut config);
        assert!(
            matches!(Verifier::new(config), Err(OidcError::Config(_))),
            "{name}"
        );
    }
}
