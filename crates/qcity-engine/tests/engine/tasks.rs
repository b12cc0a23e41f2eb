//! Tasks with real processes: retries with backoff, the one-at-a-time lock, timeouts,
//! schedules, and the history in the store.

use qcity_types::EventKind;
use qcity_types::RunOutcome;

use qcity_testkit::Harness;

async fn with_tasks(tasks: serde_json::Value) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("config");
    std::fs::create_dir_all(&conf).unwrap();
    let mut cfg = qcity_testkit::config(&conf, vec![]);
    cfg.manifest.tasks = serde_json::from_value(tasks).unwrap();
    qcity_testkit::write_manifest(&conf, &cfg);
    Harness::start_with(dir, cfg).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_task_is_retried_with_growing_delays_until_it_passes() {
    let h = with_tasks(serde_json::json!([{
        "name": "flaky",
        "command": ["sh", "-c", "n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; echo attempt $n; [ $n -ge 3 ]"],
        "retries": 3, "retry_delay_ms": 150
    }]))
    .await;
    let RunOutcome::Finished { success, runs } =
        h.engine.run_task("flaky", "manual").await.unwrap()
    else {
        panic!("not run")
    };
    assert!(success);
    let codes: Vec<_> = runs.iter().map(|r| r.code).collect();
    assert_eq!(codes, [Some(1), Some(1), Some(0)]);
    assert_eq!(runs[2].output_tail, "attempt 3\n");
    let gap = |i: usize| runs[i + 1].started_ms - (runs[i].started_ms + runs[i].duration_ms as i64);
    assert!(gap(0) >= 150 && gap(1) >= 300, "gaps {} {}", gap(0), gap(1));
    assert!(gap(1) > gap(0), "the delay grows");
    let history = h.engine.task_runs("flaky", 10).unwrap();
    assert_eq!(history, runs, "every attempt is in the store");
    h.engine.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_never_runs_twice_at_once_even_when_triggered_twice() {
    let mut h = with_tasks(serde_json::json!([{
        "name": "exclusive",
        "command": ["sh", "-c", "echo start >> trace; sleep 0.5; echo end >> trace"],
    }]))
    .await;
    let (a, b) = tokio::join!(
        h.engine.run_task("exclusive", "manual"),
        h.engine.run_task("exclusive", "manual")
    );
    let outcomes = [a.unwrap(), b.unwrap()];
    let finished = outcomes
        .iter()
        .filter(|o| matches!(o, RunOutcome::Finished { success: true, .. }))
        .count();
    let refused = outcomes
        .iter()
        .filter(|o| matches!(o, RunOutcome::AlreadyRunning))
        .count();
    assert_eq!((finished, refused), (1, 1), "{outcomes:?}");
    let trace = std::fs::read_to_string(h.path("config/trace")).unwrap();
    assert_eq!(trace, "start\nend\n");
    h.wait_event(
        "the refusal",
        |e| matches!(&e.kind, EventKind::TaskSkipped { task, .. } if task == "exclusive"),
    )
    .await;
    h.engine.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_over_its_timeout_is_stopped() {
    let h = with_tasks(serde_json::json!([{
        "name": "slow", "command": ["sleep", "30"], "timeout_ms": 300
    }]))
    .await;
    let RunOutcome::Finished { success, runs } = h.engine.run_task("slow", "manual").await.unwrap()
    else {
        panic!("not run")
    };
    assert!(!success);
    assert_eq!(runs[0].error.as_deref(), Some("timed out after 300 ms"));
    assert_eq!(runs[0].signal, Some(libc::SIGTERM));
    assert!(runs[0].duration_ms < 5_000);
    h.engine.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_task_runs_by_itself_and_a_missing_requirement_is_refused() {
    let mut h = with_tasks(serde_json::json!([
        {"name": "tick", "command": ["true"], "schedule": {"every_ms": 1000}},
        {"name": "needs", "command": ["true"], "requires": ["qcity-no-such-tool"]}
    ]))
    .await;
    for _ in 0..2 {
        let seen = h.seen.len();
        h.wait_event("a scheduled run", move |e| {
            matches!(&e.kind, EventKind::TaskFinished { run } if run.trigger == "schedule")
        })
        .await;
        h.seen.truncate(seen);
    }
    let outcome = h.engine.run_task("needs", "manual").await.unwrap();
    assert_eq!(
        outcome,
        RunOutcome::MissingRequirement {
            program: "qcity-no-such-tool".into()
        }
    );
    assert!(h.engine.run_task("nope", "manual").await.is_err());
    h.engine.shutdown("test").await;
}
