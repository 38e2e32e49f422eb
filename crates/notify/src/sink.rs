//! Where notifications go: a signed generic webhook or a Slack-compatible incoming webhook, and
//! the request body and headers each one gets.

use std::fmt;
use std::net::IpAddr;

use bytes::Bytes;
use http::Uri;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue, USER_AGENT};

use crate::NotifyError;
use crate::notification::Notification;
use crate::slack::slack_payload;
use crate::webhook::{EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, webhook_body};

/// The shortest webhook secret accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 16;
const MAX_SECRET_LEN: usize = 1_024;
const MAX_NAME_LEN: usize = 64;
const MAX_URL_LEN: usize = 2_048;

/// What kind of receiver a sink is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkKind {
    /// The generic webhook: versioned JSON, HMAC-signed.
    Webhook,
    /// A Slack (or Slack-compatible) incoming webhook.
    Slack,
}

#[derive(Clone)]
enum Target {
    Webhook { secret: Vec<u8> },
    Slack { urgent_mention: Option<String> },
}

/// One configured receiver of notifications.
///
/// `Debug` shows neither the secret nor the URL's path (a Slack webhook's path is its secret).
#[derive(Clone)]
pub struct Sink {
    name: String,
    target: Target,
    url: Uri,
    endpoint: String,
    ca_pem: Option<Vec<u8>>,
}

impl fmt::Debug for Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sink")
            .field("name", &self.name)
            .field("kind", &self.kind())
            .field("endpoint", &self.endpoint)
            .field("custom_ca", &self.ca_pem.is_some())
            .finish_non_exhaustive()
    }
}

impl Sink {
    /// A generic webhook at `url`, signed with `secret` (at least [`MIN_SECRET_LEN`] bytes;
    /// e.g. `openssl rand -hex 32`).
    pub fn webhook(
        name: impl Into<String>,
        url: &str,
        secret: impl Into<Vec<u8>>,
    ) -> Result<Self, NotifyError> {
        let name = sink_name(name.into())?;
        let secret = secret.into();
        if secret.len() < MIN_SECRET_LEN || secret.len() > MAX_SECRET_LEN {
            return Err(NotifyError::InvalidSink {
                sink: name,
                problem: format!(
                    "the secret is {} bytes; use {MIN_SECRET_LEN} to {MAX_SECRET_LEN} random bytes \
                     (e.g. the output of `openssl rand -hex 32`)",
                    secret.len()
                ),
            });
        }
        let (url, endpoint) = sink_url(&name, url)?;
        Ok(Self {
            name,
            target: Target::Webhook { secret },
            url,
            endpoint,
            ca_pem: None,
        })
    }

    /// A Slack incoming webhook (or a Slack-compatible one: Mattermost, Rocket.Chat ...).
    pub fn slack(name: impl Into<String>, url: &str) -> Result<Self, NotifyError> {
        let name = sink_name(name.into())?;
        let (url, endpoint) = sink_url(&name, url)?;
        Ok(Self {
            name,
            target: Target::Slack {
                urgent_mention: None,
            },
            url,
            endpoint,
            ca_pem: None,
        })
    }

    /// Trusts only the PEM certificates in `pem` for this sink, instead of the bundled public
    /// roots (for a receiver behind a private CA). Checked when the notifier starts.
    #[must_use]
    pub fn with_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pem = Some(pem.into());
        self
    }

    /// For a Slack sink: what to put in front of urgent messages so people are paged, e.g.
    /// `<!here>`, `<!channel>`, `<!subteam^S0123>` or `<@U0123>`.
    pub fn with_urgent_mention(mut self, mention: &str) -> Result<Self, NotifyError> {
        let mention = mention.trim();
        let valid = mention.len() <= 64
            && (mention.starts_with("<!") || mention.starts_with("<@"))
            && mention.ends_with('>')
            && mention[1..mention.len() - 1]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!@^|-_".contains(c));
        if !valid {
            return Err(NotifyError::InvalidSink {
                sink: self.name.clone(),
                problem: format!(
                    "{mention:?} is not a Slack mention; use <!here>, <!channel>, \
                     <!subteam^ID> or <@USERID>"
                ),
            });
        }
        match &mut self.target {
            Target::Slack { urgent_mention } => *urgent_mention = Some(mention.to_owned()),
            Target::Webhook { .. } => {
                return Err(NotifyError::InvalidSink {
                    sink: self.name.clone(),
                    problem: "an urgent mention is for Slack sinks; webhook receivers get \
                              `\"urgent\": true` in the body"
                        .into(),
                });
            }
        }
        Ok(self)
    }

    /// The sink's name, as reports and errors use it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What kind of receiver it is.
    pub fn kind(&self) -> SinkKind {
        match self.target {
            Target::Webhook { .. } => SinkKind::Webhook,
            Target::Slack { .. } => SinkKind::Slack,
        }
    }

    /// `scheme://host:port` of the receiver: safe to print, unlike the full URL.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub(crate) fn url(&self) -> &Uri {
        &self.url
    }

    pub(crate) fn ca_pem(&self) -> Option<&[u8]> {
        self.ca_pem.as_deref()
    }

    /// The request body this sink gets for `n`. The same for every attempt.
    pub fn body(&self, n: &Notification) -> Result<Bytes, NotifyError> {
        match &self.target {
            Target::Webhook { .. } => webhook_body(n).map(Bytes::from),
            Target::Slack { urgent_mention } => {
                serde_json::to_vec(&slack_payload(n, urgent_mention.as_deref()))
                    .map(Bytes::from)
                    .map_err(|source| NotifyError::Render { source })
            }
        }
    }

    /// The headers for one attempt at `now_unix` (seconds): content type, user agent, and for
    /// webhooks the event, timestamp and signature over `body`.
    pub fn headers(
        &self,
        n: &Notification,
        body: &[u8],
        now_unix: u64,
    ) -> Vec<(HeaderName, HeaderValue)> {
        let mut headers = vec![
            (CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (
                USER_AGENT,
                HeaderValue::from_static(concat!("jitgate/", env!("CARGO_PKG_VERSION"))),
            ),
        ];
        if let Target::Webhook { secret } = &self.target {
            headers.push((
                HeaderName::from_static(EVENT_HEADER),
                HeaderValue::from_static(n.event.as_str()),
            ));
            headers.push((
                HeaderName::from_static(TIMESTAMP_HEADER),
                HeaderValue::from(now_unix),
            ));
            // Hex and `sha256=` only: always a valid header value.
            if let Ok(sig) = HeaderValue::from_str(&sign(secret, now_unix, body)) {
                headers.push((HeaderName::from_static(SIGNATURE_HEADER), sig));
            }
        }
        headers
    }
}

fn sink_name(name: String) -> Result<String, NotifyError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(name)
    } else {
        Err(NotifyError::InvalidSink {
            problem: format!(
                "the name must be 1 to {MAX_NAME_LEN} letters, digits, '-', '_' or '.', e.g. \
                 security-webhook"
            ),
            sink: name,
        })
    }
}

/// Checks a sink URL: https anywhere, http only to loopback (tests), no credentials in it.
fn sink_url(name: &str, text: &str) -> Result<(Uri, String), NotifyError> {
    let bad = |problem: String| NotifyError::InvalidSink {
        sink: name.to_owned(),
        problem,
    };
    let text = text.trim();
    if text.len() > MAX_URL_LEN {
        return Err(bad(format!("the URL is longer than {MAX_URL_LEN} bytes")));
    }
    let url: Uri = text.parse().map_err(|e| {
        bad(format!(
            "the URL is not valid ({e}); write e.g. https://hooks.example.com/jitgate"
        ))
    })?;
    let authority = url.authority().ok_or_else(|| {
        bad("the URL has no host; write e.g. https://hooks.example.com/jitgate".into())
    })?;
    if authority.as_str().contains('@') {
        return Err(bad(
            "the URL carries user information; use the webhook secret instead".into(),
        ));
    }
    let loopback = {
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        host.eq_ignore_ascii_case("localhost")
            || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    };
    match url.scheme_str() {
        Some("https") => {}
        Some("http") if loopback => {}
        Some("http") => {
            return Err(bad(
                "plain http to a host that is not loopback would expose notifications (and a \
                 Slack URL's secret path); use https"
                    .into(),
            ));
        }
        _ => return Err(bad("the URL must start with https://".into())),
    }
    let endpoint = format!("{}://{authority}", url.scheme_str().unwrap_or("https"));
    Ok((url, endpoint))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sink_configuration_errors() {
        let secret = "s".repeat(32);
        let cases: Vec<(&str, Result<Sink, NotifyError>, &str)> = vec![
            (
                "short secret",
                Sink::webhook("w", "https://h.example/x", "short"),
                "5 bytes",
            ),
            (
                "plain http",
                Sink::webhook("w", "http://h.example/x", secret.clone()),
                "use https",
            ),
            (
                "private address http",
                Sink::slack("s", "http://10.1.2.3/hook"),
                "use https",
            ),
            (
                "no scheme",
                Sink::slack("s", "hooks.slack.com/services/x"),
                "https://",
            ),
            (
                "userinfo",
                Sink::slack("s", "https://u:p@h.example/"),
                "user information",
            ),
            (
                "bad name",
                Sink::slack("no spaces", "https://h.example/"),
                "name must be",
            ),
            (
                "empty name",
                Sink::slack("", "https://h.example/"),
                "name must be",
            ),
            (
                "mention on webhook",
                Sink::webhook("w", "https://h.example/", secret.clone())
                    .and_then(|s| s.with_urgent_mention("<!here>")),
                "for Slack sinks",
            ),
            (
                "bad mention",
                Sink::slack("s", "https://h.example/").and_then(|s| s.with_urgent_mention("@here")),
                "not a Slack mention",
            ),
        ];
        for (name, got, want) in cases {
            match got {
                Ok(s) => panic!("{name}: accepted {s:?}"),
                Err(e) => assert!(e.to_string().contains(want), "{name}: {e}"),
            }
        }
        assert!(Sink::webhook("w", "http://127.0.0.1:9/x", secret).is_ok());
        assert!(
            Sink::slack("s", "https://hooks.slack.com/services/T/B/X")
                .unwrap()
                .with_urgent_mention("<!subteam^S0123|oncall>")
                .is_ok()
        );
    }

    #[test]
    fn debug_hides_secrets() {
        let s = Sink::webhook(
            "w",
            "https://h.example/very-secret-path",
            "super-secret-value-123",
        )
        .unwrap();
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("very-secret-path") && !shown.contains("super-secret"),
            "{shown}"
        );
        assert!(shown.contains("https://h.example"));
    }
}
