//! The healer as the API shows it: what it would do about a runner now (`heal-plan`), the
//! failure signatures it learned from, and a fix with its learned score.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
