//! A kubeconfig that points kubectl at the gateway with an embedded client certificate.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Renders a kubeconfig (YAML) with one cluster, one user and one context, all named
/// `context_name`, the certificates and key embedded as base64 `*-data` fields, and that
/// context selected. Write it with [`write_private_file`](crate::write_private_file): it
/// holds a private key.
pub fn kubeconfig_for(
    server_url: &str,
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
    context_name: &str,
    namespace: Option<&str>,
) -> String {
    let name = yaml_quote(context_name);
    let mut out = String::new();
    out.push_str("apiVersion: v1\nkind: Config\n");
    out.push_str("clusters:\n");
    out.push_str(&format!("- name: {name}\n  cluster:\n"));
    out.push_str(&format!("    server: {}\n", yaml_quote(server_url)));
    out.push_str(&format!(
        "    certificate-authority-data: {}\n",
        STANDARD.encode(ca_pem)
    ));
    out.push_str("users:\n");
    out.push_str(&format!("- name: {name}\n  user:\n"));
    out.push_str(&format!(
        "    client-certificate-data: {}\n",
        STANDARD.encode(cert_pem)
    ));
    out.push_str(&format!(
        "    client-key-data: {}\n",
        STANDARD.encode(key_pem)
    ));
    out.push_str("contexts:\n");
    out.push_str(&format!("- name: {name}\n  context:\n"));
    out.push_str(&format!("    cluster: {name}\n    user: {name}\n"));
    if let Some(ns) = namespace {
        out.push_str(&format!("    namespace: {}\n", yaml_quote(ns)));
    }
    out.push_str(&format!("current-context: {name}\n"));
    out.push_str("preferences: {}\n");
    out
}

/// A YAML double-quoted scalar (YAML 1.2 §7.3.1): safe for any string.
fn yaml_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || c == '\u{feff}' || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_what_yaml_needs() {
        assert_eq!(yaml_quote("plain"), "\"plain\"");
        assert_eq!(yaml_quote("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
        assert_eq!(yaml_quote("bell\u{7}"), "\"bell\\u0007\"");
    }
}
