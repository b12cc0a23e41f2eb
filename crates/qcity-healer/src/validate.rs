//! Whether a fix worked: the failed probe passes again, or the runner's new run stays up.

use std::time::Duration;

use qcity_types::{EventKind, ProbeState, RunnerState};

use crate::case::Case;

/// The fix worked when the failed probe passes again within the window, or, for a runner
/// that failed, when its new run stays up (or ends cleanly) through the window. `from` is the
/// bus id from which the new run's events count.
pub(crate) async fn validate(case: &Case<'_>, from: Option<u64>) -> Result<String, String> {
    let window = Duration::from_millis(case.spec.validate_ms);
    let runner = &case.trigger.runner;
    let mut rx = case.engine.bus().subscribe("healer-validate", 1024);
    let from = from.unwrap_or(0);
    let probe = &case.trigger.probe;
    if !probe.is_empty() {
        let passing = case.engine.status().iter().any(|s| {
            s.name == *runner
                && s.probes
                    .iter()
                    .any(|p| p.name == *probe && p.state == ProbeState::Passing)
        });
        if passing {
            return Ok(format!("probe {probe} passes"));
        }
    }
    let deadline = tokio::time::Instant::now() + window;
    loop {
        let ev = match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(ev)) => ev,
            Ok(None) | Err(_) => break,
        };
        if ev.id < from || ev.kind.runner() != Some(runner.as_str()) {
            continue;
        }
        match &ev.kind {
            EventKind::ProbeChanged {
                probe: p,
                state: ProbeState::Passing,
                ..
            } if p == probe => return Ok(format!("probe {probe} passes again")),
            EventKind::RunnerState { state, .. } => match state {
                RunnerState::Exited { exit } if !exit.success() => {
                    return Err(format!("it failed again: {}", exit.describe()));
                }
                RunnerState::CrashLooping { .. } | RunnerState::NeedsRegistration { .. } => {
                    return Err(format!("it failed again: {}", state.name()));
                }
                _ => {}
            },
            _ => {}
        }
    }
    if !probe.is_empty() {
        return Err(format!(
            "probe {probe} still failing after {} ms",
            window.as_millis()
        ));
    }
    let state = case
        .engine
        .status()
        .into_iter()
        .find(|s| s.name == *runner)
        .map(|s| s.state);
    match state {
        Some(RunnerState::Running { .. }) => Ok(format!("up for {} ms", window.as_millis())),
        Some(RunnerState::Exited { exit }) if exit.success() => Ok("finished cleanly".into()),
        other => Err(format!(
            "not running after {} ms ({})",
            window.as_millis(),
            other.map_or("gone".into(), |s| s.name().to_string())
        )),
    }
}
