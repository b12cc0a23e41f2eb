//! A real git refusing to work because of a leftover `index.lock`: the healer removes the lock
//! only when it is provably stale, and refuses (escalating, the lock kept) while a process
//! holds it open.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use qcity_config::HealSpec;
use qcity_testkit::*;
use qcity_types::HealStep;

use crate::support::*;

/// A git repository in `dir` with one file to add, and its `index.lock` left behind a minute
/// ago (older than the healer's minimum age for a stale lock).
fn repo_with_lock(dir: &Path) -> PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(&repo)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
    };
    git(&["init", "-q"]);
    std::fs::write(repo.join("a.txt"), "a\n").unwrap();
    let lock = repo.join(".git/index.lock");
    std::fs::write(&lock, "").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&lock)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(60))
        .unwrap();
    lock
}

/// A runner that stages a file (git takes the index lock for it), then stays up.
async fn start(dir: &Path) -> Healing {
    let mut r = healing(
        "stager",
        "cd repo && git add a.txt && echo staged && exec sleep 30",
        HealSpec::default(),
    );
    r.working_dir = Some(dir.to_path_buf());
    Healing::start(vec![r]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_git_lock_is_removed_and_the_runner_comes_back() {
    let tmp = tempfile::tempdir().unwrap();
    let lock = repo_with_lock(tmp.path());
    let mut h = start(tmp.path()).await;
    wait_step(&mut h, "stager", HealStep::Validated, 0).await;
    let s = steps(&h, "stager");
    assert!(s[0].2.contains("vcs-error"), "{s:?}");
    assert_eq!(
        (s[1].0, s[1].1.as_str()),
        (HealStep::Applying, "stale-lock")
    );
    assert!(s[1].2.contains("remove the stale lock"), "{s:?}");
    assert!(!lock.exists(), "the stale lock is gone");
    let pid = h.wait_running("stager").await;
    assert!(alive(pid));
    h.engine.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_git_lock_a_process_holds_open_is_kept_and_escalated() {
    let tmp = tempfile::tempdir().unwrap();
    let lock = repo_with_lock(tmp.path());
    // A process that holds the lock open, working elsewhere: git would be mid-write.
    let mut holder = std::process::Command::new("sh")
        .args(["-c", "exec 3<\"$1\"; exec sleep 60", "sh"])
        .arg(&lock)
        .current_dir("/")
        .spawn()
        .unwrap();
    let fd = PathBuf::from(format!("/proc/{}/fd/3", holder.id()));
    eventually("the holder has the lock open", || fd.exists()).await;
    let mut h = start(tmp.path()).await;
    wait_step(&mut h, "stager", HealStep::Escalated, 0).await;
    let s = steps(&h, "stager");
    holder.kill().unwrap();
    holder.wait().unwrap();
    let failed = s
        .iter()
        .find(|x| x.0 == HealStep::Failed && x.1 == "stale-lock")
        .unwrap_or_else(|| panic!("the removal was refused: {s:?}"));
    assert!(
        failed.2.contains("not provably stale") && failed.2.contains("has it open"),
        "{failed:?}"
    );
    assert!(lock.exists(), "a held lock is never removed");
    h.engine.shutdown("test").await;
}
