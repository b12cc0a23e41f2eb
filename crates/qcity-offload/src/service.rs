//! The daemon's offload service: jobs started, cancelled and listed; each target's health
//! from its recent attempts and the jobs it runs now.

use std::sync::Arc;

use qcity_config::{Config, JobSpec};
use qcity_engine::Engine;
use qcity_types::{JobInfo, JobRun, JobState, JobStep, JobsView, Placement, TargetInfo};
use tokio::sync::watch;

pub use crate::inner::DOWN_FOR_MS;
use crate::inner::Inner;
use crate::placement::{Inputs, UnknownPlace};
use crate::record::{RecordError, Records};

#[derive(Debug, thiserror::Error)]
pub enum OffloadError {
    #[error("no job `{name}` in runner_manifest.json (jobs: {known})")]
    UnknownJob { name: String, known: String },
    #[error(transparent)]
    UnknownPlace(#[from] UnknownPlace),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("job run `{0}` has already ended")]
    Ended(String),
    #[error("{0}")]
    Io(String),
}

/// The offload service (cheap to clone).
#[derive(Clone)]
pub struct Offload {
    inner: Arc<Inner>,
}

fn job<'a>(config: &'a Config, name: &str) -> Result<&'a JobSpec, OffloadError> {
    config
        .manifest
        .jobs
        .iter()
        .find(|j| j.name == name)
        .ok_or_else(|| OffloadError::UnknownJob {
            name: name.to_string(),
            known: if config.manifest.jobs.is_empty() {
                "none".into()
            } else {
                config
                    .manifest
                    .jobs
                    .iter()
                    .map(|j| j.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        })
}

/// The word serde gives a unit variant: the config file's own spelling (`OffloadPolicy`,
/// `OffloadMode`: kebab-case), so the view never names them differently.
fn word(v: impl serde::Serialize) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        other => unreachable!("a unit variant serialises as a string, not {other:?}"),
    }
}

impl Offload {
    /// The service over `engine`; runs a previous daemon left unfinished are closed.
    pub fn new(engine: Arc<Engine>) -> Offload {
        let records = Records::new(engine.data_dir().root());
        for run in records.close_orphans() {
            tracing::info!(
                "job {} ({}) closed: QCity stopped while it ran",
                run.id,
                run.job
            );
        }
        Offload {
            inner: Arc::new(Inner::new(engine, records)),
        }
    }

    /// Where `name` would run now and why (`--dry-run`): nothing is started.
    pub fn plan(&self, name: &str, place: Option<&str>) -> Result<Placement, OffloadError> {
        let config = self.inner.engine.config();
        let job = job(&config, name)?;
        self.decide(&config, job, place)
    }

    fn decide(
        &self,
        config: &Config,
        job: &JobSpec,
        place: Option<&str>,
    ) -> Result<Placement, OffloadError> {
        let dir = config.job_dir(job);
        let readings = qcity_engine::health::resources::read(
            std::slice::from_ref(&dir),
            &config.device.resources.power_supply_root,
        );
        let mut targets = self.inner.health(config);
        // The fleet is no place for a job whose capability no live node has.
        if let Some(node) = &self.inner.fleet
            && let Some(fleet) = targets.iter_mut().find(|t| t.place == crate::fleet::PLACE)
            && fleet.down.is_none()
        {
            fleet.down = crate::fleet::unfit(node, job);
        }
        Ok(crate::placement::decide(&Inputs {
            mode: config.cloud.mode,
            policy: job.offload,
            settings: &config.cloud.placement,
            readings: &readings,
            job_dir_free_mb: readings.disks.first().and_then(|d| d.free_mb),
            targets: &targets,
            forced: place,
        })?)
    }

    /// Starts job `name` (at `place` if given); returns its first record.
    pub fn start(
        &self,
        name: &str,
        place: Option<&str>,
        actor: &str,
    ) -> Result<JobRun, OffloadError> {
        let config = self.inner.engine.config();
        let spec = job(&config, name)?.clone();
        let placement = self.decide(&config, &spec, place)?;
        let id = Records::new_id();
        let run = JobRun {
            id: id.clone(),
            job: spec.name.clone(),
            state: JobState::Queued,
            actor: actor.to_string(),
            placement,
            place: None,
            attempts: Vec::new(),
            started_ms: qcity_platform::clock::now_ms(),
            finished_ms: None,
            exit_code: None,
            detail: String::new(),
            artifacts: Vec::new(),
            cache: None,
        };
        self.inner.create(&run)?;
        let records = &self.inner.records;
        let log = crate::exec::Log::open(records.log_path(&id))
            .map_err(|e| OffloadError::Io(format!("{}: {e}", records.log_path(&id).display())))?;
        let reasons: Vec<String> = run
            .placement
            .candidates
            .iter()
            .map(|c| {
                let mark = if c.eligible { "" } else { " (not tried)" };
                format!("{}{mark}: {}", c.place, c.reasons.join("; "))
            })
            .collect();
        log.note(&format!("placed: {}", run.placement.summary));
        for r in &reasons {
            log.write(format!("   {r}\n").as_bytes());
        }
        self.inner
            .publish(&run, JobStep::Placed, None, reasons, &run.placement.summary);
        let (cancel_tx, cancel) = watch::channel(false);
        self.inner.lock().cancels.insert(id.clone(), cancel_tx);
        let work = crate::exec::Work {
            id: id.clone(),
            dir: config.job_dir(&spec),
            job: spec,
            staging: records.staging(&id),
            config_dir: config.dir.clone(),
            log,
            cancel,
        };
        tokio::spawn(crate::run::drive(
            self.inner.clone(),
            config,
            run.clone(),
            work,
        ));
        Ok(run)
    }

    /// Cancels a run that has not ended: the place stops the command.
    pub fn cancel(&self, id: &str) -> Result<JobRun, OffloadError> {
        let run = self.inner.records.load(id)?;
        let sender = self.inner.lock().cancels.get(id).cloned();
        match sender {
            Some(tx) if !run.state.is_final() => {
                let _ = tx.send(true);
                Ok(run)
            }
            _ => Err(OffloadError::Ended(id.to_string())),
        }
    }

    pub fn show(&self, id: &str) -> Result<JobRun, OffloadError> {
        Ok(self.inner.records.load(id)?)
    }

    /// The newest `n` runs (of `job`, if given), newest first.
    pub fn runs(&self, job: Option<&str>, n: usize) -> Vec<JobRun> {
        self.inner.records.list(job, n)
    }

    /// The last `max` bytes of a run's output.
    pub fn log(&self, id: &str, max: u64) -> Result<String, OffloadError> {
        Ok(self.inner.records.log_tail(id, max)?)
    }

    /// At most `max` bytes of a run's output from byte `from`, whole lines only.
    pub fn log_from(&self, id: &str, from: u64, max: u64) -> Result<String, OffloadError> {
        Ok(self.inner.records.log_from(id, from, max)?)
    }

    /// The jobs, the targets with their health, the runs not ended: from what the service
    /// keeps as its runs go, no record read.
    /// This daemon in the fleet, if it has one.
    pub fn fleet(&self) -> Option<&qcity_fleet::Node> {
        self.inner.fleet.as_ref()
    }

    pub fn view(&self) -> JobsView {
        let config = self.inner.engine.config();
        let (jobs, running) = {
            let s = self.inner.lock();
            let jobs = config
                .manifest
                .jobs
                .iter()
                .map(|j| JobInfo {
                    name: j.name.clone(),
                    command: j.command.clone(),
                    offload: word(j.offload),
                    inputs: j.inputs.clone(),
                    artifacts: j.artifacts.clone(),
                    last: s.last.get(&j.name).cloned(),
                })
                .collect();
            // Newest first.
            let running = s.running.values().rev().cloned().collect();
            (jobs, running)
        };
        let targets = self
            .inner
            .health(&config)
            .into_iter()
            .map(|h| TargetInfo {
                address: address(&config, &h.place),
                health: if h.down.is_some() { "down" } else { "up" }.into(),
                detail: h.down.clone().unwrap_or_default(),
                running: h.running,
                max_jobs: h.max_jobs,
                recent_ok: h.recent_ok,
                recent_total: h.recent_total,
                place: h.place,
            })
            .collect();
        JobsView {
            mode: word(config.cloud.mode),
            jobs,
            targets,
            running,
        }
    }
}

/// `host:port` for SSH, `OWNER/REPO workflow` for GitHub, the NATS servers for the fleet.
fn address(config: &Config, place: &str) -> String {
    if place == crate::fleet::PLACE {
        return config
            .cloud
            .fleet
            .as_ref()
            .map(|f| f.servers.join(", "))
            .unwrap_or_default();
    }
    let target = config.cloud.targets.iter().find(|t| t.place() == place);
    match target.map(|t| (&t.ssh, &t.github)) {
        Some((Some(s), _)) => format!("{}:{}", s.host, s.port),
        Some((_, Some(g))) => format!("{} {}", g.repo, g.workflow),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use qcity_config::{OffloadMode, OffloadPolicy};

    #[test]
    fn the_views_words_are_the_config_files() {
        let policies = [
            OffloadPolicy::Never,
            OffloadPolicy::Auto,
            OffloadPolicy::Always,
        ];
        assert_eq!(policies.map(super::word), ["never", "auto", "always"]);
        let modes = [
            OffloadMode::LocalFirst,
            OffloadMode::Auto,
            OffloadMode::CloudFirst,
        ];
        assert_eq!(
            modes.map(super::word),
            ["local-first", "auto", "cloud-first"]
        );
    }
}
