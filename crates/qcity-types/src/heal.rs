//! The healer as the API shows it: what it would do about a runner now (`heal-plan`), the
//! failure signatures it learned from, and a fix with its learned score.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What kind of failure the healer diagnosed, from all the evidence it has (the exit and the
/// signal, the whole output tail, the runner's kind). Each kind has its first action.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum FailureCategory {
    /// No space left where it writes: free space (the runner's caches), then restart.
    DiskFull,
    /// A command or tool it runs is not installed: install the dependencies, then restart.
    MissingCommand,
    /// A package, module, header or library is missing: install the dependencies, then
    /// restart.
    MissingModule,
    /// Connection refused, network or host unreachable, a name that does not resolve, a
    /// service daemon down: wait for the network or the named endpoint, then restart.
    Network,
    /// Killed for memory or an allocation failed: restart with less concurrency.
    OutOfMemory,
    /// Open files, processes, watchers or file size above their limit: restart with less
    /// concurrency.
    ResourceLimit,
    /// A corrupted cache or archive: clear the runner's caches, then restart.
    CorruptCache,
    /// Permission denied or a read-only filesystem: a restart cannot help, escalate.
    PermissionDenied,
    /// The port it listens on is taken: wait until the holder is gone, then restart.
    PortInUse,
    /// Killed by a signal it raised itself (a segfault, an abort): restart.
    Crashed,
    /// It ran out of time: restart.
    Timeout,
    /// A version-control error (a conflict, a missing remote, a lock): escalate, or remove a
    /// lock no process holds.
    VcsError,
    /// Compile or test errors in the user's code: escalate, never restart in a loop.
    CodeError,
    /// The runner's registration was removed: escalate with the steps to register again.
    RegistrationRemoved,
    /// The runner lost its platform: wait for the platform, then restart.
    RunnerOffline,
    /// Nothing recognised: the restart policy, and the signature kept for learning.
    Unknown,
}

impl FailureCategory {
    /// Every category, in the order above (the classifier's classes).
    pub const ALL: [FailureCategory; 16] = [
        FailureCategory::DiskFull,
        FailureCategory::MissingCommand,
        FailureCategory::MissingModule,
        FailureCategory::Network,
        FailureCategory::OutOfMemory,
        FailureCategory::ResourceLimit,
        FailureCategory::CorruptCache,
        FailureCategory::PermissionDenied,
        FailureCategory::PortInUse,
        FailureCategory::Crashed,
        FailureCategory::Timeout,
        FailureCategory::VcsError,
        FailureCategory::CodeError,
        FailureCategory::RegistrationRemoved,
        FailureCategory::RunnerOffline,
        FailureCategory::Unknown,
    ];

    /// Its name in events, the API and the corpus: `disk-full`.
    pub fn name(self) -> &'static str {
        match self {
            FailureCategory::DiskFull => "disk-full",
            FailureCategory::MissingCommand => "missing-command",
            FailureCategory::MissingModule => "missing-module",
            FailureCategory::Network => "network",
            FailureCategory::OutOfMemory => "out-of-memory",
            FailureCategory::ResourceLimit => "resource-limit",
            FailureCategory::CorruptCache => "corrupt-cache",
            FailureCategory::PermissionDenied => "permission-denied",
            FailureCategory::PortInUse => "port-in-use",
            FailureCategory::Crashed => "crashed",
            FailureCategory::Timeout => "timeout",
            FailureCategory::VcsError => "vcs-error",
            FailureCategory::CodeError => "code-error",
            FailureCategory::RegistrationRemoved => "registration-removed",
            FailureCategory::RunnerOffline => "runner-offline",
            FailureCategory::Unknown => "unknown",
        }
    }

    /// The category of `name` (as [`FailureCategory::name`] writes it).
    pub fn from_name(name: &str) -> Option<FailureCategory> {
        FailureCategory::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Its position in [`FailureCategory::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for FailureCategory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A fix as the plan and the signature list show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FixView {
    pub rule: String,
    /// The actions, as words (`run npm ci`, `restart`); empty in a signature's history.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    pub attempts: u64,
    pub successes: u64,
    /// `(successes + 1) / (attempts + 2)`: the order fixes are tried in.
    pub score: f64,
}

/// What the healer would do about a runner now (`qcity heal --dry-run`). Nothing is touched
/// and nothing recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HealPlan {
    pub runner: String,
    /// The failure's signature; absent when the runner is not failing.
    pub signature: Option<String>,
    pub summary: String,
    /// What kind of failure it is; absent when the runner is not failing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<FailureCategory>,
    /// How sure the healer is of the category, 0–1 (a fix that deletes something needs
    /// 0.8 and no other category above 0.1).
    #[serde(default)]
    pub confidence: f64,
    /// The output lines that weighed most for the category, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
    /// The output lines that explain the failure, and their templates.
    pub lines: Vec<String>,
    pub templates: Vec<String>,
    /// Fixes that fit, in the order they would be tried.
    pub fixes: Vec<FixView>,
    /// Built-in rules that fit but cannot act, with why.
    pub cannot: Vec<String>,
    /// One sentence: what it would do.
    pub would: String,
}

/// A failure signature with its history (`GET /api/v1/signatures`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SignatureView {
    pub key: String,
    pub runner: String,
    pub exit: String,
    pub probe: String,
    pub templates: Vec<String>,
    pub count: u64,
    pub first_ms: i64,
    pub last_ms: i64,
    /// Sightings per hour over the last 24 hours: (hour start, count), empty hours left out.
    pub trend: Vec<(i64, u64)>,
    /// Every fix tried on it, best first.
    pub fixes: Vec<FixView>,
}
