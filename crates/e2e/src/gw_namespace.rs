//! Namespaces `gw-<random>` for one gateway test, with jitgate's rendered RBAC applied, deleted
//! when the test ends (pass or fail) — [`TestNamespace`]s plus the RBAC.

use crate::kubectl::Kubectl;
use crate::namespace::TestNamespace;
use crate::pod::Pod;
use crate::stack::{GatewayStack, StackResult};

/// Namespaces created by the cluster administrator for a gateway test; each is deleted on drop
/// (see [`TestNamespace`]).
#[derive(Debug)]
pub struct GatewayNamespaces {
    namespaces: Vec<TestNamespace>,
}

impl GatewayNamespaces {
    /// Creates `count` namespaces `gw-<random>` and applies `jitgate rbac render` for all of
    /// them (Roles and RoleBindings for the `jitgate:<profile>` groups, the gateway's
    /// impersonation RBAC).
    pub fn create(
        stack: &GatewayStack,
        admin: &Kubectl,
        case: &str,
        count: usize,
    ) -> StackResult<Self> {
        let mut namespaces = Vec::with_capacity(count);
        for _ in 0..count {
            namespaces.push(TestNamespace::create_named(
                admin,
                "gw",
                "jitgate-gateway-e2e",
                case,
            )?);
        }
        let names: Vec<&str> = namespaces.iter().map(TestNamespace::name).collect();
        stack.apply_rbac(admin, &names)?;
        Ok(Self { namespaces })
    }

    /// The `i`th namespace's name.
    ///
    /// # Panics
    ///
    /// If fewer namespaces were created (a bug in the test).
    pub fn name(&self, i: usize) -> &str {
        self.namespaces[i].name()
    }

    fn get(&self, ns: &str) -> StackResult<&TestNamespace> {
        self.namespaces
            .iter()
            .find(|n| n.name() == ns)
            .ok_or_else(|| {
                crate::stack::StackError::unexpected(
                    format!("namespace {ns}"),
                    "not one of this test's namespaces",
                )
            })
    }

    /// The admin kubectl scoped to namespace `ns`.
    ///
    /// # Panics
    ///
    /// If `ns` is not one of this test's namespaces (a bug in the test).
    pub fn admin_in(&self, ns: &str) -> Kubectl {
        match self.get(ns) {
            Ok(n) => n.admin().clone(),
            Err(e) => panic!("{e}"),
        }
    }

    /// Creates a pod in `ns` as admin, retrying while the `default` ServiceAccount is missing.
    pub fn create_pod(&self, ns: &str, pod: &Pod) -> StackResult<()> {
        Ok(self.get(ns)?.create_pod(pod)?)
    }

    /// Creates a pod in `ns` and waits until it is Ready (the error shows `kubectl describe`).
    pub fn start_pod(&self, ns: &str, pod: &Pod) -> StackResult<()> {
        Ok(self.get(ns)?.start_pod(pod)?)
    }
}
