//! Failures that keep coming: a crash loop has a signature and a fix of its own, and a
//! failure healed again and again within the hour is escalated instead.

use std::time::Duration;

use qcity_config::{HealAction, HealMatch, HealRule, HealSpec, RestartSpec};
use qcity_testkit::*;
use qcity_types::{EventKind, HealStep, RunnerState};

use crate::support::*;

/// A real crash loop: the runner dies at once on a stale lock its previous run left, every
/// restart, until the supervisor's detector fires. A rule for crash loops removes the lock;
/// the runner comes back and stays up, and the fix is credited to the crash loop's signature.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_loop_gets_its_own_signature_and_fix() {
    let mut h = Healing::start(vec![]).await;
    let work = h.path("work");
    std::fs::create_dir_all(work.join("state")).unwrap();
    std::fs::write(work.join("state/lock"), "4242").unwrap();
    let mut r = healing(
        "looper",
        "if [ -e state/lock ]; then echo \"fatal: state/lock is held by pid $(cat state/lock)\"; exit 1; fi; echo up; exec sleep 30",
        HealSpec {
            rules: vec![HealRule {
                name: "clear-stale-lock".into(),
                matches: HealMatch {
                    crash_loop: true,
                    ..HealMatch::default()
                },
                actions: vec![HealAction::Run(vec![
                    "rm".into(),
                    "-f".into(),
                    "state/lock".into(),
                ])],
            }],
            ..HealSpec::default()
        },
    );
    r.restart = RestartSpec {
        delay_ms: 20,
        max_delay_ms: 20,
        jitter_percent: 0,
        // Only the healer brings it back: the cool-down outlasts the test.
        crash_loop: Some(qcity_config::CrashLoopSpec {
            max_restarts: 3,
            window_ms: 10_000,
            cooldown_ms: 600_000,
        }),
        ..RestartSpec::default()
    };
    r.working_dir = Some(work.clone());
    let cfg = config(&h.path("config"), vec![r]);
    write_manifest(&h.path("config"), &cfg);
    h.engine.reload("test").await.unwrap();

    wait_step(&mut h, "looper", HealStep::Validated, 0).await;
    assert!(
        h.seen.iter().any(|e| matches!(
            &e.kind,
            EventKind::RunnerState { runner, state: RunnerState::CrashLooping { .. }, .. }
                if runner == "looper"
        )),
        "the detector fired"
    );
    let s = steps(&h, "looper");
    // Each single exit was diagnosed (no rule fits one exit); the crash loop got the fix.
    let diagnosed = s
        .iter()
        .find(|s| s.0 == HealStep::Diagnosed && s.2.starts_with("crash loop"))
        .unwrap_or_else(|| panic!("no crash-loop diagnosis: {s:?}"));
    assert!(
        diagnosed
            .2
            .contains("fixes: clear-stale-lock (0/0 worked, score 0.50)"),
        "{s:?}"
    );
    assert!(
        s.iter()
            .filter(|s| s.0 == HealStep::Diagnosed && s.2.starts_with("exit 1"))
            .all(|s| s.2.contains("no fix fits")),
        "{s:?}"
    );
    let applied: Vec<&str> = s
        .iter()
        .filter(|s| s.0 == HealStep::Applying)
        .map(|s| s.1.as_str())
        .collect();
    assert_eq!(applied, ["clear-stale-lock"], "{s:?}");
    let validated = s.iter().find(|s| s.0 == HealStep::Validated).unwrap();
    assert_eq!(validated.1, "clear-stale-lock");
    assert!(!work.join("state/lock").exists());
    let pid = h.wait_running("looper").await;
    assert!(alive(pid));

    // The crash loop's signature: its own key, the lock line's template, the outcome.
    let loop_sig = h
        .seen
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Heal {
                runner,
                signature,
                step: HealStep::Applying,
                ..
            } if runner == "looper" => Some(signature.clone()),
            _ => None,
        })
        .unwrap();
    let top = tokio::task::block_in_place(|| h.healer.signatures(20)).unwrap();
    let sig = top.iter().find(|s| s.key == loop_sig).unwrap();
    assert_eq!(
        (sig.runner.as_str(), sig.exit.as_str()),
        ("looper", "crash loop")
    );
    assert!(
        sig.templates
            .iter()
            .any(|t| t.contains("state/lock is held by pid")),
        "{sig:?}"
    );
    assert_eq!(
        outcomes(&h, &loop_sig),
        [("clear-stale-lock".to_string(), 1, 1)]
    );
    let single = top
        .iter()
        .find(|s| s.runner == "looper" && s.exit == "exit 1")
        .expect("the single exits' signature");
    assert_ne!(single.key, loop_sig);
    assert!(
        outcomes(&h, &single.key).is_empty(),
        "no fix was tried on one exit"
    );

    // The audit log has the healer's steps on the crash loop.
    let published = h.engine.bus().next_id() - 1;
    h.engine.wait_durable(published).await;
    let audit = h.engine.audit_tail(2000).unwrap();
    let rows: Vec<&qcity_types::AuditEntry> = audit
        .iter()
        .filter(|r| r.action == "heal" && r.target == "looper" && r.detail.contains(&loop_sig))
        .collect();
    for step in ["diagnosed", "applying", "validated"] {
        assert!(
            rows.iter().any(|r| r.detail.contains(step)),
            "no {step} row for the crash loop in {rows:#?}"
        );
    }
    h.engine.shutdown("test").await;
}

/// The same failure fixed again and again is a loop: after three fixes within the hour the
/// fourth occurrence is escalated instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_healed_three_times_within_the_hour_is_escalated_next_time() {
    let mut h = Healing::start(vec![]).await;
    let work = h.path("work");
    std::fs::create_dir_all(&work).unwrap();
    let mut r = healing(
        "again",
        "[ -f marker ] || { echo 'error: marker missing'; exit 3; }; exec sleep 30",
        HealSpec {
            rules: vec![HealRule {
                name: "touch-marker".into(),
                matches: HealMatch {
                    exit_codes: vec![3],
                    ..HealMatch::default()
                },
                actions: vec![HealAction::Run(vec!["touch".into(), "marker".into()])],
            }],
            ..HealSpec::default()
        },
    );
    r.heal.validate_ms = 600;
    r.working_dir = Some(work.clone());
    let cfg = config(&h.path("config"), vec![r]);
    write_manifest(&h.path("config"), &cfg);
    h.engine.reload("test").await.unwrap();
    for n in 0..3 {
        wait_step(&mut h, "again", HealStep::Validated, n).await;
        std::fs::remove_file(work.join("marker")).unwrap();
        h.engine
            .control("test", qcity_types::ControlAction::Restart, "again")
            .await
            .unwrap();
    }
    wait_step(&mut h, "again", HealStep::Escalated, 0).await;
    let s = steps(&h, "again");
    let applied = s.iter().filter(|s| s.0 == HealStep::Applying).count();
    assert_eq!(applied, 3, "{s:?}");
    let last = s.iter().rev().find(|s| s.0 == HealStep::Diagnosed).unwrap();
    assert!(
        last.2
            .contains("came back after: touch-marker: it worked 3× in the last 60 min"),
        "{s:?}"
    );
    assert!(!work.join("marker").exists(), "not fixed a fourth time");
    // `qcity heal --dry-run` says the same while the runner fails (between its restarts).
    let would = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let plan = tokio::task::block_in_place(|| h.healer.plan("again")).unwrap();
            if plan.signature.is_some() {
                return plan.would;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("a plan for the failing runner");
    assert!(
        would.starts_with("escalate: it came back after touch-marker: it worked 3×"),
        "{would}"
    );
    let sig = signature_of(&h, "again");
    assert_eq!(outcomes(&h, &sig), [("touch-marker".to_string(), 3, 3)]);
    h.engine.shutdown("test").await;
}
