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
//! For the gateway itself it renders, in [`ImpersonationMode::Constrained`] (the default:
//! constrained impersonation, KEP-5284, `user-info` mode; beta and on by default since
//! Kubernetes 1.36), where the gateway holds **no** legacy `impersonate` verb:
//! - `ClusterRole` `jitgate-gateway`:
//!   - the primary checks, verb `impersonate:user-info` in `authentication.k8s.io`: on every
//!     user (`users`); on groups only the rendered `jitgate:<profile>` groups and
//!     `system:authenticated` (`resourceNames`); on the user extras `jitgate.dev/grant` and
//!     `jitgate.dev/session` (`userextras/<key>`, any value);
//!   - the secondary checks, verb `impersonate-on:user-info:<verb>`, for what the gateway forwards
//!     without a grant: `create` on the self-reviews (cluster-scoped) and `get`/`head` on the
//!     discovery paths (`nonResourceURLs`), both effective only cluster-wide;
//!   - `create` on `subjectaccessreviews`, so the gateway can check the second lock before it
//!     opens a stream to a client.
//! - `ClusterRole` `jitgate-gateway:impersonate-on:<profile>` for each profile: the profile's rules
//!   with every verb `v` turned into `impersonate-on:user-info:v`, bound by a `RoleBinding` in
//!   each namespace the profile is rendered into only. kube-apiserver checks this verb on the
//!   resource, subresource and namespace of every impersonated request, so even a compromised
//!   gateway can impersonate users (any user, even one bound to `cluster-admin`) only for what the
//!   rendered profiles allow where they are rendered.
//!
//! In [`ImpersonationMode::Legacy`] (clusters without `ConstrainedImpersonation`) it renders
//! `ClusterRole` `jitgate-gateway` with the legacy `impersonate` verb on every user, on the same
//! groups (`resourceNames`) and extras, and `create` on `subjectaccessreviews`; that lets the
//! gateway impersonate any user for any request.
//!
//! In both modes:
//! - Impersonating `uids` is deliberately not granted: the gateway never sends `Impersonate-Uid`,
//!   and without the permission kube-apiserver refuses one if it ever slipped through.
//!   RBAC cannot say "every user but `system:*`", so the gateway itself must refuse to
//!   impersonate `system:` user names (e.g. `system:kube-controller-manager`). (Constrained
//!   impersonation's `user-info` mode refuses service-account and node names, and the group
//!   `system:masters`, by itself.)
//! - `ClusterRoleBinding` `jitgate-gateway` to the subject given (a user or a service account).
//! - `ClusterRole` `jitgate-gateway:pod-reader` (`get` pods, for label-scoped grants), bound by a
//!   `RoleBinding` in each rendered namespace only, rather than cluster-wide.

mod error;
mod objects;
mod render;

pub use error::RenderError;
pub use objects::{Object, ObjectMeta, PolicyRule, RoleRef, Subject};
pub use render::{
    GATEWAY_NAME, GatewaySubject, IMPERSONATE_ON_USER_INFO, IMPERSONATE_USER_INFO,
    ImpersonationMode, MANAGED_BY_LABEL, POD_READER_NAME, PROFILE_LABEL, REQUEST_VERBS, Target,
    impersonate_on_name, render, render_yaml, reserved_group, to_yaml,
};
