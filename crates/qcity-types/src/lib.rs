//! QCity's wire vocabulary: what the engine publishes and the API answers, and what every face
//! (CLI, tray, dashboard) reads. Plain data with serde and JSON Schema (schemars), plus the
//! pure functions that compute health and colour, so the engine computes them once and the
//! faces only display them. The OpenAPI document and the dashboard's TypeScript types are
//! generated from these types.
//!
//! Wire names (serde tags) are stable: the store, the audit log and API clients read them.

pub mod api;
pub mod colour;
pub mod event;
pub mod fleet;
pub mod heal;
pub mod health;
pub mod job;
pub mod machine;
pub mod notice;
pub mod runner;
pub mod task;
pub mod update;
pub mod version;

pub use api::{
    ApplyReport, AuditEntry, AuditVerdict, ControlOutcome, ErrorBody, ErrorCode, Escalated,
    EscalationRequest, EventPage, InstallStarted, JobRequest, JobStarted, LogTail, LoginRequest,
    ManifestPublish, ManifestPublished, Me, NotifyChannel, PlatformIncident, PlatformState,
    PlatformStatus, PutUser, Queued, Role, UserInfo,
};
pub use colour::{Overall, colour, colour_of, overall};
pub use event::{AuthAction, ControlAction, Event, EventKind, HealStep, QiPhase};
pub use fleet::{FleetNode, FleetQueue, FleetRunning, FleetStep, FleetView};
pub use heal::{FailureCategory, FixView, HealPlan, SignatureView};
pub use health::{Colour, Health, ProbeState, ProbeStatus, health_of};
pub use job::{
    CacheOutcome, Candidate, JobArtifact, JobAttempt, JobInfo, JobRun, JobState, JobStep, JobsView,
    Place, Placement, TargetInfo,
};
pub use machine::{Battery, DiskReading, MachineStatus, Readings};
pub use notice::{Notice, NoticeKind, Severity};
pub use runner::{Activity, ExitInfo, RunnerState, RunnerStatus, RunnerUsage, STATE_NAMES};
pub use task::{AutotestCheck, AutotestReport, RunOutcome, TaskInfo, TaskRun};
pub use update::{
    UpdateOffer, UpdateOutcome, UpdatePending, UpdateRefused, UpdateStarted, UpdateStep, UpdateView,
};
