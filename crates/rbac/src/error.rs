//! Why RBAC could not be rendered.

/// An input the renderer refuses, because Kubernetes would refuse what it would produce or
/// because it would grant something other than what was asked.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A target names a profile that is not defined.
    #[error("profile {0:?} is not defined; render only profiles the policy defines")]
    UnknownProfile(String),
    /// A target lists no namespace.
    #[error("profile {0:?} has no namespace to render it into")]
    NoNamespace(String),
    /// A namespace that Kubernetes would reject.
    #[error("{0:?} is not a valid namespace name (lowercase letters, digits and '-', at most 63)")]
    InvalidNamespace(String),
    /// A profile rendered twice.
    #[error("profile {0:?} appears in more than one target; list all its namespaces in one")]
    DuplicateTarget(String),
    /// The gateway's subject is invalid.
    #[error("invalid gateway subject: {0}")]
    InvalidSubject(String),
    /// YAML serialisation failed (not expected for these types).
    #[error("could not write YAML")]
    Yaml(#[source] serde_yaml::Error),
}
