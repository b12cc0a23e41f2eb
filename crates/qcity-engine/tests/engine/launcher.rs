//! Short-lived commands leave nothing behind: an exec probe, a task and a heal command whose
//! shell forks a grandchild end with their whole process group, checked by PID.

use std::path::Path;
use std::time::Duration;

use qcity_config::{HealAction, HealMatch, HealRule, HealSpec};
use qcity_types::EventKind;
use qcity_types::HealStep;
use qcity_types::ProbeState;
use qcity_types::RunOutcome;

use crate::support::*;

/// A shell line that starts a grandchild (`sleep 300`), appends its pid to `file`, and then
/// does `then`.
fn forks_a_grandchild(file: &Path, then: &str) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        format!("sleep 300 & echo $! >> '{}'; {then}", file.display()),
    ]
}

fn pids(file: &Path) -> Vec<u32> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heal_command_leaves_no_grandchild() {
    let mut h = Harness::start(vec![]).await;
    let work = h.path("work");
    std::fs::create_dir_all(&work).unwrap();
    let file = work.join("pids");
    let mut r = runner(
        "svc",
        "[ -f marker ] || { echo 'error: marker missing'; exit 3; }; exec sleep 300",
    );
    r.restart.delay_ms = 200;
    r.restart.max_delay_ms = 200;
    r.heal = HealSpec {
        validate_ms: 500,
        rules: vec![HealRule {
            name: "touch-marker".into(),
            matches: HealMatch {
                exit_codes: vec![3],
                ..HealMatch::default()
            },
            // The fix succeeds and leaves a background process behind it.
            actions: vec![HealAction::Run(forks_a_grandchild(&file, "touch marker"))],
        }],
        ..HealSpec::default()
    };
    r.working_dir = Some(work.clone());
    let cfg = config(&h.path("config"), vec![r]);
    write_manifest(&h.path("config"), &cfg);
    h.engine.reload("test").await.unwrap();
    h.wait_event("the fix validated", |e| {
        matches!(&e.kind, EventKind::Heal { runner, step: HealStep::Validated, .. } if runner == "svc")
    })
    .await;
    let pid = pids(&file)[0];
    eventually("the heal command's grandchild to be gone", || !alive(pid)).await;
    h.engine.shutdown("test").await;
    tokio::time::sleep(Duration::from_millis(1)).await;
}
