//! Process-tree operations on Linux: signalling groups, reaping, reading `/proc`.

use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

/// How a process ended, from `waitpid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitStatus {
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

impl ExitStatus {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// Reaps `pid` if it has exited (`WNOHANG`); `Ok(None)` while it still runs.
pub fn try_reap(pid: u32) -> io::Result<Option<ExitStatus>> {
    reap(pid, libc::WNOHANG)
}

/// Blocks until `pid` exits and reaps it.
pub fn reap_blocking(pid: u32) -> io::Result<ExitStatus> {
    loop {
        match reap(pid, 0) {
            Ok(Some(st)) => return Ok(st),
            Ok(None) => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

fn reap(pid: u32, flags: libc::c_int) -> io::Result<Option<ExitStatus>> {
    let mut status: libc::c_int = 0;
    // SAFETY: status is a valid out pointer.
    let rc = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, flags) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    if rc == 0 {
        return Ok(None);
    }
    Ok(Some(if libc::WIFEXITED(status) {
        ExitStatus {
            code: Some(libc::WEXITSTATUS(status)),
            signal: None,
        }
    } else {
        ExitStatus {
            code: None,
            signal: Some(libc::WTERMSIG(status)),
        }
    }))
}

/// Sends `sig` to every process of group `pgid`. `Ok(false)` when the group is empty.
pub fn signal_group(pgid: u32, sig: libc::c_int) -> io::Result<bool> {
    // A negative pid addresses the process group.
    kill(-(pgid as libc::pid_t), sig)
}

/// Whether any process of group `pgid` is still alive (zombies of a reaped leader aside).
pub fn group_alive(pgid: u32) -> bool {
    matches!(signal_group(pgid, 0), Ok(true))
}

/// Registers an owned descriptor with the tokio reactor.
pub fn async_fd(fd: OwnedFd) -> io::Result<tokio::io::unix::AsyncFd<OwnedFd>> {
    // SAFETY: an OwnedFd stays open and names the same file until the AsyncFd drops it.
    unsafe { tokio::io::unix::AsyncFd::register(fd) }.map_err(io::Error::from)
}

/// Sends `sig` to one process. `Ok(false)` when it no longer exists.
pub fn signal_pid(pid: u32, sig: libc::c_int) -> io::Result<bool> {
    kill(pid as libc::pid_t, sig)
}

/// Whether process `pid` exists (signal 0; a process of another user counts).
pub fn pid_alive(pid: u32) -> bool {
    match signal_pid(pid, 0) {
        Ok(alive) => alive,
        Err(e) => e.raw_os_error() == Some(libc::EPERM),
    }
}

fn kill(target: libc::pid_t, sig: libc::c_int) -> io::Result<bool> {
    // SAFETY: plain syscall.
    if unsafe { libc::kill(target, sig) } == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::ESRCH) => Ok(false),
        _ => Err(err),
    }
}

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

/// Pids of live processes whose environment holds `needle` (e.g. `QCITY_INSTANCE=ab12`).
/// Processes of other users are skipped (their environ is unreadable).
pub fn pids_with_env(proc_root: &Path, needle: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir(proc_root) else {
        return Vec::new();
    };
    let own = std::process::id();
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != own)
        .filter(|&pid| {
            std::fs::read(proc_root.join(pid.to_string()).join("environ"))
                .map(|env| env.split(|&b| b == 0).any(|kv| kv == needle.as_bytes()))
                .unwrap_or(false)
        })
        .collect()
}

/// Raises the soft open-files limit to the hard limit: each runner holds a pipe, a pidfd
/// and a log file, so 200 runners need more than the common soft limit of 1024.
pub fn raise_nofile_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: lim is a valid out pointer, and then a valid in pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Puts every standard signal back to its default disposition, in a child between fork and
/// exec (async-signal-safe: only `signal`). Whatever the engine ignores (SIGPIPE, or SIGINT
/// and SIGQUIT when a shell started it in the background) its children must not.
pub fn reset_signal_dispositions() {
    for sig in 1..32 {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            // SAFETY: `signal` is async-signal-safe; SIG_DFL is valid for every signal here.
            unsafe { libc::signal(sig, libc::SIG_DFL) };
        }
    }
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
    }

    #[test]
    fn reads_own_stat() {
        let st = stat(Path::new("/proc"), std::process::id()).unwrap();
        assert_eq!(st.pid, std::process::id());
        assert!(st.start_ticks > 0);
    }
}
