//! What each runner's processes use, like `pm2 monit`: CPU and resident memory of its process
//! group and their descendants, sampled on the resource monitor's tick (`resources.rs`) and
//! kept in the status table, which the API, `qcity status` and `/metrics` read. No events:
//! usage changes all the time.
//!
//! One sample reads `/proc/*/stat` once for every runner together (`qcity_platform::proc_usage`).
//! CPU is the group's CPU ticks since the previous sample over the wall time between them, in
//! percent of one core; a group's first sample averages over its leader's life instead.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use qcity_platform::proc_usage::{GroupUsage, Scanner, ticks_per_second, uptime_ticks};
use qcity_types::RunnerUsage;

use crate::status::StatusTable;

/// The previous sample of one process group.
#[derive(Debug, Clone, Copy)]
struct Previous {
    leader_start_ticks: Option<u64>,
    cpu_ticks: u64,
    at: Instant,
}

/// Samples the runners' usage; keeps what the next sample's CPU figure needs.
#[derive(Debug)]
pub struct UsageSampler {
    proc_root: PathBuf,
    scanner: Scanner,
    /// By pgid.
    previous: HashMap<u32, Previous>,
    ticks_per_second: f64,
}

impl UsageSampler {
    pub fn new(proc_root: PathBuf) -> UsageSampler {
        UsageSampler {
            proc_root,
            scanner: Scanner::default(),
            previous: HashMap::new(),
            ticks_per_second: ticks_per_second() as f64,
        }
    }

    /// Samples every runner with a live process group and records it in `status`.
    pub fn sample(&mut self, status: &StatusTable) {
        let groups = status.process_groups();
        if groups.is_empty() && self.previous.is_empty() {
            return;
        }
        let pgids: Vec<u32> = groups.iter().map(|(_, pgid)| *pgid).collect();
        let read = self.scanner.groups(&self.proc_root, &pgids);
        let now = Instant::now();
        let mut uptime = None;
        let mut samples = Vec::with_capacity(groups.len());
        for ((runner, pgid), u) in groups.into_iter().zip(read) {
            let usage = (u.processes > 0).then(|| RunnerUsage {
                cpu_percent: self.cpu_percent(pgid, &u, now, &mut uptime),
                memory_bytes: u.rss_bytes,
                processes: u.processes,
            });
            self.previous.insert(
                pgid,
                Previous {
                    leader_start_ticks: u.leader_start_ticks,
                    cpu_ticks: u.cpu_ticks,
                    at: now,
                },
            );
            samples.push((runner, pgid, usage));
        }
        self.previous.retain(|pgid, _| pgids.contains(pgid));
        status.set_usage(samples);
    }

    /// Percent of one core used since the group's previous sample (the same leader), or
    /// over its leader's life when there is none. `uptime` is read once per sample, if needed.
    fn cpu_percent(
        &self,
        pgid: u32,
        u: &GroupUsage,
        now: Instant,
        uptime: &mut Option<Option<u64>>,
    ) -> f64 {
        let seconds = |ticks: u64| ticks as f64 / self.ticks_per_second;
        let (used, over) = match self.previous.get(&pgid) {
            Some(p) if p.leader_start_ticks == u.leader_start_ticks => (
                u.cpu_ticks.saturating_sub(p.cpu_ticks),
                now.duration_since(p.at).as_secs_f64(),
            ),
            _ => {
                let up = *uptime.get_or_insert_with(|| uptime_ticks(&self.proc_root));
                match (up, u.leader_start_ticks) {
                    (Some(up), Some(start)) => (u.cpu_ticks, seconds(up.saturating_sub(start))),
                    _ => (0, 0.0),
                }
            }
        };
        if over <= 0.0 {
            return 0.0;
        }
        // One decimal: the ticks are centiseconds, more would be noise.
        (seconds(used) / over * 1000.0).round() / 10.0
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::os::unix::process::CommandExt;
    use std::process::{Child, Command};
    use std::time::Duration;

    use qcity_types::RunnerState;

    use super::*;

    /// `script` under `sh` in a process group of its own, as a runner's; the group is killed
    /// when dropped.
    struct Group(Child);

    impl Group {
        fn new(script: &str) -> Group {
            let child = Command::new("sh")
                .args(["-c", script])
                .process_group(0)
                .spawn()
                .unwrap();
            Group(child)
        }
    }

    impl Drop for Group {
        fn drop(&mut self) {
            // SAFETY: signals the test's own process group.
            unsafe { libc::kill(-(self.0.id() as i32), libc::SIGKILL) };
            let _ = self.0.wait();
        }
    }

    fn running(status: &StatusTable, name: &str, group: &Group) {
        let pid = group.0.id();
        let state = RunnerState::Running {
            pid,
            pgid: pid,
            since_ms: 0,
        };
        status.set_state(name, state);
    }

    fn usage(status: &StatusTable, name: &str) -> Option<RunnerUsage> {
        status.snapshot_of(name)?.usage
    }

    #[test]
    fn samples_each_runners_group_and_its_children() {
        let burner = Group::new("while :; do :; done");
        let idle = Group::new("sleep 300 & sleep 300; wait");
        let status = StatusTable::default();
        running(&status, "burner", &burner);
        running(&status, "idle", &idle);
        status.set_state("stopped", RunnerState::Stopped);
        let mut sampler = UsageSampler::new(PathBuf::from("/proc"));
        let deadline = Instant::now() + Duration::from_secs(20);
        let (b, i) = loop {
            std::thread::sleep(Duration::from_millis(300));
            sampler.sample(&status);
            let (b, i) = (usage(&status, "burner"), usage(&status, "idle"));
            let (b, i) = (b.unwrap(), i.unwrap());
            if (b.cpu_percent > 50.0 && i.processes == 3) || Instant::now() > deadline {
                break (b, i);
            }
        };
        assert!(b.cpu_percent > 50.0 && i.cpu_percent < 10.0, "{b:?} {i:?}");
        assert_eq!(i.processes, 3, "sh and its two sleeps: {i:?}");
        assert!(b.memory_bytes > 0 && b.processes == 1, "{b:?}");
        assert_eq!(usage(&status, "stopped"), None);

        // A runner that stops has no usage; a group that is gone has none either.
        status.set_state("burner", RunnerState::Stopped);
        assert_eq!(usage(&status, "burner"), None);
        drop((burner, idle));
        let deadline = Instant::now() + Duration::from_secs(20);
        while usage(&status, "idle").is_some() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            sampler.sample(&status);
        }
        assert_eq!(usage(&status, "idle"), None);
    }
}
