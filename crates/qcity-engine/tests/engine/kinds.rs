//! The `gitlab` and `buildkite` runner kinds and the `runner` and `disk` probes, driven by
//! stand-ins for the real agents (which cannot be downloaded here):
//! `tests/fixtures/fake-gitlab-runner.sh` prints GitLab Runner's log lines and follows its
//! signals, `tests/fixtures/fake-buildkite-agent.py` follows the Buildkite agent's signals and
//! serves its health-check `/`; both as ../shared/facts/runners.md gives them.

use qcity_config::{RunnerKind, RunnerSpec};
use qcity_types::Activity;
use qcity_types::ProbeState;
use qcity_types::{ControlAction, EventKind, RunnerState};

use qcity_testkit::{
    Harness, activities, eventually, fixture, free_port, is_state, kind_runner, not_restarted,
    pause_mid_job, probe, runner, wait_escalation, wait_probe,
};

fn gitlab(name: &str, scenario: &str) -> RunnerSpec {
    let script = fixture("fake-gitlab-runner.sh");
    kind_runner(name, RunnerKind::Gitlab, &["sh", &script, scenario, "run"])
}

fn buildkite(name: &str, scenario: &str, args: &[&str]) -> RunnerSpec {
    let script = fixture("fake-buildkite-agent.py");
    let mut argv = vec!["python3", &script, scenario, "start"];
    argv.extend_from_slice(args);
    kind_runner(name, RunnerKind::Buildkite, &argv)
}

fn log_of(h: &Harness, runner: &str) -> String {
    std::fs::read_to_string(h.path(&format!("data/logs/{runner}.log"))).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gitlab_runner_is_followed_and_pausing_lets_its_job_finish() {
    // The engine may have been started with SIGQUIT ignored (a shell's background job does
    // that); the runner must not inherit it, or its drain signal would be lost.
    // SAFETY: setting a disposition to SIG_IGN; this test process never relies on SIGQUIT.
    unsafe { libc::signal(libc::SIGQUIT, libc::SIG_IGN) };
    let mut h = Harness::start(vec![gitlab("gl", "job")]).await;
    pause_mid_job(&mut h, "gl", "42").await;
    assert_eq!(
        activities(&h, "gl")[..4],
        [
            Activity::Connecting,
            Activity::Listening,
            Activity::RunningJob { job: "42".into() },
            Activity::JobCompleted {
                job: "42".into(),
                result: "succeeded".into()
            },
        ]
    );
    let paused_exit = h
        .seen
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::RunnerState {
                state: RunnerState::Exited { exit },
                ..
            } => Some(exit.code),
            _ => None,
        })
        .next();
    assert_eq!(
        paused_exit,
        Some(Some(0)),
        "SIGQUIT: it exited by itself, not killed"
    );
    h.engine.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gitlab_runner_that_cannot_reach_gitlab_fails_its_runner_probe() {
    let mut r = gitlab("gl", "offline");
    r.probes = vec![probe(serde_json::json!({"name": "agent", "runner": {}}))];
    let mut h = Harness::start(vec![r]).await;
    let (_, detail) = wait_probe(&mut h, "agent", ProbeState::Failing, 0).await;
    assert_eq!(detail, "offline: checking for jobs failed");
    h.engine.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buildkite_agent_is_asked_through_its_health_check_server() {
    let port = free_port();
    let addr = format!("--health-check-addr=127.0.0.1:{port}");
    let mut up = buildkite("bk", "idle", &[&addr]);
    up.probes = vec![probe(serde_json::json!({"name": "agent", "runner": {}}))];
    // The flag is there but the agent never serves it: the probe says so.
    let mut mute = buildkite(
        "mute",
        "no-health-server",
        &["--health-check-addr", &format!("127.0.0.1:{}", free_port())],
    );
    mute.probes = vec![probe(
        serde_json::json!({"name": "mute-agent", "runner": {}}),
    )];
    let mut h = Harness::start(vec![up, mute]).await;
    let (_, detail) = wait_probe(&mut h, "agent", ProbeState::Passing, 0).await;
    assert_eq!(
        detail,
        format!("health-check server 127.0.0.1:{port}: OK: Buildkite agent is running")
    );
    let (_, detail) = wait_probe(&mut h, "mute-agent", ProbeState::Failing, 0).await;
    assert!(
        detail.starts_with("health-check server 127.0.0.1:"),
        "{detail}"
    );
    h.engine.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buildkite_agent_drains_on_pause_and_cancels_on_stop() {
    let mut h = Harness::start(vec![
        buildkite("bk", "job", &[]),
        buildkite("bk2", "job", &[]),
    ])
    .await;
    let pid = h.wait_running("bk").await;
    h.wait_running("bk2").await;
    eventually("the jobs started", || {
        log_of(&h, "bk").contains("job 0190-demo started")
            && log_of(&h, "bk2").contains("job 0190-demo started")
    })
    .await;

    let state = h
        .engine
        .control("test", ControlAction::Stop, "bk2")
        .await
        .unwrap();
    assert_eq!(state, RunnerState::Stopped);
    let log = log_of(&h, "bk2");
    assert!(log.contains("SIGQUIT, job cancelled"), "{log}");
    assert!(!log.contains("job 0190-demo finished"), "{log}");
    let state = h
        .engine
        .control("test", ControlAction::Pause, "bk")
        .await
        .unwrap();
    assert_eq!(state, RunnerState::Pausing { pid, job: None });
    h.wait_event("bk paused", |e| is_state(e, "bk", "paused"))
        .await;
    let log = log_of(&h, "bk");
    assert!(
        log.contains("SIGTERM, finishing the current job")
            && log.contains("job 0190-demo finished"),
        "{log}"
    );

    h.engine.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_buildkite_startup_hook_is_not_restarted_in_a_loop() {
    let mut h = Harness::start(vec![buildkite("bk", "startup-hook-fails", &[])]).await;
    let (esc_id, reason, advice) = wait_escalation(&mut h, "bk").await;
    assert!(reason.contains("agent-startup hook failed"), "{reason}");
    assert!(advice.contains("qcity start bk"), "{advice}");
    not_restarted(&mut h, "bk", esc_id, 500).await;
    h.engine.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_probe_fails_below_its_threshold_on_the_working_dir() {
    let mut r = runner("w", "exec sleep 300");
    r.probes = vec![
        probe(serde_json::json!({"name": "roomy", "disk": {"min_free_mb": 0}})),
        probe(serde_json::json!({"name": "full", "disk": {"min_free_mb": u64::MAX / 2048}})),
    ];
    let mut h = Harness::start(vec![r]).await;
    let conf = h.path("config");
    let (_, ok) = wait_probe(&mut h, "roomy", ProbeState::Passing, 0).await;
    assert!(
        ok.ends_with(&format!("MB free on {}", conf.display())),
        "{ok}"
    );
    let (_, bad) = wait_probe(&mut h, "full", ProbeState::Failing, 0).await;
    assert!(
        bad.contains(&format!("below {} MB", u64::MAX / 2048)),
        "{bad}"
    );
    h.engine.shutdown("test").await;
}
