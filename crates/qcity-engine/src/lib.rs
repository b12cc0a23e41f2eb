//! QCity's engine: supervises runners and turns everything that happens into typed events
//! on one bus, with the store, the audit log and the log writer as subscribers.
//!
//! No GUI dependency, ever: the `qcity` daemon and the tray app are two faces over this.

pub mod autotest;
pub mod backoff;
pub mod buildkite;
pub mod bus;
/// Wall-clock time, from `qcity-platform` (kept here: the engine's callers say `clock::now_ms`).
pub use qcity_platform::clock;
pub mod datadir;
mod engine;
pub mod event;
pub mod github;
pub mod gitlab;
pub mod healer;
pub mod job_hook;
mod journal;
pub mod kind;
pub mod launcher;
pub mod notice;
pub mod output;
pub mod overall;
pub mod probe;
pub mod process;
pub mod reconcile;
pub mod resources;
pub mod runner;
pub mod spawn;
pub mod status;
pub mod supervisor;
pub mod task;

pub use engine::{Engine, EngineError, EngineOptions};
pub use event::{
    AuthAction, ControlAction, Event, EventKind, ExitInfo, HealStep, QiPhase, RunnerState,
};
pub use status::RunnerStatus;
