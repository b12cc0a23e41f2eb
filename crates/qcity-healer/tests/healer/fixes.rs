//! The built-in fixes on real failures: a missing command installed, a refused connection
//! waited out, an outdated runner updated, a runner killed for memory restarted with less
//! concurrency.

use std::time::Duration;

use qcity_config::HealSpec;
use qcity_testkit::*;
use qcity_types::{EventKind, HealStep, RunnerState};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_command_is_installed_and_the_runner_comes_back() {
    let tmp = tempfile::tempdir().unwrap();
    let tools = tmp.path().join("tools");
    std::fs::create_dir_all(&tools).unwrap();
    let install = format!(
        "printf '#!/bin/sh\\necho qi-tool up\\nexec sleep 30\\n' > {0}/qi-tool && chmod +x {0}/qi-tool",
        tools.display()
    );
    let mut r = healing(
        "needs-tool",
        "exec qi-tool",
        HealSpec {
            install_command: vec!["sh".into(), "-c".into(), install],
            ..HealSpec::default()
        },
    );
    r.env
        .insert("PATH".into(), format!("{}:/usr/bin:/bin", tools.display()));
    let mut h = Healing::start(vec![r]).await;
    wait_step(&mut h, "needs-tool", HealStep::Validated, 0).await;
    let s = steps(&h, "needs-tool");
    assert_eq!(s[0].0, HealStep::Diagnosed);
    assert!(
        s[0].2.contains("exit 127") && s[0].2.contains("fixes: missing-dependency"),
        "{s:?}"
    );
    assert_eq!(
        (s[1].0, s[1].1.as_str()),
        (HealStep::Applying, "missing-dependency")
    );
    assert!(s[1].2.starts_with("run sh -c printf"), "{s:?}");
    assert_eq!(s[2].0, HealStep::Validated, "{s:?}");
    assert!(tools.join("qi-tool").exists());
    let pid = h.wait_running("needs-tool").await;
    assert!(alive(pid));
    assert_eq!(
        outcomes(&h, &signature_of(&h, "needs-tool")),
        [("missing-dependency".to_string(), 1, 1)]
    );
    let plan = tokio::task::block_in_place(|| h.healer.plan("needs-tool")).unwrap();
    assert_eq!(plan.would, "nothing: the runner is not failing");
    let top = tokio::task::block_in_place(|| h.healer.signatures(10)).unwrap();
    let sig = top
        .iter()
        .find(|s| s.key == signature_of(&h, "needs-tool"))
        .unwrap();
    assert_eq!((sig.exit.as_str(), sig.count), ("exit 127", 1));
    assert_eq!(sig.trend.iter().map(|t| t.1).sum::<u64>(), 1);
    assert_eq!(
        (sig.fixes[0].rule.as_str(), sig.fixes[0].successes),
        ("missing-dependency", 1)
    );
    // Every step is in the audit log.
    let published = h.engine.bus().next_id() - 1;
    h.engine.wait_durable(published).await;
    let audit = h.engine.audit_tail(1000).unwrap();
    let heal_rows = audit
        .iter()
        .filter(|r| r.action == "heal" && r.target == "needs-tool")
        .count();
    assert!(heal_rows >= 3, "{heal_rows} heal rows in the audit log");
    h.engine.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_waits_for_the_network_then_restarts() {
    let port = free_port();
    let script =
        format!("exec 3<>/dev/tcp/127.0.0.1/{port} || exit 1; echo connected; exec sleep 30");
    let mut r = healing(
        "net",
        "",
        HealSpec {
            network_check: Some(format!("127.0.0.1:{port}")),
            ..HealSpec::default()
        },
    );
    r.command = vec!["bash".into(), "-c".into(), script];
    let mut h = Healing::start(vec![r]).await;
    wait_step(&mut h, "net", HealStep::Applying, 0).await;
    let s = steps(&h, "net");
    assert!(s[0].2.contains("Connection refused"), "{s:?}");
    assert_eq!(s[1].1, "network-down");
    assert_eq!(s[1].2, format!("wait for 127.0.0.1:{port}, then restart"));
    // The network comes back a moment later.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    std::thread::spawn(move || for _conn in listener.incoming() {});
    wait_step(&mut h, "net", HealStep::Validated, 0).await;
    assert!(matches!(
        h.engine.status()[0].state,
        RunnerState::Running { .. }
    ));
    h.engine.shutdown("test").await;
}

/// Without `heal.network_check` the healer waits for the address the failing line names
/// (bash's `/dev/tcp/HOST/PORT: Connection refused`), then restarts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_waits_for_the_address_in_the_failing_line() {
    let port = free_port();
    let script =
        format!("exec 3<>/dev/tcp/127.0.0.1/{port} || exit 1; echo connected; exec sleep 30");
    let mut r = healing("net2", "", HealSpec::default());
    r.command = vec!["bash".into(), "-c".into(), script];
    let mut h = Healing::start(vec![r]).await;
    wait_step(&mut h, "net2", HealStep::Applying, 0).await;
    let s = steps(&h, "net2");
    assert!(s[0].2.contains("Connection refused"), "{s:?}");
    assert_eq!(s[1].1, "network-down");
    assert_eq!(s[1].2, format!("wait for 127.0.0.1:{port}, then restart"));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        !steps(&h, "net2").iter().any(|s| s.0 == HealStep::Validated),
        "it waits while nothing answers"
    );
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    std::thread::spawn(move || for _conn in listener.incoming() {});
    wait_step(&mut h, "net2", HealStep::Validated, 0).await;
    let pid = h.wait_running("net2").await;
    assert!(alive(pid));
    h.engine.shutdown("test").await;
}

/// A runner that says it is outdated is updated with `heal.update_command` and restarted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outdated_runner_is_updated_and_comes_back() {
    let mut h = Healing::start(vec![]).await;
    let work = h.path("work");
    std::fs::create_dir_all(&work).unwrap();
    let mut r = healing(
        "old",
        "[ -f updated ] || { echo 'Runner version 2.300.0 is outdated and must be updated'; exit 1; }; echo \"up at $(cat updated)\"; exec sleep 30",
        HealSpec {
            update_command: vec!["sh".into(), "-c".into(), "echo 2.320.0 > updated".into()],
            ..HealSpec::default()
        },
    );
    r.working_dir = Some(work.clone());
    let cfg = config(&h.path("config"), vec![r]);
    write_manifest(&h.path("config"), &cfg);
    h.engine.reload("test").await.unwrap();

    wait_step(&mut h, "old", HealStep::Validated, 0).await;
    let s = steps(&h, "old");
    assert_eq!(s[0].0, HealStep::Diagnosed);
    assert!(
        s[0].2.contains("exit 1") && s[0].2.contains("fixes: outdated-runner"),
        "{s:?}"
    );
    assert_eq!(
        (s[1].0, s[1].1.as_str()),
        (HealStep::Applying, "outdated-runner")
    );
    assert_eq!(s[1].2, "run sh -c echo 2.320.0 > updated, then restart");
    assert_eq!(
        (s[2].0, s[2].1.as_str()),
        (HealStep::Validated, "outdated-runner")
    );
    assert_eq!(
        std::fs::read_to_string(work.join("updated")).unwrap(),
        "2.320.0\n"
    );
    let pid = h.wait_running("old").await;
    assert!(alive(pid));
    let sig = signature_of(&h, "old");
    assert_eq!(outcomes(&h, &sig), [("outdated-runner".to_string(), 1, 1)]);
    let top = tokio::task::block_in_place(|| h.healer.signatures(10)).unwrap();
    let row = top.iter().find(|s| s.key == sig).unwrap();
    assert!(
        row.templates.iter().any(|t| t.contains("is outdated")),
        "{row:?}"
    );
    let rows = audit_heal_rows(&h, "old").await;
    for step in ["diagnosed", "applying", "validated"] {
        assert!(
            rows.iter()
                .any(|r| r.detail.contains(step) && r.detail.contains(&sig)),
            "no {step} row in {rows:#?}"
        );
    }
    h.engine.shutdown("test").await;
}

/// A real SIGKILL (what the OOM killer sends): the runner is restarted with
/// `heal.low_memory_env` in its environment; killed again within the hour after that fix
/// worked, it is escalated rather than restarted by the healer once more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_killed_for_memory_restarts_with_less_concurrency_and_escalates_on_repeat() {
    let r = healing(
        "oom",
        "echo building; exec sleep 30",
        HealSpec {
            // Not MAKEFLAGS: under `make test` the runner would inherit make's own.
            low_memory_env: [("QCITY_TEST_JOBS".to_string(), "1".to_string())].into(),
            ..HealSpec::default()
        },
    );
    let mut h = Healing::start(vec![r]).await;
    let first = h.wait_running("oom").await;
    assert!(
        !environ(first)
            .await
            .iter()
            .any(|v| v.starts_with("QCITY_TEST_JOBS="))
    );
    // SAFETY: a plain kill(2) of the runner this test started.
    assert_eq!(unsafe { libc::kill(first as i32, libc::SIGKILL) }, 0);
    wait_step(&mut h, "oom", HealStep::Validated, 0).await;
    let s = steps(&h, "oom");
    assert!(
        s[0].2.starts_with("signal 9") && s[0].2.contains("fixes: oom-killed"),
        "{s:?}"
    );
    assert_eq!(
        (s[1].0, s[1].1.as_str()),
        (HealStep::Applying, "oom-killed")
    );
    assert_eq!(s[1].2, "set QCITY_TEST_JOBS=1, then restart");
    assert_eq!(s[2].0, HealStep::Validated, "{s:?}");
    let second = h.wait_running("oom").await;
    assert_ne!(second, first);
    let env = environ(second).await;
    assert!(env.iter().any(|v| v == "QCITY_TEST_JOBS=1"), "{env:?}");
    let sig = signature_of(&h, "oom");
    assert_eq!(outcomes(&h, &sig), [("oom-killed".to_string(), 1, 1)]);

    // Killed again: the same signature, escalated, no second fix.
    let killed_at = h.engine.bus().next_id();
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(second as i32, libc::SIGKILL) }, 0);
    wait_step(&mut h, "oom", HealStep::Escalated, 0).await;
    let s = steps(&h, "oom");
    let again: Vec<_> = s.iter().skip(3).collect();
    assert_eq!(again[0].0, HealStep::Diagnosed, "{s:?}");
    assert!(
        again[0]
            .2
            .contains("came back after: oom-killed: it worked 1×"),
        "{s:?}"
    );
    assert!(!again.iter().any(|s| s.0 == HealStep::Applying), "{s:?}");
    assert!(
        h.seen
            .iter()
            .all(|e| !matches!(&e.kind, EventKind::Heal { signature, .. } if *signature != sig)),
        "one signature for both kills"
    );
    let (_, reason, advice) = wait_escalation(&mut h, "oom").await;
    assert!(reason.contains("signal 9"), "{reason}");
    assert!(advice.contains("oom-killed: it worked 1×"), "{advice}");
    assert_eq!(outcomes(&h, &sig), [("oom-killed".to_string(), 1, 1)]);
    // The restart policy brings it back, still with less concurrency.
    let third = wait_new_run(&mut h, "oom", killed_at).await;
    assert_ne!(third, second);
    let env = environ(third).await;
    assert!(env.iter().any(|v| v == "QCITY_TEST_JOBS=1"), "{env:?}");
    let rows = audit_heal_rows(&h, "oom").await;
    for step in ["diagnosed", "applying", "validated", "escalated"] {
        assert!(
            rows.iter().any(|r| r.detail.contains(step)),
            "no {step} row in {rows:#?}"
        );
    }
    h.engine.shutdown("test").await;
}
