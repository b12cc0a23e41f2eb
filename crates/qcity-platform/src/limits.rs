//! This process's resource limits, as the kernel enforces them.

/// The soft limit on open files (`RLIMIT_NOFILE`): the descriptors this process may hold at
/// once. `None` where it cannot be read or is unlimited.
pub fn open_files() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we own.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0
            || lim.rlim_cur == libc::RLIM_INFINITY
        {
            return None;
        }
        // rlim_t is u64 on Linux, not on every unix.
        #[allow(clippy::unnecessary_cast)]
        Some(lim.rlim_cur as u64)
    }
    #[cfg(not(unix))]
    None
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(unix)]
    fn reads_the_limit_the_shell_reports() {
        let out = std::process::Command::new("sh")
            .args(["-c", "ulimit -n"])
            .output()
            .unwrap();
        let shell = String::from_utf8(out.stdout).unwrap();
        let expected = shell.trim().parse::<u64>().ok();
        assert_eq!(super::open_files(), expected);
    }
}
