//! What starts a healing case: a failing exit, a crash loop, a lost registration or a probe
//! turning failing, read from an event as it happens or from a runner's status afterwards.

use qcity_types::{EventKind, ProbeState, RunnerState, RunnerStatus};

/// What set the healer off.
#[derive(Debug, Clone)]
pub(crate) struct Trigger {
    pub runner: String,
    pub exit: String,
    pub code: Option<i32>,
    pub signal: Option<i32>,
    /// A spawn error, added to the lines the signature is made of.
    pub error: Option<String>,
    /// The probe that turned failing (then the runner is still up).
    pub probe: String,
}

/// A [`Trigger`]'s `exit` for a crash loop.
pub(crate) const CRASH_LOOP: &str = "crash loop";
/// A [`Trigger`]'s `exit` for a lost registration.
pub(crate) const NEEDS_REGISTRATION: &str = "needs registration";

impl Trigger {
    fn new(runner: &str, exit: String) -> Trigger {
        Trigger {
            runner: runner.to_string(),
            exit,
            code: None,
            signal: None,
            error: None,
            probe: String::new(),
        }
    }

    /// A runner's own exit (not a crash loop, a lost registration or a probe): what a crash
    /// storm repeats, and what [`crate::repeats`] counts.
    pub fn is_exit(&self) -> bool {
        self.probe.is_empty() && self.exit != CRASH_LOOP && self.exit != NEEDS_REGISTRATION
    }

    /// Whether `other` ended the same way: the same exit, code, signal, spawn error and probe.
    pub fn same_failure(&self, other: &Trigger) -> bool {
        self.runner == other.runner
            && self.exit == other.exit
            && self.code == other.code
            && self.signal == other.signal
            && self.error == other.error
            && self.probe == other.probe
    }

    /// The failure an event reports, if it is one.
    pub fn from_event(kind: &EventKind) -> Option<Trigger> {
        match kind {
            EventKind::RunnerState { runner, state, .. } => match state {
                RunnerState::Exited { exit } if !exit.success() => Some(Trigger {
                    code: exit.code,
                    signal: exit.signal,
                    error: exit.error.clone(),
                    ..Trigger::new(runner, exit.describe())
                }),
                RunnerState::CrashLooping { .. } => Some(Trigger::new(runner, CRASH_LOOP.into())),
                RunnerState::NeedsRegistration { .. } => {
                    Some(Trigger::new(runner, NEEDS_REGISTRATION.into()))
                }
                _ => None,
            },
            EventKind::ProbeChanged {
                runner,
                probe,
                state: ProbeState::Failing,
                ..
            } => Some(Trigger {
                probe: probe.clone(),
                ..Trigger::new(runner, String::new())
            }),
            _ => None,
        }
    }

    /// The failure a runner's status shows now, if it is failing.
    pub fn from_status(st: &RunnerStatus) -> Option<Trigger> {
        let last = st.last_exit.as_ref();
        let base = |exit: String| Trigger {
            code: last.and_then(|e| e.code),
            signal: last.and_then(|e| e.signal),
            error: last.and_then(|e| e.error.clone()),
            ..Trigger::new(&st.name, exit)
        };
        match &st.state {
            RunnerState::CrashLooping { .. } => Some(base(CRASH_LOOP.into())),
            RunnerState::NeedsRegistration { .. } => Some(base(NEEDS_REGISTRATION.into())),
            RunnerState::Exited { .. } | RunnerState::Backoff { .. } => {
                last.filter(|e| !e.success()).map(|e| base(e.describe()))
            }
            _ => st
                .probes
                .iter()
                .find(|p| p.state == ProbeState::Failing)
                .map(|p| Trigger {
                    probe: p.name.clone(),
                    ..Trigger::new(&st.name, String::new())
                }),
        }
    }
}
