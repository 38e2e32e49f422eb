//! Where a benchmark sends its requests: an HTTPS server named by a kubeconfig (server, CA and
//! client certificate of its current context), or a plain-HTTP URL such as `kubectl proxy`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use http::{HeaderName, HeaderValue};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde::Deserialize;

/// One thing to measure, as given on the command line: `NAME=KUBECONFIG` or `NAME=http://…`.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Label in the tables and in `--check` expressions.
    pub name: String,
    /// Host and port to connect to.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// TLS settings (trusted CA, client certificate); `None` for plain HTTP.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The kubeconfig it came from, for running kubectl against the same endpoint.
    pub kubeconfig: Option<PathBuf>,
    /// Extra request headers (`--header`), e.g. the gateway's `Impersonate-*` headers sent
    /// directly to the apiserver to price impersonation on its own.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Endpoint {
    /// Parses `NAME=KUBECONFIG` or `NAME=http://HOST:PORT`.
    pub fn parse(spec: &str) -> anyhow::Result<Self> {
        let (name, what) = spec.split_once('=').with_context(|| {
            format!("{spec:?}: expected NAME=KUBECONFIG or NAME=http://HOST:PORT")
        })?;
        if name.is_empty() || name.contains('/') {
            bail!("{spec:?}: the name must be non-empty and without '/'");
        }
        if let Some(rest) = what.strip_prefix("http://") {
            let (host, port) = host_port(rest.trim_end_matches('/'), 80)
                .with_context(|| format!("{spec:?}: bad URL"))?;
            return Ok(Self {
                name: name.to_owned(),
                host,
                port,
                tls: None,
                kubeconfig: None,
                headers: Vec::new(),
            });
        }
        let path = PathBuf::from(what);
        let kc = Kubeconfig::load(&path)?;
        let rest = kc
            .server
            .strip_prefix("https://")
            .with_context(|| format!("{}: the server must be https://", path.display()))?;
        let (host, port) = host_port(rest.trim_end_matches('/'), 443)
            .with_context(|| format!("{}: bad server URL {:?}", path.display(), kc.server))?;
        let tls = kc
            .tls_config()
            .with_context(|| format!("TLS settings from {}", path.display()))?;
        Ok(Self {
            name: name.to_owned(),
            host,
            port,
            tls: Some(Arc::new(tls)),
            kubeconfig: Some(path),
            headers: Vec::new(),
        })
    }

    /// Applies `ENDPOINT=Name: value` specs to the endpoints they name.
    pub fn add_headers(endpoints: &mut [Self], specs: &[String]) -> anyhow::Result<()> {
        for spec in specs {
            let bad = || format!("{spec:?}: expected ENDPOINT=Header-Name: value");
            let (endpoint, header) = spec.split_once('=').with_context(bad)?;
            let (name, value) = header.split_once(':').with_context(bad)?;
            let name = HeaderName::from_bytes(name.trim().as_bytes()).with_context(bad)?;
            let value = HeaderValue::from_str(value.trim()).with_context(bad)?;
            let e = endpoints
                .iter_mut()
                .find(|e| e.name == endpoint)
                .with_context(|| format!("{spec:?}: no endpoint named {endpoint:?}"))?;
            e.headers.push((name, value));
        }
        Ok(())
    }

    /// `host:port` as the `Host` header and HTTP/2 `:authority` carry it.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The name the server certificate must carry.
    pub fn server_name(&self) -> anyhow::Result<ServerName<'static>> {
        ServerName::try_from(self.host.clone())
            .with_context(|| format!("{:?} is not a valid TLS server name", self.host))
    }
}

/// Splits `host:port`, `[v6]:port` or a bare host (then `default` is the port).
fn host_port(s: &str, default: u16) -> anyhow::Result<(String, u16)> {
    if s.contains('/') {
        bail!("a path is not allowed here");
    }
    if let Some(v6) = s.strip_prefix('[') {
        let (host, rest) = v6.split_once(']').context("unclosed '['")?;
        let port = match rest.strip_prefix(':') {
            Some(p) => p.parse().context("bad port")?,
            None => default,
        };
        return Ok((host.to_owned(), port));
    }
    match s.rsplit_once(':') {
        Some((host, port)) => Ok((host.to_owned(), port.parse().context("bad port")?)),
        None => Ok((s.to_owned(), default)),
    }
}

/// The current context of a kubeconfig, resolved to what a TLS client needs.
#[derive(Debug)]
struct Kubeconfig {
    server: String,
    ca_pem: Vec<u8>,
    client: Option<(Vec<u8>, Vec<u8>)>,
}

#[derive(Debug, Deserialize)]
struct File {
    #[serde(default)]
    clusters: Vec<NamedCluster>,
    #[serde(default)]
    users: Vec<NamedUser>,
    #[serde(default)]
    contexts: Vec<NamedContext>,
    #[serde(rename = "current-context", default)]
    current_context: String,
}

#[derive(Debug, Deserialize)]
struct NamedCluster {
    name: String,
    cluster: Cluster,
}

#[derive(Debug, Deserialize)]
struct Cluster {
    server: String,
    #[serde(rename = "certificate-authority-data")]
    ca_data: Option<String>,
    #[serde(rename = "certificate-authority")]
    ca_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
struct NamedUser {
    name: String,
    #[serde(default)]
    user: User,
}

#[derive(Debug, Default, Deserialize)]
struct User {
    #[serde(rename = "client-certificate-data")]
    cert_data: Option<String>,
    #[serde(rename = "client-key-data")]
    key_data: Option<String>,
    #[serde(rename = "client-certificate")]
    cert_file: Option<PathBuf>,
    #[serde(rename = "client-key")]
    key_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
struct NamedContext {
    name: String,
    context: Context,
}

#[derive(Debug, Deserialize)]
struct Context {
    cluster: String,
    user: String,
}

impl Kubeconfig {
    fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let file: File = serde_yaml::from_slice(&text)
            .with_context(|| format!("{} is not a kubeconfig", path.display()))?;
        let ctx = file
            .contexts
            .iter()
            .find(|c| file.current_context.is_empty() || c.name == file.current_context)
            .with_context(|| format!("{}: no current context", path.display()))?;
        let cluster = file
            .clusters
            .iter()
            .find(|c| c.name == ctx.context.cluster)
            .with_context(|| {
                format!(
                    "{}: cluster {:?} missing",
                    path.display(),
                    ctx.context.cluster
                )
            })?;
        let user = file
            .users
            .iter()
            .find(|u| u.name == ctx.context.user)
            .map(|u| &u.user);
        let base = path.parent().unwrap_or(Path::new("."));
        let load = |data: &Option<String>, file: &Option<PathBuf>, what: &str| {
            load_bytes(base, data.as_deref(), file.as_deref())
                .with_context(|| format!("{}: {what}", path.display()))
        };
        let ca_pem = load(&cluster.cluster.ca_data, &cluster.cluster.ca_file, "certificate authority")?
            .with_context(|| {
                format!(
                    "{}: the cluster has no certificate authority (the benchmark never skips TLS verification)",
                    path.display()
                )
            })?;
        let client = match user {
            Some(u) => {
                let cert = load(&u.cert_data, &u.cert_file, "client certificate")?;
                let key = load(&u.key_data, &u.key_file, "client key")?;
                cert.zip(key)
            }
            None => None,
        };
        Ok(Self {
            server: cluster.cluster.server.clone(),
            ca_pem,
            client,
        })
    }

    fn tls_config(&self) -> anyhow::Result<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut self.ca_pem.as_slice()) {
            roots.add(cert.context("CA bundle")?).context("CA bundle")?;
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
        Ok(match &self.client {
            Some((cert_pem, key_pem)) => {
                let chain: Vec<CertificateDer<'static>> =
                    rustls_pemfile::certs(&mut cert_pem.as_slice())
                        .collect::<Result<_, _>>()
                        .context("client certificate")?;
                let key: PrivateKeyDer<'static> =
                    rustls_pemfile::private_key(&mut key_pem.as_slice())
                        .context("client key")?
                        .context("client key: no private key in the PEM")?;
                builder.with_client_auth_cert(chain, key)?
            }
            None => builder.with_no_client_auth(),
        })
    }
}

fn load_bytes(
    base: &Path,
    data: Option<&str>,
    file: Option<&Path>,
) -> anyhow::Result<Option<Vec<u8>>> {
    if let Some(data) = data {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .context("not base64")?;
        return Ok(Some(bytes));
    }
    match file {
        Some(f) => {
            let f = base.join(f);
            Ok(Some(
                std::fs::read(&f).with_context(|| format!("reading {}", f.display()))?,
            ))
        }
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        assert_eq!(
            host_port("127.0.0.1:8001", 80).unwrap(),
            ("127.0.0.1".into(), 8001)
        );
        assert_eq!(
            host_port("localhost", 443).unwrap(),
            ("localhost".into(), 443)
        );
        assert_eq!(host_port("[::1]:6443", 443).unwrap(), ("::1".into(), 6443));
        assert!(host_port("127.0.0.1:8001/api", 80).is_err());
        assert!(host_port("127.0.0.1:http", 80).is_err());
    }

    #[test]
    fn plain_http_endpoint() {
        let e = Endpoint::parse("proxy=http://127.0.0.1:8001/").unwrap();
        assert_eq!(e.name, "proxy");
        assert_eq!(e.authority(), "127.0.0.1:8001");
        assert!(e.tls.is_none());
        assert!(Endpoint::parse("http://127.0.0.1:8001").is_err());
        assert!(Endpoint::parse("a/b=http://127.0.0.1:1").is_err());
    }

    #[test]
    fn headers_go_to_the_named_endpoint() {
        let mut eps = vec![
            Endpoint::parse("a=http://127.0.0.1:1").unwrap(),
            Endpoint::parse("b=http://127.0.0.1:2").unwrap(),
        ];
        Endpoint::add_headers(&mut eps, &["b=Impersonate-Group: jitgate:x".into()]).unwrap();
        assert!(eps[0].headers.is_empty());
        assert_eq!(eps[1].headers[0].0.as_str(), "impersonate-group");
        assert_eq!(eps[1].headers[0].1, "jitgate:x");
        assert!(Endpoint::add_headers(&mut eps, &["c=X: y".into()]).is_err());
        assert!(Endpoint::add_headers(&mut eps, &["a=no colon".into()]).is_err());
    }
}
