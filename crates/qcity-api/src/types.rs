//! Request and response bodies, shared by the server and its clients (the CLI).

use qcity_types::{Event, RunnerState};
use serde::{Deserialize, Serialize};

pub use qcity_engine::supervisor::ApplyReport;
/// One audit row as stored, with its chain hashes.
pub use qcity_store::AuditRow as AuditEntry;
pub use qcity_types::RunnerStatus;

/// Every error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable machine-readable code: `unauthorized`, `unknown_runner`, `invalid_config`…
    pub code: String,
    /// One line for a human.
    pub message: String,
    /// Every individual error, when there are several (configuration errors).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// The answer to a control action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlOutcome {
    pub runner: String,
    pub action: String,
    pub state: RunnerState,
}

/// The newest lines of a runner's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogTail {
    pub runner: String,
    pub lines: Vec<String>,
}

/// A page of stored events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventPage {
    pub events: Vec<Event>,
    /// Pass as `after` to get the next page; equal to the request's `after` when empty.
    pub next_after: u64,
}

/// The result of walking the audit chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditVerdict {
    pub ok: bool,
    /// Rows checked, when the chain is whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// The first row where the chain breaks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broken_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl From<qcity_store::AuditReport> for AuditVerdict {
    fn from(r: qcity_store::AuditReport) -> Self {
        match r {
            qcity_store::AuditReport::Ok { rows } => Self {
                ok: true,
                rows: Some(rows),
                broken_at: None,
                reason: None,
            },
            qcity_store::AuditReport::Broken { seq, reason } => Self {
                ok: false,
                rows: None,
                broken_at: Some(seq),
                reason: Some(reason),
            },
        }
    }
}
