//! One runner's supervision task: the state machine in one place.
//!
//! ```text
//!  stopped ──start──▶ starting ──spawned──▶ running ──exit──▶ exited ──policy──▶ backoff ──timer──▶ starting
//!     ▲                  │ spawn error ─────────────────────────▲   └──too many──▶ crash-looping ──cool-down──▶ starting
//!     └──────── stopping ◀──stop── running        (stop in backoff / crash-looping / exited ──▶ stopped)
//! ```
//! Waiting (backoff, cool-down) is a `select!` on the timer and the command queue, so a stop
//! or start is acted on at once. Exits are seen through a pidfd in the reactor: no polling.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use qcity_config::{RestartPolicy, RestartSpec, RunnerKind};
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep_until};

use crate::bus::Bus;
use crate::kind::{self, Drain, LineEvent, Said};
use crate::status::{Judged, StatusTable};
use crate::supervisor::backoff::{Backoff, Next};
use crate::supervisor::marker;
use crate::supervisor::output::RunnerOutput;
use crate::supervisor::process::{self, ExitStatus};
use crate::supervisor::spawn::{self, EnvVar, SpawnRequest};
use qcity_platform::clock::now_ms;
use qcity_types::Activity;
use qcity_types::{EventKind, ExitInfo, RunnerState};

/// A runner's spec resolved against the config dir and the device defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct RunnerPlan {
    pub name: String,
    pub kind: RunnerKind,
    pub argv: Vec<String>,
    /// The whole environment the runner starts with. Shared: every runner's plan holds the
    /// daemon's own variables, so the strings are the daemon's (one copy for all runners,
    /// not one per runner, and a restart copies pointers, not strings).
    pub env: Arc<[EnvVar]>,
    pub cwd: Option<PathBuf>,
    pub autostart: bool,
    pub restart: RestartSpec,
    pub stop_grace: Duration,
    pub probes: Vec<qcity_config::ProbeSpec>,
}

/// A control command for a runner task; the reply carries the state it ended in.
#[derive(Debug)]
pub enum Command {
    Start(Reply),
    Stop(Reply),
    Restart(Reply),
    /// Drain: let the work in hand finish (as the kind allows), then stop; no restart until resumed.
    Pause(Reply),
    /// Undo a pause: start again (or keep running, if the job has not ended yet).
    Resume(Reply),
    /// Stop and end the task (runner removed, or engine shutting down).
    Shutdown(Reply),
}

pub type Reply = oneshot::Sender<RunnerState>;

/// What the task shares with the engine.
#[derive(Debug, Clone)]
pub struct RunnerShared {
    pub bus: Arc<Bus>,
    pub status: Arc<StatusTable>,
    pub output: Arc<RunnerOutput>,
    /// Variables the healer set (`env` action, `heal.low_memory_env`), over the plan's: they
    /// live as long as this task, so a reload that changes the runner starts it without them.
    pub heal_env: HealEnv,
    /// Where processes are looked up (`/proc`).
    pub proc_root: std::path::PathBuf,
    /// `QCITY_INSTANCE=…` as this engine's processes carry it.
    pub instance_marker: String,
}

/// Environment variables set by the healer on a runner's next runs.
pub type HealEnv = Arc<std::sync::Mutex<Vec<(OsString, OsString)>>>;

struct Child {
    pid: u32,
    started: Instant,
    exit: ExitWatch,
    /// The reader of its output: done when every writer of the pipe has exited.
    pump: tokio::task::JoinHandle<()>,
}

/// Where the task waits for its next step.
enum Phase {
    Idle,
    Spawn,
    Running(Child),
    Wait(Instant),
}

/// What a command does to the phase, or the end of the task.
enum Flow {
    Go(Phase),
    End,
}

pub struct RunnerTask {
    plan: RunnerPlan,
    shared: RunnerShared,
    backoff: Backoff,
    rx: mpsc::Receiver<Command>,
    /// Jitter source (not for anything secret): seeded once, so a restart costs no
    /// `getrandom` call.
    rng: rand::rngs::SmallRng,
    /// States whose events wait until the next spawn has been issued (see `hold`).
    held: Vec<(RunnerState, Judged)>,
    /// The task ends with the runner (engine shutdown, runner removed): whoever ends it
    /// sweeps what escaped its group.
    shutting_down: bool,
    holding: bool,
    /// The process that just exited, until its replacement has been spawned.
    exited: Option<Child>,
    /// What the runner's own output says (its kind has a parser), and what it said since
    /// its start.
    line_events: Option<mpsc::Receiver<LineEvent>>,
    said: Said,
    /// Paused while at work: how it is being drained.
    draining: Draining,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Draining {
    No,
    /// Stop as soon as the output says the job ended.
    UntilJobEnds,
    /// Told by its drain signal to finish and exit. A signal cannot be taken back, so a
    /// resume meanwhile (`resume`) starts it again once it has exited.
    Signalled {
        resume: bool,
    },
}

impl RunnerTask {
    pub fn new(
        plan: RunnerPlan,
        shared: RunnerShared,
        rx: mpsc::Receiver<Command>,
        line_events: Option<mpsc::Receiver<LineEvent>>,
    ) -> Self {
        let backoff = Backoff::new(plan.restart.clone());
        Self {
            plan,
            shared,
            backoff,
            rx,
            rng: rand::make_rng(),
            held: Vec::new(),
            shutting_down: false,
            holding: false,
            exited: None,
            line_events,
            said: Said::default(),
            draining: Draining::No,
        }
    }

    pub async fn run(mut self) {
        let mut phase = if self.plan.autostart {
            Phase::Spawn
        } else {
            Phase::Idle
        };
        if !self.plan.autostart {
            self.set_state(RunnerState::Stopped);
        }
        loop {
            if !matches!(phase, Phase::Spawn) {
                self.release();
            }
            let flow = match phase {
                Phase::Idle => self.idle().await,
                Phase::Spawn => Flow::Go(self.spawn()),
                Phase::Running(child) => self.running(child).await,
                Phase::Wait(until) => self.waiting(until).await,
            };
            match flow {
                Flow::Go(next) => phase = next,
                Flow::End => return,
            }
        }
    }

    async fn idle(&mut self) -> Flow {
        match self.rx.recv().await {
            None => Flow::End,
            Some(Command::Start(reply) | Command::Restart(reply) | Command::Resume(reply)) => {
                self.start_now(reply)
            }
            Some(Command::Pause(reply)) => {
                let _ = reply.send(self.set_state(RunnerState::Paused));
                Flow::Go(Phase::Idle)
            }
            Some(Command::Stop(reply)) => {
                let state = self.current_state();
                let state = if matches!(
                    state,
                    RunnerState::Exited { .. }
                        | RunnerState::NeedsRegistration { .. }
                        | RunnerState::Paused
                ) {
                    self.set_state(RunnerState::Stopped)
                } else {
                    state
                };
                let _ = reply.send(state);
                Flow::Go(Phase::Idle)
            }
            Some(Command::Shutdown(reply)) => {
                let _ = reply.send(self.set_state(RunnerState::Stopped));
                Flow::End
            }
        }
    }

    /// A manual start: a fresh beginning for the backoff; the reply follows the spawn.
    fn start_now(&mut self, reply: Reply) -> Flow {
        self.backoff.reset();
        let next = self.spawn();
        let _ = reply.send(self.current_state());
        Flow::Go(next)
    }

    fn spawn(&mut self) -> Phase {
        self.set_state(RunnerState::Starting);
        let mut env = self.plan.env.to_vec();
        for (k, v) in self
            .shared
            .heal_env
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            env.retain(|(ek, _)| **ek != **k);
            env.push((Arc::from(k.as_os_str()), Arc::from(v.as_os_str())));
        }
        let req = SpawnRequest {
            argv: self.plan.argv.clone(),
            env,
            cwd: self.plan.cwd.clone(),
            yield_cpu: self.holding,
        };
        let started = Instant::now();
        match spawn::spawn(&req) {
            Ok(sp) => {
                let exit = ExitWatch::new(sp.pid, sp.pidfd);
                let pump = tokio::spawn(self.shared.output.clone().pump(sp.output));
                self.said = Said::default();
                if self.line_events.is_some() {
                    self.set_activity(Some(Activity::Connecting));
                }
                self.set_state(RunnerState::Running {
                    pid: sp.pid,
                    pgid: sp.pid,
                    since_ms: now_ms(),
                });
                self.release();
                Phase::Running(Child {
                    pid: sp.pid,
                    started,
                    exit,
                    pump,
                })
            }
            Err(err) => {
                let msg = err.to_string();
                self.shared
                    .output
                    .write(format!("[qcity] {msg}\n").as_bytes());
                let exit = ExitInfo {
                    code: None,
                    signal: None,
                    uptime_ms: 0,
                    error: Some(msg),
                    at_ms: now_ms(),
                };
                let next = self.after_exit(exit);
                self.release();
                next
            }
        }
    }

    async fn running(&mut self, mut child: Child) -> Flow {
        tokio::select! {
            status = child.exit.wait(child.pid) => {
                let exit = exit_info(status, child.started);
                // The last lines (the reason for the exit) may still be in the pipe: the
                // line parser and the healer read them once the exit is known.
                let _ = tokio::time::timeout(OUTPUT_DRAIN, &mut child.pump).await;
                while let Some(Ok(event)) = self.line_events.as_mut().map(|rx| rx.try_recv()) {
                    self.on_line_event(event);
                }
                match std::mem::replace(&mut self.draining, Draining::No) {
                    Draining::No => {}
                    Draining::Signalled { resume: true } => {
                        self.record_end(exit);
                        self.backoff.reset();
                        return Flow::Go(Phase::Spawn);
                    }
                    Draining::UntilJobEnds | Draining::Signalled { resume: false } => {
                        self.record_end(exit);
                        self.set_state(RunnerState::Paused);
                        return Flow::Go(Phase::Idle);
                    }
                }
                self.hold();
                self.exited = Some(child);
                Flow::Go(self.after_exit(exit))
            }
            Some(event) = next_line_event(&mut self.line_events) => {
                self.on_line_event(event);
                if self.draining == Draining::UntilJobEnds && !self.in_job() {
                    self.draining = Draining::No;
                    self.stop_child(child).await;
                    self.set_state(RunnerState::Paused);
                    return Flow::Go(Phase::Idle);
                }
                Flow::Go(Phase::Running(child))
            }
            cmd = self.rx.recv() => match cmd {
                Some(Command::Start(reply)) => {
                    let _ = reply.send(self.current_state());
                    Flow::Go(Phase::Running(child))
                }
                Some(Command::Pause(reply)) => {
                    if self.draining != Draining::No {
                        let _ = reply.send(self.current_state());
                        return Flow::Go(Phase::Running(child));
                    }
                    let job = self.current_job();
                    match kind::drain(self.plan.kind) {
                        Drain::UntilJobEnds if job.is_some() => {
                            self.draining = Draining::UntilJobEnds;
                        }
                        Drain::Signal(sig) => {
                            let _ = process::signal_pid(child.pid, sig);
                            self.draining = Draining::Signalled { resume: false };
                        }
                        Drain::UntilJobEnds | Drain::Stop => {
                            self.stop_child(child).await;
                            let _ = reply.send(self.set_state(RunnerState::Paused));
                            return Flow::Go(Phase::Idle);
                        }
                    }
                    let _ = reply.send(self.set_state(RunnerState::Pausing { pid: child.pid, job }));
                    Flow::Go(Phase::Running(child))
                }
                Some(Command::Resume(reply)) => {
                    match self.draining {
                        Draining::No => {}
                        Draining::UntilJobEnds => {
                            self.draining = Draining::No;
                            self.set_state(RunnerState::Running {
                                pid: child.pid,
                                pgid: child.pid,
                                since_ms: now_ms() - child.started.elapsed().as_millis() as i64,
                            });
                        }
                        Draining::Signalled { .. } => {
                            self.draining = Draining::Signalled { resume: true };
                        }
                    }
                    let _ = reply.send(self.current_state());
                    Flow::Go(Phase::Running(child))
                }
                Some(Command::Stop(reply)) => {
                    self.draining = Draining::No;
                    self.stop_child(child).await;
                    let _ = reply.send(self.set_state(RunnerState::Stopped));
                    Flow::Go(Phase::Idle)
                }
                Some(Command::Restart(reply)) => {
                    self.stop_child(child).await;
                    self.start_now(reply)
                }
                Some(Command::Shutdown(reply)) => {
                    self.shutting_down = true;
                    self.stop_child(child).await;
                    let _ = reply.send(self.set_state(RunnerState::Stopped));
                    Flow::End
                }
                None => {
                    self.shutting_down = true;
                    self.stop_child(child).await;
                    Flow::End
                }
            }
        }
    }

    async fn waiting(&mut self, until: Instant) -> Flow {
        tokio::select! {
            () = sleep_until(until) => Flow::Go(Phase::Spawn),
            cmd = self.rx.recv() => match cmd {
                Some(
                    Command::Start(reply) | Command::Restart(reply) | Command::Resume(reply),
                ) => self.start_now(reply),
                Some(Command::Pause(reply)) => {
                    let _ = reply.send(self.set_state(RunnerState::Paused));
                    Flow::Go(Phase::Idle)
                }
                Some(Command::Stop(reply)) => {
                    let _ = reply.send(self.set_state(RunnerState::Stopped));
                    Flow::Go(Phase::Idle)
                }
                Some(Command::Shutdown(reply)) => {
                    let _ = reply.send(self.set_state(RunnerState::Stopped));
                    Flow::End
                }
                None => Flow::End,
            }
        }
    }

    /// Records the exit and applies the restart policy.
    fn after_exit(&mut self, exit: ExitInfo) -> Phase {
        let restart = match self.plan.restart.policy {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => !exit.success(),
            RestartPolicy::Never => false,
        };
        let uptime = exit.uptime_ms;
        let at = exit.at_ms;
        let code = exit.code;
        self.record_end(exit);
        match kind::exit_verdict(self.plan.kind, code, &self.said) {
            kind::ExitVerdict::Policy => {}
            kind::ExitVerdict::NeedsRegistration { reason, advice } => {
                self.release();
                self.set_state(RunnerState::NeedsRegistration {
                    reason: reason.clone(),
                });
                self.escalate(
                    format!("{}: {reason}; it is not restarted", self.plan.name),
                    advice.replace("NAME", &self.plan.name),
                );
                return Phase::Idle;
            }
            kind::ExitVerdict::Stop { reason, advice } => {
                self.release();
                self.escalate(
                    format!("{}: {reason}; it is not restarted", self.plan.name),
                    advice.replace("NAME", &self.plan.name),
                );
                return Phase::Idle;
            }
        }
        if !restart {
            return Phase::Idle;
        }
        let unit: f64 = rand::RngExt::random(&mut self.rng);
        match self.backoff.on_exit(at, uptime, unit) {
            Next::Restart { delay_ms: 0, .. } => Phase::Spawn,
            Next::Restart { attempt, delay_ms } => {
                let until_ms = now_ms() + delay_ms as i64;
                self.set_state(RunnerState::Backoff {
                    attempt,
                    delay_ms,
                    until_ms,
                });
                Phase::Wait(Instant::now() + Duration::from_millis(delay_ms))
            }
            Next::CrashLoop {
                restarts,
                window_ms,
                cooldown_ms,
            } => {
                // The escalation below is published directly: the held states go first.
                self.release();
                let until_ms = now_ms() + cooldown_ms as i64;
                self.set_state(RunnerState::CrashLooping {
                    restarts,
                    window_ms,
                    until_ms,
                });
                self.escalate(
                    format!(
                        "{} restarted {restarts} times within {}s and keeps failing",
                        self.plan.name,
                        window_ms / 1000
                    ),
                    format!(
                        "run `qcity logs {}` to see why; QCity tries again in {}s",
                        self.plan.name,
                        cooldown_ms / 1000
                    ),
                );
                Phase::Wait(Instant::now() + Duration::from_millis(cooldown_ms))
            }
        }
    }

    /// The exit of the current process: its last exit, no activity, and the `exited` state.
    fn record_end(&mut self, exit: ExitInfo) {
        self.shared
            .status
            .record_exit(&self.plan.name, exit.clone());
        if self.line_events.is_some() {
            self.set_activity(None);
        }
        self.set_state(RunnerState::Exited { exit });
    }

    /// The kind's stop signal (SIGTERM to the whole group for most), SIGKILL to the group after
    /// the grace period; returns once the group leader is reaped and no process of the group
    /// is left.
    /// Ends what the runner started that left its process group (`sweep.rs`), unless the
    /// whole engine is stopping (it sweeps once for all runners).
    async fn end_escaped(&self, deadline: Instant) {
        if self.shutting_down {
            return;
        }
        let markers = [
            self.shared.instance_marker.clone(),
            marker::runner(&self.plan.name),
        ];
        crate::supervisor::sweep::end_marked(&self.shared.proc_root, &markers, deadline).await;
    }

    async fn stop_child(&mut self, mut child: Child) {
        let grace = self.plan.stop_grace;
        let deadline = Instant::now() + grace;
        let kill_at_ms = now_ms() + grace.as_millis() as i64;
        self.set_state(RunnerState::Stopping {
            pid: child.pid,
            kill_at_ms,
        });
        let pgid = child.pid;
        let stop = kind::stop_signal(self.plan.kind);
        if stop.group {
            let _ = process::signal_group(pgid, stop.signal);
        } else {
            let _ = process::signal_pid(child.pid, stop.signal);
        }
        let status = tokio::select! {
            st = child.exit.wait(child.pid) => st,
            () = sleep_until(deadline) => {
                let _ = process::signal_group(pgid, libc::SIGKILL);
                child.exit.wait(child.pid).await
            }
        };
        if !stop.group && process::group_alive(pgid) {
            // The agent is gone; what it left behind gets the usual request first.
            let _ = process::signal_group(pgid, libc::SIGTERM);
        }
        // Grandchildren that outlive the leader get the rest of the grace period.
        while process::group_alive(pgid) {
            if Instant::now() >= deadline {
                let _ = process::signal_group(pgid, libc::SIGKILL);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.end_escaped(deadline).await;
        self.shared
            .status
            .record_exit(&self.plan.name, exit_info(status, child.started));
    }

    fn set_state(&mut self, state: RunnerState) -> RunnerState {
        let judged = self.shared.status.set_state(&self.plan.name, state.clone());
        if self.holding {
            self.held.push((state.clone(), judged));
        } else {
            self.publish(state.clone(), judged);
        }
        state
    }

    /// From an exit until the replacement is spawned, state events and the clean-up of the
    /// old process (its pidfd, its group's leftovers) are held back: on a small machine that
    /// work would delay the new process. The status table is updated at once; the events
    /// keep their order. No command reply is sent while holding.
    fn hold(&mut self) {
        self.holding = true;
    }

    fn release(&mut self) {
        if let Some(old) = self.exited.take() {
            // Leftovers of a runner that died on its own are orphans nobody would stop.
            if process::group_alive(old.pid) {
                let _ = process::signal_group(old.pid, libc::SIGKILL);
            }
        }
        self.holding = false;
        for (state, judged) in std::mem::take(&mut self.held) {
            self.publish(state, judged);
        }
    }

    fn escalate(&self, reason: String, advice: String) {
        self.shared.bus.publish(EventKind::Escalation {
            runner: Some(self.plan.name.clone()),
            reason,
            advice,
        });
    }

    /// Follows what the runner's output said.
    fn on_line_event(&mut self, event: LineEvent) {
        self.said.note(&event);
        if let Some(activity) = event.activity() {
            self.set_activity(Some(activity));
        }
    }

    /// The job the runner is running, as its output says.
    fn current_job(&self) -> Option<String> {
        let status = self.shared.status.snapshot_of(&self.plan.name)?;
        match status.activity? {
            Activity::RunningJob { job } => Some(job),
            _ => None,
        }
    }

    fn in_job(&self) -> bool {
        self.current_job().is_some()
    }

    /// Records what the runner does; an event only when that changes.
    fn set_activity(&self, activity: Option<Activity>) {
        let changed = self
            .shared
            .status
            .set_activity(&self.plan.name, activity.clone());
        if let Some(activity) = activity.filter(|_| changed) {
            self.shared.bus.publish(EventKind::RunnerActivity {
                runner: self.plan.name.clone(),
                activity,
            });
        }
    }

    fn publish(&self, state: RunnerState, judged: Judged) {
        self.shared.bus.publish(EventKind::RunnerState {
            runner: self.plan.name.clone(),
            actions: state.actions(),
            state,
            health: judged.health,
            colour: judged.colour,
        });
    }

    fn current_state(&self) -> RunnerState {
        self.shared
            .status
            .state(&self.plan.name)
            .unwrap_or(RunnerState::Stopped)
    }
}

/// How long an exited runner's last output may take to arrive through its pipe.
const OUTPUT_DRAIN: Duration = Duration::from_millis(250);

/// The next event read from the output; never, for runners without any.
async fn next_line_event(rx: &mut Option<mpsc::Receiver<LineEvent>>) -> Option<LineEvent> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

fn exit_info(status: Option<ExitStatus>, started: Instant) -> ExitInfo {
    ExitInfo {
        code: status.and_then(|s| s.code),
        signal: status.and_then(|s| s.signal),
        uptime_ms: started.elapsed().as_millis() as u64,
        error: None,
        at_ms: now_ms(),
    }
}

/// Waiting for a child's exit: a pidfd in the reactor, or (kernels before 5.3) a blocking
/// `waitpid` on the blocking pool. Both are cancel-safe, so `select!` may drop the wait.
enum ExitWatch {
    Pidfd(AsyncFd<std::os::fd::OwnedFd>),
    Thread(tokio::task::JoinHandle<std::io::Result<ExitStatus>>),
    Done(Option<ExitStatus>),
}

impl ExitWatch {
    fn new(pid: u32, pidfd: Option<std::os::fd::OwnedFd>) -> Self {
        match pidfd.map(process::async_fd) {
            Some(Ok(fd)) => Self::Pidfd(fd),
            _ => Self::Thread(tokio::task::spawn_blocking(move || {
                process::reap_blocking(pid)
            })),
        }
    }

    /// The exit status; `None` if it could not be read.
    async fn wait(&mut self, pid: u32) -> Option<ExitStatus> {
        let status = match self {
            Self::Done(st) => return *st,
            Self::Pidfd(fd) => loop {
                let Ok(mut guard) = fd.readable().await else {
                    break process::reap_blocking(pid).ok();
                };
                match process::try_reap(pid) {
                    Ok(Some(st)) => break Some(st),
                    Ok(None) => guard.clear_ready(),
                    Err(_) => break None,
                }
            },
            Self::Thread(handle) => handle.await.ok().and_then(|r| r.ok()),
        };
        *self = Self::Done(status);
        status
    }
}
