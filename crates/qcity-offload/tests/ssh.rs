//! The SSH executor against a real sshd on loopback (tests/support/sshd.rs): inputs sent,
//! output streamed, exit codes kept, artifacts brought back and checked, host keys and keys
//! refused as a user would see it, cancel and a dying sshd.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use qcity_offload::exec::{ExecError, Log, Ran, Work};
use qcity_offload::{artifacts, ssh};
use serde_json::json;
use support::groups::{group_alive, kill_group};
use support::sshd::Sshd;
use tokio::sync::watch;

struct Job {
    work: Work,
    cancel: watch::Sender<bool>,
    /// The remote base directory (on this machine: the "host" is loopback).
    remote: PathBuf,
    _tmp: tempfile::TempDir,
}

/// A job named `name` running `command`, its directory, staging and log in a temp dir, its
/// remote directory an absolute path in the same temp dir.
fn job(name: &str, spec: serde_json::Value) -> Job {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("job");
    let staging = tmp.path().join("staging");
    let remote = tmp.path().join("remote");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&staging).unwrap();
    let mut spec = spec;
    spec["name"] = json!(name);
    let (cancel, rx) = watch::channel(false);
    let work = Work {
        id: format!("JOB-{name}-{}", std::process::id()),
        job: serde_json::from_value(spec).expect("a job spec"),
        dir,
        staging,
        config_dir: tmp.path().to_path_buf(),
        log: Log::open(tmp.path().join("job.log")).expect("log"),
        cancel: rx,
    };
    Job {
        work,
        cancel,
        remote,
        _tmp: tmp,
    }
}

fn target(sshd: &Sshd, j: &Job) -> qcity_config::SshTarget {
    let mut t = sshd.target();
    t.remote_dir = j.remote.display().to_string();
    t
}

fn log_text(j: &Job) -> String {
    std::fs::read_to_string(j.work.log.path()).unwrap_or_default()
}

fn remote_job_dir(j: &Job) -> PathBuf {
    j.remote.join(&j.work.id)
}

/// Processes whose command line holds `marker`.
fn running(marker: &str) -> bool {
    std::process::Command::new("pgrep")
        .args(["-f", marker])
        .status()
        .expect("pgrep runs")
        .success()
}

/// The job's process group id on the "host": the executor writes it beside the job's
/// directory when the command starts, and removes it with the directory.
fn read_pgid(j: &Job) -> Option<i32> {
    std::fs::read_to_string(j.remote.join(format!("{}.pgid", j.work.id)))
        .ok()
        .and_then(|p| p.trim().parse::<i32>().ok())
}

/// Polls `cond` until it holds; false at the deadline (a safety limit, not a measurement).
async fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cond()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_runs_remotely_and_its_artifact_comes_back_verified() {
    let sshd = Sshd::start();
    let j = job(
        "build",
        json!({
            "command": ["sh", "-c", "cat data/a.txt; echo \"hello $WHO\"; echo to-stderr >&2; \
                mkdir -p out && { cat data/a.txt; cat top.txt; } > out/result.txt && echo made > out/skip.log"],
            "env": {"WHO": "it's me"},
            "inputs": ["data", "top.txt"],
            "artifacts": ["out/*.txt"],
        }),
    );
    std::fs::create_dir_all(j.work.dir.join("data")).unwrap();
    std::fs::write(j.work.dir.join("data/a.txt"), "line from input\n").unwrap();
    std::fs::write(j.work.dir.join("top.txt"), "top file\n").unwrap();

    let ran = ssh::run("box", &target(&sshd, &j), &j.work)
        .await
        .expect("the job ran");

    assert_eq!(ran.code, Some(0), "log: {}", log_text(&j));
    assert!(ran.success());
    let log = log_text(&j);
    for line in ["line from input", "hello it's me", "to-stderr"] {
        assert!(log.contains(line), "`{line}` not in the log: {log}");
    }
    let want = "line from input\ntop file\n";
    assert_eq!(ran.artifacts.len(), 1, "{:?}", ran.artifacts);
    let claim = &ran.artifacts[0];
    assert_eq!(claim.path, Path::new("out/result.txt"));
    assert_eq!(claim.bytes, want.len() as u64);
    let (local_sum, _) =
        qcity_platform::checksum::sha256_file(&j.work.staging.join("out/result.txt")).unwrap();
    assert_eq!(claim.sha256, local_sum);
    let placed = artifacts::place(&j.work.staging, &j.work.dir, &ran.artifacts).expect("placed");
    assert_eq!(placed.len(), 1);
    assert_eq!(
        std::fs::read_to_string(j.work.dir.join("out/result.txt")).unwrap(),
        want
    );
    assert!(
        !j.work.dir.join("out/skip.log").exists(),
        "a file outside the globs came back"
    );
    assert!(
        wait_until(Duration::from_secs(20), || !remote_job_dir(&j).exists()).await,
        "the remote job dir was left behind"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_command_keeps_its_exit_code_and_brings_nothing_back() {
    let sshd = Sshd::start();
    let j = job(
        "fails",
        json!({
            "command": ["sh", "-c", "mkdir -p out; echo partial > out/r.txt; echo failing; exit 3"],
            "artifacts": ["out/*"],
        }),
    );
    let ran = ssh::run("box", &target(&sshd, &j), &j.work)
        .await
        .expect("the job ran");
    assert_eq!(ran.code, Some(3));
    assert!(!ran.success());
    assert!(ran.artifacts.is_empty());
    assert!(
        std::fs::read_dir(&j.work.staging).unwrap().next().is_none(),
        "staging is not empty"
    );
    assert!(log_text(&j).contains("failing"));
    assert!(
        wait_until(Duration::from_secs(20), || !remote_job_dir(&j).exists()).await,
        "the remote job dir was left behind"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_host_key_is_refused_unless_accept_new() {
    let sshd = Sshd::start();
    let j = job("hostkey", json!({"command": ["true"]}));
    std::fs::write(&sshd.known_hosts, "").unwrap();

    let err = ssh::run("box", &target(&sshd, &j), &j.work)
        .await
        .expect_err("strict refuses");
    eprintln!("unknown host key: {err}");
    let ExecError::Refused(msg) = &err else {
        panic!("not Refused: {err:?}");
    };
    assert!(msg.contains(&format!("127.0.0.1:{}", sshd.port)), "{msg}");
    assert!(msg.contains("accept-new"), "{msg}");
    assert!(err.fails_over());

    let mut t = target(&sshd, &j);
    t.host_key_check = qcity_config::HostKeyCheck::AcceptNew;
    let ran = ssh::run("box", &t, &j.work)
        .await
        .expect("accept-new connects");
    assert_eq!(ran.code, Some(0));
    let known = std::fs::read_to_string(&sshd.known_hosts).unwrap();
    let key = sshd.host_key_pub.split_whitespace().nth(1).unwrap();
    assert!(
        known.contains(key),
        "known_hosts did not gain the host key: {known}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_host_key_is_refused_even_with_accept_new() {
    let sshd = Sshd::start();
    let j = job("changed", json!({"command": ["true"]}));
    // Another machine's key recorded for this address.
    let other = Sshd::start();
    let line = other
        .host_key_pub
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    std::fs::write(
        &sshd.known_hosts,
        format!("[127.0.0.1]:{} {line}\n", sshd.port),
    )
    .unwrap();
    let mut t = target(&sshd, &j);
    t.host_key_check = qcity_config::HostKeyCheck::AcceptNew;
    let err = ssh::run("box", &t, &j.work)
        .await
        .expect_err("a changed key is refused");
    eprintln!("changed host key: {err}");
    let ExecError::Refused(msg) = &err else {
        panic!("not Refused: {err:?}");
    };
    assert!(msg.contains("changed"), "{msg}");
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_listening_is_unreachable() {
    let j = job("nobody", json!({"command": ["true"]}));
    // A port that was free a moment ago; nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let t: qcity_config::SshTarget =
        serde_json::from_value(json!({"host": "127.0.0.1", "port": port})).unwrap();
    let err = ssh::run("box", &t, &j.work).await.expect_err("no sshd");
    eprintln!("nothing listening: {err}");
    assert!(matches!(err, ExecError::Unreachable(_)), "{err:?}");
    assert!(err.fails_over());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_not_in_authorized_keys_is_refused() {
    let sshd = Sshd::start_with(false);
    let j = job("wrongkey", json!({"command": ["true"]}));
    let err = ssh::run("box", &target(&sshd, &j), &j.work)
        .await
        .expect_err("wrong key");
    eprintln!("wrong key: {err}");
    let ExecError::Refused(msg) = &err else {
        panic!("not Refused: {err:?}");
    };
    assert!(msg.contains(&format!("127.0.0.1:{}", sshd.port)), "{msg}");
    let key = std::fs::read_to_string(&sshd.client_key).unwrap();
    assert!(
        !msg.contains(key.lines().nth(1).unwrap()),
        "key material in the message"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_kills_the_remote_process_group() {
    let sshd = Sshd::start();
    let marker = format!("qcity-cancel-{}", std::process::id());
    // A child of the command's shell, named by the marker (`$0`), which stays alive while
    // its sleep runs: it must die with the group, not only the shell.
    let j = job(
        "cancel",
        json!({"command": ["sh", "-c", "sh -c 'sleep 1000; :' \"$0-child\" & echo started; wait", &marker]}),
    );
    let t = target(&sshd, &j);
    let run = tokio::spawn({
        let work = j.work.clone();
        async move { ssh::run("box", &t, &work).await }
    });
    let log = j.work.log.path().to_path_buf();
    let started = wait_until(Duration::from_secs(30), || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("started")
            && running("sleep 1000")
    })
    .await;
    assert!(started, "the job did not start: {}", log_text(&j));
    // Read now: the pgid file goes with the job's directory.
    let pgid = read_pgid(&j).expect("the job's pgid file on the host");
    j.cancel.send(true).unwrap();
    let ran: Ran = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("cancel returns")
        .unwrap()
        .expect("cancel is not an error");
    assert!(ran.cancelled);
    let gone = wait_until(Duration::from_secs(10), || {
        !running(&marker) && !group_alive(pgid)
    })
    .await;
    if !gone {
        kill_group(pgid);
    }
    assert!(gone, "the remote process group survived the cancel");
    assert!(
        wait_until(Duration::from_secs(20), || !remote_job_dir(&j).exists()).await,
        "the remote job dir was left behind"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sshd_killed_mid_job_fails_over_as_lost() {
    let mut sshd = Sshd::start();
    let marker = format!("qcity-lost-{}", std::process::id());
    let j = job(
        "lost",
        json!({"command": ["sh", "-c", "echo started; sleep 1000", &marker]}),
    );
    let t = target(&sshd, &j);
    let run = tokio::spawn({
        let work = j.work.clone();
        async move { ssh::run("box", &t, &work).await }
    });
    let log = j.work.log.path().to_path_buf();
    let started = wait_until(Duration::from_secs(30), || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("started")
    })
    .await;
    assert!(started, "the job did not start: {}", log_text(&j));
    sshd.kill();
    let res = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("a lost connection returns")
        .unwrap();
    // The job's own processes live on in their session, as on a real host: kill their group.
    let pgid = read_pgid(&j).expect("the job's pgid file on the host");
    kill_group(pgid);
    assert!(
        wait_until(Duration::from_secs(10), || !group_alive(pgid)).await,
        "the job's group {pgid} on the host survived its SIGKILL"
    );
    let err = res.expect_err("sshd was killed");
    eprintln!("sshd killed mid-job: {err}");
    assert!(matches!(err, ExecError::Lost(_)), "{err:?}");
    assert!(err.fails_over());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_timeout_kills_the_remote_process_group() {
    let sshd = Sshd::start();
    let marker = format!("qcity-timeout-{}", std::process::id());
    let j = job(
        "timeout",
        json!({
            "command": ["sh", "-c", "sh -c 'sleep 1000; :' \"$0-child\" & echo started; wait", &marker],
            "timeout_ms": 1500,
        }),
    );
    let t = target(&sshd, &j);
    let run = tokio::spawn({
        let work = j.work.clone();
        async move { ssh::run("box", &t, &work).await }
    });
    // Read while the job runs: the pgid file goes with the job's directory.
    let mut pgid = None;
    wait_until(Duration::from_secs(60), || {
        pgid = pgid.or_else(|| read_pgid(&j));
        pgid.is_some() || run.is_finished()
    })
    .await;
    let ran = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("a timed-out job returns")
        .unwrap()
        .expect("a timeout is not an error");
    assert!(ran.timed_out, "{ran:?}");
    assert!(!ran.success());
    assert!(log_text(&j).contains("started"));
    let gone = wait_until(Duration::from_secs(10), || {
        !running(&marker) && pgid.is_none_or(|g| !group_alive(g))
    })
    .await;
    if !gone {
        let _ = std::process::Command::new("pkill")
            .args(["-9", "-f", &marker])
            .status();
        if let Some(g) = pgid {
            kill_group(g);
        }
    }
    assert!(gone, "the remote process group survived the timeout");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_input_is_the_jobs_fault_and_does_not_fail_over() {
    let sshd = Sshd::start();
    let j = job(
        "noinput",
        json!({"command": ["true"], "inputs": ["absent.txt"]}),
    );
    let err = ssh::run("box", &target(&sshd, &j), &j.work)
        .await
        .expect_err("the input is missing");
    let ExecError::Job(msg) = &err else {
        panic!("not a job error: {err:?}");
    };
    assert!(msg.contains("input `absent.txt` does not exist"), "{msg}");
    assert!(!err.fails_over());
    assert!(
        wait_until(Duration::from_secs(20), || !remote_job_dir(&j).exists()).await,
        "the remote job dir was left behind"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_while_the_artifacts_come_back_is_the_jobs_fault_and_leaves_nothing() {
    let sshd = Sshd::start();
    let j = job(
        "full",
        json!({
            "command": ["sh", "-c", "mkdir -p out && echo small > out/a.txt && head -c 3145728 /dev/zero > out/b.txt"],
            "artifacts": ["out/*.txt"],
        }),
    );
    // Staging on a 1 MiB filesystem: the 3 MiB artifact cannot land.
    let Some(_mounted) = qcity_testkit::tmpfs(&j.work.staging, "1m") else {
        return;
    };
    let err = ssh::run("box", &target(&sshd, &j), &j.work)
        .await
        .expect_err("the artifacts do not fit");
    assert!(matches!(err, ExecError::Job(_)), "{err:?}");
    assert!(!err.fails_over(), "another place would not make room here");
    assert!(err.to_string().contains("No space left"), "{err}");
    let left: Vec<_> = std::fs::read_dir(&j.work.staging)
        .unwrap()
        .flatten()
        .collect();
    assert!(
        left.is_empty(),
        "staging keeps nothing half-written: {left:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_name_that_does_not_resolve_is_unreachable_and_says_so() {
    let j = job("unknown", json!({"command": ["true"]}));
    // `.invalid` never resolves (RFC 2606); no network is asked.
    let t: qcity_config::SshTarget =
        serde_json::from_value(json!({"host": "no-such-host.invalid", "port": 22})).unwrap();
    let err = ssh::run("box", &t, &j.work)
        .await
        .expect_err("no such host");
    assert!(matches!(err, ExecError::Unreachable(_)), "{err:?}");
    assert!(err.to_string().contains("no-such-host.invalid"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_git_revision_as_input_sends_that_commits_files() {
    let sshd = Sshd::start();
    let j = job(
        "git",
        json!({
            "command": ["sh", "-c", "cat src/a.txt; test -e notes.txt || echo untracked-stayed-home"],
            "inputs": ["git:HEAD"],
        }),
    );
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .arg("-C")
            .arg(&j.work.dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            ok.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&ok.stderr)
        );
    };
    git(&["init", "-q"]);
    std::fs::create_dir_all(j.work.dir.join("src")).unwrap();
    std::fs::write(j.work.dir.join("src/a.txt"), "as committed\n").unwrap();
    git(&["add", "src/a.txt"]);
    git(&["commit", "-q", "-m", "one"]);
    // Changed and untracked files here are not the commit's.
    std::fs::write(j.work.dir.join("src/a.txt"), "edited since\n").unwrap();
    std::fs::write(j.work.dir.join("notes.txt"), "mine\n").unwrap();
    let ran = ssh::run("box", &target(&sshd, &j), &j.work)
        .await
        .expect("the job ran");
    assert_eq!(ran.code, Some(0), "{}", log_text(&j));
    let log = log_text(&j);
    assert!(log.contains("as committed\nuntracked-stayed-home"), "{log}");

    let mut bad = j.work.clone();
    bad.job.inputs = vec!["git:no-such-branch".into()];
    let err = ssh::run("box", &target(&sshd, &j), &bad)
        .await
        .expect_err("no such revision");
    assert!(matches!(err, ExecError::Job(_)), "{err:?}");
    assert!(
        err.to_string().contains("`no-such-branch` is not a commit"),
        "{err}"
    );
}
