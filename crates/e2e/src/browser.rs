//! A person at a browser without JavaScript, for OIDC logins against the real Dex: follows
//! redirects across hosts (Dex over HTTPS with its CA, the CLI's loopback callback over HTTP),
//! fills in Dex's password form and confirms its device-code form. Nothing of the flow is
//! simulated except the person.

use url::Url;

use crate::raw_http::{RawClient, RawRequest, RawResponse};
use crate::stack::{StackError, StackResult};

/// The person's browser; trusts `ca_pem` for HTTPS.
#[derive(Debug, Clone)]
pub struct Browser {
    ca_pem: String,
}

/// Where browsing ended.
#[derive(Debug)]
pub struct Landing {
    /// The last URL fetched.
    pub url: Url,
    /// What it answered.
    pub page: RawResponse,
}

impl Browser {
    /// A browser trusting `ca_pem` (Dex's CA).
    pub fn new(ca_pem: &str) -> Self {
        Self {
            ca_pem: ca_pem.to_owned(),
        }
    }

    fn fetch(&self, method: &str, url: &Url, form: Option<String>) -> StackResult<RawResponse> {
        let origin = format!(
            "{}://{}:{}",
            url.scheme(),
            url.host_str().unwrap_or(""),
            url.port_or_known_default().unwrap_or(0)
        );
        let client = if url.scheme() == "https" {
            RawClient::https(&origin, &self.ca_pem, None)?
        } else {
            RawClient::http(&origin)?
        };
        let target = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let mut req = RawRequest::new(method, target).header("Accept", "text/html");
        if let Some(form) = form {
            req = req
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(form);
        }
        client.send(&req)
    }

    /// Browses from `start` as `login`/`password` would: follows redirects, logs in on Dex's
    /// password form, confirms the device code, until a page without a form (or an answer that
    /// is not a redirect) is reached.
    pub fn log_in(&self, start: &str, login: &str, password: &str) -> StackResult<Landing> {
        let bad = |what: String, why: String| StackError::unexpected(what, why);
        let mut url = Url::parse(start).map_err(|e| bad(format!("URL {start}"), e.to_string()))?;
        let mut form: Option<String> = None;
        for _ in 0..20 {
            let page = match form.take() {
                Some(f) => self.fetch("POST", &url, Some(f))?,
                None => self.fetch("GET", &url, None)?,
            };
            if (300..400).contains(&page.status) {
                let location = page
                    .header("location")
                    .ok_or_else(|| bad(format!("the redirect from {url}"), page.to_string()))?;
                url = url
                    .join(location)
                    .map_err(|e| bad(format!("Location {location}"), e.to_string()))?;
                continue;
            }
            let text = page.text();
            let Some((action, mut fields)) = first_form(&text).filter(|_| page.status == 200)
            else {
                return Ok(Landing { url, page });
            };
            let names: Vec<String> = fields.iter().map(|(n, _)| n.clone()).collect();
            if names.iter().any(|n| n == "password") {
                if text.contains("Invalid ") {
                    return Err(bad(
                        format!("logging in as {login}"),
                        "Dex refused the password".into(),
                    ));
                }
                for (name, value) in &mut fields {
                    match name.as_str() {
                        "login" => value.clone_from(&login.to_owned()),
                        "password" => value.clone_from(&password.to_owned()),
                        _ => {}
                    }
                }
            } else if !names.iter().any(|n| n == "user_code") {
                return Ok(Landing { url, page });
            }
            form = Some(
                url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(fields.iter().map(|(n, v)| (n.as_str(), v.as_str())))
                    .finish(),
            );
            url = url
                .join(&action)
                .map_err(|e| bad(format!("form action {action}"), e.to_string()))?;
        }
        Err(bad(
            format!("browsing from {start}"),
            format!("more than 20 steps; stuck at {url}"),
        ))
    }
}

/// The first `<form>`'s action and its `<input>` names and values (entities decoded).
fn first_form(html: &str) -> Option<(String, Vec<(String, String)>)> {
    let start = html.find("<form")?;
    let end = html[start..]
        .find("</form>")
        .map_or(html.len(), |e| start + e);
    let form = &html[start..end];
    let tag_end = form.find('>')?;
    let action = attribute(&form[..tag_end], "action").unwrap_or_default();
    let mut inputs: Vec<(String, String)> = Vec::new();
    let mut rest = &form[tag_end..];
    while let Some(i) = rest.find("<input") {
        let tag = &rest[i..];
        let close = tag.find('>').unwrap_or(tag.len());
        let tag = &tag[..close];
        if let Some(name) = attribute(tag, "name") {
            // Dex's device page renders two user_code inputs (one with the value); keep one.
            let value = attribute(tag, "value").unwrap_or_default();
            match inputs.iter_mut().find(|(n, _)| *n == name) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dex_forms_are_read() {
        let html = r#"<form method="post" action="/dex/auth/local/login?back=&amp;state=x">
            <input type="text" name="login" value=""><input name="password" type="password">
            </form>"#;
        let (action, fields) = first_form(html).expect("a form");
        assert_eq!(action, "/dex/auth/local/login?back=&state=x");
        assert_eq!(
            fields,
            vec![
                ("login".into(), String::new()),
                ("password".into(), String::new())
            ]
        );
        let device = r#"<form action="/dex/device/auth/verify_code"><input name="user_code" value="">
            <input name="user_code" value="ABCD-EFGH"></form>"#;
        assert_eq!(
            first_form(device).expect("a form").1,
            vec![("user_code".into(), "ABCD-EFGH".into())]
        );
        assert!(first_form("<p>done</p>").is_none());
    }
}
