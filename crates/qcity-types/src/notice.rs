//! What the notifier tells people: a notice and its severity. The decisions (which events
//! deserve one, de-duplication, rate limits) are `qcity-notify`'s; these types are how its
//! decisions travel on the bus (`notice` events) to the faces that show them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Error,
    Critical,
}

/// One notification to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Notice {
    pub severity: Severity,
    pub title: String,
    pub body: String,
    /// The runner it is about: clicking it opens that runner's page.
    pub runner: Option<String>,
}
