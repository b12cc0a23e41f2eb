//! Tasks: one attempt, what a request to run one came to, a task as listed; and the autotest
//! report.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One attempt of a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TaskRun {
    pub task: String,
    /// `schedule`, `manual` or `autotest`.
    pub trigger: String,
    pub attempt: u32,
    pub attempts: u32,
    pub success: bool,
    pub code: Option<i32>,
    pub signal: Option<i32>,
    /// Why it did not run or did not finish (timeout, missing program).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub started_ms: i64,
    pub duration_ms: u64,
    /// The newest output (stdout and stderr), up to 16 KiB.
    pub output_tail: String,
}

/// What a request to run a task came to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum RunOutcome {
    /// It ran; the last attempt decides `success`.
    Finished { success: bool, runs: Vec<TaskRun> },
    /// Another run holds the lock.
    AlreadyRunning,
    /// A program in `requires` is not on PATH.
    MissingRequirement { program: String },
}

/// A task as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TaskInfo {
    pub name: String,
    pub schedule: Option<String>,
    pub autotest: bool,
    pub running: bool,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AutotestCheck {
    /// `probe:RUNNER/NAME`, `resource:NAME` or `task:NAME`.
    pub name: String,
    pub passed: bool,
    pub duration_ms: u64,
    /// What was found, or why it failed.
    pub reason: String,
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AutotestReport {
    pub passed: bool,
    pub started_ms: i64,
    pub duration_ms: u64,
    pub checks: Vec<AutotestCheck>,
}
