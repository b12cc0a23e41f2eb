use qcity_types::{EventKind, RunnerState};

use qcity_testkit::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_starts_added_stops_removed_restarts_changed_and_leaves_the_rest() {
    let keep = runner("keep", "exec sleep 1000");
    let change = runner("change", "exec sleep 1000");
    let remove = runner("remove", "exec sleep 1000");
    let mut h = Harness::start(vec![keep.clone(), change.clone(), remove]).await;
    let keep_pid = h.wait_running("keep").await;
    let change_pid = h.wait_running("change").await;
    let remove_pid = h.wait_running("remove").await;

    let mut changed = change.clone();
    changed.command = vec!["sleep".into(), "999".into()];
    let cfg = config(
        &h.path("config"),
        vec![keep, changed, runner("add", "exec sleep 1000")],
    );
    write_manifest(&h.path("config"), &cfg);
    let report = h.engine.reload("test").await.unwrap();
    assert_eq!(report.added, vec!["add"]);
    assert_eq!(report.removed, vec!["remove"]);
    assert_eq!(report.changed, vec!["change"]);
    assert_eq!(report.unchanged, 1);

    let add_pid = h.wait_running("add").await;
    let new_change_pid = h.wait_running("change").await;
    assert!(add_pid > 0);
    assert_ne!(new_change_pid, change_pid);
    assert!(!alive(change_pid) && !alive(remove_pid));
    let keep_now = h
        .engine
        .status()
        .into_iter()
        .find(|s| s.name == "keep")
        .unwrap();
    assert_eq!(keep_now.pid, Some(keep_pid));
    assert!(h.engine.status().iter().all(|s| s.name != "remove"));
    h.engine.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_reload_keeps_the_last_good_config_running() {
    let mut h = Harness::start(vec![runner("steady", "exec sleep 1000")]).await;
    let pid = h.wait_running("steady").await;
    std::fs::write(
        h.path("config/runner_manifest.json"),
        r#"{"runners": [{"name": "steady", "command": ["sleep", "1"], "restart": {"delay_ms": "soon"}}]}"#,
    )
    .unwrap();
    let err = h.engine.reload("test").await.unwrap_err();
    assert!(
        err.to_string().contains("runners[0].restart.delay_ms"),
        "{err}"
    );
    h.wait_event("config rejected", |e| {
        matches!(&e.kind, EventKind::ConfigRejected { .. })
    })
    .await;
    let st = h.engine.status();
    assert_eq!(st.len(), 1);
    assert!(matches!(st[0].state, RunnerState::Running { pid: p, .. } if p == pid));
    assert_eq!(h.engine.config().manifest.runners[0].command[0], "sh");
    h.engine.shutdown("test").await;
}
