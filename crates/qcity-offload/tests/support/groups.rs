//! The process groups of jobs run on the test "host": killing what is left of one, and
//! whether any of it still lives.

/// SIGKILLs what is left of a job's group on the "host" (a test that fails or a lost
/// connection leaves it). A marker in the command does not find it all: a shell `exec`s its
/// last command, and `sleep 1000` carries no marker.
pub fn kill_group(pgid: i32) {
    // SAFETY: kill(2) has no memory preconditions.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
}

/// Whether a live process is in group `pgid`, read from /proc. A zombie is not alive: its
/// parent may be an init that does not reap orphans.
pub fn group_alive(pgid: i32) -> bool {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .any(|stat| {
            // `pid (comm) state ppid pgrp ...`: comm may hold spaces, so read after the last `)`.
            let mut rest = stat
                .rsplit_once(')')
                .map_or("", |(_, r)| r)
                .split_whitespace();
            let state = rest.next();
            let pgrp = rest.nth(1).and_then(|p| p.parse::<i32>().ok());
            pgrp == Some(pgid) && !matches!(state, Some("Z" | "X"))
        })
}
