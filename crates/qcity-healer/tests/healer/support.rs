//! The engine harness (`qcity-testkit`) with the healer started beside the engine, as the
//! daemon starts it.

use std::sync::Arc;
use std::time::Duration;

use qcity_config::{Config, HealSpec, RestartSpec, RunnerSpec};
use qcity_healer::Healer;
use qcity_testkit::*;
use qcity_types::{EventKind, HealStep, RunnerState};

/// A [`Harness`] whose engine has a healer.
pub struct Healing {
    pub harness: Harness,
    pub healer: Arc<Healer>,
}

impl Healing {
    pub async fn start(runners: Vec<RunnerSpec>) -> Healing {
        let (dir, cfg) = temp_config(runners);
        Self::start_with(dir, cfg).await
    }

    pub async fn start_with(dir: tempfile::TempDir, cfg: Config) -> Healing {
        let mut healer = None;
        let harness = Harness::start_then(dir, cfg, |engine| {
            healer = Some(qcity_healer::start(engine.clone()));
        })
        .await;
        Healing {
            harness,
            healer: healer.unwrap(),
        }
    }
}

impl std::ops::Deref for Healing {
    type Target = Harness;

    fn deref(&self) -> &Harness {
        &self.harness
    }
}

impl std::ops::DerefMut for Healing {
    fn deref_mut(&mut self) -> &mut Harness {
        &mut self.harness
    }
}

/// A runner restarted quickly, with `heal` settings validated over `validate_ms`.
pub fn healing(name: &str, script: &str, heal: HealSpec) -> RunnerSpec {
    let mut r = runner(name, script);
    r.restart = RestartSpec {
        delay_ms: 200,
        max_delay_ms: 200,
        jitter_percent: 0,
        crash_loop: None,
        ..RestartSpec::default()
    };
    r.heal = HealSpec {
        validate_ms: 1_500,
        ..heal
    };
    r
}

/// The heal steps seen for `runner`: (step, rule, detail).
pub fn steps(h: &Harness, runner: &str) -> Vec<(HealStep, String, String)> {
    h.seen
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Heal {
                runner: r,
                step,
                rule,
                detail,
                ..
            } if r == runner => Some((*step, rule.clone(), detail.clone())),
            _ => None,
        })
        .collect()
}

pub async fn wait_step(h: &mut Harness, runner: &str, step: HealStep, nth: usize) {
    let r = runner.to_string();
    let what = format!("heal step {step:?} #{nth}");
    loop {
        let seen = steps(h, runner).iter().filter(|s| s.0 == step).count();
        if seen > nth {
            return;
        }
        let already = h.seen.len();
        h.wait_event(&what, |e| {
            matches!(&e.kind, EventKind::Heal { runner, step: s, .. } if *runner == r && *s == step)
                && e.id > 0
        })
        .await;
        if h.seen.len() == already {
            // The match was an older event: wait for a newer one.
            let last = h.seen.last().map_or(0, |e| e.id);
            h.wait_event(&what, move |e| e.id > last).await;
        }
    }
}

pub fn outcomes(h: &Harness, signature: &str) -> Vec<(String, u64, u64)> {
    let store = qcity_store::Store::open(&h.engine.data_dir().db()).unwrap();
    store
        .rule_stats(signature)
        .unwrap()
        .into_iter()
        .map(|s| (s.rule, s.attempts, s.successes))
        .collect()
}

pub fn signature_of(h: &Harness, runner: &str) -> String {
    h.seen
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Heal {
                runner: r,
                signature,
                ..
            } if r == runner => Some(signature.clone()),
            _ => None,
        })
        .unwrap()
}

/// The heal events for `runner` with their times: (ts_ms, step, rule, detail).
pub fn timed_steps(h: &Harness, runner: &str) -> Vec<(i64, HealStep, String, String)> {
    h.seen
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Heal {
                runner: r,
                step,
                rule,
                detail,
                ..
            } if r == runner => Some((e.ts_ms, *step, rule.clone(), detail.clone())),
            _ => None,
        })
        .collect()
}

/// The environment of `pid` once it has exec'd: a process caught in the middle of its exec
/// shows an empty one, so this waits (up to 5 s) for the variable every runner gets.
pub async fn environ(pid: u32) -> Vec<String> {
    let read = || -> Vec<String> {
        std::fs::read(format!("/proc/{pid}/environ"))
            .unwrap_or_default()
            .split(|b| *b == 0)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect()
    };
    for _ in 0..250 {
        let env = read();
        if env.iter().any(|v| v.starts_with("QCITY_RUNNER=")) {
            return env;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no environment for pid {pid}: {:?}", read());
}

/// Waits for a run of `runner` started from event `after` on; its pid.
pub async fn wait_new_run(h: &mut Harness, runner: &str, after: u64) -> u32 {
    let r = runner.to_string();
    let ev = h
        .wait_event("a new run", move |e| {
            e.id >= after
                && matches!(&e.kind, EventKind::RunnerState { runner, state: RunnerState::Running { .. }, .. }
                    if *runner == r)
        })
        .await;
    match &ev.kind {
        EventKind::RunnerState {
            state: RunnerState::Running { pid, .. },
            ..
        } => *pid,
        _ => unreachable!(),
    }
}

pub async fn audit_heal_rows(h: &Harness, runner: &str) -> Vec<qcity_types::AuditEntry> {
    let published = h.engine.bus().next_id() - 1;
    h.engine.wait_durable(published).await;
    h.engine
        .audit_tail(2000)
        .unwrap()
        .into_iter()
        .filter(|r| r.action == "heal" && r.target == runner)
        .collect()
}
