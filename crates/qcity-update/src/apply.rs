//! The update a running daemon applies: gate, download, drain, switch, restart; and the
//! manual rollback. The daemon restarts itself: this only asks ([`Updater::restart_requested`]).
//!
//! Order matters for a crash at any point: until `current` is switched (one rename) the old
//! version is what starts next and nothing pending is recorded, so a crash only leaves a
//! verified version kept beside it; `pending.json` is written before the switch, so the new
//! version's starts are counted from its first.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use qcity_config::UpdateSettings;
use qcity_engine::Engine;
use qcity_types::{
    ControlAction, EventKind, RunnerState, UpdatePending, UpdateStarted, UpdateStep,
};
use tokio::sync::{Mutex, watch};

use crate::check::Check;
use crate::record;
use crate::versions::{self, BINARY, versions_dir};
use crate::{UpdateError, running_version};

/// Why an apply or a rollback did not go ahead; nothing was changed (runners drained for it
/// were resumed).
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(
        "no update source: set `update.manifest` and `update.public_key` in qcity-device-config.json"
    )]
    NotConfigured,
    #[error(
        "this engine runs inside the tray app, which cannot restart it into another version: \
         run the daemon with `qcity up` (or as a service), or update the tray app"
    )]
    CannotRestart,
    #[error("an update is already under way")]
    Busy,
    #[error("up to date: {0} is the newest release")]
    UpToDate(String),
    #[error("the update waits: {}", .0.join("; "))]
    Blocked(Vec<String>),
    #[error(
        "the update was called off: {0} still at work after {1} s (update.drain_timeout_seconds); the runners were resumed"
    )]
    DrainTimedOut(String, u64),
    #[error("no previous version is kept to roll back to")]
    NoPrevious,
    #[error(transparent)]
    Update(#[from] UpdateError),
}

/// The daemon's updater: one apply or rollback at a time.
pub struct Updater {
    engine: Arc<Engine>,
    restart: watch::Sender<Option<String>>,
    busy: Mutex<()>,
    can_restart: bool,
}

impl Updater {
    /// `can_restart`: whether the daemon can restart into another binary (`qcity up`, not
    /// the tray app's in-process engine).
    pub fn new(engine: Arc<Engine>, can_restart: bool) -> Arc<Updater> {
        Arc::new(Updater {
            engine,
            restart: watch::channel(None).0,
            busy: Mutex::new(()),
            can_restart,
        })
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Completes once a restart into `versions/current` is asked for, with why.
    pub async fn restart_requested(&self) -> String {
        let mut rx = self.restart.subscribe();
        loop {
            if let Some(why) = rx.borrow_and_update().clone() {
                return why;
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    pub(crate) fn request_restart(&self, why: String) {
        self.restart.send_replace(Some(why));
    }

    /// Whether an apply or a rollback is under way.
    pub fn is_busy(&self) -> bool {
        self.busy.try_lock().is_err()
    }

    fn publish(&self, actor: &str, step: UpdateStep, from: &str, to: &str, detail: String) -> u64 {
        self.engine
            .bus()
            .publish(EventKind::Update {
                actor: actor.to_string(),
                step,
                from: from.to_string(),
                to: to.to_string(),
                detail,
            })
            .id
    }

    /// Applies the newer release the manifest offers: refused with the reasons unless the
    /// gate is open (an autotest is run first when the latest is stale); downloaded and
    /// verified; every runner drained; the running binary kept as the previous version;
    /// `current` switched; then the daemon is asked to restart into it.
    pub async fn apply(&self, actor: &str) -> Result<UpdateStarted, ApplyError> {
        if !self.can_restart {
            return Err(ApplyError::CannotRestart);
        }
        let _busy = self.busy.try_lock().map_err(|_| ApplyError::Busy)?;
        let config = self.engine.config();
        let settings = config
            .device
            .update
            .clone()
            .ok_or(ApplyError::NotConfigured)?;
        let data = self.engine.data_dir().root().to_path_buf();
        let running = running_version();
        let from = running.to_string();
        let refused = record::refused_versions(&data);
        let offer = {
            let (settings, dir) = (settings.clone(), config.dir.clone());
            let running = running.clone();
            spawn_blocking(move || crate::check(&settings, &dir, &running, &refused)).await
        };
        let offer = match offer {
            Ok(Check::Available(offer)) => offer,
            Ok(Check::UpToDate { version }) => {
                return Err(ApplyError::UpToDate(version.to_string()));
            }
            Err(e) => {
                self.publish(actor, UpdateStep::Refused, &from, "", e.to_string());
                return Err(e.into());
            }
        };
        let to = offer.version.to_string();
        let after = self.engine.bus().next_id() - 1;

        // The gate. A stale autotest is not a reason to refuse: it is run again now.
        let max_age = settings.max_autotest_age_minutes;
        let engine = self.engine.clone();
        if spawn_blocking(move || Ok(crate::gate::autotest_stale(&engine, max_age)))
            .await
            .unwrap_or(true)
        {
            self.engine.autotest().await;
        }
        let engine = self.engine.clone();
        let reasons = spawn_blocking(move || Ok(crate::gate::blocked_by(&engine, max_age)))
            .await
            .unwrap_or_else(|e| vec![e.to_string()]);
        if !reasons.is_empty() {
            self.publish(actor, UpdateStep::Refused, &from, &to, reasons.join("; "));
            return Err(ApplyError::Blocked(reasons));
        }

        let staged = {
            let (settings, dir, offer, data) = (
                settings.clone(),
                config.dir.clone(),
                offer.clone(),
                data.clone(),
            );
            let (bus, actor, from, to) = (
                self.engine.bus().clone(),
                actor.to_string(),
                from.clone(),
                to.clone(),
            );
            spawn_blocking(move || {
                // An event per tenth of the file, for the dashboard's progress.
                let mut told = None;
                let mut progress = |done: u64, total: u64| {
                    let tenth = done * 10 / total.max(1);
                    if told != Some(tenth) {
                        told = Some(tenth);
                        bus.publish(EventKind::Update {
                            actor: actor.clone(),
                            step: UpdateStep::Downloading,
                            from: from.clone(),
                            to: to.clone(),
                            detail: format!(
                                "{}% ({done} of {total} bytes)",
                                done * 100 / total.max(1)
                            ),
                        });
                    }
                };
                crate::stage_with(&settings, &dir, &offer, &data, &mut progress)?;
                keep_running(&data, &from)
            })
            .await
        };
        if let Err(e) = staged {
            self.publish(actor, UpdateStep::Refused, &from, &to, e.to_string());
            return Err(e.into());
        }

        self.publish(
            actor,
            UpdateStep::Draining,
            &from,
            &to,
            format!("{to} is verified and kept; draining every runner"),
        );
        self.drain(actor, &from, &to, settings.drain_timeout_seconds)
            .await?;

        let pending = UpdatePending {
            from: from.clone(),
            to: to.clone(),
            tries: 0,
            switched_ms: qcity_platform::clock::now_ms(),
            actor: actor.to_string(),
        };
        let switched = {
            let (data, to) = (data.clone(), to.clone());
            spawn_blocking(move || {
                record::set_pending(&data, &pending)?;
                versions::switch_to(&data, &to)
            })
            .await
        };
        if let Err(e) = switched {
            let _ = record::clear_pending(&data);
            self.resume_all(actor).await;
            self.publish(actor, UpdateStep::Refused, &from, &to, e.to_string());
            return Err(e.into());
        }
        let id = self.publish(
            actor,
            UpdateStep::Switched,
            &from,
            &to,
            format!("versions/current is {to}; restarting into it"),
        );
        self.engine.wait_durable(id).await;
        self.request_restart(format!("update from {from} to {to}"));
        Ok(UpdateStarted { from, to, after })
    }

    /// Goes back to the previous version by hand: drained like an update, the version left
    /// is refused (not offered again), then the daemon restarts into the previous one.
    pub async fn rollback(&self, actor: &str) -> Result<UpdateStarted, ApplyError> {
        if !self.can_restart {
            return Err(ApplyError::CannotRestart);
        }
        let _busy = self.busy.try_lock().map_err(|_| ApplyError::Busy)?;
        let data = self.engine.data_dir().root().to_path_buf();
        let from = running_version().to_string();
        let to = versions::previous(&data)
            .filter(|p| *p != from && versions_dir(&data).join(p).join(BINARY).is_file())
            .ok_or(ApplyError::NoPrevious)?;
        let after = self.engine.bus().next_id() - 1;
        let drain = self
            .engine
            .config()
            .device
            .update
            .map_or(UpdateSettings::DRAIN_TIMEOUT_SECONDS, |u| {
                u.drain_timeout_seconds
            });
        self.publish(
            actor,
            UpdateStep::Draining,
            &from,
            &to,
            format!("rolling back to {to}; draining every runner"),
        );
        self.drain(actor, &from, &to, drain).await?;
        let detail = format!("rolled back to {to} by {actor}");
        let done = {
            let (data, from, to, detail) = (data.clone(), from.clone(), to.clone(), detail.clone());
            spawn_blocking(move || record::roll_back(&data, &from, &to, &detail, true)).await
        };
        if let Err(e) = done {
            self.resume_all(actor).await;
            return Err(e.into());
        }
        let id = self.publish(actor, UpdateStep::RolledBack, &from, &to, detail);
        self.engine.wait_durable(id).await;
        self.request_restart(format!("rollback from {from} to {to}"));
        Ok(UpdateStarted { from, to, after })
    }

    /// Pauses every runner that runs (one in a job finishes it first) and waits until none
    /// is pausing; after `timeout_s` the paused ones are resumed and the update called off.
    async fn drain(
        &self,
        actor: &str,
        from: &str,
        to: &str,
        timeout_s: u64,
    ) -> Result<(), ApplyError> {
        for r in self.engine.status() {
            if r.actions.contains(&ControlAction::Pause)
                && let Err(e) = self
                    .engine
                    .control(actor, ControlAction::Pause, &r.name)
                    .await
            {
                tracing::warn!(runner = r.name, "cannot pause for the update: {e}");
            }
        }
        let until = Instant::now() + Duration::from_secs(timeout_s);
        loop {
            let busy: Vec<String> = self
                .engine
                .status()
                .into_iter()
                .filter_map(|r| match r.state {
                    RunnerState::Pausing { job, .. } => Some(match job {
                        Some(job) => format!("{} (job {job})", r.name),
                        None => r.name,
                    }),
                    _ => None,
                })
                .collect();
            if busy.is_empty() {
                return Ok(());
            }
            if Instant::now() >= until {
                self.resume_all(actor).await;
                let err = ApplyError::DrainTimedOut(busy.join(", "), timeout_s);
                self.publish(actor, UpdateStep::DrainTimedOut, from, to, err.to_string());
                return Err(err);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn resume_all(&self, actor: &str) {
        for r in self.engine.status() {
            if r.actions.contains(&ControlAction::Resume) {
                let _ = self
                    .engine
                    .control(actor, ControlAction::Resume, &r.name)
                    .await;
            }
        }
    }
}

/// Keeps the running binary as `versions/RUNNING/qcity` (the version to go back to), and
/// makes it `current` if nothing else is: after the switch it is `previous`.
fn keep_running(data: &Path, running: &str) -> Result<(), UpdateError> {
    let dir = versions_dir(data);
    let kept = dir.join(running).join(BINARY);
    if !kept.is_file() {
        let staging = dir.join(".staging").join(format!("{running}.running"));
        qcity_platform::private::create_dir(&staging).map_err(UpdateError::io(&staging))?;
        let copy = staging.join(BINARY);
        // The image this process runs, even if its file on disk was replaced since.
        std::fs::copy("/proc/self/exe", &copy).map_err(UpdateError::io(&copy))?;
        crate::stage::make_executable(&copy)?;
        let target = dir.join(running);
        std::fs::rename(&staging, &target).map_err(UpdateError::io(&target))?;
        crate::versions::fsync_dir(&dir)?;
    }
    if versions::current(data).as_deref() != Some(running) {
        versions::switch_to(data, running)?;
    }
    Ok(())
}

async fn spawn_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, UpdateError> + Send + 'static,
) -> Result<T, UpdateError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| UpdateError::Config(format!("the update's worker failed: {e}")))?
}
