//! Health: a probe's verdict and a runner's health (the worst of its probes), and the colours
//! runners are shown in (`colour.rs` decides which).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A probe's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeState {
    /// No verdict yet (runner not running, in its start grace, or below the thresholds).
    Pending,
    Passing,
    Failing,
}

/// A probe's latest verdict and result, as the status shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProbeStatus {
    pub name: String,
    pub state: ProbeState,
    pub critical: bool,
    /// What the last check found (`status 200`, `connection refused`…).
    pub detail: String,
    /// When it was last checked, ms since the epoch (0: never).
    pub checked_ms: i64,
}

/// A runner's health: the worst of its probes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Health {
    Healthy,
    /// A non-critical probe fails.
    Degraded,
    /// A critical probe fails.
    Unhealthy,
}

/// The health of a set of probe verdicts; `None` without probes.
pub fn health_of<'a>(probes: impl IntoIterator<Item = &'a ProbeStatus>) -> Option<Health> {
    probes
        .into_iter()
        .map(|p| match (p.state, p.critical) {
            (ProbeState::Failing, true) => Health::Unhealthy,
            (ProbeState::Failing, false) => Health::Degraded,
            _ => Health::Healthy,
        })
        .max()
}

/// Worst first: the overall colour is the worst runner's.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Colour {
    /// A runner failing: an unclean exit, down waiting for its restart after one, a crash
    /// loop, a lost registration, a critical probe failing.
    Red,
    /// Degraded (a non-critical probe failing) or changing state (starting, backing off,
    /// stopping, pausing).
    Amber,
    /// Running and healthy.
    Green,
    /// Stopped, paused, or nothing to show.
    #[default]
    Grey,
}

impl Colour {
    pub fn as_str(self) -> &'static str {
        match self {
            Colour::Red => "red",
            Colour::Amber => "amber",
            Colour::Green => "green",
            Colour::Grey => "grey",
        }
    }

    /// The word for a runner of this colour in a summary.
    pub(crate) fn word(self) -> &'static str {
        match self {
            Colour::Red => "failing",
            Colour::Amber => "degraded or changing",
            Colour::Green => "running",
            Colour::Grey => "stopped or paused",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_is_the_worst_probe() {
        let p = |state, critical| ProbeStatus {
            name: "p".into(),
            state,
            critical,
            detail: String::new(),
            checked_ms: 0,
        };
        assert_eq!(health_of(&[]), None);
        assert_eq!(
            health_of(&[p(ProbeState::Passing, true), p(ProbeState::Pending, true)]),
            Some(Health::Healthy)
        );
        assert_eq!(
            health_of(&[p(ProbeState::Passing, true), p(ProbeState::Failing, false)]),
            Some(Health::Degraded)
        );
        assert_eq!(
            health_of(&[p(ProbeState::Failing, false), p(ProbeState::Failing, true)]),
            Some(Health::Unhealthy)
        );
    }
}
