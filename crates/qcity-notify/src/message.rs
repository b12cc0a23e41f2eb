//! One message for a remote channel: what the grouper decided to say, rendered once and kept
//! in the outbox until it is delivered.

use qcity_types::Severity;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The outbox row's id: the same on every attempt, so a receiver can drop a duplicate
    /// (sent as the webhook's delivery id).
    #[serde(default)]
    pub id: i64,
    pub severity: Severity,
    /// One line: "build failed", "3 runners failing", "build fixed".
    pub title: String,
    /// Plain text, several lines; a channel shortens it to its service's limit.
    pub body: String,
    /// The dashboard page it is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Short labels (runner names, `failure`, `escalation`, `resolved`): ntfy tags, the
    /// webhook's JSON.
    #[serde(default)]
    pub tags: Vec<String>,
}
