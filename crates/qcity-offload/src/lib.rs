//! Offload: a job (a command with inputs, artifacts and a cache) run here or elsewhere.
//!
//! - `placement.rs`: where a job should run and why, from this machine's readings and the
//!   targets' health (pure).
//! - `exec.rs`: what every executor is given and returns; `local.rs` runs a job here.
//! - `artifacts.rs`: which files a job made (its globs), their SHA-256, the check of what an
//!   executor brought back before anything is written over the user's files, and the
//!   entries in `DATA/reports/builds.json`.
//! - `github/`: a job run by a GitHub Actions workflow (`workflow_dispatch`): the run found,
//!   polled and cancelled, its logs and artifacts brought back through expiring redirects,
//!   rate limits honoured, the token never written anywhere.
//! - `ssh/`: a job on a host over SSH (the system `ssh` as a ControlMaster): inputs sent as
//!   a tar stream, the command in its own process group there, artifacts brought back.
//! - `store.rs`: the object store (a directory under the data dir, or S3) of artifacts and
//!   caches; `cache.rs`: actions/cache-style keys, restore by exact key then prefixes, the
//!   archive checked by SHA-256, entries bounded by size with LRU eviction; `keep.rs` does
//!   both around a run.
//! - `fleet.rs`: the fleet (`qcity-fleet`, NATS JetStream) as the place `fleet`, and this
//!   daemon as a fleet node: the jobs it takes run through the engine's launcher, the
//!   runner manifest the fleet publishes is written and reloaded.
//! - `service.rs`: the daemon's `Offload`: start, cancel, list; each target's health from its
//!   recent attempts (`inner.rs` holds what it shares with its runs). `run.rs` drives one run
//!   through its places (failover, backoff, escalation); `targets.rs` names each place's
//!   executor; `record.rs` keeps the runs in `DATA/jobs/ID/`.

pub mod artifacts;
pub mod cache;
pub mod exec;
pub mod fleet;
pub mod github;
mod inner;
pub mod inputs;
mod keep;
pub mod local;
pub mod placement;
pub mod record;
mod run;
pub mod service;
pub mod ssh;
pub mod store;
mod targets;

pub use exec::{Claim, ExecError, Ran, Work};
pub use service::{Offload, OffloadError};
