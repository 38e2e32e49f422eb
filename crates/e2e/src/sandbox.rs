//! Where the sandbox cluster is: `JITGATE_SANDBOX_DIR`, written by `make sandbox-up`.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::error::{HarnessError, Result};

/// Environment variable with the absolute path of the sandbox directory.
pub const SANDBOX_DIR_ENV: &str = "JITGATE_SANDBOX_DIR";

/// A running sandbox cluster, as described by the files in its directory.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// The sandbox directory.
    pub dir: PathBuf,
    /// Kubeconfig of the cluster administrator.
    pub admin_kubeconfig: PathBuf,
    /// CA certificate of the apiserver.
    pub ca_cert: PathBuf,
    /// Contents of `state.json` (addresses, pids, versions), as written by the sandbox.
    pub state: serde_json::Value,
}

impl Sandbox {
    /// The sandbox named by [`SANDBOX_DIR_ENV`]; an unset variable is an error that says how to
    /// start one.
    pub fn from_env() -> Result<Self> {
        Self::from_dir_value(std::env::var_os(SANDBOX_DIR_ENV))
    }

    /// The sandbox in the directory `value` (the variable's value, if set).
    pub fn from_dir_value(value: Option<OsString>) -> Result<Self> {
        let dir = PathBuf::from(
            value
                .filter(|v| !v.is_empty())
                .ok_or(HarnessError::SandboxDirUnset)?,
        );
        if !dir.is_absolute() {
            return Err(HarnessError::SandboxDirRelative { dir });
        }
        let admin_kubeconfig = dir.join("admin.kubeconfig");
        let ca_cert = dir.join("ca.crt");
        let state_path = dir.join("state.json");
        for path in [&admin_kubeconfig, &ca_cert] {
            std::fs::metadata(path).map_err(|source| HarnessError::SandboxFile {
                path: path.clone(),
                source,
            })?;
        }
        let state_bytes =
            std::fs::read(&state_path).map_err(|source| HarnessError::SandboxFile {
                path: state_path.clone(),
                source,
            })?;
        let state =
            serde_json::from_slice(&state_bytes).map_err(|source| HarnessError::SandboxState {
                path: state_path,
                source,
            })?;
        Ok(Self {
            dir,
            admin_kubeconfig,
            ca_cert,
            state,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_says_how_to_start_the_sandbox() {
        let err = Sandbox::from_dir_value(None).expect_err("unset");
        let text = err.to_string();
        assert!(
            text.contains("run `make test` (it starts the sandbox)"),
            "{text}"
        );
        assert!(text.contains("JITGATE_SANDBOX_DIR"), "{text}");
    }

    #[test]
    fn relative_dir_is_rejected() {
        let err = Sandbox::from_dir_value(Some(".sandbox".into())).expect_err("relative");
        assert!(err.to_string().contains("not an absolute path"), "{err}");
    }

    #[test]
    fn missing_files_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = Sandbox::from_dir_value(Some(dir.path().into())).expect_err("empty dir");
        assert!(err.to_string().contains("admin.kubeconfig"), "{err}");
    }

    #[test]
    fn reads_a_complete_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("admin.kubeconfig"), "apiVersion: v1\n").expect("write");
        std::fs::write(dir.path().join("ca.crt"), "cert").expect("write");
        std::fs::write(dir.path().join("state.json"), r#"{"apiserver":"x"}"#).expect("write");
        let sandbox = Sandbox::from_dir_value(Some(dir.path().into())).expect("valid");
        assert_eq!(sandbox.state["apiserver"], "x");
        assert_eq!(
            sandbox.admin_kubeconfig,
            dir.path().join("admin.kubeconfig")
        );
    }
}
