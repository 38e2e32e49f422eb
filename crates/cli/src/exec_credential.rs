//! The client-go credential plugin protocol (`client.authentication.k8s.io/v1`): what kubectl
//! tells the plugin in `KUBERNETES_EXEC_INFO`, and the `ExecCredential` the plugin prints.

use serde::{Deserialize, Serialize};

use jitgate_api::Timestamp;

use crate::CliError;
use crate::cache::{CachedCredential, EXPIRY_MARGIN};

/// The only API version written and accepted.
pub const EXEC_API_VERSION: &str = "client.authentication.k8s.io/v1";

/// The variable kubectl sets for exec plugins.
pub const EXEC_INFO_ENV: &str = "KUBERNETES_EXEC_INFO";

/// Largest `KUBERNETES_EXEC_INFO` read (it may carry cluster info with a CA bundle).
const MAX_EXEC_INFO_BYTES: usize = 1024 * 1024;

/// The credential printed on stdout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecCredential {
    /// [`EXEC_API_VERSION`].
    pub api_version: String,
    /// `ExecCredential`.
    pub kind: String,
    /// The credential.
    pub status: ExecCredentialStatus,
}

/// `status` of an [`ExecCredential`].
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecCredentialStatus {
    /// The client certificate, PEM.
    pub client_certificate_data: String,
    /// Its private key, PEM.
    pub client_key_data: String,
    /// When kubectl must ask again: a minute before the certificate ends.
    pub expiration_timestamp: Timestamp,
}

impl std::fmt::Debug for ExecCredentialStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecCredentialStatus")
            .field("expiration_timestamp", &self.expiration_timestamp)
            .field("client_key_data", &"[secret]")
            .finish_non_exhaustive()
    }
}

impl ExecCredential {
    /// The credential for a cached certificate. kubectl calls the plugin again at
    /// `expirationTimestamp`, which is [`EXPIRY_MARGIN`] before the certificate ends.
    pub fn for_cached(cred: &CachedCredential) -> Self {
        Self {
            api_version: EXEC_API_VERSION.to_owned(),
            kind: "ExecCredential".to_owned(),
            status: ExecCredentialStatus {
                client_certificate_data: cred.certificate.clone(),
                client_key_data: cred.private_key.clone(),
                expiration_timestamp: cred.expires_at.minus(EXPIRY_MARGIN),
            },
        }
    }

    /// The JSON kubectl reads.
    pub fn to_json(&self) -> Result<String, CliError> {
        serde_json::to_string(self).map_err(|e| CliError::Output(e.to_string()))
    }
}

/// What kubectl says about the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecInfo {
    /// Whether the plugin may talk to the person (kubectl's stdin is a terminal and
    /// `interactiveMode` allows it).
    pub interactive: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecInfoJson {
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    spec: Option<ExecInfoSpec>,
}

#[derive(Deserialize)]
struct ExecInfoSpec {
    #[serde(default)]
    interactive: bool,
}

impl ExecInfo {
    /// Reads `KUBERNETES_EXEC_INFO`. Unset means not interactive (run by hand or by another
    /// tool); anything malformed or of another API version is an error.
    pub fn parse(value: Option<&str>) -> Result<Self, CliError> {
        let Some(text) = value.filter(|v| !v.trim().is_empty()) else {
            return Ok(Self { interactive: false });
        };
        let fail = |reason: String| CliError::ExecInfo { reason };
        if text.len() > MAX_EXEC_INFO_BYTES {
            return Err(fail(format!(
                "it is larger than {MAX_EXEC_INFO_BYTES} bytes"
            )));
        }
        let info: ExecInfoJson =
            serde_json::from_str(text).map_err(|e| fail(format!("it is not JSON ({e})")))?;
        if info.kind.as_deref().is_some_and(|k| k != "ExecCredential") {
            return Err(fail("its kind is not ExecCredential".to_owned()));
        }
        match info.api_version.as_deref() {
            Some(EXEC_API_VERSION) | None => {}
            Some(other) => {
                return Err(fail(format!(
                    "it asks for {other:?}, but kubectl jit speaks only {EXEC_API_VERSION}"
                )));
            }
        }
        Ok(Self {
            interactive: info.spec.is_some_and(|s| s.interactive),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::testing::issued_credential;

    #[test]
    fn exec_credential_is_what_client_go_reads() {
        let cred = issued_credential("https://gw", Duration::from_secs(3600));
        let json: serde_json::Value =
            serde_json::from_str(&ExecCredential::for_cached(&cred).to_json().unwrap()).unwrap();
        assert_eq!(json["apiVersion"], "client.authentication.k8s.io/v1");
        assert_eq!(json["kind"], "ExecCredential");
        let status = json["status"].as_object().unwrap();
        let mut keys: Vec<&str> = status.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "clientCertificateData",
                "clientKeyData",
                "expirationTimestamp"
            ]
        );
        assert!(
            status["clientCertificateData"]
                .as_str()
                .unwrap()
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        assert!(
            status["clientKeyData"]
                .as_str()
                .unwrap()
                .contains("PRIVATE KEY-----")
        );
        let expires = Timestamp::parse(status["expirationTimestamp"].as_str().unwrap()).unwrap();
        assert_eq!(expires, cred.expires_at.minus(Duration::from_secs(60)));
        assert!(
            status["expirationTimestamp"]
                .as_str()
                .unwrap()
                .ends_with('Z')
        );
    }

    #[test]
    fn exec_info_cases() {
        let cases: &[(&str, Option<&str>, Result<bool, &str>)] = &[
            ("unset", None, Ok(false)),
            ("empty", Some(""), Ok(false)),
            (
                "interactive",
                Some(
                    r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":true}}"#,
                ),
                Ok(true),
            ),
            (
                "not interactive",
                Some(
                    r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}"#,
                ),
                Ok(false),
            ),
            (
                "no spec",
                Some(r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1"}"#),
                Ok(false),
            ),
            (
                "with cluster info",
                Some(
                    r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":true,"cluster":{"server":"https://x"}}}"#,
                ),
                Ok(true),
            ),
            (
                "beta",
                Some(
                    r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{}}"#,
                ),
                Err("speaks only client.authentication.k8s.io/v1"),
            ),
            ("garbage", Some("{"), Err("not JSON")),
            (
                "wrong kind",
                Some(r#"{"kind":"Pod"}"#),
                Err("kind is not ExecCredential"),
            ),
        ];
        for (name, value, want) in cases {
            let got = ExecInfo::parse(*value)
                .map(|i| i.interactive)
                .map_err(|e| e.to_string());
            match want {
                Ok(w) => assert_eq!(got, Ok(*w), "{name}"),
                Err(w) => assert!(
                    got.as_ref().is_err_and(|e| e.contains(w)),
                    "{name}: {got:?}"
                ),
            }
        }
    }
}
