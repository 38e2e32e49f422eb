//! Which ports `kubectl port-forward` may open under a profile: its `portForward.ports`, compiled.

use std::fmt;

use crate::model::PortSpec;

/// The ports a profile opens to port-forward: single ports and inclusive ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortAllowlist {
    ranges: Vec<(u16, u16)>,
}

impl PortAllowlist {
    /// Compiles `portForward.ports`.
    ///
    /// # Errors
    ///
    /// The first entry that is not a port or range of ports 1–65535, with why (the lint reports
    /// these with their position, so a linted policy never fails here).
    pub fn from_specs(specs: &[PortSpec]) -> Result<Self, String> {
        let ranges = specs
            .iter()
            .map(PortSpec::range)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { ranges })
    }

    /// Whether `port` is one of the ports or inside one of the ranges.
    #[must_use]
    pub fn allows(&self, port: u16) -> bool {
        self.ranges
            .iter()
            .any(|&(low, high)| low <= port && port <= high)
    }
}

/// `8080, 8443, 9000-9100`, as the policy wrote them; `none` for an empty list.
impl fmt::Display for PortAllowlist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ranges.is_empty() {
            return f.write_str("none");
        }
        for (i, &(low, high)) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            if low == high {
                write!(f, "{low}")?;
            } else {
                write!(f, "{low}-{high}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(specs: &[PortSpec]) -> PortAllowlist {
        PortAllowlist::from_specs(specs).expect("valid ports")
    }

    #[test]
    fn single_ports_and_inclusive_ranges_are_open_and_nothing_else() {
        let ports = list(&[
            PortSpec::Number(8080),
            PortSpec::Text("8443".into()),
            PortSpec::Text("9000-9100".into()),
        ]);
        for open in [8080, 8443, 9000, 9050, 9100] {
            assert!(ports.allows(open), "{open}");
        }
        for closed in [1, 22, 5432, 8079, 8081, 8999, 9101, 65535] {
            assert!(!ports.allows(closed), "{closed}");
        }
        assert_eq!(ports.to_string(), "8080, 8443, 9000-9100");
    }

    #[test]
    fn an_empty_list_opens_no_port() {
        let ports = list(&[]);
        assert!(!ports.allows(8080));
        assert_eq!(ports.to_string(), "none");
    }

    #[test]
    fn entries_that_are_not_ports_are_refused() {
        for bad in [
            PortSpec::Number(0),
            PortSpec::Number(70000),
            PortSpec::Text("9100-9000".into()),
            PortSpec::Text("http".into()),
        ] {
            assert!(
                PortAllowlist::from_specs(std::slice::from_ref(&bad)).is_err(),
                "{bad:?}"
            );
        }
    }
}
