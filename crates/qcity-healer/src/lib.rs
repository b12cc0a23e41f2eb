//! The healer, a bus subscriber beside the engine: when a runner fails (a failing exit, a
//! crash loop, a lost registration, a probe turning failing) it turns the failure into a
//! [`signature`], picks the fixes that fit from the [`playbook`] (best observed success rate
//! first), applies them one at a time, proves each (the failed check must pass again), undoes
//! what it can when a fix did not help, and escalates with the diagnostics when nothing
//! worked. Every step is a `heal` event, so the journal, the audit log and the dashboard see
//! it.
//!
//! One healing at a time per runner: failures while a fix is under way are that fix's
//! validation, not new work. A signature that was escalated stays quiet for
//! [`QUIET_AFTER_ESCALATION`], so a runner that keeps failing the same way does not page
//! the master on every restart.
//!
//! The healer reaches the engine only through [`Control`]: the engine knows nothing of it.
//! The daemon starts it right after the engine ([`start`]) and hands the API the [`Healer`]
//! for its views (`heal-plan`, `signatures`).
//!
//! - `subscriber`: the bus subscription, one case per failing runner at a time.
//! - `trigger`: which events (or, at start, which statuses) start a case.
//! - `heal`: one healing case, start to end: diagnose, rank, apply, validate, roll back,
//!   escalate.
//! - `case`: what a case knows, and how it says each step.
//! - `memory`: what the healer keeps between failures.
//! - `repeats`: a runner failing the same way again, counted rather than diagnosed again,
//!   and the work per runner per second bounded.
//! - `diagnose`: a failure read from the runner's output, and the fixes that fit it.
//! - `actions`: the actions of a fix: run, restart, wait, env (and clean, in `aside`).
//! - `aside`: what a clean moves aside, and how it is restored or discarded.
//! - `validate`: whether a fix worked.
//! - `views`: the plan and the signatures, for the API.

mod actions;
mod aside;
mod case;
pub mod classify;
mod control;
mod diagnose;
mod heal;
mod memory;
pub mod playbook;
mod repeats;
pub mod signature;
mod stale_lock;
mod subscriber;
mod trigger;
mod validate;
mod views;

use std::sync::Arc;

use qcity_engine::EngineError;
use qcity_types::{HealPlan, SignatureView};

pub use control::{Control, Pending};
use memory::Memory;
pub use memory::QUIET_AFTER_ESCALATION;

/// The running healer: the API's way to its views. Its subscriber runs until the engine is
/// gone.
pub struct Healer {
    control: Arc<dyn Control>,
    memory: Arc<Memory>,
}

impl std::fmt::Debug for Healer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Healer").finish_non_exhaustive()
    }
}

/// Starts the healer on `control`'s bus (the engine, once it has started). A runner that
/// failed before this is taken on from its status.
pub fn start(control: Arc<dyn Control>) -> Arc<Healer> {
    // The kernel's OOM kills so far are not any failure's to come.
    classify::kernel::OOM.recent_kill();
    let memory = Arc::new(Memory::default());
    subscriber::spawn(Arc::downgrade(&control), memory.clone());
    Arc::new(Healer { control, memory })
}

impl Healer {
    /// What the healer would do about `runner` now, touching nothing (blocking: it reads the
    /// runner's output and the store).
    pub fn plan(&self, runner: &str) -> Result<HealPlan, EngineError> {
        if self.control.plan(runner).is_none() {
            return Err(EngineError::UnknownRunner {
                name: runner.to_string(),
            });
        }
        Ok(views::plan(&*self.control, &self.memory, runner))
    }

    /// The most frequent failure signatures (blocking).
    pub fn signatures(&self, limit: usize) -> Result<Vec<SignatureView>, EngineError> {
        Ok(views::signatures(&*self.control, limit)?)
    }
}
