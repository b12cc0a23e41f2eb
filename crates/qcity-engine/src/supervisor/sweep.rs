//! Ends the processes a runner started that left its process group (their own `setsid`, a
//! daemonizing script): they are found by the markers every runner's process carries in its
//! environment (`QCITY_INSTANCE`, `QCITY_RUNNER`), as the reconcile at start finds what a
//! killed engine left. A stop of one runner sweeps that runner; the engine's shutdown sweeps
//! the whole instance once, after every runner stopped (one pass over /proc, not two hundred).

use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;

use crate::supervisor::process;

/// SIGTERM to every process whose environment holds all of `markers`, then SIGKILL to those
/// left at `deadline`. Returns how many there were.
pub async fn end_marked(proc_root: &Path, markers: &[String], deadline: Instant) -> usize {
    let needles: Vec<&str> = markers.iter().map(String::as_str).collect();
    let find = || qcity_platform::proc::pids_with_all_env(proc_root, &needles);
    let found = find();
    if found.is_empty() {
        return 0;
    }
    tracing::info!(markers = ?markers, pids = ?found, "ending processes that left their runner's group");
    for &pid in &found {
        let _ = process::signal_pid(pid, libc::SIGTERM);
    }
    loop {
        let left = find();
        if left.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            for pid in left {
                let _ = process::signal_pid(pid, libc::SIGKILL);
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    found.len()
}
