use qcity_config::{CrashLoopSpec, RestartPolicy, RestartSpec};
use qcity_types::{EventKind, RunnerState};

use qcity_testkit::*;

fn no_jitter(delay_ms: u64) -> RestartSpec {
    RestartSpec {
        delay_ms,
        max_delay_ms: 60_000,
        factor: 2.0,
        jitter_percent: 0,
        crash_loop: None,
        ..RestartSpec::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_after_crashes_with_growing_delays() {
    let mut r = runner("crasher", "echo up; exit 3");
    r.restart = no_jitter(100);
    let mut h = Harness::start(vec![r]).await;
    h.wait_event("fifth backoff", |e| {
        matches!(
            &e.kind,
            EventKind::RunnerState {
                state: RunnerState::Backoff { attempt: 5, .. },
                ..
            }
        )
    })
    .await;
    h.engine
        .control("test", qcity_types::ControlAction::Stop, "crasher")
        .await
        .unwrap();

    let states = h.states("crasher");
    let planned: Vec<u64> = states
        .iter()
        .filter_map(|(_, s)| match s {
            RunnerState::Backoff { delay_ms, .. } => Some(*delay_ms),
            _ => None,
        })
        .collect();
    assert_eq!(&planned[..5], &[100, 200, 400, 800, 1600]);
    // Measured: from each exit to the next start.
    let mut gaps = Vec::new();
    let mut exited_at = None;
    for (ts, s) in &states {
        match s {
            RunnerState::Exited { exit } => {
                assert_eq!(exit.code, Some(3));
                exited_at = Some(*ts);
            }
            RunnerState::Running { since_ms, .. } => {
                if let Some(t) = exited_at.take() {
                    gaps.push((since_ms - t) as f64);
                }
            }
            _ => {}
        }
    }
    assert!(gaps.len() >= 4, "{gaps:?}");
    for w in gaps.windows(2).take(3) {
        let ratio = w[1] / w[0];
        assert!(
            (1.4..=3.0).contains(&ratio),
            "delays {gaps:?} do not double"
        );
    }
    let status = h.engine.status();
    assert_eq!(status[0].restarts, 4, "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_loop_escalates_then_retries_after_cooldown() {
    let mut r = runner("looper", "exit 1");
    r.restart = RestartSpec {
        crash_loop: Some(CrashLoopSpec {
            max_restarts: 3,
            window_ms: 10_000,
            cooldown_ms: 800,
        }),
        ..no_jitter(10)
    };
    let mut h = Harness::start(vec![r]).await;
    let looping = h
        .wait_event("crash-looping", |e| {
            matches!(
                &e.kind,
                EventKind::RunnerState {
                    state: RunnerState::CrashLooping { .. },
                    ..
                }
            )
        })
        .await;
    let esc = h
        .wait_event("escalation", |e| {
            matches!(&e.kind, EventKind::Escalation { .. })
        })
        .await;
    let EventKind::Escalation {
        runner,
        reason,
        advice,
    } = &esc.kind
    else {
        unreachable!()
    };
    assert_eq!(runner.as_deref(), Some("looper"));
    assert!(
        esc.id > looping.id,
        "the escalation follows the state it explains"
    );
    assert!(reason.contains("3 times"), "{reason}");
    assert!(advice.contains("qcity logs looper"), "{advice}");
    // Not terminal: after the cool-down it starts again.
    let id = looping.id;
    let again = h
        .wait_event("a start after the cool-down", move |e| {
            e.id > id
                && matches!(
                    &e.kind,
                    EventKind::RunnerState {
                        state: RunnerState::Running { .. },
                        ..
                    }
                )
        })
        .await;
    assert!(again.ts_ms - looping.ts_ms >= 700, "retried too early");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_failure_policy_leaves_a_clean_exit_alone() {
    let mut ok = runner("clean", "exit 0");
    ok.restart = RestartSpec {
        policy: RestartPolicy::OnFailure,
        ..no_jitter(10)
    };
    let mut never = runner("once", "exit 4");
    never.restart = RestartSpec {
        policy: RestartPolicy::Never,
        ..no_jitter(10)
    };
    let mut h = Harness::start(vec![ok, never]).await;
    for name in ["clean", "once"] {
        let n = name.to_string();
        h.wait_event("exit", move |e| {
            matches!(&e.kind, EventKind::RunnerState { runner, state: RunnerState::Exited { .. }, .. } if *runner == n)
        })
        .await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for s in h.engine.status() {
        assert!(matches!(s.state, RunnerState::Exited { .. }), "{s:?}");
        assert_eq!(s.restarts, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_program_is_a_last_exit_and_the_engine_goes_on() {
    let mut missing = runner("ghost", "");
    missing.command = vec!["qcity-no-such-program".into()];
    missing.restart = RestartSpec {
        policy: RestartPolicy::Never,
        ..no_jitter(10)
    };
    let fine = runner("fine", "exec sleep 100");
    let mut h = Harness::start(vec![missing, fine]).await;
    h.wait_running("fine").await;
    h.wait_event("spawn failure", |e| {
        matches!(&e.kind, EventKind::RunnerState { state: RunnerState::Exited { exit }, .. } if exit.error.is_some())
    })
    .await;
    let ghost = h
        .engine
        .status()
        .into_iter()
        .find(|s| s.name == "ghost")
        .unwrap();
    let exit = ghost.last_exit.unwrap();
    assert_eq!(
        exit.describe(),
        "spawn failed: `qcity-no-such-program` not found in PATH"
    );
    h.engine.shutdown("test").await;
}
