//! Free disk space, from `statvfs`.

use std::path::Path;

/// MiB free for an unprivileged user (`f_bavail`) on the filesystem holding `path`; `None`
/// when it cannot be read (no such path, or no `statvfs` here).
#[cfg(unix)]
pub fn free_mb(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs is plain old data; all zeroes is a valid value.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is NUL-terminated and st is a valid out-pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some((st.f_bavail as u64).saturating_mul(st.f_frsize as u64) / (1024 * 1024))
}

#[cfg(not(unix))]
pub fn free_mb(_path: &Path) -> Option<u64> {
    None
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn the_root_filesystem_has_a_reading_and_a_missing_path_none() {
        assert!(free_mb(Path::new("/")).is_some());
        let dir = tempfile::tempdir().unwrap();
        assert!(free_mb(dir.path()).is_some());
        assert_eq!(free_mb(&dir.path().join("not-there")), None);
    }
}
