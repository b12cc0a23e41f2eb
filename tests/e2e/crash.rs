//! `kill -9` of the daemon: the next one finds what the old one left and nothing is duplicated
//! or orphaned.

use std::collections::BTreeSet;

use crate::daemon::manifest;
use crate::support::{Daemon, alive, runner_processes, unique, wait_until};

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
