//! Removing a lock file only when it is provably stale. A lock that a process still holds
//! protects work in progress (git's `index.lock` while a commit is written); deleting it
//! corrupts the repository. So: no process may have the file open, no process may be working
//! inside the repository it guards, and it must be older than [`MIN_AGE`] (a lock just taken
//! may not be open yet). Anything less and the healer escalates instead.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A lock younger than this is not called stale.
pub const MIN_AGE: Duration = Duration::from_secs(10);

/// Why a lock was not removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    Missing,
    NotALock,
    Outside,
    HeldBy(u32, String),
    WorkingIn(u32, String),
    TooYoung(u64),
    Io(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Missing => f.write_str("the lock is gone already"),
            Refused::NotALock => f.write_str("not a `*.lock` file"),
            Refused::Outside => f.write_str("outside the runner's working dir"),
            Refused::HeldBy(pid, name) => write!(f, "process {pid} ({name}) has it open"),
            Refused::WorkingIn(pid, name) => {
                write!(f, "process {pid} ({name}) works in its repository")
            }
            Refused::TooYoung(s) => write!(f, "it is only {s} s old"),
            Refused::Io(e) => f.write_str(e),
        }
    }
}

/// The lock a line names: git's `Unable to create '/repo/.git/index.lock': File exists.`,
/// or any quoted or bare path ending in `.lock`.
pub fn named_lock(line: &str) -> Option<PathBuf> {
    let quoted = line
        .split(['\'', '"', '`'])
        .skip(1)
        .step_by(2)
        .find(|p| p.ends_with(".lock"));
    let bare = || {
        line.split_whitespace()
            .map(|w| w.trim_end_matches([':', ',', '.', ';']))
            .find(|w| w.ends_with(".lock") && w.contains('/'))
    };
    quoted.or_else(bare).map(PathBuf::from)
}

/// Removes `lock` (relative to `cwd` when relative) if it is stale and inside `cwd`.
pub fn remove(cwd: &Path, lock: &Path) -> Result<String, Refused> {
    let path = cwd.join(lock);
    if path.extension().is_none_or(|e| e != "lock") {
        return Err(Refused::NotALock);
    }
    let meta = std::fs::symlink_metadata(&path).map_err(|_| Refused::Missing)?;
    if !meta.is_file() {
        return Err(Refused::NotALock);
    }
    let (Ok(real), Ok(root)) = (path.canonicalize(), cwd.canonicalize()) else {
        return Err(Refused::Missing);
    };
    if !real.starts_with(&root) {
        return Err(Refused::Outside);
    }
    let age = meta
        .modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .unwrap_or_default();
    if age < MIN_AGE {
        return Err(Refused::TooYoung(age.as_secs()));
    }
    // The repository the lock guards: the parent of its `.git`, else its own directory.
    let dir = real.parent().unwrap_or(&root);
    let repo = dir
        .ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == ".git"))
        .and_then(Path::parent)
        .unwrap_or(dir);
    check_processes(&real, repo)?;
    std::fs::remove_file(&real).map_err(|e| Refused::Io(e.to_string()))?;
    Ok(format!(
        "removed {} (stale: {} s old, no process holds it or works in {})",
        real.display(),
        age.as_secs(),
        repo.display()
    ))
}

/// Refuses when a process has `lock` open, or has its working dir inside `repo`.
fn check_processes(lock: &Path, repo: &Path) -> Result<(), Refused> {
    let me = std::process::id();
    let procs = std::fs::read_dir("/proc").map_err(|e| Refused::Io(e.to_string()))?;
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let name = || {
            std::fs::read_to_string(entry.path().join("comm"))
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        };
        if let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) {
            for fd in fds.flatten() {
                if std::fs::read_link(fd.path()).is_ok_and(|t| t == lock) {
                    return Err(Refused::HeldBy(pid, name()));
                }
            }
        }
        if std::fs::read_link(entry.path().join("cwd")).is_ok_and(|c| c.starts_with(repo)) {
            return Err(Refused::WorkingIn(pid, name()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn age(path: &Path, secs: u64) {
        let old = SystemTime::now() - Duration::from_secs(secs);
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(old)
            .unwrap();
    }

    #[test]
    fn the_lock_a_git_line_names() {
        assert_eq!(
            named_lock("fatal: Unable to create '/w/r/.git/index.lock': File exists."),
            Some(PathBuf::from("/w/r/.git/index.lock"))
        );
        assert_eq!(
            named_lock("error: lock file /w/r/.git/refs/heads/main.lock exists."),
            Some(PathBuf::from("/w/r/.git/refs/heads/main.lock"))
        );
        assert_eq!(named_lock("fatal: not a git repository"), None);
    }

    #[test]
    fn a_lock_held_open_by_a_process_is_refused_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let git = dir.path().join("repo/.git");
        std::fs::create_dir_all(&git).unwrap();
        let lock = git.join("index.lock");
        std::fs::write(&lock, "").unwrap();
        age(&lock, 60);
        // A real process holding the lock open, working elsewhere.
        let mut holder = std::process::Command::new("sh")
            .args(["-c", "exec 3<\"$1\"; exec sleep 30", "sh"])
            .arg(&lock)
            .current_dir("/")
            .spawn()
            .unwrap();
        let pid = holder.id();
        let fd3 = PathBuf::from(format!("/proc/{pid}/fd/3"));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::fs::read_link(&fd3).is_err() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let r = remove(dir.path(), Path::new("repo/.git/index.lock"));
        holder.kill().unwrap();
        holder.wait().unwrap();
        assert!(matches!(r, Err(Refused::HeldBy(p, _)) if p == pid), "{r:?}");
        assert!(lock.exists(), "the lock is kept");
        // No one holds it now: it goes.
        let said = remove(dir.path(), Path::new("repo/.git/index.lock")).unwrap();
        assert!(said.contains("stale"), "{said}");
        assert!(!lock.exists());
    }

    #[test]
    fn a_young_lock_one_outside_or_not_a_lock_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("x.lock");
        std::fs::write(&lock, "").unwrap();
        assert!(matches!(
            remove(dir.path(), Path::new("x.lock")),
            Err(Refused::TooYoung(_))
        ));
        let other = tempfile::tempdir().unwrap();
        let outside = other.path().join("y.lock");
        std::fs::write(&outside, "").unwrap();
        age(&outside, 60);
        assert_eq!(remove(dir.path(), &outside), Err(Refused::Outside));
        std::fs::write(dir.path().join("data"), "").unwrap();
        assert_eq!(
            remove(dir.path(), Path::new("data")),
            Err(Refused::NotALock)
        );
        assert!(outside.exists() && lock.exists());
    }
}
