//! `kubectl debug` into a running pod adds an ephemeral container with a write to the
//! `pods/ephemeralcontainers` subresource: kubectl ≥ 1.23 sends a strategic merge patch, other
//! clients may send a JSON merge patch, a JSON patch (RFC 6902), a server-side apply, or a
//! `PUT` of the whole pod. [`check_debug_request`] finds every container such a body would add
//! and checks it against the profile's [`DebugRules`]:
//!
//! - the image is one of the allowed images, exactly as written in the policy (a tag is not a
//!   digest: `busybox:1.36` does not allow `busybox:1.36@sha256:…` or `busybox`), and pinned by
//!   digest when the rules require it;
//! - `securityContext.privileged` is not `true`;
//! - every capability in `securityContext.capabilities.add` is allowed (written with or
//!   without `CAP_`, any case; `ALL` only if the policy lists `ALL`, which its lint forbids).
//!
//! Everything the body says about ephemeral containers must be decidable from the body alone,
//! or the request is refused: a JSON patch that edits inside an ephemeral container
//! (`/spec/ephemeralContainers/0/image`) or moves or copies into the list, strategic-merge
//! directives inside a container (`$patch`, `$retainKeys`), a container that is not an object,
//! fields of the wrong type, a body that is not JSON or YAML. The apiserver never lets an
//! existing ephemeral container change, so checking what the body names is checking what the
//! pod gains; a `PUT` lists the pod's existing debug containers too, and each must pass.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::Value;

/// How the body of a write to `pods/ephemeralcontainers` is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// `PUT` of the whole pod (JSON or YAML).
    Update {
        /// The body is YAML (`application/yaml`), not JSON.
        yaml: bool,
    },
    /// `application/json-patch+json` (RFC 6902).
    JsonPatch,
    /// `application/merge-patch+json` (RFC 7386).
    MergePatch,
    /// `application/strategic-merge-patch+json` (what kubectl debug sends).
    StrategicMergePatch,
    /// `application/apply-patch+yaml` (server-side apply; JSON is YAML too).
    Apply,
}

impl PatchKind {
    /// The kind for an HTTP method and `Content-Type`.
    ///
    /// # Errors
    ///
    /// A sentence for the person when the body cannot be read by the guard (another method,
    /// protobuf or CBOR, an unknown patch type): such a request is refused.
    pub fn of(method: &str, content_type: Option<&str>) -> Result<Self, String> {
        let media = content_type
            .and_then(|c| c.split(';').next())
            .map(|c| c.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let unreadable = || {
            format!(
                "jitgate checks debug containers in JSON or YAML bodies and cannot read {}; send the \
                 request with Content-Type application/json (PUT) or a JSON patch type (PATCH), as \
                 kubectl does",
                if media.is_empty() {
                    "a body without a Content-Type".to_owned()
                } else {
                    format!("Content-Type {media}")
                }
            )
        };
        match method.to_ascii_uppercase().as_str() {
            "PUT" => match media.as_str() {
                "application/json" => Ok(Self::Update { yaml: false }),
                "application/yaml" => Ok(Self::Update { yaml: true }),
                _ => Err(unreadable()),
            },
            "PATCH" => match media.as_str() {
                "application/json-patch+json" => Ok(Self::JsonPatch),
                "application/merge-patch+json" => Ok(Self::MergePatch),
                "application/strategic-merge-patch+json" => Ok(Self::StrategicMergePatch),
                "application/apply-patch+yaml" => Ok(Self::Apply),
                _ => Err(unreadable()),
            },
            other => Err(format!(
                "ephemeral containers are added with PATCH or PUT, not {other}"
            )),
        }
    }
}

/// What a profile's `debug` block allows a debug container to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebugRules {
    images: Vec<String>,
    require_digest: bool,
    capabilities: BTreeSet<String>,
}

impl DebugRules {
    /// Rules from the policy's `debug` block: allowed images (exact), whether a digest is
    /// required, and the capabilities a container may add (normalised: uppercase, no `CAP_`).
    pub fn new<I, C>(images: I, require_digest: bool, capabilities: C) -> Self
    where
        I: IntoIterator<Item = String>,
        C: IntoIterator<Item = String>,
    {
        Self {
            images: images.into_iter().collect(),
            require_digest,
            capabilities: capabilities
                .into_iter()
                .map(|c| normalise_capability(&c))
                .collect(),
        }
    }

    /// The allowed images, as written.
    pub fn images(&self) -> &[String] {
        &self.images
    }

    /// Checks one container (as JSON); `Err` says what is wrong with it, starting with its
    /// name.
    ///
    /// # Errors
    ///
    /// The container breaks a rule or cannot be read.
    pub fn check(&self, container: &Value) -> Result<(), String> {
        let Value::Object(fields) = container else {
            return Err(format!(
                "an ephemeral container must be an object, not {}",
                kind_of(container)
            ));
        };
        let name = match fields.get("name") {
            Some(Value::String(n)) => format!("ephemeral container {n:?}"),
            Some(other) => {
                return Err(format!(
                    "an ephemeral container's name must be a string, not {}",
                    kind_of(other)
                ));
            }
            None => "an ephemeral container without a name".to_owned(),
        };
        if let Some(key) = directive_in(container) {
            return Err(format!(
                "{name} carries the patch directive {key:?}, whose effect jitgate cannot check; \
                 send the container as a plain object"
            ));
        }
        let image = match fields.get("image") {
            Some(Value::String(image)) => image,
            Some(other) => {
                return Err(format!(
                    "{name} has an image that is {}, not a string",
                    kind_of(other)
                ));
            }
            None => {
                return Err(format!(
                    "{name} names no image; give one of the allowed images ({})",
                    self.images_text()
                ));
            }
        };
        if !self.images.iter().any(|allowed| allowed == image) {
            return Err(format!(
                "{name} uses image {image:?}, which is not allowed; allowed images: {}. Use one \
                 of them (kubectl debug --image=…), or ask for {image:?} to be added to the \
                 profile's debug.images in the jitgate policy",
                self.images_text()
            ));
        }
        if self.require_digest && !has_digest(image) {
            return Err(format!(
                "{name} uses image {image:?} without a digest, and the profile requires images \
                 pinned as name@sha256:<digest>"
            ));
        }
        let Some(security) =
            object_field(fields.get("securityContext"), &name, "a securityContext")?
        else {
            return Ok(());
        };
        match security.get("privileged") {
            None | Some(Value::Null | Value::Bool(false)) => {}
            Some(Value::Bool(true)) => {
                return Err(format!(
                    "{name} asks to be privileged, which jitgate never allows for debug \
                     containers (kubectl debug --profile=sysadmin asks for it); use another \
                     --profile, e.g. general"
                ));
            }
            Some(other) => {
                return Err(format!(
                    "{name} has securityContext.privileged {}, not true or false",
                    kind_of(other)
                ));
            }
        }
        let Some(capabilities) = object_field(
            security.get("capabilities"),
            &name,
            "securityContext.capabilities",
        )?
        else {
            return Ok(());
        };
        let added = match capabilities.get("add") {
            None | Some(Value::Null) => return Ok(()),
            Some(Value::Array(add)) => add,
            Some(other) => {
                return Err(format!(
                    "{name} has capabilities.add that is {}, not a list",
                    kind_of(other)
                ));
            }
        };
        for cap in added {
            let Value::String(cap) = cap else {
                return Err(format!(
                    "{name} adds a capability that is {}, not a name",
                    kind_of(cap)
                ));
            };
            let bare = normalise_capability(cap);
            if !self.capabilities.contains(&bare) {
                return Err(format!(
                    "{name} adds capability {bare}, which the profile does not allow (allowed: \
                     {}); kubectl debug --profile=netadmin adds NET_ADMIN and NET_RAW, \
                     --profile=general adds SYS_PTRACE. Pick a profile that adds only allowed \
                     capabilities, or ask for {bare} to be added to the profile's \
                     debug.capabilities in the jitgate policy",
                    self.capabilities_text()
                ));
            }
        }
        Ok(())
    }

    fn images_text(&self) -> String {
        if self.images.is_empty() {
            "none".to_owned()
        } else {
            self.images.join(", ")
        }
    }

    fn capabilities_text(&self) -> String {
        if self.capabilities.is_empty() {
            "none".to_owned()
        } else {
            self.capabilities
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        }
    }
}

impl fmt::Display for DebugRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "images {}; capabilities {}{}",
            self.images_text(),
            self.capabilities_text(),
            if self.require_digest {
                "; digests required"
            } else {
                ""
            }
        )
    }
}

/// Checks a write to `pods/ephemeralcontainers` under `profile`'s rules. `Ok` holds the names
/// of the containers the body adds (each one checked); `Err` is the whole message for the
/// person, naming the profile.
///
/// # Errors
///
/// A container breaks the rules, or the body cannot be decided.
pub fn check_debug_request(
    rules: &DebugRules,
    profile: &str,
    kind: PatchKind,
    body: &[u8],
) -> Result<Vec<String>, String> {
    let refused = |why: String| format!("kubectl debug refused by profile {profile}: {why}");
    let containers = added_containers(kind, body).map_err(refused)?;
    let mut names = Vec::with_capacity(containers.len());
    for container in &containers {
        rules.check(container).map_err(refused)?;
        names.push(
            container
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        );
    }
    Ok(names)
}

/// Every ephemeral container the body names (see the module docs for what is refused).
fn added_containers(kind: PatchKind, body: &[u8]) -> Result<Vec<Value>, String> {
    let document = parse(kind, body)?;
    match kind {
        PatchKind::JsonPatch => json_patch_containers(&document),
        PatchKind::Update { .. }
        | PatchKind::MergePatch
        | PatchKind::StrategicMergePatch
        | PatchKind::Apply => {
            let Value::Object(root) = &document else {
                return Err(format!(
                    "the body must be a pod object, not {}",
                    kind_of(&document)
                ));
            };
            match root.get("spec") {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(spec) => spec_containers(spec),
            }
        }
    }
}

fn parse(kind: PatchKind, body: &[u8]) -> Result<Value, String> {
    let yaml = matches!(kind, PatchKind::Apply | PatchKind::Update { yaml: true });
    if yaml {
        serde_yaml::from_slice::<Value>(body)
            .map_err(|e| format!("the body is not a YAML or JSON document jitgate can read: {e}"))
    } else {
        serde_json::from_slice::<Value>(body)
            .map_err(|e| format!("the body is not valid JSON: {e}"))
    }
}

/// The ephemeral containers of a pod `spec` (or of the value written at `/spec`).
fn spec_containers(spec: &Value) -> Result<Vec<Value>, String> {
    let Value::Object(spec) = spec else {
        return Err(format!("spec must be an object, not {}", kind_of(spec)));
    };
    match spec.get("ephemeralContainers") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(list) => container_list(list),
    }
}

fn container_list(list: &Value) -> Result<Vec<Value>, String> {
    match list {
        Value::Array(items) => Ok(items.clone()),
        other => Err(format!(
            "spec.ephemeralContainers must be a list, not {}",
            kind_of(other)
        )),
    }
}

/// The containers a JSON patch writes into `spec.ephemeralContainers`.
fn json_patch_containers(document: &Value) -> Result<Vec<Value>, String> {
    let Value::Array(ops) = document else {
        return Err(format!(
            "a JSON patch must be a list of operations, not {}",
            kind_of(document)
        ));
    };
    let mut found = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let field = |key: &str| op.get(key).and_then(Value::as_str);
        let (Some(name), Some(path)) = (field("op"), field("path")) else {
            return Err(format!(
                "JSON patch operation {i} needs string fields op and path"
            ));
        };
        let segments = pointer_segments(path)
            .map_err(|why| format!("JSON patch operation {i} ({name} {path}): {why}"))?;
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let target = Target::of(&segments);
        if target == Target::Elsewhere {
            continue;
        }
        let undecidable = || {
            format!(
                "JSON patch operation {i} ({name} {path}) changes ephemeral containers in a way \
                 jitgate cannot check; add whole containers (add /spec/ephemeralContainers/-)"
            )
        };
        match name {
            "test" | "remove" => {}
            "add" | "replace" => {
                let Some(value) = op.get("value") else {
                    return Err(format!(
                        "JSON patch operation {i} ({name} {path}) has no value"
                    ));
                };
                match target {
                    Target::Root => match value {
                        Value::Object(root) => match root.get("spec") {
                            None | Some(Value::Null) => {}
                            Some(spec) => found.extend(spec_containers(spec)?),
                        },
                        other => {
                            return Err(format!(
                                "JSON patch operation {i} writes {} as the pod",
                                kind_of(other)
                            ));
                        }
                    },
                    Target::Spec => found.extend(spec_containers(value)?),
                    Target::List => found.extend(container_list(value)?),
                    Target::Element => found.push(value.clone()),
                    Target::Inside => return Err(undecidable()),
                    Target::Elsewhere => {}
                }
            }
            // move and copy bring in values the patch does not show.
            _ => return Err(undecidable()),
        }
    }
    Ok(found)
}

/// Where a JSON pointer lands relative to `spec.ephemeralContainers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// The whole document.
    Root,
    /// `/spec`.
    Spec,
    /// `/spec/ephemeralContainers`.
    List,
    /// `/spec/ephemeralContainers/N` or `/-`.
    Element,
    /// Deeper inside an element.
    Inside,
    /// Somewhere that holds no ephemeral container.
    Elsewhere,
}

impl Target {
    fn of(segments: &[&str]) -> Self {
        match segments {
            [] => Self::Root,
            ["spec"] => Self::Spec,
            ["spec", "ephemeralContainers"] => Self::List,
            ["spec", "ephemeralContainers", _] => Self::Element,
            ["spec", "ephemeralContainers", _, ..] => Self::Inside,
            _ => Self::Elsewhere,
        }
    }
}

/// The reference tokens of a JSON pointer (RFC 6901: `~1` is `/`, `~0` is `~`).
fn pointer_segments(pointer: &str) -> Result<Vec<String>, String> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err("a JSON pointer starts with /".to_owned());
    };
    rest.split('/')
        .map(|token| {
            let mut out = String::with_capacity(token.len());
            let mut chars = token.chars();
            while let Some(c) = chars.next() {
                if c == '~' {
                    match chars.next() {
                        Some('0') => out.push('~'),
                        Some('1') => out.push('/'),
                        _ => return Err(format!("{token:?} has a ~ that is not ~0 or ~1")),
                    }
                } else {
                    out.push(c);
                }
            }
            Ok(out)
        })
        .collect()
}

/// A strategic-merge directive key (`$patch`, `$retainKeys`, `$setElementOrder/…`,
/// `$deleteFromPrimitiveList/…`) anywhere inside a container.
fn directive_in(value: &Value) -> Option<String> {
    match value {
        Value::Object(fields) => fields.iter().find_map(|(k, v)| {
            if k.starts_with('$') {
                Some(k.clone())
            } else {
                directive_in(v)
            }
        }),
        Value::Array(items) => items.iter().find_map(directive_in),
        _ => None,
    }
}

fn normalise_capability(cap: &str) -> String {
    let upper = cap.trim().to_ascii_uppercase();
    upper
        .strip_prefix("CAP_")
        .map(str::to_owned)
        .unwrap_or(upper)
}

fn has_digest(image: &str) -> bool {
    image.split_once("@sha256:").is_some_and(|(_, hex)| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// An optional object field of a container: `None` when absent or null, `Err` naming it
/// (`what`) when it is something else.
fn object_field<'v>(
    value: Option<&'v Value>,
    name: &str,
    what: &str,
) -> Result<Option<&'v serde_json::Map<String, Value>>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(fields)) => Ok(Some(fields)),
        Some(other) => Err(format!(
            "{name} has {what} that is {}, not an object",
            kind_of(other)
        )),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules() -> DebugRules {
        DebugRules::new(
            [
                "busybox:1.36".to_owned(),
                "nicolaka/netshoot:v0.13".to_owned(),
            ],
            false,
            ["NET_ADMIN".to_owned(), "sys_ptrace".to_owned()],
        )
    }

    fn check(kind: PatchKind, body: &Value) -> Result<Vec<String>, String> {
        check_debug_request(&rules(), "oncall-debug", kind, body.to_string().as_bytes())
    }

    /// What kubectl 1.33 `debug target --image=IMAGE -c dbg` sends (profile general).
    fn kubectl_patch(image: &str, security: &Value) -> Value {
        json!({"spec": {
            "$setElementOrder/ephemeralContainers": [{"name": "old"}, {"name": "dbg"}],
            "ephemeralContainers": [{
                "command": ["sh", "-c", "sleep 600"], "image": image,
                "imagePullPolicy": "IfNotPresent", "name": "dbg", "resources": {},
                "securityContext": security, "stdin": false, "tty": false,
                "terminationMessagePolicy": "File"
            }]
        }})
    }

    #[test]
    fn kubectls_strategic_merge_patch_with_an_allowed_image_and_capability_passes() {
        let body = kubectl_patch(
            "busybox:1.36",
            &json!({"capabilities": {"add": ["SYS_PTRACE"]}}),
        );
        assert_eq!(
            check(PatchKind::StrategicMergePatch, &body),
            Ok(vec!["dbg".to_owned()])
        );
    }

    #[test]
    fn an_image_not_in_the_list_is_refused_with_the_allowed_ones() {
        for image in [
            "busybox",
            "busybox:latest",
            "docker.io/library/busybox:1.36",
            "alpine:3",
        ] {
            let err = check(
                PatchKind::StrategicMergePatch,
                &kubectl_patch(image, &json!({})),
            )
            .unwrap_err();
            assert!(err.contains("profile oncall-debug"), "{err}");
            assert!(err.contains(&format!("image {image:?}")), "{err}");
            assert!(
                err.contains("busybox:1.36, nicolaka/netshoot:v0.13"),
                "{err}"
            );
            assert!(err.contains("debug.images"), "{err}");
        }
    }

    #[test]
    fn privileged_and_unlisted_capabilities_are_refused() {
        let sysadmin = kubectl_patch("busybox:1.36", &json!({"privileged": true}));
        let err = check(PatchKind::StrategicMergePatch, &sysadmin).unwrap_err();
        assert!(err.contains("privileged"), "{err}");
        let netadmin = kubectl_patch(
            "busybox:1.36",
            &json!({"capabilities": {"add": ["NET_ADMIN", "NET_RAW"]}}),
        );
        let err = check(PatchKind::StrategicMergePatch, &netadmin).unwrap_err();
        assert!(err.contains("capability NET_RAW"), "{err}");
        assert!(err.contains("allowed: NET_ADMIN, SYS_PTRACE"), "{err}");
        for spelling in ["CAP_SYS_ADMIN", "sys_admin", "ALL"] {
            let body = kubectl_patch(
                "busybox:1.36",
                &json!({"capabilities": {"add": [spelling]}}),
            );
            assert!(check(PatchKind::MergePatch, &body).is_err(), "{spelling}");
        }
        // Spelled with CAP_ or in lower case, an allowed capability is still allowed; drops
        // and privileged: false are fine.
        let body = kubectl_patch(
            "busybox:1.36",
            &json!({"privileged": false, "capabilities": {"add": ["cap_net_admin"], "drop": ["ALL"]}}),
        );
        assert!(check(PatchKind::StrategicMergePatch, &body).is_ok());
    }

    #[test]
    fn every_container_is_checked_and_any_bad_one_refuses_the_request() {
        let body = json!({"spec": {"ephemeralContainers": [
            {"name": "a", "image": "busybox:1.36"},
            {"name": "b", "image": "evil:1"}
        ]}});
        let err = check(PatchKind::MergePatch, &body).unwrap_err();
        assert!(err.contains("\"b\""), "{err}");
        let put = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "app", "image": "anything"}],
                     "ephemeralContainers": [{"name": "a", "image": "busybox:1.36"}]}});
        assert_eq!(
            check(PatchKind::Update { yaml: false }, &put),
            Ok(vec!["a".to_owned()]),
            "the pod's own containers are not debug containers"
        );
    }

    #[test]
    fn server_side_apply_yaml_is_read() {
        let yaml = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  ephemeralContainers:\n  - name: dbg\n    image: busybox:1.36\n    securityContext:\n      privileged: true\n";
        let err =
            check_debug_request(&rules(), "p", PatchKind::Apply, yaml.as_bytes()).unwrap_err();
        assert!(err.contains("privileged"), "{err}");
        let ok = yaml.replace("privileged: true", "privileged: false");
        assert!(check_debug_request(&rules(), "p", PatchKind::Apply, ok.as_bytes()).is_ok());
    }

    #[test]
    fn json_patch_adds_are_checked_and_edits_inside_a_container_are_undecidable() {
        let good = json!({"name": "dbg", "image": "busybox:1.36"});
        let bad = json!({"name": "dbg", "image": "busybox:1.36", "securityContext": {"privileged": true}});
        let cases = [
            ("/spec/ephemeralContainers/-", good.clone(), true),
            ("/spec/ephemeralContainers/-", bad.clone(), false),
            ("/spec/ephemeralContainers/0", bad.clone(), false),
            (
                "/spec/ephemeralContainers",
                json!([good.clone(), bad.clone()]),
                false,
            ),
            ("/spec/ephemeralContainers", json!([good]), true),
            (
                "/spec",
                json!({"ephemeralContainers": [bad.clone()]}),
                false,
            ),
            ("", json!({"spec": {"ephemeralContainers": [bad]}}), false),
        ];
        for (path, value, allowed) in cases {
            let patch = json!([{"op": "add", "path": path, "value": value}]);
            assert_eq!(
                check(PatchKind::JsonPatch, &patch).is_ok(),
                allowed,
                "{patch}"
            );
        }
        for path in [
            "/spec/ephemeralContainers/0/image",
            "/spec/ephemeralContainers/0/securityContext/privileged",
        ] {
            let replace = json!([{"op": "replace", "path": path, "value": "x"}]);
            let err = check(PatchKind::JsonPatch, &replace).unwrap_err();
            assert!(err.contains("cannot check"), "{err}");
        }
        let copy = json!([{"op": "copy", "from": "/spec/containers/0", "path": "/spec/ephemeralContainers/-"}]);
        assert!(check(PatchKind::JsonPatch, &copy).is_err());
        // Pointer escapes are decoded: this is the key "spec/ephemeralContainers" at the root,
        // not the list, and writes no ephemeral container.
        let other = json!([{"op": "add", "path": "/metadata/labels/a~1b", "value": "x"},
                           {"op": "add", "path": "/spec~1ephemeralContainers", "value": []}]);
        assert_eq!(check(PatchKind::JsonPatch, &other), Ok(vec![]));
        let bad_escape = json!([{"op": "add", "path": "/spec/ephemeral~2Containers", "value": 1}]);
        assert!(check(PatchKind::JsonPatch, &bad_escape).is_err());
    }

    #[test]
    fn what_cannot_be_read_is_refused() {
        let cases = [
            (
                PatchKind::StrategicMergePatch,
                json!({"spec": {"ephemeralContainers": [{"name": "dbg", "$patch": "delete"}]}}),
            ),
            (
                PatchKind::StrategicMergePatch,
                json!({"spec": {"ephemeralContainers": [{"name": "dbg", "image": "busybox:1.36", "securityContext": {"$retainKeys": []}}]}}),
            ),
            (
                PatchKind::MergePatch,
                json!({"spec": {"ephemeralContainers": {"name": "dbg"}}}),
            ),
            (
                PatchKind::MergePatch,
                json!({"spec": {"ephemeralContainers": ["busybox:1.36"]}}),
            ),
            (
                PatchKind::MergePatch,
                json!({"spec": {"ephemeralContainers": [{"name": "dbg"}]}}),
            ),
            (
                PatchKind::MergePatch,
                json!({"spec": {"ephemeralContainers": [{"name": "dbg", "image": 7}]}}),
            ),
            (
                PatchKind::MergePatch,
                json!({"spec": {"ephemeralContainers": [{"name": "dbg", "image": "busybox:1.36", "securityContext": {"privileged": "yes"}}]}}),
            ),
            (
                PatchKind::MergePatch,
                json!({"spec": {"ephemeralContainers": [{"name": "dbg", "image": "busybox:1.36", "securityContext": {"capabilities": {"add": "NET_ADMIN"}}}]}}),
            ),
            (PatchKind::MergePatch, json!({"spec": "x"})),
            (PatchKind::MergePatch, json!([1])),
            (PatchKind::JsonPatch, json!({"op": "add"})),
            (PatchKind::JsonPatch, json!([{"op": "add", "path": "spec"}])),
        ];
        for (kind, body) in cases {
            assert!(check(kind, &body).is_err(), "{kind:?} {body}");
        }
        assert!(check_debug_request(&rules(), "p", PatchKind::MergePatch, b"{not json").is_err());
        assert!(check_debug_request(&rules(), "p", PatchKind::Apply, b"a: [").is_err());
    }

    #[test]
    fn a_body_without_ephemeral_containers_adds_none() {
        assert_eq!(
            check(
                PatchKind::MergePatch,
                &json!({"metadata": {"labels": {"a": "b"}}})
            ),
            Ok(vec![])
        );
        assert_eq!(
            check(
                PatchKind::StrategicMergePatch,
                &json!({"spec": {"ephemeralContainers": null}})
            ),
            Ok(vec![])
        );
    }

    #[test]
    fn digests_are_required_when_the_rules_say_so() {
        let digest = format!("busybox:1.36@sha256:{}", "a".repeat(64));
        let pinned = DebugRules::new([digest.clone()], true, []);
        let body = kubectl_patch(&digest, &json!({}));
        assert!(
            check_debug_request(
                &pinned,
                "p",
                PatchKind::StrategicMergePatch,
                body.to_string().as_bytes()
            )
            .is_ok()
        );
        // A tag alone is not in a digest-pinned list.
        let body = kubectl_patch("busybox:1.36", &json!({}));
        assert!(
            check_debug_request(
                &pinned,
                "p",
                PatchKind::StrategicMergePatch,
                body.to_string().as_bytes()
            )
            .is_err()
        );
        // Rules that require digests refuse an unpinned image even if listed.
        let loose = DebugRules::new(["busybox:1.36".to_owned()], true, []);
        let err = check_debug_request(
            &loose,
            "p",
            PatchKind::StrategicMergePatch,
            body.to_string().as_bytes(),
        )
        .unwrap_err();
        assert!(err.contains("without a digest"), "{err}");
    }

    #[test]
    fn the_patch_kind_comes_from_method_and_content_type() {
        let readable = [
            (
                "PATCH",
                "application/strategic-merge-patch+json",
                PatchKind::StrategicMergePatch,
            ),
            (
                "patch",
                "Application/JSON-Patch+JSON; charset=utf-8",
                PatchKind::JsonPatch,
            ),
            (
                "PATCH",
                "application/merge-patch+json",
                PatchKind::MergePatch,
            ),
            ("PATCH", "application/apply-patch+yaml", PatchKind::Apply),
            ("PUT", "application/json", PatchKind::Update { yaml: false }),
            ("PUT", "application/yaml", PatchKind::Update { yaml: true }),
        ];
        for (method, ct, kind) in readable {
            assert_eq!(PatchKind::of(method, Some(ct)), Ok(kind), "{method} {ct}");
        }
        for (method, ct) in [
            ("PUT", Some("application/vnd.kubernetes.protobuf")),
            ("PATCH", Some("application/apply-patch+cbor")),
            ("PATCH", None),
            ("POST", Some("application/json")),
        ] {
            assert!(PatchKind::of(method, ct).is_err(), "{method} {ct:?}");
        }
    }
}
