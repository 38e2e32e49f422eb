//! The authorization code flow with PKCE and a loopback redirect (RFC 8252 §7.3): a one-shot
//! HTTP listener on `127.0.0.1:<random port>/callback` receives the browser's redirect.
//!
//! The first callback decides: a `state` that is not this login's ends the login (a callback
//! from another tab or site must not be exchanged), an OAuth error ends it, a code is
//! exchanged with the PKCE verifier.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::{IdToken, OidcLogin, id_token_of};
use crate::CliError;
use crate::idp::printable;
use crate::pkce::{Pkce, constant_time_eq, random_token};

/// Path of the loopback redirect.
const CALLBACK_PATH: &str = "/callback";

/// Largest request head the callback listener reads.
const MAX_CALLBACK_HEAD: usize = 16 * 1024;

/// A started login: the browser must visit [`authorization_url`](Self::authorization_url).
#[derive(Debug)]
pub struct PendingAuthCode {
    listener: TcpListener,
    redirect_uri: String,
    authorization_url: String,
    state: String,
    nonce: String,
    pkce: Pkce,
}

impl PendingAuthCode {
    /// Where the person's browser goes to log in.
    pub fn authorization_url(&self) -> &str {
        &self.authorization_url
    }

    /// The loopback URL the provider redirects to.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The nonce the ID token must carry.
    pub fn nonce(&self) -> &str {
        &self.nonce
    }
}

/// The query of the redirect (RFC 6749 §4.1.2, §4.1.2.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallbackParams {
    /// The authorization code.
    pub code: Option<String>,
    /// The state the login sent, echoed.
    pub state: Option<String>,
    /// An OAuth error code instead of a code.
    pub error: Option<String>,
    /// Its description.
    pub error_description: Option<String>,
}

impl CallbackParams {
    /// Reads the parameters from a query string (without `?`).
    pub fn from_query(query: &str) -> Self {
        let mut out = Self::default();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let slot = match key.as_ref() {
                "code" => &mut out.code,
                "state" => &mut out.state,
                "error" => &mut out.error,
                "error_description" => &mut out.error_description,
                _ => continue,
            };
            // A repeated parameter is ambiguous; keep the first and let the checks decide.
            if slot.is_none() {
                *slot = Some(value.into_owned());
            }
        }
        out
    }

    /// The code, if the callback belongs to this login and carries one. The state is checked
    /// first, so that nobody else's callback — not even an error — is believed.
    pub fn check(self, expected_state: &str) -> Result<String, CliError> {
        match &self.state {
            Some(state) if constant_time_eq(state, expected_state) => {}
            _ => return Err(CliError::StateMismatch),
        }
        if let Some(error) = self.error {
            return Err(CliError::AuthorizationFailed {
                error: printable(&error, 64),
                description: self.error_description.map(|d| printable(&d, 300)),
            });
        }
        match self.code {
            Some(code) if !code.is_empty() => Ok(code),
            _ => Err(CliError::AuthorizationFailed {
                error: "the callback carried no code".to_owned(),
                description: None,
            }),
        }
    }
}

impl OidcLogin {
    /// Listens on a random loopback port and builds the authorization URL (with `state`,
    /// `nonce` and the PKCE challenge).
    pub async fn start_auth_code(&self) -> Result<PendingAuthCode, CliError> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|source| CliError::CallbackListener { source })?;
        let port = listener
            .local_addr()
            .map_err(|source| CliError::CallbackListener { source })?
            .port();
        let redirect_uri = format!("http://127.0.0.1:{port}{CALLBACK_PATH}");
        let state = random_token(32)?;
        let nonce = random_token(32)?;
        let pkce = Pkce::generate()?;
        let mut url = url::Url::parse(&self.discovery.authorization_endpoint).map_err(|e| {
            CliError::Discovery {
                issuer: self.settings.issuer.clone(),
                reason: format!("its authorization_endpoint is not a URL ({e})"),
            }
        })?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("redirect_uri", &redirect_uri)
            .append_pair("scope", &self.scope())
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", pkce.challenge())
            .append_pair("code_challenge_method", pkce.method());
        Ok(PendingAuthCode {
            listener,
            redirect_uri,
            authorization_url: url.into(),
            state,
            nonce,
            pkce,
        })
    }

    /// Waits up to `timeout` for the browser's redirect, exchanges the code, and verifies the
    /// ID token (nonce included).
    pub async fn finish_auth_code(
        &self,
        pending: PendingAuthCode,
        timeout: Duration,
    ) -> Result<IdToken, CliError> {
        let PendingAuthCode {
            listener,
            redirect_uri,
            state,
            nonce,
            pkce,
            ..
        } = pending;
        let code = receive_callback(listener, state, timeout).await?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
            ("code_verifier", pkce.verifier()),
        ];
        let basic = self.basic();
        if basic.is_none() {
            form.push(("client_id", self.settings.client_id.as_str()));
        }
        let answer = self
            .http
            .post_form(&self.discovery.token_endpoint, &form, basic)
            .await?;
        if answer.status != 200 {
            return Err(answer.refusal());
        }
        let raw = id_token_of(&answer.body)?;
        self.verify(raw, Some(&nonce)).await
    }
}

/// Serves the loopback listener until the first callback, and returns its checked code.
async fn receive_callback(
    listener: TcpListener,
    expected_state: String,
    timeout: Duration,
) -> Result<String, CliError> {
    let (tx, mut rx) = mpsc::channel::<Result<String, CliError>>(1);
    let expected_state: Arc<str> = expected_state.into();
    let accept = async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tx = tx.clone();
            let expected_state = Arc::clone(&expected_state);
            tokio::spawn(async move {
                let service = service_fn(move |req: http::Request<Incoming>| {
                    let tx = tx.clone();
                    let expected_state = Arc::clone(&expected_state);
                    async move { Ok::<_, Infallible>(answer_callback(&req, &expected_state, &tx)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .max_buf_size(MAX_CALLBACK_HEAD)
                    .keep_alive(false)
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(10))
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    };
    tokio::select! {
        result = rx.recv() => result.unwrap_or(Err(CliError::StateMismatch)),
        () = accept => Err(CliError::CallbackListener {
            source: std::io::Error::other("the listener stopped accepting connections"),
        }),
        () = tokio::time::sleep(timeout) => Err(CliError::LoginTimeout {
            after: timeout,
            hint: " (or use --device-code if the browser cannot reach this machine)",
        }),
    }
}

/// The page for one request to the listener; a request to the callback path also reports its
/// outcome on `tx` (only the first report counts).
fn answer_callback(
    req: &http::Request<Incoming>,
    expected_state: &str,
    tx: &mpsc::Sender<Result<String, CliError>>,
) -> Response<Full<Bytes>> {
    if req.method() != http::Method::GET || req.uri().path() != CALLBACK_PATH {
        return page(
            StatusCode::NOT_FOUND,
            "Not found",
            "This is kubectl jit's login callback.",
        );
    }
    let params = CallbackParams::from_query(req.uri().query().unwrap_or(""));
    let result = params.check(expected_state);
    let response = match &result {
        Ok(_) => page(
            StatusCode::OK,
            "Logged in",
            "kubectl jit received your login. You can close this tab and return to the terminal.",
        ),
        Err(CliError::StateMismatch) => page(
            StatusCode::BAD_REQUEST,
            "Login refused",
            "This callback does not belong to the running kubectl jit login. Run kubectl jit login again.",
        ),
        Err(_) => page(
            StatusCode::BAD_REQUEST,
            "Login failed",
            "The identity provider did not log you in. The terminal says why; run kubectl jit login again.",
        ),
    };
    let _ = tx.try_send(result);
    response
}

fn page(status: StatusCode, title: &str, text: &str) -> Response<Full<Bytes>> {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body style=\"font-family:sans-serif;margin:3em\"><h1>{title}</h1><p>{text}</p></body></html>\n"
    );
    let mut response = Response::new(Full::new(Bytes::from(html)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    headers.insert(
        "referrer-policy",
        http::HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callbacks_are_checked_state_first() {
        let cases: &[(&str, &str, Result<&str, &str>)] = &[
            ("good", "code=abc&state=s1", Ok("abc")),
            (
                "extra params ignored",
                "state=s1&code=abc&session_state=x",
                Ok("abc"),
            ),
            (
                "wrong state",
                "code=abc&state=s2",
                Err("does not belong to this login"),
            ),
            (
                "missing state",
                "code=abc",
                Err("does not belong to this login"),
            ),
            (
                "error with wrong state is not believed",
                "error=access_denied&state=evil",
                Err("does not belong to this login"),
            ),
            (
                "error",
                "error=access_denied&error_description=User+said+no&state=s1",
                Err("access_denied (User said no)"),
            ),
            ("no code", "state=s1", Err("carried no code")),
            ("empty code", "state=s1&code=", Err("carried no code")),
            (
                "repeated state keeps the first",
                "state=s2&state=s1&code=abc",
                Err("does not belong"),
            ),
        ];
        for (name, query, want) in cases {
            let got = CallbackParams::from_query(query)
                .check("s1")
                .map_err(|e| e.to_string());
            match want {
                Ok(code) => assert_eq!(got.as_deref(), Ok(*code), "{name}"),
                Err(w) => assert!(
                    got.as_ref().is_err_and(|e| e.contains(w)),
                    "{name}: {got:?}"
                ),
            }
        }
    }
}
