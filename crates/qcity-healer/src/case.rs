//! A healing case: what it knows (the runner, how it runs, its heal settings, the failure and
//! its signature) and how it says each step (a `heal` event). The flow is `heal`'s; the
//! actions and the validation act on a case.

use std::path::PathBuf;

use qcity_config::HealSpec;
use qcity_types::{EventKind, HealStep};

use crate::control::Control;
use crate::signature::Failure;
use crate::trigger::Trigger;

/// A healing's context: the engine, the runner's settings and the failure.
pub(crate) struct Case<'a> {
    pub engine: &'a dyn Control,
    pub trigger: Trigger,
    pub spec: HealSpec,
    pub cwd: PathBuf,
    pub env: std::sync::Arc<[qcity_engine::supervisor::spawn::EnvVar]>,
    pub failure: Failure,
    pub key: String,
    pub dry_run: bool,
    /// The failure is a full disk: what a clean frees must be freed now, not kept for an undo.
    pub space_needed: bool,
}

impl Case<'_> {
    pub fn publish(&self, step: HealStep, rule: &str, detail: String) {
        self.engine.bus().publish(EventKind::Heal {
            runner: self.trigger.runner.clone(),
            signature: self.key.clone(),
            step,
            rule: rule.to_string(),
            detail,
            dry_run: self.dry_run,
        });
    }
}
