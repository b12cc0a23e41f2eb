//! Short-lived commands leave nothing behind: an exec probe and a task whose shell forks a
//! grandchild end with their whole process group, checked by PID. (A heal command, launched
//! the same way, is the healer's test: `qcity-healer/tests/healer/launcher.rs`.)

use qcity_types::ProbeState;
use qcity_types::RunOutcome;

use qcity_testkit::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exec_probe_that_times_out_leaves_no_grandchild() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pids");
    let mut r = runner("svc", "exec sleep 300");
    r.probes = vec![probe(serde_json::json!({
        "name": "slow", "exec": {"command": forks_a_grandchild(&file, "sleep 300")},
        "interval_ms": 200, "timeout_ms": 300, "failure_threshold": 1, "start_grace_ms": 0
    }))];
    let mut h = Harness::start(vec![r]).await;
    let (_, detail) = wait_probe(&mut h, "slow", ProbeState::Failing, 0).await;
    assert_eq!(detail, "no answer within 300 ms");
    let first = pids(&file)[0];
    eventually("the timed-out probe's grandchild to be gone", || {
        !alive(first)
    })
    .await;
    h.engine.shutdown("test").await;
    // Every check's grandchild, the one in progress at shutdown included.
    for pid in pids(&file) {
        eventually(&format!("grandchild {pid} to be gone"), || !alive(pid)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_times_out_leaves_no_grandchild() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("config");
    std::fs::create_dir_all(&conf).unwrap();
    let file = dir.path().join("pids");
    let mut cfg = config(&conf, vec![]);
    cfg.manifest.tasks = serde_json::from_value(serde_json::json!([{
        "name": "hang", "command": forks_a_grandchild(&file, "exec sleep 300"), "timeout_ms": 300
    }]))
    .unwrap();
    write_manifest(&conf, &cfg);
    let h = Harness::start_with(dir, cfg).await;
    let RunOutcome::Finished { success, runs } = h.engine.run_task("hang", "manual").await.unwrap()
    else {
        panic!("not run")
    };
    assert!(!success);
    assert_eq!(runs[0].error.as_deref(), Some("timed out after 300 ms"));
    let pid = pids(&file)[0];
    eventually("the task's grandchild to be gone", || !alive(pid)).await;
    h.engine.shutdown("test").await;
}
