//! What the healer learns from its fixes: a fix that does not help is rolled back and
//! escalated, the fix that worked is tried first next time, and the next fix waits for the
//! retry backoff.

use std::time::Duration;

use qcity_config::{HealAction, HealMatch, HealRule, HealSpec};
use qcity_testkit::*;
use qcity_types::{EventKind, HealStep};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fix_that_does_not_help_is_rolled_back_and_escalated() {
    let mut h = Healing::start(vec![]).await;
    let work = h.path("work");
    std::fs::create_dir_all(work.join("cache/objects")).unwrap();
    std::fs::write(work.join("cache/objects/a1"), "cached build output").unwrap();
    let mut r = healing(
        "corrupt",
        "echo 'error: checksum mismatch for cache entry a1'; exit 1",
        HealSpec {
            cache_dirs: vec!["cache".into()],
            ..HealSpec::default()
        },
    );
    r.working_dir = Some(work.clone());
    let cfg = config(&h.path("config"), vec![r]);
    write_manifest(&h.path("config"), &cfg);
    h.engine.reload("test").await.unwrap();

    wait_step(&mut h, "corrupt", HealStep::Escalated, 0).await;
    let s = steps(&h, "corrupt");
    let order: Vec<HealStep> = s.iter().map(|s| s.0).collect();
    assert_eq!(
        order,
        [
            HealStep::Diagnosed,
            HealStep::Applying,
            HealStep::RolledBack,
            HealStep::Escalated
        ],
        "{s:?}"
    );
    assert_eq!(s[1].1, "corrupted-cache");
    assert!(s[2].2.contains("restored"), "{s:?}");
    assert_eq!(
        std::fs::read_to_string(work.join("cache/objects/a1")).unwrap(),
        "cached build output",
        "the cache is back as it was"
    );
    let escalation = h
        .seen
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Escalation {
                runner: Some(r),
                reason,
                advice,
            } if r == "corrupt" && reason.contains("healer") => {
                Some((reason.clone(), advice.clone()))
            }
            _ => None,
        })
        .expect("an escalation");
    assert!(escalation.0.contains("exit 1"), "{escalation:?}");
    assert!(
        escalation
            .1
            .contains("fixes tried: corrupted-cache: it failed again: exit 1"),
        "{escalation:?}"
    );
    assert!(
        escalation
            .1
            .contains("checksum mismatch for cache entry a1"),
        "the last lines are in it: {escalation:?}"
    );
    assert_eq!(
        outcomes(&h, &signature_of(&h, "corrupt")),
        [("corrupted-cache".to_string(), 1, 0)]
    );
    // The same failure again stays quiet: no second escalation for the next restarts.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let escalations = h
        .seen
        .iter()
        .filter(|e| {
            matches!(
                &e.kind,
                EventKind::Heal {
                    step: HealStep::Escalated,
                    ..
                }
            )
        })
        .count();
    assert_eq!(escalations, 1);
    h.engine.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fix_that_worked_is_tried_first_next_time() {
    let mut h = Healing::start(vec![]).await;
    let work = h.path("work");
    std::fs::create_dir_all(&work).unwrap();
    let rule = |name: &str, script: &str| HealRule {
        name: name.into(),
        matches: HealMatch {
            exit_codes: vec![3],
            text: Some("marker missing".into()),
            ..HealMatch::default()
        },
        actions: vec![HealAction::Run(vec![
            "sh".into(),
            "-c".into(),
            script.into(),
        ])],
    };
    let mut r = healing(
        "marker",
        "[ -f marker ] || { echo 'error: marker missing'; exit 3; }; exec sleep 30",
        HealSpec {
            rules: vec![
                rule("touch-elsewhere", "touch elsewhere"),
                rule("touch-marker", "touch marker"),
            ],
            ..HealSpec::default()
        },
    );
    r.working_dir = Some(work.clone());
    let cfg = config(&h.path("config"), vec![r]);
    write_manifest(&h.path("config"), &cfg);
    h.engine.reload("test").await.unwrap();

    wait_step(&mut h, "marker", HealStep::Validated, 0).await;
    let applied: Vec<String> = steps(&h, "marker")
        .into_iter()
        .filter(|s| s.0 == HealStep::Applying)
        .map(|s| s.1)
        .collect();
    assert_eq!(
        applied,
        ["touch-elsewhere", "touch-marker"],
        "declared order while untried"
    );
    // The first fix had nothing to undo: its end is a `failed` step, before the next one.
    let s = steps(&h, "marker");
    let failed: Vec<&(HealStep, String, String)> =
        s.iter().filter(|s| s.0 == HealStep::Failed).collect();
    assert_eq!(failed.len(), 1, "{s:?}");
    assert_eq!(failed[0].1, "touch-elsewhere");
    assert!(failed[0].2.contains("it failed again: exit 3"), "{s:?}");
    assert!(
        !s.iter().any(|s| s.0 == HealStep::RolledBack),
        "nothing to roll back: {s:?}"
    );
    let order: Vec<HealStep> = s.iter().map(|s| s.0).collect();
    let at = |step| order.iter().position(|s| *s == step).unwrap();
    assert!(at(HealStep::Failed) < at(HealStep::Validated), "{order:?}");
    let sig = signature_of(&h, "marker");
    assert_eq!(
        outcomes(&h, &sig),
        [
            ("touch-elsewhere".to_string(), 1, 0),
            ("touch-marker".to_string(), 1, 1)
        ]
    );

    // The same failure again: the rule that worked goes first and is the only one needed.
    std::fs::remove_file(work.join("marker")).unwrap();
    h.engine
        .control("test", qcity_types::ControlAction::Restart, "marker")
        .await
        .unwrap();
    wait_step(&mut h, "marker", HealStep::Validated, 1).await;
    let s = steps(&h, "marker");
    let second: Vec<&(HealStep, String, String)> = s
        .iter()
        .skip_while(|s| s.0 != HealStep::Validated)
        .skip(1)
        .collect();
    assert_eq!(second[0].0, HealStep::Diagnosed);
    assert!(
        second[0].2.contains(
            "fixes: touch-marker (1/1 worked, score 0.67), touch-elsewhere (0/1 worked, score 0.33)"
        ),
        "{second:?}"
    );
    assert_eq!(
        (second[1].0, second[1].1.as_str()),
        (HealStep::Applying, "touch-marker")
    );
    assert_eq!(second[2].0, HealStep::Validated);
    assert_eq!(signature_of(&h, "marker"), sig);
    h.engine.shutdown("test").await;
}

/// Fixes tried one after another on one failure are spaced by `heal.retry_backoff_ms`, and
/// the `applying` event says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_fix_waits_for_the_retry_backoff() {
    let mut h = Healing::start(vec![]).await;
    let work = h.path("work");
    std::fs::create_dir_all(&work).unwrap();
    let rule = |name: &str, script: &str| HealRule {
        name: name.into(),
        matches: HealMatch {
            exit_codes: vec![3],
            ..HealMatch::default()
        },
        actions: vec![HealAction::Run(vec![
            "sh".into(),
            "-c".into(),
            script.into(),
        ])],
    };
    let mut r = healing(
        "spaced",
        "[ -f marker ] || { echo 'error: marker missing'; exit 3; }; exec sleep 30",
        HealSpec {
            rules: vec![
                rule("wrong-1", "touch elsewhere"),
                rule("wrong-2", "touch elsewhere"),
                rule("right", "touch marker"),
            ],
            ..HealSpec::default()
        },
    );
    r.heal.validate_ms = 600;
    r.heal.retry_backoff_ms = 400;
    r.working_dir = Some(work.clone());
    let cfg = config(&h.path("config"), vec![r]);
    write_manifest(&h.path("config"), &cfg);
    h.engine.reload("test").await.unwrap();
    wait_step(&mut h, "spaced", HealStep::Validated, 0).await;
    let s = timed_steps(&h, "spaced");
    let applying: Vec<_> = s.iter().filter(|s| s.1 == HealStep::Applying).collect();
    let failed: Vec<_> = s.iter().filter(|s| s.1 == HealStep::Failed).collect();
    assert_eq!(
        applying.iter().map(|s| s.2.as_str()).collect::<Vec<_>>(),
        ["wrong-1", "wrong-2", "right"]
    );
    assert_eq!(failed.len(), 2, "{s:?}");
    assert!(!applying[0].3.contains("backoff"), "{s:?}");
    // Lower bounds only: each wait is at least the backoff (400 ms, then doubled).
    for (i, want) in [(1usize, 400i64), (2, 800)] {
        assert!(
            applying[i]
                .3
                .ends_with(&format!("(after a {want} ms backoff)")),
            "{s:?}"
        );
        let gap = applying[i].0 - failed[i - 1].0;
        assert!(
            gap >= want,
            "fix {i} came {gap} ms after the last one failed: {s:?}"
        );
    }
    h.engine.shutdown("test").await;
}
