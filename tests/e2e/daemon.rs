//! A running daemon driven through the CLI and the API.

use crate::support::{Daemon, agent, alive, runner_processes, text, unique, wait_until, write};

pub fn manifest(runners: &[(&str, &str)]) -> String {
    manifest_with_grace(runners, 3000)
}

pub fn manifest_with_grace(runners: &[(&str, &str)], grace_ms: u64) -> String {
    let list: Vec<String> = runners
        .iter()
        .map(|(name, script)| {
            format!(
                r#"{{"name": "{name}", "command": ["sh", "-c", {}], "stop_grace_ms": {grace_ms}}}"#,
                serde_json::to_string(script).unwrap()
            )
        })
        .collect();
    format!("{{\"runners\": [{}]}}", list.join(",\n"))
}

#[test]
fn controls_logs_and_errors_through_the_cli() {
    let svc = unique("svc");
    let m = format!(
        r#"{{"runners": [
  {{"name": "{svc}", "command": ["sh", "-c", "echo started; exec sleep 300"]}},
  {{"name": "ghost", "command": ["/nonexistent/qcity-no-such-program"], "restart": {{"policy": "never"}}}}
]}}"#
    );
    let d = Daemon::start(&m);
    let first = d.wait_state(&svc, "running");
    let pid = first["pid"].as_u64().unwrap() as u32;

    // A program that does not exist is the runner's last exit; the engine goes on.
    let ghost = wait_until("ghost's spawn error", || {
        let r = d.runner("ghost");
        r["last_exit"]["error"].is_string().then_some(r)
    });
    assert!(
        ghost["last_exit"]["error"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/qcity-no-such-program"),
        "{ghost}"
    );
    let table = text(&d.qcity(&["status"]).stdout);
    assert!(table.contains("spawn failed"), "{table}");

    let out = d.qcity(&["stop", &svc]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), format!("{svc}: stopped"));
    assert!(!alive(pid), "stop returns after the process is gone");

    let out = d.qcity(&["start", &svc]);
    assert_eq!(text(&out.stdout).trim(), format!("{svc}: running"));
    let out = d.qcity(&["restart", &svc]);
    assert!(out.status.success());
    let after = d.runner(&svc);
    assert_ne!(after["pid"], first["pid"]);
    assert_eq!(after["restarts"], 2, "{after}");

    let logs = wait_until("output in the tail", || {
        let out = d.qcity(&["logs", &svc, "-n", "2"]);
        let t = text(&out.stdout);
        (t.lines().count() == 2).then_some(t)
    });
    assert_eq!(logs, "started\nstarted\n");

    for cmd in ["stop", "start", "restart", "logs"] {
        let out = d.qcity(&[cmd, "no-such-runner"]);
        assert_eq!(out.status.code(), Some(4), "{cmd}");
        assert_eq!(
            text(&out.stderr).trim(),
            "qcity: no runner named `no-such-runner`"
        );
    }
}

#[test]
fn the_api_refuses_requests_without_the_token() {
    let d = Daemon::start(&manifest(&[(&unique("quiet"), "exec sleep 300")]));
    let agent = agent();
    let base = d.api_base();
    assert!(
        base.starts_with("http://127.0.0.1:"),
        "loopback by default: {base}"
    );
    for auth in [
        None,
        Some("Bearer nope".to_string()),
        Some(format!("Basic {}", d.token())),
    ] {
        let mut req = agent.get(format!("{base}/runners"));
        if let Some(a) = &auth {
            req = req.header("Authorization", a);
        }
        let resp = req.call().unwrap();
        assert_eq!(resp.status().as_u16(), 401, "{auth:?}");
    }
    let resp = agent
        .get(format!("{base}/runners"))
        .header("Authorization", format!("Bearer {}", d.token()))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(d.data().join("token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn sigterm_stops_every_runner_and_the_daemon() {
    let name = unique("family");
    // The grandchild ignores SIGTERM: only the SIGKILL after the grace period ends it.
    let mut d = Daemon::start(&manifest_with_grace(
        &[(
            &name,
            "sh -c 'trap \"\" TERM; exec sleep 300' & exec sleep 301",
        )],
        500,
    ));
    d.wait_state(&name, "running");
    let procs = wait_until("runner and grandchild", || {
        let p = runner_processes(&name);
        (p.len() == 2).then_some(p)
    });
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(), Some(0));
    for pid in procs {
        assert!(!alive(pid), "pid {pid} survived the daemon's SIGTERM");
    }
    assert!(!d.data().join("daemon.json").exists());
}

#[test]
fn one_daemon_per_data_dir() {
    let d = Daemon::start(&manifest(&[(&unique("solo"), "exec sleep 300")]));
    let out = d.up_command().output().unwrap();
    assert_eq!(out.status.code(), Some(8));
    assert!(
        text(&out.stderr).contains("another qcity is already running"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(d.status().len(), 1, "the first daemon is untouched");
}

#[test]
fn reload_applies_a_diff_and_a_bad_config_keeps_the_last_good_one() {
    let (keep, gone, new) = (unique("keep"), unique("gone"), unique("new"));
    let mut d = Daemon::start(&manifest(&[
        (&keep, "exec sleep 300"),
        (&gone, "exec sleep 300"),
    ]));
    let keep_pid = d.wait_state(&keep, "running")["pid"].clone();
    d.wait_state(&gone, "running");
    let manifest_path = d.conf().join("runner_manifest.json");

    // A broken file: SIGHUP and `qcity reload` both refuse it; nothing changes.
    write(&manifest_path, "{\"runners\": [\n  {\"name\": 5}\n]}");
    d.signal(libc::SIGHUP);
    let out = d.qcity(&["reload"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(
        err.contains("runner_manifest.json:2:") && err.contains("runners[0].name"),
        "{err}"
    );
    assert!(
        err.contains("last good configuration keeps running"),
        "{err}"
    );
    assert_eq!(d.runner(&keep)["pid"], keep_pid);
    assert_eq!(d.status().len(), 2);

    write(
        &manifest_path,
        &manifest(&[(&keep, "exec sleep 300"), (&new, "exec sleep 300")]),
    );
    let out = d.qcity(&["reload"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains(&format!("added {new}")), "{said}");
    assert!(said.contains(&format!("removed {gone}")), "{said}");
    assert!(said.contains("1 unchanged"), "{said}");
    d.wait_state(&new, "running");
    let names: Vec<_> = d.status().iter().map(|r| r["name"].clone()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert_eq!(
        d.runner(&keep)["pid"],
        keep_pid,
        "unchanged runners are untouched"
    );
    assert!(runner_processes(&gone).is_empty());

    // SIGHUP applies a good file too.
    write(&manifest_path, &manifest(&[(&keep, "exec sleep 300")]));
    d.signal(libc::SIGHUP);
    wait_until("SIGHUP reload", || (d.status().len() == 1).then_some(()));
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(), Some(0));
}

#[test]
fn a_github_runner_shows_its_job_and_waits_for_registration() {
    // The fake listener prints exactly the lines of ../shared/facts/runners.md.
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/fake-github-runner.sh"
    );
    let name = unique("gh");
    let m = format!(
        r#"{{"runners": [{{"name": "{name}", "kind": "github", "command": ["sh", "{script}", "job-then-deleted"],
            "restart": {{"delay_ms": 50}}}}]}}"#
    );
    let d = Daemon::start(&m);
    let job = wait_until("the job in status", || {
        let t = text(&d.qcity(&["status"]).stdout);
        t.contains("running: running job build (ubuntu-latest)")
            .then_some(t)
    });
    assert!(job.contains(&name), "{job}");
    let r = d.wait_state(&name, "needs-registration");
    assert_eq!(r["restarts"], 0, "not restarted: {r}");
    let table = text(&d.qcity(&["status"]).stdout);
    assert!(
        table.contains("needs-registration (the runner's registration was deleted on GitHub)"),
        "{table}"
    );
    let out = d.qcity(&["start", &name]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn pause_and_resume_one_or_all() {
    let (a, b) = (unique("pa"), unique("pb"));
    let d = Daemon::start(&manifest(&[(&a, "exec sleep 300"), (&b, "exec sleep 300")]));
    d.wait_state(&a, "running");
    d.wait_state(&b, "running");
    let out = d.qcity(&["pause", "--all"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.contains(&format!("{a}: paused")) && said.contains(&format!("{b}: paused")),
        "{said}"
    );
    assert!(runner_processes(&a).is_empty() && runner_processes(&b).is_empty());
    let out = d.qcity(&["resume", &a]);
    assert_eq!(text(&out.stdout).trim(), format!("{a}: running"));
    assert_eq!(
        d.runner(&b)["state"]["state"],
        "paused",
        "the other stays paused"
    );
    assert_eq!(
        d.qcity(&["pause"]).status.code(),
        Some(2),
        "a name or --all is required"
    );
    assert_eq!(d.qcity(&["pause", &a, "--all"]).status.code(), Some(2));
}

#[test]
fn status_shows_health_and_why() {
    let name = unique("probed");
    // Port 1 on loopback: nothing listens there.
    let m = format!(
        r#"{{"runners": [{{"name": "{name}", "command": ["sh", "-c", "exec sleep 300"], "probes": [
            {{"name": "alive", "process": {{}}, "interval_ms": 100, "start_grace_ms": 0}},
            {{"name": "port", "tcp": {{"address": "127.0.0.1:1"}}, "interval_ms": 100,
              "failure_threshold": 1, "start_grace_ms": 0}}]}}]}}"#
    );
    let d = Daemon::start(&m);
    let r = wait_until("unhealthy", || {
        let r = d.runner(&name);
        (r["health"] == "unhealthy").then_some(r)
    });
    assert_eq!(r["probes"][0]["name"], "alive");
    assert_eq!(r["probes"][0]["state"], "passing");
    let table = text(&d.qcity(&["status"]).stdout);
    assert!(table.contains("HEALTH"), "{table}");
    assert!(table.contains("unhealthy (port: 127.0.0.1:1: "), "{table}");
}

#[test]
fn tasks_from_the_cli() {
    let m = r#"{"runners": [], "tasks": [
        {"name": "ok", "command": ["sh", "-c", "echo fine"], "autotest": true},
        {"name": "broken", "command": ["sh", "-c", "echo 'missing thing' >&2; exit 3"], "retries": 1, "retry_delay_ms": 100}
    ]}"#;
    let d = Daemon::start(m);
    let list = text(&d.qcity(&["task", "list"]).stdout);
    assert!(
        list.contains("ok") && list.contains("on demand") && list.contains("yes"),
        "{list}"
    );
    let out = d.qcity(&["task", "run", "ok"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("ok: attempt 1/1: exit 0"),
        "{}",
        text(&out.stdout)
    );
    let out = d.qcity(&["task", "run", "broken"]);
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out.stdout);
    assert!(
        said.contains("attempt 1/2: exit 3") && said.contains("attempt 2/2: exit 3"),
        "{said}"
    );
    assert!(
        text(&out.stderr).contains("| missing thing"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(d.qcity(&["task", "run", "nope"]).status.code(), Some(4));
}

#[test]
fn autotest_runs_probes_resources_and_autotest_tasks() {
    let name = unique("at");
    let m = format!(
        r#"{{"runners": [{{"name": "{name}", "command": ["sh", "-c", "exec sleep 300"],
            "probes": [{{"name": "alive", "process": {{}}}}]}}],
          "tasks": [{{"name": "smoke", "command": ["sh", "-c", "test -f ready"], "autotest": true}},
                    {{"name": "not-in-autotest", "command": ["false"]}}]}}"#
    );
    let d = Daemon::start(&m);
    d.wait_state(&name, "running");
    let out = d.qcity(&["autotest"]);
    let table = text(&out.stdout);
    assert_eq!(out.status.code(), Some(7), "{table}");
    assert!(table.contains(&format!("probe:{name}/alive")), "{table}");
    assert!(
        table.contains("resource:memory") && table.contains("resource:disk:"),
        "{table}"
    );
    assert!(
        table.contains("task:smoke") && table.contains("FAIL"),
        "{table}"
    );
    assert!(!table.contains("not-in-autotest"), "{table}");
    assert!(
        text(&out.stderr).contains("autotest failed: 1 of"),
        "{}",
        text(&out.stderr)
    );

    write(&d.conf().join("ready"), "");
    let out = d.qcity(&["autotest", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["passed"], true);

    // The latest report is kept for the API.
    let latest = d.get_json("/autotest/latest");
    assert_eq!(latest["started_ms"], report["started_ms"]);
}

/// Runs the CLI with `input` on its standard input.
fn qcity_with_input(d: &Daemon, args: &[&str], input: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = d
        .qcity_command(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn users_from_the_cli_log_in_to_the_api() {
    let d = Daemon::start(r#"{"runners": []}"#);
    let login = |user: &str, password: &str| -> (u16, String) {
        let agent = agent();
        let mut resp = agent
            .post(format!("{}/auth/login", d.api_base()))
            .send_json(serde_json::json!({"user": user, "password": password}))
            .unwrap();
        (
            resp.status().as_u16(),
            resp.body_mut().read_to_string().unwrap(),
        )
    };
    let out = qcity_with_input(&d, &["user", "add", "bob"], "short\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("at least 8 characters"),
        "{}",
        text(&out.stderr)
    );

    let out = qcity_with_input(&d, &["user", "add", "bob"], "bob-password\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "bob: viewer (its sessions ended)");
    let out = qcity_with_input(&d, &["user", "passwd"], "master-password\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let list: serde_json::Value =
        serde_json::from_slice(&d.qcity(&["user", "list", "--json"]).stdout).unwrap();
    let roles: Vec<(String, String)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["name"].as_str().unwrap().into(),
                u["role"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        roles,
        [
            ("bob".into(), "viewer".into()),
            ("master".into(), "master".into())
        ]
    );

    let (status, body) = login("bob", "bob-password");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"role\":\"viewer\""), "{body}");
    let (status, body) = login("master", "master-password");
    assert!(
        status == 200 && body.contains("\"role\":\"master\""),
        "{body}"
    );
    assert_eq!(login("bob", "bob-passwort").0, 401);

    assert!(d.qcity(&["user", "remove", "bob"]).status.success());
    assert_eq!(
        login("bob", "bob-password").0,
        401,
        "a removed user cannot log in"
    );
    let out = d.qcity(&["audit", "tail", "-n", "100", "--json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    // The detail is the JSON it holds, not a string of JSON.
    let saved = rows
        .iter()
        .find(|r| r["action"] == "auth.user-saved")
        .unwrap();
    assert!(saved["detail"].is_object(), "{saved}");
    for action in [
        "auth.user-saved",
        "auth.login",
        "auth.login-failed",
        "auth.user-removed",
    ] {
        assert!(
            rows.iter().any(|r| r["action"] == action),
            "{action} missing from the audit log"
        );
    }
    for entry in std::fs::read_dir(d.data()).unwrap().flatten() {
        let raw = std::fs::read(entry.path()).unwrap_or_default();
        assert!(
            !raw.windows(12).any(|w| w == b"bob-password"),
            "a password in {}",
            entry.path().display()
        );
    }
}

#[test]
fn qi_list_shows_the_ranked_builds_and_the_gate() {
    let d = Daemon::start(r#"{"runners": []}"#);
    let sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    std::fs::write(
        d.conf().join("releases.json"),
        format!(
            r#"{{"app": "QI", "versions": [{{"version": "1.4.0", "assets": [
                {{"os": "windows", "arch": "x86_64", "format": "msi", "url": "qi.msi", "size": 1, "sha256": "{sha}", "signature": "RWQ"}},
                {{"os": "linux", "arch": "x86_64", "format": "tar.gz", "url": "qi.tgz", "size": 1, "sha256": "{sha}", "signature": "RWQ"}}]}}]}}"#
        ),
    )
    .unwrap();
    std::fs::write(
        d.conf().join("qcity-device-config.json"),
        // Free disk and memory limits at 0, so the autotest cannot fail on this machine's load.
        r#"{"api": {"port": 0}, "supervisor": {"stop_grace_ms": 3000},
            "platforms": {"enabled": false},
            "resources": {"min_free_disk_mb": 0, "min_free_memory_mb": 0},
            "installer": {"manifest": "releases.json", "public_key": "RWRxaXNhbXBsZfCbCc3gVWvh5fra1zXoEIkaz4NElCvyU8AAMk0E5UV4"}}"#,
    )
    .unwrap();
    assert!(d.qcity(&["reload"]).status.success());
    let out = d.qcity(&["qi", "list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    for want in [
        "release: QI 1.4.0",
        "install: blocked",
        "no autotest has run yet",
        "built for Windows, this device runs Linux",
    ] {
        assert!(said.contains(want), "{want:?} missing in:\n{said}");
    }
    let autotest = d.qcity(&["autotest"]);
    assert!(autotest.status.success(), "{}", text(&autotest.stdout));
    let said = text(&d.qcity(&["qi", "list"]).stdout);
    assert!(
        said.contains("install: allowed") && !said.contains("no autotest has run yet"),
        "the gate opens once the autotest passed:\n{said}"
    );
}

/// A data dir an older version (or another tool) left open to others: at start every file is
/// narrowed to its owner, the token (which may have been read) is replaced, and what the
/// daemon writes from then on is private too (issue 16 #8).
#[test]
fn a_data_dir_left_readable_by_others_is_narrowed_and_its_token_replaced() {
    use std::os::unix::fs::PermissionsExt;
    let name = unique("svc");
    let mut d = Daemon::start(&manifest(&[(&name, "echo some output; exec sleep 300")]));
    d.wait_state(&name, "running");
    let old_token = d.token();
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(), Some(0));
    // Widen everything, as a 0755 data dir with 0644 files would be.
    let mut stack = vec![d.data()];
    while let Some(p) = stack.pop() {
        let dir = p.is_dir();
        let mode = if dir { 0o755 } else { 0o644 };
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        if dir {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        }
    }
    d.spawn();
    d.wait_state(&name, "running");
    assert_ne!(
        d.token(),
        old_token,
        "the token others could read was replaced"
    );
    assert_eq!(d.status().len(), 1, "the CLI reads the new token");
    let mut open = Vec::new();
    let mut stack = vec![d.data()];
    while let Some(p) = stack.pop() {
        let meta = std::fs::symlink_metadata(&p).unwrap();
        if meta.permissions().mode() & 0o077 != 0 {
            open.push(format!(
                "{} {:o}",
                p.display(),
                meta.permissions().mode() & 0o777
            ));
        }
        if meta.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        }
    }
    assert!(open.is_empty(), "readable by others: {open:#?}");
}
