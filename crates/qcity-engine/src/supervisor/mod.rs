//! The set of runners: creating their tasks from the config, applying a new config as a diff
//! (added start, removed stop, changed restart, unchanged untouched), routing commands.

pub mod backoff;
pub mod launcher;
pub mod marker;
pub mod output;
pub mod process;
pub mod reconcile;
pub mod runner;
pub mod spawn;
pub mod sweep;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use qcity_config::{Config, RunnerKind, RunnerSpec};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::bus::Bus;
use crate::kind::job_hook::{self, JobHook};
use crate::status::StatusTable;
use crate::supervisor::marker::{INSTANCE_ENV, RUNNER_ENV};
use crate::supervisor::output::{OutputLimits, RunnerOutput};
use crate::supervisor::runner::{Command, Reply, RunnerPlan, RunnerShared, RunnerTask};
use crate::supervisor::spawn::EnvVar;
use qcity_types::ApplyReport;
use qcity_types::RunnerState;

/// Between SIGTERM and SIGKILL for processes that left their runner's group.
const SWEEP_GRACE: Duration = Duration::from_secs(5);

struct Handle {
    plan: RunnerPlan,
    heal_env: crate::supervisor::runner::HealEnv,
    tx: mpsc::Sender<Command>,
    output: Arc<RunnerOutput>,
    probes: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        for p in &self.probes {
            p.abort();
        }
    }
}

pub struct Supervisor {
    bus: Arc<Bus>,
    status: Arc<StatusTable>,
    logs_dir: PathBuf,
    base_env: Vec<EnvVar>,
    job_hook: Option<JobHook>,
    /// Where processes are looked up (`/proc`; tests may lay out another).
    proc_root: PathBuf,
    /// `QCITY_INSTANCE=…`: what every process this engine started carries.
    instance_marker: String,
    runners: Mutex<BTreeMap<String, Handle>>,
    /// Serialises config applications; never held by a runner task.
    apply_lock: tokio::sync::Mutex<()>,
}

impl Supervisor {
    pub fn new(
        bus: Arc<Bus>,
        status: Arc<StatusTable>,
        logs_dir: PathBuf,
        instance: &str,
        job_hook: Option<JobHook>,
        proc_root: PathBuf,
    ) -> Self {
        let mut base_env: Vec<EnvVar> = std::env::vars_os()
            .filter(|(k, _)| {
                k != INSTANCE_ENV && !marker::SERVICE_MANAGER_ENV.iter().any(|s| k == s)
            })
            .map(|(k, v)| (Arc::from(k), Arc::from(v)))
            .collect();
        base_env.push(var(INSTANCE_ENV, instance));
        Self {
            bus,
            status,
            logs_dir,
            base_env,
            job_hook,
            proc_root,
            instance_marker: marker::instance(instance),
            runners: Mutex::new(BTreeMap::new()),
            apply_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Brings the running set in line with `config`.
    pub async fn apply(&self, config: &Config) -> ApplyReport {
        let _serial = self.apply_lock.lock().await;
        let limits = OutputLimits {
            max_file_bytes: config.device.supervisor.log_max_bytes,
            keep_files: config.device.supervisor.log_keep,
            tail_bytes: config.device.supervisor.tail_bytes as usize,
        };
        let plans: BTreeMap<String, RunnerPlan> = config
            .manifest
            .runners
            .iter()
            .map(|spec| (spec.name.clone(), self.plan(config, spec)))
            .collect();
        let mut report = ApplyReport::default();
        let mut to_stop = Vec::new();
        let mut to_start = Vec::new();
        {
            let mut runners = self.lock();
            let names: Vec<String> = runners.keys().cloned().collect();
            for name in names {
                match plans.get(&name) {
                    None => {
                        to_stop.push(runners.remove(&name).expect("listed above"));
                        report.removed.push(name);
                    }
                    Some(plan) if *plan != runners[&name].plan => {
                        let old = runners.remove(&name).expect("listed above");
                        to_start.push((plan.clone(), Some(old.output.clone())));
                        to_stop.push(old);
                        report.changed.push(name);
                    }
                    Some(_) => report.unchanged += 1,
                }
            }
            for (name, plan) in &plans {
                if !runners.contains_key(name) && !report.changed.contains(name) {
                    to_start.push((plan.clone(), None));
                    report.added.push(name.clone());
                }
            }
        }
        let stopped = shutdown_all(to_stop.iter().map(|h| h.tx.clone()).collect()).await;
        debug_assert_eq!(stopped, to_stop.len());
        for h in &to_stop {
            let markers = [self.instance_marker.clone(), marker::runner(&h.plan.name)];
            sweep::end_marked(&self.proc_root, &markers, Instant::now() + SWEEP_GRACE).await;
        }
        for name in &report.removed {
            self.status.remove(name);
        }
        for (plan, output) in to_start {
            let output = output.unwrap_or_else(|| {
                RunnerOutput::new(output::log_file(&self.logs_dir, &plan.name), limits)
            });
            self.launch(plan, output);
        }
        report
    }

    fn launch(&self, plan: RunnerPlan, output: Arc<RunnerOutput>) {
        let (tx, rx) = mpsc::channel(16);
        let heal_env = crate::supervisor::runner::HealEnv::default();
        let shared = RunnerShared {
            bus: self.bus.clone(),
            status: self.status.clone(),
            output: output.clone(),
            heal_env: heal_env.clone(),
            proc_root: self.proc_root.clone(),
            instance_marker: self.instance_marker.clone(),
        };
        let name = plan.name.clone();
        let signals = crate::kind::parser(plan.kind).map(|parse| {
            let (tx, rx) = mpsc::channel(256);
            output.watch_lines(Some((parse, tx)));
            rx
        });
        if signals.is_none() {
            output.watch_lines(None);
        }
        tokio::spawn(RunnerTask::new(plan.clone(), shared, rx, signals).run());
        self.status.clear_probes(&name);
        let probes = crate::health::probe::spawn_probes(
            &plan,
            &crate::health::probe::ProbeContext {
                bus: self.bus.clone(),
                status: self.status.clone(),
                output: output.clone(),
            },
        );
        self.lock().insert(
            name,
            Handle {
                plan,
                heal_env,
                tx,
                output,
                probes,
            },
        );
    }

    /// Sends a command to `runner` and waits for the state it ended in.
    /// `None` when there is no such runner.
    pub async fn command(&self, runner: &str, make: fn(Reply) -> Command) -> Option<RunnerState> {
        let tx = self.lock().get(runner)?.tx.clone();
        let (reply, rx) = oneshot::channel();
        tx.send(make(reply)).await.ok()?;
        rx.await.ok()
    }

    /// Stops every runner (in parallel) and ends their tasks, then what their processes
    /// started that left their groups (one sweep for all).
    pub async fn shutdown(&self) {
        let handles = std::mem::take(&mut *self.lock());
        let txs: Vec<_> = handles.values().map(|h| h.tx.clone()).collect();
        drop(handles);
        shutdown_all(txs).await;
        let markers = [self.instance_marker.clone()];
        sweep::end_marked(&self.proc_root, &markers, Instant::now() + SWEEP_GRACE).await;
    }

    pub fn output(&self, runner: &str) -> Option<Arc<RunnerOutput>> {
        self.lock().get(runner).map(|h| h.output.clone())
    }

    /// Sets `vars` on `runner`'s next runs, over its own environment. False when there is
    /// no such runner.
    pub fn set_heal_env(
        &self,
        runner: &str,
        vars: &std::collections::BTreeMap<String, String>,
    ) -> bool {
        let Some(env) = self.lock().get(runner).map(|h| h.heal_env.clone()) else {
            return false;
        };
        let mut env = env.lock().unwrap_or_else(|e| e.into_inner());
        for (k, v) in vars {
            env.retain(|(ek, _)| ek.as_os_str() != k.as_str());
            env.push((k.into(), v.into()));
        }
        true
    }

    /// Every runner's plan, sorted by name.
    pub fn plans(&self) -> Vec<RunnerPlan> {
        self.lock().values().map(|h| h.plan.clone()).collect()
    }

    pub fn names(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    fn plan(&self, config: &Config, spec: &RunnerSpec) -> RunnerPlan {
        let mut env = Vec::with_capacity(self.base_env.len() + spec.env.len() + 2);
        env.extend(self.base_env.iter().cloned());
        env.push(var(RUNNER_ENV, &spec.name));
        for (k, v) in &spec.env {
            env.retain(|(ek, _)| **ek != *k.as_str());
            env.push(var(k, v));
        }
        if spec.job_started_hook
            && spec.kind == RunnerKind::Github
            && let Some(hook) = &self.job_hook
        {
            // A hook path whose file is missing fails every job: set it only once written.
            match hook.install(&spec.name) {
                Ok(script) => {
                    env.retain(|(k, _)| **k != *job_hook::ENV);
                    env.push(var(job_hook::ENV, &script));
                }
                Err(e) => {
                    tracing::warn!(runner = %spec.name, error = %e, "cannot write the job-started hook; the runner runs without it");
                }
            }
        }
        let cwd = config.working_dir(spec.working_dir.as_deref());
        // Disk probes get their path and threshold now, so a reload that changes either
        // replaces the probe like any other change.
        let mut probes = spec.probes.clone();
        for disk in probes.iter_mut().filter_map(|p| p.disk.as_mut()) {
            disk.path = Some(match &disk.path {
                Some(path) => config.dir.join(path),
                None => cwd.clone(),
            });
            disk.min_free_mb
                .get_or_insert(config.device.resources.min_free_disk_mb);
        }
        // So do http probes their CA file, relative to the config dir like the disk path.
        for http in probes.iter_mut().filter_map(|p| p.http.as_mut()) {
            if let Some(ca_file) = &mut http.ca_file {
                *ca_file = config.dir.join(&*ca_file);
            }
        }
        let cwd = Some(cwd);
        RunnerPlan {
            name: spec.name.clone(),
            kind: spec.kind,
            argv: spec.command.clone(),
            env: env.into(),
            cwd,
            autostart: spec.autostart,
            restart: spec.restart.clone(),
            stop_grace: Duration::from_millis(config.stop_grace_ms(spec)),
            probes,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Handle>> {
        self.runners.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Sends `Shutdown` to every task first, then waits for all, so stops run in parallel.
async fn shutdown_all(txs: Vec<mpsc::Sender<Command>>) -> usize {
    let mut waits = Vec::new();
    for tx in txs {
        let (reply, rx) = oneshot::channel();
        if tx.send(Command::Shutdown(reply)).await.is_ok() {
            waits.push(rx);
        }
    }
    let n = waits.len();
    for rx in waits {
        let _ = rx.await;
    }
    n
}

fn var(k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> EnvVar {
    (Arc::from(k.as_ref()), Arc::from(v.as_ref()))
}
