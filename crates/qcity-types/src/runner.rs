//! A runner's state machine states, how its process ended, what it says it is doing, and its
//! status as the API and the faces show it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::health::{Colour, Health, ProbeStatus};

/// How a runner's process ended (or failed to start).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ExitInfo {
    /// Exit code, when the process exited normally.
    pub code: Option<i32>,
    /// Signal number, when a signal killed it.
    pub signal: Option<i32>,
    /// How long it ran, in ms.
    pub uptime_ms: u64,
    /// Why it could not be started (then code and signal are None).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When it ended, ms since the epoch.
    pub at_ms: i64,
}

impl ExitInfo {
    /// A clean exit: code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// One short human phrase: `exit 3`, `signal 9 (SIGKILL)`, `spawn failed: …`.
    pub fn describe(&self) -> String {
        match (&self.error, self.code, self.signal) {
            (Some(err), _, _) => format!("spawn failed: {err}"),
            (None, Some(code), _) => format!("exit {code}"),
            (None, None, Some(sig)) => format!("signal {sig} ({})", signal_name(sig)),
            (None, None, None) => "unknown".to_string(),
        }
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGABRT => "SIGABRT",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        _ => "?",
    }
}

/// Every state's wire name, in the order of the state machine.
pub const STATE_NAMES: [&str; 10] = [
    "stopped",
    "starting",
    "running",
    "backoff",
    "stopping",
    "exited",
    "crash-looping",
    "needs-registration",
    "pausing",
    "paused",
];

/// The state of one runner. Each variant carries the data valid in that state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum RunnerState {
    /// Not running and not going to run until started.
    Stopped,
    /// Being spawned.
    Starting,
    /// Running as process group `pgid` (its leader is `pid`) since `since_ms`.
    Running { pid: u32, pgid: u32, since_ms: i64 },
    /// Waiting `delay_ms` before restart number `attempt`.
    Backoff {
        attempt: u32,
        delay_ms: u64,
        until_ms: i64,
    },
    /// Stop requested: SIGTERM sent to the group, SIGKILL at `kill_at_ms`.
    Stopping { pid: u32, kill_at_ms: i64 },
    /// The process ended. Final when the restart policy does not restart it.
    Exited { exit: ExitInfo },
    /// Too many restarts in the window: waiting for the cool-down, then tried again.
    CrashLooping {
        restarts: u32,
        window_ms: u64,
        until_ms: i64,
    },
    /// The runner's registration is gone (kind `github`): not restarted until it is
    /// registered again and started by hand.
    NeedsRegistration { reason: String },
    /// Paused while at work: it finishes its job (or jobs), then stops (drain).
    Pausing {
        pid: u32,
        /// The job it finishes, when its output names it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        job: Option<String>,
    },
    /// Paused: stopped and not restarted until resumed.
    Paused,
}

impl RunnerState {
    /// The stable wire name (`running`, `crash-looping`…).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Stopped => "stopped",
            Self::Starting => "starting",
            Self::Running { .. } => "running",
            Self::Backoff { .. } => "backoff",
            Self::Stopping { .. } => "stopping",
            Self::Exited { .. } => "exited",
            Self::CrashLooping { .. } => "crash-looping",
            Self::NeedsRegistration { .. } => "needs-registration",
            Self::Pausing { .. } => "pausing",
            Self::Paused => "paused",
        }
    }
}

/// What the runner is doing, as far as its output tells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "activity", rename_all = "kebab-case")]
pub enum Activity {
    /// Started, not yet connected.
    Connecting,
    /// Connected and waiting for a job.
    Listening,
    /// Running a job.
    RunningJob { job: String },
    /// The last job ended with this result, and no new `Listening for Jobs` line came yet.
    JobCompleted { job: String, result: String },
    /// Lost its connection and retrying.
    Offline { reason: String },
    /// Updating itself.
    Updating,
}

/// One runner's status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunnerStatus {
    pub name: String,
    pub state: RunnerState,
    /// Pid of the group leader while running or stopping.
    pub pid: Option<u32>,
    /// Milliseconds since the current process started, while running.
    pub uptime_ms: Option<u64>,
    /// Starts after the first one (automatic and manual), since the engine started.
    pub restarts: u64,
    pub last_exit: Option<ExitInfo>,
    /// What the runner says it is doing (kinds `github`, `gitlab`), while it runs; null
    /// otherwise. (Always present, so a reader's `.activity` is null, not missing.)
    #[serde(default)]
    pub activity: Option<Activity>,
    /// The worst verdict of its probes; null without probes.
    #[serde(default)]
    pub health: Option<Health>,
    /// The colour it is shown in, computed by the engine from its state, last exit and health
    /// (faces display it, they never compute it).
    #[serde(default)]
    pub colour: Colour,
    /// Every probe's latest verdict and result; empty without probes.
    #[serde(default)]
    pub probes: Vec<ProbeStatus>,
    /// The controls that make sense in its state ([`RunnerState::actions`]): faces enable
    /// those and no others.
    #[serde(default)]
    pub actions: Vec<crate::ControlAction>,
    /// What its processes use (the process group and its descendants), as last sampled by
    /// the engine's resource monitor (every `resources.interval_ms`); null when nothing runs
    /// or no sample was taken yet. Not carried by events: it changes all the time.
    #[serde(default)]
    pub usage: Option<RunnerUsage>,
}

/// CPU and memory of a runner's processes: its process group and their descendants.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunnerUsage {
    /// CPU time used between the last two samples, in percent of one core (as `top`: 200
    /// is two cores busy). A process group's first sample averages over its leader's life.
    pub cpu_percent: f64,
    /// Resident memory, summed over the processes, in bytes.
    pub memory_bytes: u64,
    /// Processes counted.
    pub processes: u32,
}

impl RunnerState {
    /// The controls that make sense in this state, in the order faces show them: Start when
    /// nothing runs and it is not paused; Stop unless stopped; Restart always; Pause while
    /// it runs (or waits to run again); Resume while paused or pausing.
    pub fn actions(&self) -> Vec<crate::ControlAction> {
        use crate::ControlAction as A;
        let running = matches!(
            self,
            Self::Running { .. } | Self::Starting | Self::Backoff { .. }
        );
        let paused = matches!(self, Self::Paused | Self::Pausing { .. });
        let mut out = Vec::with_capacity(4);
        if !running && !paused {
            out.push(A::Start);
        }
        if !matches!(self, Self::Stopped) {
            out.push(A::Stop);
        }
        out.push(A::Restart);
        if running {
            out.push(A::Pause);
        }
        if paused {
            out.push(A::Resume);
        }
        out
    }
}

#[cfg(test)]
mod actions_tests {
    use super::RunnerState;
    use crate::ControlAction as A;

    #[test]
    fn each_state_offers_the_controls_that_make_sense_in_it() {
        let running = RunnerState::Running {
            pid: 1,
            pgid: 1,
            since_ms: 0,
        };
        assert_eq!(running.actions(), [A::Stop, A::Restart, A::Pause]);
        assert_eq!(RunnerState::Stopped.actions(), [A::Start, A::Restart]);
        assert_eq!(
            RunnerState::Paused.actions(),
            [A::Stop, A::Restart, A::Resume]
        );
        assert_eq!(
            RunnerState::Starting.actions(),
            [A::Stop, A::Restart, A::Pause]
        );
    }
}
