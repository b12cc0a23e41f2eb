//! `qcity update apply|rollback` on a running daemon: the real binary updates itself to a
//! second, newer build of itself (`scripts/newer-qcity.sh` builds it with
//! `QCITY_BUILD_VERSION=99.0.0`), served as a path and signed here with a test key.

use std::path::{Path, PathBuf};

use qcity_installer::verify::sign::KeyPair;
use serde_json::Value;
use sha2::Digest as _;

use crate::support::{Daemon, QCITY, runner_processes, text, unique, wait_until};

const NEWER: &str = "99.0.0";

fn keys() -> KeyPair {
    KeyPair::from_seed([5; 32], [5, 1, 2, 3, 4, 5, 6, 7])
}

/// The newer build: target/update-test/qcity-99.0.0 beside target/debug.
fn newer_binary() -> PathBuf {
    let path = Path::new(QCITY)
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("update-test")
        .join(format!("qcity-{NEWER}"));
    assert!(
        path.is_file(),
        "{} is missing: run scripts/newer-qcity.sh (make test does)",
        path.display()
    );
    path
}

/// The running build's version (`qcity --version`).
fn running() -> String {
    let out = std::process::Command::new(QCITY)
        .arg("--version")
        .output()
        .unwrap();
    text(&out.stdout)
        .trim()
        .strip_prefix("qcity ")
        .unwrap()
        .to_string()
}

/// A release of `body` as `version` (signed for `signed` with `key`) in `dir`, and the device
/// config that pins `keys()` and names it. `extra` joins the device config's `update`.
fn publish(dir: &Path, body: &[u8], version: &str, signed: &str, key: &KeyPair, extra: Value) {
    std::fs::write(dir.join("qcity-release"), body).unwrap();
    let target = qcity_config::update_manifest::daemon_target();
    let manifest = serde_json::json!({
        "version": version,
        "notes": "test release",
        "platforms": {target: {
            "url": "qcity-release",
            "signature": key.sign(body, &format!("version:{signed}")),
            "size": body.len(),
            "sha256": hex::encode(sha2::Sha256::digest(body)),
        }}
    });
    std::fs::write(dir.join("update.json"), manifest.to_string()).unwrap();
    let mut update = serde_json::json!({
        "manifest": "update.json",
        "public_key": keys().public_key(),
        "check_deadline_seconds": 60,
        "drain_timeout_seconds": 30,
    });
    if let (Some(u), Some(e)) = (update.as_object_mut(), extra.as_object()) {
        u.extend(e.clone());
    }
    std::fs::write(
        dir.join("qcity-device-config.json"),
        serde_json::json!({
            "api": {"port": 0},
            "supervisor": {"stop_grace_ms": 3000},
            "platforms": {"enabled": false},
            // The autotest gates the update; the host's free disk and memory are not what
            // these tests are about.
            "resources": {"min_free_disk_mb": 0, "min_free_memory_mb": 0},
            "update": update,
        })
        .to_string(),
    )
    .unwrap();
}

/// A manifest of `runners` that sleep, and an autotest task running `check`.
fn manifest(runners: &[String], check: &str) -> String {
    let runners: Vec<Value> = runners
        .iter()
        .map(|n| serde_json::json!({"name": n, "command": ["sh", "-c", "exec sleep 300"]}))
        .collect();
    serde_json::json!({
        "runners": runners,
        "tasks": [{"name": "smoke", "command": ["sh", "-c", check], "autotest": true}],
    })
    .to_string()
}

/// The daemon on `manifest`, with the release of `body` published beside its config.
fn daemon_with_release(manifest: &str, body: &[u8], version: &str, signed: &str) -> Daemon {
    let mut d = Daemon::new(manifest);
    publish(
        &d.conf(),
        body,
        version,
        signed,
        &keys(),
        serde_json::json!({}),
    );
    d.spawn();
    d
}

/// Asks for the update and checks it is refused (409) with `reason` in its message; the
/// answer.
fn refused_with(d: &Daemon, reason: &str) -> Value {
    let (status, body) = d.post("/update/apply");
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains(reason),
        "{body}"
    );
    body
}

fn steps(d: &Daemon) -> Vec<String> {
    d.events("update")
        .iter()
        .map(|e| e["step"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn daemon_version(d: &Daemon) -> String {
    // Empty while the daemon restarts (no daemon.json between the two).
    std::fs::read(d.data().join("daemon.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v["version"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Each runner has exactly one live process, and it is a new one (not in `before`).
fn each_runner_once_and_new(names: &[String], before: &[u32]) {
    for n in names {
        let pids = wait_until(&format!("{n} running again"), || {
            let p = runner_processes(n);
            (p.len() == 1).then_some(p)
        });
        assert!(!before.contains(&pids[0]), "{n} runs a new process");
    }
}

#[test]
fn apply_drains_the_runners_restarts_into_the_new_version_and_commits_it() {
    let newer = std::fs::read(newer_binary()).unwrap();
    let names: Vec<String> = (0..3).map(|_| unique("upd")).collect();
    let mut d = daemon_with_release(&manifest(&names, "true"), &newer, NEWER, NEWER);
    let old = running();
    let pid = d.pid();
    let before: Vec<u32> = names
        .iter()
        .flat_map(|n| {
            wait_until("runner up", || {
                let p = runner_processes(n);
                (p.len() == 1).then_some(p)
            })
        })
        .collect();

    let view = d.get_json("/update");
    assert_eq!(view["running"], old.as_str());
    assert_eq!(view["available"]["version"], NEWER);

    let out = d.qcity(&["update", "apply", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let outcome: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(outcome["running"], NEWER, "{outcome}");
    assert_eq!(outcome["last"]["step"], "committed", "{outcome}");
    assert_eq!(outcome["pending"], Value::Null);
    assert_eq!(outcome["current"], NEWER);
    assert_eq!(outcome["previous"], old.as_str());

    // The same process (exec in place), now the new version, serving again.
    assert_eq!(d.pid(), pid);
    assert!(d.child.as_mut().unwrap().try_wait().unwrap().is_none());
    assert_eq!(daemon_version(&d), NEWER);
    let current = d.data().join("versions/current/qcity");
    let said = std::process::Command::new(&current)
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(text(&said.stdout).trim(), format!("qcity {NEWER}"));
    // The previous version is kept, complete: it runs.
    let prev = std::process::Command::new(d.data().join("versions/previous/qcity"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(text(&prev.stdout).trim(), format!("qcity {old}"));

    // Runners were paused (drained) before the switch, and each runs once again.
    each_runner_once_and_new(&names, &before);
    let paused = d.events("runner-state");
    for n in &names {
        assert!(
            paused
                .iter()
                .any(|e| e["runner"] == n.as_str() && e["state"]["state"] == "paused"),
            "{n} was drained"
        );
    }
    let steps = steps(&d);
    let at = |s: &str| steps.iter().position(|x| x == s).unwrap_or(usize::MAX);
    assert!(
        at("draining") < at("switched") && at("switched") < at("committed"),
        "{steps:?}"
    );
    // Audit rows, by whom.
    let audit = d.qcity(&["audit", "tail", "-n", "500", "--json"]);
    let rows: Vec<Value> = serde_json::from_slice(&audit.stdout).unwrap();
    let updates: Vec<&Value> = rows
        .iter()
        .filter(|r| {
            r["action"]
                .as_str()
                .unwrap_or_default()
                .starts_with("update.")
        })
        .collect();
    for (action, actor) in [
        ("update.draining", "master:cli"),
        ("update.switched", "master:cli"),
        ("update.committed", "engine"),
    ] {
        assert!(
            updates
                .iter()
                .any(|r| r["action"] == action && r["actor"] == actor && r["target"] == NEWER),
            "{action} by {actor}: {updates:?}"
        );
    }
    let verify = d.qcity(&["audit", "verify"]);
    assert!(verify.status.success(), "{}", text(&verify.stdout));

    // Up to date now; a manual rollback goes back to the kept version and refuses 99.0.0.
    let view = d.get_json("/update");
    assert_eq!(view["available"], Value::Null, "{view}");
    let out = d.qcity(&["update", "rollback"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(daemon_version(&d), old);
    let view = d.get_json("/update");
    assert_eq!(view["running"], old.as_str());
    assert_eq!(view["refused"][0]["version"], NEWER, "{view}");
    assert!(
        view["check_error"]
            .as_str()
            .unwrap_or_default()
            .contains("rolled back on this machine before"),
        "{view}"
    );
    // The CLI's check refuses it too, as the daemon does.
    let conf = d.conf();
    let out = d.qcity(&["update", "check", "--config", conf.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("rolled back on this machine before"),
        "{}",
        text(&out.stderr)
    );
    each_runner_once_and_new(&names, &before);
}

#[test]
fn a_new_version_that_fails_its_autotest_is_rolled_back_and_the_master_told() {
    let newer = std::fs::read(newer_binary()).unwrap();
    let names = vec![unique("updfail")];
    // The user's autotest fails under 99.0.0 (it asks the version that is current).
    let mut d = Daemon::new("{}");
    let check = format!(
        "case \"$({}/versions/current/qcity --version 2>/dev/null)\" in *{NEWER}*) exit 3;; esac",
        d.data().display()
    );
    std::fs::write(
        d.conf().join("runner_manifest.json"),
        manifest(&names, &check),
    )
    .unwrap();
    publish(
        &d.conf(),
        &newer,
        NEWER,
        NEWER,
        &keys(),
        serde_json::json!({"check_deadline_seconds": 8}),
    );
    d.spawn();
    let old = running();
    let pid = d.pid();

    let apply = d
        .qcity_command(&["update", "apply"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // While 99.0.0 is being checked, a second `qcity up` on the data dir is refused (exit 8)
    // and is not counted as a start of 99.0.0.
    let pending = d.data().join("versions/pending.json");
    wait_until("99.0.0 being checked", || {
        (daemon_version(&d) == NEWER && pending.exists()).then_some(())
    });
    let second = d.up_command().status().unwrap();
    assert_eq!(second.code(), Some(8));
    if let Ok(text) = std::fs::read(&pending) {
        let p: Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(p["tries"], 1, "{p}");
    }
    let out = apply.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains(&format!("{NEWER} was rolled back"))
            && text(&out.stdout).contains("autotest failed: task:smoke: exit 3"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(d.pid(), pid);
    assert_eq!(daemon_version(&d), old, "the old version serves");
    let view = d.get_json("/update");
    assert_eq!(view["running"], old.as_str());
    assert_eq!(view["current"], old.as_str());
    assert_eq!(view["last"]["step"], "rolled-back");
    assert_eq!(view["refused"][0]["version"], NEWER);
    assert_eq!(view["pending"], Value::Null);
    let escalations = d.events("escalation");
    assert!(
        escalations.iter().any(|e| e["reason"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("QCity {NEWER} was rolled back to {old}"))),
        "{escalations:?}"
    );
    assert!(steps(&d).contains(&"rolled-back".to_string()));
    wait_until("the runner back", || {
        (runner_processes(&names[0]).len() == 1).then_some(())
    });
    // Not offered again.
    refused_with(&d, "rolled back on this machine before");
}

#[test]
fn a_bad_signature_a_downgrade_or_a_closed_gate_is_refused_and_nothing_changes() {
    let newer = std::fs::read(newer_binary()).unwrap();
    let name = unique("updbad");
    let mut d = Daemon::new(&manifest(std::slice::from_ref(&name), "true"));
    // Signed by another key.
    let other = KeyPair::from_seed([9; 32], [9, 1, 2, 3, 4, 5, 6, 7]);
    publish(
        &d.conf(),
        &newer,
        NEWER,
        NEWER,
        &other,
        serde_json::json!({}),
    );
    d.spawn();
    let pid = wait_until("runner up", || runner_processes(&name).first().copied());
    let body = refused_with(&d, "signature");
    assert_eq!(body["code"], "update_refused");
    let unchanged = |d: &Daemon| {
        assert!(!d.data().join(format!("versions/{NEWER}")).exists());
        assert!(!d.data().join("versions/current").exists());
        assert!(!d.data().join("versions/pending.json").exists());
        assert_eq!(
            runner_processes(&name),
            vec![pid],
            "the runner was not touched"
        );
    };
    unchanged(&d);

    // Signed for an older version than it claims (a replayed file): refused at the check.
    publish(
        &d.conf(),
        &newer,
        NEWER,
        "0.0.1",
        &keys(),
        serde_json::json!({}),
    );
    refused_with(&d, "vouches for 0.0.1");
    unchanged(&d);

    // A downgrade (an old manifest replayed).
    publish(
        &d.conf(),
        &newer,
        "0.0.1",
        "0.0.1",
        &keys(),
        serde_json::json!({}),
    );
    refused_with(&d, "older than the running");
    unchanged(&d);

    // A good release, but the autotest fails: the gate stays closed, with the reason.
    let m = manifest(std::slice::from_ref(&name), "echo 'no network'; exit 1");
    std::fs::write(d.conf().join("runner_manifest.json"), m).unwrap();
    publish(
        &d.conf(),
        &newer,
        NEWER,
        NEWER,
        &keys(),
        serde_json::json!({}),
    );
    let reload = d.qcity(&["reload"]);
    assert!(reload.status.success(), "{}", text(&reload.stderr));
    assert_eq!(d.qcity(&["autotest"]).status.code(), Some(7));
    let (status, body) = d.post("/update/apply");
    assert_eq!(status, 409, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("the update waits") && message.contains("task:smoke"),
        "{body}"
    );
    let view = d.get_json("/update");
    assert_eq!(view["available"]["version"], NEWER);
    assert!(
        view["blocked_by"][0]
            .as_str()
            .unwrap_or_default()
            .contains("the latest autotest failed"),
        "{view}"
    );
    unchanged(&d);
    let refused: Vec<Value> = d
        .events("update")
        .into_iter()
        .filter(|e| e["step"] == "refused")
        .collect();
    assert_eq!(refused.len(), 4, "each refusal is an event: {refused:?}");
}

#[test]
fn a_release_that_cannot_start_is_rolled_back_after_its_tries() {
    // A "release" that dies at once, as a broken build would: signed and verified like any.
    let body = b"#!/bin/sh\necho 'qcity 99.0.0: cannot start' >&2\nexit 70\n".to_vec();
    let name = unique("updcrash");
    let mut d = daemon_with_release(
        &manifest(std::slice::from_ref(&name), "true"),
        &body,
        NEWER,
        NEWER,
    );
    let old = running();
    let (status, body) = d.post("/update/apply");
    assert_eq!(status, 202, "{body}");
    // The daemon exec'd the release, which exited 70: its first try.
    assert_eq!(d.wait_exit(), Some(70));
    let pending: Value =
        serde_json::from_slice(&std::fs::read(d.data().join("versions/pending.json")).unwrap())
            .unwrap();
    assert_eq!(pending["tries"], 1);
    // A service manager starts `qcity up` again (the old binary): tries 2 and 3 fail too.
    for _ in 0..2 {
        let status = d.up_command().status().unwrap();
        assert_eq!(status.code(), Some(70));
    }
    // The next start rolls back and runs the old version.
    d.spawn();
    assert_eq!(daemon_version(&d), old);
    let view = d.get_json("/update");
    assert_eq!(view["current"], old.as_str());
    assert_eq!(view["pending"], Value::Null);
    assert_eq!(view["refused"][0]["version"], NEWER);
    assert!(
        view["last"]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("did not pass its post-update check in 3 starts"),
        "{view}"
    );
    wait_until("the rollback told", || {
        d.events("escalation")
            .iter()
            .any(|e| {
                e["reason"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(&format!("QCity {NEWER} was rolled back"))
            })
            .then_some(())
    });
    wait_until("the runner back", || {
        (runner_processes(&name).len() == 1).then_some(())
    });
}

#[test]
fn killed_during_an_update_the_next_start_runs_one_complete_version() {
    let newer = std::fs::read(newer_binary()).unwrap();
    let name = unique("updkill");
    // A runner in a job for a while: the drain waits for it.
    let job = "echo \"$(date -u '+%F %TZ'): Listening for Jobs\"; echo \"$(date -u '+%F %TZ'): Running job: deploy\"; sleep 30";
    let m = serde_json::json!({
        "runners": [{"name": name, "kind": "github", "command": ["sh", "-c", job]}],
        "tasks": [{"name": "smoke", "command": ["true"], "autotest": true}],
    })
    .to_string();
    let mut d = daemon_with_release(&m, &newer, NEWER, NEWER);
    let old = running();
    wait_until("the job", || {
        (d.runner(&name)["activity"]["activity"] == "running-job").then_some(())
    });
    let apply = d
        .qcity_command(&["update", "apply", "--no-wait"])
        .spawn()
        .unwrap();
    wait_until("draining", || {
        (d.runner(&name)["state"]["state"] == "pausing").then_some(())
    });
    // kill -9 while the runner drains: nothing was switched.
    d.signal(libc::SIGKILL);
    d.wait_exit();
    let _ = apply.wait_with_output();
    for p in runner_processes(&name) {
        // SAFETY: plain syscall; the runner left by the killed daemon (the next start would
        // reconcile it too).
        unsafe { libc::kill(p as i32, libc::SIGKILL) };
    }
    d.spawn();
    assert_eq!(daemon_version(&d), old);
    let view = d.get_json("/update");
    assert_eq!(view["pending"], Value::Null);
    assert_ne!(view["current"], NEWER);
    // The verified download is kept whole beside it, never half-written.
    let kept = d.data().join(format!("versions/{NEWER}/qcity"));
    assert_eq!(std::fs::read(&kept).unwrap(), newer);

    // kill -9 right after the switch: the next start runs the new version and checks it.
    let m = serde_json::json!({
        "runners": [{"name": name, "command": ["sh", "-c", "exec sleep 300"]}],
        "tasks": [{"name": "smoke", "command": ["true"], "autotest": true}],
    })
    .to_string();
    std::fs::write(d.conf().join("runner_manifest.json"), m).unwrap();
    assert!(d.qcity(&["reload"]).status.success());
    let (status, body) = d.post("/update/apply");
    assert_eq!(status, 202, "{body}");
    d.signal(libc::SIGKILL);
    d.wait_exit();
    for p in runner_processes(&name) {
        // SAFETY: as above.
        unsafe { libc::kill(p as i32, libc::SIGKILL) };
    }
    d.spawn();
    wait_until("the new version committed", || {
        let v = d.get_json("/update");
        (v["last"]["step"] == "committed").then_some(())
    });
    assert_eq!(daemon_version(&d), NEWER);
    wait_until("the runner back", || {
        (runner_processes(&name).len() == 1).then_some(())
    });
}

#[test]
fn a_job_that_outlasts_the_drain_calls_the_update_off_and_resumes_the_runners() {
    let newer = std::fs::read(newer_binary()).unwrap();
    let (busy, idle) = (unique("updjob"), unique("updidle"));
    let job = "echo \"$(date -u '+%F %TZ'): Listening for Jobs\"; echo \"$(date -u '+%F %TZ'): Running job: nightly\"; exec sleep 300";
    let m = serde_json::json!({
        "runners": [
            {"name": busy, "kind": "github", "command": ["sh", "-c", job]},
            {"name": idle, "command": ["sh", "-c", "exec sleep 300"]},
        ],
        "tasks": [{"name": "smoke", "command": ["true"], "autotest": true}],
    })
    .to_string();
    let mut d = Daemon::new(&m);
    publish(
        &d.conf(),
        &newer,
        NEWER,
        NEWER,
        &keys(),
        serde_json::json!({"drain_timeout_seconds": 1}),
    );
    d.spawn();
    wait_until("the job", || {
        (d.runner(&busy)["activity"]["activity"] == "running-job").then_some(())
    });
    let job_pid = runner_processes(&busy);
    let (status, body) = d.post("/update/apply");
    assert_eq!(status, 409, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("{busy} (job nightly) still at work after 1 s"))
            && message.contains("the runners were resumed"),
        "{body}"
    );
    // The job was never interrupted; the idle runner was paused and runs again.
    assert_eq!(runner_processes(&busy), job_pid);
    wait_until("the idle runner resumed", || {
        (d.runner(&idle)["state"]["state"] == "running").then_some(())
    });
    assert_ne!(d.runner(&busy)["state"]["state"], "pausing");
    // The running version was kept to go back to; the new one is not current.
    assert_eq!(d.get_json("/update")["current"], running().as_str());
    assert!(!d.data().join("versions/pending.json").exists());
    assert!(steps(&d).contains(&"drain-timed-out".to_string()));
}

#[test]
fn as_a_service_the_daemon_exits_9_and_its_next_start_runs_the_new_version() {
    let newer = std::fs::read(newer_binary()).unwrap();
    let name = unique("updsvc");
    let mut d = Daemon::new(&manifest(std::slice::from_ref(&name), "true"));
    publish(
        &d.conf(),
        &newer,
        NEWER,
        NEWER,
        &keys(),
        serde_json::json!({}),
    );
    // What the unit `qcity service install` writes sets.
    d.env.push(("QCITY_SERVICE".into(), "systemd".into()));
    d.spawn();
    let (status, body) = d.post("/update/apply");
    assert_eq!(status, 202, "{body}");
    assert_eq!(d.wait_exit(), Some(9), "the exit code the unit restarts on");
    // The service manager starts the installed (old) binary again: it runs the new one.
    d.spawn();
    assert_eq!(daemon_version(&d), NEWER);
    wait_until("committed", || {
        (d.get_json("/update")["last"]["step"] == "committed").then_some(())
    });
    wait_until("the runner back", || {
        (runner_processes(&name).len() == 1).then_some(())
    });
}

#[test]
fn a_full_disk_refuses_the_update_with_the_reason_and_nothing_changes() {
    let newer = std::fs::read(newer_binary()).unwrap();
    let name = unique("updfull");
    let mut d = Daemon::new(&manifest(std::slice::from_ref(&name), "true"));
    // The versions live on a filesystem too small for the release.
    let Some(_unmount) = qcity_testkit::tmpfs(&d.data().join("versions"), "4m") else {
        return;
    };
    publish(
        &d.conf(),
        &newer,
        NEWER,
        NEWER,
        &keys(),
        serde_json::json!({}),
    );
    d.spawn();
    let pid = wait_until("runner up", || runner_processes(&name).first().copied());
    refused_with(&d, "No space left on device");
    assert!(!d.data().join("versions/current").exists());
    assert!(!d.data().join(format!("versions/{NEWER}")).exists());
    assert_eq!(
        runner_processes(&name),
        vec![pid],
        "the runner was not touched"
    );
    assert_eq!(d.get_json("/update")["running"], running().as_str());
}
