//! The core of `jitgate rbac render`: turns profiles into least-privilege Kubernetes RBAC, the
//! second lock behind the gateway. No I/O; the result is YAML for `kubectl apply -f -`.
//!
//! For every profile and namespace it renders a `Role` `jitgate:<profile>` with the profile's
//! rules and a `RoleBinding` of that Role to the **group** `jitgate:<profile>`, which only the
//! gateway ever asserts (by impersonation). Nothing is bound to a user, and nothing changes at
//! grant time, so the gateway needs neither `bind` nor `escalate`.
//!
//! Streaming subresources (`pods/exec`, `pods/attach`, `pods/portforward`) are rendered with both
//! `get` and `create` wherever the profile allows `create` on them: kubectl ≥ 1.30 opens them with
//! a WebSocket `GET`, and kube-apiserver ≥ 1.35 checks `create` as well.
//!
//! For the gateway itself it renders:
//! - `ClusterRole` `jitgate-gateway`: `impersonate` on every user; on groups only the rendered
//!   `jitgate:<profile>` groups and `system:authenticated` (`resourceNames`); on the user extras
//!   `jitgate.dev/grant` and `jitgate.dev/session`; and `create` on `subjectaccessreviews`, so the
//!   gateway can check the second lock before it opens a stream to a client.
//!   Impersonating `uids` is deliberately not granted: the gateway never sends `Impersonate-Uid`,
//!   and without the permission kube-apiserver refuses one if it ever slipped through.
//!   RBAC cannot say "every user but `system:*`", so the gateway itself must refuse to
//!   impersonate `system:` user names (e.g. `system:kube-controller-manager`).
//! - `ClusterRoleBinding` `jitgate-gateway` to the subject given (a user or a service account).
//! - `ClusterRole` `jitgate-gateway:pod-reader` (`get` pods, for label-scoped grants), bound by a
//!   `RoleBinding` in each rendered namespace only, rather than cluster-wide.

mod error;
mod objects;
mod render;

pub use error::RenderError;
pub use objects::{Object, ObjectMeta, PolicyRule, RoleRef, Subject};
pub use render::{
    GATEWAY_NAME, GatewaySubject, MANAGED_BY_LABEL, POD_READER_NAME, PROFILE_LABEL, Target, render,
    render_yaml, reserved_group, to_yaml,
};
