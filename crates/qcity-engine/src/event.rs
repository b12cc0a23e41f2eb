//! The typed events of the one bus, and the runner state machine's states.
//!
//! Wire names (serde tags) are stable: the store, the audit log and API clients read them.

use serde::{Deserialize, Serialize};

/// Something that happened, with its monotonic id and wall-clock time (ms since the epoch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: u64,
    pub ts_ms: i64,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// Every kind of event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum EventKind {
    /// The engine started with this configuration and data directory.
    EngineStarted {
        version: String,
        pid: u32,
        config_dir: String,
        data_dir: String,
    },
    /// The engine is shutting down and stopping every runner.
    EngineStopping { reason: String },
    /// A runner moved to a new state.
    RunnerState { runner: String, state: RunnerState },
    /// What a runner that reports its work (kind `github`) is doing, from its own output.
    RunnerActivity {
        runner: String,
        activity: crate::kind::Activity,
    },
    /// Something needs a human: what happened and what to do.
    Escalation {
        runner: Option<String>,
        reason: String,
        advice: String,
    },
    /// The notifier decided to tell people something, on this channel (`desktop`: the tray
    /// shows it).
    Notice {
        channel: String,
        notice: crate::notice::Notice,
    },
    /// A probe's verdict changed (pending, passing, failing), with what its check found.
    ProbeChanged {
        runner: String,
        probe: String,
        state: crate::probe::ProbeState,
        detail: String,
    },
    /// A machine resource's verdict changed (disk, memory, load, battery).
    ResourceChanged {
        resource: String,
        state: crate::probe::ProbeState,
        detail: String,
    },
    /// One attempt of a task ended.
    TaskFinished { run: crate::task::TaskRun },
    /// A task trigger was refused (a run under way, a program missing).
    TaskSkipped { task: String, reason: String },
    /// `qcity autotest` ran.
    AutotestFinished {
        report: crate::autotest::AutotestReport,
    },
    /// A control action, by whom, on what, and how it ended.
    Control {
        actor: String,
        action: ControlAction,
        target: String,
        outcome: String,
    },
    /// A configuration was applied (at start or on reload).
    ConfigApplied {
        added: Vec<String>,
        removed: Vec<String>,
        changed: Vec<String>,
        unchanged: usize,
    },
    /// A reload was refused; the last good configuration keeps running.
    ConfigRejected { errors: Vec<String> },
    /// A process left by a previous engine instance was found at start and terminated.
    Reconciled {
        runner: Option<String>,
        pid: u32,
        pgid: u32,
        found_by: String,
        killed: bool,
    },
    /// A subscriber could not keep up and missed events.
    SubscriberLagged { subscriber: String, missed: u64 },
    /// The QI installer: a step of an install, with progress while downloading.
    QiInstall {
        phase: QiPhase,
        /// The file (asset or feature) the step is about.
        file: String,
        done: u64,
        total: u64,
        detail: String,
    },
    /// Access to the API: a login, logout, failed login, revocation, or a user saved or removed.
    Auth {
        /// Who did it (`master:cli`, the user logging in, `engine` for a revocation).
        actor: String,
        action: AuthAction,
        /// The user it is about.
        user: String,
        /// The client's address.
        client: String,
        detail: String,
    },
    /// The healer: a diagnosis, a fix tried and how it ended.
    Heal {
        runner: String,
        /// The failure signature's key (`GET /api/v1/signatures`).
        signature: String,
        step: HealStep,
        /// The rule the step is about (empty for a diagnosis).
        rule: String,
        detail: String,
        /// Dry run: nothing was touched.
        dry_run: bool,
    },
}

/// A step of the healer's work on one failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HealStep {
    /// The failure's signature and the candidate fixes, best first.
    Diagnosed,
    /// A fix is being applied.
    Applying,
    /// In a dry run: the fix that would be applied.
    WouldApply,
    /// The fix worked: the failed check passes again.
    Validated,
    /// The fix did not work (or could not be applied).
    Failed,
    /// A failed fix was undone.
    RolledBack,
    /// Nothing worked: the master was told.
    Escalated,
}

/// A step of a QI install.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QiPhase {
    Downloading,
    Verifying,
    Installing,
    Installed,
    Failed,
}

/// What happened to access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthAction {
    Login,
    Logout,
    LoginFailed,
    /// Sessions or the token were revoked after abuse.
    Revoked,
    UserSaved,
    UserRemoved,
}

impl AuthAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Logout => "logout",
            Self::LoginFailed => "login-failed",
            Self::Revoked => "revoked",
            Self::UserSaved => "user-saved",
            Self::UserRemoved => "user-removed",
        }
    }
}

impl EventKind {
    /// The stable wire name of this kind (`runner-state`, `control`…).
    pub fn name(&self) -> &'static str {
        match self {
            Self::EngineStarted { .. } => "engine-started",
            Self::EngineStopping { .. } => "engine-stopping",
            Self::RunnerState { .. } => "runner-state",
            Self::RunnerActivity { .. } => "runner-activity",
            Self::ProbeChanged { .. } => "probe-changed",
            Self::ResourceChanged { .. } => "resource-changed",
            Self::TaskFinished { .. } => "task-finished",
            Self::TaskSkipped { .. } => "task-skipped",
            Self::AutotestFinished { .. } => "autotest-finished",
            Self::Escalation { .. } => "escalation",
            Self::Notice { .. } => "notice",
            Self::Control { .. } => "control",
            Self::ConfigApplied { .. } => "config-applied",
            Self::ConfigRejected { .. } => "config-rejected",
            Self::Reconciled { .. } => "reconciled",
            Self::SubscriberLagged { .. } => "subscriber-lagged",
            Self::Auth { .. } => "auth",
            Self::QiInstall { .. } => "qi-install",
            Self::Heal { .. } => "heal",
        }
    }

    /// The runner this event is about, if any.
    pub fn runner(&self) -> Option<&str> {
        match self {
            Self::RunnerState { runner, .. }
            | Self::RunnerActivity { runner, .. }
            | Self::ProbeChanged { runner, .. }
            | Self::Heal { runner, .. } => Some(runner),
            Self::Escalation { runner, .. } | Self::Reconciled { runner, .. } => runner.as_deref(),
            Self::Notice { notice, .. } => notice.runner.as_deref(),
            Self::Control { target, .. } => Some(target),
            Self::TaskFinished { run } => Some(&run.task),
            Self::TaskSkipped { task, .. } => Some(task),
            _ => None,
        }
    }
}

/// Control actions a user (CLI, API, tray) can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ControlAction {
    Start,
    Stop,
    Restart,
    Pause,
    Resume,
    Reload,
}

impl ControlAction {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Stop => "stop",
            Self::Restart => "restart",
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Reload => "reload",
        }
    }
}

/// How a runner's process ended (or failed to start).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_is_flat_and_tagged() {
        let ev = Event {
            id: 7,
            ts_ms: 1,
            kind: EventKind::RunnerState {
                runner: "a".into(),
                state: RunnerState::Running {
                    pid: 10,
                    pgid: 10,
                    since_ms: 5,
                },
            },
        };
        let json = serde_json::to_value(&ev).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"id": 7, "ts_ms": 1, "type": "runner-state", "runner": "a",
                "state": {"state": "running", "pid": 10, "pgid": 10, "since_ms": 5}})
        );
        let back: Event = serde_json::from_value(json).unwrap();
        assert_eq!(back, ev);
        assert_eq!(ev.kind.name(), "runner-state");
    }
}
