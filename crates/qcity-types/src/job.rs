//! Offloaded jobs as the API answers them and their events tell them: where a job may run
//! and why (the placement), each attempt, its artifacts with their SHA-256.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where a job runs: `local`, `ssh:NAME` or `github:NAME`.
pub type Place = String;

/// One place a job could run, as the placement judged it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Candidate {
    pub place: Place,
    /// Whether it may be tried at all (a target that is down or full may not).
    pub eligible: bool,
    /// Why it stands where it stands, in words (`on battery at 30 % (below 50 %)`).
    pub reasons: Vec<String>,
}

/// The decision: the places in the order they will be tried, the best first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Placement {
    /// `local-first`, `auto`, `cloud-first`, or `forced` when `--where` named the place.
    pub mode: String,
    /// Every place considered, best first; the ineligible ones last with their reasons.
    pub candidates: Vec<Candidate>,
    /// The reason for the order as a whole (`this machine is short: …`).
    pub summary: String,
}

impl Placement {
    /// The places that will be tried, in order.
    pub fn order(&self) -> impl Iterator<Item = &Candidate> {
        self.candidates.iter().filter(|c| c.eligible)
    }
}

/// A job's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum JobState {
    /// Placed, waiting for its first attempt (a retry's backoff).
    Queued,
    Running,
    /// Its command exited 0 and its artifacts came back verified.
    Succeeded,
    /// Its command failed, its artifacts did not verify, or every place failed.
    Failed,
    Cancelled,
}

impl JobState {
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

/// One try of a job at one place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct JobAttempt {
    pub place: Place,
    pub started_ms: i64,
    pub finished_ms: Option<i64>,
    /// `ran` (the command ran to an exit), `unreachable`, `refused`, `lost` (the connection
    /// broke mid-job), `cancelled`, `error`.
    pub outcome: String,
    pub exit_code: Option<i32>,
    pub detail: String,
}

/// A file a job brought back, verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct JobArtifact {
    /// Relative to the job's directory.
    pub path: PathBuf,
    pub sha256: String,
    pub bytes: u64,
    /// Its key in the object store (`artifacts/JOB/RUN/PATH`), once uploaded.
    pub object: Option<String>,
}

/// What happened to the job's cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CacheOutcome {
    /// The key this run computed.
    pub key: String,
    /// The key that was restored (the exact one or a prefix's newest match), if any.
    pub restored: Option<String>,
    /// Whether the run saved a new entry under `key`.
    pub saved: bool,
}

/// One run of a job: the API's `GET /api/v1/jobs/runs/{id}` and `qcity job show ID`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct JobRun {
    /// `JOB-YYYYMMDDTHHMMSS-XXXX`: sortable by start.
    pub id: String,
    pub job: String,
    pub state: JobState,
    /// Who started it (`master:cli`…).
    pub actor: String,
    pub placement: Placement,
    /// Where it runs or ran last.
    pub place: Option<Place>,
    pub attempts: Vec<JobAttempt>,
    pub started_ms: i64,
    pub finished_ms: Option<i64>,
    pub exit_code: Option<i32>,
    /// The outcome in words.
    pub detail: String,
    pub artifacts: Vec<JobArtifact>,
    pub cache: Option<CacheOutcome>,
}

/// A step of a job, as its `job` events tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum JobStep {
    /// The placement was decided (`reasons` has it).
    Placed,
    /// An attempt started at `place`.
    Started,
    /// An attempt at `place` failed for a reason of the place; the next one is tried after
    /// a backoff.
    FailedOver,
    /// The job ended: `detail` says how.
    Finished,
}

/// A job of the manifest as the API lists it (`GET /api/v1/jobs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct JobInfo {
    pub name: String,
    pub command: Vec<String>,
    /// `never`, `auto`, `always`.
    pub offload: String,
    pub inputs: Vec<String>,
    pub artifacts: Vec<String>,
    /// Its newest run, if any.
    pub last: Option<JobRun>,
}

/// A remote target with what is known of it now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TargetInfo {
    /// `ssh:box`, `github:ci`.
    pub place: Place,
    /// `host:port` for SSH, `OWNER/REPO workflow` for GitHub.
    pub address: String,
    /// `up` (its last attempt reached it, or none yet), `down` (its last attempt could not,
    /// recently).
    pub health: String,
    /// Why it is down, if it is.
    pub detail: String,
    pub running: u32,
    pub max_jobs: u32,
    /// Of its recent attempts, how many reached it.
    pub recent_ok: u32,
    pub recent_total: u32,
}

/// Jobs, targets and the mode: the dashboard's jobs view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct JobsView {
    /// `local-first`, `auto`, `cloud-first`.
    pub mode: String,
    pub jobs: Vec<JobInfo>,
    pub targets: Vec<TargetInfo>,
    /// Runs not ended yet, newest first.
    pub running: Vec<JobRun>,
}
