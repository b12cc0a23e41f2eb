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

/// What a notice is about: the filter a channel's `kinds` chooses from.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum NoticeKind {
    /// A runner stopped with an unclean exit.
    Failure,
    /// A runner keeps failing after restarts.
    CrashLoop,
    /// A runner's registration was removed: it needs a new token.
    NeedsRegistration,
    /// The healer or a build ran out of fixes: it needs a person, with its diagnosis.
    Escalation,
    /// A runner that was announced as failing runs again, or the healer's fix held.
    Fixed,
    /// A platform the runners depend on reports an outage (or its end).
    PlatformOutage,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Failure => "failure",
            NoticeKind::CrashLoop => "crash-loop",
            NoticeKind::NeedsRegistration => "needs-registration",
            NoticeKind::Escalation => "escalation",
            NoticeKind::Fixed => "fixed",
            NoticeKind::PlatformOutage => "platform-outage",
        }
    }
}

/// One notification to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Notice {
    pub kind: NoticeKind,
    pub severity: Severity,
    pub title: String,
    pub body: String,
    /// The runner it is about: clicking it opens that runner's page.
    pub runner: Option<String>,
    /// An escalation's whole diagnosis (the fixes tried and why each failed, the last output
    /// lines), for channels with room for it; empty otherwise.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub details: String,
    /// A runner's failure: the platform outage it comes with (`GitHub major outage`), when
    /// the runner's platform reports one (chat messages group such runners under it). A
    /// platform-outage notice: the platform's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
}
