//! The offload service's shared state: the runs that can be cancelled, the slots in use at
//! each place, the records; and each target's health from its recent attempts. Shared by the
//! service (`service.rs`) and the runs it drives (`run.rs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use qcity_config::Config;
use qcity_engine::Engine;
use qcity_types::{EventKind, JobRun, JobStep};
use tokio::sync::watch;

use crate::placement::TargetHealth;
use crate::record::Records;

/// A target whose last attempt could not reach it counts as down for this long.
pub const DOWN_FOR_MS: i64 = 5 * 60 * 1000;
/// Attempts per target that make its recent record.
const RECENT: usize = 20;

pub(crate) struct Inner {
    pub(crate) engine: Arc<Engine>,
    pub(crate) records: Records,
    pub(crate) state: Mutex<State>,
}

#[derive(Default)]
pub(crate) struct State {
    pub(crate) cancels: HashMap<String, watch::Sender<bool>>,
    pub(crate) busy: HashMap<String, u32>,
}

/// A job slot at a place, given back when dropped.
pub(crate) struct Slot<'a> {
    inner: &'a Inner,
    place: String,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut s = self.inner.lock();
        if let Some(n) = s.busy.get_mut(&self.place) {
            *n = n.saturating_sub(1);
        }
    }
}

impl Inner {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn occupy(&self, place: &str) -> Slot<'_> {
        *self.lock().busy.entry(place.to_string()).or_default() += 1;
        Slot {
            inner: self,
            place: place.to_string(),
        }
    }

    pub(crate) fn forget(&self, id: &str) {
        self.lock().cancels.remove(id);
    }

    /// Writes the record; a record that cannot be written is logged, the job goes on.
    pub(crate) fn save(&self, run: &JobRun) {
        if let Err(e) = self.records.save(run) {
            tracing::warn!("job {}: {e}", run.id);
        }
    }

    pub(crate) fn publish(
        &self,
        run: &JobRun,
        step: JobStep,
        place: Option<&str>,
        reasons: Vec<String>,
        detail: &str,
    ) {
        self.engine.bus().publish(EventKind::Job {
            run: run.id.clone(),
            job: run.job.clone(),
            step,
            place: place.map(str::to_string),
            reasons,
            detail: detail.to_string(),
        });
    }

    /// Each target's health from the recent runs' attempts and the slots in use.
    pub(crate) fn health(&self, config: &Config) -> Vec<TargetHealth> {
        let runs = self.records.list(None, 200);
        let now = qcity_platform::clock::now_ms();
        let busy = self.lock().busy.clone();
        config
            .cloud
            .targets
            .iter()
            .map(|t| {
                let place = t.place();
                let mut attempts: Vec<_> = runs
                    .iter()
                    .flat_map(|r| r.attempts.iter())
                    .filter(|a| a.place == place && a.finished_ms.is_some())
                    .collect();
                attempts.sort_by_key(|a| std::cmp::Reverse(a.started_ms));
                attempts.truncate(RECENT);
                let reached = |o: &str| matches!(o, "ran" | "cancelled");
                let down = attempts.first().and_then(|a| {
                    let recent = now - a.finished_ms.unwrap_or(0) < DOWN_FOR_MS;
                    (recent && !reached(&a.outcome)).then(|| a.detail.clone())
                });
                TargetHealth {
                    running: busy.get(&place).copied().unwrap_or(0),
                    max_jobs: t.max_jobs,
                    recent_ok: attempts.iter().filter(|a| reached(&a.outcome)).count() as u32,
                    recent_total: attempts.len() as u32,
                    down,
                    place,
                }
            })
            .collect()
    }
}
