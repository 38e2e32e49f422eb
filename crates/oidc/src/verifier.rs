//! ID-token validation (OpenID Connect Core 1.0 §3.1.3.7), without I/O: the caller passes the
//! issuer's keys and the time.
//!
//! Order matters: size, then header, then key choice and signature, and only then are the
//! claims read — nothing in an unverified payload influences a decision.

use serde_json::{Map, Value};

use crate::jwk::Jwks;
use crate::jws::{Algorithm, CompactJws};
use crate::{OidcError, Quoted};

/// Default limit on a token's length. ID tokens with a few dozen groups are 1–4 KiB.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Default clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub const DEFAULT_LEEWAY_SECS: i64 = 60;
/// At most this many groups are taken from one token.
pub const MAX_GROUPS: usize = 1024;

/// Names no issuer may assert: Kubernetes' own (`system:masters`, …) and the groups the gateway
/// asserts itself when it impersonates (`jitgate:<profile>`).
const RESERVED_PREFIXES: [&str; 2] = ["system:", "jitgate:"];

/// What the verifier trusts and how it maps claims to a Kubernetes user.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifierConfig {
    /// The issuer URL; `iss` must equal it exactly.
    pub issuer: String,
    /// This gateway's client id; `aud` must contain it.
    pub client_id: String,
    /// Algorithms accepted. Default: all of [`Algorithm::ALL`].
    pub algorithms: Vec<Algorithm>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds. Default 60.
    pub leeway_secs: i64,
    /// The claim that names the user. Default `email`, which must then not be
    /// `email_verified: false`.
    pub username_claim: String,
    /// Put before every username, like kube-apiserver's `--oidc-username-prefix`. Default none.
    pub username_prefix: Option<String>,
    /// The claim that lists the groups (an array of strings, or one string). Default `groups`.
    pub groups_claim: String,
    /// Put before every group, like kube-apiserver's `--oidc-groups-prefix`. Default none.
    pub groups_prefix: Option<String>,
    /// Longest token accepted, in bytes. Default 16 KiB.
    pub max_token_bytes: usize,
}

impl VerifierConfig {
    /// The defaults for tokens from `issuer` meant for `client_id`.
    pub fn new(issuer: impl Into<String>, client_id: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            client_id: client_id.into(),
            algorithms: Algorithm::ALL.to_vec(),
            leeway_secs: DEFAULT_LEEWAY_SECS,
            username_claim: "email".to_owned(),
            username_prefix: None,
            groups_claim: "groups".to_owned(),
            groups_prefix: None,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
        }
    }
}

/// Who a verified ID token names, and what else the gateway may want to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The Kubernetes username: the username claim, with the prefix.
    pub username: String,
    /// The Kubernetes groups: the groups claim, each with the prefix, in token order.
    pub groups: Vec<String>,
    /// `iss`.
    pub issuer: String,
    /// `sub`: the issuer's stable id of the user.
    pub subject: String,
    /// `email`, if present.
    pub email: Option<String>,
    /// `exp`, seconds since the epoch: the token is worth nothing after it.
    pub expires_at: i64,
    /// `iat`, if present.
    pub issued_at: Option<i64>,
    /// The algorithm the token was signed with.
    pub algorithm: Algorithm,
    /// The id of the key that verified the signature, if it has one.
    pub key_id: Option<String>,
}

/// Verifies ID tokens of one issuer for one client.
#[derive(Debug, Clone)]
pub struct Verifier {
    config: VerifierConfig,
}

impl Verifier {
    /// A verifier for `config`, which is checked for settings that cannot work.
    pub fn new(config: VerifierConfig) -> Result<Self, OidcError> {
        if !config.issuer.starts_with("https://") {
            return Err(OidcError::Config(format!(
                "the issuer {:?} must be an https:// URL",
                config.issuer
            )));
        }
        if config.client_id.is_empty() {
            return Err(OidcError::Config("the client id is empty".into()));
        }
        if config.algorithms.is_empty() {
            return Err(OidcError::Config(
                "no signature algorithm is allowed".into(),
            ));
        }
        if !(0..=600).contains(&config.leeway_secs) {
            return Err(OidcError::Config(format!(
                "a clock skew of {}s is outside 0 to 600 seconds",
                config.leeway_secs
            )));
        }
        if config.username_claim.is_empty() || config.groups_claim.is_empty() {
            return Err(OidcError::Config(
                "the username and groups claims must be named".into(),
            ));
        }
        if config.max_token_bytes == 0 {
            return Err(OidcError::Config("the token size limit is zero".into()));
        }
        Ok(Self { config })
    }

    /// The configuration.
    pub fn config(&self) -> &VerifierConfig {
        &self.config
    }

    /// Verifies `token` against the issuer's keys `jwks` at time `now` (seconds since the epoch)
    /// and returns who it names. Every check that fails refuses the token.
    pub fn verify(&self, token: &str, jwks: &Jwks, now: i64) -> Result<Claims, OidcError> {
        let cfg = &self.config;
        if token.len() > cfg.max_token_bytes {
            return Err(OidcError::TokenTooLarge {
                size: token.len(),
                limit: cfg.max_token_bytes,
            });
        }
        let jws = CompactJws::parse(token)?;
        if !cfg.algorithms.contains(&jws.alg) {
            let allowed = cfg
                .algorithms
                .iter()
                .map(|a| a.name())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(OidcError::AlgorithmNotAllowed {
                alg: jws.alg.name(),
                allowed,
            });
        }
        let key_id = self.check_signature(&jws, jwks)?;
        let claims = jws.claims()?;

        let issuer = required_str(&claims, "iss")?;
        if issuer != cfg.issuer {
            return Err(OidcError::WrongIssuer {
                expected: cfg.issuer.clone(),
                found: Quoted::new(issuer),
            });
        }
        self.check_audience(&claims)?;
        let expires_at = self.check_times(&claims, now)?;
        let subject = required_str(&claims, "sub")?.to_owned();
        let email = optional_str(&claims, "email")?.map(str::to_owned);
        let username = self.username(&claims)?;
        let groups = self.groups(&claims)?;
        Ok(Claims {
            username,
            groups,
            issuer: issuer.to_owned(),
            subject,
            email,
            expires_at,
            issued_at: numeric_date(&claims, "iat")?,
            algorithm: jws.alg,
            key_id,
        })
    }

    /// Chooses the key — by `kid`, or every key that fits the algorithm when the token names
    /// none — and verifies the signature. Returns the id of the key that verified.
    fn check_signature(
        &self,
        jws: &CompactJws<'_>,
        jwks: &Jwks,
    ) -> Result<Option<String>, OidcError> {
        match &jws.kid {
            Some(kid) => {
                let mut named = jwks.with_kid(kid).peekable();
                let Some(first) = named.peek().copied() else {
                    return Err(OidcError::UnknownKey {
                        kid: Quoted::new(kid),
                    });
                };
                let mut fitting = named.filter(|k| k.fits(jws.alg)).peekable();
                if fitting.peek().is_none() {
                    return Err(OidcError::KeyMismatch {
                        kid: Quoted::new(kid),
                        alg: jws.alg.name(),
                        key: first.key().describe(),
                    });
                }
                if fitting.any(|k| jws.verify_with(k)) {
                    Ok(Some(kid.clone()))
                } else {
                    Err(OidcError::BadSignature)
                }
            }
            None => {
                let mut fitting = jwks.keys().iter().filter(|k| k.fits(jws.alg)).peekable();
                if fitting.peek().is_none() {
                    return Err(OidcError::NoKeyForAlgorithm {
                        alg: jws.alg.name(),
                    });
                }
                match fitting.find(|k| jws.verify_with(k)) {
                    Some(key) => Ok(key.kid().map(str::to_owned)),
                    None => Err(OidcError::BadSignature),
                }
            }
        }
    }

    /// `aud` (a string or an array of strings) contains the client id; with several audiences,
    /// an `azp` must name the client id too (OIDC Core §3.1.3.7 items 3–5).
    fn check_audience(&self, claims: &Map<String, Value>) -> Result<(), OidcError> {
        let client_id = &self.config.client_id;
        let audiences: Vec<&str> = match claims.get("aud") {
            Some(Value::String(aud)) => vec![aud.as_str()],
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .ok_or_else(|| invalid("aud", "it lists something that is not a string"))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(invalid(
                    "aud",
                    "it is neither a string nor an array of strings",
                ));
            }
            None => return Err(missing("aud")),
        };
        if !audiences.contains(&client_id.as_str()) {
            return Err(OidcError::WrongAudience {
                expected: client_id.clone(),
                found: Quoted::new(&audiences.join(", ")),
            });
        }
        if audiences.len() > 1
            && let Some(azp) = optional_str(claims, "azp")?
            && azp != client_id
        {
            return Err(OidcError::WrongAuthorizedParty {
                expected: client_id.clone(),
                found: Quoted::new(azp),
            });
        }
        Ok(())
    }

    /// `exp` is required and in the future; `nbf` and `iat`, when present, are not in the
    /// future. Each with the configured leeway. Returns `exp`.
    fn check_times(&self, claims: &Map<String, Value>, now: i64) -> Result<i64, OidcError> {
        let leeway = self.config.leeway_secs;
        let expires_at = numeric_date(claims, "exp")?.ok_or_else(|| missing("exp"))?;
        if now >= expires_at.saturating_add(leeway) {
            return Err(OidcError::Expired {
                expired_at: expires_at,
                now,
            });
        }
        if let Some(not_before) = numeric_date(claims, "nbf")?
            && now.saturating_add(leeway) < not_before
        {
            return Err(OidcError::NotYetValid { not_before, now });
        }
        if let Some(issued_at) = numeric_date(claims, "iat")?
            && issued_at > now.saturating_add(leeway)
        {
            return Err(OidcError::IssuedInFuture { issued_at, now });
        }
        Ok(expires_at)
    }

    fn username(&self, claims: &Map<String, Value>) -> Result<String, OidcError> {
        let claim = self.config.username_claim.as_str();
        let value = required_str(claims, claim)?;
        if value.is_empty() {
            return Err(invalid(claim, "it is empty"));
        }
        // As kube-apiserver does: an email address the issuer says is unverified names nobody.
        if claim == "email" {
            match claims.get("email_verified") {
                None | Some(Value::Bool(true)) => {}
                Some(Value::Bool(false)) => return Err(OidcError::EmailNotVerified),
                Some(_) => return Err(invalid("email_verified", "it is not a boolean")),
            }
        }
        let username = format!(
            "{}{value}",
            self.config.username_prefix.as_deref().unwrap_or("")
        );
        reject_reserved("user", &username)?;
        Ok(username)
    }

    fn groups(&self, claims: &Map<String, Value>) -> Result<Vec<String>, OidcError> {
        let claim = self.config.groups_claim.as_str();
        let names: Vec<&str> = match claims.get(claim) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(one)) => vec![one.as_str()],
            Some(Value::Array(items)) => {
                if items.len() > MAX_GROUPS {
                    return Err(invalid(claim, "it lists more than 1024 groups"));
                }
                items
                    .iter()
                    .map(|v| {
                        v.as_str().ok_or_else(|| {
                            invalid(claim, "it lists something that is not a string")
                        })
                    })
                    .collect::<Result<_, _>>()?
            }
            Some(_) => {
                return Err(invalid(
                    claim,
                    "it is neither a string nor an array of strings",
                ));
            }
        };
        let prefix = self.config.groups_prefix.as_deref().unwrap_or("");
        let mut groups = Vec::with_capacity(names.len());
        for name in names {
            if name.is_empty() {
                return Err(invalid(claim, "it lists an empty group name"));
            }
            let group = format!("{prefix}{name}");
            reject_reserved("group", &group)?;
            if !groups.contains(&group) {
                groups.push(group);
            }
        }
        Ok(groups)
    }
}

fn reject_reserved(what: &'static str, name: &str) -> Result<(), OidcError> {
    if RESERVED_PREFIXES.iter().any(|p| name.starts_with(p)) {
        return Err(OidcError::ReservedName {
            what,
            name: Quoted::new(name),
        });
    }
    Ok(())
}

fn missing(claim: &str) -> OidcError {
    OidcError::MissingClaim {
        claim: claim.to_owned(),
    }
}

fn invalid(claim: &str, reason: &'static str) -> OidcError {
    OidcError::InvalidClaim {
        claim: claim.to_owned(),
        reason,
    }
}

fn required_str<'a>(claims: &'a Map<String, Value>, claim: &str) -> Result<&'a str, OidcError> {
    optional_str(claims, claim)?.ok_or_else(|| missing(claim))
}

fn optional_str<'a>(
    claims: &'a Map<String, Value>,
    claim: &str,
) -> Result<Option<&'a str>, OidcError> {
    match claims.get(claim) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(claim, "it is not a string")),
    }
}

/// A NumericDate (RFC 7519 §2): seconds since the epoch, possibly with a fraction, which is
/// dropped.
fn numeric_date(claims: &Map<String, Value>, claim: &str) -> Result<Option<i64>, OidcError> {
    match claims.get(claim) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(secs) = n.as_i64() {
                Ok(Some(secs))
            } else {
                // Fractions are allowed; values beyond i64 are not plausible dates.
                match n.as_f64() {
                    Some(f) if f.is_finite() && f.abs() < 1e15 => Ok(Some(f.trunc() as i64)),
                    _ => Err(invalid(claim, "it is not a plausible time")),
                }
            }
        }
        Some(_) => Err(invalid(claim, "it is not a number of seconds")),
    }
}

#[cfg(test)]
mod tests;
