//! A heal command leaves nothing behind: one whose shell forks a grandchild ends with its
//! whole process group (the engine's launcher, as for probes and tasks), checked by PID.

use std::time::Duration;

use qcity_config::{HealAction, HealMatch, HealRule, HealSpec};
use qcity_testkit::*;
use qcity_types::{EventKind, HealStep};

use crate::support::Healing;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heal_command_leaves_no_grandchild() {
    let mut h = Healing::start(vec![]).await;
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
