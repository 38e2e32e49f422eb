//! The stack's Dex, a real OIDC provider: ID tokens by the password grant, and its signing keys.

use std::path::Path;

use base64::Engine as _;
use serde_json::Value;

use crate::raw_http::{RawClient, RawRequest};
use crate::stack::{StackError, StackResult};

/// Dex as `scripts/dex.sh up` describes it in its folder.
#[derive(Debug, Clone)]
pub struct Dex {
    /// The issuer URL, exactly as in its tokens' `iss`.
    pub issuer: String,
    /// The client id (the tokens' `aud`).
    pub client_id: String,
    client_secret: String,
    client: RawClient,
}

impl Dex {
    /// Reads `issuer`, `ca.crt` and `client.json` from Dex's folder.
    pub fn from_dir(dir: &Path) -> StackResult<Self> {
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name)).map_err(|e| {
                StackError::io(
                    format!("reading {} (is Dex up?)", dir.join(name).display()),
                    e,
                )
            })
        };
        let issuer = read("issuer")?.trim().to_owned();
        let ca = read("ca.crt")?;
        let client: Value = serde_json::from_str(&read("client.json")?)
            .map_err(|e| StackError::unexpected("Dex's client.json", e.to_string()))?;
        let field = |k: &str| {
            client[k]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| StackError::unexpected("Dex's client.json", format!("no {k}")))
        };
        Ok(Self {
            client: RawClient::https(&issuer, &ca, None)?,
            client_id: field("clientID")?,
            client_secret: field("clientSecret")?,
            issuer,
        })
    }

    /// An ID token for `username` (Dex's local connector takes the email) by the password
    /// grant, with scopes `openid email profile groups`.
    pub fn id_token(&self, username: &str, password: &str) -> StackResult<String> {
        let form = [
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
            ("scope", "openid email profile groups"),
        ]
        .iter()
        .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.client_id, self.client_secret));
        let path = format!("{}/token", self.client.endpoint().prefix);
        let resp = self.client.send(
            &RawRequest::new("POST", path.as_str())
                .header("Authorization", &format!("Basic {basic}"))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .header("Accept", "application/json")
                .body(form),
        )?;
        let json = resp.json().filter(|_| resp.status == 200).ok_or_else(|| {
            StackError::unexpected(
                format!("Dex's token response for {username}"),
                resp.to_string(),
            )
        })?;
        json["id_token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| StackError::unexpected("Dex's token response", json.to_string()))
    }

    /// Dex's JSON Web Key Set, found through discovery.
    pub fn jwks(&self) -> StackResult<Value> {
        let prefix = &self.client.endpoint().prefix;
        let disco = self
            .client
            .get(&format!("{prefix}/.well-known/openid-configuration"))?;
        let uri = disco
            .json()
            .and_then(|d| d["jwks_uri"].as_str().map(str::to_owned))
            .ok_or_else(|| StackError::unexpected("Dex discovery", disco.to_string()))?;
        let path = uri
            .find("://")
            .and_then(|i| uri[i + 3..].find('/').map(|j| uri[i + 3 + j..].to_owned()))
            .ok_or_else(|| StackError::unexpected("Dex's jwks_uri", uri.clone()))?;
        let keys = self.client.get(&path)?;
        keys.json()
            .filter(|_| keys.status == 200)
            .ok_or_else(|| StackError::unexpected("Dex's JWKS", keys.to_string()))
    }
}

/// `application/x-www-form-urlencoded` for one key or value.
pub fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::form_encode;

    #[test]
    fn form_values_are_encoded() {
        assert_eq!(form_encode("alice@example.com"), "alice%40example.com");
        assert_eq!(form_encode("openid email"), "openid+email");
    }
}
