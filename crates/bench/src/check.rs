//! Targets from the issue, written as ratio checks: `gateway/direct<=1.15`, `gateway/proxy<1`,
//! `gateway/direct>=0.9`.

use std::fmt;
use std::str::FromStr;

use anyhow::{Context as _, bail};

/// A comparison of two endpoints' figures against a bound.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// The endpoint measured.
    pub subject: String,
    /// The endpoint it is compared with.
    pub baseline: String,
    /// How the ratio must relate to the bound.
    pub op: Op,
    /// The bound.
    pub bound: f64,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Self::Lt => "<",
            Self::Le => "≤",
            Self::Gt => ">",
            Self::Ge => "≥",
        }
    }
}

impl FromStr for Check {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<Self> {
        let bad = || format!("{s:?}: expected SUBJECT/BASELINE(<|<=|>|>=)NUMBER");
        let (ratio, op, bound) = [("<=", Op::Le), (">=", Op::Ge), ("<", Op::Lt), (">", Op::Gt)]
            .into_iter()
            .find_map(|(sym, op)| s.split_once(sym).map(|(l, r)| (l, op, r)))
            .with_context(bad)?;
        let (subject, baseline) = ratio.split_once('/').with_context(bad)?;
        let bound: f64 = bound.trim().parse().with_context(bad)?;
        if subject.is_empty() || baseline.is_empty() || !bound.is_finite() {
            bail!(bad());
        }
        Ok(Self {
            subject: subject.trim().to_owned(),
            baseline: baseline.trim().to_owned(),
            op,
            bound,
        })
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{} {} {}",
            self.subject,
            self.baseline,
            self.op.symbol(),
            self.bound
        )
    }
}

impl Check {
    /// Whether `ratio` meets the bound.
    pub fn holds(&self, ratio: f64) -> bool {
        match self.op {
            Op::Lt => ratio < self.bound,
            Op::Le => ratio <= self.bound,
            Op::Gt => ratio > self.bound,
            Op::Ge => ratio >= self.bound,
        }
    }

    /// One line: the ratio, the bound, and `met` or `MISSED`.
    pub fn verdict(&self, what: &str, ratio: f64) -> String {
        format!(
            "{what}: {}/{} = {ratio:.3}× (target {} {}) {}",
            self.subject,
            self.baseline,
            self.op.symbol(),
            self.bound,
            if self.holds(ratio) { "met" } else { "MISSED" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_decides() {
        let c: Check = "gateway/direct<=1.15".parse().unwrap();
        assert_eq!(
            (c.subject.as_str(), c.baseline.as_str()),
            ("gateway", "direct")
        );
        assert_eq!(c.op, Op::Le);
        assert!(c.holds(1.15) && !c.holds(1.16));
        let c: Check = "gateway/proxy<1".parse().unwrap();
        assert!(c.holds(0.99) && !c.holds(1.0));
        let c: Check = "gateway/direct>=0.9".parse().unwrap();
        assert!(c.holds(0.9) && !c.holds(0.89));
        assert!("gateway<1".parse::<Check>().is_err());
        assert!("gateway/direct<=x".parse::<Check>().is_err());
        assert!("/direct<=1".parse::<Check>().is_err());
    }
}
