//! Process-tree operations on Linux: signalling groups, reaping. (Reading `/proc` is
//! `qcity_platform::proc`.)

use std::io;
use std::os::fd::OwnedFd;

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
