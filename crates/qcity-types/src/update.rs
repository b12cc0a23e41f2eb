//! QCity's own self-update as the API answers it (`GET /api/v1/update`) and as its events
//! tell it (`update` events).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A step of a self-update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum UpdateStep {
    /// Refused before anything changed: the gate is closed, the download failed a check, the
    /// manifest has errors… (`detail` says which).
    Refused,
    /// The new version is being downloaded (`detail`: how far).
    Downloading,
    /// The new version is downloaded and verified; runners are being drained.
    Draining,
    /// The drain did not finish within `update.drain_timeout_seconds`: the runners were
    /// resumed and nothing changed.
    DrainTimedOut,
    /// `current` names the new version; the daemon restarts into it.
    Switched,
    /// The new version came up, served the API and passed its autotest: it stays.
    Committed,
    /// The new version failed (its autotest, its start, or by hand): the previous one runs
    /// again and the failed version is not offered again.
    RolledBack,
}

impl UpdateStep {
    /// The wire name (`rolled-back`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Refused => "refused",
            Self::Downloading => "downloading",
            Self::Draining => "draining",
            Self::DrainTimedOut => "drain-timed-out",
            Self::Switched => "switched",
            Self::Committed => "committed",
            Self::RolledBack => "rolled-back",
        }
    }
}

/// An update that was switched to and has not passed its post-update check yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UpdatePending {
    pub from: String,
    pub to: String,
    /// Starts of `to` so far; after `update.max_start_tries` without passing, the previous
    /// version is started instead.
    pub tries: u32,
    /// When it was switched to, ms since the epoch.
    pub switched_ms: i64,
    /// Who applied it.
    pub actor: String,
}

/// A version rolled back on this machine: never offered again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UpdateRefused {
    pub version: String,
    pub reason: String,
    pub ts_ms: i64,
}

/// How the last update ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UpdateOutcome {
    pub from: String,
    pub to: String,
    /// `committed` or `rolled-back`.
    pub step: UpdateStep,
    pub detail: String,
    pub ts_ms: i64,
}

/// A newer release the manifest offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UpdateOffer {
    pub version: String,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub pub_date: Option<String>,
}

/// `GET /api/v1/update`: the running version, the kept ones, what the manifest offers and
/// whether it may be applied now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UpdateView {
    /// The version serving this answer.
    pub running: String,
    /// Whether `update` is set in the device config (if not, nothing else is checked).
    pub configured: bool,
    /// The newer release on offer; null when up to date, not configured or unreadable.
    #[serde(default)]
    pub available: Option<UpdateOffer>,
    /// Why the manifest could not be read or was refused; null otherwise.
    #[serde(default)]
    pub check_error: Option<String>,
    /// Why an update may not be applied now (autotest, runner health, an update under
    /// way); empty when it may.
    pub blocked_by: Vec<String>,
    /// The versions kept under DATA_DIR/versions, oldest first.
    pub kept: Vec<String>,
    #[serde(default)]
    pub current: Option<String>,
    #[serde(default)]
    pub previous: Option<String>,
    #[serde(default)]
    pub pending: Option<UpdatePending>,
    #[serde(default)]
    pub last: Option<UpdateOutcome>,
    pub refused: Vec<UpdateRefused>,
}

/// `POST /api/v1/update/apply` and `…/rollback`: accepted; the daemon restarts into `to`.
/// Follow the `update` events after `after`, or poll `GET /api/v1/update`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UpdateStarted {
    pub from: String,
    pub to: String,
    /// The last event id before the update's own events.
    pub after: u64,
}

#[cfg(test)]
mod tests {
    use super::UpdateStep;

    #[test]
    fn step_names_are_the_wire_names() {
        for step in [
            UpdateStep::Refused,
            UpdateStep::Downloading,
            UpdateStep::Draining,
            UpdateStep::DrainTimedOut,
            UpdateStep::Switched,
            UpdateStep::Committed,
            UpdateStep::RolledBack,
        ] {
            assert_eq!(serde_json::to_value(step).unwrap(), step.as_str());
        }
    }
}
