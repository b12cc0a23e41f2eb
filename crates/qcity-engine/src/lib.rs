//! QCity's engine: supervises runners and turns everything that happens into typed events
//! on one bus, with the store, the audit log and the log writer as subscribers.
//!
//! No GUI dependency, ever: the `qcity` daemon and the tray app are two faces over this.
//!
//! - `supervisor/`: the runners: their tasks, spawning, short-lived commands, output, backoff,
//!   reconcile at start.
//! - `kind/`: what a runner kind's output lines and exit codes mean, how it stops and drains.
//! - `health/`: probes, machine resources, the overall colour.
//! - `tasks/`: scheduled and on-demand tasks, autotests.
//!
//! The healer (`qcity-healer`) is a bus subscriber beside the engine, started by the daemon.

pub mod bus;
pub mod datadir;
mod engine;
pub mod health;
mod journal;
pub mod kind;
pub mod status;
pub mod supervisor;
pub mod tasks;

pub use engine::{Engine, EngineError, EngineOptions};
