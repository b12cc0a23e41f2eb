//! A dry run: the healer says what it would do and touches nothing.

use std::time::Duration;

use qcity_config::HealSpec;
use qcity_testkit::*;
use qcity_types::HealStep;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_dry_run_the_healer_says_what_it_would_do_and_touches_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("installed");
    let mut r = healing(
        "dry",
        "echo 'ModuleNotFoundError: No module named requests'; exit 1",
        HealSpec {
            install_command: vec!["touch".into(), marker.display().to_string()],
            ..HealSpec::default()
        },
    );
    // It stays failed, so the plan below sees the failure, not a restart in between.
    r.restart.policy = qcity_config::RestartPolicy::Never;
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("config");
    std::fs::create_dir_all(&conf).unwrap();
    let mut cfg = config(&conf, vec![r]);
    cfg.device.healer.dry_run = true;
    write_manifest(&conf, &cfg);
    let mut h = Healing::start_with(dir, cfg).await;
    wait_step(&mut h, "dry", HealStep::WouldApply, 0).await;
    let s = steps(&h, "dry");
    let would = s.iter().find(|s| s.0 == HealStep::WouldApply).unwrap();
    assert_eq!(would.1, "missing-dependency");
    assert_eq!(
        would.2,
        format!("run touch {}, then restart", marker.display())
    );
    // `qcity heal --dry-run`'s view of the same failure, asked while the runner fails.
    let plan = tokio::task::block_in_place(|| h.healer.plan("dry")).unwrap();
    assert_eq!(
        plan.signature.as_deref(),
        Some(signature_of(&h, "dry").as_str())
    );
    assert_eq!(plan.fixes[0].rule, "missing-dependency");
    assert_eq!(
        plan.would,
        format!(
            "apply missing-dependency: run touch {}, then restart, then check it for 1500 ms",
            marker.display()
        )
    );
    assert!(
        plan.lines
            .iter()
            .any(|l| l.contains("No module named requests")),
        "{plan:?}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!marker.exists(), "nothing was run");
    assert!(
        !steps(&h, "dry").iter().any(|s| s.0 == HealStep::Applying),
        "nothing applied"
    );
    h.engine.shutdown("test").await;
}
