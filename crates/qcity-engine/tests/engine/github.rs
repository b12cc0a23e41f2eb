//! The `github` runner kind, driven by `tests/fixtures/fake-github-runner.sh`: a stand-in that prints exactly
//! the listener's lines and exits with exactly its codes (the real runner cannot be downloaded
//! here; the strings and codes come from ../shared/facts/runners.md).

use qcity_config::{RestartSpec, RunnerKind, RunnerSpec};
use qcity_engine::github::Activity;
use qcity_engine::{ControlAction, Event, EventKind, RunnerState};

use crate::support::{Harness, runner};

fn github(name: &str, scenario: &str) -> RunnerSpec {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/fake-github-runner.sh"
    );
    let mut r = runner(name, "");
    r.kind = RunnerKind::Github;
    r.command = vec!["sh".into(), script.into(), scenario.into()];
    r.restart = RestartSpec {
        delay_ms: 50,
        max_delay_ms: 50,
        jitter_percent: 0,
        crash_loop: None,
        ..RestartSpec::default()
    };
    r
}

fn is_state(e: &Event, runner: &str, name: &str) -> bool {
    matches!(&e.kind, EventKind::RunnerState { runner: r, state } if r == runner && state.name() == name)
}

fn activities(h: &Harness, runner: &str) -> Vec<Activity> {
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
async fn not_restarted(h: &mut Harness, runner: &str, after: u64, ms: u64) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_then_a_deleted_registration_ends_in_needs_registration_without_a_loop() {
    let mut h = Harness::start(vec![github("gh", "job-then-deleted")]).await;
    let needs = h
        .wait_event("needs-registration", |e| {
            is_state(e, "gh", "needs-registration")
        })
        .await;
    assert_eq!(
        activities(&h, "gh"),
        vec![
            Activity::Connecting,
            Activity::Listening,
            Activity::RunningJob {
                job: "build (ubuntu-latest)".into()
            },
            Activity::JobCompleted {
                job: "build (ubuntu-latest)".into(),
                result: "Succeeded".into()
            },
            Activity::Listening,
        ]
    );
    let esc = h
        .wait_event("escalation", |e| {
            matches!(e.kind, EventKind::Escalation { .. })
        })
        .await;
    let EventKind::Escalation { reason, advice, .. } = &esc.kind else {
        unreachable!()
    };
    assert!(esc.id > needs.id);
    assert!(reason.contains("registration was deleted"), "{reason}");
    assert!(
        advice.contains("config.sh") && advice.contains("qcity start gh"),
        "{advice}"
    );
    not_restarted(&mut h, "gh", needs.id, 600).await;
    let st = h
        .engine
        .status()
        .into_iter()
        .find(|s| s.name == "gh")
        .unwrap();
    assert_eq!(st.state.name(), "needs-registration");
    assert_eq!(st.activity, None);
    assert_eq!(st.last_exit.unwrap().code, Some(0));

    // Registered again by hand: a manual start runs it.
    let state = h
        .engine
        .control("test", ControlAction::Start, "gh")
        .await
        .unwrap();
    assert!(matches!(state, RunnerState::Running { .. }), "{state:?}");
    h.engine.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_decide_restart_stop_or_registration() {
    let mut h = Harness::start(vec![
        github("retry", "retryable"),
        github("conflict", "session-conflict"),
        github("deleted", "deleted-at-session"),
    ])
    .await;
    // 2: retryable, restarted by the policy.
    let first = h
        .wait_event("retry exits", |e| is_state(e, "retry", "exited"))
        .await;
    let first_id = first.id;
    h.wait_event("retry restarted", move |e| {
        e.id > first_id && is_state(e, "retry", "running")
    })
    .await;

    // 5: session conflict; not restarted, escalated with what to do.
    let exited = h
        .wait_event("conflict exits", |e| is_state(e, "conflict", "exited"))
        .await;
    let esc = h
        .wait_event(
            "conflict escalation",
            |e| matches!(&e.kind, EventKind::Escalation { runner: Some(r), .. } if r == "conflict"),
        )
        .await;
    let EventKind::Escalation { reason, .. } = &esc.kind else {
        unreachable!()
    };
    assert!(reason.contains("code 5"), "{reason}");

    // 1 after the deleted-registration line: needs registration, not "terminated error".
    let needs = h
        .wait_event("deleted needs registration", |e| {
            is_state(e, "deleted", "needs-registration")
        })
        .await;
    not_restarted(&mut h, "conflict", exited.id, 500).await;
    not_restarted(&mut h, "deleted", needs.id, 0).await;
    h.engine.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_connection_is_offline_until_reconnected() {
    let mut h = Harness::start(vec![github("net", "offline")]).await;
    let offline = h
        .wait_event("offline", |e| {
            matches!(&e.kind, EventKind::RunnerActivity { activity: Activity::Offline { reason }, .. } if reason == "The HTTP request timed out")
        })
        .await;
    let offline_id = offline.id;
    h.wait_event("reconnected", move |e| {
        e.id > offline_id
            && matches!(
                &e.kind,
                EventKind::RunnerActivity {
                    activity: Activity::Listening,
                    ..
                }
            )
    })
    .await;
    let st = h
        .engine
        .status()
        .into_iter()
        .find(|s| s.name == "net")
        .unwrap();
    assert_eq!(st.activity, Some(Activity::Listening));
    h.engine.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_during_a_job_waits_for_the_job_to_end() {
    let mut h = Harness::start(vec![github("busy", "long-job")]).await;
    h.wait_event("the job", |e| {
        matches!(
            &e.kind,
            EventKind::RunnerActivity {
                activity: Activity::RunningJob { .. },
                ..
            }
        )
    })
    .await;
    let pid = h.wait_running("busy").await;
    let state = h
        .engine
        .control("test", ControlAction::Pause, "busy")
        .await
        .unwrap();
    assert_eq!(
        state,
        RunnerState::Pausing {
            pid,
            job: "deploy".into()
        }
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(crate::support::alive(pid), "the job is not cut short");
    let paused = h
        .wait_event("paused", |e| is_state(e, "busy", "paused"))
        .await;
    let done = h
        .seen
        .iter()
        .find(|e| {
            matches!(
                &e.kind,
                EventKind::RunnerActivity {
                    activity: Activity::JobCompleted { .. },
                    ..
                }
            )
        })
        .expect("the job's completion was seen")
        .clone();
    assert!(paused.id > done.id, "paused only after the job completed");
    crate::support::eventually("the listener is gone", || !crate::support::alive(pid)).await;
    not_restarted(&mut h, "busy", paused.id, 500).await;

    let state = h
        .engine
        .control("test", ControlAction::Resume, "busy")
        .await
        .unwrap();
    assert!(matches!(state, RunnerState::Running { .. }), "{state:?}");
    h.engine.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_runner_pauses_at_once_and_stays_down() {
    let mut h = Harness::start(vec![runner("plain", "exec sleep 300")]).await;
    let pid = h.wait_running("plain").await;
    let state = h
        .engine
        .control("test", ControlAction::Pause, "plain")
        .await
        .unwrap();
    assert_eq!(state, RunnerState::Paused);
    assert!(!crate::support::alive(pid));
    let paused = h
        .wait_event("paused", |e| is_state(e, "plain", "paused"))
        .await;
    not_restarted(&mut h, "plain", paused.id, 300).await;
    let state = h
        .engine
        .control("test", ControlAction::Resume, "plain")
        .await
        .unwrap();
    assert!(matches!(state, RunnerState::Running { .. }), "{state:?}");
    h.engine.shutdown("test").await;
}
