use qcity_store::{AuditReport, Store};
use qcity_types::{ControlAction, EventKind, RunnerState};

use qcity_testkit::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_kills_the_whole_group_including_a_grandchild_that_ignores_sigterm() {
    let script =
        "(trap '' TERM; exec sleep 1000) & echo $! > \"$GC\"; trap '' TERM; sleep 1000; wait";
    let mut r = runner("tree", script);
    r.stop_grace_ms = Some(500);
    let mut h = Harness::start(vec![]).await;
    r.env
        .insert("GC".into(), h.path("gc.pid").display().to_string());
    let cfg = config(&h.path("config"), vec![r]);
    write_manifest(&h.path("config"), &cfg);
    h.engine.reload("test").await.unwrap();
    let pid = h.wait_running("tree").await;
    let gc_file = h.path("gc.pid");
    eventually("grandchild pid file", || {
        std::fs::read_to_string(&gc_file).is_ok_and(|s| s.trim().parse::<u32>().is_ok())
    })
    .await;
    let gc: u32 = std::fs::read_to_string(&gc_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(alive(gc) && alive(pid));

    let state = h
        .engine
        .control("tester", ControlAction::Stop, "tree")
        .await
        .unwrap();
    assert_eq!(state, RunnerState::Stopped);
    assert!(!alive(pid), "runner {pid} survived stop");
    assert!(!alive(gc), "grandchild {gc} survived stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controls_are_durable_events_and_audited_in_an_intact_chain() {
    let mut h = Harness::start(vec![runner("svc", "exec sleep 1000")]).await;
    let first = h.wait_running("svc").await;
    let state = h
        .engine
        .control("alice", ControlAction::Restart, "svc")
        .await
        .unwrap();
    let RunnerState::Running { pid, .. } = state else {
        panic!("{state:?}")
    };
    assert_ne!(pid, first);
    assert!(!alive(first));

    // Acknowledged means stored: read the SQLite file with a separate connection.
    let store = Store::open(&h.path("data/qcity.db")).unwrap();
    let rows = store.events_after(0, 10_000).unwrap();
    assert!(
        rows.iter()
            .any(|r| r.kind == "control" && r.data.contains("\"actor\":\"alice\""))
    );
    let tail = store.audit_tail(1000).unwrap();
    assert!(
        tail.iter()
            .any(|r| r.actor == "alice" && r.action == "control.restart" && r.target == "svc")
    );
    assert!(
        tail.iter()
            .any(|r| r.action == "state.running" && r.target == "svc")
    );
    match store.audit_verify().unwrap() {
        AuditReport::Ok { rows } => assert!(rows >= 4),
        other => panic!("{other:?}"),
    }
    let err = h
        .engine
        .control("alice", ControlAction::Stop, "nope")
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "no runner named `nope`");
    h.wait_event(
        "control event",
        |e| matches!(&e.kind, EventKind::Control { actor, .. } if actor == "alice"),
    )
    .await;
    h.engine.shutdown("test").await;
    assert!(!alive(pid));
}
