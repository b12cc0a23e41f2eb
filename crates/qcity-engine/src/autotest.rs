//! `qcity autotest`: is this machine fit to run work? Every probe once, every machine resource,
//! then every task marked `autotest`, in order. The report is an `autotest-finished` event, so
//! the latest one is in the store; it is the gate that later features (installer, self-update)
//! consult.

use serde::{Deserialize, Serialize};

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutotestCheck {
    /// `probe:RUNNER/NAME`, `resource:NAME` or `task:NAME`.
    pub name: String,
    pub passed: bool,
    pub duration_ms: u64,
    /// What was found, or why it failed.
    pub reason: String,
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutotestReport {
    pub passed: bool,
    pub started_ms: i64,
    pub duration_ms: u64,
    pub checks: Vec<AutotestCheck>,
}
