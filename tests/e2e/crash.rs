//! `kill -9` of the daemon: the next one finds what the old one left and nothing is duplicated
//! or orphaned.

use std::collections::BTreeSet;

use crate::daemon::manifest;
use crate::support::{
    Daemon, alive, runner_processes, task_processes, text, unique, wait_until, write,
};

#[test]
fn kill_9_then_restart_leaves_no_duplicate_and_no_orphan() {
    let names: Vec<String> = (0..5).map(|_| unique("r")).collect();
    // Each runner is a leader with a grandchild in its group.
    let runners: Vec<(&str, &str)> = names
        .iter()
        .map(|n| (n.as_str(), "sleep 300 & exec sleep 301"))
        .collect();
    let mut d = Daemon::start(&manifest(&runners));
    let mut old = BTreeSet::new();
    for name in &names {
        d.wait_state(name, "running");
        let procs = wait_until("leader and grandchild", || {
            let p = runner_processes(name);
            (p.len() == 2).then_some(p)
        });
        old.extend(procs);
    }

    d.signal(libc::SIGKILL);
    assert_eq!(d.wait_exit(), None, "killed by a signal");
    assert!(
        old.iter().all(|&pid| alive(pid)),
        "the runners outlive a kill -9 of the daemon"
    );

    d.spawn();
    for name in &names {
        d.wait_state(name, "running");
    }
    for name in &names {
        let now = wait_until("exactly one generation of each runner", || {
            let p = runner_processes(name);
            (p.len() == 2 && p.iter().all(|pid| !old.contains(pid))).then_some(p)
        });
        let leader = d.runner(name)["pid"].as_u64().unwrap() as u32;
        assert!(now.contains(&leader), "{name}: {now:?} vs leader {leader}");
    }
    let survivors: Vec<_> = old.iter().filter(|&&pid| alive(pid)).collect();
    assert!(survivors.is_empty(), "orphans left running: {survivors:?}");

    // Each termination is an event the master can read.
    let out = d.qcity(&["audit", "tail", "-n", "1000", "--json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let reconciled = rows.iter().filter(|r| r["action"] == "reconciled").count();
    assert!(reconciled >= names.len(), "{reconciled} reconciled rows");
}

/// Whether another process holds the `flock` on `path`.
fn locked(path: &std::path::Path) -> bool {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(path).unwrap();
    // SAFETY: flock on a descriptor we own; closing it releases what we took.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) != 0 }
}

#[test]
fn a_task_run_keeps_its_lock_through_a_kill_9_until_the_next_start_ends_it() {
    let name = unique("t");
    let m = format!(
        r#"{{"runners": [], "tasks": [{{"name": "{name}",
            "command": ["sh", "-c", "if [ -f slow ]; then exec sleep 300; fi; echo quick"]}}]}}"#
    );
    let mut d = Daemon::start(&m);
    write(&d.conf().join("slow"), "");
    // `qcity task run` waits for the run to end: it runs in the background.
    let mut cli = d
        .qcity_command(&["task", "run", &name])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = wait_until("the task's process", || {
        task_processes(&name).first().copied()
    });
    let lock = d.data().join("tasks").join(format!("{name}.lock"));
    assert!(locked(&lock), "a run holds its task's lock");

    d.signal(libc::SIGKILL);
    assert_eq!(d.wait_exit(), None, "killed by a signal");
    let _ = cli.wait();
    assert!(alive(pid), "the run outlives a kill -9 of the daemon");
    assert!(
        locked(&lock),
        "the orphaned run still holds the lock: nothing may start the task again"
    );

    std::fs::remove_file(d.conf().join("slow")).unwrap();
    d.spawn();
    wait_until("the orphaned run is terminated", || {
        (!alive(pid)).then_some(())
    });
    assert!(!locked(&lock), "its end frees the lock");
    let out = d.qcity(&["task", "run", &name]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("attempt 1/1: exit 0"),
        "{}",
        text(&out.stdout)
    );
}

/// A runner's process that left its group (`setsid`) is still the runner's: a stop ends it,
/// and so does stopping the daemon (issue 16 #6).
#[test]
fn a_stop_ends_the_processes_that_left_the_runners_group() {
    let a = unique("escapes");
    let b = unique("escapes");
    let script = "setsid sleep 600 & exec sleep 601";
    let mut d = Daemon::start(&manifest(&[(&a, script), (&b, script)]));
    for name in [&a, &b] {
        d.wait_state(name, "running");
    }
    let both = |name: &str| {
        wait_until("the runner and its escaped child", || {
            let p = runner_processes(name);
            (p.len() == 2).then_some(p)
        })
    };
    let (procs_a, procs_b) = (both(&a), both(&b));
    let out = d.qcity(&["stop", &a]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    wait_until("every process of the stopped runner gone", || {
        procs_a.iter().all(|&p| !alive(p)).then_some(())
    });
    assert!(
        procs_b.iter().all(|&p| alive(p)),
        "the other runner is untouched"
    );
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(), Some(0));
    assert!(
        procs_b.iter().all(|&p| !alive(p)),
        "stopping the daemon ended the escaped child too: {:?}",
        runner_processes(&b)
    );
}
