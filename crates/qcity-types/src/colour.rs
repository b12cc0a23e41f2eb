//! One colour and one sentence for a runner or a set of runners: what a tray icon, a status line
//! or a dashboard row shows at a glance. The engine computes them once (on its snapshots and
//! events); every face displays them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::health::{Colour, Health};
use crate::runner::{ExitInfo, RunnerState, RunnerStatus};

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
        .map(|r| (r.colour, r.name.as_str()))
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

    /// A status with the colour the engine would give it.
    fn status(name: &str, state: RunnerState) -> RunnerStatus {
        let mut s = RunnerStatus {
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
            actions: Vec::new(),
            usage: None,
        };
        s.colour = colour_of(&s);
        s
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
        degraded.colour = colour_of(&degraded);
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
