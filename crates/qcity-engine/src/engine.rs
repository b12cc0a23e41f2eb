//! The engine: wires the bus, the durable subscribers and the supervisor, and offers the
//! operations both faces (daemon, tray app) and the API use.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use qcity_config::Config;
use qcity_store::{AuditReport, Store, StoreError};
use tokio::sync::{broadcast, watch};

use crate::bus::Bus;
use crate::datadir::{DataDir, LockError};
use crate::journal::{WriterState, spawn_audit, spawn_journal};
use crate::status::StatusTable;
use crate::supervisor::Supervisor;
use crate::supervisor::reconcile::reconcile;
use crate::supervisor::runner::Command;
use crate::tasks::Tasks;
use qcity_types::{ApplyReport, AuditEntry, MachineStatus, RunnerStatus};
use qcity_types::{AutotestCheck, AutotestReport};
use qcity_types::{ControlAction, Event, EventKind, RunnerState};
use qcity_types::{RunOutcome, TaskInfo, TaskRun};

/// How to start an engine.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub config: Config,
    pub data_dir: PathBuf,
    /// Root of the proc filesystem (`/proc`); tests may point elsewhere.
    pub proc_root: PathBuf,
    /// A program with a `hook job-started --data-dir DIR NAME` command (the `qcity` binary):
    /// what the job-started hook of `github` runners runs. Without it, no hook is installed.
    pub hook_program: Option<PathBuf>,
}

impl EngineOptions {
    pub fn new(config: Config, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            config,
            data_dir: data_dir.into(),
            proc_root: PathBuf::from("/proc"),
            hook_program: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no runner named `{name}`")]
    UnknownRunner { name: String },
    #[error("no task named `{name}`")]
    UnknownTask { name: String },
    #[error("configuration has errors:\n{errors}")]
    Config { errors: qcity_config::ConfigErrors },
    #[error("the engine is shutting down")]
    ShuttingDown,
    /// The action was done; its record waits in memory for the store to write again.
    #[error(
        "done, but not recorded yet: the {writer} cannot write ({error}); the record is kept \
         and written as soon as it can"
    )]
    NotDurable {
        writer: &'static str,
        error: String,
        disk_full: bool,
    },
}

/// How long a stopping engine waits for a failing store to write its last events.
const SHUTDOWN_WRITE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// A running engine.
pub struct Engine {
    bus: Arc<Bus>,
    status: Arc<StatusTable>,
    supervisor: Supervisor,
    data: DataDir,
    config: Mutex<Config>,
    journal: watch::Receiver<WriterState>,
    audit: watch::Receiver<WriterState>,
    machine: Arc<Mutex<MachineStatus>>,
    /// Where `/proc` is (the usage samples read it).
    proc_root: PathBuf,
    monitor: Mutex<Option<tokio::task::JoinHandle<()>>>,
    tasks: Mutex<Arc<Tasks>>,
    /// Events seen since the start, by type (for `/metrics`).
    counts: Arc<Mutex<BTreeMap<&'static str, u64>>>,
    _lock: std::fs::File,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("data", &self.data)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// [`Engine::open`], then [`Engine::start_runners`]: for callers with no subscriber of
    /// their own to add first.
    pub async fn start(opts: EngineOptions) -> Result<Arc<Engine>, EngineError> {
        let engine = Engine::open(opts).await?;
        engine.start_runners().await;
        Ok(engine)
    }

    /// Locks the data dir, opens the store, terminates left-overs of a previous instance and
    /// starts the engine's own subscribers; no runner runs yet. A composer subscribes its own
    /// (the notifier, the healer) now, then calls [`Engine::start_runners`], so they see every
    /// runner's first events.
    pub async fn open(opts: EngineOptions) -> Result<Arc<Engine>, EngineError> {
        crate::supervisor::process::raise_nofile_limit();
        let data = DataDir::new(&opts.data_dir);
        let lock = data.lock()?;
        let db = data.db();
        let instance = data.instance_id();
        let grace = Duration::from_millis(opts.config.device.supervisor.stop_grace_ms);
        let proc_root = opts.proc_root.clone();
        let (store, leftovers) = tokio::task::spawn_blocking(move || {
            let mut store = Store::open(&db)?;
            let leftovers = reconcile(&mut store, &proc_root, &instance, grace)?;
            Ok::<_, StoreError>((store, leftovers))
        })
        .await
        .expect("reconcile task panicked")?;
        let bus = Bus::new(store.last_event_id()? + 1);
        let audit_store = Store::open(&data.db())?;
        let journal = spawn_journal(
            store,
            bus.clone(),
            bus.subscribe("journal", 65_536),
            opts.proc_root.clone(),
        );
        let audit = spawn_audit(audit_store, bus.clone(), bus.subscribe("audit", 65_536));
        spawn_log_writer(bus.subscribe("log", 4096));
        let counts = spawn_event_counter(bus.subscribe("counter", 4096));

        let status = Arc::new(StatusTable::default());
        let supervisor = Supervisor::new(
            bus.clone(),
            status.clone(),
            data.logs(),
            &data.instance_id(),
            opts.hook_program
                .clone()
                .map(|p| crate::kind::job_hook::JobHook::new(p, data.root().to_path_buf())),
            opts.proc_root.clone(),
        );
        let tasks = Tasks::start(
            &opts.config,
            bus.clone(),
            data.root().to_path_buf(),
            &data.instance_id(),
        );
        let engine = Arc::new(Engine {
            bus,
            status,
            supervisor,
            data,
            config: Mutex::new(opts.config.clone()),
            journal,
            audit,
            machine: Arc::new(Mutex::new(MachineStatus::default())),
            proc_root: opts.proc_root.clone(),
            monitor: Mutex::new(None),
            tasks: Mutex::new(tasks),
            counts,
            _lock: lock,
        });
        engine.bus.publish(EventKind::EngineStarted {
            version: qcity_types::version::get().to_string(),
            pid: std::process::id(),
            config_dir: opts.config.dir.display().to_string(),
            data_dir: engine.data.root().display().to_string(),
        });
        for l in leftovers {
            engine.bus.publish(EventKind::Reconciled {
                runner: l.runner,
                pid: l.pid,
                pgid: l.pgid,
                found_by: l.found_by.to_string(),
                killed: l.killed,
            });
        }
        Ok(engine)
    }

    /// Starts the runners of the configuration and the machine's watch.
    pub async fn start_runners(&self) {
        let config = self.config();
        let report = self.supervisor.apply(&config).await;
        self.publish_applied(report);
        self.watch_machine(&config);
    }

    /// Events seen since the engine started, by type.
    pub fn event_counts(&self) -> BTreeMap<&'static str, u64> {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn bus(&self) -> &Arc<Bus> {
        &self.bus
    }

    pub fn data_dir(&self) -> &DataDir {
        &self.data
    }

    /// The configuration currently applied.
    pub fn config(&self) -> Config {
        self.config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// How a runner is started now (argv, environment, working dir).
    pub fn plan(&self, runner: &str) -> Option<crate::supervisor::runner::RunnerPlan> {
        self.supervisor
            .plans()
            .into_iter()
            .find(|p| p.name == runner)
    }

    /// Sets environment variables on `runner`'s next runs (the healer's `env` action); false
    /// when there is no such runner.
    pub fn set_heal_env(
        &self,
        runner: &str,
        vars: &std::collections::BTreeMap<String, String>,
    ) -> bool {
        self.supervisor.set_heal_env(runner, vars)
    }

    /// Every runner's status, sorted by name.
    pub fn status(&self) -> Vec<RunnerStatus> {
        self.status.snapshot()
    }

    /// Runs a control action on a runner as `actor`; returns once it is done and its event
    /// is durable.
    pub async fn control(
        &self,
        actor: &str,
        action: ControlAction,
        runner: &str,
    ) -> Result<RunnerState, EngineError> {
        let make: fn(crate::supervisor::runner::Reply) -> Command = match action {
            ControlAction::Start => Command::Start,
            ControlAction::Stop => Command::Stop,
            ControlAction::Restart => Command::Restart,
            ControlAction::Pause => Command::Pause,
            ControlAction::Resume => Command::Resume,
            ControlAction::Reload => unreachable!("reload is not a runner action"),
        };
        let Some(state) = self.supervisor.command(runner, make).await else {
            return Err(EngineError::UnknownRunner {
                name: runner.to_string(),
            });
        };
        let ev = self.bus.publish(EventKind::Control {
            actor: actor.to_string(),
            action,
            target: runner.to_string(),
            outcome: state.name().to_string(),
        });
        self.durable(ev.id).await?;
        Ok(state)
    }

    /// Reloads the configuration from its directory. A bad configuration is refused with
    /// every error, and the last good one keeps running.
    pub async fn reload(&self, actor: &str) -> Result<ApplyReport, EngineError> {
        let dir = self.config().dir;
        let result = match qcity_config::load_dir(&dir) {
            Ok(config) => {
                let report = self.supervisor.apply(&config).await;
                self.watch_machine(&config);
                let tasks = Tasks::start(
                    &config,
                    self.bus.clone(),
                    self.data.root().to_path_buf(),
                    &self.data.instance_id(),
                );
                *self.tasks.lock().unwrap_or_else(|e| e.into_inner()) = tasks;
                *self.config.lock().unwrap_or_else(|e| e.into_inner()) = config;
                self.publish_applied(report.clone());
                Ok(report)
            }
            Err(errors) => {
                self.bus.publish(EventKind::ConfigRejected {
                    errors: errors.0.iter().map(|e| e.to_string()).collect(),
                });
                Err(EngineError::Config { errors })
            }
        };
        let outcome = match &result {
            Ok(_) => "applied",
            Err(_) => "rejected",
        };
        let ev = self.bus.publish(EventKind::Control {
            actor: actor.to_string(),
            action: ControlAction::Reload,
            target: dir.display().to_string(),
            outcome: outcome.to_string(),
        });
        self.durable(ev.id).await?;
        result
    }

    /// The last `n` lines of a runner's output kept in memory.
    pub fn logs(&self, runner: &str, n: usize) -> Result<Vec<String>, EngineError> {
        self.output(runner).map(|o| o.tail_lines(n))
    }

    /// A live feed of a runner's output.
    pub fn follow(&self, runner: &str) -> Result<broadcast::Receiver<Arc<[u8]>>, EngineError> {
        self.output(runner).map(|o| o.follow())
    }

    fn output(
        &self,
        runner: &str,
    ) -> Result<Arc<crate::supervisor::output::RunnerOutput>, EngineError> {
        self.supervisor
            .output(runner)
            .ok_or_else(|| EngineError::UnknownRunner {
                name: runner.to_string(),
            })
    }

    /// Waits until the journal and the audit log have committed event `id`, or until one of
    /// them says it cannot write (a full disk): the event then waits in memory, and the error
    /// says why, at once rather than when space returns.
    pub async fn durable(&self, id: u64) -> Result<(), EngineError> {
        for rx in [&self.journal, &self.audit] {
            let mut rx = rx.clone();
            let Ok(state) = rx
                .wait_for(|s| s.durable >= id || s.failing.is_some())
                .await
                .map(|s| s.clone())
            else {
                // The writer has ended: the engine is gone.
                return Ok(());
            };
            if let (true, Some(f)) = (state.durable < id, state.failing) {
                return Err(EngineError::NotDurable {
                    writer: f.writer,
                    error: f.error,
                    disk_full: f.disk_full,
                });
            }
        }
        Ok(())
    }

    /// As [`Engine::durable`], for a reader that answers with what is stored either way.
    pub async fn wait_durable(&self, id: u64) {
        let _ = self.durable(id).await;
    }

    /// Every task of the configuration.
    pub fn tasks(&self) -> Vec<TaskInfo> {
        self.current_tasks().list()
    }

    /// Runs a task now (with its retries) and returns when it is done.
    pub async fn run_task(&self, name: &str, trigger: &str) -> Result<RunOutcome, EngineError> {
        let tasks = self.current_tasks();
        let outcome = tasks
            .run(name, trigger)
            .await
            .map_err(|e| EngineError::UnknownTask { name: e.name })?;
        self.durable(self.bus.next_id() - 1).await?;
        Ok(outcome)
    }

    /// The newest `n` attempts of a task, oldest first.
    pub fn task_runs(&self, name: &str, n: usize) -> Result<Vec<TaskRun>, EngineError> {
        let rows = Store::open(&self.data.db())?.events_about("task-finished", name, n)?;
        Ok(rows
            .iter()
            .filter_map(
                |r| match serde_json::from_str::<Event>(&r.data).ok()?.kind {
                    EventKind::TaskFinished { run } => Some(run),
                    _ => None,
                },
            )
            .collect())
    }

    /// Runs every probe once, reads the machine, then runs every `autotest` task; records
    /// and returns the report.
    pub async fn autotest(&self) -> AutotestReport {
        let started_ms = qcity_platform::clock::now_ms();
        let clock = std::time::Instant::now();
        let mut checks = Vec::new();
        for plan in self.supervisor.plans() {
            for spec in &plan.probes {
                let t = std::time::Instant::now();
                let result = crate::health::probe::check_once(&plan, spec, &self.status).await;
                checks.push(AutotestCheck {
                    name: format!("probe:{}/{}", plan.name, spec.name),
                    passed: result.is_ok(),
                    duration_ms: t.elapsed().as_millis() as u64,
                    reason: result.unwrap_or_else(|e| e),
                });
            }
        }
        let config = self.config();
        let t = std::time::Instant::now();
        let disks = self.watched_disks(&config);
        let readings =
            crate::health::resources::read(&disks, &config.device.resources.power_supply_root);
        let elapsed = t.elapsed().as_millis() as u64;
        for r in crate::health::resources::evaluate(&readings, &config.device.resources) {
            // A failing non-critical resource (load, battery) degrades; it does not fail.
            let passed = r.state != qcity_types::ProbeState::Failing || !r.critical;
            checks.push(AutotestCheck {
                name: format!("resource:{}", r.name),
                passed,
                duration_ms: elapsed,
                reason: r.detail,
            });
        }
        let tasks = self.current_tasks();
        for name in tasks.autotests() {
            let t = std::time::Instant::now();
            let (passed, reason) = match tasks.run(&name, "autotest").await {
                Ok(RunOutcome::Finished { success, runs }) => {
                    let last = runs.last();
                    let reason = match last.and_then(|r| r.error.clone()) {
                        Some(e) => e,
                        None => last
                            .and_then(|r| r.code)
                            .map_or("ended by a signal".into(), |c| format!("exit {c}")),
                    };
                    (success, reason)
                }
                Ok(RunOutcome::AlreadyRunning) => (false, "a run was already under way".into()),
                Ok(RunOutcome::MissingRequirement { program }) => {
                    (false, format!("`{program}` is not on PATH"))
                }
                Err(e) => (false, e.to_string()),
            };
            checks.push(AutotestCheck {
                name: format!("task:{name}"),
                passed,
                duration_ms: t.elapsed().as_millis() as u64,
                reason,
            });
        }
        let report = AutotestReport {
            passed: checks.iter().all(|c| c.passed),
            started_ms,
            duration_ms: clock.elapsed().as_millis() as u64,
            checks,
        };
        let ev = self.bus.publish(EventKind::AutotestFinished {
            report: report.clone(),
        });
        self.wait_durable(ev.id).await;
        report
    }

    /// The newest autotest report in the store.
    pub fn latest_autotest(&self) -> Result<Option<AutotestReport>, EngineError> {
        let row = Store::open(&self.data.db())?.latest_of_kind("autotest-finished")?;
        Ok(row.and_then(
            |r| match serde_json::from_str::<Event>(&r.data).ok()?.kind {
                EventKind::AutotestFinished { report } => Some(report),
                _ => None,
            },
        ))
    }

    fn current_tasks(&self) -> Arc<Tasks> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The machine's resources and their verdicts.
    pub fn machine(&self) -> MachineStatus {
        self.machine
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// (Re)starts the resource monitor for `config`: the data dir and every runner's working
    /// dir are the disks watched.
    fn watch_machine(&self, config: &Config) {
        let disks = self.watched_disks(config);
        let handle = crate::health::resources::spawn_monitor(
            self.bus.clone(),
            self.machine.clone(),
            config.device.resources.clone(),
            disks,
            self.status.clone(),
            self.proc_root.clone(),
        );
        if let Some(old) = self
            .monitor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(handle)
        {
            old.abort();
        }
    }

    /// The data dir, then every runner's working dir, each once.
    fn watched_disks(&self, config: &Config) -> Vec<PathBuf> {
        let mut disks = vec![self.data.root().to_path_buf()];
        for r in &config.manifest.runners {
            let dir = config.working_dir(r.working_dir.as_deref());
            if !disks.contains(&dir) {
                disks.push(dir);
            }
        }
        disks
    }

    /// Stops every runner and waits until every event so far is durable.
    pub async fn shutdown(&self, reason: &str) {
        if let Some(m) = self
            .monitor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            m.abort();
        }
        self.bus.publish(EventKind::EngineStopping {
            reason: reason.to_string(),
        });
        self.supervisor.shutdown().await;
        let last = self.bus.next_id() - 1;
        // A store that cannot write would hold the exit for ever: it gets a few seconds to
        // find space, then what it could not write is named.
        let give_up = std::time::Instant::now() + SHUTDOWN_WRITE_WAIT;
        while let Err(e) = self.durable(last).await {
            if std::time::Instant::now() >= give_up {
                tracing::error!(last_event = last, "stopping with events not written: {e}");
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    /// Stored events after `after_id`, oldest first.
    pub fn events_after(&self, after_id: u64, limit: usize) -> Result<Vec<Event>, EngineError> {
        self.events(&qcity_store::EventQuery {
            after: after_id,
            limit,
            ..Default::default()
        })
    }

    /// Stored events as `q` asks, oldest first.
    pub fn events(&self, q: &qcity_store::EventQuery) -> Result<Vec<Event>, EngineError> {
        let store = Store::open(&self.data.db())?;
        let rows = store.events_matching(q)?;
        Ok(rows
            .iter()
            .filter_map(|r| serde_json::from_str(&r.data).ok())
            .collect())
    }

    /// Walks the audit chain from the first row to the head.
    pub fn audit_verify(&self) -> Result<AuditReport, EngineError> {
        Ok(Store::open(&self.data.db())?.audit_verify()?)
    }

    /// The newest `n` audit rows, oldest first.
    pub fn audit_tail(&self, n: usize) -> Result<Vec<AuditEntry>, EngineError> {
        Ok(Store::open(&self.data.db())?.audit_tail(n)?)
    }

    fn publish_applied(&self, r: ApplyReport) {
        self.bus.publish(EventKind::ConfigApplied {
            added: r.added,
            removed: r.removed,
            changed: r.changed,
            unchanged: r.unchanged,
        });
    }
}

/// The human-readable event log: every event through `tracing`.
/// Counts events by type: a subscriber like any other, so `/metrics` reads a map.
fn spawn_event_counter(
    mut rx: crate::bus::EventReceiver,
) -> Arc<Mutex<BTreeMap<&'static str, u64>>> {
    let counts = Arc::new(Mutex::new(BTreeMap::new()));
    let c = counts.clone();
    tokio::spawn(async move {
        while let Some(ev) = rx.recv().await {
            *c.lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(ev.kind.name())
                .or_insert(0) += 1;
        }
    });
    counts
}

fn spawn_log_writer(mut rx: crate::bus::EventReceiver) {
    tokio::spawn(async move {
        while let Some(ev) = rx.recv().await {
            match &ev.kind {
                EventKind::RunnerState { runner, state, .. } => {
                    tracing::debug!(id = ev.id, %runner, state = state.name(), "runner state");
                }
                EventKind::Escalation {
                    runner,
                    reason,
                    advice,
                } => {
                    tracing::warn!(id = ev.id, runner = ?runner, %reason, %advice, "escalation");
                }
                other => tracing::info!(id = ev.id, event = ?other, "{}", other.name()),
            }
        }
    });
}
