//! Pod manifests for the smoke cases. Containers in the sandbox are host processes: the image is
//! ignored, `command` runs as given, and no command means the sandbox's built-in HTTP server.

use serde_json::{Value, json};

/// A single-container pod, built up and rendered as JSON for `kubectl create -f -`.
#[derive(Debug, Clone)]
pub struct Pod {
    name: String,
    command: Option<Vec<String>>,
    ports: Vec<u16>,
    stdin: bool,
    restart_never: bool,
}

/// Name of the container in every [`Pod`].
pub const CONTAINER: &str = "main";

impl Pod {
    /// A pod whose container has no command: in the sandbox it serves HTTP on its ports.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            command: None,
            ports: Vec::new(),
            stdin: false,
            restart_never: false,
        }
    }

    /// A pod whose container runs `sh -c script`.
    pub fn shell(name: impl Into<String>, script: &str) -> Self {
        Self::new(name).command(["sh", "-c", script])
    }

    /// Sets the container's command.
    pub fn command<I, S>(mut self, argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.command = Some(argv.into_iter().map(Into::into).collect());
        self
    }

    /// Declares container ports.
    pub fn ports(mut self, ports: impl IntoIterator<Item = u16>) -> Self {
        self.ports.extend(ports);
        self
    }

    /// Keeps the container's stdin open for `kubectl attach -i`.
    pub fn stdin(mut self, stdin: bool) -> Self {
        self.stdin = stdin;
        self
    }

    /// `restartPolicy: Never`.
    pub fn restart_never(mut self) -> Self {
        self.restart_never = true;
        self
    }

    /// The pod name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The manifest.
    pub fn to_json(&self) -> Value {
        let mut container = json!({
            "name": CONTAINER,
            "image": "busybox",
        });
        if let Some(command) = &self.command {
            container["command"] = json!(command);
        }
        if !self.ports.is_empty() {
            container["ports"] = self
                .ports
                .iter()
                .map(|p| json!({"containerPort": p, "protocol": "TCP"}))
                .collect();
        }
        if self.stdin {
            container["stdin"] = json!(true);
        }
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": self.name, "labels": {"app.kubernetes.io/part-of": "jitgate-smoke"}},
            "spec": {
                // Short, so that namespace deletion at the end of a case is quick.
                "terminationGracePeriodSeconds": 1,
                "restartPolicy": if self.restart_never { "Never" } else { "Always" },
                "containers": [container],
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_pod_has_no_command_and_declares_ports() {
        let pod = Pod::new("web").ports([8080, 9090]).to_json();
        let c = &pod["spec"]["containers"][0];
        assert!(c.get("command").is_none());
        assert_eq!(c["ports"][1]["containerPort"], 9090);
        assert_eq!(pod["spec"]["restartPolicy"], "Always");
    }

    #[test]
    fn shell_pod_runs_sh_c() {
        let pod = Pod::shell("r", "read l")
            .stdin(true)
            .restart_never()
            .to_json();
        let c = &pod["spec"]["containers"][0];
        assert_eq!(c["command"], json!(["sh", "-c", "read l"]));
        assert_eq!(c["stdin"], true);
        assert_eq!(pod["spec"]["restartPolicy"], "Never");
    }
}
