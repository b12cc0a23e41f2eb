//! The `github` runner kind, driven by `tests/fixtures/fake-github-runner.sh`: a stand-in that prints exactly
//! the listener's lines and exits with exactly its codes (the real runner cannot be downloaded
//! here; the strings and codes come from ../shared/facts/runners.md).

use qcity_config::{RunnerKind, RunnerSpec};
use qcity_types::Activity;
use qcity_types::{ControlAction, EventKind, RunnerState};

use qcity_testkit::{
    Harness, activities, fixture, is_state, kind_runner, not_restarted, pause_mid_job, runner,
    wait_escalation,
};

fn github(name: &str, scenario: &str) -> RunnerSpec {
    let script = fixture("fake-github-runner.sh");
    kind_runner(name, RunnerKind::Github, &["sh", &script, scenario])
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
    let (esc_id, reason, advice) = wait_escalation(&mut h, "gh").await;
    assert!(esc_id > needs.id);
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
    let (_, reason, _) = wait_escalation(&mut h, "conflict").await;
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
    pause_mid_job(&mut h, "busy", "deploy").await;
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
    assert!(!qcity_testkit::alive(pid));
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
