//! The live status of every runner, as the API and the CLI show it.

use std::collections::BTreeMap;
use std::sync::Mutex;

use qcity_platform::clock::now_ms;
use qcity_types::{
    Activity, Colour, ExitInfo, Health, ProbeStatus, RunnerState, RunnerStatus, RunnerUsage,
    colour, health_of,
};

#[derive(Debug, Default)]
struct Entry {
    state: Option<RunnerState>,
    starts: u64,
    last_exit: Option<ExitInfo>,
    activity: Option<Activity>,
    /// When the output last confirmed the activity (even unchanged).
    said_at_ms: i64,
    probes: BTreeMap<String, ProbeStatus>,
    /// What its processes use, as last sampled (`health::usage`).
    usage: Option<RunnerUsage>,
}

/// A runner's health and colour at one moment, as the engine's events carry them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Judged {
    pub health: Option<Health>,
    pub colour: Colour,
}

impl Entry {
    fn judged(&self) -> Judged {
        let health = health_of(self.probes.values());
        let state = self.state.as_ref().unwrap_or(&RunnerState::Stopped);
        Judged {
            health,
            colour: colour(state, self.last_exit.as_ref(), health),
        }
    }
}

/// Status of all runners; each update is one short lock.
#[derive(Debug, Default)]
pub struct StatusTable {
    entries: Mutex<BTreeMap<String, Entry>>,
}

impl StatusTable {
    /// Sets the runner's state; returns its health and colour in it.
    pub fn set_state(&self, runner: &str, state: RunnerState) -> Judged {
        let mut map = self.lock();
        let entry = map.entry(runner.to_string()).or_default();
        if matches!(state, RunnerState::Starting) {
            entry.starts += 1;
        }
        if process_group(&state).is_none() {
            entry.usage = None;
        }
        entry.state = Some(state);
        entry.judged()
    }

    /// Returns whether the activity changed.
    pub fn set_activity(&self, runner: &str, activity: Option<Activity>) -> bool {
        let mut map = self.lock();
        let entry = map.entry(runner.to_string()).or_default();
        let changed = entry.activity != activity;
        entry.activity = activity;
        entry.said_at_ms = now_ms();
        changed
    }

    /// What the runner's output last said it does, and when it said so.
    pub fn activity_of(&self, runner: &str) -> Option<(Activity, i64)> {
        let map = self.lock();
        let e = map.get(runner)?;
        Some((e.activity.clone()?, e.said_at_ms))
    }

    /// Records a probe's latest result; returns the runner's health and colour with it.
    pub fn set_probe(&self, runner: &str, probe: ProbeStatus) -> Judged {
        let mut map = self.lock();
        let entry = map.entry(runner.to_string()).or_default();
        entry.probes.insert(probe.name.clone(), probe);
        entry.judged()
    }

    pub fn clear_probes(&self, runner: &str) {
        if let Some(e) = self.lock().get_mut(runner) {
            e.probes.clear();
        }
    }

    pub fn record_exit(&self, runner: &str, exit: ExitInfo) {
        self.lock().entry(runner.to_string()).or_default().last_exit = Some(exit);
    }

    pub fn state(&self, runner: &str) -> Option<RunnerState> {
        self.lock().get(runner).and_then(|e| e.state.clone())
    }

    /// Every runner with a live process group: its name and pgid.
    pub fn process_groups(&self) -> Vec<(String, u32)> {
        self.lock()
            .iter()
            .filter_map(|(name, e)| Some((name.clone(), process_group(e.state.as_ref()?)?)))
            .collect()
    }

    /// Records usage samples `(runner, pgid, usage)`; a sample whose runner has moved on to
    /// another process group since is dropped.
    pub fn set_usage(&self, samples: Vec<(String, u32, Option<RunnerUsage>)>) {
        let mut map = self.lock();
        for (runner, pgid, usage) in samples {
            if let Some(e) = map.get_mut(&runner)
                && e.state.as_ref().and_then(process_group) == Some(pgid)
            {
                e.usage = usage;
            }
        }
    }

    pub fn remove(&self, runner: &str) {
        self.lock().remove(runner);
    }

    /// One runner's status.
    pub fn snapshot_of(&self, runner: &str) -> Option<RunnerStatus> {
        let now = now_ms();
        self.lock().get(runner).map(|e| status_of(runner, e, now))
    }

    /// Every runner's status, sorted by name.
    pub fn snapshot(&self) -> Vec<RunnerStatus> {
        let now = now_ms();
        self.lock()
            .iter()
            .map(|(name, e)| status_of(name, e, now))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The process group of a runner in `state`, while it has one: a runner leads its own
/// group, so its leader's pid is the pgid.
fn process_group(state: &RunnerState) -> Option<u32> {
    match state {
        RunnerState::Running { pgid, .. } => Some(*pgid),
        RunnerState::Stopping { pid, .. } | RunnerState::Pausing { pid, .. } => Some(*pid),
        _ => None,
    }
}

fn status_of(name: &str, e: &Entry, now: i64) -> RunnerStatus {
    let state = e.state.clone().unwrap_or(RunnerState::Stopped);
    let (pid, uptime_ms) = match &state {
        RunnerState::Running { pid, since_ms, .. } => {
            (Some(*pid), Some((now - since_ms).max(0) as u64))
        }
        RunnerState::Stopping { pid, .. } => (Some(*pid), None),
        RunnerState::Pausing { pid, .. } => (Some(*pid), None),
        _ => (None, None),
    };
    let judged = e.judged();
    RunnerStatus {
        name: name.to_string(),
        pid,
        uptime_ms,
        restarts: e.starts.saturating_sub(1),
        last_exit: e.last_exit.clone(),
        activity: e.activity.clone(),
        health: judged.health,
        colour: judged.colour,
        probes: e.probes.values().cloned().collect(),
        actions: state.actions(),
        usage: e.usage,
        state,
    }
}
