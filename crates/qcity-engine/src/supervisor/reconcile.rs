//! Start-up reconciliation: processes left by a previous engine instance on the same data
//! directory (killed with SIGKILL, or crashed) are found and terminated before any runner is
//! started, so a runner is never duplicated and nothing is orphaned.
//!
//! Terminate, not adopt: a left-over runner's stdout is a pipe whose reader died with the old
//! engine, so it would die of SIGPIPE at its next line anyway, its output could not be
//! captured, and its exit status could not be collected (it is no longer our child).
//!
//! Two sources: the store's process ledger (pid, pgid, and the start time that guards against
//! pid reuse), and a scan of `/proc/*/environ` for the instance marker every runner inherits,
//! which also finds processes the ledger never heard of (started in the last milliseconds
//! before the crash, or grandchildren that left the runner's process group).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use qcity_platform::proc;
use qcity_store::{LedgerOp, Store, StoreError};

use crate::supervisor::marker::{self, RUNNER_ENV};
use crate::supervisor::process;

/// A left-over process that was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    pub runner: Option<String>,
    pub pid: u32,
    pub pgid: u32,
    pub found_by: &'static str,
    /// Whether SIGKILL was needed after the grace period.
    pub killed: bool,
}

/// Finds and terminates left-overs; clears the ledger.
pub fn reconcile(
    store: &mut Store,
    proc_root: &Path,
    instance: &str,
    grace: Duration,
) -> Result<Vec<Leftover>, StoreError> {
    let ledger = store.processes()?;
    let mut found: BTreeMap<u32, Leftover> = BTreeMap::new();
    for rec in &ledger {
        let Some(st) = proc::stat(proc_root, rec.pid) else {
            continue;
        };
        let same = rec.start_ticks == 0 || st.start_ticks == rec.start_ticks;
        if same && st.state != 'Z' {
            found.insert(
                rec.pid,
                leftover(Some(rec.runner.clone()), rec.pid, st.pgid, "store"),
            );
        }
    }
    let ours = marker::instance(instance);
    for pid in proc::pids_with_env(proc_root, &ours) {
        if found.contains_key(&pid) {
            continue;
        }
        let Some(st) = proc::stat(proc_root, pid) else {
            continue;
        };
        if st.state != 'Z' {
            let runner = runner_of(proc_root, pid);
            found.insert(pid, leftover(runner, pid, st.pgid, "environment"));
        }
    }
    terminate(proc_root, &mut found, grace);
    let gone: Vec<LedgerOp> = ledger
        .into_iter()
        .map(|r| LedgerOp::Gone {
            runner: r.runner,
            pid: r.pid,
        })
        .collect();
    store.write_batch(&[], &gone)?;
    Ok(found.into_values().collect())
}

fn leftover(runner: Option<String>, pid: u32, pgid: u32, found_by: &'static str) -> Leftover {
    Leftover {
        runner,
        pid,
        pgid,
        found_by,
        killed: false,
    }
}

fn runner_of(proc_root: &Path, pid: u32) -> Option<String> {
    let env = std::fs::read(proc_root.join(pid.to_string()).join("environ")).ok()?;
    env.split(|&b| b == 0)
        .find_map(|kv| kv.strip_prefix(format!("{RUNNER_ENV}=").as_bytes()))
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// SIGTERM to every group and process, SIGKILL to what is left after `grace`.
fn terminate(proc_root: &Path, found: &mut BTreeMap<u32, Leftover>, grace: Duration) {
    if found.is_empty() {
        return;
    }
    let signal_all = |found: &BTreeMap<u32, Leftover>, sig| {
        for l in found.values() {
            let _ = process::signal_group(l.pgid, sig);
            let _ = process::signal_pid(l.pid, sig);
        }
    };
    let alive = |found: &BTreeMap<u32, Leftover>| {
        found.values().any(|l| {
            process::group_alive(l.pgid)
                || proc::stat(proc_root, l.pid).is_some_and(|s| s.state != 'Z')
        })
    };
    signal_all(found, libc::SIGTERM);
    let deadline = Instant::now() + grace;
    while alive(found) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if alive(found) {
        for l in found.values_mut() {
            l.killed = true;
        }
        signal_all(found, libc::SIGKILL);
        let hard = Instant::now() + Duration::from_secs(5);
        while alive(found) && Instant::now() < hard {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
