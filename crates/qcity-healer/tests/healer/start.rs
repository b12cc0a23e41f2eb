//! The healer starts after the engine (the daemon starts it beside the engine): a runner that
//! failed in between is taken on from its status, not missed.

use qcity_config::{HealSpec, RestartPolicy};
use qcity_testkit::*;
use qcity_types::HealStep;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_that_failed_before_the_healer_started_is_taken_on() {
    let mut r = healing(
        "early",
        "echo 'error: checksum mismatch in cache entry 7'; exit 1",
        HealSpec {
            cache_dirs: vec!["cache".into()],
            ..HealSpec::default()
        },
    );
    r.restart.policy = RestartPolicy::Never;
    let mut h = Harness::start(vec![r]).await;
    h.wait_event("the failure", |e| is_state(e, "early", "exited"))
        .await;
    assert!(steps(&h, "early").is_empty(), "no healer yet");

    let healer = qcity_healer::start(h.engine.clone());
    wait_step(&mut h, "early", HealStep::Diagnosed, 0).await;
    let s = steps(&h, "early");
    assert!(
        s[0].2.contains("exit 1") && s[0].2.contains("fixes: corrupted-cache"),
        "{s:?}"
    );
    // Recorded, as any failure the healer sees. (Its plan for the runner is not asked here:
    // once the fix restarted it, whether it is failing at that moment is a race.)
    let key = signature_of(&h, "early");
    let sigs = tokio::task::block_in_place(|| healer.signatures(10)).unwrap();
    assert!(
        sigs.iter().any(|s| s.key == key && s.runner == "early"),
        "{sigs:?}"
    );
    h.engine.shutdown("test").await;
}
