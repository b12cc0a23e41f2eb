//! What the kernel says about memory: its count of OOM kills (`oom_kill` in `/proc/vmstat`,
//! Linux 4.13+). A runner killed by SIGKILL a moment after that count rose was most likely
//! the kernel's victim; one killed while it stayed put was killed by someone else (a user,
//! a timeout's `-s KILL`), which the output alone often cannot tell apart.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// An OOM kill this recent counts as evidence for a SIGKILL.
pub const RECENT: Duration = Duration::from_secs(60);

/// The count of OOM kills in a `/proc/vmstat` text.
pub fn parse(vmstat: &str) -> Option<u64> {
    vmstat
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|n| n.trim().parse().ok())
}

/// Watches the kernel's OOM-kill count: (last count seen, when it last rose).
pub struct OomWatch {
    seen: Mutex<Option<(u64, Option<Instant>)>>,
}

/// The process's watch (the kernel's count is one for the machine).
pub static OOM: OomWatch = OomWatch {
    seen: Mutex::new(None),
};

impl OomWatch {
    /// Takes a reading; the first one is the baseline (kills before the healer started are
    /// not this failure's).
    pub fn observe(&self, count: Option<u64>) -> Option<Instant> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let count = count?;
        match *seen {
            None => *seen = Some((count, None)),
            Some((last, _)) if count > last => *seen = Some((count, Some(Instant::now()))),
            Some(_) => {}
        }
        seen.and_then(|s| s.1)
    }

    /// Whether the kernel killed a process for memory within [`RECENT`].
    pub fn recent_kill(&self) -> bool {
        let count = std::fs::read_to_string("/proc/vmstat")
            .ok()
            .and_then(|t| parse(&t));
        self.observe(count).is_some_and(|at| at.elapsed() < RECENT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_is_read_and_a_rise_after_the_baseline_is_recent() {
        assert_eq!(parse("pgfault 10\noom_kill 51\nfoo 1\n"), Some(51));
        assert_eq!(parse("pgfault 10\n"), None);
        let w = OomWatch {
            seen: Mutex::new(None),
        };
        assert!(w.observe(Some(51)).is_none(), "the baseline is not a kill");
        assert!(w.observe(Some(51)).is_none());
        assert!(w.observe(Some(52)).is_some_and(|t| t.elapsed() < RECENT));
        assert!(w.observe(Some(52)).is_some(), "still recent");
        assert!(w.observe(None).is_none(), "unreadable: no evidence");
    }
}
