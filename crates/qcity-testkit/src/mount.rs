//! A real full filesystem for tests: a tmpfs of a given size.

use std::path::{Path, PathBuf};

/// Unmounts on drop.
pub struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// A tmpfs of `size` (`1m`) at `at`. Needs root; without it, None (the test then says so and
/// checks nothing), unless QCITY_REQUIRE_MOUNT=1 (CI), where it fails.
pub fn tmpfs(at: &Path, size: &str) -> Option<Unmount> {
    std::fs::create_dir_all(at).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "qcity-test"])
        .arg(at)
        .output()
        .is_ok_and(|o| o.status.success());
    if mounted {
        return Some(Unmount(at.to_path_buf()));
    }
    // CI sets QCITY_REQUIRE_MOUNT=1 where it runs as root, so a skip there is a failure.
    assert!(
        std::env::var_os("QCITY_REQUIRE_MOUNT").is_none_or(|v| v != "1"),
        "QCITY_REQUIRE_MOUNT=1 but a tmpfs cannot be mounted here (not root?)"
    );
    eprintln!(
        "skipped: cannot mount a tmpfs here (not root?); QCITY_REQUIRE_MOUNT=1 makes this fail"
    );
    None
}

/// Fills the filesystem of `dir` with one file, `dir/fill`, until it has no room left.
pub fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("fill");
    let mut f = std::fs::File::create(&path).unwrap();
    let block = vec![0u8; 64 * 1024];
    while f.write_all(&block).is_ok() {}
    // The last partial block fills what a whole one could not.
    let _ = f.write_all(&[0u8; 512]);
    path
}
