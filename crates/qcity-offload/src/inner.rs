//! The offload service's shared state: the runs that can be cancelled, the slots in use at
//! each place, the records; and each target's health from its recent attempts. Shared by the
//! service (`service.rs`) and the runs it drives (`run.rs`).
//!
//! The records are read once, when the service starts; from then on the places' recent
//! attempts, each job's newest run and the runs not ended are kept here as the runs go, so
//! a placement or the jobs' view (polled by the dashboard) reads no record.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use qcity_config::Config;
use qcity_engine::Engine;
use qcity_types::{EventKind, JobAttempt, JobRun, JobStep};
use tokio::sync::watch;

use crate::placement::TargetHealth;
use crate::record::{RecordError, Records};

/// A target whose last attempt could not reach it counts as down for this long.
pub const DOWN_FOR_MS: i64 = 5 * 60 * 1000;
/// Attempts per target that make its recent record.
const RECENT: usize = 20;
/// The newest runs read when the service starts, for the recent attempts and the view.
const READ_AT_START: usize = 200;

pub(crate) struct Inner {
    pub(crate) engine: Arc<Engine>,
    pub(crate) records: Records,
    pub(crate) state: Mutex<State>,
    /// This daemon in the fleet, when `qmoi_cloud_config.json` has one.
    pub(crate) fleet: Option<qcity_fleet::Node>,
}

#[derive(Default)]
pub(crate) struct State {
    pub(crate) cancels: HashMap<String, watch::Sender<bool>>,
    pub(crate) busy: HashMap<String, u32>,
    /// Each place's newest ended attempts, newest started first, at most `RECENT`.
    attempts: HashMap<String, Vec<JobAttempt>>,
    /// Each job's newest run.
    pub(crate) last: HashMap<String, JobRun>,
    /// The runs not ended, by id (ids sort by start).
    pub(crate) running: BTreeMap<String, JobRun>,
}

impl State {
    /// Keeps `run` as its job's newest run and among the runs not ended while it has not.
    fn note(&mut self, run: &JobRun) {
        if run.state.is_final() {
            self.running.remove(&run.id);
        } else {
            self.running.insert(run.id.clone(), run.clone());
        }
        if self.last.get(&run.job).is_none_or(|l| l.id <= run.id) {
            self.last.insert(run.job.clone(), run.clone());
        }
    }

    /// Adds an ended attempt to its place's recent ones.
    fn ended(&mut self, attempt: &JobAttempt) {
        let recent = self.attempts.entry(attempt.place.clone()).or_default();
        // Before any that started at the same moment: the one noted last is the newest.
        let at = recent.partition_point(|a| a.started_ms > attempt.started_ms);
        recent.insert(at, attempt.clone());
        recent.truncate(RECENT);
    }
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
    /// The shared state over `records`, from the newest of them (read here, once).
    pub(crate) fn new(engine: Arc<Engine>, records: Records) -> Inner {
        let mut state = State::default();
        let mut runs = records.list(None, READ_AT_START);
        // Oldest first: each note and each attempt then comes after the older ones.
        runs.reverse();
        let mut attempts: Vec<&JobAttempt> = runs
            .iter()
            .flat_map(|r| r.attempts.iter())
            .filter(|a| a.finished_ms.is_some())
            .collect();
        attempts.sort_by_key(|a| a.started_ms);
        for a in attempts {
            state.ended(a);
        }
        for run in &runs {
            state.note(run);
        }
        Inner {
            fleet: crate::fleet::join(&engine),
            engine,
            records,
            state: Mutex::new(state),
        }
    }

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

    /// Creates the run's record (see `Records::create`) and keeps it for the view.
    pub(crate) fn create(&self, run: &JobRun) -> Result<(), RecordError> {
        self.records.create(run)?;
        self.lock().note(run);
        Ok(())
    }

    /// Writes the record; a record that cannot be written is logged, the job goes on.
    pub(crate) fn save(&self, run: &JobRun) {
        if let Err(e) = self.records.save(run) {
            tracing::warn!("job {}: {e}", run.id);
        }
        self.lock().note(run);
    }

    /// An attempt has ended (its outcome set): it joins its place's recent attempts.
    pub(crate) fn ended(&self, attempt: &JobAttempt) {
        self.lock().ended(attempt);
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

    /// Each target's health from its recent attempts and the slots in use.
    pub(crate) fn health(&self, config: &Config) -> Vec<TargetHealth> {
        let now = qcity_platform::clock::now_ms();
        let s = self.lock();
        let reached = |o: &str| matches!(o, "ran" | "cancelled");
        config
            .cloud
            .targets
            .iter()
            .map(|t| {
                let place = t.place();
                let attempts = s.attempts.get(&place).map_or(&[][..], Vec::as_slice);
                let down = attempts.first().and_then(|a| {
                    let recent = now - a.finished_ms.unwrap_or(0) < DOWN_FOR_MS;
                    (recent && !reached(&a.outcome)).then(|| a.detail.clone())
                });
                TargetHealth {
                    running: s.busy.get(&place).copied().unwrap_or(0),
                    max_jobs: t.max_jobs,
                    recent_ok: attempts.iter().filter(|a| reached(&a.outcome)).count() as u32,
                    recent_total: attempts.len() as u32,
                    down,
                    place,
                }
            })
            .chain(self.fleet.as_ref().map(|node| {
                // The fleet's load is its nodes' (this one's included); it is down while
                // NATS is out of reach, not for an attempt that failed on one node.
                let attempts = s
                    .attempts
                    .get(crate::fleet::PLACE)
                    .map_or(&[][..], Vec::as_slice);
                let nodes = node.nodes();
                TargetHealth {
                    place: crate::fleet::PLACE.into(),
                    down: node.problem(),
                    running: nodes.iter().map(|n| n.running.len() as u32).sum(),
                    max_jobs: nodes.iter().map(|n| n.max_jobs).sum(),
                    recent_ok: attempts.iter().filter(|a| reached(&a.outcome)).count() as u32,
                    recent_total: attempts.len() as u32,
                }
            }))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(place: &str, started_ms: i64) -> JobAttempt {
        JobAttempt {
            place: place.into(),
            started_ms,
            finished_ms: Some(started_ms + 1),
            outcome: "ran".into(),
            exit_code: Some(0),
            detail: String::new(),
        }
    }

    #[test]
    fn a_places_recent_attempts_are_its_newest_started_first_and_bounded() {
        let mut s = State::default();
        for t in 0..RECENT as i64 + 5 {
            s.ended(&attempt("ssh:a", 100 + t));
        }
        // One that started before the newest but ended after them.
        s.ended(&attempt("ssh:a", 110));
        s.ended(&attempt("ssh:b", 1));
        let a: Vec<i64> = s.attempts["ssh:a"].iter().map(|a| a.started_ms).collect();
        assert_eq!(a.len(), RECENT);
        assert_eq!(&a[..3], [124, 123, 122]);
        assert!(a.windows(2).all(|w| w[0] >= w[1]), "{a:?}");
        assert_eq!(s.attempts["ssh:b"].len(), 1);
    }
}
