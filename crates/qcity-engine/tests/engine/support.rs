use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use qcity_config::{Config, RestartSpec, RunnerSpec};
use qcity_engine::bus::EventReceiver;
use qcity_engine::{Engine, EngineOptions, Event, EventKind, RunnerState};

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
        command: vec!["sh".into(), "-c".into(), script.into()],
        working_dir: None,
        env: Default::default(),
        autostart: true,
        restart: RestartSpec::default(),
        stop_grace_ms: Some(2_000),
        probes: Vec::new(),
    }
}

pub fn config(dir: &Path, runners: Vec<RunnerSpec>) -> Config {
    let mut c = Config {
        dir: dir.to_path_buf(),
        ..Config::default()
    };
    c.manifest.runners = runners;
    c
}

impl Harness {
    pub async fn start(runners: Vec<RunnerSpec>) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let conf_dir = dir.path().join("config");
        std::fs::create_dir_all(&conf_dir).unwrap();
        let cfg = config(&conf_dir, runners);
        write_manifest(&conf_dir, &cfg);
        Self::start_with(dir, cfg).await
    }

    pub async fn start_with(dir: tempfile::TempDir, cfg: Config) -> Harness {
        let engine = Engine::start(EngineOptions::new(cfg, dir.path().join("data")))
            .await
            .unwrap();
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
                EventKind::RunnerState { runner: r, state } if r == runner => {
                    Some((e.ts_ms, state.clone()))
                }
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
                matches!(&e.kind, EventKind::RunnerState { runner, state: RunnerState::Running { .. } } if *runner == r)
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
