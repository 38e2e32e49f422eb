//! Kubeconfig files: writing a cluster, user and context whose user is the `kubectl jit`
//! credential plugin (merged into an existing file, others kept), and finding the jitgate
//! server and CA of the current context.
//!
//! Merging works on the YAML tree, so fields this crate does not know survive. The files are
//! read the way kubectl reads them: `--kubeconfig`, else every file in `$KUBECONFIG` (first
//! one to set a value wins), else `~/.kube/config`; writes go to `--kubeconfig`, else the first
//! file of `$KUBECONFIG`, else `~/.kube/config`.

use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_yaml::{Mapping, Value};

use crate::CliError;
use crate::exec_credential::EXEC_API_VERSION;

/// Name of the cluster extension that marks an entry as written by `kubectl jit kubeconfig`.
pub const JITGATE_EXTENSION: &str = "jitgate.dev/cli";

/// The credential plugin's command; kubectl finds it on the PATH.
pub const PLUGIN_COMMAND: &str = "kubectl-jit";

/// Largest kubeconfig read.
const MAX_KUBECONFIG_BYTES: u64 = 16 * 1024 * 1024;

/// What `kubectl jit kubeconfig` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeconfigEntry {
    /// Name of the cluster, user and context.
    pub name: String,
    /// The gateway URL.
    pub server: String,
    /// The jitgate CA, PEM.
    pub ca_pem: String,
    /// The context's default namespace.
    pub namespace: Option<String>,
}

/// `jitgate-<host>[-<port>]`, e.g. `jitgate-gw.example.com-8443`.
pub fn default_context_name(server: &str) -> String {
    let host = server
        .split_once("://")
        .map_or(server, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or("");
    let mut cleaned = String::with_capacity(host.len());
    for c in host.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '.' {
            c
        } else {
            '-'
        };
        if !(c == '-' && cleaned.ends_with('-')) {
            cleaned.push(c);
        }
    }
    let cleaned = cleaned.trim_matches('-');
    if cleaned.is_empty() {
        "jitgate".to_owned()
    } else {
        format!("jitgate-{cleaned}")
    }
}

/// Merges `entry` into the kubeconfig text `existing` (none or empty: a new file) and selects
/// its context. Entries of other names are kept as they are.
pub fn merge_entry(existing: Option<&str>, entry: &KubeconfigEntry) -> Result<String, String> {
    let mut root = match existing.map(str::trim) {
        None | Some("") => Value::Null,
        Some(text) => serde_yaml::from_str(text).map_err(|e| format!("it is not YAML ({e})"))?,
    };
    if root.is_null() {
        let mut m = Mapping::new();
        m.insert("apiVersion".into(), "v1".into());
        m.insert("kind".into(), "Config".into());
        m.insert("preferences".into(), Value::Mapping(Mapping::new()));
        root = Value::Mapping(m);
    }
    let Value::Mapping(doc) = &mut root else {
        return Err("it is not a YAML mapping (apiVersion, kind, clusters, …)".to_owned());
    };
    upsert(
        doc,
        "clusters",
        "cluster",
        &entry.name,
        cluster_value(entry),
    )?;
    upsert(doc, "users", "user", &entry.name, user_value(entry))?;
    upsert(
        doc,
        "contexts",
        "context",
        &entry.name,
        context_value(entry),
    )?;
    doc.insert("current-context".into(), entry.name.clone().into());
    serde_yaml::to_string(&root).map_err(|e| format!("it could not be written back ({e})"))
}

fn cluster_value(entry: &KubeconfigEntry) -> Value {
    let mut extension = Mapping::new();
    extension.insert("server".into(), entry.server.clone().into());
    let mut named = Mapping::new();
    named.insert("name".into(), JITGATE_EXTENSION.into());
    named.insert("extension".into(), Value::Mapping(extension));
    let mut cluster = Mapping::new();
    cluster.insert("server".into(), entry.server.clone().into());
    cluster.insert(
        "certificate-authority-data".into(),
        STANDARD.encode(&entry.ca_pem).into(),
    );
    cluster.insert(
        "extensions".into(),
        Value::Sequence(vec![Value::Mapping(named)]),
    );
    Value::Mapping(cluster)
}

fn user_value(entry: &KubeconfigEntry) -> Value {
    let mut exec = Mapping::new();
    exec.insert("apiVersion".into(), EXEC_API_VERSION.into());
    exec.insert("command".into(), PLUGIN_COMMAND.into());
    exec.insert(
        "args".into(),
        Value::Sequence(vec![
            "credential".into(),
            "--server".into(),
            entry.server.clone().into(),
        ]),
    );
    exec.insert("interactiveMode".into(), "IfAvailable".into());
    exec.insert("provideClusterInfo".into(), false.into());
    exec.insert(
        "installHint".into(),
        "kubectl-jit is jitgate's kubectl plugin: put the kubectl-jit binary on your PATH, then run kubectl jit login"
            .into(),
    );
    let mut user = Mapping::new();
    user.insert("exec".into(), Value::Mapping(exec));
    Value::Mapping(user)
}

fn context_value(entry: &KubeconfigEntry) -> Value {
    let mut context = Mapping::new();
    context.insert("cluster".into(), entry.name.clone().into());
    context.insert("user".into(), entry.name.clone().into());
    if let Some(ns) = &entry.namespace {
        context.insert("namespace".into(), ns.clone().into());
    }
    Value::Mapping(context)
}

/// Replaces the item named `name` in the list `list` (or appends it).
fn upsert(
    doc: &mut Mapping,
    list: &str,
    field: &str,
    name: &str,
    value: Value,
) -> Result<(), String> {
    let slot = doc
        .entry(list.into())
        .or_insert_with(|| Value::Sequence(Vec::new()));
    if slot.is_null() {
        *slot = Value::Sequence(Vec::new());
    }
    let Value::Sequence(items) = slot else {
        return Err(format!("its {list} is not a list"));
    };
    let mut item = Mapping::new();
    item.insert("name".into(), name.into());
    item.insert(field.into(), value);
    let item = Value::Mapping(item);
    match items
        .iter_mut()
        .find(|i| i.get("name").and_then(Value::as_str) == Some(name))
    {
        Some(existing) => *existing = item,
        None => items.push(item),
    }
    Ok(())
}

/// The files kubectl reads: `explicit`, else `$KUBECONFIG`'s, else `~/.kube/config`.
pub fn read_paths(explicit: Option<&Path>) -> Vec<PathBuf> {
    if let Some(path) = explicit {
        return vec![path.to_path_buf()];
    }
    if let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        let paths: Vec<PathBuf> = std::env::split_paths(&list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        if !paths.is_empty() {
            return paths;
        }
    }
    home_config().into_iter().collect()
}

/// The file `kubectl jit kubeconfig` writes to.
pub fn write_path(explicit: Option<&Path>) -> Result<PathBuf, CliError> {
    read_paths(explicit)
        .into_iter()
        .next()
        .ok_or_else(|| CliError::Usage("HOME is not set: pass --kubeconfig PATH".to_owned()))
}

fn home_config() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| Path::new(&h).join(".kube/config"))
}

/// Reads a kubeconfig, `None` when it does not exist.
pub fn read_file(path: &Path) -> Result<Option<String>, CliError> {
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CliError::io("open", path, e)),
    };
    let mut text = String::new();
    file.take(MAX_KUBECONFIG_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| CliError::io("read", path, e))?;
    if text.len() as u64 > MAX_KUBECONFIG_BYTES {
        return Err(CliError::Kubeconfig {
            path: path.to_path_buf(),
            reason: format!("it is larger than {MAX_KUBECONFIG_BYTES} bytes"),
        });
    }
    Ok(Some(text))
}

/// Merges `entry` into the kubeconfig at `path` and writes it back atomically with mode 0600
/// (through a symbolic link, to the file it points to).
pub fn write_entry(path: &Path, entry: &KubeconfigEntry) -> Result<PathBuf, CliError> {
    let target = match fs::canonicalize(path) {
        Ok(real) => real,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => path.to_path_buf(),
        Err(e) => return Err(CliError::io("resolve", path, e)),
    };
    let existing = read_file(&target)?;
    let merged =
        merge_entry(existing.as_deref(), entry).map_err(|reason| CliError::Kubeconfig {
            path: target.clone(),
            reason: format!("{reason}; fix it or pass --kubeconfig with another file"),
        })?;
    jitgate_ca::write_private_file(&target, merged.as_bytes())?;
    Ok(target)
}

/// The jitgate gateway a kubeconfig context points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JitgateTarget {
    /// The context's name.
    pub context: String,
    /// The gateway URL.
    pub server: String,
    /// The CA (PEM) of the context's cluster, if it names one.
    pub ca_pem: Option<String>,
}

/// The kubeconfig documents kubectl reads, parsed; missing files are skipped.
pub fn load_documents(explicit: Option<&Path>) -> Result<Vec<(PathBuf, Value)>, CliError> {
    let mut docs = Vec::new();
    for path in read_paths(explicit) {
        let Some(text) = read_file(&path)? else {
            continue;
        };
        if text.trim().is_empty() {
            continue;
        }
        let value: Value = serde_yaml::from_str(&text).map_err(|e| CliError::Kubeconfig {
            path: path.clone(),
            reason: format!("it is not YAML ({e})"),
        })?;
        docs.push((path, value));
    }
    Ok(docs)
}

/// The first entry named `name` in `list` across the documents, with its file.
fn named<'a>(
    docs: &'a [(PathBuf, Value)],
    list: &str,
    field: &str,
    name: &str,
) -> Option<(&'a Path, &'a Value)> {
    docs.iter().find_map(|(path, doc)| {
        doc.get(list)?
            .as_sequence()?
            .iter()
            .find(|i| i.get("name").and_then(Value::as_str) == Some(name))
            .and_then(|i| i.get(field))
            .map(|v| (path.as_path(), v))
    })
}

/// The jitgate target of context `name`: its cluster carries the jitgate extension, or its
/// user runs `kubectl-jit credential --server URL`.
pub fn target_of_context(
    docs: &[(PathBuf, Value)],
    name: &str,
) -> Result<Option<JitgateTarget>, CliError> {
    let Some((_, context)) = named(docs, "contexts", "context", name) else {
        return Ok(None);
    };
    let cluster = context
        .get("cluster")
        .and_then(Value::as_str)
        .and_then(|c| named(docs, "clusters", "cluster", c));
    let user = context
        .get("user")
        .and_then(Value::as_str)
        .and_then(|u| named(docs, "users", "user", u));
    let from_extension = cluster.and_then(|(_, c)| {
        c.get("extensions")?
            .as_sequence()?
            .iter()
            .find(|e| e.get("name").and_then(Value::as_str) == Some(JITGATE_EXTENSION))
            .map(|e| {
                e.get("extension")
                    .and_then(|x| x.get("server"))
                    .and_then(Value::as_str)
                    .or_else(|| c.get("server").and_then(Value::as_str))
                    .map(str::to_owned)
            })
    });
    let from_plugin = user.and_then(|(_, u)| plugin_server(u));
    let Some(server) = from_extension.flatten().or(from_plugin) else {
        return Ok(None);
    };
    let ca_pem = match cluster {
        Some((path, c)) => cluster_ca(path, c)?,
        None => None,
    };
    Ok(Some(JitgateTarget {
        context: name.to_owned(),
        server,
        ca_pem,
    }))
}

/// `--server URL` of a user whose exec command is `kubectl-jit credential`.
fn plugin_server(user: &Value) -> Option<String> {
    let exec = user.get("exec")?;
    let command = exec.get("command")?.as_str()?;
    if Path::new(command).file_name()?.to_str()? != PLUGIN_COMMAND {
        return None;
    }
    let args: Vec<&str> = exec
        .get("args")?
        .as_sequence()?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    if args.first() != Some(&"credential") {
        return None;
    }
    args.iter().enumerate().find_map(|(i, a)| {
        if *a == "--server" {
            args.get(i + 1).map(|s| (*s).to_owned())
        } else {
            a.strip_prefix("--server=").map(str::to_owned)
        }
    })
}

/// The cluster's CA: `certificate-authority-data`, or the `certificate-authority` file
/// (relative to the kubeconfig's folder).
fn cluster_ca(kubeconfig: &Path, cluster: &Value) -> Result<Option<String>, CliError> {
    if let Some(data) = cluster
        .get("certificate-authority-data")
        .and_then(Value::as_str)
    {
        let bytes = STANDARD
            .decode(data.trim())
            .map_err(|e| CliError::Kubeconfig {
                path: kubeconfig.to_path_buf(),
                reason: format!("certificate-authority-data is not base64 ({e})"),
            })?;
        return String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| CliError::Kubeconfig {
                path: kubeconfig.to_path_buf(),
                reason: "certificate-authority-data is not PEM text".to_owned(),
            });
    }
    if let Some(file) = cluster.get("certificate-authority").and_then(Value::as_str) {
        let path = kubeconfig
            .parent()
            .map_or_else(|| PathBuf::from(file), |dir| dir.join(file));
        return read_file(&path)?
            .map(Some)
            .ok_or_else(|| CliError::Kubeconfig {
                path: kubeconfig.to_path_buf(),
                reason: format!(
                    "its certificate-authority {} does not exist",
                    path.display()
                ),
            });
    }
    Ok(None)
}

/// The current context, as kubectl picks it (first file that sets one).
pub fn current_context(docs: &[(PathBuf, Value)]) -> Option<&str> {
    docs.iter().find_map(|(_, d)| {
        d.get("current-context")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    })
}

/// The jitgate target of the current context, if it is one.
pub fn current_target(docs: &[(PathBuf, Value)]) -> Result<Option<JitgateTarget>, CliError> {
    match current_context(docs) {
        Some(name) => target_of_context(docs, name),
        None => Ok(None),
    }
}

/// A context whose jitgate server is `server`, preferring the current one.
pub fn context_for_server(docs: &[(PathBuf, Value)], server: &str) -> Option<String> {
    let wanted = server.trim_end_matches('/');
    let matches = |name: &str| {
        target_of_context(docs, name)
            .ok()
            .flatten()
            .is_some_and(|t| t.server.trim_end_matches('/') == wanted)
    };
    if let Some(current) = current_context(docs)
        && matches(current)
    {
        return Some(current.to_owned());
    }
    docs.iter()
        .filter_map(|(_, d)| d.get("contexts")?.as_sequence())
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .find(|name| matches(name))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n";

    fn entry(name: &str, ns: Option<&str>) -> KubeconfigEntry {
        KubeconfigEntry {
            name: name.into(),
            server: "https://127.0.0.1:8443".into(),
            ca_pem: CA.into(),
            namespace: ns.map(str::to_owned),
        }
    }

    const EXISTING: &str = r#"
apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: https://prod.example:6443
    certificate-authority-data: Zm9v
users:
- name: admin
  user:
    token: abc
contexts:
- name: prod
  context:
    cluster: prod
    user: admin
    namespace: default
current-context: prod
preferences:
  colors: true
"#;

    fn docs(text: &str) -> Vec<(PathBuf, Value)> {
        vec![(
            PathBuf::from("/k/config"),
            serde_yaml::from_str(text).unwrap(),
        )]
    }

    #[test]
    fn merge_keeps_other_entries_and_selects_the_new_context() {
        let merged = merge_entry(Some(EXISTING), &entry("jitgate-prod", Some("payments"))).unwrap();
        let v: Value = serde_yaml::from_str(&merged).unwrap();
        let names = |list: &str| -> Vec<String> {
            v[list]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|i| i["name"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(names("clusters"), ["prod", "jitgate-prod"]);
        assert_eq!(names("users"), ["admin", "jitgate-prod"]);
        assert_eq!(names("contexts"), ["prod", "jitgate-prod"]);
        assert_eq!(v["current-context"], "jitgate-prod");
        assert_eq!(
            v["users"][0]["user"]["token"], "abc",
            "other users untouched"
        );
        assert_eq!(v["preferences"]["colors"], true, "unknown fields kept");
        let exec = &v["users"][1]["user"]["exec"];
        assert_eq!(exec["command"], "kubectl-jit");
        assert_eq!(exec["apiVersion"], "client.authentication.k8s.io/v1");
        assert_eq!(exec["interactiveMode"], "IfAvailable");
        assert_eq!(exec["provideClusterInfo"], false);
        let args: Vec<&str> = exec["args"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(args, ["credential", "--server", "https://127.0.0.1:8443"]);
        assert_eq!(v["contexts"][1]["context"]["namespace"], "payments");
        let ca = STANDARD
            .decode(
                v["clusters"][1]["cluster"]["certificate-authority-data"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap();
        assert_eq!(ca, CA.as_bytes());
    }

    #[test]
    fn merging_again_replaces_rather_than_duplicates() {
        let once = merge_entry(Some(EXISTING), &entry("jitgate-prod", None)).unwrap();
        let mut second = entry("jitgate-prod", Some("checkout"));
        second.server = "https://127.0.0.1:9443".into();
        let twice = merge_entry(Some(&once), &second).unwrap();
        let v: Value = serde_yaml::from_str(&twice).unwrap();
        assert_eq!(v["clusters"].as_sequence().unwrap().len(), 2);
        assert_eq!(
            v["clusters"][1]["cluster"]["server"],
            "https://127.0.0.1:9443"
        );
        assert_eq!(v["contexts"][1]["context"]["namespace"], "checkout");
    }

    #[test]
    fn new_and_empty_files() {
        for existing in [None, Some(""), Some("\n")] {
            let text = merge_entry(existing, &entry("jitgate-x", None)).unwrap();
            let v: Value = serde_yaml::from_str(&text).unwrap();
            assert_eq!(v["apiVersion"], "v1");
            assert_eq!(v["kind"], "Config");
            assert_eq!(v["current-context"], "jitgate-x");
        }
    }

    #[test]
    fn unusable_files_are_not_overwritten() {
        let cases = [
            ("not yaml", "clusters: [", "not YAML"),
            ("a list", "- a\n- b\n", "not a YAML mapping"),
            (
                "clusters not a list",
                "clusters: 3\n",
                "clusters is not a list",
            ),
        ];
        for (name, text, want) in cases {
            let err = merge_entry(Some(text), &entry("j", None)).unwrap_err();
            assert!(err.contains(want), "{name}: {err}");
        }
    }

    #[test]
    fn target_of_the_current_context() {
        let merged = merge_entry(Some(EXISTING), &entry("jitgate-prod", None)).unwrap();
        let t = current_target(&docs(&merged)).unwrap().unwrap();
        assert_eq!(t.server, "https://127.0.0.1:8443");
        assert_eq!(t.ca_pem.as_deref(), Some(CA));
        assert_eq!(t.context, "jitgate-prod");
        assert_eq!(
            current_target(&docs(EXISTING)).unwrap(),
            None,
            "a plain context is not jitgate's"
        );
        assert_eq!(
            context_for_server(&docs(&merged), "https://127.0.0.1:8443/").as_deref(),
            Some("jitgate-prod")
        );
        assert_eq!(
            context_for_server(&docs(&merged), "https://elsewhere"),
            None
        );
    }

    #[test]
    fn a_hand_written_plugin_user_is_recognised() {
        let text = r#"
clusters:
- name: c
  cluster: {server: "https://gw:8443", certificate-authority: ca.pem}
users:
- name: u
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1, command: /usr/local/bin/kubectl-jit, args: [credential, "--server=https://gw:8443"]}
contexts:
- name: x
  context: {cluster: c, user: u}
current-context: x
"#;
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("ca.pem"), CA).unwrap();
        let docs = vec![(
            tmp.path().join("config"),
            serde_yaml::from_str(text).unwrap(),
        )];
        let t = current_target(&docs).unwrap().unwrap();
        assert_eq!(t.server, "https://gw:8443");
        assert_eq!(t.ca_pem.as_deref(), Some(CA));
    }

    #[test]
    fn first_file_wins_like_kubectl() {
        let a = "current-context: a\ncontexts: []\n";
        let b = "current-context: b\n";
        let docs = vec![
            (PathBuf::from("/1"), serde_yaml::from_str(a).unwrap()),
            (PathBuf::from("/2"), serde_yaml::from_str(b).unwrap()),
        ];
        assert_eq!(current_context(&docs), Some("a"));
    }

    #[test]
    fn context_names() {
        assert_eq!(
            default_context_name("https://127.0.0.1:8443"),
            "jitgate-127.0.0.1-8443"
        );
        assert_eq!(
            default_context_name("https://gw.example.com/k8s"),
            "jitgate-gw.example.com"
        );
        assert_eq!(default_context_name("https://[::1]:8443"), "jitgate-1-8443");
    }

    #[test]
    fn written_file_is_private_and_others_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("config");
        fs::write(&path, EXISTING).unwrap();
        write_entry(&path, &entry("jitgate-prod", None)).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let v: Value = serde_yaml::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["contexts"].as_sequence().unwrap().len(), 2);
    }
}
