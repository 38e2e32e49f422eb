//! The device authorization grant (RFC 8628): the person enters a short code on the provider's
//! page, on any device, while `kubectl jit` polls the token endpoint.
//!
//! [`DevicePoll`] is the polling rule without I/O (§3.5): keep the interval on
//! `authorization_pending`, add 5 s on `slow_down`, stop on `expired_token`, `access_denied` or
//! any other error.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

use super::{IdToken, OidcLogin, id_token_of};
use crate::CliError;
use crate::idp::{FormAnswer, printable};

/// RFC 8628 §3.2: the interval when the provider names none.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// RFC 8628 §3.5: what `slow_down` adds.
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

/// No provider needs a client to wait longer than this between polls.
const MAX_INTERVAL: Duration = Duration::from_secs(60);

/// The longest device login allowed, whatever the provider says.
const MAX_EXPIRES_IN: Duration = Duration::from_secs(30 * 60);

/// The device authorization response (RFC 8628 §3.2).
#[derive(Deserialize)]
struct DeviceAuthorization {
    device_code: String,
    user_code: String,
    #[serde(alias = "verification_url")]
    verification_uri: String,
    #[serde(default)]
    verification_uri_complete: Option<String>,
    expires_in: u64,
    #[serde(default)]
    interval: Option<u64>,
}

/// A started device login: show [`user_code`](Self::user_code) and
/// [`verification_uri`](Self::verification_uri) to the person.
pub struct PendingDevice {
    device_code: String,
    /// The code the person types.
    pub user_code: String,
    /// Where they type it.
    pub verification_uri: String,
    /// The same page with the code filled in, if the provider offers one.
    pub verification_uri_complete: Option<String>,
    /// How long the code is valid.
    pub expires_in: Duration,
    interval: Duration,
}

impl fmt::Debug for PendingDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingDevice")
            .field("device_code", &"[secret]")
            .field("user_code", &self.user_code)
            .field("verification_uri", &self.verification_uri)
            .field("expires_in", &self.expires_in)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

/// What to do after one poll.
#[derive(Debug)]
pub enum PollStep {
    /// Poll again after this long.
    Wait(Duration),
    /// The token response's `id_token`.
    Done(String),
    /// Stop: the login failed.
    Fail(CliError),
}

/// The polling rule of RFC 8628 §3.5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevicePoll {
    interval: Duration,
}

impl DevicePoll {
    /// Starts with the provider's `interval` (5 s if it gave none; at least 1 s, at most 60 s).
    pub fn new(interval: Option<Duration>) -> Self {
        Self {
            interval: interval
                .unwrap_or(DEFAULT_INTERVAL)
                .clamp(Duration::from_secs(1), MAX_INTERVAL),
        }
    }

    /// The current interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Decides on one answer of the token endpoint.
    pub fn on_answer(&mut self, status: u16, body: &[u8]) -> PollStep {
        let answer = FormAnswer {
            status,
            body: bytes::Bytes::copy_from_slice(body),
        };
        if status == 200 {
            return match id_token_of(body) {
                Ok(token) => PollStep::Done(token),
                Err(e) => PollStep::Fail(e),
            };
        }
        let Some(error) = answer.oauth_error() else {
            return PollStep::Fail(answer.refusal());
        };
        match error.error.as_str() {
            "authorization_pending" => PollStep::Wait(self.interval),
            "slow_down" => {
                self.interval = (self.interval + SLOW_DOWN_STEP).min(MAX_INTERVAL);
                PollStep::Wait(self.interval)
            }
            "expired_token" => PollStep::Fail(CliError::DeviceLogin {
                reason: "the code expired before the login was completed".to_owned(),
            }),
            "access_denied" => PollStep::Fail(CliError::DeviceLogin {
                reason: "the login was declined on the provider's page".to_owned(),
            }),
            _ => PollStep::Fail(answer.refusal()),
        }
    }
}

impl OidcLogin {
    /// Asks the provider for a device code and a user code.
    pub async fn start_device(&self) -> Result<PendingDevice, CliError> {
        let endpoint = self
            .discovery
            .device_authorization_endpoint
            .clone()
            .ok_or_else(|| CliError::Discovery {
                issuer: self.settings.issuer.clone(),
                reason: "it offers no device login (no device_authorization_endpoint); log in with the browser instead (without --device-code)".to_owned(),
            })?;
        let scope = self.scope();
        let mut form = vec![
            ("client_id", self.settings.client_id.as_str()),
            ("scope", scope.as_str()),
        ];
        // Client authentication in the body (RFC 6749 §2.3.1), which Dex requires here.
        if let Some(secret) = self.settings.client_secret.as_deref() {
            form.push(("client_secret", secret));
        }
        let answer = self.http.post_form(&endpoint, &form, None).await?;
        if answer.status != 200 {
            return Err(answer.refusal());
        }
        let auth: DeviceAuthorization =
            serde_json::from_slice(&answer.body).map_err(|e| CliError::DeviceLogin {
                reason: format!("the provider's device authorization answer is unusable ({e})"),
            })?;
        if auth.device_code.is_empty() || auth.user_code.is_empty() {
            return Err(CliError::DeviceLogin {
                reason: "the provider sent no device or user code".to_owned(),
            });
        }
        if !auth.verification_uri.starts_with("https://") {
            return Err(CliError::DeviceLogin {
                reason: "the provider's verification page is not an https:// URL".to_owned(),
            });
        }
        Ok(PendingDevice {
            device_code: auth.device_code,
            user_code: printable(&auth.user_code, 64),
            verification_uri: printable(&auth.verification_uri, 2048),
            verification_uri_complete: auth
                .verification_uri_complete
                .filter(|u| u.starts_with("https://"))
                .map(|u| printable(&u, 2048)),
            expires_in: Duration::from_secs(auth.expires_in).min(MAX_EXPIRES_IN),
            interval: DevicePoll::new(auth.interval.map(Duration::from_secs)).interval(),
        })
    }

    /// Polls until the person has logged in on the provider's page, and verifies the ID token.
    /// (The device flow carries no nonce; the token is checked for issuer, audience, expiry
    /// and signature.)
    pub async fn finish_device(&self, pending: PendingDevice) -> Result<IdToken, CliError> {
        let deadline = Instant::now() + pending.expires_in;
        let mut poll = DevicePoll::new(Some(pending.interval));
        let basic = self.basic();
        let mut form = vec![
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", pending.device_code.as_str()),
        ];
        if basic.is_none() {
            form.push(("client_id", self.settings.client_id.as_str()));
        }
        let mut wait = poll.interval();
        loop {
            if Instant::now() + wait >= deadline {
                return Err(CliError::DeviceLogin {
                    reason: format!(
                        "the code expired after {}s before the login was completed",
                        pending.expires_in.as_secs()
                    ),
                });
            }
            tokio::time::sleep(wait).await;
            let answer = self
                .http
                .post_form(&self.discovery.token_endpoint, &form, basic)
                .await?;
            match poll.on_answer(answer.status, &answer.body) {
                PollStep::Wait(next) => wait = next,
                PollStep::Done(raw) => return self.verify(raw, None).await,
                PollStep::Fail(err) => return Err(err),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polling_follows_rfc_8628() {
        let mut poll = DevicePoll::new(Some(Duration::from_secs(5)));
        let pending = br#"{"error":"authorization_pending"}"#;
        let slow = br#"{"error":"slow_down"}"#;
        assert!(
            matches!(poll.on_answer(400, pending), PollStep::Wait(d) if d == Duration::from_secs(5))
        );
        assert!(
            matches!(poll.on_answer(400, slow), PollStep::Wait(d) if d == Duration::from_secs(10))
        );
        assert!(
            matches!(poll.on_answer(400, pending), PollStep::Wait(d) if d == Duration::from_secs(10)),
            "slow_down lasts"
        );
        assert!(
            matches!(poll.on_answer(400, slow), PollStep::Wait(d) if d == Duration::from_secs(15))
        );
        match poll.on_answer(200, br#"{"id_token":"h.p.s","token_type":"bearer"}"#) {
            PollStep::Done(t) => assert_eq!(t, "h.p.s"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn polling_stops_on_final_errors() {
        let cases: &[(&str, u16, &[u8], &str)] = &[
            (
                "expired",
                400,
                br#"{"error":"expired_token"}"#,
                "the code expired",
            ),
            ("denied", 400, br#"{"error":"access_denied"}"#, "declined"),
            (
                "other oauth error",
                400,
                br#"{"error":"invalid_request","error_description":"Invalid Device code."}"#,
                "invalid_request (Invalid Device code.)",
            ),
            ("not json", 500, b"oops", "HTTP 500"),
            (
                "no id token",
                200,
                br#"{"access_token":"x"}"#,
                "no id_token",
            ),
        ];
        for (name, status, body, want) in cases {
            let mut poll = DevicePoll::new(None);
            match poll.on_answer(*status, body) {
                PollStep::Fail(e) => assert!(e.to_string().contains(want), "{name}: {e}"),
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn interval_is_bounded() {
        assert_eq!(DevicePoll::new(None).interval(), Duration::from_secs(5));
        assert_eq!(
            DevicePoll::new(Some(Duration::ZERO)).interval(),
            Duration::from_secs(1)
        );
        let mut poll = DevicePoll::new(Some(Duration::from_secs(58)));
        assert!(
            matches!(poll.on_answer(400, br#"{"error":"slow_down"}"#), PollStep::Wait(d) if d == MAX_INTERVAL)
        );
    }
}
