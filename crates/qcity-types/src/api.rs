//! Request and response bodies of the local API that are not events or statuses: errors,
//! control outcomes, log tails, event pages, the audit log, config reloads, logins and users.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::runner::RunnerState;

/// Every error's stable machine-readable code: clients switch on it, never on the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No valid token or session.
    Unauthorized,
    /// The caller's role may not do this.
    Forbidden,
    /// A malformed request: its query, body or a header.
    BadRequest,
    /// The request's body is larger than the API takes.
    PayloadTooLarge,
    /// No such API path.
    NotFound,
    MethodNotAllowed,
    UnknownRunner,
    UnknownTask,
    UnknownUser,
    /// The configuration has errors (each in `errors`); the last good one keeps running.
    InvalidConfig,
    /// The engine is stopping.
    ShuttingDown,
    /// Wrong user, password or token at login.
    BadCredentials,
    /// Too many failed logins from this address.
    TooManyAttempts,
    /// The request's `Host` is not one of ours (DNS rebinding).
    HostNotAllowed,
    /// A state-changing request from a foreign origin (CSRF).
    ForeignOrigin,
    /// No autotest has run yet.
    NoAutotest,
    /// The QI installer's gate is closed (autotest failed or too old, something unhealthy).
    GateClosed,
    /// The QI release manifest cannot be read or validated.
    InvalidManifest,
    /// The chosen QI asset does not fit this device.
    DoesNotFit,
    /// The data dir's filesystem is full: the store cannot write.
    DiskFull,
    /// No notification channel of that name is configured.
    UnknownChannel,
    /// A self-update was refused: not configured, up to date, the gate is closed, the
    /// download failed a check, or the drain timed out (`message` says which).
    UpdateRefused,
    /// A self-update is already under way.
    UpdateBusy,
    /// No job of that name in the manifest, or no job run of that id.
    UnknownJob,
    /// The job run has already ended (a cancel came too late).
    JobEnded,
    /// The fleet refused: none is configured, it is not connected, or the manifest's
    /// signature or version was refused (`message` says which).
    FleetRefused,
    /// Something failed inside the engine (the store, a lock).
    Internal,
}

impl ErrorCode {
    /// The wire name (`unknown_runner`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::UnknownChannel => "unknown_channel",
            Self::BadRequest => "bad_request",
            Self::PayloadTooLarge => "payload_too_large",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::UnknownRunner => "unknown_runner",
            Self::UnknownTask => "unknown_task",
            Self::UnknownJob => "unknown_job",
            Self::JobEnded => "job_ended",
            Self::FleetRefused => "fleet_refused",
            Self::UnknownUser => "unknown_user",
            Self::InvalidConfig => "invalid_config",
            Self::ShuttingDown => "shutting_down",
            Self::BadCredentials => "bad_credentials",
            Self::TooManyAttempts => "too_many_attempts",
            Self::HostNotAllowed => "host_not_allowed",
            Self::ForeignOrigin => "foreign_origin",
            Self::NoAutotest => "no_autotest",
            Self::GateClosed => "gate_closed",
            Self::InvalidManifest => "invalid_manifest",
            Self::DoesNotFit => "does_not_fit",
            Self::DiskFull => "disk_full",
            Self::UpdateRefused => "update_refused",
            Self::UpdateBusy => "update_busy",
            Self::Internal => "internal",
        }
    }
}

/// Every error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "Error")]
pub struct ErrorBody {
    pub code: ErrorCode,
    /// One line for a human.
    pub message: String,
    /// Every individual error, when there are several (configuration errors).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// `POST /api/v1/jobs/{name}/run`: where (optional) and whether only to say where.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    /// `local`, `fleet`, `ssh:NAME` or `github:NAME`; without it the placement decides.
    #[serde(default, rename = "where", skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(local|fleet|(ssh|github):[A-Za-z0-9._-]{1,64})$"))]
    pub place: Option<String>,
    /// Only decide and answer the placement; nothing runs.
    #[serde(default)]
    pub dry_run: bool,
}

/// `POST /api/v1/fleet/manifest`: a runner manifest and its minisign signature, as the
/// master signed them (`minisign -Sm runner_manifest.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ManifestPublish {
    /// `runner_manifest.json`'s text, exactly as signed; it must have a `version` newer
    /// than the fleet's.
    #[schemars(length(min = 2))]
    pub manifest: String,
    /// The `.minisig` text.
    #[schemars(length(min = 1))]
    pub signature: String,
}

/// What `POST /api/v1/fleet/manifest` answers: the version now published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ManifestPublished {
    pub version: u64,
}

/// What `POST /api/v1/jobs/{name}/run` answers: the run started, or for a dry run only the
/// placement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct JobStarted {
    pub placement: crate::job::Placement,
    /// None for a dry run.
    pub run: Option<crate::job::JobRun>,
}

/// Something outside the engine that needs a person (`qcity build run` escalates a build
/// that failed after its retries): an `escalation` event, which the notifier shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalationRequest {
    /// What happened, one line (1 to 300 characters).
    #[schemars(length(min = 1, max = 300))]
    pub reason: String,
    /// What to do about it (at most 2000 characters).
    #[serde(default)]
    #[schemars(length(max = 2000))]
    pub advice: String,
}

/// A platform's state, normalised from its status page.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PlatformState {
    Operational,
    /// Slower or with errors, but working (Statuspage `minor`).
    Degraded,
    /// Some of it is down (Statuspage `major`).
    PartialOutage,
    /// Down (Statuspage `critical`).
    MajorOutage,
    /// Planned maintenance in progress.
    Maintenance,
    /// Not known: the last fetch failed, or the last good one is too old.
    Unknown,
}

impl PlatformState {
    /// Every state, in order of gravity (unknown last: it is no verdict).
    pub const ALL: [PlatformState; 6] = [
        PlatformState::Operational,
        PlatformState::Degraded,
        PlatformState::PartialOutage,
        PlatformState::MajorOutage,
        PlatformState::Maintenance,
        PlatformState::Unknown,
    ];

    /// As a sentence says it: `major outage`.
    pub fn words(self) -> String {
        self.as_str().replace('_', " ")
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PlatformState::Operational => "operational",
            PlatformState::Degraded => "degraded",
            PlatformState::PartialOutage => "partial_outage",
            PlatformState::MajorOutage => "major_outage",
            PlatformState::Maintenance => "maintenance",
            PlatformState::Unknown => "unknown",
        }
    }

    /// An outage: what stops the healer from fixing a runner of this platform.
    pub fn is_outage(self) -> bool {
        matches!(
            self,
            PlatformState::PartialOutage | PlatformState::MajorOutage
        )
    }
}

/// An incident or maintenance a status page reports as in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlatformIncident {
    pub title: String,
    /// `none`, `minor`, `major`, `critical` or `maintenance` (as the page rates it).
    pub impact: String,
    /// When it started (ms since the epoch), if the page says.
    pub started_ms: Option<i64>,
    /// The incident's page, if the page links one.
    pub url: Option<String>,
}

/// A platform's status as the daemon last read it (`GET /platforms`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlatformStatus {
    /// `github`, `gitlab`, … or a custom page's id.
    pub id: String,
    pub name: String,
    /// The icon's slug in the dashboard's bundled set (simple-icons), if it has one.
    pub icon: Option<String>,
    /// The status page for people.
    pub page: String,
    pub state: PlatformState,
    /// The page's own words, or why the state is unknown.
    pub summary: String,
    /// Incidents and maintenances in progress (as of `as_of_ms`).
    pub incidents: Vec<PlatformIncident>,
    /// The last attempt to read the page (ms since the epoch); none yet: not polled yet.
    pub checked_ms: Option<i64>,
    /// The last successful read; the state shown while `unknown` is the one of then.
    pub as_of_ms: Option<i64>,
    /// While `unknown`: the state the last successful read gave.
    pub last_known: Option<PlatformState>,
    /// Why the last attempt failed.
    pub error: Option<String>,
}

/// A chat, mail or webhook channel and its outbox (`GET /notify/channels`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NotifyChannel {
    pub name: String,
    /// `slack`, `discord`, `telegram`, `whatsapp`, `ntfy`, `email` or `webhook`.
    pub service: String,
    /// The URL as configured; only its scheme when a secret is written in it literally.
    pub url: String,
    /// Messages waiting to be delivered.
    pub queued: u64,
    /// When the newest finished message finished (ms since the epoch).
    pub last_ms: Option<i64>,
    /// How it finished: `sent`, `failed` (refused for good) or `expired` (24 h undelivered).
    pub last_state: Option<String>,
    /// The newest delivery error, of a queued or a finished message.
    pub last_error: Option<String>,
    /// Why the channel cannot send now (a secret that cannot be read).
    pub problem: Option<String>,
}

/// A message queued for a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Queued {
    /// The message's id in the outbox (the webhook's `X-QCity-Delivery`).
    pub message: i64,
}

/// The escalation's event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Escalated {
    pub event: u64,
}

/// The answer to a control action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ControlOutcome {
    pub runner: String,
    pub action: String,
    pub state: RunnerState,
}

/// The newest lines of a runner's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LogTail {
    pub runner: String,
    pub lines: Vec<String>,
}

/// A page of stored events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EventPage {
    pub events: Vec<Event>,
    /// Pass as `after` to get the next page; equal to the request's `after` when empty.
    pub next_after: u64,
}

/// One audit row as stored, with its chain hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AuditEntry {
    pub seq: u64,
    pub ts_ms: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The result of walking the audit chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
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

/// What applying a config changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ApplyReport {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
    pub unchanged: usize,
}

/// What a caller may do: a viewer sees runner states and health; the master does everything.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Viewer,
    Master,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Master => "master",
            Self::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "master" => Some(Self::Master),
            "viewer" => Some(Self::Viewer),
            _ => None,
        }
    }
}

/// A login: a user and password, or the local token (exchanged for a master session, as the
/// tray app's window does).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged, deny_unknown_fields)]
pub enum LoginRequest {
    Password { user: String, password: String },
    Token { token: String },
}

/// The caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Me {
    pub user: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_ms: Option<i64>,
}

/// A dashboard user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UserInfo {
    pub name: String,
    pub role: Role,
    pub created_ms: i64,
}

/// Creates a user or sets its role and password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PutUser {
    pub role: Role,
    /// 8 to 1024 characters; stored as an Argon2id hash.
    #[schemars(length(min = 8, max = 1024))]
    pub password: String,
}

/// A QI install started: its `qi-install` events follow the event with this id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InstallStarted {
    pub after: u64,
}
