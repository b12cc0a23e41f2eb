//! Failures a restart cannot fix, on real tools: a script that is not executable (permission
//! denied) and a C file that does not compile. The healer escalates once with its diagnosis
//! and stops the runner, instead of the restart policy starting it into the same failure again
//! and again.

use qcity_config::HealSpec;
use qcity_testkit::*;
use qcity_types::{EventKind, HealStep, RunnerState};

use crate::support::*;

/// Runs `script` in `dir` until the healer holds it; checks the diagnosis, the escalation and
/// that the runner stays stopped.
async fn held(name: &str, dir: &std::path::Path, script: &str, category: &str, rule: &str) {
    let mut r = healing(
        name,
        script,
        HealSpec {
            // A fix that could run would be a restart loop of its own: none must.
            install_command: vec!["sh".into(), "-c".into(), "exit 0".into()],
            cache_dirs: vec!["cache".into()],
            ..HealSpec::default()
        },
    );
    r.working_dir = Some(dir.to_path_buf());
    let mut h = Healing::start(vec![r]).await;
    wait_step(&mut h, name, HealStep::Held, 0).await;
    let s = steps(&h, name);
    assert_eq!(s[0].0, HealStep::Diagnosed, "{s:?}");
    assert!(s[0].2.contains(category), "{s:?}");
    assert!(
        s.iter()
            .any(|x| x.0 == HealStep::Escalated && x.2.contains("escalates by design")),
        "{s:?}"
    );
    assert!(
        !s.iter().any(|x| x.0 == HealStep::Applying),
        "no fix was applied: {s:?}"
    );
    assert_eq!(s.last().unwrap().1, rule, "{s:?}");
    let escalation = h
        .seen
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Escalation {
                runner: Some(r),
                reason,
                ..
            } if r == name => Some(reason.clone()),
            _ => None,
        })
        .expect("the master is told");
    assert!(escalation.contains("could not fix"), "{escalation}");
    // Several restart delays (200 ms) later, it has not been started again.
    let held_at = h.seen.last().map_or(0, |e| e.id);
    not_restarted(&mut h, name, held_at, 1_500).await;
    let st = h.engine.status();
    let st = st.iter().find(|s| s.name == name).unwrap();
    assert_eq!(st.state, RunnerState::Stopped);
    h.engine.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permission_error_is_escalated_and_the_runner_held_not_restarted() {
    let tmp = tempfile::tempdir().unwrap();
    // Not executable: even root may not run it.
    std::fs::write(tmp.path().join("build.sh"), "#!/bin/sh\necho building\n").unwrap();
    held(
        "no-exec",
        tmp.path(),
        "echo 'preparing the build'; ./build.sh",
        "permission-denied",
        "permission-denied",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compile_error_is_escalated_and_the_runner_held_not_restarted() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("main.c"),
        "#include <stdio.h>\nint main(void) {\n  printf(\"hi\\n\")\n  return 0;\n}\n",
    )
    .unwrap();
    held(
        "no-compile",
        tmp.path(),
        "gcc -Wall -o app main.c && exec ./app",
        "code-error",
        "code-error",
    )
    .await;
}
