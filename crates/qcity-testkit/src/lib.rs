//! The shared test harness (dev only): a real engine in a temp dir with a subscription that
//! saw every event, runner specs and configs, the waits tests need (an event, a state, a
//! probe, an escalation), a free loopback port and a full filesystem (`mount`). The engine's
//! and the healer's integration tests run on it.

mod mount;
pub use mount::{Unmount, fill, tmpfs};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use qcity_config::{Config, ProbeSpec, RestartSpec, RunnerKind, RunnerSpec};
use qcity_engine::bus::EventReceiver;
use qcity_engine::{Engine, EngineOptions};
use qcity_types::Activity;
use qcity_types::ProbeState;
use qcity_types::{Event, EventKind, RunnerState};

/// A started engine in a temp dir, with a subscription that saw every event.
pub struct Harness {
    pub dir: tempfile::TempDir,
    pub engine: Arc<Engine>,
    pub events: EventReceiver,
    pub seen: Vec<Arc<Event>>,
}

pub fn runner(name: &str, script: &str) -> RunnerSpec {
    RunnerSpec {
        name: name.to_string(),
        kind: Default::default(),
        platform: None,
        command: vec!["sh".into(), "-c".into(), script.into()],
        working_dir: None,
        env: Default::default(),
        autostart: true,
        restart: RestartSpec::default(),
        stop_grace_ms: Some(2_000),
        probes: Vec::new(),
        job_started_hook: false,
        heal: Default::default(),
    }
}

/// A path under `tests/fixtures`.
pub fn fixture(name: &str) -> String {
    format!("{}/../../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A runner of `kind` running `command`, restarted after 50 ms without crash-loop detection.
pub fn kind_runner(name: &str, kind: RunnerKind, command: &[&str]) -> RunnerSpec {
    let mut r = runner(name, "");
    r.kind = kind;
    r.command = command.iter().map(|s| s.to_string()).collect();
    r.restart = RestartSpec {
        delay_ms: 50,
        max_delay_ms: 50,
        jitter_percent: 0,
        crash_loop: None,
        ..RestartSpec::default()
    };
    r
}

pub fn config(dir: &Path, runners: Vec<RunnerSpec>) -> Config {
    let mut c = Config {
        dir: dir.to_path_buf(),
        ..Config::default()
    };
    c.manifest.runners = runners;
    c
}

/// A temp dir holding a `config/` with `runners` written as its manifest, and that config.
pub fn temp_config(runners: Vec<RunnerSpec>) -> (tempfile::TempDir, Config) {
    let dir = tempfile::tempdir().unwrap();
    let conf_dir = dir.path().join("config");
    std::fs::create_dir_all(&conf_dir).unwrap();
    let cfg = config(&conf_dir, runners);
    write_manifest(&conf_dir, &cfg);
    (dir, cfg)
}

impl Harness {
    pub async fn start(runners: Vec<RunnerSpec>) -> Harness {
        let (dir, cfg) = temp_config(runners);
        Self::start_with(dir, cfg).await
    }

    pub async fn start_with(dir: tempfile::TempDir, cfg: Config) -> Harness {
        Self::start_then(dir, cfg, |_| {}).await
    }

    /// As [`Harness::start_with`], calling `then` with the engine as soon as it has started,
    /// as the daemon starts what runs beside it (the healer).
    pub async fn start_then(
        dir: tempfile::TempDir,
        cfg: Config,
        then: impl FnOnce(&Arc<Engine>),
    ) -> Harness {
        let engine = Engine::start(EngineOptions::new(cfg, dir.path().join("data")))
            .await
            .unwrap();
        then(&engine);
        // Events from before the subscription are read back from the store.
        let events = engine.bus().subscribe("test", 1 << 16);
        let mut h = Harness {
            dir,
            engine,
            events,
            seen: Vec::new(),
        };
        // Events published before the subscription are read back from the store once the
        // writers have committed them (they group-commit).
        let published = h.engine.bus().next_id() - 1;
        h.engine.wait_durable(published).await;
        let early = h.engine.events_after(0, 10_000).unwrap_or_default();
        h.seen.extend(early.into_iter().map(Arc::new));
        h
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Waits until `pred` holds for some event seen so far (including earlier ones).
    pub async fn wait_event(&mut self, what: &str, pred: impl Fn(&Event) -> bool) -> Arc<Event> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(e) = self.seen.iter().find(|e| pred(e)) {
                return e.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.events.recv()).await {
                Ok(Some(e)) => {
                    if !self.seen.iter().any(|s| s.id == e.id) {
                        self.seen.push(e);
                    }
                }
                _ => panic!("timed out waiting for {what}; saw {:#?}", self.seen),
            }
        }
    }

    /// States of `runner` seen so far, in order.
    pub fn states(&self, runner: &str) -> Vec<(i64, RunnerState)> {
        self.seen
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::RunnerState {
                    runner: r, state, ..
                } if r == runner => Some((e.ts_ms, state.clone())),
                _ => None,
            })
            .collect()
    }

    pub async fn wait_running(&mut self, runner: &str) -> u32 {
        loop {
            let st = self.engine.status().into_iter().find(|s| s.name == runner);
            if let Some(pid) = st.and_then(|s| s.pid) {
                return pid;
            }
            let r = runner.to_string();
            self.wait_event("a running state", move |e| {
                matches!(&e.kind, EventKind::RunnerState { runner, state: RunnerState::Running { .. }, .. } if *runner == r)
            })
            .await;
        }
    }
}

pub fn write_manifest(conf_dir: &Path, cfg: &Config) {
    let json = serde_json::to_string_pretty(&cfg.manifest).unwrap();
    std::fs::write(conf_dir.join("runner_manifest.json"), json).unwrap();
}

/// Whether `pid` is a live (non-zombie) process.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let state = s
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next());
            state != Some("Z")
        }
        Err(_) => false,
    }
}

/// Polls `cond` until it holds or 10 s pass.
pub async fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn is_state(e: &Event, runner: &str, name: &str) -> bool {
    matches!(&e.kind, EventKind::RunnerState { runner: r, state, .. } if r == runner && state.name() == name)
}

pub fn activities(h: &Harness, runner: &str) -> Vec<Activity> {
    h.seen
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::RunnerActivity {
                runner: r,
                activity,
            } if r == runner => Some(activity.clone()),
            _ => None,
        })
        .collect()
}

/// Asserts that no start of `runner` follows event `after` within `ms`.
pub async fn not_restarted(h: &mut Harness, runner: &str, after: u64, ms: u64) {
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    while let Ok(e) = h.events.try_recv() {
        h.seen.push(e);
    }
    let starts: Vec<_> = h
        .seen
        .iter()
        .filter(|e| e.id > after && is_state(e, runner, "starting"))
        .collect();
    assert!(starts.is_empty(), "{runner} was restarted: {starts:?}");
}

pub fn probe(json: serde_json::Value) -> ProbeSpec {
    let mut v = serde_json::json!({
        "interval_ms": 100, "timeout_ms": 1000, "failure_threshold": 2, "start_grace_ms": 0
    });
    v.as_object_mut()
        .unwrap()
        .extend(json.as_object().unwrap().clone());
    serde_json::from_value(v).unwrap()
}

/// Waits for `name` to change to `state` after event `after`: (event id, detail).
pub async fn wait_probe(
    h: &mut Harness,
    name: &str,
    state: ProbeState,
    after: u64,
) -> (u64, String) {
    let name = name.to_string();
    let ev = h
        .wait_event(&format!("{name} {state:?}"), move |e| {
            e.id > after
                && matches!(&e.kind, EventKind::ProbeChanged { probe, state: s, .. } if *probe == name && *s == state)
        })
        .await;
    let EventKind::ProbeChanged { detail, .. } = &ev.kind else {
        unreachable!()
    };
    (ev.id, detail.clone())
}

/// Pauses `runner` in the middle of `job` and checks the drain: `pausing` with the job, the
/// process alive while the job runs, `paused` only after the job's completion, no restart,
/// and a resume that runs it again. Returns the pid that was drained.
pub async fn pause_mid_job(h: &mut Harness, runner: &str, job: &str) -> u32 {
    let r = runner.to_string();
    h.wait_event("the job", move |e| {
        matches!(&e.kind, EventKind::RunnerActivity { runner, activity: Activity::RunningJob { .. } } if *runner == r)
    })
    .await;
    let pid = h.wait_running(runner).await;
    let state = h
        .engine
        .control("test", qcity_types::ControlAction::Pause, runner)
        .await
        .unwrap();
    assert_eq!(
        state,
        RunnerState::Pausing {
            pid,
            job: Some(job.into())
        }
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(alive(pid), "the job is not cut short");
    let paused = h
        .wait_event("paused", |e| is_state(e, runner, "paused"))
        .await;
    let done = h
        .seen
        .iter()
        .rfind(|e| {
            matches!(&e.kind, EventKind::RunnerActivity { runner: r, activity: Activity::JobCompleted { .. } } if r == runner)
        })
        .expect("the job's completion was seen")
        .id;
    assert!(paused.id > done, "paused only after the job completed");
    eventually("the drained process is gone", || !alive(pid)).await;
    not_restarted(h, runner, paused.id, 400).await;
    let state = h
        .engine
        .control("test", qcity_types::ControlAction::Resume, runner)
        .await
        .unwrap();
    assert!(matches!(state, RunnerState::Running { .. }), "{state:?}");
    pid
}

/// Waits for an escalation about `runner`: (event id, reason, advice).
pub async fn wait_escalation(h: &mut Harness, runner: &str) -> (u64, String, String) {
    let r = runner.to_string();
    let esc = h
        .wait_event(
            &format!("an escalation about {runner}"),
            move |e| matches!(&e.kind, EventKind::Escalation { runner: Some(x), .. } if *x == r),
        )
        .await;
    let EventKind::Escalation { reason, advice, .. } = &esc.kind else {
        unreachable!()
    };
    (esc.id, reason.clone(), advice.clone())
}

/// A loopback port nothing listens on (just now).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A shell line that starts a grandchild (`sleep 300`), appends its pid to `file`, and then
/// does `then`.
pub fn forks_a_grandchild(file: &Path, then: &str) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        format!("sleep 300 & echo $! >> '{}'; {then}", file.display()),
    ]
}

/// The pids [`forks_a_grandchild`] wrote to `file`.
pub fn pids(file: &Path) -> Vec<u32> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}
