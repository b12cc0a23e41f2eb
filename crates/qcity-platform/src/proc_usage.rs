//! What process groups cost: resident memory and CPU time, summed over every process of each
//! group asked about and over their descendants that left it, from one pass over
//! `/proc/*/stat` for all the groups together.
//!
//! One file per process is read (`stat` carries utime, stime and the resident set), so a
//! sample costs O(processes on the machine), whatever the number of groups. The buffers are
//! kept in the [`Scanner`] between samples.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

/// One process group's cost at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupUsage {
    /// utime + stime of every member, in clock ticks ([`ticks_per_second`]).
    pub cpu_ticks: u64,
    /// Resident set of every member, in bytes.
    pub rss_bytes: u64,
    /// Members found (0: the group is gone).
    pub processes: u32,
    /// Start of the group's leader (pid = pgid), in ticks after boot, while it lives: with
    /// the pgid, identifies the group across pid reuse.
    pub leader_start_ticks: Option<u64>,
}

/// The fields of `/proc/PID/stat` a usage sample needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Row {
    pid: u32,
    ppid: u32,
    pgid: u32,
    cpu_ticks: u64,
    start_ticks: u64,
    rss_pages: u64,
}

/// Reusable buffers for [`Scanner::groups`].
#[derive(Debug, Default)]
pub struct Scanner {
    text: String,
    rows: Vec<Row>,
    /// pid → index of the group it counts for.
    owner: HashMap<u32, usize>,
}

/// Descendants are followed this many generations below a group's members at most.
const MAX_DEPTH: usize = 32;

impl Scanner {
    /// The usage of each group of `pgids` (same order), read under `proc_root`. A process
    /// counts for a group when it is a member (its pgid) or descends from a member (it
    /// moved to a group or session of its own). Empty `pgids`: nothing is read.
    pub fn groups(&mut self, proc_root: &Path, pgids: &[u32]) -> Vec<GroupUsage> {
        let mut out = vec![GroupUsage::default(); pgids.len()];
        if pgids.is_empty() {
            return out;
        }
        self.read_rows(proc_root);
        self.owner.clear();
        for r in &self.rows {
            if let Some(g) = pgids.iter().position(|&p| p == r.pgid) {
                self.owner.insert(r.pid, g);
            }
        }
        // Children usually come after their parents in pid order, so one pass mostly does;
        // more passes catch the rest (pid wrap-around, deeper trees).
        for _ in 0..MAX_DEPTH {
            let mut added = false;
            for r in &self.rows {
                if !self.owner.contains_key(&r.pid)
                    && let Some(&g) = self.owner.get(&r.ppid)
                {
                    self.owner.insert(r.pid, g);
                    added = true;
                }
            }
            if !added {
                break;
            }
        }
        let page = page_size();
        for r in &self.rows {
            let Some(&g) = self.owner.get(&r.pid) else {
                continue;
            };
            let u = &mut out[g];
            u.cpu_ticks += r.cpu_ticks;
            u.rss_bytes += r.rss_pages * page;
            u.processes += 1;
            if r.pid == pgids[g] {
                u.leader_start_ticks = Some(r.start_ticks);
            }
        }
        out
    }

    fn read_rows(&mut self, proc_root: &Path) {
        self.rows.clear();
        let Ok(dir) = std::fs::read_dir(proc_root) else {
            return;
        };
        for entry in dir.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            self.text.clear();
            let read = std::fs::File::open(entry.path().join("stat"))
                .and_then(|mut f| f.read_to_string(&mut self.text));
            // A process that ended between the listing and the read is simply not counted.
            if read.is_ok()
                && let Some(row) = parse_row(&self.text).filter(|r| r.pid == pid)
            {
                self.rows.push(row);
            }
        }
    }
}

/// Parses `/proc/PID/stat` for a usage sample.
fn parse_row(text: &str) -> Option<Row> {
    // The command name (field 2) is in parentheses and may itself contain spaces or ')'.
    let close = text.rfind(')')?;
    let pid = text[..text.find('(')?].trim().parse().ok()?;
    // Field N (1-based) is the (N - 3)th after the name.
    let mut fields = text[close + 1..].split_whitespace();
    let mut nth = |skip: usize| -> Option<u64> { fields.nth(skip)?.parse().ok() };
    let ppid = nth(1)?; // field 4
    let pgid = nth(0)?; // 5
    let utime = nth(8)?; // 14
    let stime = nth(0)?; // 15
    let start_ticks = nth(6)?; // 22
    let rss_pages = nth(1)?; // 24
    Some(Row {
        pid,
        ppid: u32::try_from(ppid).ok()?,
        pgid: u32::try_from(pgid).ok()?,
        cpu_ticks: utime + stime,
        start_ticks,
        rss_pages,
    })
}

/// Seconds since boot (`/proc/uptime`), in clock ticks; `None` where it cannot be read.
pub fn uptime_ticks(proc_root: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(proc_root.join("uptime")).ok()?;
    let secs: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some((secs * ticks_per_second() as f64) as u64)
}

/// Clock ticks per second, the unit of `/proc`'s CPU times (`sysconf(_SC_CLK_TCK)`).
pub fn ticks_per_second() -> u64 {
    #[cfg(unix)]
    {
        // SAFETY: sysconf reads a constant of the system.
        let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if n > 0 {
            return n as u64;
        }
    }
    100
}

/// Bytes per page, the unit of `/proc`'s resident set (`sysconf(_SC_PAGESIZE)`).
pub fn page_size() -> u64 {
    #[cfg(unix)]
    {
        // SAFETY: sysconf reads a constant of the system.
        let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if n > 0 {
            return n as u64;
        }
    }
    4096
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `stat` line: pid, name, ppid, pgid, utime, stime, start, rss (pages).
    fn stat(pid: u32, name: &str, ppid: u32, pgid: u32, times: (u64, u64), rss: u64) -> String {
        let (utime, stime) = times;
        format!(
            "{pid} ({name}) S {ppid} {pgid} {pgid} 34816 {pgid} 4194560 120 0 0 0 \
             {utime} {stime} 0 0 20 0 1 0 {start} 2273280 {rss} 18446744073709551615 1 1 0 0 0 0 \
             0 0 0 0 0 0 17 1 0 0 0 0 0\n",
            start = 1000 + pid
        )
    }

    #[test]
    fn parses_the_fields_of_a_stat_line() {
        let row = parse_row(&stat(42, "my (odd) prog", 7, 40, (150, 25), 321)).unwrap();
        assert_eq!(
            row,
            Row {
                pid: 42,
                ppid: 7,
                pgid: 40,
                cpu_ticks: 175,
                start_ticks: 1042,
                rss_pages: 321
            }
        );
        assert_eq!(parse_row("42 (cut short) S 1 40 40 0"), None);
        assert_eq!(parse_row(""), None);
    }

    #[test]
    fn sums_each_group_with_the_descendants_that_left_it() {
        let dir = tempfile::tempdir().unwrap();
        let proc = |pid: u32, ppid: u32, pgid: u32, times: (u64, u64), rss: u64| {
            std::fs::create_dir_all(dir.path().join(pid.to_string())).unwrap();
            let line = stat(pid, "sh", ppid, pgid, times, rss);
            std::fs::write(dir.path().join(pid.to_string()).join("stat"), line).unwrap();
        };
        proc(1, 0, 1, (5, 5), 100); // init: nobody's
        proc(100, 1, 100, (10, 5), 10); // group 100's leader
        proc(101, 100, 100, (20, 0), 20); // its child
        proc(90, 101, 90, (1, 1), 1000); // a grandchild in a session of its own (pid wrapped)
        proc(91, 90, 90, (2, 0), 1); // and its child
        proc(201, 1, 200, (7, 0), 7); // group 200, its leader gone: members only
        proc(202, 1, 200, (0, 3), 3);
        std::fs::create_dir_all(dir.path().join("self")).unwrap();
        let mut s = Scanner::default();
        let page = page_size();
        let got = s.groups(dir.path(), &[100, 200, 300]);
        assert_eq!(
            got[0],
            GroupUsage {
                cpu_ticks: 15 + 20 + 2 + 2,
                rss_bytes: (10 + 20 + 1000 + 1) * page,
                processes: 4,
                leader_start_ticks: Some(1100),
            }
        );
        assert_eq!(
            (
                got[1].cpu_ticks,
                got[1].processes,
                got[1].leader_start_ticks
            ),
            (10, 2, None)
        );
        assert_eq!(got[2], GroupUsage::default(), "a group with no process");
        // The buffers are reused: a second sample gives the same answer.
        assert_eq!(s.groups(dir.path(), &[100, 200, 300]), got);
        assert!(s.groups(dir.path(), &[]).is_empty());
        assert_eq!(
            s.groups(&dir.path().join("absent"), &[100]),
            [GroupUsage::default()]
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_process_group() {
        // SAFETY: getpgrp has no preconditions.
        let pgid = unsafe { libc::getpgrp() } as u32;
        let mut s = Scanner::default();
        let u = s.groups(Path::new("/proc"), &[pgid])[0];
        assert!(u.processes >= 1 && u.rss_bytes > 1024 * 1024, "{u:?}");
        assert!(uptime_ticks(Path::new("/proc")).is_some_and(|t| t > 0));
        assert!(ticks_per_second() > 0);
    }
}
