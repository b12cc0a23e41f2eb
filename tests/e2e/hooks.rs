//! The GitHub runner's job-started hook, run the way the runner runs it (`bash -e SCRIPT`,
//! from `../shared/facts/runners.md`) against a real daemon. The runner itself is the stand-in
//! `tests/fixtures/fake-github-runner.sh` (the real one cannot be downloaded here).

use crate::support::{Daemon, text, unique, wait_until, write};

fn env_of(pid: u32, var: &str) -> Option<String> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    env.split(|b| *b == 0).find_map(|kv| {
        let kv = String::from_utf8_lossy(kv);
        kv.strip_prefix(&format!("{var}=")).map(String::from)
    })
}

fn run_hook(script: &str) -> std::process::Output {
    std::process::Command::new("bash")
        .args(["-e", script])
        .env("QCITY_LOG", "warn")
        .output()
        .unwrap()
}

#[test]
fn the_job_started_hook_fails_jobs_while_the_runner_is_unhealthy() {
    let name = unique("gh");
    let fake = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/fake-github-runner.sh"
    );
    let m = format!(
        r#"{{"runners": [{{"name": "{name}", "kind": "github", "job_started_hook": true,
            "command": ["sh", "{fake}", "long-job"],
            "probes": [{{"name": "marker", "exec": {{"command": ["test", "-f", "healthy"]}},
                         "interval_ms": 100, "failure_threshold": 1, "start_grace_ms": 0}}]}}]}}"#
    );
    let mut d = Daemon::start(&m);
    write(&d.conf().join("healthy"), "");
    let pid = d.wait_state(&name, "running")["pid"].as_u64().unwrap() as u32;
    let script = wait_until("the hook in the runner's environment", || {
        env_of(pid, "ACTIONS_RUNNER_HOOK_JOB_STARTED")
    });
    assert!(
        script.starts_with('/') && script.ends_with(".sh"),
        "the runner wants an absolute .sh path: {script}"
    );

    wait_until("healthy", || {
        (d.runner(&name)["health"] == "healthy").then_some(())
    });
    let out = run_hook(&script);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!("QCity: runner {name}: healthy")),
        "{}",
        text(&out.stdout)
    );

    std::fs::remove_file(d.conf().join("healthy")).unwrap();
    wait_until("unhealthy", || {
        (d.runner(&name)["health"] == "unhealthy").then_some(())
    });
    let out = run_hook(&script);
    assert_eq!(out.status.code(), Some(1), "a non-zero exit fails the job");
    let said = text(&out.stderr);
    assert!(
        said.contains("QCity refuses this job")
            && said.contains(&format!("runner {name}"))
            && said.contains("marker: exit 1"),
        "{said}"
    );

    // Without QCity the job runs, and its log says it was not checked.
    d.signal(libc::SIGTERM);
    d.wait_exit();
    let out = run_hook(&script);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("the job runs unchecked"));
}
