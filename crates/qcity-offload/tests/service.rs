//! The offload service on a real engine: jobs run for real, placed by this machine's
//! readings (a power-supply directory laid out like the kernel's), failing over when a
//! target cannot be reached, their records, artifacts, events and builds.json entries.

mod support;

use std::path::{Path, PathBuf};

use qcity_config::{Config, JobSpec, TargetSpec};
use qcity_offload::Offload;
use qcity_testkit::Harness;
use qcity_types::{EventKind, JobRun, JobState, JobStep};
use serde_json::json;
use support::groups::{group_alive, kill_group};

fn set(root: &Path, entry: &str, file: &str, value: &str) {
    std::fs::create_dir_all(root.join(entry)).unwrap();
    std::fs::write(root.join(entry).join(file), format!("{value}\n")).unwrap();
}

/// A battery at `percent`, on mains power or not.
fn power(root: &Path, percent: u8, mains: bool) {
    set(root, "AC", "type", "Mains");
    set(root, "AC", "online", if mains { "1" } else { "0" });
    set(root, "BAT0", "type", "Battery");
    set(root, "BAT0", "capacity", &percent.to_string());
    let status = if mains { "Charging" } else { "Discharging" };
    set(root, "BAT0", "status", status);
}

fn job(v: serde_json::Value) -> JobSpec {
    serde_json::from_value(v).unwrap()
}

/// An SSH target on a loopback port where nothing listens.
fn closed_target(name: &str) -> TargetSpec {
    let port = qcity_testkit::free_port();
    serde_json::from_value(json!({
        "name": name,
        "ssh": {"host": "127.0.0.1", "port": port, "connect_timeout_seconds": 2}
    }))
    .unwrap()
}

struct Setup {
    h: Harness,
    offload: Offload,
    power: PathBuf,
    work: PathBuf,
}

async fn start(jobs: Vec<JobSpec>, edit: impl FnOnce(&mut Config)) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let power_root = dir.path().join("power_supply");
    power(&power_root, 90, true);
    let conf = dir.path().join("config");
    let work = conf.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let mut cfg = qcity_testkit::config(&conf, vec![]);
    cfg.device.resources.power_supply_root = power_root.clone();
    cfg.manifest.jobs = jobs;
    cfg.cloud.retries.delay_ms = 50;
    cfg.cloud.placement.min_free_disk_mb = 1;
    cfg.cloud.placement.min_free_memory_mb = 1;
    cfg.cloud.placement.max_load_per_cpu = 1000.0;
    edit(&mut cfg);
    qcity_testkit::write_manifest(&conf, &cfg);
    let h = Harness::start_with(dir, cfg).await;
    let offload = Offload::new(h.engine.clone());
    Setup {
        h,
        offload,
        power: power_root,
        work,
    }
}

/// Waits for the run's `finished` event and returns its final record.
async fn finished(s: &mut Setup, id: &str) -> JobRun {
    let id = id.to_string();
    s.h.wait_event(
        "the job's end",
        |e| matches!(&e.kind, EventKind::Job { run, step: JobStep::Finished, .. } if *run == id),
    )
    .await;
    s.offload.show(&id).unwrap()
}

fn builder() -> JobSpec {
    job(json!({
        "name": "build",
        "command": ["sh", "-c", "mkdir -p out && echo compiled > out/app.bin && echo step one && echo step two"],
        "working_dir": "work",
        "artifacts": ["out/*.bin"]
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_job_runs_with_its_output_artifacts_record_and_report() {
    let mut s = start(vec![builder()], |_| {}).await;
    let run = s.offload.start("build", None, "master:test").unwrap();
    assert_eq!(run.state, JobState::Queued);
    assert_eq!(
        run.placement.summary,
        "here: no remote targets in qmoi_cloud_config.json"
    );
    let run = finished(&mut s, &run.id).await;
    assert_eq!(run.state, JobState::Succeeded, "{run:#?}");
    assert_eq!(run.place.as_deref(), Some("local"));
    assert_eq!(run.exit_code, Some(0));
    assert_eq!(run.artifacts.len(), 1);
    let a = &run.artifacts[0];
    assert_eq!(a.path, Path::new("out/app.bin"));
    let (sha, bytes) = qcity_platform::checksum::sha256_file(&s.work.join("out/app.bin")).unwrap();
    assert_eq!((a.sha256.as_str(), a.bytes), (sha.as_str(), bytes));
    let log = s.offload.log(&run.id, 10_000).unwrap();
    assert!(log.contains("step one\nstep two\n"), "{log}");
    assert!(
        log.contains("== succeeded: exited with code 0; 1 artifact verified =="),
        "{log}"
    );
    let report: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(s.h.path("data/reports/builds.json")).unwrap())
            .unwrap();
    assert_eq!(report.len(), 1);
    assert_eq!(report[0]["id"], run.id.as_str());
    assert_eq!(report[0]["outcome"], "succeeded");
    assert_eq!(report[0]["artifacts"][0]["sha256"], sha.as_str());
    assert_eq!(s.offload.runs(Some("build"), 10)[0].id, run.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_low_battery_auto_goes_remote_and_fails_over_home_when_the_host_is_down() {
    let mut s = start(vec![builder()], |c| {
        c.cloud.targets = vec![closed_target("box")];
    })
    .await;
    // On mains it stays here, and says so.
    let plan = s.offload.plan("build", None).unwrap();
    assert_eq!(plan.summary, "here: this machine has what the job needs");
    assert_eq!(plan.candidates[0].place, "local");
    assert!(
        plan.candidates[0].reasons[0].starts_with("on mains power"),
        "{plan:#?}"
    );
    power(&s.power, 30, false);
    let plan = s.offload.plan("build", None).unwrap();
    assert_eq!(
        plan.summary,
        "elsewhere: this machine is short (on battery at 30 % (below 50 %))"
    );
    let order: Vec<&str> = plan.order().map(|c| c.place.as_str()).collect();
    assert_eq!(order, ["ssh:box", "local"]);
    // The dry run started nothing.
    assert!(s.offload.runs(None, 10).is_empty());

    let run = s.offload.start("build", None, "master:test").unwrap();
    let run = finished(&mut s, &run.id).await;
    assert_eq!(run.state, JobState::Succeeded, "{run:#?}");
    let tried: Vec<(&str, &str)> = run
        .attempts
        .iter()
        .map(|a| (a.place.as_str(), a.outcome.as_str()))
        .collect();
    assert_eq!(tried, [("ssh:box", "unreachable"), ("local", "ran")]);
    assert!(s.work.join("out/app.bin").exists());
    let placed =
        s.h.seen
            .iter()
            .find_map(|e| match &e.kind {
                EventKind::Job {
                    step: JobStep::Placed,
                    reasons,
                    ..
                } => Some(reasons.clone()),
                _ => None,
            })
            .unwrap();
    assert!(placed[0].starts_with("ssh:box: "), "{placed:?}");
    assert!(
        s.h.seen.iter().any(|e| matches!(&e.kind,
            EventKind::Job { step: JobStep::FailedOver, place: Some(p), .. } if p == "ssh:box")),
        "a failed-over event names the place that failed"
    );
    // The host that could not be reached counts as down for the next placement.
    let view = s.offload.view();
    assert_eq!(view.targets[0].health, "down");
    assert_eq!(
        (view.targets[0].recent_ok, view.targets[0].recent_total),
        (0, 1)
    );
    assert_eq!(view.jobs[0].last.as_ref().map(|r| &r.id), Some(&run.id));
    assert!(view.running.is_empty(), "{:?}", view.running);
    // A service started again reads the records once and knows the same.
    let again = Offload::new(s.h.engine.clone());
    let view = again.view();
    assert_eq!(view.targets[0].health, "down");
    assert_eq!(
        (view.targets[0].recent_ok, view.targets[0].recent_total),
        (0, 1)
    );
    assert_eq!(view.jobs[0].last.as_ref().map(|r| &r.id), Some(&run.id));
    let plan = s.offload.plan("build", None).unwrap();
    assert_eq!(
        plan.candidates
            .iter()
            .map(|c| (c.place.as_str(), c.eligible))
            .collect::<Vec<_>>(),
        [("local", true), ("ssh:box", false)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_place_failing_escalates_and_a_failing_command_is_not_retried_elsewhere() {
    let failing =
        job(json!({"name": "fails", "command": ["sh", "-c", "exit 3"], "working_dir": "work"}));
    let mut s = start(vec![builder(), failing], |c| {
        c.cloud.mode = qcity_config::OffloadMode::CloudFirst;
        c.cloud.targets = vec![closed_target("a"), closed_target("b")];
        c.cloud.retries.attempts = 2;
    })
    .await;
    let run = s.offload.start("build", None, "master:test").unwrap();
    let run = finished(&mut s, &run.id).await;
    assert_eq!(run.state, JobState::Failed);
    assert_eq!(run.attempts.len(), 2);
    assert!(
        run.detail.starts_with("every place failed after 2 tries"),
        "{}",
        run.detail
    );
    let esc =
        s.h.wait_event("the escalation", |e| {
            matches!(e.kind, EventKind::Escalation { .. })
        })
        .await;
    let EventKind::Escalation { reason, .. } = &esc.kind else {
        unreachable!()
    };
    assert!(
        reason.contains(&run.id) && reason.contains("ssh:a: unreachable"),
        "{reason}"
    );

    // A command that fails is the job's failure: another place would not do better.
    let run = s
        .offload
        .start("fails", Some("local"), "master:test")
        .unwrap();
    let run = finished(&mut s, &run.id).await;
    assert_eq!((run.state, run.exit_code), (JobState::Failed, Some(3)));
    assert_eq!(run.detail, "exited with code 3");
    assert_eq!(run.attempts.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_job_stops_its_command_and_unknown_names_are_refused() {
    let marker = format!("qcity-offload-cancel-{}", std::process::id());
    let sleeper = job(json!({
        "name": "sleeper",
        "command": ["sh", "-c", format!("echo started; exec sleep 1000 # {marker}")],
        "working_dir": "work"
    }));
    let mut s = start(vec![sleeper], |_| {}).await;
    let run = s.offload.start("sleeper", None, "master:test").unwrap();
    let id = run.id.clone();
    qcity_testkit::eventually("the job's output", || {
        s.offload.log(&id, 1000).unwrap().contains("started")
    })
    .await;
    s.offload.cancel(&id).unwrap();
    let run = finished(&mut s, &id).await;
    assert_eq!(run.state, JobState::Cancelled);
    let alive = std::process::Command::new("pgrep")
        .args(["-f", &marker])
        .status()
        .unwrap();
    assert!(!alive.success(), "the job's command outlived its cancel");
    assert!(
        s.offload
            .cancel(&id)
            .unwrap_err()
            .to_string()
            .contains("already ended"),
        "a second cancel says the run has ended"
    );
    let e = s.offload.start("nope", None, "master:test").unwrap_err();
    assert_eq!(
        e.to_string(),
        "no job `nope` in runner_manifest.json (jobs: sleeper)"
    );
    let e = s.offload.plan("sleeper", Some("ssh:nope")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "no place `ssh:nope`: give local, or one of the targets in qmoi_cloud_config.json (local)"
    );
    assert!(s.offload.show("../../etc").is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_github_target_without_its_token_is_refused_and_the_job_runs_here() {
    let gh: TargetSpec = serde_json::from_value(json!({
        "name": "ci",
        "github": {"repo": "acme/app", "workflow": "offload.yml",
                   "token": "env://QCITY_TEST_TOKEN_THAT_IS_NOT_SET",
                   "api_url": format!("http://127.0.0.1:{}", qcity_testkit::free_port())}
    }))
    .unwrap();
    let mut s = start(vec![builder()], |c| {
        c.cloud.mode = qcity_config::OffloadMode::CloudFirst;
        c.cloud.targets = vec![gh];
    })
    .await;
    let run = s.offload.start("build", None, "master:test").unwrap();
    let run = finished(&mut s, &run.id).await;
    assert_eq!(run.state, JobState::Succeeded, "{run:#?}");
    assert_eq!(run.attempts[0].place, "github:ci");
    assert_eq!(run.attempts[0].outcome, "refused");
    assert!(
        run.attempts[0]
            .detail
            .contains("QCITY_TEST_TOKEN_THAT_IS_NOT_SET"),
        "the refusal names where the token should be: {}",
        run.attempts[0].detail
    );
    assert_eq!(run.attempts[1].place, "local");
}

/// A target on a private sshd, its jobs under `remote`.
fn ssh_target(sshd: &support::sshd::Sshd, remote: &Path) -> TargetSpec {
    let mut ssh = sshd.target();
    ssh.remote_dir = remote.display().to_string();
    TargetSpec {
        name: "box".into(),
        ssh: Some(ssh),
        github: None,
        max_jobs: 2,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_low_battery_a_job_runs_on_the_ssh_host_and_its_artifact_comes_home() {
    let sshd = support::sshd::Sshd::start();
    let remote = tempfile::tempdir().unwrap();
    let target = ssh_target(&sshd, remote.path());
    let job = job(json!({
        "name": "build",
        "working_dir": "work",
        "inputs": ["src.txt"],
        "artifacts": ["out/*.bin"],
        "command": ["sh", "-c", "test -n \"$SSH_CONNECTION\" && mkdir -p out && tr a-z A-Z < src.txt > out/app.bin && echo built remotely"]
    }));
    let mut s = start(vec![job], |c| c.cloud.targets = vec![target]).await;
    std::fs::write(s.work.join("src.txt"), "hello\n").unwrap();
    power(&s.power, 10, false);
    let run = s.offload.start("build", None, "master:test").unwrap();
    let run = finished(&mut s, &run.id).await;
    let log = s.offload.log(&run.id, 100_000).unwrap();
    assert_eq!(run.state, JobState::Succeeded, "{log}");
    assert_eq!(run.place.as_deref(), Some("ssh:box"));
    assert!(log.contains("built remotely"), "{log}");
    assert_eq!(
        std::fs::read_to_string(s.work.join("out/app.bin")).unwrap(),
        "HELLO\n"
    );
    let (sha, _) = qcity_platform::checksum::sha256_file(&s.work.join("out/app.bin")).unwrap();
    assert_eq!(run.artifacts[0].sha256, sha);
    // The host is cleaned up once the job is done.
    qcity_testkit::eventually("the remote job dir removed", || {
        std::fs::read_dir(remote.path()).unwrap().next().is_none()
    })
    .await;
}

/// SIGKILLs the process groups of the jobs on the "host" under `remote`, by the ids the
/// executor wrote beside their directories (`<remote>/<id>.pgid`), and returns them.
fn kill_remote_groups(remote: &Path) -> Vec<i32> {
    let mut groups = Vec::new();
    for e in std::fs::read_dir(remote).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "pgid") {
            let text = std::fs::read_to_string(e.path()).unwrap();
            let pgid: i32 = text.trim().parse().expect("a pgid");
            kill_group(pgid);
            groups.push(pgid);
        }
    }
    groups
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sshd_killed_mid_job_fails_the_job_over_to_this_machine() {
    let mut sshd = support::sshd::Sshd::start();
    let remote = tempfile::tempdir().unwrap();
    let target = ssh_target(&sshd, remote.path());
    let job = job(json!({
        "name": "build",
        "working_dir": "work",
        "command": ["sh", "-c", "if [ -n \"$SSH_CONNECTION\" ]; then echo started remotely; exec sleep 1000; else echo ran here; fi"]
    }));
    let mut s = start(vec![job], |c| {
        c.cloud.mode = qcity_config::OffloadMode::CloudFirst;
        c.cloud.targets = vec![target];
    })
    .await;
    let run = s.offload.start("build", None, "master:test").unwrap();
    let id = run.id.clone();
    qcity_testkit::eventually("the job running on the host", || {
        s.offload
            .log(&id, 100_000)
            .unwrap()
            .contains("started remotely")
    })
    .await;
    sshd.kill();
    let run = finished(&mut s, &id).await;
    // The host's own processes outlive the connection, as on a real crash: kill their group
    // (by its id: the `sleep` the shell exec'd carries no marker to find it by).
    let groups = kill_remote_groups(remote.path());
    assert_eq!(
        groups.len(),
        1,
        "one job's pgid file on the host: {groups:?}"
    );
    qcity_testkit::eventually("the job's group on the host gone after its SIGKILL", || {
        !groups.iter().any(|&g| group_alive(g))
    })
    .await;
    let log = s.offload.log(&id, 100_000).unwrap();
    assert_eq!(run.state, JobState::Succeeded, "{log}");
    let tried: Vec<(&str, &str)> = run
        .attempts
        .iter()
        .map(|a| (a.place.as_str(), a.outcome.as_str()))
        .collect();
    assert_eq!(tried, [("ssh:box", "lost"), ("local", "ran")], "{log}");
    assert!(log.contains("ran here"), "{log}");
}
