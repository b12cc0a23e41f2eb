//! Tasks: commands run on a schedule (`every_ms`, `cron`) or on demand, one instance at a time,
//! with a timeout and retries with exponential backoff. Every attempt is a `task-finished`
//! event, so the store holds the history.
//!
//! One at a time: a run takes `DATA/tasks/NAME.lock` with `flock`, so a second trigger (the
//! schedule, the API, a second engine on the same data dir) is refused while a run is under
//! way. The task's process inherits the locked descriptor, so the lock lives as long as the
//! run does, not as long as the engine: a run left behind by a killed engine still holds it,
//! and nothing starts the task again until that run is gone. The next start's reconcile
//! terminates such a run (it carries the instance marker), which frees the lock.

pub mod autotest;

use std::collections::{BTreeMap, HashSet};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use qcity_config::{Config, TaskSpec};
use tokio::task::JoinHandle;

use crate::bus::Bus;
use qcity_platform::clock::now_ms;
use qcity_types::{EventKind, RunOutcome, TaskInfo, TaskRun};

/// The newest output kept per attempt.
const TAIL_BYTES: usize = 16 * 1024;
/// Between SIGTERM and SIGKILL when a run times out.
const KILL_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
#[error("no task named `{name}`")]
pub struct UnknownTask {
    pub name: String,
}

struct Plan {
    spec: TaskSpec,
    cwd: PathBuf,
    env: Vec<(String, String)>,
}

/// The tasks of one configuration, and their schedulers.
pub struct Tasks {
    plans: BTreeMap<String, Plan>,
    bus: Arc<Bus>,
    locks: PathBuf,
    running: Mutex<HashSet<String>>,
    schedulers: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Tasks {
    fn drop(&mut self) {
        for s in self
            .schedulers
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            s.abort();
        }
    }
}

impl Tasks {
    /// The tasks of `config`, with their schedulers started.
    pub fn start(config: &Config, bus: Arc<Bus>, data_dir: PathBuf, instance: &str) -> Arc<Tasks> {
        let plans = config
            .manifest
            .tasks
            .iter()
            .map(|t| {
                let mut env = vec![
                    (
                        crate::supervisor::marker::INSTANCE_ENV.to_string(),
                        instance.to_string(),
                    ),
                    ("QCITY_TASK".to_string(), t.name.clone()),
                ];
                env.extend(t.env.iter().map(|(k, v)| (k.clone(), v.clone())));
                let cwd = config.working_dir(t.working_dir.as_deref());
                (
                    t.name.clone(),
                    Plan {
                        spec: t.clone(),
                        cwd,
                        env,
                    },
                )
            })
            .collect();
        let tasks = Arc::new(Tasks {
            plans,
            bus,
            locks: data_dir.join("tasks"),
            running: Mutex::new(HashSet::new()),
            schedulers: Mutex::new(Vec::new()),
        });
        let handles: Vec<JoinHandle<()>> = tasks
            .plans
            .values()
            .filter(|p| p.spec.schedule.is_some())
            .map(|p| tokio::spawn(schedule(Arc::downgrade(&tasks), p.spec.clone())))
            .collect();
        *tasks.schedulers.lock().unwrap_or_else(|e| e.into_inner()) = handles;
        tasks
    }

    pub fn list(&self) -> Vec<TaskInfo> {
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        self.plans
            .values()
            .map(|p| TaskInfo {
                name: p.spec.name.clone(),
                schedule: p
                    .spec
                    .schedule
                    .as_ref()
                    .map(|s| match (&s.every_ms, &s.cron) {
                        (Some(ms), _) => format!("every {} s", ms / 1000),
                        (_, Some(c)) => {
                            format!("cron {c} ({})", s.timezone.as_deref().unwrap_or("UTC"))
                        }
                        _ => String::new(),
                    }),
                autotest: p.spec.autotest,
                running: running.contains(&p.spec.name),
            })
            .collect()
    }

    /// Names of the tasks marked `autotest`, in manifest order.
    pub fn autotests(&self) -> Vec<String> {
        self.plans
            .values()
            .filter(|p| p.spec.autotest)
            .map(|p| p.spec.name.clone())
            .collect()
    }

    /// Runs `name` now (with its retries) and returns when it is done.
    pub async fn run(&self, name: &str, trigger: &str) -> Result<RunOutcome, UnknownTask> {
        let plan = self.plans.get(name).ok_or_else(|| UnknownTask {
            name: name.to_string(),
        })?;
        if let Some(program) = plan
            .spec
            .requires
            .iter()
            .find(|p| !qcity_platform::path::on_path(p))
        {
            let outcome = RunOutcome::MissingRequirement {
                program: program.clone(),
            };
            self.bus.publish(EventKind::TaskSkipped {
                task: name.to_string(),
                reason: format!("`{program}` is not on PATH"),
            });
            return Ok(outcome);
        }
        let Some(lock) = self.lock(name) else {
            self.bus.publish(EventKind::TaskSkipped {
                task: name.to_string(),
                reason: "a run is already under way".into(),
            });
            return Ok(RunOutcome::AlreadyRunning);
        };
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string());
        let attempts = plan.spec.retries + 1;
        let mut runs = Vec::new();
        for attempt in 1..=attempts {
            let run = attempt_once(plan, trigger, attempt, attempts, &lock).await;
            self.bus
                .publish(EventKind::TaskFinished { run: run.clone() });
            let success = run.success;
            runs.push(run);
            if success || attempt == attempts {
                break;
            }
            let delay = plan
                .spec
                .retry_delay_ms
                .saturating_mul(1u64 << (attempt - 1).min(20));
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
        let success = runs.last().is_some_and(|r| r.success);
        Ok(RunOutcome::Finished { success, runs })
    }

    /// The task's lock, or None while another run holds it.
    fn lock(&self, name: &str) -> Option<std::fs::File> {
        qcity_platform::private::create_dir(&self.locks).ok()?;
        let file = qcity_platform::private::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.locks.join(format!("{name}.lock")))
            .ok()?;
        // SAFETY: flock on a descriptor we own; released when the file is closed.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        (rc == 0).then_some(file)
    }
}

async fn schedule(tasks: std::sync::Weak<Tasks>, spec: TaskSpec) {
    let Some(sched) = spec.schedule.clone() else {
        return;
    };
    let cron = sched
        .cron
        .as_deref()
        .and_then(|c| qcity_config::cron::Cron::parse(c, sched.timezone.as_deref()).ok());
    loop {
        let wait_ms = match (sched.every_ms, &cron) {
            (Some(ms), _) => ms,
            (None, Some(c)) => match c.next_after(now_ms()) {
                Some(at) => (at - now_ms()).max(0) as u64,
                None => return,
            },
            (None, None) => return,
        };
        tokio::time::sleep(Duration::from_millis(wait_ms)).await;
        let Some(tasks) = tasks.upgrade() else { return };
        // Runs in its own task so that a long run does not delay the next trigger, which
        // the lock then refuses (and records) instead of queueing.
        let name = spec.name.clone();
        tokio::spawn(async move {
            let _ = tasks.run(&name, "schedule").await;
        });
    }
}

async fn attempt_once(
    plan: &Plan,
    trigger: &str,
    attempt: u32,
    attempts: u32,
    lock: &std::fs::File,
) -> TaskRun {
    let started_ms = now_ms();
    let clock = std::time::Instant::now();
    let mut run = TaskRun {
        task: plan.spec.name.clone(),
        trigger: trigger.to_string(),
        attempt,
        attempts,
        success: false,
        code: None,
        signal: None,
        error: None,
        started_ms,
        duration_ms: 0,
        output_tail: String::new(),
    };
    let launched = crate::supervisor::launcher::run(crate::supervisor::launcher::Launch {
        argv: &plan.spec.command,
        env: &plan.env,
        clear_env: false,
        cwd: Some(&plan.cwd),
        timeout: Duration::from_millis(plan.spec.timeout_ms),
        grace: KILL_GRACE,
        keep_output: TAIL_BYTES,
        // The run holds the task's lock for as long as it lives, even if the engine dies.
        inherit_fd: Some(lock.as_raw_fd()),
        sink: None,
    })
    .await;
    match launched {
        Ok(end) => {
            if end.timed_out {
                run.error = Some(format!("timed out after {} ms", plan.spec.timeout_ms));
            }
            run.success = end.success();
            run.code = end.code;
            run.signal = end.signal;
            run.output_tail = end.output;
        }
        Err(e) => run.error = Some(e.to_string()),
    }
    run.duration_ms = clock.elapsed().as_millis() as u64;
    run
}
