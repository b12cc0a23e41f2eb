//! Health and colour: a probe's verdict, a runner's health (the worst of its probes), the
//! colour a runner and a set of runners are shown in, and the sentence that explains it. The
//! engine computes them once; every face displays them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::runner::{ExitInfo, RunnerState, RunnerStatus};

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
    fn word(self) -> &'static str {
        match self {
            Colour::Red => "failing",
            Colour::Amber => "degraded or changing",
            Colour::Green => "running",
            Colour::Grey => "stopped or paused",
        }
    }
}

fn clean(e: &ExitInfo) -> bool {
    e.code == Some(0) && e.error.is_none()
}

/// One runner's colour.
pub fn colour_of(r: &RunnerStatus) -> Colour {
    colour(&r.state, r.last_exit.as_ref(), r.health)
}

/// The colour of a runner in `state`, after `last_exit`, with `health`.
pub fn colour(state: &RunnerState, last_exit: Option<&ExitInfo>, health: Option<Health>) -> Colour {
    match state {
        RunnerState::Exited { exit } => {
            return if clean(exit) {
                Colour::Grey
            } else {
                Colour::Red
            };
        }
        RunnerState::CrashLooping { .. } | RunnerState::NeedsRegistration { .. } => {
            return Colour::Red;
        }
        _ => {}
    }
    if health == Some(Health::Unhealthy) {
        return Colour::Red;
    }
    match state {
        RunnerState::Backoff { .. } if last_exit.is_some_and(|e| !clean(e)) => Colour::Red,
        RunnerState::Backoff { .. }
        | RunnerState::Starting
        | RunnerState::Stopping { .. }
        | RunnerState::Pausing { .. } => Colour::Amber,
        _ if health == Some(Health::Degraded) => Colour::Amber,
        RunnerState::Running { .. } => Colour::Green,
        _ => Colour::Grey,
    }
}

/// The colour of a set of runners and the sentence that explains it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Overall {
    pub colour: Colour,
    /// `3 runners: 2 running, 1 failing (build)`.
    pub summary: String,
}

/// The worst runner's colour (grey with no runner) and counts per colour, naming the failing
/// runners (up to three).
pub fn overall(runners: &[RunnerStatus]) -> Overall {
    let colours: Vec<(Colour, &str)> = runners
        .iter()
        .map(|r| (colour_of(r), r.name.as_str()))
        .collect();
    let colour = colours.iter().map(|c| c.0).min().unwrap_or(Colour::Grey);
    let n = runners.len();
    let mut parts = Vec::new();
    for c in [Colour::Green, Colour::Amber, Colour::Red, Colour::Grey] {
        let names: Vec<&str> = colours.iter().filter(|x| x.0 == c).map(|x| x.1).collect();
        if names.is_empty() {
            continue;
        }
        let mut part = format!("{} {}", names.len(), c.word());
        if c == Colour::Red {
            let shown: Vec<&str> = names.iter().take(3).copied().collect();
            let more = names.len() - shown.len();
            part.push_str(&format!(" ({}", shown.join(", ")));
            if more > 0 {
                part.push_str(&format!(" and {more} more"));
            }
            part.push(')');
        }
        parts.push(part);
    }
    let summary = match n {
        0 => "no runners".to_string(),
        1 => format!("1 runner: {}", parts.join(", ")),
        _ => format!("{n} runners: {}", parts.join(", ")),
    };
    Overall { colour, summary }
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

    fn status(name: &str, state: RunnerState) -> RunnerStatus {
        RunnerStatus {
            name: name.into(),
            state,
            pid: None,
            uptime_ms: None,
            restarts: 0,
            last_exit: None,
            activity: None,
            health: None,
            colour: Colour::Grey,
            probes: Vec::new(),
        }
    }

    fn exit(code: i32) -> ExitInfo {
        ExitInfo {
            code: Some(code),
            signal: None,
            uptime_ms: 10,
            error: None,
            at_ms: 0,
        }
    }

    fn running() -> RunnerState {
        RunnerState::Running {
            pid: 1,
            pgid: 1,
            since_ms: 0,
        }
    }

    #[test]
    fn the_worst_runner_gives_the_colour_and_the_failing_are_named() {
        let mut degraded = status("lint", running());
        degraded.health = Some(Health::Degraded);
        let all = [
            status("a", running()),
            status("b", running()),
            status("build", RunnerState::Exited { exit: exit(1) }),
            degraded,
        ];
        let o = overall(&all);
        assert_eq!(o.colour, Colour::Red);
        assert_eq!(
            o.summary,
            "4 runners: 2 running, 1 degraded or changing, 1 failing (build)"
        );
        assert_eq!(overall(&all[..2]).summary, "2 runners: 2 running");
        assert_eq!(overall(&all[..2]).colour, Colour::Green);
        assert_eq!(overall(&all[3..]).colour, Colour::Amber);
        assert_eq!(overall(&[]).colour, Colour::Grey);
    }

    #[test]
    fn each_state_has_its_colour() {
        let mut backoff_after_failure = status(
            "r",
            RunnerState::Backoff {
                attempt: 1,
                delay_ms: 100,
                until_ms: 0,
            },
        );
        assert_eq!(colour_of(&backoff_after_failure), Colour::Amber);
        backoff_after_failure.last_exit = Some(exit(2));
        assert_eq!(colour_of(&backoff_after_failure), Colour::Red);
        assert_eq!(
            colour_of(&status("r", RunnerState::Exited { exit: exit(0) })),
            Colour::Grey
        );
        assert_eq!(colour_of(&status("r", RunnerState::Paused)), Colour::Grey);
        let mut sick = status("r", running());
        sick.health = Some(Health::Unhealthy);
        assert_eq!(colour_of(&sick), Colour::Red);
        assert_eq!(
            colour_of(&status(
                "r",
                RunnerState::NeedsRegistration {
                    reason: "removed".into()
                }
            )),
            Colour::Red
        );
    }
}
