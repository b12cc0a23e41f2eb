//! Processes as `/proc` shows them: `/proc/PID/stat` and `/proc/PID/environ`.
//!
//! Each function takes the proc root (`/proc`) so tests can point it elsewhere; where there
//! is no procfs the answers are `None` and empty.

use std::path::Path;

/// What `/proc/PID/stat` says of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    pub pid: u32,
    pub state: char,
    pub ppid: u32,
    pub pgid: u32,
    /// Start time in clock ticks after boot (field 22): with the pid, identifies a process
    /// across pid reuse.
    pub start_ticks: u64,
}

/// Reads `/proc/PID/stat` under `proc_root`; `None` when the process is gone.
pub fn stat(proc_root: &Path, pid: u32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(proc_root.join(pid.to_string()).join("stat")).ok()?;
    parse_stat(&text)
}

fn parse_stat(text: &str) -> Option<ProcStat> {
    // The command name (field 2) is in parentheses and may itself contain spaces or ')'.
    let close = text.rfind(')')?;
    let pid = text[..text.find('(')?].trim().parse().ok()?;
    let rest: Vec<&str> = text[close + 1..].split_whitespace().collect();
    // rest[0] is field 3 (state); field N is rest[N - 3].
    Some(ProcStat {
        pid,
        state: rest.first()?.chars().next()?,
        ppid: rest.get(1)?.parse().ok()?,
        pgid: rest.get(2)?.parse().ok()?,
        start_ticks: rest.get(19)?.parse().ok()?,
    })
}

/// Pids of live processes whose environment holds `needle` (e.g. `QCITY_INSTANCE=ab12`),
/// this process aside. Processes of other users are skipped (their environ is unreadable).
pub fn pids_with_env(proc_root: &Path, needle: &str) -> Vec<u32> {
    pids_with_all_env(proc_root, &[needle])
}

/// Processes under `proc_root` whose environment holds every one of `needles`
/// (`NAME=value`), this process excepted.
pub fn pids_with_all_env(proc_root: &Path, needles: &[&str]) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir(proc_root) else {
        return Vec::new();
    };
    let own = std::process::id();
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != own)
        .filter(|&pid| {
            std::fs::read(proc_root.join(pid.to_string()).join("environ"))
                .map(|env| {
                    needles
                        .iter()
                        .all(|n| env.split(|&b| b == 0).any(|kv| kv == n.as_bytes()))
                })
                .unwrap_or(false)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_command_names() {
        let line =
            "4242 (my (odd) prog) S 1 4242 4242 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 987654 0 0";
        let st = parse_stat(line).unwrap();
        assert_eq!(
            (st.pid, st.state, st.ppid, st.pgid, st.start_ticks),
            (4242, 'S', 1, 4242, 987654)
        );
        assert_eq!(parse_stat("4242 (cut short) S 1"), None);
    }

    #[test]
    fn finds_processes_by_an_environment_entry_under_a_root() {
        let dir = tempfile::tempdir().unwrap();
        let proc = |pid: &str, environ: &[u8]| {
            std::fs::create_dir_all(dir.path().join(pid)).unwrap();
            std::fs::write(dir.path().join(pid).join("environ"), environ).unwrap();
        };
        proc("10", b"HOME=/root\0QCITY_INSTANCE=ab12\0");
        proc("11", b"QCITY_INSTANCE=ab123\0");
        proc("self", b"QCITY_INSTANCE=ab12\0");
        assert_eq!(pids_with_env(dir.path(), "QCITY_INSTANCE=ab12"), [10]);
        assert!(pids_with_env(&dir.path().join("absent"), "X=1").is_empty());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_own_stat() {
        let st = stat(Path::new("/proc"), std::process::id()).unwrap();
        assert_eq!(st.pid, std::process::id());
        assert!(st.start_ticks > 0);
    }
}
