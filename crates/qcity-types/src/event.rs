//! The typed events of the one bus.
//!
//! Wire names (serde tags) are stable: the store, the audit log and API clients read them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::health::{Colour, Health, ProbeState};
use crate::notice::Notice;
use crate::runner::{Activity, RunnerState};
use crate::task::{AutotestReport, TaskRun};

/// Something that happened, with its monotonic id and wall-clock time (ms since the epoch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Event {
    pub id: u64,
    pub ts_ms: i64,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// Every kind of event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
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
    /// A runner moved to a new state; its health and colour as the engine judged them then.
    RunnerState {
        runner: String,
        state: RunnerState,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        health: Option<Health>,
        #[serde(default)]
        colour: Colour,
        /// The controls that make sense in `state` ([`RunnerState::actions`]).
        #[serde(default)]
        actions: Vec<ControlAction>,
    },
    /// What a runner that reports its work (kind `github`) is doing, from its own output.
    RunnerActivity { runner: String, activity: Activity },
    /// Something needs a human: what happened and what to do.
    Escalation {
        runner: Option<String>,
        reason: String,
        advice: String,
    },
    /// The notifier decided to tell people something, on this channel (`desktop`: the tray
    /// shows it).
    Notice { channel: String, notice: Notice },
    /// A probe's verdict changed (pending, passing, failing), with what its check found, and
    /// the runner's health and colour after the change.
    ProbeChanged {
        runner: String,
        probe: String,
        state: ProbeState,
        detail: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        health: Option<Health>,
        #[serde(default)]
        colour: Colour,
    },
    /// A machine resource's verdict changed (disk, memory, load, battery), and the machine's
    /// health after the change.
    ResourceChanged {
        resource: String,
        state: ProbeState,
        detail: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        health: Option<Health>,
    },
    /// One attempt of a task ended.
    TaskFinished { run: TaskRun },
    /// A task trigger was refused (a run under way, a program missing).
    TaskSkipped { task: String, reason: String },
    /// `qcity autotest` ran.
    AutotestFinished { report: AutotestReport },
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
    /// A store writer (`journal` or `audit`) cannot commit: the disk is full or the database
    /// cannot be written. Supervision goes on; the events wait in memory and are retried.
    StoreFailed {
        writer: String,
        error: String,
        disk_full: bool,
    },
    /// The writer commits again, after failing for `after_ms`: nothing was lost.
    StoreRecovered { writer: String, after_ms: u64 },
    /// A scheduled backup was written (and older ones beyond `backup.keep` removed).
    BackupTaken {
        archive: String,
        bytes: u64,
        audit_rows: u64,
        removed: Vec<String>,
    },
    /// A scheduled backup could not be taken; the next is tried at the next interval.
    BackupFailed { error: String },
    /// A platform's status page says something new: its state changed (`unknown` when it
    /// could not be read).
    PlatformChanged {
        platform: String,
        /// As shown: `GitHub`.
        name: String,
        state: crate::PlatformState,
        previous: crate::PlatformState,
        summary: String,
    },
    /// A chat, mail or webhook message was not delivered and will not be tried again: the
    /// service refused it for good (a revoked token, a removed webhook) or 24 h passed.
    NotifyFailed {
        channel: String,
        /// The message's id in the outbox.
        message: i64,
        error: String,
    },
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
    /// QCity's own self-update: a step, from which version to which, and why.
    Update {
        /// Who applied it (`master:cli`…), or `engine` for the post-update check.
        actor: String,
        step: crate::update::UpdateStep,
        from: String,
        to: String,
        detail: String,
    },
    /// An offloaded job: its placement with reasons, an attempt, a failover, its end.
    Job {
        /// The run's id (`JOB-…`); not `id`, which is the event's own.
        run: String,
        job: String,
        step: crate::job::JobStep,
        /// The place the step happened at (`ssh:box`), if any.
        place: Option<String>,
        /// For `placed`: the order and why; otherwise empty.
        reasons: Vec<String>,
        detail: String,
    },
    /// Something happened in the fleet: this node connected or lost NATS, took or finished a
    /// job, dropped a duplicate, gave one up, applied or refused a runner manifest.
    Fleet {
        step: crate::fleet::FleetStep,
        /// The node it happened at.
        node: String,
        /// The job run it is about, if any.
        run: Option<String>,
        detail: String,
    },
}

/// A step of the healer's work on one failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
    /// The runner's platform reports an outage: no fix is tried until it is over.
    Waiting,
    /// A restart cannot fix the failure (a permission error, an error in the code): the
    /// runner was stopped after the escalation, so it does not restart in a loop.
    Held,
}

/// A step of a QI install.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum QiPhase {
    Downloading,
    Verifying,
    Installing,
    Installed,
    Failed,
}

/// What happened to access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
    /// Every kind's wire name (what `type` says), as [`EventKind::name`] gives them.
    pub const NAMES: [&'static str; 28] = [
        "engine-started",
        "engine-stopping",
        "runner-state",
        "runner-activity",
        "probe-changed",
        "resource-changed",
        "task-finished",
        "task-skipped",
        "autotest-finished",
        "escalation",
        "notice",
        "control",
        "config-applied",
        "config-rejected",
        "reconciled",
        "subscriber-lagged",
        "store-failed",
        "store-recovered",
        "backup-taken",
        "backup-failed",
        "notify-failed",
        "platform-changed",
        "auth",
        "qi-install",
        "heal",
        "update",
        "job",
        "fleet",
    ];

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
            Self::StoreFailed { .. } => "store-failed",
            Self::StoreRecovered { .. } => "store-recovered",
            Self::BackupTaken { .. } => "backup-taken",
            Self::BackupFailed { .. } => "backup-failed",
            Self::NotifyFailed { .. } => "notify-failed",
            Self::PlatformChanged { .. } => "platform-changed",
            Self::Auth { .. } => "auth",
            Self::QiInstall { .. } => "qi-install",
            Self::Heal { .. } => "heal",
            Self::Update { .. } => "update",
            Self::Job { .. } => "job",
            Self::Fleet { .. } => "fleet",
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
                health: None,
                colour: Colour::Green,
                actions: vec![ControlAction::Stop, ControlAction::Restart],
            },
        };
        let json = serde_json::to_value(&ev).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"id": 7, "ts_ms": 1, "type": "runner-state", "runner": "a",
                "state": {"state": "running", "pid": 10, "pgid": 10, "since_ms": 5}, "colour": "green",
                "actions": ["stop", "restart"]})
        );
        let back: Event = serde_json::from_value(json).unwrap();
        assert_eq!(back, ev);
        assert_eq!(ev.kind.name(), "runner-state");
    }

    /// NAMES lists exactly the tags the schema (and so serde) knows.
    #[test]
    fn names_are_every_tag() {
        let schema = serde_json::to_value(schemars::schema_for!(EventKind)).unwrap();
        let mut tags: Vec<String> = schema["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                v["properties"]["type"]["const"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        tags.sort();
        let mut names: Vec<&str> = EventKind::NAMES.to_vec();
        names.sort();
        assert_eq!(tags, names);
    }
}
